//! Quotas and stream ownership over real PostgreSQL, through the SSF API and the tenant REST
//! API: each limit refuses the next create in the API's own shape and writes nothing;
//! concurrent creates cannot pass a limit; a tenant cannot change its quotas; a new push
//! endpoint drops the stored authorization header; a receiver cannot enable a stream its
//! tenant or sethub disabled.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use serde_json::{Value, json};
use sethub_app::admin::CreatedTenant;
use sethub_domain::{QuotaOverrides, StreamId};

use crate::api_support::{Hub, Reply, assert_problem, call, receiver, send, ssf};

fn poll_stream() -> Value {
    json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": []})
}

fn push_stream(url: &str, header: &str) -> Value {
    json!({
        "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": url, "authorization_header": header},
        "events_requested": [],
    })
}

/// The SSF refusal of a quota: 400, `error` = `quota_exceeded`, `quota` naming the limit.
fn assert_quota(r: &Reply, quota: &str, limit: u32) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"], "quota_exceeded", "{}", r.body);
    assert_eq!(r.body["quota"], quota, "{}", r.body);
    assert_eq!(r.body["limit"], limit, "{}", r.body);
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .contains(quota),
        "{}",
        r.body
    );
}

/// What the operator sets (the function `sethub tenant quotas` calls).
async fn set_quotas(hub: &Hub, t: &CreatedTenant, o: QuotaOverrides) {
    sethub_app::quotas::set_overrides(&hub.ctx, &t.slug, &o, false)
        .await
        .unwrap();
}

async fn stream_count(hub: &Hub, t: &CreatedTenant) -> usize {
    hub.ctx
        .store
        .scope(t.tenant_id)
        .streams()
        .list()
        .await
        .unwrap()
        .len()
}

#[actix_web::test]
async fn the_stream_past_the_default_per_receiver_quota_gets_400_and_is_not_created() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("quota").await;
    let app = hub.app().await;
    let (_, token) = receiver(&app, &t).await;
    for _ in 0..10 {
        let r = ssf(&app, &t, &token, "POST", "stream", poll_stream()).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = ssf(&app, &t, &token, "POST", "stream", poll_stream()).await;
    assert_quota(&r, "streams_per_receiver", 10);
    assert_eq!(stream_count(&hub, &t).await, 10);
}

#[actix_web::test]
async fn the_tenants_stream_quota_counts_every_receiver() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("quota").await;
    set_quotas(
        &hub,
        &t,
        QuotaOverrides {
            streams_per_tenant: Some(3),
            ..QuotaOverrides::default()
        },
    )
    .await;
    let app = hub.app().await;
    let (_, a) = receiver(&app, &t).await;
    let (_, b) = receiver(&app, &t).await;
    for token in [&a, &a, &b] {
        let r = ssf(&app, &t, token, "POST", "stream", poll_stream()).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = ssf(&app, &t, &b, "POST", "stream", poll_stream()).await;
    assert_quota(&r, "streams_per_tenant", 3);
    assert_eq!(stream_count(&hub, &t).await, 3);
}

#[actix_web::test]
async fn concurrent_stream_creates_through_the_api_never_pass_the_quota() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("quota").await;
    set_quotas(
        &hub,
        &t,
        QuotaOverrides {
            streams_per_receiver: Some(4),
            ..QuotaOverrides::default()
        },
    )
    .await;
    let app = hub.app().await;
    let (_, token) = receiver(&app, &t).await;
    let replies = futures_util::future::join_all(
        (0..16).map(|_| ssf(&app, &t, &token, "POST", "stream", poll_stream())),
    )
    .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    for r in replies.iter().filter(|r| r.status != 201) {
        assert_quota(r, "streams_per_receiver", 4);
    }
    assert_eq!(created, 4);
    assert_eq!(stream_count(&hub, &t).await, 4);
}

