//! A stream's health and a page per delivery (issue 16), in a real headless Chromium against
//! `sethub all` (embedded), for the receiver (portal) and the tenant (console): a failing
//! stream warns in the lists and on the dashboard; its health says the success rate with an
//! hourly sparkline, the last error in words, the next retry and the dead letters; its log
//! filters by state, time and search; a delivery's page shows the decoded SET verified against
//! the tenant's keys and every attempt, and "send again" asks first. Screenshots (desktop and
//! 390 px) go under `$CARGO_TARGET_TMPDIR/screenshots/stream_health/`.

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
use thirtyfour::prelude::*;
use world::ui;
use world::*;

fn shots() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// Loads `url` again until the text of `#id` satisfies `ok` (up to 60 s of background work);
/// returns it.
async fn reload_until_text(b: &Browser, url: &str, id: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        b.driver.goto(url).await.unwrap();
        let text = match b.driver.find(By::Id(id)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if ok(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "#{id} on {url} stayed `{text}`");
        // Each load is a new look at the background work; pace them.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The stream list's rows: (name, shows the failing badge).
async fn badges(b: &Browser) -> Vec<(String, bool)> {
    let v = b
        .js(
            "return Array.from(document.querySelectorAll('tbody tr')).map(r => \
             [r.querySelector('a').textContent, !!r.querySelector('.badge')]);",
        )
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_bool().unwrap()))
        .collect()
}

/// Screenshots the page at desktop width and at 390 px (where it must fit), scrolled to the
/// element `at`.
async fn both_widths(b: &mut Browser, name: &str, at: &str) {
    let scroll = format!("document.getElementById('{at}').scrollIntoView(); return null;");
    b.js(&scroll).await.unwrap();
    b.shot(name).await.unwrap();
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    b.fits(name).await.unwrap();
    b.js(&scroll).await.unwrap();
    b.shot(&format!("phone-{name}")).await.unwrap();
    b.driver.set_window_rect(0, 0, 1280, 900).await.unwrap();
}

/// On a delivery's page: the SET verifies against the tenant's keys and its claims carry
/// `jti`; returns the attempts' rows as text.
async fn delivery_page_shows(b: &Browser, issuer: &str, jti: &str) -> Vec<String> {
    assert_eq!(
        b.text_of("verdict").await.unwrap(),
        format!("Verifies: signed by {issuer}")
    );
    assert_eq!(b.class_of("verdict").await.unwrap(), "notice");
    let claims = b.text_of("set-claims").await.unwrap();
    let claims: Value = serde_json::from_str(&claims).unwrap();
    assert_eq!(claims["jti"], jti);
    assert_eq!(claims["iss"], issuer);
    let header: Value = serde_json::from_str(&b.text_of("set-header").await.unwrap()).unwrap();
    assert_eq!(header["typ"], "secevent+jwt");
    let mut rows = Vec::new();
    for r in b
        .driver
        .find_all(By::Css("#attempts tr.attempt"))
        .await
        .unwrap()
    {
        rows.push(r.text().await.unwrap());
    }
    rows
}

