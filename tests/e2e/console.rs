//! The web console in a real headless Chromium, against the real `sethub` binary as three
//! processes over PostgreSQL, RabbitMQ and Redis. Screenshots of every page visited are saved
//! under `$CARGO_TARGET_TMPDIR/screenshots/`.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

mod world;

use std::path::Path;

use sethub_tests::browser::Browser;
use thirtyfour::prelude::*;
use world::*;

fn shots() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

#[tokio::test]
async fn a_tenant_signs_up_sees_its_first_key_once_and_creates_and_revokes_an_api_key() {
    let w = World::split().await;
    let console = format!("{}/console", w.hub.manage_url);
    let mut b = Browser::start(&shots().join("screenshots"), "sign_up_and_api_keys")
        .await
        .unwrap();
    b.driver.goto(format!("{console}/signup")).await.unwrap();
    b.shot("signup-empty").await.unwrap();
    // A bad form first: the errors stand beside their fields, what was typed stays.
    b.fill("organisation", "Acme Identity").await.unwrap();
    b.fill("slug", "Bad Slug").await.unwrap();
    b.fill("email", "ann@acme.example").await.unwrap();
    b.fill("password", "short").await.unwrap();
    b.click_button("Create organisation").await.unwrap();
    b.shot("signup-submitted").await.unwrap();
    assert!(!b.text_of("slug-error").await.unwrap().is_empty());
    assert!(b.text_of("password-error").await.unwrap().contains("12"));
    let kept = b.driver.find(By::Name("email")).await.unwrap();
    assert_eq!(
        kept.value().await.unwrap().as_deref(),
        Some("ann@acme.example")
    );
    b.shot("signup-errors").await.unwrap();
    let slug = format!("acme-{}", sethub_tests::random_suffix());
    b.fill("slug", &slug).await.unwrap();
    b.fill("password", "correct horse battery").await.unwrap();
    b.click_button("Create organisation").await.unwrap();
    // The dashboard, with the first API key shown once.
    let key = b.text_of("new-key").await.unwrap();
    assert!(key.starts_with("sh_"), "{key}");
    b.shot("dashboard-first-key").await.unwrap();
    // The key works: the tenant API answers with it.
    let tenant: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/tenant", w.hub.manage_url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["slug"], slug.as_str());

    // API keys: create one (shown once), then revoke it.
    b.driver.goto(format!("{console}/api-keys")).await.unwrap();
    b.fill("name", "publisher").await.unwrap();
    b.click_button("Create key").await.unwrap();
    let new_key = b.text_of("new-key").await.unwrap();
    assert!(new_key.starts_with("sh_"));
    b.shot("api-key-created").await.unwrap();
    b.click("button[aria-label='Revoke publisher']")
        .await
        .unwrap();
    // Revoking asks first (the dialog is open once the click returns).
    b.driver.accept_alert().await.unwrap();
    b.wait_for_text("revoked").await.unwrap();
    let status = reqwest::Client::new()
        .get(format!("{}/api/v1/tenant", w.hub.manage_url))
        .bearer_auth(&new_key)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401, "a revoked key is refused");
    b.shot("api-key-revoked").await.unwrap();

    // The owner invites a viewer; the viewer joins, sees the keys, and cannot revoke one.
    b.driver.goto(format!("{console}/team")).await.unwrap();
    b.click("input[name=role][value=viewer]").await.unwrap();
    b.click_button("Make invite link").await.unwrap();
    let link = b.text_of("invite-link").await.unwrap();
    b.shot("team-invite").await.unwrap();
    let link = link.replacen(&w.hub.public_url, &w.hub.manage_url, 1);
    b.driver.goto(&link).await.unwrap();
    b.wait_for_text("You are invited as viewer").await.unwrap();
    b.fill("email", "victor@acme.example").await.unwrap();
    b.fill("password", "a viewer's password").await.unwrap();
    b.click_button("Join").await.unwrap();
    b.wait_for_text("(viewer)").await.unwrap();
    b.driver.goto(format!("{console}/api-keys")).await.unwrap();
    b.wait_for_text("You are a viewer").await.unwrap();
    assert!(
        b.driver
            .find_all(By::XPath("//button[normalize-space()='Revoke']"))
            .await
            .unwrap()
            .is_empty(),
        "no revoke button for a viewer"
    );
    b.shot("viewer-api-keys").await.unwrap();
    // Sent anyway (a form made in the page, with the session's CSRF token): refused.
    let keys: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/api-keys", w.hub.manage_url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = keys[0]["api_key_id"].as_str().unwrap().to_owned();
    b.driver
        .execute(
            "const f = document.createElement('form'); f.method = 'post'; \
             f.action = arguments[0]; const c = document.createElement('input'); \
             c.name = 'csrf'; c.value = document.querySelector('input[name=csrf]').value; \
             f.appendChild(c); document.body.appendChild(f); f.submit();",
            vec![serde_json::Value::from(format!(
                "{console}/api-keys/{first}/revoke"
            ))],
        )
        .await
        .unwrap();
    b.wait_for_text("You can look, not change").await.unwrap();
    b.shot("viewer-refused").await.unwrap();
    let status = reqwest::Client::new()
        .get(format!("{}/api/v1/tenant", w.hub.manage_url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200, "the key still works");
    b.quit().await.unwrap();
}

