//! What a new tenant and a new receiver met in the console and the portal (issue 16), fixed
//! and checked in a real headless Chromium against `sethub all` (embedded): the way in from
//! `/`, friendly errors, success messages that look like successes, confirmations before
//! destructive actions, the retry settings, the receiver told its organisation slug, the
//! portal's own logo and way back, the create-stream form (grouped event types with select-all,
//! every error at once at the top, push fields only for push), the credentials page with one
//! single sign-on form, and pages that fit a 390 px phone. Screenshots of every page go under
//! `$CARGO_TARGET_TMPDIR/screenshots/new_user_fixes/`.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

mod world;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use sethub_tests::browser::Browser;
use sethub_tests::setup::SESSION_REVOKED;
use thirtyfour::prelude::*;
use world::*;

fn shots() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

#[tokio::test]
async fn a_new_tenant_and_receiver_meet_the_fixed_console_and_portal() {
    let w = World::embedded().await;
    let base = &w.hub.manage_url;
    let console = format!("{base}/console");
    let mut b = Browser::start(&shots().join("screenshots"), "new_user_fixes")
        .await
        .unwrap();

    // The start-up line names the console and the portal; `/` leads to both.
    let printed = w.hub.processes[0].1.stdout_lines.join("\n");
    assert!(
        printed.contains("/console") && printed.contains("/portal"),
        "{printed}"
    );
    b.driver.goto(format!("{base}/")).await.unwrap();
    b.wait_for_text("Receiver portal").await.unwrap();
    let links: Vec<String> = b.js("return Array.from(document.querySelectorAll('#entrances a')).map(a => a.getAttribute('href'));",
    )
    .await.unwrap()
    .as_array()
    .unwrap()
    .iter()
    .map(|v| v.as_str().unwrap().to_owned())
    .collect();
    assert_eq!(links, ["/console", "/portal"]);
    b.shot("home").await.unwrap();

    // Sign up with an empty slug: an error written for people.
    b.driver.goto(format!("{console}/signup")).await.unwrap();
    b.fill("organisation", "Acme Identity").await.unwrap();
    b.fill("email", "ann@acme.example").await.unwrap();
    b.fill("password", "correct horse battery").await.unwrap();
    b.click_button("Create organisation").await.unwrap();
    let slug_error = b.text_of("slug-error").await.unwrap();
    assert!(slug_error.starts_with("enter a slug"), "{slug_error}");
    assert!(!slug_error.contains('`'), "{slug_error}");
    b.shot("signup-empty-slug").await.unwrap();
    let slug = format!("acme-{}", sethub_tests::random_suffix());
    b.fill("slug", &slug).await.unwrap();
    b.fill("password", "correct horse battery").await.unwrap();
    b.click_button("Create organisation").await.unwrap();
    let first_key = b.text_of("new-key").await.unwrap();
    // The Publish card's curl example works as written, with the tenant's own URL.
    let curl = b.text_of("curl-example").await.unwrap();
    let url = curl.split_whitespace().nth(3).unwrap().to_owned();
    assert!(url.ends_with(&format!("/t/{slug}/events")), "{curl}");
    let body = curl.split("-d '").nth(1).unwrap().trim_end_matches('\'');
    let published = reqwest::Client::new()
        .post(url.replacen(&w.hub.public_url, &w.hub.ingest_url, 1))
        .bearer_auth(&first_key)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(published.as_u16(), 202, "{curl}");

    // Retry settings: the jitter label says what the rule says, empty fields are not
    // required, a save is confirmed, and whole numbers come back whole.
    b.driver.goto(format!("{console}/settings")).await.unwrap();
    b.wait_for_text("Jitter (0 to 0.5)").await.unwrap();
    let required = b
        .js("return document.querySelector('input[name=initial_secs]').required;")
        .await
        .unwrap();
    assert_eq!(required, Value::Bool(false));
    b.retry_schedule(["10", "2", "60", "3600", "0.7"])
        .await
        .unwrap();
    // A jitter the label rules out: refused beside the field, with the label's range.
    b.click_button("Save retry schedule").await.unwrap();
    assert_eq!(
        b.text_of("jitter-error").await.unwrap(),
        "must be between 0 and 0.5"
    );
    assert_eq!(b.class_of("retry-message").await.unwrap(), "alert");
    b.fill("jitter", "0.2").await.unwrap();
    b.click_button("Save retry schedule").await.unwrap();
    b.wait_for_text("The retry schedule is saved")
        .await
        .unwrap();
    assert!(
        b.text_of("retry-message")
            .await
            .unwrap()
            .contains("is saved")
    );
    assert_eq!(b.class_of("retry-message").await.unwrap(), "notice");
    let shown = b
        .driver
        .find(By::Name("initial_secs"))
        .await
        .unwrap()
        .value()
        .await
        .unwrap();
    assert_eq!(shown.as_deref(), Some("10"));
    b.shot("retry-saved").await.unwrap();

    // Revoking a key asks first; cancelling keeps it.
    b.driver.goto(format!("{console}/api-keys")).await.unwrap();
    b.fill("name", "publisher").await.unwrap();
    b.click_button("Create key").await.unwrap();
    b.text_of("new-key").await.unwrap();
    b.click("button[aria-label='Revoke publisher']")
        .await
        .unwrap();
    assert!(
        b.confirm(false)
            .await
            .unwrap()
            .contains("Revoke the key publisher")
    );
    assert!(
        b.driver
            .find(By::Css("button[aria-label='Revoke publisher']"))
            .await
            .is_ok(),
        "cancelled: the key is still active"
    );
    b.click("button[aria-label='Revoke publisher']")
        .await
        .unwrap();
    b.confirm(true).await.unwrap();
    b.wait_for_text("revoked").await.unwrap();

    // A receiver joins and is told the slug it signs in with.
    b.driver.goto(format!("{console}/receivers")).await.unwrap();
    b.fill("name", "Beta Corp").await.unwrap();
    b.click_button("Invite").await.unwrap();
    let link = b.text_of("invite-link").await.unwrap();
    let link = link.replacen(&w.hub.public_url, base, 1);
    b.driver.goto(&link).await.unwrap();
    assert!(b.text_of("org-slug").await.unwrap().contains(&slug));
    b.shot("portal-join-slug").await.unwrap();
    b.fill("email", "rx@beta.example").await.unwrap();
    b.fill("password", "another good password").await.unwrap();
    b.click_button("Join").await.unwrap();
    // The join page names the slug too: wait for the portal's own page.
    b.wait_for_text("Your streams from Acme Identity")
        .await
        .unwrap();
    assert!(b.text_of("org-slug").await.unwrap().contains(&slug));
    // The portal's logo leads to the portal.
    let home = b
        .driver
        .find(By::Css("header a.brand"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert_eq!(home.as_deref(), Some("/portal"));

    // The create-stream form: grouped event types with a select-all box each.
    let groups = b.driver.find_all(By::Css("fieldset.group")).await.unwrap();
    assert!(groups.len() >= 2, "event types are grouped");
    b.click("input.select-all[data-group=caep]").await.unwrap();
    let unchecked = b.js("return document.querySelectorAll('input[name=event][data-group=caep]:not(:checked)').length;",
    )
    .await.unwrap();
    assert_eq!(
        unchecked,
        Value::from(0),
        "select-all checks every CAEP type"
    );
    b.click("input.select-all[data-group=caep]").await.unwrap();
    // Push fields show for push only.
    b.click("input[name=method][value=poll]").await.unwrap();
    let push = b.driver.find(By::Id("push-fields")).await.unwrap();
    assert!(!push.is_displayed().await.unwrap());
    b.click("input[name=method][value=push]").await.unwrap();
    assert!(push.is_displayed().await.unwrap());
    // Nothing filled in: every error at once, at the top, in words.
    b.click_button("Create stream").await.unwrap();
    let summary = b.text_of("form-errors").await.unwrap();
    assert!(summary.contains("Push URL: no URL was given"), "{summary}");
    assert!(
        summary.contains("Event types: choose at least one event type"),
        "{summary}"
    );
    let top = b
        .js("return document.getElementById('form-errors').getBoundingClientRect().top;")
        .await
        .unwrap();
    assert!(
        top.as_f64().unwrap() < 400.0,
        "the errors are at the top: {top}"
    );
    b.shot("create-stream-errors").await.unwrap();
    // A scheme that is not http(s): the message says which are allowed.
    b.fill("endpoint_url", "ftp://receiver.example/events")
        .await
        .unwrap();
    b.click("input.select-all[data-group=caep]").await.unwrap();
    b.click_button("Create stream").await.unwrap();
    // The page before had the same list: wait for the new one.
    b.wait_for_text("only http:// and https:// URLs are allowed")
        .await
        .unwrap();
    let summary = b.text_of("form-errors").await.unwrap();
    assert!(
        summary.contains("only http:// and https:// URLs are allowed"),
        "{summary}"
    );
    assert!(!summary.contains("Event types"), "{summary}");
    // A push stream to a test receiver.
    let issuer = format!("{}/t/{slug}", w.hub.public_url);
    let receiver = sethub_tests::TestReceiver::start(w.hub.jwks_url(&slug), issuer).await;
    b.fill("description", "beta push").await.unwrap();
    b.fill("endpoint_url", &receiver.url("/beta"))
        .await
        .unwrap();
    b.click_button("Create stream").await.unwrap();
    b.wait_for_text("Deliveries").await.unwrap();
    let stream_page = b.driver.current_url().await.unwrap().to_string();
    // Successes look like successes.
    b.click_button("Request verification").await.unwrap();
    b.wait_for_text("Verification requested").await.unwrap();
    assert_eq!(b.class_of("message").await.unwrap(), "notice");
    receiver.wait_for_count("/beta", 1, LONG).await.unwrap();
    b.click_button("Send test event").await.unwrap();
    b.wait_for_text("Test event sent").await.unwrap();
    assert_eq!(b.class_of("message").await.unwrap(), "notice");
    receiver.wait_for_count("/beta", 2, LONG).await.unwrap();
    b.shot("portal-success-notice").await.unwrap();
    // A refusal still looks like one.
    b.click_button("Request verification").await.unwrap();
    b.wait_for_text("try again in").await.unwrap();
    assert_eq!(b.class_of("message").await.unwrap(), "alert");

    // The event types page speaks of kinds of values, not of the registry's names.
    b.driver
        .goto(format!("{base}/portal/events"))
        .await
        .unwrap();
    b.wait_for_text("Session Revoked").await.unwrap();
    let text = b.js("return document.body.innerText;").await.unwrap();
    let text = text.as_str().unwrap();
    assert!(!text.contains("one_of") && !text.contains("open_enum"));
    assert!(text.contains("one of: "), "closed lists are spelled out");

    // The credentials page: one single sign-on form, not in the header; rotating asks first.
    b.driver
        .goto(format!("{base}/portal/credentials"))
        .await
        .unwrap();
    let client_id = b.text_of("client-id").await.unwrap();
    let forms = b
        .js(
            "return [document.querySelectorAll('form[action=\"/portal/sso/settings\"]').length, \
         document.querySelectorAll('header form[action=\"/portal/sso/settings\"]').length, \
         document.title];",
        )
        .await
        .unwrap();
    assert_eq!(forms[0], Value::from(1), "{forms}");
    assert_eq!(forms[1], Value::from(0), "{forms}");
    assert_eq!(forms[2], Value::from("API credentials · sethub"), "{forms}");
    b.shot("portal-credentials").await.unwrap();
    b.click_button("Rotate the client secret").await.unwrap();
    assert!(b.confirm(true).await.unwrap().contains("stops working"));
    let client_secret = b.text_of("client-secret").await.unwrap();

    // A portal error page leads back to the portal.
    b.driver
        .goto(format!("{base}/portal/streams/str_nothing"))
        .await
        .unwrap();
    b.wait_for_text("Back to your streams").await.unwrap();
    let back = b
        .js(
            "return [document.querySelector('header a.brand').getAttribute('href'), \
         document.querySelector('main a').getAttribute('href')];",
        )
        .await
        .unwrap();
    assert_eq!(back, serde_json::json!(["/portal", "/portal"]));

    // The delivery log filters by state.
    b.driver
        .goto(format!("{stream_page}?state=dead"))
        .await
        .unwrap();
    assert_eq!(
        b.text_of("no-deliveries").await.unwrap(),
        "No delivery is dead."
    );
    b.driver
        .goto(format!("{stream_page}?state=delivered"))
        .await
        .unwrap();
    let rows = b
        .driver
        .find_all(By::Css("#deliveries tr.delivery"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "the verification and the test SET");
    for r in rows {
        assert!(r.text().await.unwrap().contains("delivered"));
    }

    // The console's stream page: the stream by its name, with its endpoint and event types;
    // pausing it tells the receiver (a stream-updated SET), disabling asks first.
    b.driver.goto(format!("{console}/streams")).await.unwrap();
    b.driver
        .find(By::LinkText("beta push"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(b.text_of("stream-name").await.unwrap(), "beta push");
    assert_eq!(b.text_of("endpoint").await.unwrap(), receiver.url("/beta"));
    assert!(
        b.text_of("event-types")
            .await
            .unwrap()
            .contains("session-revoked")
    );
    let before = receiver.received("/beta").len();
    b.fill("reason", "maintenance tonight").await.unwrap();
    b.click_button("Pause").await.unwrap();
    b.wait_for_text("The stream is paused").await.unwrap();
    assert_eq!(b.class_of("message").await.unwrap(), "notice");
    assert!(b.text_of("status").await.unwrap().starts_with("paused"));
    receiver
        .wait_for_count("/beta", before + 1, LONG)
        .await
        .unwrap();
    let told = &receiver.received("/beta")[before];
    assert_eq!(told.event_types(), vec![STREAM_UPDATED.to_owned()]);
    assert_eq!(told.events[STREAM_UPDATED]["status"], "paused");
    assert_eq!(told.events[STREAM_UPDATED]["reason"], "maintenance tonight");
    b.shot("console-stream-paused").await.unwrap();
    b.click_button("Disable").await.unwrap();
    assert!(
        b.confirm(false)
            .await
            .unwrap()
            .contains("Disable this stream")
    );
    assert!(b.text_of("status").await.unwrap().starts_with("paused"));
    b.click_button("Enable").await.unwrap();
    b.wait_for_text("The stream is enabled").await.unwrap();

    // A stream whose pushes fail: a short retry schedule makes its SET dead at once. Both
    // sides see it failing, in words; the tenant redrives the dead letter it chooses.
    b.driver.goto(format!("{console}/settings")).await.unwrap();
    b.retry_schedule(["0.1", "1", "0.1", "1", "0"])
        .await
        .unwrap();
    b.click_button("Save retry schedule").await.unwrap();
    b.wait_for_text("The retry schedule is saved")
        .await
        .unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    b.driver.goto(format!("{base}/portal")).await.unwrap();
    b.fill("description", "beta down").await.unwrap();
    b.fill("endpoint_url", &format!("http://127.0.0.1:{closed}/down"))
        .await
        .unwrap();
    b.click(&format!(
        "input[name=event][value='{}']",
        sethub_tests::setup::SESSION_REVOKED
    ))
    .await
    .unwrap();
    b.click_button("Create stream").await.unwrap();
    b.wait_for_text("Deliveries").await.unwrap();
    let down_page = b.driver.current_url().await.unwrap().to_string();
    b.click_button("Send test event").await.unwrap();
    b.wait_for_text("Test event sent").await.unwrap();
    let failing = b.reload_until(&down_page, "failing").await.unwrap();
    // Said in words, never as a transport error's debug text.
    assert!(failing.contains("could not be reached"), "{failing}");
    assert!(!failing.contains("os error"), "{failing}");
    b.shot("portal-stream-failing").await.unwrap();
    b.driver.goto(format!("{console}/streams")).await.unwrap();
    b.driver
        .find(By::LinkText("beta down"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_text("Dead letters").await.unwrap();
    let console_page = b.driver.current_url().await.unwrap().to_string();
    let dead = b.reload_until(&console_page, "dead").await.unwrap();
    assert!(dead.contains("could not be reached"), "{dead}");
    assert!(
        b.text_of("failing")
            .await
            .unwrap()
            .contains("could not be reached")
    );
    b.shot("console-dead-letter").await.unwrap();
    b.click("input[name=delivery]").await.unwrap();
    b.click_button("Redrive the chosen").await.unwrap();
    assert!(b.confirm(true).await.unwrap().contains("chosen"));
    b.wait_for_text("1 dead delivery redriven.").await.unwrap();
    assert_eq!(b.class_of("message").await.unwrap(), "notice");

    // A new delivery shows on the portal's stream page without a reload: the receiver's own
    // software asks for a verification SET through the SSF API.
    b.driver.goto(&stream_page).await.unwrap();
    b.wait_for_text("Deliveries").await.unwrap();
    b.js("window.notReloaded = true; return null;")
        .await
        .unwrap();
    let rows = "return document.querySelectorAll('#deliveries tr.delivery').length;";
    let before = b.js(rows).await.unwrap().as_u64().unwrap();
    let creds = sethub_tests::setup::ReceiverCreds {
        receiver_id: String::new(),
        client_id,
        client_secret,
        token_endpoint: format!("{base}/t/{slug}/oauth/token"),
    };
    let token = sethub_tests::setup::token(&creds).await.unwrap();
    let stream_id = stream_page.rsplit('/').next().unwrap().to_owned();
    loop {
        let resp = reqwest::Client::new()
            .post(format!("{base}/t/{slug}/ssf/verify"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"stream_id": stream_id, "state": "live"}))
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            204 => break,
            // The minimum interval since the portal's request: wait as long as told.
            429 => {
                let secs: u64 = resp.headers()["Retry-After"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                tokio::time::sleep(Duration::from_secs(secs)).await;
            }
            other => panic!("verify answered {other}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.js(rows).await.unwrap().as_u64().unwrap() <= before {
        assert!(Instant::now() < deadline, "the new delivery never showed");
        // Watching the page update itself.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        b.js("return window.notReloaded === true;").await.unwrap(),
        Value::Bool(true),
        "the page was not reloaded"
    );
    b.shot("portal-live-delivery").await.unwrap();

    // On a 390 px phone: nothing overflows, the menu stays small, folded tables keep their
    // column labels.
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    b.driver.goto(&stream_page).await.unwrap();
    b.wait_for_text("Deliveries").await.unwrap();
    b.fits("the portal's stream page").await.unwrap();
    let label = b
        .js(
            "const td = document.querySelector('#deliveries tbody td'); \
         return [td.getAttribute('data-label'), getComputedStyle(td, '::before').content];",
        )
        .await
        .unwrap();
    assert_eq!(label[0], Value::from("SET (jti)"), "{label}");
    assert!(label[1].as_str().unwrap().contains("SET (jti)"), "{label}");
    b.shot("phone-portal-stream").await.unwrap();
    b.driver.goto(format!("{base}/portal")).await.unwrap();
    b.wait_for_text("Create a stream").await.unwrap();
    b.fits("the portal's streams page").await.unwrap();
    b.shot("phone-portal-streams").await.unwrap();
    // The console, signed in as the tenant again (the portal has its own session).
    b.driver.goto(format!("{console}/events")).await.unwrap();
    b.wait_for_text("Received").await.unwrap();
    b.fits("the console's event log").await.unwrap();
    b.shot("phone-console-events").await.unwrap();
    b.driver.goto(format!("{console}/dashboard")).await.unwrap();
    b.text_of("streams").await.unwrap();
    b.fits("the console's dashboard").await.unwrap();
    b.shot("phone-console-dashboard").await.unwrap();
    // Signing out says so.
    b.driver.set_window_rect(0, 0, 1280, 900).await.unwrap();
    b.click_button("Sign out").await.unwrap();
    assert_eq!(
        b.text_of("signed-out").await.unwrap(),
        "You are signed out."
    );
    assert_eq!(b.class_of("signed-out").await.unwrap(), "notice");
    b.shot("signed-out").await.unwrap();
    b.quit().await.unwrap();
}

/// The published keys of `slug` as `(kty, crv, alg)`, sorted (a plain GET of the JWKS URL).
async fn published_keys(w: &World, slug: &str) -> Vec<(String, String, String)> {
    let jwks: Value = reqwest::get(w.hub.jwks_url(slug))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = |k: &Value, m: &str| k[m].as_str().unwrap_or_default().to_owned();
    let mut keys: Vec<_> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (text(k, "kty"), text(k, "crv"), text(k, "alg")))
        .collect();
    keys.sort();
    keys
}

/// Takes a 390 px phone screenshot and a desktop one of the current page, the phone one
/// checked to fit.
async fn both_shots(b: &mut Browser, name: &str) {
    b.shot(name).await.unwrap();
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    b.shot(&format!("phone-{name}")).await.unwrap();
    b.fits(name).await.unwrap();
    b.driver.set_window_rect(0, 0, 1280, 900).await.unwrap();
}

/// Issue 14 in the console: a tenant signs up choosing RS256 and the CAEP interoperability
/// profile, sees the profile on the signing-keys page and has a `session-revoked` without
/// `reason_admin` refused at ingest; the rotation offers RS256 only while the profile is on,
/// and after switching it off the scheduled rotation publishes both keys through the overlap.
/// Screenshots under `$CARGO_TARGET_TMPDIR/screenshots/signing_choices/`.
#[tokio::test]
async fn a_tenant_signs_up_on_rs256_with_the_caep_profile_and_rotates_to_eddsa_in_the_console() {
    let w = World::embedded().await;
    let console = format!("{}/console", w.hub.manage_url);
    let mut b = Browser::start(&shots().join("screenshots"), "signing_choices")
        .await
        .unwrap();

    b.driver.goto(format!("{console}/signup")).await.unwrap();
    let slug = format!("interop-{}", sethub_tests::random_suffix());
    b.fill("organisation", "Interop Identity").await.unwrap();
    b.fill("slug", &slug).await.unwrap();
    b.fill("email", "ivy@interop.example").await.unwrap();
    b.fill("password", "correct horse battery").await.unwrap();
    b.click("#signing_alg option[value='RS256-2048']")
        .await
        .unwrap();
    b.click("#profile").await.unwrap();
    both_shots(&mut b, "signup-rs256-caep").await;
    b.click_button("Create organisation").await.unwrap();
    let api_key = b.text_of("new-key").await.unwrap();
    assert_eq!(
        published_keys(&w, &slug).await,
        [("RSA".to_owned(), String::new(), "RS256".to_owned())]
    );

    // The profile is shown on the signing-keys page.
    b.driver
        .goto(format!("{console}/signing-keys"))
        .await
        .unwrap();
    let state = b.text_of("profile-state").await.unwrap();
    assert!(
        state.contains("CAEP interoperability profile is on"),
        "{state}"
    );
    both_shots(&mut b, "signing-keys-caep").await;

    // Under the profile, a session-revoked without reason_admin is refused naming it.
    let publish = |body: Value| {
        let url = format!("{}/t/{slug}/events", w.hub.ingest_url);
        let key = api_key.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let revoked = |event: Value| {
        serde_json::json!({
            "sub_id": {"format": "email", "email": "jdoe@example.com"},
            "events": {SESSION_REVOKED: event},
        })
    };
    let (status, body) = publish(revoked(serde_json::json!({"initiating_entity": "policy"}))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["field"],
        format!("events.{SESSION_REVOKED}.reason_admin"),
        "{body}"
    );
    let (status, body) = publish(revoked(serde_json::json!({
        "initiating_entity": "policy", "reason_admin": {"en": "Signed out by policy"}
    })))
    .await;
    assert_eq!(status, 202, "{body}");

    // Under the profile the rotation offers RS256 keys only.
    let offered = b
        .js("return Array.from(document.querySelectorAll('#signing_alg option')).map(o => o.value);")
        .await
        .unwrap();
    let offered: Vec<&str> = offered
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|v| !v.is_empty())
        .collect();
    assert_eq!(offered, ["RS256-2048", "RS256-3072"], "{offered:?}");

    // Profile off, then the rotation: the EdDSA key is published beside the RS256 one.
    b.click_button("Switch it off").await.unwrap();
    b.wait_for_text("No interoperability profile is on")
        .await
        .unwrap();
    b.click("#signing_alg option[value='EdDSA']").await.unwrap();
    b.click_button("Schedule a rotation").await.unwrap();
    b.wait_for_text("is published as the next one")
        .await
        .unwrap();
    assert_eq!(b.class_of("message").await.unwrap(), "notice");
    assert_eq!(
        published_keys(&w, &slug).await,
        [
            ("OKP".to_owned(), "Ed25519".to_owned(), "EdDSA".to_owned()),
            ("RSA".to_owned(), String::new(), "RS256".to_owned()),
        ]
    );
    both_shots(&mut b, "signing-keys-rotated-to-eddsa").await;
    b.quit().await.unwrap();
}
