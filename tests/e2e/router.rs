//! The repository's nginx router (`deploy/nginx/sethub.conf.template`, run by Debian's nginx
//! as an unprivileged child process) in front of `manage`, `ingest` and `fanout` processes:
//! the README walkthrough, every endpoint the SSF metadata names, publishing and a poll drain
//! all go through the one public URL.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

mod world;

#[path = "router/replicas.rs"]
mod replicas;
#[path = "router/shutdown.rs"]
mod shutdown;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sethub_tests::router::Counts;
use sethub_tests::setup::run_readme_walkthrough;
use world::*;

const ONE_EACH: Counts = Counts {
    ingest: 1,
    fanout: 1,
    manage: 1,
};

#[tokio::test]
async fn the_walkthrough_metadata_endpoints_publishing_and_a_poll_drain_work_through_the_router() {
    let w = World::routed(&[], ONE_EACH).await;
    let router = w.router.as_ref().unwrap();
    let hub = &w.hub.public_url;
    assert_eq!(hub, &router.base_url);

    // The README walkthrough, as written, with the router's URL as the hub.
    let dir = std::env::temp_dir().join(format!("sethub-walk-{}", sethub_tests::random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    if let Err(story) = run_readme_walkthrough(Path::new(BIN), &w.hub.env, hub, &dir).await {
        panic!("{story}\nnginx error log:\n{}", router.error_log());
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Every endpoint the metadata names is under the router's URL and answers there.
    let meta = sethub_tests::setup::metadata(hub, &w.tenant.slug)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for key in [
        "jwks_uri",
        "configuration_endpoint",
        "status_endpoint",
        "add_subject_endpoint",
        "remove_subject_endpoint",
        "verification_endpoint",
    ] {
        let url = meta[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {meta}"));
        assert!(url.starts_with(hub.as_str()), "{key} = {url}");
    }
    assert!(w.creds.token_endpoint.starts_with(hub.as_str()));
    let jwks = get_json(meta["jwks_uri"].as_str().unwrap(), None).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");

    let (stream, endpoint) = poll_stream(&w).await;
    assert!(endpoint.starts_with(hub.as_str()), "{endpoint}");
    let auth = format!("Bearer {}", w.token);
    let status_url = format!(
        "{}?stream_id={stream}",
        meta["status_endpoint"].as_str().unwrap()
    );
    let status = get_json(&status_url, Some(&auth)).await;
    assert_eq!(status["status"], "enabled", "{status}");
    let subject =
        json!({"stream_id": stream, "subject": {"format": "email", "email": "a@example.com"}});
    for (key, want) in [
        ("add_subject_endpoint", 200),
        ("remove_subject_endpoint", 204),
    ] {
        let resp = http
            .post(meta[key].as_str().unwrap())
            .header("Authorization", &auth)
            .json(&subject)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "{key}");
    }
    let resp = http
        .post(meta["verification_endpoint"].as_str().unwrap())
        .header("Authorization", &auth)
        .json(&json!({"stream_id": stream, "state": "through-the-router"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);

    // A long poll through the router waits (poll.default_wait_secs = 2 here) and is answered.
    let started = Instant::now();
    let (code, _) = poll(
        &w,
        &endpoint,
        json!({"maxEvents": 10, "returnImmediately": false}),
    )
    .await;
    assert_eq!(code, 200);
    let _ = started.elapsed();

    // Publishing through the router, and the poll stream drained through it: each event once.
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 500, "routed").await;
    let mut drain = Drain::default();
    drain.until_all(&w, &endpoint, &ids).await;
    drain.finish(&w, &endpoint).await;
    for id in &ids {
        assert_eq!(drain.seen.get(id), Some(&1), "event {id} handed out once");
    }
    assert_eq!(drain.came_back_after_ack, 0);
    let verification = drain.seen.keys().filter(|txn| !ids.contains(txn)).count();
    assert!(
        verification <= 1,
        "only the verification SET besides the events"
    );

    // The router's own refusals: bodies over sethub's limits (413, a problem body like
    // sethub's), and no public /metrics.
    let big = "x".repeat(300 * 1024);
    let resp = http
        .post(format!("{hub}/t/{}/events", w.tenant.slug))
        .bearer_auth(&w.tenant.api_key)
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let problem: Value = resp.json().await.unwrap();
    assert_eq!(problem["code"], "payload_too_large", "{problem}");
    let resp = http
        .post(format!("{hub}/api/v1/receivers"))
        .bearer_auth(&w.tenant.api_key)
        .header("Content-Type", "application/json")
        .body("y".repeat(65 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let resp = http.get(format!("{hub}/metrics")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    // Nothing the router passed on was a 5xx.
    let log = router.access_log();
    assert!(log.lines().count() > 10, "{log}");
    let fives: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.split('"')
                .nth(2)
                .is_some_and(|s| s.trim_start().starts_with('5'))
        })
        .collect();
    assert!(fives.is_empty(), "5xx through the router: {fives:?}");
}

#[tokio::test]
async fn the_router_routes_each_path_family_to_its_service() {
    let w = World::routed(&[], ONE_EACH).await;
    let hub = &w.hub.public_url;
    let http = reqwest::Client::new();
    let slug = &w.tenant.slug;
    // Each service answers its own paths with its own refusal; a path sent to the wrong
    // service would be a 404 there.
    for (path, want) in [
        (format!("/t/{slug}/events"), 401),
        (format!("/t/{slug}/events:batch"), 401),
        (format!("/t/{slug}/sets"), 400),
        (
            format!("/t/{slug}/ssf/poll/str_00000000000000000000000000"),
            401,
        ),
        (format!("/t/{slug}/ssf/stream"), 401),
        (format!("/t/{slug}/oauth/token"), 400),
    ] {
        let resp = http
            .post(format!("{hub}{path}"))
            .header("Content-Type", "application/json")
            .body("{}")
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "POST {path}");
    }
    let resp = http.get(format!("{hub}/readyz")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// The JSON body of a GET to `url`, with this `Authorization` header if any.
async fn get_json(url: &str, authorization: Option<&str>) -> Value {
    let mut req = reqwest::Client::new().get(url);
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.json().await.unwrap()
}
