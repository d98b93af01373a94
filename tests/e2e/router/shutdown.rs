//! Graceful shutdown on SIGTERM, per service: readiness turns 503 first while requests are
//! still served, waiting long polls are answered, pushes in flight finish and their outcomes
//! are written, and the process exits (code 0) within `server.shutdown_secs`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sethub_tests::receiver::Behave;
use sethub_tests::setup::SESSION_REVOKED;

use crate::world::*;

const DRAIN_SECS: u64 = 2;
const SHUTDOWN_SECS: u64 = 10;

fn shutdown_env() -> Vec<(&'static str, String)> {
    vec![
        ("SETHUB_SERVER__DRAIN_SECS", DRAIN_SECS.to_string()),
        ("SETHUB_SERVER__SHUTDOWN_SECS", SHUTDOWN_SECS.to_string()),
    ]
}

/// [`shutdown_env`] with long polls that wait 30 s.
fn long_poll_env() -> Vec<(&'static str, String)> {
    let mut env = shutdown_env();
    env.push(("SETHUB_POLL__DEFAULT_WAIT_SECS", "30".to_owned()));
    env
}

fn as_pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// `/readyz` of `base`: its status code and `status` field (`None`: no answer).
async fn readyz(base: &str) -> Option<(u16, String)> {
    let resp = reqwest::get(format!("{base}/readyz")).await.ok()?;
    let code = resp.status().as_u16();
    let body: Value = resp.json().await.ok()?;
    Some((code, body["status"].as_str().unwrap_or_default().to_owned()))
}

/// Acknowledges everything already queued on the poll stream (its verification SET).
async fn empty_the_stream(w: &World, endpoint: &str) {
    let mut ack: Vec<String> = Vec::new();
    loop {
        let (code, body) = poll(
            w,
            endpoint,
            json!({"maxEvents": 100, "returnImmediately": true, "ack": ack}),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        ack = body["sets"].as_object().unwrap().keys().cloned().collect();
        if ack.is_empty() {
            return;
        }
    }
}

#[tokio::test]
async fn sigterm_turns_readiness_503_keeps_serving_answers_long_polls_and_exits_in_time() {
    let env = long_poll_env();
    let w = World::split_with(&as_pairs(&env)).await;
    stop_while_a_long_poll_waits(w, &["ingest", "fanout", "manage"]).await;
}

#[tokio::test]
async fn sigterm_stops_the_embedded_all_in_one_hub_gracefully_too() {
    let env = long_poll_env();
    let w = World::embedded_with(&as_pairs(&env)).await;
    stop_while_a_long_poll_waits(w, &["all"]).await;
}

/// SIGTERM to each of `roles` while a long poll waits: readiness 503 first while requests
/// are still served, the poll answered, every process gone with exit code 0 in time.
async fn stop_while_a_long_poll_waits(mut w: World, roles: &[&str]) {
    let poller = if roles.contains(&"fanout") {
        "fanout"
    } else {
        "all"
    };
    let (_stream, endpoint) = poll_stream(&w).await;
    empty_the_stream(&w, &endpoint).await;

    // A long poll that would wait 30 s.
    let waiting = {
        let endpoint = endpoint.clone();
        let token = w.token.clone();
        tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(&endpoint)
                .bearer_auth(&token)
                .json(&json!({"maxEvents": 10, "returnImmediately": false}))
                .send()
                .await
                .unwrap();
            let code = resp.status().as_u16();
            (code, resp.json::<Value>().await.unwrap(), Instant::now())
        })
    };
    w.wait_for_metric(poller, "sethub_poll_waiting 1").await;

    let bases: Vec<(String, String)> = roles
        .iter()
        .map(|r| ((*r).to_owned(), w.hub.process(r).unwrap().base_url.clone()))
        .collect();
    for (role, base) in &bases {
        assert_eq!(
            readyz(base).await,
            Some((200, "ready".to_owned())),
            "{role} is ready before SIGTERM"
        );
    }
    let sent = Instant::now();
    for (role, _) in &bases {
        w.process(role).send_sigterm();
    }
    // Readiness turns 503 first, while each process still serves requests.
    for (role, base) in &bases {
        sethub_tests::wait_until(
            &format!("{role}'s /readyz to answer 503 draining"),
            Duration::from_secs(DRAIN_SECS),
            || async { (readyz(base).await? == (503, "draining".to_owned())).then_some(()) },
        )
        .await;
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/t/{}/events", w.hub.ingest_url, w.tenant.slug))
        .bearer_auth(&w.tenant.api_key)
        .json(&sethub_tests::setup::session_revoked(
            "draining@example.com",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        202,
        "a draining ingest still accepts"
    );
    assert!(
        sent.elapsed() < Duration::from_secs(DRAIN_SECS),
        "the checks above ran within the drain period; make DRAIN_SECS longer"
    );

    // The waiting long poll is answered once the drain period ends, not after its 30 s.
    let (code, body, answered) = waiting.await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body["sets"].is_object(), "{body}");
    assert!(
        answered.duration_since(sent) < Duration::from_secs(SHUTDOWN_SECS),
        "the long poll was answered {:?} after SIGTERM",
        answered.duration_since(sent)
    );

    // Every process exits cleanly within server.shutdown_secs.
    for (role, base) in &bases {
        let left = Duration::from_secs(SHUTDOWN_SECS).saturating_sub(sent.elapsed());
        let code = w.process(role).wait_exit(left).await;
        assert_eq!(code, Some(0), "{role} exits with 0");
        assert!(
            reqwest::get(format!("{base}/healthz")).await.is_err(),
            "{role} no longer listens"
        );
    }
}

#[tokio::test]
async fn sigterm_lets_pushes_in_flight_finish_and_a_new_fanout_delivers_the_rest_once() {
    let env = shutdown_env();
    let mut w = World::split_with(&as_pairs(&env)).await;
    // A slow receiver: each push takes 300 ms, so pushes are in flight at SIGTERM.
    w.receiver
        .behave("/slow", Behave::Delay(Duration::from_millis(300)));
    w.stream("/slow", &[SESSION_REVOKED]).await;
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 40, "shutdown").await;
    w.receiver
        .wait_for_count("/slow", 4, LONG)
        .await
        .expect("pushes are under way");

    let sent = Instant::now();
    let fanout = w.process("fanout");
    fanout.send_sigterm();
    let code = fanout.wait_exit(Duration::from_secs(SHUTDOWN_SECS)).await;
    assert_eq!(code, Some(0));
    let at_exit = w.receiver.count("/slow");
    eprintln!(
        "fan-out exited {:?} after SIGTERM with {at_exit} of {} SETs delivered",
        sent.elapsed(),
        ids.len()
    );
    // What it held at SIGTERM it pushed before exiting (there was time before the deadline).
    assert_eq!(
        at_exit,
        ids.len(),
        "fan-out finished its pushes before exiting"
    );

    // A replacement delivers the rest; what the stopped process pushed had its outcome
    // written, so nothing arrives twice.
    let replacement = w.process("fanout").start_again().await;
    *w.process("fanout") = replacement;
    w.receiver
        .wait_for_count("/slow", ids.len(), LONG)
        .await
        .expect("every SET arrives");
    assert_all_arrived(&w.receiver, "/slow", &ids);
    let dups = duplicates(&w.receiver, "/slow");
    assert_eq!(dups, 0, "no SET pushed twice across the graceful stop");
}
