//! The data plane end to end: the real `sethub` binary as three processes (`manage`, `ingest`,
//! `fanout`) over PostgreSQL, RabbitMQ and Redis, publishing through the ingest API and
//! receiving on real HTTP receivers that verify every SET against the tenant's JWKS.
//!
//! Tests whose names contain `restart` take a backend down; the test command runs them one
//! at a time, after the others.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

mod world;

#[path = "delivery/crashes.rs"]
mod crashes;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sethub_tests::backends::{
    RabbitGuard, RedisGuard, kill_rabbitmq, rabbitmq_pid, start_rabbitmq, start_redis, stop_redis,
};
use sethub_tests::receiver::{Behave, TestReceiver};
use sethub_tests::setup::{self, SESSION_REVOKED, create_push_stream};
use sethub_tests::{random_suffix, wait_until};
use world::*;

#[tokio::test]
async fn a_thousand_events_reach_each_matching_stream_exactly_once() {
    let w = World::split_with(&[FIRST_OUTCOME_WAIT]).await;
    scenario_thousand(w).await;
}

#[tokio::test]
async fn the_embedded_default_delivers_a_thousand_events_exactly_once() {
    let w = World::embedded_with(&[FIRST_OUTCOME_WAIT]).await;
    scenario_thousand(w).await;
}

/// Time enough for the first answers to a message's pushes in a test build on a busy
/// machine (300 SETs a message here; 20 ms is for one event's few in a release build).
const FIRST_OUTCOME_WAIT: (&str, &str) = ("SETHUB_PUSH__FIRST_OUTCOME_WAIT_MS", "2000");

async fn scenario_thousand(w: World) {
    let paths = ["/s/a", "/s/b", "/s/c"];
    let mut streams = Vec::new();
    for p in paths {
        streams.push(w.stream(p, &[SESSION_REVOKED]).await);
    }
    let other = w.stream("/s/other", &[CREDENTIAL_CHANGE]).await;
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 1000, "k").await;
    for p in paths {
        w.receiver.wait_for_count(p, 1000, LONG).await.unwrap();
        let by_txn = w.receiver.count_by_txn(p);
        assert_eq!(by_txn.len(), 1000, "{p}: distinct events");
        assert!(
            by_txn.values().all(|n| *n == 1),
            "{p}: an event arrived twice"
        );
        assert_eq!(assert_all_arrived(&w.receiver, p, &ids), 0);
        for set in w.receiver.received(p) {
            assert_eq!(set.iss, w.tenant.issuer);
            assert_eq!(set.aud, vec![w.creds.client_id.clone()]);
            assert_eq!(set.event_types(), vec![SESSION_REVOKED.to_owned()]);
            assert_eq!(
                set.authorization.as_deref(),
                Some(&*format!("Bearer secret-for-{p}"))
            );
        }
    }
    assert_eq!(
        w.receiver.total_invalid(),
        0,
        "every SET verified against the JWKS"
    );
    // The non-matching stream: fan-out stores every stream's deliveries of an event in one
    // statement before pushing any, so with all others delivered, none can still come.
    let (status, view) = w
        .api(reqwest::Method::GET, &format!("/streams/{other}"), None)
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["deliveries"], json!({}), "{view}");
    assert_eq!(w.receiver.count("/s/other"), 0);
    written_once(&w, &streams[0], 1000).await;
}

