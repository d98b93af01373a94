//! A stream's health facts and its filtered, keyset-paged delivery log, on PostgreSQL and
//! SQLite.

use chrono::{Duration, Utc};
use sethub_domain::{DeliveryId, EventId};
use sethub_store::testing::TestDb;
use sethub_store::{Attempt, Change, DeliveryState, LogFilter, LogSearch, NewDelivery, Update};

use crate::deliveries::{new, stream};
use crate::support::{new_event, tenant};

contract!(
    health_counts_pushes_per_hour_and_names_the_latest_failure_next_retry_and_dead_letters,
    the_log_filters_by_state_time_jti_event_and_subject_prefix_and_pages_by_keyset,
    another_tenant_sees_no_health_and_no_log_of_a_stream,
);

fn attempt(
    d: &NewDelivery,
    at: chrono::DateTime<Utc>,
    status: Option<u16>,
    outcome: &str,
) -> Attempt {
    Attempt {
        delivery_id: d.id,
        stream_id: d.stream_id,
        attempted_at: at,
        status,
        latency_ms: 5,
        outcome: outcome.into(),
        error: status
            .is_none()
            .then(|| "the server could not be reached".to_owned()),
        response_excerpt: None,
    }
}

async fn health_counts_pushes_per_hour_and_names_the_latest_failure_next_retry_and_dead_letters(
    db: TestDb,
) {
    let t = tenant(db.store(), "h").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let now = Utc::now();
    let since = now - Duration::hours(24);
    // Nothing yet: no hours, no failure, nothing waits.
    let empty = d.health(s, since).await.unwrap();
    assert!(empty.hours.is_empty() && empty.latest.is_none() && empty.last_failure.is_none());
    assert_eq!((empty.next_attempt_at, empty.dead), (None, 0));

    let ok = new(s, Some(EventId::new()), DeliveryState::Pending);
    let retry = new(s, Some(EventId::new()), DeliveryState::Pending);
    let dead = new(s, Some(EventId::new()), DeliveryState::Pending);
    d.insert_many(&[ok.clone(), retry.clone(), dead.clone()])
        .await
        .unwrap();
    let two_hours_ago = now - Duration::hours(2);
    let next = now + Duration::minutes(5);
    let updates = [
        Update {
            id: ok.id,
            at: now,
            attempted: true,
            change: Change::Delivered { status: 202 },
        },
        Update {
            id: retry.id,
            at: now,
            attempted: true,
            change: Change::Retry {
                next_attempt_at: next,
                status: None,
                error: "the server could not be reached".into(),
            },
        },
        Update {
            id: dead.id,
            at: two_hours_ago,
            attempted: true,
            change: Change::Dead {
                status: Some(500),
                error: "HTTP 500".into(),
            },
        },
    ];
    let attempts = [
        attempt(&dead, two_hours_ago, Some(500), "dead"),
        // A day and more ago: outside the window.
        attempt(&dead, now - Duration::hours(30), Some(503), "retry"),
        attempt(&retry, now - Duration::seconds(2), None, "retry"),
        attempt(&ok, now - Duration::seconds(1), Some(202), "delivered"),
    ];
    d.apply(&updates, &attempts).await.unwrap();

    let h = d.health(s, since).await.unwrap();
    let hour = |t: chrono::DateTime<Utc>| t.timestamp().div_euclid(3600);
    let counted: Vec<(i64, u64, u64)> = h
        .hours
        .iter()
        .map(|x| (x.hour, x.delivered, x.failed))
        .collect();
    let mut want = vec![(hour(two_hours_ago), 0, 1)];
    if hour(now - Duration::seconds(2)) == hour(now - Duration::seconds(1)) {
        want.push((hour(now), 1, 1));
    } else {
        want.push((hour(now - Duration::seconds(2)), 0, 1));
        want.push((hour(now - Duration::seconds(1)), 1, 0));
    }
    assert_eq!(counted, want);
    // The newest attempt succeeded; the newest failure is the unreachable receiver.
    assert_eq!(
        h.latest.as_ref().map(|a| a.outcome.as_str()),
        Some("delivered")
    );
    let failure = h.last_failure.unwrap();
    assert_eq!(failure.delivery_id, retry.id);
    assert_eq!(failure.status, None);
    assert_eq!(
        h.next_attempt_at.map(|t| t.timestamp()),
        Some(next.timestamp())
    );
    assert_eq!(h.dead, 1);

    // The breaker's run: the newest attempt was taken, so none; one SET is still owed.
    assert_eq!(d.failure_streak(s, 10).await.unwrap().failures, 0);
    let q = d.queue(s).await.unwrap();
    assert_eq!(q.pending, 1);
    assert!(q.oldest.is_some());
    // Two endpoint failures after it, newest first; the look is bounded by `max`.
    let later = [
        attempt(&retry, now + Duration::seconds(1), None, "retry"),
        attempt(&retry, now + Duration::seconds(2), Some(503), "retry"),
    ];
    d.apply(&[], &later).await.unwrap();
    let streak = d.failure_streak(s, 10).await.unwrap();
    assert_eq!(streak.failures, 2);
    assert_eq!(
        streak.last_at.map(|t| t.timestamp()),
        Some((now + Duration::seconds(2)).timestamp())
    );
    assert_eq!(d.failure_streak(s, 1).await.unwrap().failures, 1);
}

