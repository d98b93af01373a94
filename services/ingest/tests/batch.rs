//! `POST /t/{slug}/events:batch`: items accepted or refused one by one, the envelope as a whole.

#![allow(clippy::unwrap_used)]

mod support;

use actix_web::http::StatusCode;
use serde_json::json;
use sethub_domain::EventId;
use support::{Hub, event, post, send};

#[tokio::test]
async fn a_batch_accepts_its_valid_items_and_reports_each_invalid_one() {
    let hub = Hub::new().await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;
    let mut with_iss = event("b@example.com");
    with_iss["iss"] = json!("https://evil.example");
    let body = json!({"events": [event("a@example.com"), with_iss, event("c@example.com"), 7]});

    let uri = format!("/t/{}/events:batch", t.slug);
    let r = send(&app, post(&uri, &t.api_key, &body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let statuses: Vec<u64> = results
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 400, 202, 400]);
    for (i, item) in results.iter().enumerate() {
        assert_eq!(item["index"], i);
    }
    assert_eq!(results[1]["error"]["field"], "iss");
    assert_eq!(results[1]["error"]["code"], "invalid_request");
    assert!(results[1]["event_id"].is_null());

    let ids: Vec<EventId> = [0, 2]
        .iter()
        .map(|&i| results[i]["event_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let stored: Vec<EventId> = hub.stored(t.tenant_id).await.iter().map(|e| e.id).collect();
    assert_eq!(stored.len(), 2);
    assert!(ids.iter().all(|id| stored.contains(id)));
    // One message announces the batch's accepted events, in order.
    let msg = hub.next_message(&mut queue).await;
    assert_eq!(msg.tenant_id, t.tenant_id);
    assert_eq!(support::announced(&msg.message), ids);
    assert!(support::repeats(&msg.message).is_empty());
    hub.assert_nothing_published(&mut queue).await;
}

#[tokio::test]
async fn a_batch_repeated_under_one_idempotency_key_gets_the_same_event_ids() {
    let hub = Hub::new().await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;
    let body = json!({"events": [event("a@example.com"), event("a@example.com")]});
    let uri = format!("/t/{}/events:batch", t.slug);
    let keyed = || post(&uri, &t.api_key, &body).insert_header(("Idempotency-Key", "batch-1"));

    let first = send(&app, keyed()).await;
    let again = send(&app, keyed()).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body, again.body);
    assert_ne!(
        first.body["results"][0]["event_id"], first.body["results"][1]["event_id"],
        "two identical items are two events"
    );
    assert_eq!(hub.stored(t.tenant_id).await.len(), 2);
    // The first request announced both events in one message; the repeat announced nothing.
    let msg = hub.next_message(&mut queue).await;
    assert_eq!(support::announced(&msg.message).len(), 2);
    hub.assert_nothing_published(&mut queue).await;
}

#[tokio::test]
async fn a_malformed_or_oversized_batch_is_refused_whole() {
    let hub = Hub::with(|c| c.ingest.max_batch = 2).await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;
    let uri = format!("/t/{}/events:batch", t.slug);
    let e = event("a@example.com");
    let cases = [
        (json!({"events": [e, e, e]}), "events", "at most 2"),
        (json!({"events": []}), "events", "at least one"),
        (json!({"events": e}), "events", "array"),
        (
            json!({"events": [e], "extra": 1}),
            "extra",
            "unknown member",
        ),
    ];
    for (body, field, detail) in cases {
        let r = send(&app, post(&uri, &t.api_key, &body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(r.body["field"], field);
        assert!(
            r.body["detail"].as_str().unwrap().contains(detail),
            "{}",
            r.body
        );
    }
    assert!(hub.stored(t.tenant_id).await.is_empty());
    hub.assert_nothing_published(&mut queue).await;
}

#[tokio::test]
async fn a_batch_is_charged_one_token_per_item() {
    let hub = Hub::with(|c| {
        c.ingest.burst = 3;
        c.ingest.rate_per_second = 0.01;
    })
    .await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let uri = format!("/t/{}/events:batch", t.slug);
    let two = json!({"events": [event("a@example.com"), event("b@example.com")]});

    assert_eq!(
        send(&app, post(&uri, &t.api_key, &two)).await.status,
        StatusCode::OK
    );
    let r = send(&app, post(&uri, &t.api_key, &two)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.get("Retry-After").is_some());
    assert_eq!(hub.stored(t.tenant_id).await.len(), 2);
}

#[tokio::test]
async fn a_batch_needs_a_publish_key_of_this_tenant() {
    let hub = Hub::new().await;
    let t = hub.tenant("acme").await;
    let other = hub.tenant("other").await;
    let app = hub.app().await;
    let uri = format!("/t/{}/events:batch", t.slug);
    let body = json!({"events": [event("a@example.com")]});
    let r = send(&app, post(&uri, &other.api_key, &body)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(hub.stored(t.tenant_id).await.is_empty());
}

#[tokio::test]
async fn a_sub_id_list_past_the_tenants_quota_is_refused_naming_it_until_the_operator_raises_it() {
    // No key cache: the operator's change applies to the next request.
    let hub = Hub::with(|c| c.ingest.api_key_cache_secs = 0).await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let ips: Vec<String> = (0..21).map(|i| format!("192.0.2.{i}")).collect();
    let mut long = event("a@example.com");
    long["sub_id"] = json!({"format": "ip-addresses", "ip-addresses": ips});
    let uri = format!("/t/{}/events", t.slug);

    let r = send(&app, post(&uri, &t.api_key, &long)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["field"], "sub_id.ip-addresses");
    assert!(
        r.body["detail"].as_str().unwrap().contains("at most 20"),
        "{}",
        r.body
    );
    assert!(hub.stored(t.tenant_id).await.is_empty());

    let raise = sethub_domain::QuotaOverrides {
        subject_list_items: Some(25),
        ..Default::default()
    };
    sethub_app::quotas::set_overrides(&hub.ctx, &t.slug, &raise, false)
        .await
        .unwrap();
    let r = send(&app, post(&uri, &t.api_key, &long)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(hub.stored(t.tenant_id).await.len(), 1);
}