/// Every delivery of `stream` is recorded delivered with exactly one attempt in its log,
/// and fan-out stored some of them delivered at once (their receiver answered before their
/// rows were written: one row write each instead of two, `stored.rs`).
async fn written_once(w: &World, stream: &str, n: usize) {
    wait_until("every delivery to be recorded delivered", LONG, || async {
        let (_, v) = w
            .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
            .await;
        (v["deliveries"] == json!({"delivered": n})).then_some(())
    })
    .await;
    let (status, log) = w
        .api(
            reqwest::Method::GET,
            &format!("/streams/{stream}/attempts?limit=500"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let log = log.as_array().cloned().unwrap_or_default();
    assert_eq!(log.len(), 500.min(n), "the newest attempts");
    let ids: std::collections::HashSet<_> = log.iter().map(|a| a["delivery_id"].clone()).collect();
    assert_eq!(ids.len(), log.len(), "a delivery logged twice: {log:?}");
    assert!(
        log.iter()
            .all(|a| a["outcome"] == "delivered" && a["status"] == 202)
    );
    let mut once = 0;
    for (_, process) in &w.hub.processes {
        once += metric(&process.url("/metrics"), "sethub_push_written_once_total")
            .await
            .unwrap_or(0);
    }
    assert!(
        once > 0,
        "no SET was stored delivered with its row (push.first_outcome_wait_ms)"
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_everything_later_and_does_not_slow_the_others() {
    let w = World::split().await;
    let mut down =
        TestReceiver::start(w.hub.jwks_url(&w.tenant.slug), w.tenant.issuer.clone()).await;
    let down_url = down.url("/s/down");
    create_push_stream(
        &w.hub.manage_url,
        &w.tenant.slug,
        &w.token,
        &down_url,
        None,
        &[SESSION_REVOKED],
    )
    .await
    .unwrap();
    w.stream("/s/up", &[SESSION_REVOKED]).await;
    down.stop().await;
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 300, "k").await;
    // The healthy receiver gets everything while the other one is still down.
    w.receiver.wait_for_count("/s/up", 300, LONG).await.unwrap();
    assert!(!down.is_running());
    assert_eq!(down.total_received(), 0);
    down.start_again().await;
    down.wait_for_count("/s/down", 300, LONG).await.unwrap();
    assert_all_arrived(&down, "/s/down", &ids);
    assert_all_arrived(&w.receiver, "/s/up", &ids);
    // The failures are in the delivery log.
    let (_, streams) = w.api(reqwest::Method::GET, "/streams", None).await;
    let down_id = streams
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["endpoint_url"] == down_url.as_str())
        .unwrap()["stream_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, log) = w
        .api(
            reqwest::Method::GET,
            &format!("/streams/{down_id}/attempts?limit=500"),
            None,
        )
        .await;
    let log = log.as_array().unwrap();
    assert!(
        log.iter()
            .any(|a| a["outcome"] == "retry" && a["status"].is_null()),
        "connection failures logged"
    );
    assert!(
        log.iter()
            .any(|a| a["outcome"] == "delivered" && a["status"] == 202)
    );
}

#[tokio::test]
async fn a_receiver_refusing_the_audience_gets_its_stream_disabled_and_told() {
    let w = World::split().await;
    let bad = w.stream("/s/bad", &[SESSION_REVOKED]).await;
    w.stream("/s/good", &[SESSION_REVOKED]).await;
    w.receiver.behave(
        "/s/bad",
        Behave::err("invalid_audience", "not our audience"),
    );
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 20, "k").await;
    w.receiver
        .wait_for_count("/s/good", 20, LONG)
        .await
        .unwrap();
    assert_all_arrived(&w.receiver, "/s/good", &ids);
    let view = wait_until("the refused stream to be disabled", LONG, || async {
        let (_, v) = w
            .api(reqwest::Method::GET, &format!("/streams/{bad}"), None)
            .await;
        (v["status"] == "disabled").then_some(v)
    })
    .await;
    assert!(
        view["status_reason"]
            .as_str()
            .unwrap()
            .contains("invalid_audience"),
        "{view}"
    );
    // The stream-updated SET was made and sent (the receiver refuses it too).
    let (_, list) = w
        .api(
            reqwest::Method::GET,
            &format!("/streams/{bad}/deliveries?limit=500"),
            None,
        )
        .await;
    let list = list.as_array().unwrap();
    let notice = list
        .iter()
        .find(|d| d["kind"] == "stream_updated")
        .unwrap_or_else(|| panic!("no stream-updated delivery in {list:?}"));
    let (_, one) = w
        .api(
            reqwest::Method::GET,
            &format!("/deliveries/{}", notice["delivery_id"].as_str().unwrap()),
            None,
        )
        .await;
    let claims = decode_claims(one["set"].as_str().unwrap());
    assert_eq!(claims["events"][STREAM_UPDATED]["status"], "disabled");
    assert_eq!(claims["sub_id"], json!({"format": "opaque", "id": bad}));
    wait_until("the stream-updated SET to be attempted", LONG, || async {
        w.receiver
            .attempts("/s/bad")
            .iter()
            .any(|a| a.jti.as_deref() == claims["jti"].as_str())
            .then_some(())
    })
    .await;
    // Exactly one announcement, however many SETs were refused at once.
    assert_eq!(
        list.iter()
            .filter(|d| d["kind"] == "stream_updated")
            .count(),
        1,
        "{list:?}"
    );
    // Nothing of the disabled stream stays pending (each SET is dead or dropped), and no
    // event reached it.
    wait_until(
        "no pending delivery on the disabled stream",
        LONG,
        || async {
            let (_, v) = w
                .api(reqwest::Method::GET, &format!("/streams/{bad}"), None)
                .await;
            (v["deliveries"].get("pending").is_none()).then_some(())
        },
    )
    .await;
    assert_eq!(w.receiver.count("/s/bad"), 0);
}

#[tokio::test]
async fn a_receiver_answering_429_is_not_retried_before_its_retry_after() {
    let w = World::split().await;
    w.stream("/s/slow", &[SESSION_REVOKED]).await;
    w.receiver.behave(
        "/s/slow",
        Behave::TooMany {
            retry_after_secs: 2,
        },
    );
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 1, "k").await;
    w.receiver
        .wait_for_attempts("/s/slow", 2, LONG)
        .await
        .unwrap();
    w.receiver.behave("/s/slow", Behave::Accept);
    let attempts = w.receiver.attempts("/s/slow");
    let gap = attempts[1].arrived - attempts[0].arrived;
    assert!(
        gap >= Duration::from_secs(2),
        "retried {gap:?} after a 429 with Retry-After: 2"
    );
    w.receiver.wait_for_count("/s/slow", 1, LONG).await.unwrap();
    assert_all_arrived(&w.receiver, "/s/slow", &ids);
}

#[tokio::test]
async fn one_tenants_events_never_reach_another_tenants_streams() {
    let a = World::split().await;
    a.stream("/s/a", &[SESSION_REVOKED]).await;
    // Tenant B on the same hub, with its own receiver path.
    let slug_b = format!("t{}", random_suffix());
    let tenant_b = setup::create_tenant(Path::new(BIN), &a.hub.env, &slug_b)
        .await
        .unwrap();
    let creds_b = setup::create_receiver(Path::new(BIN), &a.hub.env, &slug_b, "rx")
        .await
        .unwrap();
    let token_b = setup::token(&creds_b).await.unwrap();
    let receiver_b = TestReceiver::start(a.hub.jwks_url(&slug_b), tenant_b.issuer.clone()).await;
    create_push_stream(
        &a.hub.manage_url,
        &slug_b,
        &token_b,
        &receiver_b.url("/s/b"),
        None,
        &[SESSION_REVOKED],
    )
    .await
    .unwrap();
    let (ids_a, ids_b) = tokio::join!(
        publish_all(&a.hub.ingest_url, &a.tenant, 200, "a"),
        publish_all(&a.hub.ingest_url, &tenant_b, 200, "b"),
    );
    a.receiver.wait_for_count("/s/a", 200, LONG).await.unwrap();
    receiver_b.wait_for_count("/s/b", 200, LONG).await.unwrap();
    assert_all_arrived(&a.receiver, "/s/a", &ids_a);
    assert_all_arrived(&receiver_b, "/s/b", &ids_b);
    assert!(
        a.receiver
            .received("/s/a")
            .iter()
            .all(|s| s.iss == a.tenant.issuer)
    );
    assert!(
        receiver_b
            .received("/s/b")
            .iter()
            .all(|s| s.iss == tenant_b.issuer)
    );
    // Each receiver verified against its own tenant's JWKS: a SET signed by the other
    // tenant's key would have been counted invalid.
    assert_eq!(a.receiver.total_invalid() + receiver_b.total_invalid(), 0);
    // Tenant B's admin key cannot read tenant A's streams.
    let (_, list) = a.api(reqwest::Method::GET, "/streams", None).await;
    let a_stream = list[0]["stream_id"].as_str().unwrap().to_owned();
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/streams/{a_stream}", a.hub.manage_url))
        .bearer_auth(&tenant_b.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn a_verification_request_emits_a_signed_verification_set() {
    let w = World::split().await;
    let stream = w.stream("/s/v", &[SESSION_REVOKED]).await;
    let meta = setup::metadata(&w.hub.manage_url, &w.tenant.slug)
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(meta["verification_endpoint"].as_str().unwrap())
        .bearer_auth(&w.token)
        .json(&json!({"stream_id": stream, "state": "VGhpcyBpcyBhbiBleGFtcGxl"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    w.receiver.wait_for_count("/s/v", 1, LONG).await.unwrap();
    let set = &w.receiver.received("/s/v")[0];
    // Verified by the receiver against the tenant's JWKS (or it would not be received).
    assert_eq!(set.iss, meta["issuer"].as_str().unwrap());
    assert_eq!(set.aud, vec![w.creds.client_id.clone()]);
    assert_eq!(set.sub_id, json!({"format": "opaque", "id": stream}));
    assert_eq!(
        set.events,
        json!({ VERIFICATION: {"state": "VGhpcyBpcyBhbiBleGFtcGxl"} })
    );
    let jwks: Value = reqwest::get(meta["jwks_uri"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&set.kid.as_deref().unwrap()));
}

#[tokio::test]
async fn a_tenant_pausing_a_stream_holds_its_sets_and_tells_the_receiver() {
    let w = World::split().await;
    let stream = w.stream("/s/p", &[SESSION_REVOKED]).await;
    let (status, view) = w
        .api(
            reqwest::Method::POST,
            &format!("/streams/{stream}/status"),
            Some(json!({"status": "paused", "reason": "maintenance"})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "paused");
    w.receiver.wait_for_count("/s/p", 1, LONG).await.unwrap();
    let notice = &w.receiver.received("/s/p")[0];
    assert_eq!(
        notice.events,
        json!({ STREAM_UPDATED: {"status": "paused", "reason": "maintenance"} })
    );
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 10, "k").await;
    wait_until("the events to be held", LONG, || async {
        let (_, v) = w
            .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
            .await;
        (v["deliveries"]["held"] == 10).then_some(())
    })
    .await;
    assert_eq!(
        w.receiver.count("/s/p"),
        1,
        "nothing but the notice while paused"
    );
    let (status, _) = w
        .api(
            reqwest::Method::POST,
            &format!("/streams/{stream}/status"),
            Some(json!({"status": "enabled"})),
        )
        .await;
    assert_eq!(status, 200);
    w.receiver.wait_for_count("/s/p", 12, LONG).await.unwrap();
    let got = w.receiver.received("/s/p");
    assert!(
        got.iter()
            .any(|s| s.events[STREAM_UPDATED]["status"] == "enabled")
    );
    let by_txn: HashMap<String, usize> = w.receiver.count_by_txn("/s/p");
    assert!(
        ids.iter().all(|id| by_txn.get(id) == Some(&1)),
        "{by_txn:?} {:?}",
        got.iter()
            .map(|s| (s.txn.clone(), s.events.clone()))
            .collect::<Vec<_>>()
    );
    // Bad input changes nothing.
    let (status, problem) = w
        .api(
            reqwest::Method::POST,
            &format!("/streams/{stream}/status"),
            Some(json!({"status": "sleeping"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["field"], "status");
}

#[tokio::test]
async fn a_stream_rate_limit_spaces_its_pushes_and_slows_no_other_stream() {
    let w = World::split().await;
    let limited = w.stream("/s/limited", &[SESSION_REVOKED]).await;
    w.stream("/s/free", &[SESSION_REVOKED]).await;
    let view = limit_rate(&w, &limited, 4).await;
    assert_eq!(
        view["delivery_settings"],
        json!({"max_rate_per_second": 4.0})
    );
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 16, "k").await;
    w.receiver
        .wait_for_count("/s/free", 16, LONG)
        .await
        .unwrap();
    let free_done = w
        .receiver
        .received("/s/free")
        .iter()
        .map(|s| s.arrived)
        .max()
        .unwrap();
    w.receiver
        .wait_for_count("/s/limited", 16, LONG)
        .await
        .unwrap();
    assert_all_arrived(&w.receiver, "/s/limited", &ids);
    let got = w.receiver.received("/s/limited");
    let first = got.iter().map(|s| s.arrived).min().unwrap();
    let last = got.iter().map(|s| s.arrived).max().unwrap();
    // A burst of 4, then 4 per second: the other 12 take at least 3 s (some slack for
    // the bucket's start).
    assert!(
        last - first >= Duration::from_millis(2500),
        "16 SETs at 4/s arrived within {:?}",
        last - first
    );
    assert!(
        free_done < last,
        "the unlimited stream waited for the limited one"
    );
}

#[tokio::test]
async fn a_stream_retry_schedule_dead_letters_a_failing_set_and_a_redrive_delivers_it() {
    let w = World::split().await;
    let stream = w.stream("/s/failing", &[SESSION_REVOKED]).await;
    // Bad settings are refused by name and change nothing.
    for (body, field) in [
        (
            json!({"retry": {"initial_secs": 0.2, "factor": 11, "max_delay_secs": 1, "max_age_secs": 2, "jitter": 0}}),
            "retry.factor",
        ),
        (json!({"max_rate_per_second": -1}), "max_rate_per_second"),
        (json!({"retries": 3}), "retries"),
    ] {
        let (status, problem) = w
            .api(
                reqwest::Method::PUT,
                &format!("/streams/{stream}/delivery-settings"),
                Some(body),
            )
            .await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (status, problem) = w
        .api(
            reqwest::Method::PUT,
            "/tenant/delivery-settings",
            Some(json!({"max_rate_per_second": 5})),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    let (_, view) = w
        .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
        .await;
    assert!(view["delivery_settings"].is_null(), "{view}");

    // The tenant's schedule is long; the stream's own one gives up after 1.5 s.
    let (status, _) = w
        .api(
            reqwest::Method::PUT,
            "/tenant/delivery-settings",
            Some(json!({"retry": {"initial_secs": 60, "factor": 2, "max_delay_secs": 600, "max_age_secs": 86400, "jitter": 0.1}})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = w
        .api(
            reqwest::Method::PUT,
            &format!("/streams/{stream}/delivery-settings"),
            Some(json!({"retry": {"initial_secs": 0.2, "factor": 1, "max_delay_secs": 0.2, "max_age_secs": 1.5, "jitter": 0}})),
        )
        .await;
    assert_eq!(status, 200);
    w.receiver.behave("/s/failing", Behave::Status(503));
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 5, "k").await;
    let dead_list = wait_until("the failing SETs to be dead-lettered", LONG, || async {
        let (_, list) = w
            .api(
                reqwest::Method::GET,
                &format!("/streams/{stream}/deliveries?state=dead"),
                None,
            )
            .await;
        list.as_array().filter(|l| l.len() == 5).cloned()
    })
    .await;
    let dead = dead_list[0].clone();
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap()
            .contains("gave up after"),
        "{dead}"
    );
    assert_eq!(dead["last_status"], 503);
    let attempts = w.receiver.attempts("/s/failing");
    assert!(
        attempts.len() >= 3,
        "retried every 0.2 s: {} attempts",
        attempts.len()
    );
    assert!(attempts.iter().all(|a| a.status == 503));

    // The dead letter shows in fan-out's metrics.
    w.wait_for_metric("fanout", "sethub_push_dead_letters 5")
        .await;

    // The receiver is fixed; the tenant redrives the dead SET and it arrives.
    w.receiver.behave("/s/failing", Behave::Accept);
    let redrive = format!("/streams/{stream}/redrive");
    let (status, problem) = w
        .api(
            reqwest::Method::POST,
            &redrive,
            Some(json!({"delivery_ids": ["nope"]})),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["field"], "delivery_ids");
    let (status, body) = w
        .api(reqwest::Method::POST, &redrive, Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["redriven"], 5);
    assert_eq!(
        body["more"], false,
        "five is under the bound of one redrive"
    );
    let mut redriven: Vec<_> = body["delivery_ids"].as_array().unwrap().clone();
    let mut listed: Vec<_> = dead_list.iter().map(|d| d["delivery_id"].clone()).collect();
    redriven.sort_by_key(ToString::to_string);
    listed.sort_by_key(ToString::to_string);
    assert_eq!(redriven, listed);
    w.receiver
        .wait_for_count("/s/failing", 5, LONG)
        .await
        .unwrap();
    // The same SETs (same jti) as were dead-lettered, every event once.
    let mut jtis: Vec<String> = w
        .receiver
        .received("/s/failing")
        .iter()
        .map(|s| s.jti.clone())
        .collect();
    let mut dead_jtis: Vec<String> = dead_list
        .iter()
        .map(|d| d["jti"].as_str().unwrap().to_owned())
        .collect();
    jtis.sort();
    dead_jtis.sort();
    assert_eq!(jtis, dead_jtis);
    assert_eq!(assert_all_arrived(&w.receiver, "/s/failing", &ids), 0);
    // The audit log shows the redrive and who asked.
    let (_, log) = w
        .api(
            reqwest::Method::GET,
            &format!("/audit-log?target={stream}"),
            None,
        )
        .await;
    assert_eq!(log[0]["action"], "deliveries.redrive", "{log}");
    assert_eq!(log[0]["details"]["redriven"], 5);
    assert_eq!(log[0]["audit_id"], body["audit_id"]);
    assert!(
        log[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("api_key:key_")
    );
    // Nothing dead is left: a second redrive finds nothing.
    let (_, body) = w
        .api(reqwest::Method::POST, &redrive, Some(json!({})))
        .await;
    assert_eq!(body["redriven"], 0);
}

#[tokio::test]
async fn after_the_receiver_moves_its_push_endpoint_the_old_authorization_header_is_not_sent() {
    let w = World::split().await;
    let id = w.stream("/s/old", &[SESSION_REVOKED]).await;
    publish_all(&w.hub.ingest_url, &w.tenant, 1, "before").await;
    w.receiver.wait_for_count("/s/old", 1, LONG).await.unwrap();
    let auth = |p: &str| w.receiver.received(p).last().unwrap().authorization.clone();
    assert_eq!(auth("/s/old").as_deref(), Some("Bearer secret-for-/s/old"));

    // PATCH the endpoint without a header: the receiver's secret does not follow it.
    let patch = json!({
        "stream_id": id,
        "delivery": {"method": setup::PUSH_METHOD, "endpoint_url": w.receiver.url("/s/new")},
    });
    let resp = reqwest::Client::new()
        .patch(format!(
            "{}/t/{}/ssf/stream",
            w.hub.manage_url, w.tenant.slug
        ))
        .bearer_auth(&w.token)
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    publish_all(&w.hub.ingest_url, &w.tenant, 1, "after").await;
    w.receiver.wait_for_count("/s/new", 1, LONG).await.unwrap();
    assert_eq!(auth("/s/new"), None);
    assert_eq!(w.receiver.count("/s/old"), 1);
}