async fn the_log_filters_by_state_time_jti_event_and_subject_prefix_and_pages_by_keyset(
    db: TestDb,
) {
    let t = tenant(db.store(), "l").await;
    let s = stream(db.store(), t.id).await;
    let scope = db.store().scope(t.id);
    let mut ann = new_event(None);
    ann.sub_id = Some(serde_json::json!({"format": "email", "email": "ann@acme.example"}));
    let mut bob = new_event(None);
    bob.sub_id = Some(serde_json::json!({"format": "email", "email": "bob@beta.example"}));
    let (ann_id, bob_id) = (ann.id, bob.id);
    scope.events().insert(ann).await.unwrap();
    scope.events().insert(bob).await.unwrap();
    let d = scope.deliveries();
    let to_ann = new(s, Some(ann_id), DeliveryState::Queued);
    let to_bob = new(s, Some(bob_id), DeliveryState::Dead);
    let mut rest = Vec::new();
    for _ in 0..5 {
        rest.push(new(s, Some(EventId::new()), DeliveryState::Queued));
    }
    let mut all = vec![to_ann.clone(), to_bob.clone()];
    all.extend(rest.iter().cloned());
    d.insert_many(&all).await.unwrap();
    let ids = |v: Vec<sethub_store::Delivery>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();

    // Every delivery, newest first, a page of three at a time by keyset.
    let mut newest_first: Vec<DeliveryId> = all.iter().map(|x| x.id).collect();
    newest_first.sort();
    newest_first.reverse();
    let mut f = LogFilter::default();
    let mut seen = Vec::new();
    loop {
        let page = ids(d.log_page(s, &f, 3).await.unwrap());
        seen.extend(page.iter().copied());
        match page.last() {
            Some(last) if page.len() == 3 => f.before = Some(*last),
            _ => break,
        }
    }
    assert_eq!(seen, newest_first);

    let only = |filter: LogFilter| {
        let d = &d;
        async move { ids(d.log_page(s, &filter, 100).await.unwrap()) }
    };
    assert_eq!(
        only(LogFilter {
            state: Some(DeliveryState::Dead),
            ..Default::default()
        })
        .await,
        vec![to_bob.id]
    );
    assert_eq!(
        only(LogFilter {
            search: Some(LogSearch::Jti(to_ann.jti.clone())),
            ..Default::default()
        })
        .await,
        vec![to_ann.id]
    );
    assert_eq!(
        only(LogFilter {
            search: Some(LogSearch::Event(bob_id)),
            ..Default::default()
        })
        .await,
        vec![to_bob.id]
    );
    // A subject's value by its start, with LIKE's wildcards taken literally.
    assert_eq!(
        only(LogFilter {
            search: Some(LogSearch::SubjectPrefix("ann@".into())),
            ..Default::default()
        })
        .await,
        vec![to_ann.id]
    );
    assert!(
        only(LogFilter {
            search: Some(LogSearch::SubjectPrefix("acme".into())),
            ..Default::default()
        })
        .await
        .is_empty(),
        "a prefix matches the start of a value, not its middle"
    );
    assert!(
        only(LogFilter {
            search: Some(LogSearch::SubjectPrefix("%".into())),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    // A time window: made in the last hour, and none made an hour from now.
    let now = Utc::now();
    assert_eq!(
        only(LogFilter {
            from: Some(now - Duration::hours(1)),
            ..Default::default()
        })
        .await
        .len(),
        all.len()
    );
    assert!(
        only(LogFilter {
            from: Some(now + Duration::hours(1)),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    // Filters combine.
    assert!(
        only(LogFilter {
            state: Some(DeliveryState::Queued),
            search: Some(LogSearch::Event(bob_id)),
            ..Default::default()
        })
        .await
        .is_empty()
    );
}

async fn another_tenant_sees_no_health_and_no_log_of_a_stream(db: TestDb) {
    let a = tenant(db.store(), "a").await;
    let b = tenant(db.store(), "b").await;
    let s = stream(db.store(), a.id).await;
    let one = new(s, Some(EventId::new()), DeliveryState::Pending);
    let da = db.store().scope(a.id).deliveries();
    da.insert_many(std::slice::from_ref(&one)).await.unwrap();
    let now = Utc::now();
    da.apply(
        &[Update {
            id: one.id,
            at: now,
            attempted: true,
            change: Change::Dead {
                status: Some(500),
                error: "HTTP 500".into(),
            },
        }],
        &[attempt(&one, now, Some(500), "dead")],
    )
    .await
    .unwrap();
    let db_ = db.store().scope(b.id).deliveries();
    let h = db_.health(s, now - Duration::hours(24)).await.unwrap();
    assert!(h.hours.is_empty() && h.latest.is_none() && h.last_failure.is_none());
    assert_eq!(h.dead, 0);
    assert!(
        db_.log_page(s, &LogFilter::default(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Its own tenant sees both.
    assert_eq!(
        da.health(s, now - Duration::hours(24)).await.unwrap().dead,
        1
    );
}
