//! Held streams, replay, poll-queue retention and fan-out's bounded memory end to end: the
//! real `sethub` binary as three processes over PostgreSQL, RabbitMQ and Redis, a push
//! receiver and a poll receiver.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

mod world;

#[path = "recovery/memory.rs"]
mod memory;
#[path = "recovery/replicas.rs"]
mod replicas;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::{Value, json};
use sethub_tests::receiver::Behave;
use sethub_tests::setup::{self, SESSION_REVOKED};
use sethub_tests::wait_until;
use world::*;

/// Publishes `n` session-revoked events for `subjects` users in turn, in one batch request per
/// hundred; returns (event id, subject email) in publish order.
async fn publish_for_subjects(w: &World, n: usize, subjects: usize) -> Vec<(String, String)> {
    let client = reqwest::Client::new();
    let url = format!("{}/t/{}/events:batch", w.hub.ingest_url, w.tenant.slug);
    let mut out = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let emails: Vec<String> = chunk
            .iter()
            .map(|i| format!("user{}@example.com", i % subjects))
            .collect();
        let events: Vec<Value> = emails.iter().map(|e| setup::session_revoked(e)).collect();
        let resp = client
            .post(&url)
            .bearer_auth(&w.tenant.api_key)
            .json(&json!({ "events": events }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await.unwrap();
        for (r, email) in body["results"].as_array().unwrap().iter().zip(emails) {
            assert_eq!(r["status"], 202, "{r}");
            out.push((r["event_id"].as_str().unwrap().to_owned(), email));
        }
    }
    out
}

/// Asserts that, for each subject, the txns in `arrived` (arrival order, as (txn, email))
/// come in the order the events were published.
fn assert_per_subject_order(published: &[(String, String)], arrived: &[(String, String)]) {
    let mut want: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, email) in published {
        want.entry(email).or_default().push(id);
    }
    let mut got: HashMap<&str, Vec<&str>> = HashMap::new();
    for (txn, email) in arrived {
        got.entry(email).or_default().push(txn);
    }
    assert_eq!(got, want, "per-subject order");
}

async fn set_status(w: &World, stream: &str, status: &str) {
    let (code, body) = w
        .api(
            reqwest::Method::POST,
            &format!("/streams/{stream}/status"),
            Some(json!({ "status": status })),
        )
        .await;
    assert_eq!(code, 200, "{body}");
}

async fn wait_for_state(w: &World, stream: &str, state: &str, n: u64) {
    wait_until(&format!("{n} {state} deliveries"), LONG, || async {
        let (_, v) = w
            .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
            .await;
        (v["deliveries"][state] == n).then_some(())
    })
    .await;
}

