//! Console pages of issue 16, in a real headless Chromium against `sethub all` (embedded):
//! the usage page (events accepted and SETs delivered per day, per stream and in total, each
//! quota's use against its limit), a receiver's page (joined or pending, its streams by name,
//! re-issuing its invitation, disabling it) and confirmations before destructive actions
//! (revoke, rotate, redrive, disable, delete) that work without script; closing the
//! organisation (`ui_pages/closing.rs`, over the production backends). Screenshots (desktop and 390 px) go under
//! `$CARGO_TARGET_TMPDIR/screenshots/{usage,receiver_page,confirmations}/`.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

mod world;

#[path = "ui_pages/closing.rs"]
mod closing;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sethub_tests::browser::Browser;
use sethub_tests::setup;
use thirtyfour::prelude::*;
use world::ui::{
    asked, down_stream, invite, join_portal, save_retry_schedule, sign_up, ssf_stream,
    submit_without_script,
};
use world::*;

fn shots() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// The text of the first element matching `css` inside the element `id`.
async fn cell(b: &Browser, id: &str, css: &str) -> String {
    b.driver
        .find(By::Id(id))
        .await
        .unwrap()
        .find(By::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Screenshots the page at desktop width and at 390 px (where it must fit).
async fn both_widths(b: &mut Browser, name: &str) {
    b.shot(name).await.unwrap();
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    b.fits(name).await.unwrap();
    b.shot(&format!("phone-{name}")).await.unwrap();
    b.driver.set_window_rect(0, 0, 1280, 900).await.unwrap();
}

#[tokio::test]
async fn the_usage_page_counts_each_day_and_stream_and_shows_each_quota_against_its_limit() {
    let w = World::embedded().await;
    let console = format!("{}/console", w.hub.manage_url);
    let mut b = Browser::start(&shots().join("screenshots"), "usage")
        .await
        .unwrap();
    let (slug, api_key) = sign_up(&b, &console, "pages", "Acme Usage").await;

    // A receiver with a push stream (delivered to a test receiver; one subject) and a poll
    // stream (its SETs wait to be polled: made, not delivered).
    let (_, creds) = invite(&b, &w, &slug, "Beta Corp").await;
    let token = setup::token(&creds).await.unwrap();
    let issuer = format!("{}/t/{slug}", w.hub.public_url);
    let receiver = sethub_tests::TestReceiver::start(w.hub.jwks_url(&slug), issuer).await;
    let push = ssf_stream(
        &w,
        &slug,
        &token,
        json!({"delivery": {"method": setup::PUSH_METHOD, "endpoint_url": receiver.url("/usage")},
               "events_requested": [setup::SESSION_REVOKED], "description": "beta push"}),
    )
    .await;
    let poll = ssf_stream(
        &w,
        &slug,
        &token,
        json!({"events_requested": [setup::SESSION_REVOKED], "description": "beta poll"}),
    )
    .await;
    setup::add_subject(
        &w.hub.manage_url,
        &slug,
        &token,
        &push,
        &json!({"format": "email", "email": "kept@example.com"}),
    )
    .await
    .unwrap();
    // The operator lowers one limit for this tenant: the page shows the tenant's limit.
    setup::run_cli(
        &bin(),
        &w.hub.env,
        &[
            "tenant",
            "quotas",
            "--tenant",
            &slug,
            "--streams-per-tenant",
            "4",
        ],
    )
    .await
    .unwrap();

    // Three events accepted; another tenant's event is not ours.
    for i in 0..3 {
        setup::publish(
            &w.hub.ingest_url,
            &slug,
            &api_key,
            &setup::session_revoked(&format!("user{i}@example.com")),
        )
        .await
        .unwrap();
    }
    setup::publish(
        &w.hub.ingest_url,
        &w.tenant.slug,
        &w.tenant.api_key,
        &setup::session_revoked("other@example.com"),
    )
    .await
    .unwrap();
    receiver.wait_for_count("/usage", 3, LONG).await.unwrap();

    // The totals: three events, three SETs delivered (the poll stream's wait).
    let url = format!("{console}/usage");
    let deadline = Instant::now() + LONG;
    loop {
        b.driver.goto(&url).await.unwrap();
        let seen = (
            b.text_of("events-total").await.unwrap(),
            b.text_of("delivered-total").await.unwrap(),
        );
        if seen == ("3".to_owned(), "3".to_owned()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the usage page stayed at {seen:?}"
        );
        // Each load is a new look at the recorder's outcomes; pace them.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let current = b
        .js("return document.querySelector('nav a[aria-current=page]').textContent;")
        .await
        .unwrap();
    assert_eq!(current, "Usage");

    // By day: thirty UTC days, today last in time and first in the table, with the counts.
    let days = b
        .js(
            "return Array.from(document.querySelectorAll('#daily tbody tr')).map(r => \
             [r.getAttribute('data-day'), r.querySelector('.events').textContent, \
             r.querySelector('.delivered').textContent]);",
        )
        .await
        .unwrap();
    let days = days.as_array().unwrap();
    assert_eq!(days.len(), 30);
    let today = chrono::Utc::now().date_naive();
    assert_eq!(
        days[0],
        json!([today.format("%Y-%m-%d").to_string(), "3", "3"])
    );
    assert_eq!(
        days[29][0],
        json!(
            (today - chrono::Duration::days(29))
                .format("%Y-%m-%d")
                .to_string()
        )
    );
    assert!(
        days[1..].iter().all(|d| d[1] == "0" && d[2] == "0"),
        "{days:?}"
    );

    // By stream, by name: the push stream's three SETs on today; the poll stream none.
    assert_eq!(cell(&b, &format!("usage-{push}"), "a").await, "beta push");
    assert_eq!(cell(&b, &format!("usage-{push}"), ".total").await, "3");
    let push_days = b
        .js(&format!(
            "return Array.from(document.querySelectorAll('#usage-{push} ul.days li')).map(l => \
             [l.querySelector('time').getAttribute('datetime'), l.querySelector('.n').textContent]);"
        ))
        .await
        .unwrap();
    assert_eq!(
        push_days,
        json!([[today.format("%Y-%m-%d").to_string(), "3"]])
    );
    assert_eq!(cell(&b, &format!("usage-{poll}"), "a").await, "beta poll");
    assert_eq!(cell(&b, &format!("usage-{poll}"), ".total").await, "0");

    // Quotas: each against the tenant's own limit, with where the most is used.
    let used = |q: &'static str| {
        let b = &b;
        async move { cell(b, &format!("quota-{q}"), ".used").await }
    };
    assert_eq!(used("streams_per_tenant").await, "2 of 4");
    assert!(
        b.text_of("quota-streams_per_tenant")
            .await
            .unwrap()
            .contains("50 %")
    );
    assert_eq!(used("receivers_per_tenant").await, "1 of 100");
    assert_eq!(used("streams_per_receiver").await, "2 of 10");
    assert!(
        b.text_of("quota-streams_per_receiver")
            .await
            .unwrap()
            .contains("most: Beta Corp")
    );
    assert_eq!(used("subjects_per_stream").await, "1 of 10000");
    assert!(
        b.text_of("quota-subjects_per_stream")
            .await
            .unwrap()
            .contains("most: beta push")
    );
    assert_eq!(used("subject_list_items").await, "checked on each subject");
    assert_eq!(used("sso_starts_per_minute").await, "checked each minute");
    b.js("document.querySelectorAll('details').forEach(d => d.open = true); return null;")
        .await
        .unwrap();
    both_widths(&mut b, "usage").await;
    b.quit().await.unwrap();
}

/// The status of `GET /api/v1/tenant` with this API key.
async fn key_works(w: &World, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/v1/tenant", w.hub.manage_url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_receivers_page_shows_it_pending_then_joined_reissues_its_invitation_and_disables_it() {
    let w = World::embedded().await;
    let base = w.hub.manage_url.clone();
    let console = format!("{base}/console");
    let mut b = Browser::start(&shots().join("screenshots"), "receiver_page")
        .await
        .unwrap();
    let (slug, _) = sign_up(&b, &console, "pages", "Acme Receivers").await;
    let (first_link, creds) = invite(&b, &w, &slug, "Beta Corp").await;

    // The list links to the receiver's page: invitation pending, no streams yet.
    b.driver.goto(format!("{console}/receivers")).await.unwrap();
    b.driver
        .find(By::LinkText("Beta Corp"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let state = b.text_of("receiver-state").await.unwrap();
    assert!(state.starts_with("Invitation pending"), "{state}");
    b.wait_for_text("No streams yet").await.unwrap();
    let page_url = b.driver.current_url().await.unwrap().to_string();

    // Re-issue the invitation: a new link; the first one stops working.
    b.click("#reissue").await.unwrap();
    b.wait_for_text("A new invitation link is ready")
        .await
        .unwrap();
    assert_eq!(b.class_of("message").await.unwrap(), "notice");
    let link = b
        .text_of("invite-link")
        .await
        .unwrap()
        .replacen(&w.hub.public_url, &base, 1);
    assert_ne!(link, first_link);
    b.driver.goto(&first_link).await.unwrap();
    b.wait_for_text("This invite link does not work")
        .await
        .unwrap();
    b.driver.goto(&link).await.unwrap();
    b.fill("email", "rx@beta.example").await.unwrap();
    b.fill("password", "another good password").await.unwrap();
    b.click_button("Join").await.unwrap();
    b.wait_for_text("Your streams from Acme Receivers")
        .await
        .unwrap();

    // The receiver makes a stream; the tenant's page says joined and names it.
    let token = setup::token(&creds).await.unwrap();
    let stream = ssf_stream(
        &w,
        &slug,
        &token,
        json!({"events_requested": [setup::SESSION_REVOKED], "description": "beta poll"}),
    )
    .await;
    b.driver.goto(&page_url).await.unwrap();
    assert_eq!(
        b.text_of("receiver-state").await.unwrap(),
        "Joined: 1 person uses the portal."
    );
    assert!(
        b.text_of("people")
            .await
            .unwrap()
            .contains("rx@beta.example")
    );
    let named = b
        .js("return Array.from(document.querySelectorAll('#receiver-streams a')).map(a => [a.textContent, a.getAttribute('href')]);")
        .await
        .unwrap();
    assert_eq!(
        named,
        json!([["beta poll", format!("/console/streams/{stream}")]])
    );
    both_widths(&mut b, "receiver").await;

    // Disabling asks first. Without script the server asks on a page; going back changes
    // nothing.
    submit_without_script(&b, "#disable-receiver").await;
    assert_eq!(asked(&b).await, "Disable the receiver Beta Corp?");
    b.shot("receiver-disable-confirm").await.unwrap();
    b.click("#confirm-no").await.unwrap();
    b.text_of("receiver-state").await.unwrap();
    assert!(b.driver.find(By::Id("receiver-disabled")).await.is_err());
    assert!(setup::token(&creds).await.is_ok(), "still enabled");
    // With script, the browser's dialog asks; cancelling sends nothing.
    b.click("#disable-receiver").await.unwrap();
    assert!(b.confirm(false).await.unwrap().contains("Beta Corp"));
    assert!(b.driver.find(By::Id("receiver-disabled")).await.is_err());
    assert!(setup::token(&creds).await.is_ok(), "still enabled");
    // A yes disables it: no token for its credentials, its portal people are signed out.
    b.click("#disable-receiver").await.unwrap();
    b.confirm(true).await.unwrap();
    b.wait_for_text("Beta Corp is disabled.").await.unwrap();
    b.text_of("receiver-disabled").await.unwrap();
    assert!(
        setup::token(&creds).await.is_err(),
        "a disabled receiver gets no token"
    );
    b.driver.goto(format!("{base}/portal")).await.unwrap();
    b.wait_for_text("Your access is disabled").await.unwrap();
    b.driver.goto(format!("{base}/portal")).await.unwrap();
    b.wait_for_text("Sign in").await.unwrap();
    // Enabled again: its credentials work.
    b.driver.goto(&page_url).await.unwrap();
    b.click("#enable-receiver").await.unwrap();
    b.wait_for_text("Beta Corp is enabled again.")
        .await
        .unwrap();
    assert!(setup::token(&creds).await.is_ok());
    b.quit().await.unwrap();
}

#[tokio::test]
async fn destructive_console_actions_ask_first_and_nothing_happens_without_a_yes() {
    let w = World::embedded().await;
    let base = w.hub.manage_url.clone();
    let console = format!("{base}/console");
    let mut b = Browser::start(&shots().join("screenshots"), "confirmations")
        .await
        .unwrap();
    let (slug, first_key) = sign_up(&b, &console, "pages", "Acme Confirm").await;

    // Revoking an API key. Without script: the server's page asks; "No" keeps the key.
    b.driver.goto(format!("{console}/api-keys")).await.unwrap();
    b.fill("name", "ci").await.unwrap();
    b.click("input[name=scope_admin]").await.unwrap();
    b.click_button("Create key").await.unwrap();
    let ci = b.text_of("new-key").await.unwrap();
    assert_eq!(key_works(&w, &ci).await, 200);
    submit_without_script(&b, "button[aria-label='Revoke ci']").await;
    assert_eq!(asked(&b).await, "Revoke the API key ci?");
    both_widths(&mut b, "confirm-revoke").await;
    b.click("#confirm-no").await.unwrap();
    b.wait_for_text("Create a key").await.unwrap();
    assert_eq!(key_works(&w, &ci).await, 200, "not revoked without a yes");
    // With script: cancelling the dialog sends nothing.
    b.click("button[aria-label='Revoke ci']").await.unwrap();
    assert!(b.confirm(false).await.unwrap().contains("ci"));
    assert_eq!(key_works(&w, &ci).await, 200, "not revoked without a yes");
    // Without script, "Yes" on the server's page revokes it.
    submit_without_script(&b, "button[aria-label='Revoke ci']").await;
    assert_eq!(asked(&b).await, "Revoke the API key ci?");
    b.click("#confirm-yes").await.unwrap();
    b.wait_for_text("revoked").await.unwrap();
    assert_eq!(key_works(&w, &ci).await, 401, "revoked after the yes");

    // Rotating the signing key now: asked first; the JWKS keeps one key until the yes.
    let jwks = || async {
        let v: Value = reqwest::get(w.hub.jwks_url(&slug))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["keys"].as_array().unwrap().len()
    };
    assert_eq!(jwks().await, 1);
    b.driver
        .goto(format!("{console}/signing-keys"))
        .await
        .unwrap();
    submit_without_script(&b, "button[name=mode][value=now]").await;
    assert_eq!(asked(&b).await, "Rotate the signing key now?");
    b.click("#confirm-no").await.unwrap();
    b.wait_for_text("Schedule a rotation").await.unwrap();
    assert_eq!(jwks().await, 1, "not rotated without a yes");
    b.click_button("Rotate now").await.unwrap();
    assert!(b.confirm(true).await.unwrap().contains("Rotate now"));
    b.wait_for_text("Done: the active key is").await.unwrap();
    assert_eq!(jwks().await, 2, "the new key and the old one, retiring");

    // A failing push stream with a dead letter: disabling it and redriving ask first.
    save_retry_schedule(&b, &console, ["0.1", "1", "0.1", "1", "0"]).await;
    let (_, creds) = invite(&b, &w, &slug, "Beta Corp").await;
    let token = setup::token(&creds).await.unwrap();
    let stream = down_stream(&w, &slug, &token).await;
    setup::publish(
        &w.hub.ingest_url,
        &slug,
        &first_key,
        &setup::session_revoked("ann@example.com"),
    )
    .await
    .unwrap();
    let stream_page = format!("{console}/streams/{stream}");
    let deadline = Instant::now() + LONG;
    while b.reload_until(&stream_page, "dead-count").await.unwrap() != "1" {
        assert!(Instant::now() < deadline, "no dead letter");
        // Each load is a new look at the retries; pace them.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    submit_without_script(&b, "button[name=which][value=all]").await;
    assert_eq!(
        asked(&b).await,
        "Send every dead letter of this stream again?"
    );
    b.click("#confirm-no").await.unwrap();
    assert_eq!(b.text_of("dead-count").await.unwrap(), "1", "not redriven");
    submit_without_script(&b, "button[name=which][value=all]").await;
    assert_eq!(
        asked(&b).await,
        "Send every dead letter of this stream again?"
    );
    b.click("#confirm-yes").await.unwrap();
    b.wait_for_text("1 dead delivery redriven.").await.unwrap();

    submit_without_script(&b, "button[name=status][value=disabled]").await;
    assert_eq!(asked(&b).await, "Disable this stream?");
    b.click("#confirm-no").await.unwrap();
    assert!(b.text_of("status").await.unwrap().starts_with("enabled"));
    b.click_button("Disable").await.unwrap();
    b.confirm(true).await.unwrap();
    b.wait_for_text("The stream is disabled").await.unwrap();
    assert!(b.text_of("status").await.unwrap().starts_with("disabled"));

    // Deleting the stream: "No" keeps it, "Yes" deletes it.
    submit_without_script(&b, "#delete-stream").await;
    assert_eq!(asked(&b).await, "Delete the stream down?");
    b.click("#confirm-no").await.unwrap();
    assert_eq!(b.text_of("stream-name").await.unwrap(), "down");
    submit_without_script(&b, "#delete-stream").await;
    assert_eq!(asked(&b).await, "Delete the stream down?");
    b.click("#confirm-yes").await.unwrap();
    b.wait_for_text("The stream down is deleted.")
        .await
        .unwrap();
    assert_eq!(b.class_of("message").await.unwrap(), "notice");
    b.driver.goto(&stream_page).await.unwrap();
    b.wait_for_text("No such stream").await.unwrap();
    b.quit().await.unwrap();
}

#[tokio::test]
async fn destructive_portal_actions_ask_first_without_script_and_nothing_happens_without_a_yes() {
    let w = World::embedded().await;
    let base = w.hub.manage_url.clone();
    let console = format!("{base}/console");
    let mut b = Browser::start(&shots().join("screenshots"), "portal_confirmations")
        .await
        .unwrap();
    let (slug, _) = sign_up(&b, &console, "pages", "Acme Portal").await;
    // Failing pushes are given up on at once, so a dead SET waits to be sent again.
    save_retry_schedule(&b, &console, ["0.1", "1", "0.1", "1", "0"]).await;
    let (link, creds) = invite(&b, &w, &slug, "Beta Corp").await;
    let token = setup::token(&creds).await.unwrap();
    let stream = down_stream(&w, &slug, &token).await;
    join_portal(&b, &link, "Acme Portal").await;
    let page_url = format!("{base}/portal/streams/{stream}");

    // Pausing: the server's page asks; "No" leaves it enabled, "Yes" pauses it.
    b.driver.goto(&page_url).await.unwrap();
    submit_without_script(&b, "#pause-stream").await;
    assert_eq!(asked(&b).await, "Pause this stream?");
    both_widths(&mut b, "portal-confirm-pause").await;
    b.click("#confirm-no").await.unwrap();
    assert_eq!(b.text_of("status").await.unwrap(), "enabled");
    submit_without_script(&b, "#pause-stream").await;
    assert_eq!(asked(&b).await, "Pause this stream?");
    b.click("#confirm-yes").await.unwrap();
    assert_eq!(b.text_of("status").await.unwrap(), "paused");
    // Enabling again is not destructive: it acts at once.
    b.click_button("Enable").await.unwrap();
    b.text_of("pause-stream").await.unwrap();
    assert_eq!(b.text_of("status").await.unwrap(), "enabled");

    // Removing a subject: asked by name; "No" removes nothing.
    b.fill("value", "alice@example.com").await.unwrap();
    submit_without_script(&b, "#remove-subject").await;
    assert_eq!(
        asked(&b).await,
        "Stop sending events about alice@example.com?"
    );
    b.click("#confirm-no").await.unwrap();
    b.wait_for_text("Every subject is sent by default")
        .await
        .unwrap();
    assert!(b.driver.find(By::Id("subjects")).await.is_err());
    b.fill("value", "alice@example.com").await.unwrap();
    submit_without_script(&b, "#remove-subject").await;
    asked(&b).await;
    b.click("#confirm-yes").await.unwrap();
    b.wait_for_text("alice@example.com is no longer sent to this stream.")
        .await
        .unwrap();
    let listed = b.text_of("subjects").await.unwrap();
    assert!(
        listed.contains("alice@example.com") && listed.contains("removed"),
        "{listed}"
    );

    // Sending a dead SET again: asked; "No" sends nothing.
    b.click_button("Send test event").await.unwrap();
    b.wait_for_text("Test event sent").await.unwrap();
    let dead_page = format!("{page_url}?state=dead");
    b.driver.goto(&dead_page).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while b
        .driver
        .find(By::Css("#deliveries tr.delivery a"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the test SET never died");
        // Each load is a new look at the pushes in the background.
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.driver.goto(&dead_page).await.unwrap();
    }
    b.click("#deliveries tr.delivery a").await.unwrap();
    b.wait_for_text("The SET").await.unwrap();
    let attempts = || async {
        b.driver
            .find_all(By::Css("#attempts tr.attempt"))
            .await
            .unwrap()
            .len()
    };
    let tried = attempts().await;
    submit_without_script(&b, "#send-again").await;
    assert_eq!(asked(&b).await, "Push this SET to your endpoint again?");
    b.click("#confirm-no").await.unwrap();
    b.wait_for_text("The SET").await.unwrap();
    assert!(b.text_of("state").await.unwrap().starts_with("dead"));
    assert_eq!(attempts().await, tried, "not sent again without a yes");
    submit_without_script(&b, "#send-again").await;
    asked(&b).await;
    b.click("#confirm-yes").await.unwrap();
    b.wait_for_text("Sent again").await.unwrap();

    // Rotating the client secret: "No" keeps the secret working; "Yes" replaces it.
    b.driver
        .goto(format!("{base}/portal/credentials"))
        .await
        .unwrap();
    submit_without_script(&b, "#rotate-secret").await;
    assert_eq!(asked(&b).await, "Rotate the client secret?");
    b.click("#confirm-no").await.unwrap();
    b.wait_for_text("SSF API credentials").await.unwrap();
    assert!(
        setup::token(&creds).await.is_ok(),
        "not rotated without a yes"
    );
    submit_without_script(&b, "#rotate-secret").await;
    asked(&b).await;
    b.click("#confirm-yes").await.unwrap();
    let secret = b.text_of("client-secret").await.unwrap();
    assert!(
        setup::token(&creds).await.is_err(),
        "the old secret is refused"
    );
    let rotated = setup::ReceiverCreds {
        client_secret: secret,
        ..creds
    };
    assert!(setup::token(&rotated).await.is_ok());
    b.quit().await.unwrap();
}

/// Waits (up to 60 s) until the script `cond` holds in the open page, which updates itself.
async fn until_page(b: &Browser, cond: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.js(cond).await.unwrap() != Value::Bool(true) {
        assert!(Instant::now() < deadline, "{what} never showed");
        // Watching the page update itself.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_console_stream_page_shows_a_new_delivery_and_its_health_without_a_reload() {
    let w = World::embedded().await;
    let console = format!("{}/console", w.hub.manage_url);
    let mut b = Browser::start(&shots().join("screenshots"), "live")
        .await
        .unwrap();
    let (slug, api_key) = sign_up(&b, &console, "pages", "Acme Live").await;
    let (_, creds) = invite(&b, &w, &slug, "Beta Corp").await;
    let token = setup::token(&creds).await.unwrap();
    let stream = down_stream(&w, &slug, &token).await;
    let page = format!("{console}/streams/{stream}");
    b.driver.goto(&page).await.unwrap();
    b.wait_for_text("Nothing delivered yet").await.unwrap();
    assert_eq!(
        b.text_of("last-error").await.unwrap(),
        "none in the last 24 hours"
    );
    b.js("window.notReloaded = true; return null;")
        .await
        .unwrap();

    // An event is published while the page is open: its delivery and the failed push show.
    let event = setup::publish(
        &w.hub.ingest_url,
        &slug,
        &api_key,
        &setup::session_revoked("live@example.com"),
    )
    .await
    .unwrap();
    until_page(
        &b,
        &format!(
            "return Array.from(document.querySelectorAll('#deliveries tr.delivery')).some(r => \
             r.textContent.includes('{event}'));"
        ),
        "the new delivery",
    )
    .await;
    until_page(
        &b,
        "const e = document.getElementById('last-error'); \
         return !!e && !e.textContent.startsWith('none');",
        "the failed push in the health",
    )
    .await;
    assert_eq!(
        b.js("return window.notReloaded === true;").await.unwrap(),
        Value::Bool(true),
        "the page was reloaded"
    );
    // The swapped-in log is dressed as a loaded one: local times, labelled cells.
    let label = b
        .js("return document.querySelector('#deliveries tbody td').getAttribute('data-label');")
        .await
        .unwrap();
    assert_eq!(label, Value::from("SET (jti)"));
    both_widths(&mut b, "console-stream-live").await;

    // Without script the page is the same, as of its load: the server's HTML has the row.
    let html = b
        .driver
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch(location.href).then(r => r.text()).then(done, e => done('failed: ' + e));",
            Vec::new(),
        )
        .await
        .unwrap()
        .json()
        .clone();
    let html = html.as_str().unwrap();
    assert!(html.contains(&event), "{html}");
    assert!(html.contains("id=\"last-error\""), "{html}");
    b.quit().await.unwrap();
}

/// Every page route of the console and the portal (`GET`, by its pattern), in the order the
/// accessibility check visits them: signed out first, then signed in. A route added to the
/// route tables and not here fails [`the_accessibility_check_covers_every_page_route`].
const PAGES: &[&str] = &[
    "/",
    "/console/login",
    "/console/signup",
    "/portal/login",
    "/portal/t/{slug}/invite/{token}",
    "/console",
    "/console/",
    "/console/dashboard",
    "/console/api-keys",
    "/console/usage",
    "/console/events",
    "/console/events/{id}",
    "/console/streams",
    "/console/streams/{id}",
    "/console/streams/{id}/deliveries/{delivery}",
    "/console/receivers",
    "/console/receivers/{id}",
    "/console/upstreams",
    "/console/signing-keys",
    "/console/settings",
    "/console/organisation",
    "/console/sso/callback",
    "/console/team",
    "/console/t/{slug}/join/{token}",
    "/portal",
    "/portal/",
    "/portal/events",
    "/portal/credentials",
    "/portal/decoder",
    "/portal/streams/{id}",
    "/portal/streams/{id}/deliveries/{delivery}",
    "/portal/sso/callback",
];

/// `GET` routes that are not pages: the stylesheet, the script and the stream pages' live
/// parts (JSON).
const NOT_PAGES: &[&str] = &[
    "/console/static/console.css",
    "/console/static/console.js",
    "/console/streams/{id}/live",
    "/portal/streams/{id}/live",
];

/// The `GET` routes of a route table's source: each `.route("path", web::get()…)` under the
/// scope `prefix`, and each `web::resource("path")` with a `web::get()` route (registered
/// as is).
fn get_routes(prefix: &str, source: &str) -> Vec<String> {
    let literal = |s: &str| {
        let s = s.trim_start().strip_prefix('"')?;
        Some(s[..s.find('"')?].to_owned())
    };
    let mut found = Vec::new();
    for chunk in source.split(".route(").skip(1) {
        let head = &chunk[..chunk.find(".to(").unwrap_or(chunk.len())];
        if let Some(path) = literal(head).filter(|_| head.contains("web::get()")) {
            found.push(format!("{prefix}{path}"));
        }
    }
    for chunk in source.split("web::resource(").skip(1) {
        let head = &chunk[..chunk.find(".to(").unwrap_or(chunk.len())];
        if let Some(path) = literal(head).filter(|_| head.contains("web::get()")) {
            found.push(path);
        }
    }
    found
}

#[test]
fn the_accessibility_check_covers_every_page_route() {
    let mut routes = get_routes(
        "/console",
        include_str!("../../services/manage/src/web/mod.rs"),
    );
    routes.extend(get_routes(
        "/portal",
        include_str!("../../services/manage/src/portal/mod.rs"),
    ));
    assert!(
        routes.len() > 30,
        "the route tables were not read: {routes:?}"
    );
    let unchecked: Vec<_> = routes
        .iter()
        .filter(|r| !PAGES.contains(&r.as_str()) && !NOT_PAGES.contains(&r.as_str()))
        .collect();
    assert!(
        unchecked.is_empty(),
        "pages the accessibility check does not visit (add them to PAGES): {unchecked:?}"
    );
    let gone: Vec<_> = PAGES
        .iter()
        .chain(NOT_PAGES)
        .filter(|p| !routes.iter().any(|r| r == *p))
        .collect();
    assert!(gone.is_empty(), "no longer routes: {gone:?}");
}

/// What fills the route patterns of [`PAGES`].
struct Ids {
    invite: String,
    join: String,
    event: String,
    stream: String,
    delivery: String,
    receiver: String,
}

impl Ids {
    fn url(&self, base: &str, pattern: &str) -> String {
        let path = match pattern {
            "/portal/t/{slug}/invite/{token}" => self.invite.clone(),
            "/console/t/{slug}/join/{token}" => self.join.clone(),
            p => p
                .replace("/events/{id}", &format!("/events/{}", self.event))
                .replace("/streams/{id}", &format!("/streams/{}", self.stream))
                .replace("/receivers/{id}", &format!("/receivers/{}", self.receiver))
                .replace("{delivery}", &self.delivery),
        };
        assert!(!path.contains('{'), "{pattern} is not filled in: {path}");
        format!("{base}{path}")
    }
}

/// The path of the first link `css` finds on the page.
async fn link(b: &Browser, css: &str) -> String {
    let href = b
        .js(&format!(
            "const a = document.querySelector({css:?}); return a ? a.getAttribute('href') : null;"
        ))
        .await
        .unwrap();
    href.as_str()
        .unwrap_or_else(|| panic!("no link `{css}` on the page"))
        .to_owned()
}

/// Runs axe-core on the page the browser shows (named `what`), noting each serious or
/// critical violation, and screenshots it at desktop width and at 390 px, where it must not
/// scroll sideways (noted with the elements that stick out) and its menu must stay small.
async fn check(b: &mut Browser, what: &str, found: &mut Vec<String>) {
    for v in b.axe().await.unwrap() {
        found.push(format!("{what}: {v}"));
    }
    let name = what
        .trim_matches('/')
        .replace(['/', '{', '}'], "-")
        .replace("--", "-");
    let name = if name.is_empty() { "home" } else { &name };
    b.shot(name).await.unwrap();
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    let phone = b
        .js("const w = window.innerWidth; \
             const out = Array.from(document.querySelectorAll('body *')) \
               .filter(e => e.getBoundingClientRect().right > w + 1 && \
                 !Array.from(e.children).some(c => c.getBoundingClientRect().right > w + 1)) \
               .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + \
                 (e.className && typeof e.className === 'string' ? '.' + e.className : '')); \
             return {scroll: document.documentElement.scrollWidth, width: w, out: out, \
               header: document.querySelector('header').getBoundingClientRect().height, \
               height: window.innerHeight};")
        .await
        .unwrap();
    let n = |k: &str| phone[k].as_f64().unwrap_or(f64::NAN);
    if n("scroll") > n("width") {
        found.push(format!("{what}: overflows a 390 px screen: {phone}"));
    }
    if n("header") >= n("height") / 4.0 {
        found.push(format!(
            "{what}: the menu takes {} px of {}",
            n("header"),
            n("height")
        ));
    }
    b.shot(&format!("phone-{name}")).await.unwrap();
    b.driver.set_window_rect(0, 0, 1280, 900).await.unwrap();
}

#[tokio::test]
async fn every_console_and_portal_page_has_no_serious_accessibility_violation() {
    let w = World::embedded().await;
    let base = w.hub.manage_url.clone();
    let console = format!("{base}/console");
    let mut b = Browser::start(&shots().join("screenshots"), "axe")
        .await
        .unwrap();
    let mut found = Vec::new();
    let mut visited = Vec::new();
    // Signed out: the home page and the sign-in and sign-up pages.
    for page in ["/", "/console/login", "/console/signup", "/portal/login"] {
        b.driver.goto(format!("{base}{page}")).await.unwrap();
        check(&mut b, page, &mut found).await;
        visited.push(page);
    }
    let (slug, api_key) = sign_up(&b, &console, "pages", "Acme Axe").await;
    let (invite_link, creds) = invite(&b, &w, &slug, "Beta Corp").await;
    b.driver.goto(format!("{console}/team")).await.unwrap();
    b.fill("email", "cy@acme.example").await.unwrap();
    b.click_button("Make invite link").await.unwrap();
    let join = b.text_of("invite-link").await.unwrap();
    let token = setup::token(&creds).await.unwrap();
    let stream = down_stream(&w, &slug, &token).await;
    let event = setup::publish(
        &w.hub.ingest_url,
        &slug,
        &api_key,
        &setup::session_revoked("axe@example.com"),
    )
    .await
    .unwrap();
    let stream_page = format!("{console}/streams/{stream}");
    b.reload_until_source(&stream_page, &format!("/streams/{stream}/deliveries/"))
        .await
        .unwrap();
    let delivery = link(&b, "#deliveries a").await;
    b.driver.goto(format!("{console}/receivers")).await.unwrap();
    let receiver = link(&b, "a[href^='/console/receivers/']").await;
    let ids = Ids {
        invite: path_of(&invite_link, &base),
        join: path_of(&join, &w.hub.public_url),
        event,
        delivery: delivery.rsplit('/').next().unwrap().to_owned(),
        receiver: receiver.rsplit('/').next().unwrap().to_owned(),
        stream,
    };
    // The receiver's invitation, before it joins; then everything else, signed in to both.
    let invitation = "/portal/t/{slug}/invite/{token}";
    b.driver.goto(ids.url(&base, invitation)).await.unwrap();
    check(&mut b, invitation, &mut found).await;
    visited.push(invitation);
    join_portal(&b, &invite_link, "Acme Axe").await;
    for page in PAGES.iter().filter(|p| !visited.contains(p)) {
        b.driver.goto(ids.url(&base, page)).await.unwrap();
        check(&mut b, page, &mut found).await;
    }
    // Pages no route shows by itself: a confirmation, a form with its errors, a 404.
    b.driver.goto(&stream_page).await.unwrap();
    submit_without_script(&b, "form[action$='/delete'] button").await;
    asked(&b).await;
    check(&mut b, "confirmation", &mut found).await;
    b.driver.goto(format!("{base}/portal")).await.unwrap();
    submit_without_script(&b, "form[action='/portal/streams'] button[type=submit]").await;
    b.wait_for_text("choose at least one event type")
        .await
        .unwrap();
    check(&mut b, "create-stream-errors", &mut found).await;
    b.driver
        .goto(format!("{console}/streams/str_none"))
        .await
        .unwrap();
    check(&mut b, "not-found", &mut found).await;
    assert!(found.is_empty(), "{}", found.join("\n"));
    b.quit().await.unwrap();
}

/// The path of a link the hub shows with its public address (or the address it is served
/// at).
fn path_of(link: &str, public: &str) -> String {
    link.strip_prefix(public)
        .unwrap_or_else(|| panic!("{link} is not under {public}"))
        .to_owned()
}
