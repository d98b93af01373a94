//! What several fan-out processes share, each shown with three of them consuming the same
//! queues: a paused stream's release keeps per-subject order, and a stream's rate limit (a
//! bucket in Redis) holds across them.

use std::time::Duration;

use super::*;

#[tokio::test]
async fn with_three_fanouts_a_paused_streams_release_keeps_each_subjects_order() {
    const SUBJECTS: usize = 20;
    const PER_SUBJECT: usize = 5;
    // A small backlog, so each fan-out takes a few messages at a time and the held SETs are
    // stored by all three, interleaved.
    let w = World::split_services(
        &[("SETHUB_PUSH__MAX_BACKLOG", "5")],
        &["ingest", "fanout", "fanout", "fanout"],
    )
    .await;
    let push = w.stream("/s/order", &[SESSION_REVOKED]).await;
    set_status(&w, &push, "paused").await;
    let published = publish_concurrently(&w, SUBJECTS, PER_SUBJECT, "three").await;
    let n = SUBJECTS * PER_SUBJECT;
    wait_for_state(&w, &push, "held", n as u64).await;
    assert!(
        events_arrived(&w, "/s/order").is_empty(),
        "nothing while paused"
    );
    set_status(&w, &push, "enabled").await;
    let arrived = wait_until(&format!("the {n} held events"), LONG, || async {
        let a = events_arrived(&w, "/s/order");
        (a.len() >= n).then_some(a)
    })
    .await;
    assert_eq!(arrived.len(), n, "each exactly once");
    assert_per_subject_order(&published, &arrived);
}

/// 4 SETs a second with a burst of 4: 40 SETs take at least 9 s however many fan-outs push
/// them. Three fan-outs with a bucket each would take a third of that.
#[tokio::test]
async fn with_three_fanouts_a_streams_rate_limit_holds_across_them() {
    let w = World::split_services(&[], &["ingest", "fanout", "fanout", "fanout"]).await;
    let limited = w.stream("/s/limited", &[SESSION_REVOKED]).await;
    limit_rate(&w, &limited, 4).await;
    // Ten bus messages of four events, so all three fan-outs take some.
    let ids = publish_all_in(&w.hub.ingest_url, &w.tenant, 40, "rate", 4).await;
    w.receiver
        .wait_for_count("/s/limited", 40, LONG)
        .await
        .unwrap();
    assert_all_arrived(&w.receiver, "/s/limited", &ids);
    let span = arrival_span(&w.receiver, "/s/limited");
    eprintln!("40 SETs at 4/s through three fan-outs took {span:?}");
    // (40 - 4) / 4 = 9 s; some slack for the bucket's start.
    assert!(
        span >= Duration::from_millis(8000),
        "40 SETs at 4/s arrived within {span:?}"
    );
}
