//! `POST /t/{slug}/events`: acceptance, validation, authentication, rate limit, idempotency;
//! and NUL refused in a publish, a batch item or an upstream SET (`/t/{slug}/sets`).

#![allow(clippy::unwrap_used)]

mod support;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::test::TestRequest;
use serde_json::{Value, json};
use sethub_app::admin::{self, Scope};
use sethub_domain::EventId;
use sethub_store::{EventSource, NewEvent};
use support::{CREDENTIAL_CHANGE, Hub, IDENTIFIER_CHANGED, REVOKED, event, post, send};

#[tokio::test]
async fn a_valid_event_is_stored_announced_on_the_bus_and_answered_with_its_id() {
    let hub = Hub::new().await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;

    let uri = format!("/t/{}/events", t.slug);
    let r = send(&app, post(&uri, &t.api_key, &event("a@example.com"))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id: EventId = r.body["event_id"].as_str().unwrap().parse().unwrap();
    assert!(r.body["event_id"].as_str().unwrap().starts_with("evt_"));

    let stored = hub.stored(t.tenant_id).await;
    assert_eq!(stored.len(), 1);
    let e = &stored[0];
    assert_eq!(e.id, id);
    assert_eq!(e.source, EventSource::Api);
    assert_eq!(e.event_types, vec![REVOKED.to_owned()]);
    assert_eq!(
        e.sub_id,
        Some(json!({"format": "email", "email": "a@example.com"}))
    );
    assert_eq!(e.txn.as_deref(), Some("upstream-1"));
    assert_eq!(e.toe.unwrap().timestamp(), 1_700_000_000);
    assert_eq!(e.payload, event("a@example.com"));

    let msg = hub.next_message(&mut queue).await;
    assert_eq!(msg.tenant_id, t.tenant_id);
    assert_eq!(support::announced(&msg.message), vec![id]);
    assert!(
        support::repeats(&msg.message).is_empty(),
        "a new event is pushed as soon as it is signed"
    );
    hub.assert_nothing_published(&mut queue).await;

    let metrics = hub.ctx.metrics.render();
    assert!(
        metrics.contains("sethub_events_accepted_total{outcome=\"accepted\"}"),
        "{metrics}"
    );
}

/// One bad request: what it sends and the status and `field` it must get back.
struct Bad {
    name: &'static str,
    content_type: &'static str,
    body: String,
    status: StatusCode,
    field: Option<&'static str>,
    detail_contains: &'static str,
}

fn bad(name: &'static str, body: Value, field: &'static str, detail: &'static str) -> Bad {
    Bad {
        name,
        content_type: "application/json",
        body: body.to_string(),
        status: StatusCode::BAD_REQUEST,
        field: Some(field),
        detail_contains: detail,
    }
}

#[tokio::test]
async fn bad_input_gets_a_problem_naming_the_field_and_nothing_is_stored_or_published() {
    let hub = Hub::new().await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;
    let email = json!({"format": "email", "email": "a@example.com"});
    let with = |k: &str, v: Value| {
        let mut e = event("a@example.com");
        e[k] = v;
        e
    };
    let cases = [
        Bad {
            name: "malformed JSON",
            content_type: "application/json",
            body: "{\"sub_id\": ".to_owned(),
            status: StatusCode::BAD_REQUEST,
            field: Some("body"),
            detail_contains: "not valid JSON",
        },
        Bad {
            name: "not an object",
            content_type: "application/json",
            body: "[1]".to_owned(),
            status: StatusCode::BAD_REQUEST,
            field: Some("body"),
            detail_contains: "JSON object",
        },
        Bad {
            name: "wrong content type",
            content_type: "text/plain",
            body: event("a@example.com").to_string(),
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            field: None,
            detail_contains: "application/json",
        },
        bad(
            "a subject without a format",
            with("sub_id", json!({"id": "x"})),
            "sub_id.format",
            "missing",
        ),
        bad(
            "a subject format that is not a string",
            with("sub_id", json!({"format": 7, "id": "x"})),
            "sub_id.format",
            "string",
        ),
        bad(
            "an opaque subject with an undeclared member",
            with("sub_id", json!({"format": "opaque", "id": "x", "extra": 1})),
            "sub_id.extra",
            "",
        ),
        bad(
            "a bad email",
            with("sub_id", json!({"format": "email", "email": 42})),
            "sub_id.email",
            "",
        ),
        bad(
            "missing subject",
            json!({"events": {REVOKED: {}}}),
            "sub_id",
            "required",
        ),
        bad(
            "a CAEP type missing a required field",
            json!({"sub_id": email, "events": {CREDENTIAL_CHANGE: {"change_type": "create"}}}),
            "events.https://schemas.openid.net/secevent/caep/event-type/credential-change.credential_type",
            "required",
        ),
        bad(
            "an unknown event type that is not a URI",
            json!({"sub_id": email, "events": {"session revoked": {}}}),
            "events.session revoked",
            "URI",
        ),
        bad(
            "a RISC identifier event about an opaque subject",
            json!({"sub_id": {"format": "opaque", "id": "u1"}, "events": {IDENTIFIER_CHANGED: {}}}),
            "sub_id.format",
            "",
        ),
        bad(
            "the transmitter's iss",
            with("iss", json!("https://evil")),
            "iss",
            "sethub sets",
        ),
        bad(
            "the transmitter's jti",
            with("jti", json!("x")),
            "jti",
            "sethub sets",
        ),
        bad(
            "an unknown member",
            with("colour", json!("red")),
            "colour",
            "unknown member",
        ),
        bad(
            "two event types",
            json!({"sub_id": email, "events": {REVOKED: {}, "urn:example:other": {}}}),
            "events",
            "exactly one event type",
        ),
        bad(
            "no event",
            json!({"sub_id": email, "events": {}}),
            "events",
            "at least one",
        ),
        bad("a fractional toe", with("toe", json!(1.5)), "toe", ""),
    ];
    let uri = format!("/t/{}/events", t.slug);
    for case in cases {
        let req = TestRequest::post()
            .uri(&uri)
            .insert_header(("Authorization", format!("Bearer {}", t.api_key)))
            .insert_header(("Content-Type", case.content_type))
            .set_payload(case.body.clone());
        let r = send(&app, req).await;
        assert_eq!(r.status, case.status, "{}: {}", case.name, r.body);
        assert_eq!(
            r.headers.get("Content-Type").unwrap(),
            "application/problem+json",
            "{}",
            case.name
        );
        assert_eq!(
            r.body["field"].as_str(),
            case.field,
            "{}: {}",
            case.name,
            r.body
        );
        let detail = r.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(case.detail_contains),
            "{}: {detail}",
            case.name
        );
    }
    assert!(hub.stored(t.tenant_id).await.is_empty());
    hub.assert_nothing_published(&mut queue).await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_by_its_declared_and_by_its_actual_size() {
    let limit = 2048;
    let hub = Hub::with(|c| c.ingest.max_body_bytes = limit).await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;
    let uri = format!("/t/{}/events", t.slug);

    // Declared too large (the body itself is small and valid).
    let req = post(&uri, &t.api_key, &event("a@example.com"))
        .insert_header((CONTENT_LENGTH, (limit + 1).to_string()));
    let r = send(&app, req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.body["code"], "payload_too_large");

    // Declared small, actually too large.
    let mut big = event("a@example.com");
    big["events"][REVOKED]["reason_admin"] = json!({"en": "x".repeat(limit)});
    let req = post(&uri, &t.api_key, &big).insert_header((CONTENT_LENGTH, "100"));
    let r = send(&app, req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);

    assert!(hub.stored(t.tenant_id).await.is_empty());
    hub.assert_nothing_published(&mut queue).await;
}

#[tokio::test]
async fn only_a_live_key_of_this_tenant_with_the_publish_scope_may_publish() {
    // Without the key cache, so a revocation shows at once (the cache is tested below).
    let hub = Hub::with(|c| c.ingest.api_key_cache_secs = 0).await;
    let t = hub.tenant("acme").await;
    let other = hub.tenant("other").await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;
    let uri = format!("/t/{}/events", t.slug);
    let body = event("a@example.com");

    let no_header = TestRequest::post()
        .uri(&uri)
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_string());
    assert_eq!(send(&app, no_header).await.status, StatusCode::UNAUTHORIZED);
    let wrong = send(&app, post(&uri, "sh_not_a_real_key", &body)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["code"], "unauthorized");

    // Another tenant's key: the same answer as for a slug that does not exist.
    let cross = send(&app, post(&uri, &other.api_key, &body)).await;
    let missing = send(
        &app,
        post("/t/no-such-tenant/events", &other.api_key, &body),
    )
    .await;
    assert_eq!(cross.status, StatusCode::UNAUTHORIZED);
    assert_eq!(cross.body, missing.body);

    let name = "admin only".parse().unwrap();
    let admin_key = admin::create_api_key(&hub.ctx, t.tenant_id, &name, &[Scope::Admin])
        .await
        .unwrap();
    let r = send(&app, post(&uri, &admin_key.api_key, &body)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("events:publish")
    );

    let name = "soon revoked".parse().unwrap();
    let revoked = admin::create_api_key(&hub.ctx, t.tenant_id, &name, &[Scope::EventsPublish])
        .await
        .unwrap();
    let ok = send(&app, post(&uri, &revoked.api_key, &body)).await;
    assert_eq!(ok.status, StatusCode::ACCEPTED, "{}", ok.body);
    hub.next_message(&mut queue).await;
    admin::revoke_api_key(&hub.ctx, t.tenant_id, revoked.api_key_id)
        .await
        .unwrap();
    let r = send(&app, post(&uri, &revoked.api_key, &body)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    assert_eq!(hub.stored(t.tenant_id).await.len(), 1);
    assert!(hub.stored(other.tenant_id).await.is_empty());
    hub.assert_nothing_published(&mut queue).await;
}

#[tokio::test]
async fn past_the_burst_a_tenant_is_rate_limited_with_retry_after() {
    let hub = Hub::with(|c| {
        c.ingest.burst = 3;
        c.ingest.rate_per_second = 0.01;
    })
    .await;
    let t = hub.tenant("acme").await;
    let other = hub.tenant("other").await;
    let app = hub.app().await;
    let uri = format!("/t/{}/events", t.slug);

    for i in 0..3 {
        let r = send(&app, post(&uri, &t.api_key, &event("a@example.com"))).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "request {i}: {}", r.body);
    }
    let r = send(&app, post(&uri, &t.api_key, &event("a@example.com"))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(r.body["code"], "rate_limited");
    let retry: u64 = r
        .headers
        .get("Retry-After")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    assert_eq!(hub.stored(t.tenant_id).await.len(), 3);

    // Another tenant has its own bucket.
    let uri = format!("/t/{}/events", other.slug);
    let r = send(&app, post(&uri, &other.api_key, &event("a@example.com"))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_repeated_idempotency_key_gets_the_first_event_and_publishes_nothing_new() {
    let hub = Hub::new().await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;
    let uri = format!("/t/{}/events", t.slug);
    let keyed =
        |body: &Value| post(&uri, &t.api_key, body).insert_header(("Idempotency-Key", "order-42"));

    let first = send(&app, keyed(&event("a@example.com"))).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let again = send(&app, keyed(&event("a@example.com"))).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body["event_id"], first.body["event_id"]);

    // The same key with another body is a conflict, not a new event.
    let conflict = send(&app, keyed(&event("b@example.com"))).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.body);
    assert_eq!(conflict.body["code"], "conflict");

    assert_eq!(hub.stored(t.tenant_id).await.len(), 1);
    let msg = hub.next_message(&mut queue).await;
    assert_eq!(
        support::announced(&msg.message),
        vec![first.body["event_id"].as_str().unwrap().parse().unwrap()]
    );
    hub.assert_nothing_published(&mut queue).await;

    for bad in ["has space", &"k".repeat(256)] {
        let req =
            post(&uri, &t.api_key, &event("a@example.com")).insert_header(("Idempotency-Key", bad));
        let r = send(&app, req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        assert_eq!(r.body["field"], "Idempotency-Key");
    }
    assert_eq!(hub.stored(t.tenant_id).await.len(), 1);
}

#[tokio::test]
async fn an_idempotency_key_older_than_the_window_makes_a_new_event_and_a_repeat_within_it_does_not()
 {
    const WINDOW_SECS: i64 = 2;
    let hub = Hub::with(|c| c.ingest.idempotency_window_secs = WINDOW_SECS as u64).await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let uri = format!("/t/{}/events", t.slug);
    let body = event("a@example.com");
    let keyed = || post(&uri, &t.api_key, &body).insert_header(("Idempotency-Key", "order-7"));
    let window = chrono::Duration::seconds(WINDOW_SECS);

    let first = send(&app, keyed()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let first_id = first.body["event_id"].as_str().unwrap().to_owned();
    let received_at = hub.stored(t.tenant_id).await[0].received_at;

    // Repeat the key until it makes a new event. Every answer before that is the first event,
    // and only while the key is inside the window as the store saw it: the store's clock read
    // at or after `sent`, and before `answered`.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let second_id = loop {
        let sent = chrono::Utc::now();
        let r = send(&app, keyed()).await;
        let answered = chrono::Utc::now();
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let id = r.body["event_id"].as_str().unwrap().to_owned();
        if id == first_id {
            assert!(
                sent - window <= received_at,
                "the first event came back {} after it was received (window {WINDOW_SECS} s)",
                sent - received_at
            );
        } else {
            assert!(
                received_at < answered - window,
                "a new event for a key used {} ago (window {WINDOW_SECS} s)",
                answered - received_at
            );
            break id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the key was still remembered after 30 s (window {WINDOW_SECS} s)"
        );
        // Pacing of the repeats (each one is the check), not a wait for a condition.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };

    // Both events are stored (the old one only gave its key up); the key is now the new
    // event's, so a repeat within the window gets the new event.
    let stored = hub.stored(t.tenant_id).await;
    let ids: Vec<String> = stored.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, vec![first_id.clone(), second_id.clone()]);
    assert_eq!(
        stored[0].idempotency_key, None,
        "the expired event gave up its key"
    );
    assert!(stored[1].idempotency_key.is_some());
    let again = send(&app, keyed()).await;
    assert_eq!(again.body["event_id"], second_id.as_str());
    // A different body under the live key is still a conflict and stores nothing.
    let conflict = send(
        &app,
        post(&uri, &t.api_key, &event("b@example.com"))
            .insert_header(("Idempotency-Key", "order-7")),
    )
    .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.body);
    assert_eq!(hub.stored(t.tenant_id).await.len(), 2);
}

#[tokio::test]
async fn a_repeat_after_a_failed_publish_publishes_the_stored_event() {
    let hub = Hub::new().await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;
    let body = event("a@example.com");

    // What a first attempt leaves when the bus fails after the insert: stored, unpublished.
    let events = hub.ctx.store.scope(t.tenant_id).events();
    let lost = events
        .insert(NewEvent {
            id: EventId::new(),
            event_types: vec![REVOKED.to_owned()],
            sub_id: Some(body["sub_id"].clone()),
            payload: body.clone(),
            txn: None,
            toe: None,
            source: EventSource::Api,
            idempotency_key: Some(sethub_ingest::idempotency::stored_key("retry-me")),
        })
        .await
        .unwrap()
        .into_event();
    assert!(lost.published_at.is_none());

    let uri = format!("/t/{}/events", t.slug);
    let req = post(&uri, &t.api_key, &body).insert_header(("Idempotency-Key", "retry-me"));
    let r = send(&app, req).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["event_id"], lost.id.to_string());

    let msg = hub.next_message(&mut queue).await;
    assert_eq!(msg.tenant_id, t.tenant_id);
    assert_eq!(support::announced(&msg.message), vec![lost.id]);
    assert_eq!(support::repeats(&msg.message), vec![lost.id]);
    hub.wait_published(t.tenant_id, lost.id).await;

    // Published now: a further repeat publishes nothing.
    let req = post(&uri, &t.api_key, &body).insert_header(("Idempotency-Key", "retry-me"));
    assert_eq!(send(&app, req).await.status, StatusCode::ACCEPTED);
    hub.assert_nothing_published(&mut queue).await;
    assert_eq!(hub.stored(t.tenant_id).await.len(), 1);
}