#[actix_web::test]
async fn subjects_past_the_stream_quota_and_long_subject_lists_get_400_and_change_nothing() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("quota").await;
    set_quotas(
        &hub,
        &t,
        QuotaOverrides {
            subjects_per_stream: Some(2),
            ..QuotaOverrides::default()
        },
    )
    .await;
    let app = hub.app().await;
    let (_, token) = receiver(&app, &t).await;
    let created = ssf(&app, &t, &token, "POST", "stream", poll_stream()).await;
    let id = created.body["stream_id"].as_str().unwrap().to_owned();
    let email = |n: usize| json!({"format": "email", "email": format!("u{n}@example.com")});
    for n in 0..2 {
        let r = ssf(
            &app,
            &t,
            &token,
            "POST",
            "subjects:add",
            json!({"stream_id": id, "subject": email(n)}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = ssf(
        &app,
        &t,
        &token,
        "POST",
        "subjects:add",
        json!({"stream_id": id, "subject": email(2)}),
    )
    .await;
    assert_quota(&r, "subjects_per_stream", 2);
    // A removal of an unknown subject would be a new row: refused too.
    let r = ssf(
        &app,
        &t,
        &token,
        "POST",
        "subjects:remove",
        json!({"stream_id": id, "subject": email(3)}),
    )
    .await;
    assert_quota(&r, "subjects_per_stream", 2);
    let sid: StreamId = id.parse().unwrap();
    let rows = hub
        .ctx
        .store
        .scope(t.tenant_id)
        .streams()
        .subjects(sid)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);

    // The default list quota (20): 21 aliases are refused, naming the list.
    let aliases: Vec<Value> = (0..21).map(email).collect();
    let r = ssf(
        &app,
        &t,
        &token,
        "POST",
        "subjects:remove",
        json!({"stream_id": id, "subject": {"format": "aliases", "identifiers": aliases}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"], "invalid_request");
    let d = r.body["error_description"].as_str().unwrap();
    assert!(d.starts_with("subject.identifiers: has 21 items"), "{d}");
    assert!(d.contains("subject_list_items"), "{d}");
}

#[actix_web::test]
async fn the_receiver_past_the_tenants_quota_gets_a_403_problem_and_is_not_created() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("quota").await;
    set_quotas(
        &hub,
        &t,
        QuotaOverrides {
            receivers_per_tenant: Some(2),
            ..QuotaOverrides::default()
        },
    )
    .await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());
    receiver(&app, &t).await;
    receiver(&app, &t).await;
    let r = call(
        &app,
        "POST",
        "/api/v1/receivers",
        key,
        Some(json!({"name": "third"})),
    )
    .await;
    assert_problem(&r, 403, "quota_exceeded", Some("receivers_per_tenant"));
    let list = call(&app, "GET", "/api/v1/receivers", key, None).await;
    assert_eq!(list.body.as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn the_tenant_api_offers_no_way_to_change_its_quotas() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("quota").await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());
    let raise = json!({"quotas": {"receivers_per_tenant": 100000}, "receivers_per_tenant": 100000});
    for (method, path) in [
        ("PATCH", "/api/v1/tenant"),
        ("PUT", "/api/v1/tenant"),
        ("POST", "/api/v1/tenant"),
        ("POST", "/api/v1/tenant/quotas"),
        ("PUT", "/api/v1/tenant/quotas"),
        ("PATCH", "/api/v1/quotas"),
    ] {
        let r = call(&app, method, path, key, Some(raise.clone())).await;
        assert!(
            r.status.is_client_error(),
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
    }
    let stored = hub.ctx.store.tenants().get(t.tenant_id).await.unwrap();
    assert_eq!(stored.quotas, None);
    // The served OpenAPI document has no route naming quotas.
    let doc = call(&app, "GET", "/api/v1/openapi.json", None, None).await;
    let paths = doc.body["paths"].as_object().unwrap();
    assert!(paths.keys().all(|p| !p.contains("quota")), "{paths:?}");
}

async fn sealed(hub: &Hub, t: &CreatedTenant, id: &str) -> Option<String> {
    let sid: StreamId = id.parse().unwrap();
    let s = hub
        .ctx
        .store
        .scope(t.tenant_id)
        .streams()
        .get(sid)
        .await
        .unwrap();
    s.authorization_sealed.map(|bytes| {
        let ring = sethub_app::streams::keyring(&hub.ctx).unwrap();
        sethub_app::streams::open_authorization(&ring, t.tenant_id, sid, &bytes).unwrap()
    })
}

#[actix_web::test]
async fn a_new_push_endpoint_drops_the_stored_authorization_header_unless_one_is_given() {
    let hub = Hub::postgres_reaching_localhost().await;
    let t = hub.tenant("header").await;
    let app = hub.app().await;
    let (_, token) = receiver(&app, &t).await;
    let created = ssf(
        &app,
        &t,
        &token,
        "POST",
        "stream",
        push_stream("http://127.0.0.1:9/a", "Bearer first"),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["stream_id"].as_str().unwrap().to_owned();
    assert_eq!(sealed(&hub, &t, &id).await.as_deref(), Some("Bearer first"));

    // Same endpoint, no header: kept (PATCH semantics); a change elsewhere keeps it too.
    let same = json!({"stream_id": id, "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:9/a"}});
    assert_eq!(
        ssf(&app, &t, &token, "PATCH", "stream", same).await.status,
        200
    );
    let described = json!({"stream_id": id, "description": "renamed"});
    assert_eq!(
        ssf(&app, &t, &token, "PATCH", "stream", described)
            .await
            .status,
        200
    );
    assert_eq!(sealed(&hub, &t, &id).await.as_deref(), Some("Bearer first"));

    // A new endpoint with a new header: the new one.
    let moved = json!({"stream_id": id, "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:9/b", "authorization_header": "Bearer second"}});
    assert_eq!(
        ssf(&app, &t, &token, "PATCH", "stream", moved).await.status,
        200
    );
    assert_eq!(
        sealed(&hub, &t, &id).await.as_deref(),
        Some("Bearer second")
    );

    // A new endpoint without a header (PATCH, then PUT): the stored one is gone.
    let moved = json!({"stream_id": id, "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:9/c"}});
    assert_eq!(
        ssf(&app, &t, &token, "PATCH", "stream", moved).await.status,
        200
    );
    assert_eq!(sealed(&hub, &t, &id).await, None);
    let back = ssf(&app, &t, &token, "PATCH", "stream", json!({"stream_id": id, "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:9/c", "authorization_header": "Bearer third"}})).await;
    assert_eq!(back.status, 200);
    let put = json!({"stream_id": id, "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:9/d"}, "events_requested": []});
    assert_eq!(
        ssf(&app, &t, &token, "PUT", "stream", put).await.status,
        200
    );
    assert_eq!(sealed(&hub, &t, &id).await, None);
}