/// Drains a poll stream until `n` event SETs came, acknowledging each batch; returns
/// (txn, email) in the order they were handed out.
async fn drain(w: &World, endpoint: &str, n: usize) -> Vec<(String, String)> {
    let mut got = Vec::new();
    let mut ack: Vec<String> = Vec::new();
    let deadline = Instant::now() + LONG;
    while got.len() < n {
        let (status, body) = poll(
            w,
            endpoint,
            json!({"maxEvents": 7, "returnImmediately": true, "ack": ack}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let sets = body["sets"].as_object().unwrap();
        ack = sets.keys().cloned().collect();
        // A response is a JSON object keyed by `jti`, which carries no order; within one
        // response the receiver orders by `txn` (event ids are time-ordered).
        let mut batch: Vec<(String, String)> = sets
            .values()
            .map(|t| decode_claims(t.as_str().unwrap()))
            .filter(|c| c["events"].get(SESSION_REVOKED).is_some())
            .map(|c| {
                (
                    c["txn"].as_str().unwrap().to_owned(),
                    c["sub_id"]["email"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        batch.sort();
        got.extend(batch);
        assert!(Instant::now() < deadline, "drained {} of {n}", got.len());
    }
    // Acknowledge the last batch.
    poll(
        w,
        endpoint,
        json!({"maxEvents": 0, "returnImmediately": true, "ack": ack}),
    )
    .await;
    got
}

#[tokio::test]
async fn paused_push_and_poll_streams_hold_100_events_and_deliver_them_in_order_per_subject() {
    let w = World::split().await;
    let push = w.stream("/s/held", &[SESSION_REVOKED]).await;
    let (poll_id, endpoint) = poll_stream(&w).await;
    set_status(&w, &push, "paused").await;
    set_status(&w, &poll_id, "paused").await;
    let published = publish_for_subjects(&w, 100, 3).await;
    wait_for_state(&w, &push, "held", 100).await;
    wait_for_state(&w, &poll_id, "held", 100).await;
    let events_arrived = |w: &World| {
        w.receiver
            .received("/s/held")
            .into_iter()
            .filter(|s| s.event_types() == vec![SESSION_REVOKED.to_owned()])
            .map(|s| {
                (
                    s.txn.unwrap(),
                    s.sub_id["email"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(events_arrived(&w).is_empty(), "nothing while paused");

    set_status(&w, &push, "enabled").await;
    set_status(&w, &poll_id, "enabled").await;
    let arrived = wait_until("the 100 held events to be pushed", LONG, || async {
        let a = events_arrived(&w);
        (a.len() >= 100).then_some(a)
    })
    .await;
    assert_eq!(arrived.len(), 100, "each exactly once");
    assert_per_subject_order(&published, &arrived);

    let polled = drain(&w, &endpoint, 100).await;
    assert_eq!(polled.len(), 100);
    assert_per_subject_order(&published, &polled);
}

const STREAM_UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

/// The statuses announced by the stream-updated SETs that arrived on `path`, in order.
fn announced(w: &World, path: &str) -> Vec<String> {
    w.receiver
        .received(path)
        .into_iter()
        .filter_map(|s| {
            s.events[STREAM_UPDATED]["status"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn a_disabled_receivers_streams_hold_their_sets_and_deliver_each_once_in_order_when_it_is_enabled()
 {
    let w = World::split().await;
    let push = w.stream("/s/rx-off", &[SESSION_REVOKED]).await;
    let (poll_id, endpoint) = poll_stream(&w).await;
    let receiver = format!("/receivers/{}", w.creds.receiver_id);

    let (code, body) = w
        .api(reqwest::Method::POST, &format!("{receiver}/disable"), None)
        .await;
    assert_eq!(code, 200, "{body}");
    // Each enabled stream is told it is paused (SSF §6: a transmitter-initiated change).
    wait_until("the push stream to be told it is paused", LONG, || async {
        (announced(&w, "/s/rx-off") == ["paused"]).then_some(())
    })
    .await;
    let (status, _) = poll(&w, &endpoint, json!({"returnImmediately": true})).await;
    assert_eq!(status, 401, "a disabled receiver's token is refused");

    let published = publish_for_subjects(&w, 30, 3).await;
    wait_for_state(&w, &push, "held", 30).await;
    wait_for_state(&w, &poll_id, "held", 30).await;
    assert!(
        events_arrived(&w, "/s/rx-off").is_empty(),
        "nothing pushed while disabled"
    );
    let (_, stream) = w
        .api(reqwest::Method::GET, &format!("/streams/{push}"), None)
        .await;
    assert_eq!(
        stream["status"], "enabled",
        "the stream keeps its own status"
    );

    let (code, body) = w
        .api(reqwest::Method::POST, &format!("{receiver}/enable"), None)
        .await;
    assert_eq!(code, 200, "{body}");
    let arrived = wait_until("the 30 held events to be pushed", LONG, || async {
        let a = events_arrived(&w, "/s/rx-off");
        (a.len() >= 30).then_some(a)
    })
    .await;
    assert_eq!(arrived.len(), 30, "each exactly once");
    assert_per_subject_order(&published, &arrived);
    // Every SET of the push stream settles delivered: the 30 events and both notices.
    wait_for_state(&w, &push, "delivered", 32).await;
    assert_eq!(announced(&w, "/s/rx-off"), ["paused", "enabled"]);

    // The poll stream's held SETs are offered again, in order, with the same token.
    let polled = drain(&w, &endpoint, 30).await;
    assert_eq!(polled.len(), 30);
    assert_per_subject_order(&published, &polled);
}

/// Publishes `per_subject` session-revoked events for each of `subjects` subjects
/// (`{tag}-user{i}@example.com`): one task per subject, all at once, each publishing its
/// subject's events one request at a time (so each subject's publication order is the order
/// of its `202`s, while the subjects' events interleave in ingest's group commits and in
/// fan-out's concurrent bus messages). Returns (event id, email), each subject's in order.
async fn publish_concurrently(
    w: &World,
    subjects: usize,
    per_subject: usize,
    tag: &str,
) -> Vec<(String, String)> {
    let publisher =
        setup::Publisher::new(&w.hub.ingest_url, &w.tenant.slug, &w.tenant.api_key).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..subjects {
        let publisher = publisher.clone();
        let email = format!("{tag}-user{i}@example.com");
        tasks.spawn(async move {
            let mut out = Vec::new();
            for _ in 0..per_subject {
                let id = publisher
                    .publish(&setup::session_revoked(&email))
                    .await
                    .unwrap();
                out.push((id, email.clone()));
            }
            out
        });
    }
    let mut published = Vec::new();
    while let Some(one) = tasks.join_next().await {
        published.extend(one.unwrap());
    }
    published
}

/// The session-revoked SETs that arrived on `path`, in arrival order: (txn, email).
fn events_arrived(w: &World, path: &str) -> Vec<(String, String)> {
    w.receiver
        .received(path)
        .into_iter()
        .filter(|s| s.event_types() == vec![SESSION_REVOKED.to_owned()])
        .map(|s| {
            (
                s.txn.unwrap(),
                s.sub_id["email"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn held_sets_of_many_subjects_published_concurrently_are_released_in_publication_order() {
    const SUBJECTS: usize = 40;
    const PER_SUBJECT: usize = 5;
    const ROUNDS: usize = 3;
    // A small backlog and an enabled stream to a slow receiver: fan-out stops taking bus
    // messages while its backlog is full, so a subject's next events wait in RabbitMQ beside
    // its earlier ones, and when room frees, several of those messages are fanned out at
    // once (`push.fanout_concurrency`): their held SETs are stored in whatever order the
    // concurrent tasks finish, not in publication order.
    let w = World::split_with(&[("SETHUB_PUSH__MAX_BACKLOG", "5")]).await;
    w.receiver.behave(
        "/s/slow",
        Behave::Delay(std::time::Duration::from_millis(10)),
    );
    w.stream("/s/slow", &[SESSION_REVOKED]).await;
    let push = w.stream("/s/order", &[SESSION_REVOKED]).await;
    let mut before = 0;
    for round in 0..ROUNDS {
        set_status(&w, &push, "paused").await;
        let published = publish_concurrently(&w, SUBJECTS, PER_SUBJECT, &format!("r{round}")).await;
        let n = SUBJECTS * PER_SUBJECT;
        wait_for_state(&w, &push, "held", n as u64).await;
        assert_eq!(
            events_arrived(&w, "/s/order").len(),
            before,
            "nothing while paused"
        );
        set_status(&w, &push, "enabled").await;
        let arrived = wait_until(
            &format!("round {round}: the {n} held events"),
            LONG,
            || async {
                let a = events_arrived(&w, "/s/order");
                (a.len() >= before + n).then_some(a)
            },
        )
        .await;
        assert_eq!(
            arrived.len(),
            before + n,
            "round {round}: each exactly once"
        );
        assert_per_subject_order(&published, &arrived[before..]);
        before += n;
    }
}

#[tokio::test]
async fn held_sets_released_to_a_receiver_answering_503_stay_in_order_per_subject_across_the_retries()
 {
    const SUBJECTS: usize = 6;
    const PER_SUBJECT: usize = 4;
    let w = World::split().await;
    let push = w.stream("/s/flaky", &[SESSION_REVOKED]).await;
    set_status(&w, &push, "paused").await;
    let published = publish_concurrently(&w, SUBJECTS, PER_SUBJECT, "f").await;
    let n = SUBJECTS * PER_SUBJECT;
    wait_for_state(&w, &push, "held", n as u64).await;
    // Every SET's first attempt gets a 503 and is retried.
    w.receiver
        .behave("/s/flaky", Behave::FirstAttemptStatus(503));
    set_status(&w, &push, "enabled").await;
    let arrived = wait_until(&format!("the {n} held events"), LONG, || async {
        let a = events_arrived(&w, "/s/flaky");
        (a.len() >= n).then_some(a)
    })
    .await;
    assert_eq!(arrived.len(), n, "each exactly once");
    assert_per_subject_order(&published, &arrived);
    // The 503s happened: each event SET was refused once before it was received.
    let refused: HashSet<String> = w
        .receiver
        .attempts("/s/flaky")
        .into_iter()
        .filter(|a| a.status == 503)
        .filter_map(|a| a.txn)
        .collect();
    let ids: HashSet<String> = published.iter().map(|(id, _)| id.clone()).collect();
    assert!(ids.is_subset(&refused), "every event SET met a 503 first");
    // Every delivery is settled as delivered (the events' and the two stream-updated SETs of
    // the pause and the enable), none left pending by the retries.
    wait_until("every delivery to be recorded delivered", LONG, || async {
        let (_, v) = w
            .api(reqwest::Method::GET, &format!("/streams/{push}"), None)
            .await;
        (v["deliveries"] == json!({"delivered": n + 2})).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_replay_resends_stored_events_re_signed_with_their_txn_and_is_audited() {
    let w = World::split().await;
    let stream = w.stream("/s/replay", &[SESSION_REVOKED]).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 5, "r").await;
    w.receiver
        .wait_for_count("/s/replay", 5, LONG)
        .await
        .unwrap();
    let first: HashMap<String, String> = w
        .receiver
        .received("/s/replay")
        .into_iter()
        .map(|s| (s.txn.unwrap(), s.jti))
        .collect();
    let replay = format!("/streams/{stream}/replay");

    // Bad requests are refused by field and replay nothing.
    for (body, field) in [
        (json!({}), "from"),
        (json!({"from_event_id": "nope"}), "from_event_id"),
        (json!({"from": "yesterday"}), "from"),
    ] {
        let (status, problem) = w.api(reqwest::Method::POST, &replay, Some(body)).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    // A range that ends before it starts is empty: nothing replayed.
    let reversed = json!({"from_event_id": ids[3], "to_event_id": ids[1]});
    let (status, body) = w.api(reqwest::Method::POST, &replay, Some(reversed)).await;
    assert_eq!(
        (status, body["replayed"].clone()),
        (200, json!(0)),
        "{body}"
    );

    // A time range: all five again, new jti, same txn, signed by the tenant.
    let (status, body) = w
        .api(
            reqwest::Method::POST,
            &replay,
            Some(json!({ "from": since })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["replayed"].as_u64(), body["skipped"].as_u64()),
        (Some(5), Some(0))
    );
    w.receiver
        .wait_for_count("/s/replay", 10, LONG)
        .await
        .unwrap();
    let all = w.receiver.received("/s/replay");
    for s in &all[5..] {
        let txn = s.txn.clone().unwrap();
        assert!(first.contains_key(&txn), "replayed {txn} was published");
        assert_ne!(first[&txn], s.jti, "a new jti");
        assert_eq!(s.iss, w.tenant.issuer);
    }

    // An event-id range, inclusive.
    let (status, body) = w
        .api(
            reqwest::Method::POST,
            &replay,
            Some(json!({ "from_event_id": ids[1], "to_event_id": ids[3] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"], 3);
    w.receiver
        .wait_for_count("/s/replay", 13, LONG)
        .await
        .unwrap();
    let mut tail: Vec<String> = w.receiver.received("/s/replay")[10..]
        .iter()
        .map(|s| s.txn.clone().unwrap())
        .collect();
    tail.sort();
    assert_eq!(tail, ids[1..=3].to_vec());

    // Every replay is in the audit log (the empty one too), with who asked and what.
    let (_, log) = w
        .api(
            reqwest::Method::GET,
            &format!("/audit-log?target={stream}"),
            None,
        )
        .await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|e| e["action"] == "events.replay"));
    assert_eq!(log[0]["details"]["replayed"], 3);
    assert_eq!(log[0]["details"]["from_event_id"], ids[1]);
    assert_eq!(log[1]["details"]["replayed"], 5);
    assert_eq!(log[2]["details"]["replayed"], 0);
    assert_eq!(log[2]["details"]["from_event_id"], ids[3]);
    assert!(
        log[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("api_key:key_")
    );

    // Another tenant can neither replay this stream nor read its audit log.
    let other = setup::create_tenant(
        std::path::Path::new(BIN),
        &w.hub.env,
        &format!("o{}", sethub_tests::random_suffix()),
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/api/v1{replay}", w.hub.manage_url))
        .bearer_auth(&other.api_key)
        .json(&json!({ "from": since }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let theirs: Value = client
        .get(format!("{}/api/v1/audit-log", w.hub.manage_url))
        .bearer_auth(&other.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, json!([]));
    assert_eq!(w.receiver.count("/s/replay"), 13, "nothing more was sent");

    // A disabled stream refuses a replay.
    set_status(&w, &stream, "disabled").await;
    let (status, problem) = w
        .api(
            reqwest::Method::POST,
            &replay,
            Some(json!({ "from": since })),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
}

#[tokio::test]
async fn a_poll_queue_keeps_only_its_newest_sets_beyond_its_retention() {
    let w = World::split_with(&[("SETHUB_POLL__RETENTION_MAX_SETS", "5")]).await;
    let (stream, endpoint) = poll_stream(&w).await;
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 8, "k").await;
    wait_for_state(&w, &stream, "dropped", 3).await;
    wait_for_state(&w, &stream, "queued", 5).await;
    let mut polled: Vec<String> = drain(&w, &endpoint, 5)
        .await
        .into_iter()
        .map(|(txn, _)| txn)
        .collect();
    polled.sort();
    let mut newest = ids[3..].to_vec();
    newest.sort();
    assert_eq!(polled, newest, "the oldest three were dropped");
    w.wait_for_metric("fanout", "sethub_poll_dropped_total{reason=\"count\"} 3")
        .await;
}

#[tokio::test]
async fn a_poll_queue_never_serves_sets_older_than_its_retention_and_drops_them() {
    const MAX_AGE_SECS: i64 = 5;
    let w = World::split_with(&[("SETHUB_POLL__RETENTION_MAX_AGE_SECS", "5")]).await;
    let (stream, endpoint) = poll_stream(&w).await;
    let old = publish_all(&w.hub.ingest_url, &w.tenant, 4, "old").await;
    wait_for_state(&w, &stream, "queued", 4).await;
    // Once older than the retention, they are dropped by the sweep and counted.
    wait_for_state(&w, &stream, "dropped", 4).await;
    w.wait_for_metric("fanout", "sethub_poll_dropped_total{reason=\"age\"} 4")
        .await;
    // New ones are served, the old never.
    let new = publish_all(&w.hub.ingest_url, &w.tenant, 3, "new").await;
    wait_for_state(&w, &stream, "queued", 3).await;
    let mut polled: Vec<String> = drain(&w, &endpoint, 3)
        .await
        .into_iter()
        .map(|(txn, _)| txn)
        .collect();
    polled.sort();
    let mut want = new.clone();
    want.sort();
    assert_eq!(polled, want);
    assert!(old.iter().all(|id| !polled.contains(id)));

    // SETs past the retention are not handed out even before the sweep drops them: a poll
    // that comes after they aged but sees them still queued gets none of them.
    let late = publish_all(&w.hub.ingest_url, &w.tenant, 2, "late").await;
    wait_for_state(&w, &stream, "queued", 2).await;
    let made = chrono::Utc::now();
    wait_until("the late SETs to be dropped", LONG, || async {
        // Aged by the hub's clock too: it reads its clock after this.
        let aged = chrono::Utc::now() - made > chrono::Duration::seconds(MAX_AGE_SECS);
        let (status, body) = poll(
            &w,
            &endpoint,
            json!({"maxEvents": 10, "returnImmediately": true}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        for token in body["sets"].as_object().unwrap().values() {
            let txn = decode_claims(token.as_str().unwrap())["txn"]
                .as_str()
                .unwrap()
                .to_owned();
            // Handed out while young is fine (not acknowledged, it comes back after the
            // visibility timeout); once aged, never.
            assert!(!aged || !late.contains(&txn), "{txn} served after it aged");
        }
        let (_, v) = w
            .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
            .await;
        (v["deliveries"]["dropped"] == 6).then_some(())
    })
    .await;
}

#[tokio::test]
async fn events_about_a_removed_subject_are_not_fanned_out_and_the_others_are() {
    let w = World::split().await;
    let stream = w.stream("/s/subjects", &[SESSION_REVOKED]).await;
    let meta = setup::metadata(&w.hub.manage_url, &w.tenant.slug)
        .await
        .unwrap();
    let removed = json!({"format": "email", "email": "gone@example.com"});
    let resp = reqwest::Client::new()
        .post(meta["remove_subject_endpoint"].as_str().unwrap())
        .bearer_auth(&w.token)
        .json(&json!({"stream_id": stream, "subject": removed}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204, "{:?}", resp.text().await);
    let publisher =
        setup::Publisher::new(&w.hub.ingest_url, &w.tenant.slug, &w.tenant.api_key).unwrap();
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    // Interleaved, the removed subject first, so a kept event arriving last proves the
    // removed ones had their turn.
    for _ in 0..3 {
        gone.push(
            publisher
                .publish(&setup::session_revoked("gone@example.com"))
                .await
                .unwrap(),
        );
        kept.push(
            publisher
                .publish(&setup::session_revoked("kept@example.com"))
                .await
                .unwrap(),
        );
    }
    w.receiver
        .wait_for_count("/s/subjects", 3, LONG)
        .await
        .unwrap();
    let got: Vec<(String, String)> = events_arrived(&w, "/s/subjects");
    let mut txns: Vec<String> = got.iter().map(|(t, _)| t.clone()).collect();
    txns.sort();
    let mut want = kept.clone();
    want.sort();
    assert_eq!(txns, want, "only the kept subject's events arrived");
    assert!(got.iter().all(|(_, e)| e == "kept@example.com"));
    // None was even stored for the stream (fan-out stores every stream's deliveries of an
    // event in one statement, so with the kept ones delivered none can still come).
    let (_, view) = w
        .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
        .await;
    assert_eq!(view["deliveries"], json!({"delivered": 3}), "{view}");
    assert_eq!(w.receiver.count("/s/subjects"), 3);
    assert!(gone.iter().all(|id| !txns.contains(id)));
}