#[tokio::test]
async fn when_the_bus_is_down_the_client_gets_503_and_its_retry_publishes_the_stored_event() {
    let hub = Hub::new().await;
    let t = hub.tenant("acme").await;
    let down = hub.app_with_bus_down().await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;
    let uri = format!("/t/{}/events", t.slug);
    let body = event("a@example.com");
    let keyed = || post(&uri, &t.api_key, &body).insert_header(("Idempotency-Key", "k-503"));

    let r = send(&down, keyed()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.body["code"], "unavailable");
    let stored = hub.stored(t.tenant_id).await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].published_at.is_none());
    hub.assert_nothing_published(&mut queue).await;

    let r = send(&app, keyed()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["event_id"], stored[0].id.to_string());
    let msg = hub.next_message(&mut queue).await;
    assert_eq!(support::announced(&msg.message), vec![stored[0].id]);
    assert_eq!(support::repeats(&msg.message), vec![stored[0].id]);
    hub.wait_published(t.tenant_id, stored[0].id).await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_once_the_key_cache_forgets_it() {
    let hub = Hub::with(|c| c.ingest.api_key_cache_secs = 1).await;
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let uri = format!("/t/{}/events", t.slug);
    let body = event("a@example.com");
    let name = "cached".parse().unwrap();
    let key = admin::create_api_key(&hub.ctx, t.tenant_id, &name, &[Scope::EventsPublish])
        .await
        .unwrap();
    assert_eq!(
        send(&app, post(&uri, &key.api_key, &body)).await.status,
        StatusCode::ACCEPTED
    );
    admin::revoke_api_key(&hub.ctx, t.tenant_id, key.api_key_id)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // Within the cache's time the key may still publish; after it, never again.
    loop {
        let r = send(&app, post(&uri, &key.api_key, &body)).await;
        if r.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "a revoked key still publishes after the 1 s key cache"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A compact JWS with these claims (unsigned: a NUL is refused before any key is looked for).
fn unsigned_set(claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    format!("{}.{}.c2ln", b64(&json!({"alg": "ES256"})), b64(claims))
}

#[tokio::test]
async fn a_nul_in_a_publish_a_batch_item_or_an_upstream_set_is_a_400_naming_it_storing_nothing() {
    let hub = Hub::new().await;
    let t = hub.tenant("nul").await;
    let app = hub.app().await;
    let mut queue = hub.events_queue().await;

    // Publish: a member nested in the subject (problem JSON naming its path).
    let mut e = event("a@example.com");
    e["sub_id"]["email"] = json!("a\u{0}@example.com");
    let r = send(&app, post(&format!("/t/{}/events", t.slug), &t.api_key, &e)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["field"], "sub_id.email", "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("NUL"));
    // A batch: the item with a NUL gets its problem, the other is not refused for it.
    let mut bad = event("b@example.com");
    bad["txn"] = json!("t\u{0}");
    let batch = json!({"events": [bad]});
    let r = send(
        &app,
        post(&format!("/t/{}/events:batch", t.slug), &t.api_key, &batch),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["results"][0]["status"], 400, "{}", r.body);
    assert_eq!(r.body["results"][0]["error"]["field"], "txn", "{}", r.body);

    // An upstream SET (RFC 8935's error shape): the tenant in the path, or a claim.
    let sets = |slug: &str, claims: Value| {
        TestRequest::post()
            .uri(&format!("/t/{slug}/sets"))
            .insert_header(("Content-Type", "application/secevent+jwt"))
            .set_payload(unsigned_set(&claims))
    };
    let claims = json!({"iss": "https://idp.example", "aud": "a", "jti": "j1"});
    for (req, says) in [
        (sets(&format!("{}%00", t.slug), claims), "tenant"),
        (
            sets(
                &t.slug,
                json!({"iss": "https://idp\u{0}.example", "jti": "j1"}),
            ),
            "`iss`",
        ),
        (
            sets(
                &t.slug,
                json!({"iss": "https://idp.example", "events": {"urn:x": {"reason": "\u{0}"}}}),
            ),
            "`events.urn:x.reason`",
        ),
    ] {
        let r = send(&app, req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{says}: {}", r.body);
        assert_eq!(r.body["err"], "invalid_request", "{says}: {}", r.body);
        let description = r.body["description"].as_str().unwrap();
        assert!(
            description.contains(says) && description.contains("NUL"),
            "{says}: {description}"
        );
    }

    assert!(hub.stored(t.tenant_id).await.is_empty());
    hub.assert_nothing_published(&mut queue).await;
}
