//! Poll delivery (RFC 8936) end to end: the real `sethub` binary as three processes over
//! PostgreSQL, RabbitMQ and Redis; a receiver polls the endpoint fan-out serves.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

mod world;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sethub_tests::setup::SESSION_REVOKED;
use sethub_tests::wait_until;
use world::*;

#[tokio::test]
async fn a_poll_receiver_drains_ten_thousand_sets_in_batches_of_500_and_acks_them() {
    let w = World::split().await;
    let (_, endpoint) = poll_stream(&w).await;
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 10_000, "k").await;
    let jwks: Value = reqwest::get(w.hub.jwks_url(&w.tenant.slug))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks = sethub_jose::Jwks::from_json(&jwks).unwrap();
    let expect = sethub_jose::Expectations::new(w.tenant.issuer.clone(), w.creds.client_id.clone());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ack: Vec<String> = Vec::new();
    let deadline = Instant::now() + LONG;
    loop {
        let (status, body) = poll(
            &w,
            &endpoint,
            json!({"maxEvents": 500, "returnImmediately": true, "ack": ack}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let sets = body["sets"].as_object().unwrap();
        assert!(sets.len() <= 500);
        ack = sets.keys().cloned().collect();
        for (jti, token) in sets {
            let set = sethub_jose::validate_set(token.as_str().unwrap(), &jwks, &expect)
                .unwrap_or_else(|e| panic!("SET {jti} does not verify: {e}"));
            *seen.entry(set.txn.clone().unwrap_or_default()).or_default() += 1;
        }
        if sets.is_empty() && seen.len() >= ids.len() {
            assert_eq!(body["moreAvailable"], false);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "drained {} of {}",
            seen.len(),
            ids.len()
        );
    }
    assert!(
        ids.iter().all(|id| seen.get(id) == Some(&1)),
        "each event exactly once"
    );
    let (_, list) = w.api(reqwest::Method::GET, "/streams", None).await;
    let stream = list[0]["stream_id"].as_str().unwrap();
    let (_, view) = w
        .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
        .await;
    assert_eq!(view["deliveries"], json!({"delivered": 10_000}), "{view}");
}

#[tokio::test]
async fn an_unacknowledged_set_returns_after_its_visibility_timeout_and_set_errs_are_kept() {
    let w = World::split().await;
    let (stream, endpoint) = poll_stream(&w).await;
    publish_all(&w.hub.ingest_url, &w.tenant, 2, "k").await;
    let first = wait_until("two SETs to poll", LONG, || async {
        let (_, body) = poll(&w, &endpoint, json!({"returnImmediately": true})).await;
        let sets = body["sets"].as_object().cloned().unwrap_or_default();
        (!sets.is_empty()).then_some(sets)
    })
    .await;
    let mut got = first.clone();
    if got.len() < 2 {
        let (_, body) = poll(&w, &endpoint, json!({"returnImmediately": true})).await;
        got.extend(body["sets"].as_object().unwrap().clone());
    }
    assert_eq!(got.len(), 2);
    let jtis: Vec<String> = got.keys().cloned().collect();
    // Hidden now; offered again once the 1 s visibility timeout passes, without an ack.
    let (_, body) = poll(&w, &endpoint, json!({"returnImmediately": true})).await;
    assert_eq!(body["sets"], json!({}));
    let again = wait_until("the unacknowledged SETs to come back", LONG, || async {
        let (_, body) = poll(&w, &endpoint, json!({"returnImmediately": true})).await;
        let sets = body["sets"].as_object().cloned().unwrap_or_default();
        (sets.len() == 2).then_some(sets)
    })
    .await;
    assert_eq!(again.keys().cloned().collect::<Vec<_>>(), jtis);
    // One acknowledged, one reported invalid (an ack-only request): neither ever returns.
    let (status, body) = poll(
        &w,
        &endpoint,
        json!({"maxEvents": 0, "returnImmediately": true, "ack": [jtis[0]],
               "setErrs": {jtis[1].clone(): {"err": "invalid_key", "description": "unknown kid"}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sets"], json!({}));
    let (_, list) = w
        .api(
            reqwest::Method::GET,
            &format!("/streams/{stream}/deliveries?state=dead"),
            None,
        )
        .await;
    assert_eq!(list[0]["jti"], jtis[1].as_str());
    assert_eq!(list[0]["last_error"], "invalid_key: unknown kid");
    let (_, log) = w
        .api(
            reqwest::Method::GET,
            &format!("/streams/{stream}/attempts"),
            None,
        )
        .await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|a| a["outcome"] == "set_err")
    );
    // A long poll with nothing to send answers at its 2 s bound, empty.
    let started = Instant::now();
    let (status, body) = poll(&w, &endpoint, json!({})).await;
    let waited = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(
        body["sets"],
        json!({}),
        "acked and errored SETs never return"
    );
    assert!(
        waited >= Duration::from_millis(1900),
        "answered after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
}

#[tokio::test]
async fn a_long_poll_is_woken_by_a_publish() {
    let w = World::split_with(&[("SETHUB_POLL__DEFAULT_WAIT_SECS", "10")]).await;
    let (_, endpoint) = poll_stream(&w).await;
    let waiting = {
        let token = w.token.clone();
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(&endpoint)
                .bearer_auth(&token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            (Instant::now(), resp.json::<Value>().await.unwrap())
        })
    };
    // Publish once the poll waits (fan-out's `sethub_poll_waiting` gauge says so; its bound
    // is 10 s here); it answers with the SET, not at the bound. (How soon is measured, and
    // reported, by the load generator's poll mode.)
    w.wait_for_metric("fanout", "sethub_poll_waiting 1").await;
    let published = Instant::now();
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 1, "k").await;
    let (answered, body) = waiting.await.unwrap();
    let sets = body["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "{body}");
    let token = sets.values().next().unwrap().as_str().unwrap();
    assert!(token.split('.').count() == 3);
    let claims = decode_claims(token);
    assert_eq!(claims["txn"], ids[0].as_str());
    let latency = answered - published;
    eprintln!("long poll answered {latency:?} after the publish request was sent");
    assert!(
        latency < Duration::from_millis(1500),
        "woken after {latency:?}"
    );
}

#[tokio::test]
async fn the_poll_endpoint_refuses_strangers_and_bad_requests() {
    let w = World::split().await;
    let (_, endpoint) = poll_stream(&w).await;
    let push = w.stream("/s/push", &[SESSION_REVOKED]).await;
    let client = reqwest::Client::new();
    let resp = client
        .post(&endpoint)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    let resp = client
        .post(&endpoint)
        .bearer_auth("sat1.forged.token")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let (status, body) = poll(&w, &endpoint, json!({"maxEvents": "ten"})).await;
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("maxEvents")
    );
    // A push stream, or an unknown one, has no poll endpoint.
    let push_poll = endpoint.rsplit_once('/').unwrap().0.to_owned() + "/" + push.as_str();
    assert_eq!(poll(&w, &push_poll, json!({})).await.0, 404);
    let unknown =
        endpoint.rsplit_once('/').unwrap().0.to_owned() + "/str_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f";
    assert_eq!(poll(&w, &unknown, json!({})).await.0, 404);
}

#[tokio::test]
async fn a_paused_poll_stream_holds_its_sets_until_it_is_enabled() {
    let w = World::split().await;
    let (stream, endpoint) = poll_stream(&w).await;
    let status = format!("/streams/{stream}/status");
    let (code, _) = w
        .api(
            reqwest::Method::POST,
            &status,
            Some(json!({"status": "paused"})),
        )
        .await;
    assert_eq!(code, 200);
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 3, "k").await;
    wait_until("the events to be held", LONG, || async {
        let (_, v) = w
            .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
            .await;
        (v["deliveries"]["held"] == 3).then_some(())
    })
    .await;
    // While paused, a poll gets the stream-updated notice only (made by fan-out's control
    // consumer, apart from the events, so it may come a moment later).
    let body = wait_until("the paused notice to be polled", LONG, || async {
        let (_, body) = poll(&w, &endpoint, json!({"returnImmediately": true})).await;
        (body["sets"].as_object().is_some_and(|s| !s.is_empty())).then_some(body)
    })
    .await;
    let sets = body["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "{body}");
    let notice = decode_claims(sets.values().next().unwrap().as_str().unwrap());
    assert_eq!(notice["events"][STREAM_UPDATED]["status"], "paused");
    let (code, _) = w
        .api(
            reqwest::Method::POST,
            &status,
            Some(json!({"status": "enabled"})),
        )
        .await;
    assert_eq!(code, 200);
    let mut txns = HashSet::new();
    let mut ack: Vec<String> = sets.keys().cloned().collect();
    // Drain until the three events are in.
    let deadline = Instant::now() + LONG;
    while txns.len() < 3 {
        let (_, body) = poll(
            &w,
            &endpoint,
            json!({"returnImmediately": true, "ack": ack}),
        )
        .await;
        let sets = body["sets"].as_object().unwrap();
        ack = sets.keys().cloned().collect();
        for token in sets.values() {
            let claims = decode_claims(token.as_str().unwrap());
            // The stream-updated notice of the enabling has a txn of its own (every SET has).
            if claims["events"].get(STREAM_UPDATED).is_some() {
                continue;
            }
            if let Some(txn) = claims["txn"].as_str() {
                txns.insert(txn.to_owned());
            }
        }
        assert!(Instant::now() < deadline, "got {txns:?}");
    }
    assert_eq!(txns, ids.into_iter().collect::<HashSet<_>>());
}

#[tokio::test]
async fn killing_fanout_mid_poll_drain_loses_nothing_and_never_returns_an_acknowledged_set() {
    const N: usize = 2000;
    let mut w = World::split().await;
    let (stream, endpoint) = poll_stream(&w).await;
    let ingest = w.hub.ingest_url.clone();
    let tenant = w.tenant.clone();
    let total = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done = total.clone();
    let publishing = tokio::spawn(async move {
        let ids = publish_all(&ingest, &tenant, N, "k").await;
        done.store(ids.len(), std::sync::atomic::Ordering::SeqCst);
        ids
    });
    let want = || total.load(std::sync::atomic::Ordering::SeqCst);
    let mut drain = Drain::default();
    drain.until(&w, &endpoint, Some(500), want).await;
    // Fan-out (which serves the poll endpoint and is still fanning out) dies mid-drain:
    // some SETs polled, not all.
    let fanout = w
        .hub
        .processes
        .iter()
        .position(|(r, _)| r == "fanout")
        .unwrap();
    let (role, mut process) = w.hub.processes.remove(fanout);
    process.kill().await;
    let at_kill = drain.seen.len();
    assert!(
        0 < at_kill && at_kill < N,
        "the kill came mid-drain ({at_kill} of {N} polled)"
    );
    w.hub.processes.push((role, process.restart().await));
    drain.until(&w, &endpoint, None, want).await;
    drain.finish(&w, &endpoint).await;
    let ids = publishing.await.unwrap();
    assert!(
        ids.iter().all(|id| drain.seen.contains_key(id)),
        "every event polled"
    );
    // A poll settles its acknowledgements and claims its SETs in one transaction, so an
    // acknowledged SET never comes back, and a SET is handed out again only when the answer
    // that carried it was lost (then the receiver never saw it): no duplicates at all.
    assert_eq!(drain.came_back_after_ack, 0, "acknowledged SETs came back");
    let dups = drain.duplicates();
    eprintln!("fan-out killed after {at_kill} of {N} polled: {dups} duplicates (bound 0)");
    assert_eq!(dups, 0, "SETs handed to the receiver twice");
    let (_, view) = w
        .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
        .await;
    assert_eq!(view["deliveries"], json!({"delivered": N}), "{view}");
}