async fn status<S>(app: &S, t: &CreatedTenant, token: &str, id: &str, to: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    ssf(
        app,
        t,
        token,
        "POST",
        "status",
        json!({"stream_id": id, "status": to}),
    )
    .await
}

#[actix_web::test]
async fn a_receiver_cannot_enable_a_stream_its_tenant_or_sethub_disabled_but_the_tenant_can() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("owner").await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());
    let (_, token) = receiver(&app, &t).await;
    let created = ssf(&app, &t, &token, "POST", "stream", poll_stream()).await;
    let id = created.body["stream_id"].as_str().unwrap().to_owned();

    // Disabled by the tenant.
    let path = format!("/api/v1/streams/{id}/status");
    let r = call(
        &app,
        "POST",
        &path,
        key,
        Some(json!({"status": "disabled", "reason": "abuse"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for to in ["enabled", "paused", "disabled"] {
        let r = status(&app, &t, &token, &id, to).await;
        assert_eq!(r.status, 403, "{to}: {}", r.body);
        assert_eq!(r.body["error"], "access_denied");
        let d = r.body["error_description"].as_str().unwrap();
        assert!(d.contains("its tenant") && d.contains("abuse"), "{d}");
    }
    let read = send(
        &app,
        TestRequest::get()
            .uri(&format!("/t/{}/ssf/status?stream_id={id}", t.slug))
            .insert_header(("Authorization", format!("Bearer {token}"))),
    )
    .await;
    assert_eq!(read.body["status"], "disabled");

    // The tenant enables it; the receiver is in charge again.
    let r = call(&app, "POST", &path, key, Some(json!({"status": "enabled"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status(&app, &t, &token, &id, "paused").await.status, 200);
    assert_eq!(status(&app, &t, &token, &id, "enabled").await.status, 200);

    // Disabled by sethub (what fan-out does after RFC 8935 errors).
    let sid: StreamId = id.parse().unwrap();
    let streams = hub.ctx.store.scope(t.tenant_id).streams();
    assert!(
        streams
            .disable_if_not_disabled(sid, "push refused: 401")
            .await
            .unwrap()
    );
    let r = status(&app, &t, &token, &id, "enabled").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("sethub")
    );
    assert_eq!(
        streams.get(sid).await.unwrap().status,
        sethub_domain::StreamStatus::Disabled
    );
    let r = call(&app, "POST", &path, key, Some(json!({"status": "enabled"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "enabled");
}
