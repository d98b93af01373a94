//! Upstream transmitters' JWKS under the egress guard (ON, the production default): a
//! `jwks_url` at any spelling of a forbidden address is never fetched, a failed fetch is
//! remembered (SETs arriving meanwhile do not fetch again), and the `503` says nothing of the
//! URL or of what it answered. Over PostgreSQL, with real listeners on loopback.

#![allow(clippy::unwrap_used)]

mod support;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test;
use base64::Engine;
use serde_json::{Value, json};
use sethub_store::NewUpstream;
use sethub_tests::victim::{Listener, forbidden_urls, respond};
use support::Hub;

/// A compact JWS naming `iss` (unsigned: the keys are never had, so it is never verified).
fn set_from(iss: &str) -> String {
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "ES256", "kid": "k1"})),
        b64(&json!({"iss": iss, "aud": "a", "jti": "j1"}))
    )
}

async fn post_set<S>(app: &S, slug: &str, iss: &str) -> (StatusCode, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let req = test::TestRequest::post()
        .uri(&format!("/t/{slug}/sets"))
        .insert_header(("Content-Type", "application/secevent+jwt"))
        .set_payload(set_from(iss))
        .to_request();
    let resp = test::call_service(app, req).await;
    let status = resp.status();
    let body = test::read_body(resp).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn register(hub: &Hub, tenant: sethub_domain::TenantId, issuer: &str, jwks_url: &str) {
    hub.ctx
        .store
        .scope(tenant)
        .upstreams()
        .create(NewUpstream {
            issuer: issuer.to_owned(),
            audience: "a".into(),
            jwks_url: Some(jwks_url.to_owned()),
            jwks: None,
        })
        .await
        .unwrap();
}

/// Asserts a `503` body is the generic one: nothing of the URL, its port or its answer.
fn generic_503(status: StatusCode, body: &str, port: u16, url: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{url}: {body}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["err"], "temporarily_unavailable");
    for leak in [
        url,
        &port.to_string(),
        "127.0.0.1",
        "jwks",
        "http",
        "banner",
        "hunter2",
    ] {
        assert!(
            !body.contains(leak),
            "{url}: the 503 body reveals `{leak}`: {body}"
        );
    }
}

#[tokio::test]
async fn an_upstream_jwks_url_at_any_spelling_of_a_forbidden_address_is_never_fetched() {
    sethub_tests::init_crypto();
    let hub = Hub::new().await;
    let victim = Listener::victim().await;
    let t = hub.tenant("egress").await;
    let app = hub.app().await;
    for (i, url) in forbidden_urls(victim.port(), "/jwks.json")
        .iter()
        .enumerate()
    {
        let issuer = format!("https://tx{i}.example");
        register(&hub, t.tenant_id, &issuer, url).await;
        let (status, body) = post_set(&app, &t.slug, &issuer).await;
        generic_503(status, &body, victim.port(), url);
    }
    assert_eq!(victim.accepted(), 0, "the victim saw a connection");
}

#[tokio::test]
async fn a_failed_upstream_jwks_fetch_is_remembered_and_its_503_names_nothing_of_it() {
    sethub_tests::init_crypto();
    // Only the failing JWKS host is allowed (the guard stays on for everything else).
    let hub = Hub::with(|c| {
        c.push.allowed_networks = vec!["127.0.0.1/32".parse().unwrap()];
        c.push.allow_http = true;
        c.ingest.upstream_jwks_failure_secs = 300;
    })
    .await;
    let failing = Listener::answering(
        "127.0.0.1:0",
        respond(500, "text/plain", "database password=hunter2 banner"),
    )
    .await;
    let t = hub.tenant("negative").await;
    let url = format!("{}/jwks.json", failing.base());
    register(&hub, t.tenant_id, "https://tx.example", &url).await;
    let app = hub.app().await;
    for _ in 0..5 {
        let (status, body) = post_set(&app, &t.slug, "https://tx.example").await;
        generic_503(status, &body, failing.port(), &url);
    }
    assert_eq!(failing.accepted(), 1, "one fetch for five SETs");
}
