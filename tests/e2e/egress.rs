//! The egress guard ON over the real `sethub` binary (three processes over PostgreSQL,
//! RabbitMQ and Redis; private targets refused, only 127.0.0.2 allowed): push endpoints and
//! upstream JWKS URLs and upstream SSF transmitters at loopback or metadata addresses are refused, a redirect from the
//! allowed address to the victim is not followed, and the victim on loopback sees nothing.
//! (Single sign-on with the guard on: services/manage/tests/console/egress.rs.)

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

mod world;

use serde_json::{Value, json};
use sethub_tests::setup::{self, SESSION_REVOKED};
use sethub_tests::ssf_transmitter::SsfTransmitter;
use sethub_tests::transmitter::TestTransmitter;
use sethub_tests::victim::{Listener, redirect};
use sethub_tests::wait_until;
use world::*;

const GUARD_ON: [(&str, &str); 2] = [
    ("SETHUB_PUSH__ALLOW_PRIVATE_TARGETS", "false"),
    ("SETHUB_PUSH__ALLOWED_NETWORKS", "[\"127.0.0.2/32\"]"),
];

const FORBIDDEN: [&str; 6] = [
    "127.0.0.1",
    "169.254.169.254",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "0x7f.1",
    "localhost",
];

#[tokio::test]
async fn with_the_guard_on_push_and_upstream_jwks_refuse_loopback_metadata_and_redirects() {
    let w = World::split_with(&GUARD_ON).await;
    let victim = Listener::victim().await;
    let location = format!("{}/latest/meta-data/", victim.base());
    let redirector = Listener::answering("127.0.0.2:0", redirect(&location)).await;

    // Push endpoints at forbidden addresses are refused when registered.
    for host in FORBIDDEN {
        let url = format!("http://{host}:{}/push", victim.port());
        let made = setup::create_push_stream(
            &w.hub.manage_url,
            &w.tenant.slug,
            &w.token,
            &url,
            None,
            &[SESSION_REVOKED],
        )
        .await;
        assert!(made.is_err(), "{url} was accepted as a push endpoint");
    }
    // The allowed address redirects to the victim: the push is not followed there, and the
    // stream is disabled.
    let stream = setup::create_push_stream(
        &w.hub.manage_url,
        &w.tenant.slug,
        &w.token,
        &format!("{}/push", redirector.base()),
        None,
        &[SESSION_REVOKED],
    )
    .await
    .unwrap()
    .stream_id;
    publish_all(&w.hub.ingest_url, &w.tenant, 1, "egress").await;
    wait_until("the redirecting stream to be disabled", LONG, || async {
        let (_, v) = w
            .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
            .await;
        (v["status"] == "disabled").then_some(())
    })
    .await;
    assert!(
        redirector.accepted() >= 1,
        "the push reached the allowed address"
    );

    // Upstream JWKS URLs at forbidden address literals are refused when registered (a name
    // is checked when fetched)...
    for host in &FORBIDDEN[..5] {
        let url = format!("http://{host}:{}/jwks.json", victim.port());
        let (status, body) = w
            .api(
                reqwest::Method::POST,
                "/upstream-transmitters",
                Some(json!({"issuer": "https://tx.example", "audience": "a", "jwks_url": url})),
            )
            .await;
        assert_eq!(status, 400, "{url}: {body}");
    }
    // ...and one redirecting to the victim is fetched once, not followed, and its SETs get a
    // 503 that names nothing of it.
    let tx = TestTransmitter::start("https://tx.example").await;
    let (status, body) = w
        .api(
            reqwest::Method::POST,
            "/upstream-transmitters",
            Some(json!({"issuer": tx.issuer, "audience": "a",
                        "jwks_url": format!("{}/jwks.json", redirector.base())})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let before = redirector.accepted();
    for i in 0..3 {
        let token = tx.sign(&tx.claims("a", &format!("j{i}"), "t", "a@b.example"), None);
        let resp = reqwest::Client::new()
            .post(format!("{}/t/{}/sets", w.hub.ingest_url, w.tenant.slug))
            .header("Content-Type", "application/secevent+jwt")
            .body(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 503);
        let text = resp.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["err"], "temporarily_unavailable");
        for leak in ["127.0.0", "jwks", "302", "redirect"] {
            assert!(!text.contains(leak), "the 503 reveals `{leak}`: {text}");
        }
    }
    assert_eq!(
        redirector.accepted() - before,
        1,
        "one JWKS fetch for three SETs (the failure is remembered)"
    );
    assert_eq!(victim.accepted(), 0, "the victim saw a connection");
}

/// With the guard on, `sethub upstream subscribe` to an SSF transmitter on loopback is
/// refused whether its issuer is an address literal (when given) or a name (when the gate
/// resolves it): the transmitter gets no request and nothing is registered.
#[tokio::test]
async fn with_the_guard_on_an_upstream_ssf_transmitter_on_loopback_is_never_contacted() {
    let w = World::split_with(&GUARD_ON).await;
    let tx = SsfTransmitter::start("sethub-guarded", "guarded-secret").await;
    let port = tx
        .issuer
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    for (issuer, says) in [
        (tx.issuer.clone(), "127.0.0.1 is not a public address"),
        (format!("http://localhost:{port}/idp"), "not allowed"),
    ] {
        let err = setup::run_cli(
            std::path::Path::new(BIN),
            &w.hub.env,
            &[
                "upstream",
                "subscribe",
                "--tenant",
                &w.tenant.slug,
                "--issuer",
                &issuer,
                "--client-id",
                "sethub-guarded",
                "--client-secret",
                "guarded-secret",
            ],
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains(says), "{issuer}: {err}");
    }
    assert_eq!(tx.requests(), 0, "the transmitter was contacted");
    let list = setup::run_cli(
        std::path::Path::new(BIN),
        &w.hub.env,
        &["upstream", "list", "--tenant", &w.tenant.slug],
    )
    .await
    .unwrap();
    assert_eq!(list, json!([]));
}