/// The text of the `<code id=…>` on the current page.
async fn code(b: &Browser, id: &str) -> String {
    b.text_of(id).await.unwrap()
}

#[tokio::test]
async fn a_tenant_invites_a_receiver_whose_portal_streams_get_a_published_event() {
    let w = World::split().await;
    let console = format!("{}/console", w.hub.manage_url);
    let mut b = Browser::start(&shots().join("screenshots"), "invite_portal_delivery")
        .await
        .unwrap();
    // Sign up.
    b.driver.goto(format!("{console}/signup")).await.unwrap();
    let slug = format!("acme-{}", sethub_tests::random_suffix());
    b.fill("organisation", "Acme Identity").await.unwrap();
    b.fill("slug", &slug).await.unwrap();
    b.fill("email", "ann@acme.example").await.unwrap();
    b.fill("password", "correct horse battery").await.unwrap();
    b.click_button("Create organisation").await.unwrap();
    let first_key = code(&b, "new-key").await;
    // An API key for publishing.
    b.driver.goto(format!("{console}/api-keys")).await.unwrap();
    b.fill("name", "publisher").await.unwrap();
    b.click_button("Create key").await.unwrap();
    let key = code(&b, "new-key").await;
    // Invite a receiver: its portal link and client credentials, shown once.
    b.driver.goto(format!("{console}/receivers")).await.unwrap();
    b.shot("receivers-empty").await.unwrap();
    b.fill("name", "Beta Corp").await.unwrap();
    b.click_button("Invite").await.unwrap();
    let link = code(&b, "invite-link").await;
    assert!(code(&b, "client-id").await.starts_with("cid_"));
    b.shot("receiver-invited").await.unwrap();

    // The receiver joins by the link (served by manage at the public URL).
    let link = link.replacen(&w.hub.public_url, &w.hub.manage_url, 1);
    b.driver.goto(&link).await.unwrap();
    b.shot("portal-join").await.unwrap();
    b.fill("email", "rx@beta.example").await.unwrap();
    b.fill("password", "another good password").await.unwrap();
    b.click_button("Join").await.unwrap();
    b.wait_for_text("Your streams from Acme Identity")
        .await
        .unwrap();
    b.shot("portal-no-streams").await.unwrap();
    // A push stream to a test receiver (verifying against the new tenant's keys)...
    let issuer = format!("{}/t/{slug}", w.hub.public_url);
    let receiver = sethub_tests::TestReceiver::start(w.hub.jwks_url(&slug), issuer.clone()).await;
    b.fill("description", "beta push").await.unwrap();
    b.fill("endpoint_url", &receiver.url("/beta"))
        .await
        .unwrap();
    b.fill("authorization_header", "Bearer beta-secret")
        .await
        .unwrap();
    b.click(&format!(
        "input[name=event][value=\'{}\']",
        sethub_tests::setup::SESSION_REVOKED
    ))
    .await
    .unwrap();
    b.click_button("Create stream").await.unwrap();
    b.wait_for_text("Deliveries").await.unwrap();
    let push_page = b.driver.current_url().await.unwrap().to_string();
    assert_eq!(b.text_of("status").await.unwrap(), "enabled");
    b.shot("portal-push-stream").await.unwrap();
    // Ask for a verification SET and see it arrive.
    b.click_button("Request verification").await.unwrap();
    b.wait_for_text("Verification requested").await.unwrap();
    receiver.wait_for_count("/beta", 1, LONG).await.unwrap();
    let verification = &receiver.received("/beta")[0];
    assert_eq!(verification.event_types(), vec![VERIFICATION.to_owned()]);
    assert!(
        verification.events[VERIFICATION]["state"]
            .as_str()
            .unwrap()
            .starts_with("portal-")
    );
    b.shot("portal-verification-requested").await.unwrap();
    // Send a test event of the stream's type.
    b.click_button("Send test event").await.unwrap();
    b.wait_for_text("Test event sent").await.unwrap();
    receiver.wait_for_count("/beta", 2, LONG).await.unwrap();
    let test = &receiver.received("/beta")[1];
    assert!(test.txn.as_deref().unwrap().starts_with("test-"));
    assert_eq!(
        test.event_types(),
        vec![sethub_tests::setup::SESSION_REVOKED.to_owned()]
    );
    // The event types the tenant sends, with an example SET each.
    b.driver
        .goto(format!("{}/portal/events", w.hub.manage_url))
        .await
        .unwrap();
    b.wait_for_text("Session Revoked").await.unwrap();
    b.shot("portal-event-types").await.unwrap();
    // ... and a poll stream, which shows its endpoint.
    b.driver
        .goto(format!("{}/portal", w.hub.manage_url))
        .await
        .unwrap();
    b.click("input[name=method][value=poll]").await.unwrap();
    b.fill("description", "beta poll").await.unwrap();
    b.click(&format!(
        "input[name=event][value=\'{}\']",
        sethub_tests::setup::SESSION_REVOKED
    ))
    .await
    .unwrap();
    b.click_button("Create stream").await.unwrap();
    b.wait_for_text("Poll endpoint").await.unwrap();
    assert!(code(&b, "endpoint").await.contains("/ssf/poll/str_"));
    b.shot("portal-poll-stream").await.unwrap();

    // The tenant publishes an event through the ingest API.
    let resp = reqwest::Client::new()
        .post(format!("{}/t/{slug}/events", w.hub.ingest_url))
        .bearer_auth(&key)
        .json(&sethub_tests::setup::session_revoked("carol@beta.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let event_id = resp.json::<serde_json::Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    receiver.wait_for_count("/beta", 3, LONG).await.unwrap();
    let got = receiver
        .received("/beta")
        .into_iter()
        .find(|s| s.txn.as_deref() == Some(event_id.as_str()))
        .unwrap();
    assert_eq!(got.authorization.as_deref(), Some("Bearer beta-secret"));
    assert_eq!(got.txn.as_deref(), Some(event_id.as_str()));
    // The portal's delivery log shows it delivered (its row may be stored a moment after
    // the receiver got it: the page is loaded until it shows).
    b.reload_until_source(&push_page, &got.jti).await.unwrap();
    b.wait_for_text("delivered").await.unwrap();
    b.shot("portal-delivery-log").await.unwrap();

    // The console's event log shows the event and its two SETs.
    b.driver.goto(format!("{console}/events")).await.unwrap();
    b.wait_for_text(&event_id).await.unwrap();
    b.shot("console-event-log").await.unwrap();
    // The event's page: each SET made from it, with the push attempt.
    b.driver
        .find(By::LinkText(&event_id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_text("SETs made from it").await.unwrap();
    let sets = b.driver.find_all(By::Css("section.set")).await.unwrap();
    assert_eq!(sets.len(), 2, "one per stream");
    let text = b
        .driver
        .find(By::Tag("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(&got.jti) && text.contains("202"), "{text}");
    b.shot("console-event-page").await.unwrap();
    b.driver.goto(format!("{console}/dashboard")).await.unwrap();
    assert_eq!(code(&b, "streams").await, "2");
    assert_eq!(code(&b, "events-24h").await, "1");
    let delivered: u64 = code(&b, "delivered-24h").await.parse().unwrap();
    assert!(
        delivered >= 3,
        "verification, test and event SETs: {delivered}"
    );
    assert_eq!(
        code(&b, "poll-backlog").await,
        "1",
        "the poll stream's SET waits"
    );
    assert_eq!(code(&b, "success-rate").await, "100.0 %");
    b.shot("console-dashboard").await.unwrap();

    // A receiver of this tenant sees nothing of another tenant's streams.
    let other = w
        .stream("/s/other", &[sethub_tests::setup::SESSION_REVOKED])
        .await;
    b.driver
        .goto(format!("{}/portal/streams/{other}", w.hub.manage_url))
        .await
        .unwrap();
    b.wait_for_text("No such stream").await.unwrap();
    b.shot("portal-other-tenant").await.unwrap();
    let _ = first_key;
    b.quit().await.unwrap();
}