#[tokio::test]
async fn a_failing_stream_shows_its_health_and_every_delivery_has_a_page_on_both_sides() {
    let w = World::embedded().await;
    let base = &w.hub.manage_url;
    let console = format!("{base}/console");
    let mut b = Browser::start(&shots().join("screenshots"), "stream_health")
        .await
        .unwrap();

    // A tenant signs up, makes failing pushes dead at once, and invites a receiver.
    let slug = format!("health-{}", sethub_tests::random_suffix());
    b.driver.goto(format!("{console}/signup")).await.unwrap();
    b.fill("organisation", "Acme Health").await.unwrap();
    b.fill("slug", &slug).await.unwrap();
    b.fill("email", "ann@acme.example").await.unwrap();
    b.fill("password", "correct horse battery").await.unwrap();
    b.click_button("Create organisation").await.unwrap();
    b.text_of("new-key").await.unwrap();
    ui::save_retry_schedule(&b, &console, ["0.1", "1", "0.1", "1", "0"]).await;
    b.driver.goto(format!("{console}/receivers")).await.unwrap();
    b.fill("name", "Beta Corp").await.unwrap();
    b.click_button("Invite").await.unwrap();
    let link = b.text_of("invite-link").await.unwrap();
    b.driver
        .goto(link.replacen(&w.hub.public_url, base, 1))
        .await
        .unwrap();
    b.fill("email", "rx@beta.example").await.unwrap();
    b.fill("password", "another good password").await.unwrap();
    b.click_button("Join").await.unwrap();
    b.wait_for_text("Your streams from Acme Health")
        .await
        .unwrap();

    // Two push streams: one to a working receiver, one to a port nobody listens on.
    let issuer = format!("{}/t/{slug}", w.hub.public_url);
    let receiver = sethub_tests::TestReceiver::start(w.hub.jwks_url(&slug), issuer.clone()).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut pages = Vec::new();
    for (name, url) in [
        ("healthy", receiver.url("/ok")),
        ("down", format!("http://127.0.0.1:{closed}/down")),
    ] {
        b.driver.goto(format!("{base}/portal")).await.unwrap();
        b.fill("description", name).await.unwrap();
        b.fill("endpoint_url", &url).await.unwrap();
        b.click(&format!(
            "input[name=event][value='{}']",
            sethub_tests::setup::SESSION_REVOKED
        ))
        .await
        .unwrap();
        b.click_button("Create stream").await.unwrap();
        b.wait_for_text("Deliveries").await.unwrap();
        let page = b.driver.current_url().await.unwrap().to_string();
        b.click_button("Send test event").await.unwrap();
        b.wait_for_text("Test event sent").await.unwrap();
        pages.push(page);
    }
    let (healthy_page, down_page) = (pages[0].clone(), pages[1].clone());
    receiver.wait_for_count("/ok", 1, LONG).await.unwrap();

    // The receiver's view of the failing stream: a warning in words, the last error, the dead
    // letter, nothing waiting, and an hourly sparkline with a failed hour.
    let warning = b.reload_until(&down_page, "health-warning").await.unwrap();
    assert!(warning.contains("could not be reached"), "{warning}");
    assert!(!warning.contains("os error"), "{warning}");
    reload_until_text(&b, &down_page, "dead-count", |t| t == "1").await;
    assert!(
        b.text_of("last-error")
            .await
            .unwrap()
            .contains("could not be reached")
    );
    assert_eq!(b.text_of("next-retry").await.unwrap(), "nothing waits");
    assert_eq!(b.text_of("success-rate").await.unwrap(), "0 %");
    let spark = b
        .js(
            "return [document.querySelectorAll('#sparkline circle').length, \
             document.querySelectorAll('#sparkline circle.bad').length, \
             document.querySelector('#sparkline circle.bad title').textContent];",
        )
        .await
        .unwrap();
    assert_eq!(spark[0], Value::from(24), "a point per hour: {spark}");
    assert_eq!(spark[1], Value::from(1), "{spark}");
    assert!(
        spark[2].as_str().unwrap().contains("0 % of"),
        "the hour says its rate: {spark}"
    );
    both_widths(&mut b, "portal-stream-health", "health").await;
    // The working stream reads healthy.
    let rate = reload_until_text(&b, &healthy_page, "success-rate", |t| t == "100 %").await;
    assert_eq!(rate, "100 %");
    assert!(b.driver.find(By::Id("health-warning")).await.is_err());
    // The list warns of the failing stream only.
    b.driver.goto(format!("{base}/portal")).await.unwrap();
    let mut listed = badges(&b).await;
    listed.sort();
    assert_eq!(
        listed,
        [("down".to_owned(), true), ("healthy".to_owned(), false)]
    );

    // The log: filtered by state, searched by jti, and nothing for an unknown subject.
    b.driver
        .goto(format!("{down_page}?state=dead&window=24h"))
        .await
        .unwrap();
    let rows = b
        .driver
        .find_all(By::Css("#deliveries tr.delivery"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let jti = b
        .driver
        .find(By::Css("#deliveries tr.delivery td code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    b.driver.goto(format!("{down_page}?q={jti}")).await.unwrap();
    let found = b
        .driver
        .find_all(By::Css("#deliveries tr.delivery"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    b.driver
        .goto(format!("{down_page}?q=nobody%40nowhere"))
        .await
        .unwrap();
    assert_eq!(
        b.text_of("no-deliveries").await.unwrap(),
        "No delivery matches these filters."
    );

    // The delivery's page: the SET decoded and verified, its attempt in words.
    b.driver.goto(format!("{down_page}?q={jti}")).await.unwrap();
    b.click("#deliveries tr.delivery a").await.unwrap();
    b.wait_for_text("The SET").await.unwrap();
    let delivery_page = b.driver.current_url().await.unwrap().to_string();
    let delivery_id = delivery_page.rsplit('/').next().unwrap().to_owned();
    // Every attempt of the short retry schedule, the last one giving up; all in words.
    let attempts = delivery_page_shows(&b, &issuer, &jti).await;
    let first = attempts.len();
    assert!(
        attempts.iter().all(|a| a.contains("could not be reached")),
        "{attempts:?}"
    );
    assert!(attempts[first - 1].contains("dead gave up"), "{attempts:?}");
    assert!(b.text_of("state").await.unwrap().starts_with("dead"));
    both_widths(&mut b, "portal-delivery", "delivery-title").await;
    both_widths(&mut b, "portal-delivery-set", "verdict").await;
    // "Send again" asks first; cancelled, nothing is sent.
    b.click("#send-again").await.unwrap();
    assert!(b.confirm(false).await.unwrap().contains("again"));
    assert!(b.text_of("state").await.unwrap().starts_with("dead"));
    b.click("#send-again").await.unwrap();
    b.confirm(true).await.unwrap();
    b.wait_for_text("Sent again").await.unwrap();
    assert_eq!(b.class_of("message").await.unwrap(), "notice");
    // Pushed again now: more attempts (failing again, so dead again).
    let deadline = Instant::now() + Duration::from_secs(60);
    let tried = loop {
        b.driver.goto(&delivery_page).await.unwrap();
        let n = b
            .driver
            .find_all(By::Css("#attempts tr.attempt"))
            .await
            .unwrap()
            .len();
        let state = b.text_of("state").await.unwrap();
        if n > first && state.starts_with("dead") {
            break n;
        }
        assert!(Instant::now() < deadline, "{n} attempts, {state}");
        // Each load is a new look at the push in the background.
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The tenant's view: the badge in the list and on the dashboard, the same health, and
    // the same delivery with its own "send again" (a redrive of that one dead letter).
    b.driver.goto(format!("{console}/streams")).await.unwrap();
    let mut listed = badges(&b).await;
    listed.sort();
    assert_eq!(
        listed,
        [("down".to_owned(), true), ("healthy".to_owned(), false)]
    );
    b.driver.goto(format!("{console}/dashboard")).await.unwrap();
    let attention = b.text_of("needs-attention").await.unwrap();
    assert!(
        attention.contains("down") && !attention.contains("healthy"),
        "{attention}"
    );
    let down_id = down_page.rsplit('/').next().unwrap().to_owned();
    let console_stream = format!("{console}/streams/{down_id}");
    b.driver.goto(&console_stream).await.unwrap();
    assert!(
        b.text_of("health-warning")
            .await
            .unwrap()
            .contains("could not be reached")
    );
    assert_eq!(b.text_of("dead-count").await.unwrap(), "1");
    both_widths(&mut b, "console-stream-health", "health").await;
    b.driver
        .goto(format!("{console_stream}?state=dead"))
        .await
        .unwrap();
    b.click("#deliveries tr.delivery a").await.unwrap();
    b.wait_for_text("The SET").await.unwrap();
    assert!(
        b.driver
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with(&format!(
                "/console/streams/{down_id}/deliveries/{delivery_id}"
            ))
    );
    let attempts = delivery_page_shows(&b, &issuer, &jti).await;
    assert_eq!(attempts.len(), tried, "{attempts:?}");
    both_widths(&mut b, "console-delivery", "delivery-title").await;
    both_widths(&mut b, "console-delivery-attempts", "attempts").await;
    b.click("#send-again").await.unwrap();
    assert!(b.confirm(true).await.unwrap().contains("again"));
    b.wait_for_text("Sent again").await.unwrap();
    assert_eq!(b.class_of("message").await.unwrap(), "notice");

    // A delivery is found only under its own stream.
    let healthy_id = healthy_page.rsplit('/').next().unwrap().to_owned();
    b.driver
        .goto(format!(
            "{console}/streams/{healthy_id}/deliveries/{delivery_id}"
        ))
        .await
        .unwrap();
    b.wait_for_text("No such delivery").await.unwrap();
    b.driver
        .goto(format!(
            "{base}/portal/streams/{healthy_id}/deliveries/{delivery_id}"
        ))
        .await
        .unwrap();
    b.wait_for_text("No such delivery").await.unwrap();
    b.quit().await.unwrap();
}

#[tokio::test]
async fn a_paused_endpoint_and_a_poll_queue_read_in_words_on_both_sides() {
    // Sending to an endpoint pauses after 2 failures in a row, for 10 minutes.
    let w = World::embedded_with(&[
        ("SETHUB_PUSH__BREAKER_FAILURES", "2"),
        ("SETHUB_PUSH__BREAKER_COOLDOWN_MS", "600000"),
    ])
    .await;
    let base = &w.hub.manage_url;
    let console = format!("{base}/console");
    let mut b = Browser::start(&shots().join("screenshots"), "stream_pressure")
        .await
        .unwrap();
    let (slug, _) = ui::sign_up(&b, &console, "pressure", "Acme Pressure").await;
    // Retries 0.1 s apart for 10 minutes: the second failure comes at once.
    ui::save_retry_schedule(&b, &console, ["0.1", "1", "0.1", "600", "0"]).await;
    let (link, creds) = ui::invite(&b, &w, &slug, "Beta Corp").await;
    let token = sethub_tests::setup::token(&creds).await.unwrap();
    let down = ui::down_stream(&w, &slug, &token).await;
    let queue = ui::ssf_stream(
        &w,
        &slug,
        &token,
        serde_json::json!({"events_requested": [sethub_tests::setup::SESSION_REVOKED],
                           "description": "queue"}),
    )
    .await;
    ui::join_portal(&b, &link, "Acme Pressure").await;
    let portal = format!("{base}/portal/streams");
    for id in [&down, &queue] {
        b.driver.goto(format!("{portal}/{id}")).await.unwrap();
        b.click_button("Send test event").await.unwrap();
        b.wait_for_text("Test event sent").await.unwrap();
    }

    // The push stream: paused, in words, with when it is tried next; its list badge.
    let paused = reload_until_text(&b, &format!("{portal}/{down}"), "breaker-warning", |t| {
        !t.is_empty()
    })
    .await;
    assert!(
        paused.starts_with("paused Paused sending: 2 failures in a row; next try in "),
        "{paused}"
    );
    assert!(paused.ends_with(" min"), "about ten minutes away: {paused}");
    assert_eq!(b.class_of("breaker-warning").await.unwrap(), "alert");
    assert!(
        b.text_of("breaker")
            .await
            .unwrap()
            .starts_with("Paused sending")
    );
    assert!(b.driver.find(By::Id("poll-queued")).await.is_err());
    both_widths(&mut b, "portal-paused", "health").await;

    // The poll stream: its SET waits, the receiver never polled: a warning.
    let poll_page = format!("{portal}/{queue}");
    b.driver.goto(&poll_page).await.unwrap();
    assert_eq!(b.text_of("poll-queued").await.unwrap(), "1 SET");
    assert!(b.text_of("poll-oldest").await.unwrap().ends_with(" s old"));
    assert_eq!(
        b.text_of("poll-last").await.unwrap(),
        "not in the last 30 days"
    );
    assert!(
        b.text_of("poll-warning")
            .await
            .unwrap()
            .contains("the receiver has not polled in the last 30 days")
    );
    assert!(b.driver.find(By::Id("breaker")).await.is_err());
    both_widths(&mut b, "portal-poll-queue", "health").await;

    // The receiver polls and acknowledges: nothing waits, the poll is noted, no warning.
    let endpoint = format!("{}/t/{slug}/ssf/poll/{queue}", w.hub.public_url);
    let ask = |body: Value| {
        let (endpoint, token) = (endpoint.clone(), token.clone());
        async move {
            let resp = reqwest::Client::new()
                .post(endpoint)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    let got = ask(serde_json::json!({"returnImmediately": true})).await;
    let jtis: Vec<String> = got["sets"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(jtis.len(), 1, "{got}");
    ask(serde_json::json!({"maxEvents": 0, "returnImmediately": true, "ack": jtis})).await;
    b.driver.goto(&poll_page).await.unwrap();
    assert_eq!(b.text_of("poll-queued").await.unwrap(), "none");
    assert_eq!(b.text_of("poll-oldest").await.unwrap(), "nothing waits");
    let last = b.text_of("poll-last").await.unwrap();
    assert!(last.ends_with(" s ago)"), "{last}");
    assert!(b.driver.find(By::Id("poll-warning")).await.is_err());

    // The tenant sees the same, from the same service function.
    b.driver
        .goto(format!("{console}/streams/{down}"))
        .await
        .unwrap();
    let console_paused = b.text_of("breaker-warning").await.unwrap();
    assert!(
        console_paused.starts_with("paused Paused sending: 2 failures in a row; next try in "),
        "{console_paused}"
    );
    both_widths(&mut b, "console-paused", "health").await;
    b.driver
        .goto(format!("{console}/streams/{queue}"))
        .await
        .unwrap();
    assert_eq!(b.text_of("poll-queued").await.unwrap(), "none");
    assert!(b.text_of("poll-last").await.unwrap().ends_with(" s ago)"));
    both_widths(&mut b, "console-poll-queue", "health").await;
    b.quit().await.unwrap();
}
