//! The usage page's figures, on PostgreSQL and SQLite: events accepted and SETs delivered per
//! UTC day (per stream), subjects per stream; each read sees one tenant only.

use chrono::{DateTime, Duration, Utc};
use sethub_domain::EventId;
use sethub_store::testing::TestDb;
use sethub_store::{Change, DeliveryState, NewDelivery, Update};

use crate::deliveries::{new, stream};
use crate::support::{new_event, tenant};

contract!(
    usage_counts_events_accepted_per_day_within_the_tenant,
    usage_counts_sets_delivered_per_stream_and_day_by_their_delivery_time,
    usage_counts_each_streams_subjects_removed_ones_included,
);

fn day(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

async fn usage_counts_events_accepted_per_day_within_the_tenant(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let other = tenant(db.store(), "b").await;
    for _ in 0..3 {
        db.store()
            .scope(t.id)
            .events()
            .insert(new_event(None))
            .await
            .unwrap();
    }
    db.store()
        .scope(other.id)
        .events()
        .insert(new_event(None))
        .await
        .unwrap();
    let usage = db.store().scope(t.id).usage();
    let since = Utc::now() - Duration::days(30);
    assert_eq!(
        usage.events_by_day(since).await.unwrap(),
        vec![(day(Utc::now()), 3)]
    );
    assert_eq!(
        db.store()
            .scope(other.id)
            .usage()
            .events_by_day(since)
            .await
            .unwrap(),
        vec![(day(Utc::now()), 1)]
    );
    // Nothing accepted after `since` counts.
    assert!(
        usage
            .events_by_day(Utc::now() + Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Marks `d` delivered at `at`.
async fn deliver(
    db: &TestDb,
    tenant: sethub_domain::TenantId,
    d: &[&NewDelivery],
    at: DateTime<Utc>,
) {
    let updates: Vec<Update> = d
        .iter()
        .map(|x| Update {
            id: x.id,
            at,
            attempted: true,
            change: Change::Delivered { status: 202 },
        })
        .collect();
    db.store()
        .scope(tenant)
        .deliveries()
        .apply(&updates, &[])
        .await
        .unwrap();
}

async fn usage_counts_sets_delivered_per_stream_and_day_by_their_delivery_time(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let other = tenant(db.store(), "b").await;
    let (s1, s2) = (
        stream(db.store(), t.id).await,
        stream(db.store(), t.id).await,
    );
    let elsewhere = stream(db.store(), other.id).await;
    let fresh = |s| new(s, Some(EventId::new()), DeliveryState::Pending);
    let one = [fresh(s1), fresh(s1), fresh(s1), fresh(s1)];
    let two = [fresh(s2), fresh(s2)];
    let theirs = fresh(elsewhere);
    let d = db.store().scope(t.id).deliveries();
    d.insert_many(&one).await.unwrap();
    d.insert_many(&two).await.unwrap();
    db.store()
        .scope(other.id)
        .deliveries()
        .insert_many(std::slice::from_ref(&theirs))
        .await
        .unwrap();
    let now = Utc::now();
    let three_days_ago = now - Duration::days(3);
    // Stream 1: one delivered three days ago, two today, one still pending. Stream 2: one
    // today, one dead. The other tenant's delivered SET is not ours.
    deliver(&db, t.id, &[&one[0]], three_days_ago).await;
    deliver(&db, t.id, &[&one[1], &one[2], &two[0]], now).await;
    d.apply(
        &[Update {
            id: two[1].id,
            at: now,
            attempted: true,
            change: Change::Dead {
                status: Some(500),
                error: "HTTP 500".into(),
            },
        }],
        &[],
    )
    .await
    .unwrap();
    deliver(&db, other.id, &[&theirs], now).await;

    let usage = db.store().scope(t.id).usage();
    let mut got = usage
        .delivered_by_stream_and_day(now - Duration::days(30))
        .await
        .unwrap();
    got.sort();
    let mut want = vec![
        (s1, day(three_days_ago), 1),
        (s1, day(now), 2),
        (s2, day(now), 1),
    ];
    want.sort();
    assert_eq!(got, want);
    // The window starts at `since`: the delivery of three days ago is outside two days.
    let mut recent = usage
        .delivered_by_stream_and_day(now - Duration::days(2))
        .await
        .unwrap();
    recent.sort();
    let mut want = vec![(s1, day(now), 2), (s2, day(now), 1)];
    want.sort();
    assert_eq!(recent, want);
}

async fn usage_counts_each_streams_subjects_removed_ones_included(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let other = tenant(db.store(), "b").await;
    let (s1, s2, _empty) = (
        stream(db.store(), t.id).await,
        stream(db.store(), t.id).await,
        stream(db.store(), t.id).await,
    );
    let theirs = stream(db.store(), other.id).await;
    let put = |tenant, s, key: &'static str, added| {
        let store = db.store();
        async move {
            store
                .scope(tenant)
                .streams()
                .put_subject(
                    s,
                    key,
                    serde_json::json!({"format": "opaque", "id": key}),
                    added,
                    true,
                )
                .await
                .unwrap();
        }
    };
    put(t.id, s1, "opaque:a", true).await;
    put(t.id, s1, "opaque:b", false).await;
    put(t.id, s2, "opaque:a", true).await;
    put(other.id, theirs, "opaque:z", true).await;
    let mut got = db
        .store()
        .scope(t.id)
        .usage()
        .subjects_by_stream()
        .await
        .unwrap();
    got.sort();
    let mut want = vec![(s1, 2), (s2, 1)];
    want.sort();
    assert_eq!(got, want);
}
