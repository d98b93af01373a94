//! What the web UI tests share: a tenant signing up in the console, a receiver invited with
//! its client credentials, and streams made through the SSF API.

use std::time::{Duration, Instant};

use serde_json::Value;
use sethub_tests::browser::Browser;
use sethub_tests::setup::ReceiverCreds;
use thirtyfour::prelude::*;

use super::World;

/// A tenant signs up in the console (its slug starts with `prefix`); returns its slug and
/// first API key.
pub async fn sign_up(b: &Browser, console: &str, prefix: &str, org: &str) -> (String, String) {
    let slug = format!("{prefix}-{}", sethub_tests::random_suffix());
    b.driver.goto(format!("{console}/signup")).await.unwrap();
    b.fill("organisation", org).await.unwrap();
    b.fill("slug", &slug).await.unwrap();
    b.fill("email", "ann@acme.example").await.unwrap();
    b.fill("password", "correct horse battery").await.unwrap();
    b.click_button("Create organisation").await.unwrap();
    let key = b.text_of("new-key").await.unwrap();
    (slug, key)
}

/// Invites a receiver in the console; returns its portal link and client credentials.
pub async fn invite(b: &Browser, w: &World, slug: &str, name: &str) -> (String, ReceiverCreds) {
    let base = &w.hub.manage_url;
    b.driver
        .goto(format!("{base}/console/receivers"))
        .await
        .unwrap();
    b.fill("name", name).await.unwrap();
    b.click_button("Invite").await.unwrap();
    let link = b.text_of("invite-link").await.unwrap();
    let creds = ReceiverCreds {
        receiver_id: String::new(),
        client_id: b.text_of("client-id").await.unwrap(),
        client_secret: b.text_of("client-secret").await.unwrap(),
        token_endpoint: format!("{base}/t/{slug}/oauth/token"),
    };
    (link.replacen(&w.hub.public_url, base, 1), creds)
}

/// Creates a stream through the SSF API with a description (its name in the console).
pub async fn ssf_stream(w: &World, slug: &str, token: &str, body: Value) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/t/{slug}/ssf/stream", w.hub.manage_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let v: Value = resp.json().await.unwrap();
    v["stream_id"].as_str().unwrap().to_owned()
}

/// Sends the form of the button `css` finds as a browser without script would: the button's
/// own name and value with the form's fields, no `confirmed=yes` and no dialog (the page's
/// script is bypassed, not asked). Waits for the whole page first.
pub async fn submit_without_script(b: &Browser, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.js("return document.readyState;").await.unwrap() != "complete" {
        assert!(Instant::now() < deadline, "the page never finished loading");
        // Polling the page's loading state.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = b
        .driver
        .execute(
            "const b = document.querySelector(arguments[0]); if (!b) { return false; } \
             const f = b.form; if (b.name) { const i = document.createElement('input'); \
             i.type = 'hidden'; i.name = b.name; i.value = b.value; f.appendChild(i); } \
             HTMLFormElement.prototype.submit.call(f); return true;",
            vec![Value::from(css)],
        )
        .await
        .unwrap()
        .json()
        .clone();
    assert_eq!(sent, Value::Bool(true), "no `{css}` on the page");
}

/// The question of the server's confirmation page, once it shows (a browser dialog instead
/// fails the test, naming its question).
pub async fn asked(b: &Browser) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(q) = b.driver.get_alert_text().await {
            panic!("the browser's dialog asked `{q}` where the server should have");
        }
        if let Ok(e) = b.driver.find(By::Id("confirm-title")).await {
            return e.text().await.unwrap();
        }
        let url = b.driver.current_url().await.unwrap();
        assert!(Instant::now() < deadline, "no confirmation page at {url}");
        // Polling for the answer to the form.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Saves the tenant's retry schedule in the console's settings (see
/// [`Browser::retry_schedule`] for the five values).
pub async fn save_retry_schedule(b: &Browser, console: &str, values: [&str; 5]) {
    b.driver.goto(format!("{console}/settings")).await.unwrap();
    b.retry_schedule(values).await.unwrap();
    b.click_button("Save retry schedule").await.unwrap();
    b.wait_for_text("The retry schedule is saved")
        .await
        .unwrap();
}

/// A push stream named "down" to a local port nobody listens on: every push fails.
pub async fn down_stream(w: &World, slug: &str, token: &str) -> String {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    ssf_stream(
        w,
        slug,
        token,
        serde_json::json!({"delivery": {"method": sethub_tests::setup::PUSH_METHOD,
                                        "endpoint_url": format!("http://127.0.0.1:{closed}/down")},
                           "events_requested": [sethub_tests::setup::SESSION_REVOKED],
                           "description": "down"}),
    )
    .await
}

/// The invited receiver joins through its portal link (the tenant's name is `org`).
pub async fn join_portal(b: &Browser, link: &str, org: &str) {
    b.driver.goto(link).await.unwrap();
    b.fill("email", "rx@beta.example").await.unwrap();
    b.fill("password", "another good password").await.unwrap();
    b.click_button("Join").await.unwrap();
    b.wait_for_text(&format!("Your streams from {org}"))
        .await
        .unwrap();
}
