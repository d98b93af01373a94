//! `sethub_tests::setup` against a real `sethub all` over PostgreSQL, RabbitMQ and Redis: a
//! tenant and a receiver from the admin CLI, a token, a push stream to a [`TestReceiver`],
//! a subject, and events published one by one and in a batch.
//!
//! This crate cannot depend on the `sethub` binary (see ARCHITECTURE.md), so the test looks
//! for it (`SETHUB_BIN`, else the target directory; `cargo test --workspace` builds it) and
//! is skipped with a message when there is none.
//!
//! Delivery of the published events to the receiver is not asserted here: fan-out is still
//! being built. The SETs' way end to end is the load generator's and the fan-out tests' job.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::json;
use sethub_tests::backends::Production;
use sethub_tests::setup::{self, Hub, SESSION_REVOKED};
use sethub_tests::{TestReceiver, init_crypto, random_suffix};

fn binary() -> Option<PathBuf> {
    let bin = setup::find_sethub_binary();
    if bin.is_none() {
        eprintln!("SKIPPED: no sethub binary (set SETHUB_BIN, or build it: cargo build -p sethub)");
    }
    bin
}

#[tokio::test]
async fn a_tenant_receiver_push_stream_and_published_events_against_sethub_all() {
    let Some(bin) = binary() else { return };
    init_crypto();
    let dir = std::env::temp_dir().join(format!("sethub-setup-{}", random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let prod = Production::new().await;
    let hub = Hub::start_all(&bin, &prod.env(), &dir).await.unwrap();

    let slug = format!("acme-{}", random_suffix());
    let tenant = setup::create_tenant(&bin, &hub.env, &slug).await.unwrap();
    assert_eq!(tenant.slug, slug);
    assert_eq!(tenant.issuer, hub.issuer(&slug));
    assert!(tenant.tenant_id.starts_with("tnt_"), "{tenant:?}");
    assert!(tenant.api_key.starts_with("sh_"));

    let meta = setup::metadata(&hub.manage_url, &slug).await.unwrap();
    assert_eq!(meta["issuer"], tenant.issuer.as_str());
    assert_eq!(meta["jwks_uri"], hub.jwks_url(&slug).as_str());

    let creds = setup::create_receiver(&bin, &hub.env, &slug, "Receiver A")
        .await
        .unwrap();
    assert_eq!(
        creds.token_endpoint,
        meta["token_endpoint"].as_str().unwrap()
    );
    let token = setup::token(&creds).await.unwrap();
    assert!(!token.is_empty());

    let receiver = TestReceiver::start(hub.jwks_url(&slug), tenant.issuer.clone()).await;
    let stream = setup::create_push_stream(
        &hub.manage_url,
        &slug,
        &token,
        &receiver.url("/s/a"),
        Some("Bearer receiver-secret"),
        &[SESSION_REVOKED],
    )
    .await
    .unwrap();
    assert_eq!(stream.config["delivery"]["method"], setup::PUSH_METHOD);
    assert_eq!(
        stream.config["delivery"]["endpoint_url"],
        receiver.url("/s/a").as_str()
    );
    assert_eq!(stream.config["events_delivered"], json!([SESSION_REVOKED]));
    assert!(
        stream.config["delivery"]
            .get("authorization_header")
            .is_none(),
        "write-only"
    );
    setup::add_subject(
        &hub.manage_url,
        &slug,
        &token,
        &stream.stream_id,
        &json!({"format": "email", "email": "u1@example.com"}),
    )
    .await
    .unwrap();

    let body = setup::session_revoked("u1@example.com");
    let event_id = setup::publish(&hub.ingest_url, &slug, &tenant.api_key, &body)
        .await
        .unwrap();
    assert!(event_id.starts_with("evt_"), "{event_id}");

    let items = setup::publish_batch(
        &hub.ingest_url,
        &slug,
        &tenant.api_key,
        &[
            setup::session_revoked("u2@example.com"),
            json!({"sub_id": {"format": "email", "email": "not an email"}, "events": {}}),
        ],
    )
    .await
    .unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0].as_ref().unwrap().starts_with("evt_"));
    let refused = items[1].as_ref().unwrap_err();
    assert_eq!(refused.status, Some(400), "{refused}");

    // A wrong key is refused with its status, not a panic.
    let err = setup::publish(&hub.ingest_url, &slug, "sh_nope", &body)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 401"), "{err:#}");

    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}
