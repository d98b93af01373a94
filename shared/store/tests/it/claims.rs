//! Claims on both backends: due deliveries paged in due order, each claimed by one caller,
//! and scheduled (parked) ones kept apart from those merely due.

use chrono::{Duration, Utc};
use sethub_domain::EventId;
use sethub_store::testing::TestDb;
use sethub_store::{Change, DeliveryState, DueDeliveries, Update};

use crate::deliveries::{new, stream};
use crate::support::tenant;

contract!(
    due_deliveries_are_paged_in_due_order_and_each_is_claimed_by_one_caller_only,
    only_scheduled_deliveries_are_taken_before_they_are_overdue,
    due_pages_follow_the_due_time_not_the_row_id,
    renewing_held_deliveries_keeps_them_from_other_processes_and_writes_only_those_near_their_end,
);

async fn due_deliveries_are_paged_in_due_order_and_each_is_claimed_by_one_caller_only(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let other_stream = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let mut batch: Vec<_> = (0..7)
        .map(|_| new(s, Some(EventId::new()), DeliveryState::Pending))
        .collect();
    let elsewhere = new(other_stream, Some(EventId::new()), DeliveryState::Pending);
    let mut later = new(s, Some(EventId::new()), DeliveryState::Pending);
    later.next_attempt_at = Some(Utc::now() + Duration::hours(1));
    batch.sort_by_key(|x| x.id);
    d.insert_many(&batch).await.unwrap();
    d.insert_many(&[elsewhere.clone(), later.clone()])
        .await
        .unwrap();
    let due = DueDeliveries {
        before: Utc::now(),
        stream: Some(s),
        scheduled_only: false,
    };
    // Keyset pages of three: 3 + 3 + 1, in due order (here also by id), nothing twice, nothing not yet due, nothing
    // of another stream.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = d.due_page(&due, after, 3).await.unwrap();
        assert!(page.ids.len() <= 3);
        if page.ids.is_empty() {
            break;
        }
        seen.extend(page.ids);
        after = page.last;
    }
    assert_eq!(seen, batch.iter().map(|x| x.id).collect::<Vec<_>>());
    // Two callers claim the same page: each delivery goes to exactly one of them, leased.
    let lease = Utc::now() + Duration::minutes(1);
    let a = d.claim(&seen[..5], &due, lease).await.unwrap();
    let b = d.claim(&seen, &due, lease).await.unwrap();
    assert_eq!(a.len(), 5);
    assert_eq!(b.len(), 2, "only those the first left");
    let mut both: Vec<_> = a.iter().chain(&b).map(|x| x.id).collect();
    both.sort();
    assert_eq!(both, seen);
    assert!(
        b.iter()
            .all(|x| x.next_attempt_at.is_some_and(|n| n >= lease))
    );
    assert!(
        d.due_page(&due, None, 10).await.unwrap().ids.is_empty(),
        "leased: no longer due"
    );
    // A claim through another tenant takes nothing.
    let other = tenant(db.store(), "b").await;
    let late = DueDeliveries {
        before: Utc::now() + Duration::hours(2),
        ..due
    };
    assert!(
        db.store()
            .scope(other.id)
            .deliveries()
            .claim(&seen, &late, lease)
            .await
            .unwrap()
            .is_empty()
    );
    // When the lease ends, they are due again (their process died).
    let expired = d.due_page(&late, None, 100).await.unwrap().ids;
    assert_eq!(expired.len(), 8, "the seven leased and the later one");
}

async fn only_scheduled_deliveries_are_taken_before_they_are_overdue(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let fresh = new(s, Some(EventId::new()), DeliveryState::Pending);
    let retried = new(s, Some(EventId::new()), DeliveryState::Pending);
    let waiting = new(s, Some(EventId::new()), DeliveryState::Pending);
    d.insert_many(&[fresh.clone(), retried.clone(), waiting.clone()])
        .await
        .unwrap();
    assert_eq!(d.next_scheduled().await.unwrap(), None);
    let soon = Utc::now() + Duration::seconds(30);
    let update = |id, change| Update {
        id,
        at: Utc::now(),
        attempted: matches!(change, Change::Retry { .. }),
        change,
    };
    d.apply(
        &[
            update(
                retried.id,
                Change::Retry {
                    next_attempt_at: soon,
                    status: Some(503),
                    error: "busy".into(),
                },
            ),
            update(
                waiting.id,
                Change::Reschedule {
                    next_attempt_at: soon + Duration::hours(1),
                },
            ),
        ],
        &[],
    )
    .await
    .unwrap();
    let next = d.next_scheduled().await.unwrap().unwrap();
    assert!(
        (next - soon).num_milliseconds().abs() <= 1,
        "{next} vs {soon}"
    );
    let got = d.get(waiting.id).await.unwrap();
    assert_eq!(got.state, DeliveryState::Pending);
    assert_eq!(got.attempts, 0, "a wait is not an attempt");
    let scheduled = |before| DueDeliveries {
        before,
        stream: None,
        scheduled_only: true,
    };
    assert!(
        d.due_page(&scheduled(Utc::now()), None, 10)
            .await
            .unwrap()
            .ids
            .is_empty(),
        "not yet due"
    );
    // The first attempt, due since it was stored, is not scheduled: the process that stored
    // it may hold it.
    let later = Utc::now() + Duration::seconds(40);
    assert_eq!(
        d.due_page(&scheduled(later), None, 10).await.unwrap().ids,
        vec![retried.id]
    );
    let any = DueDeliveries {
        before: later,
        stream: None,
        scheduled_only: false,
    };
    let mut all = d.due_page(&any, None, 10).await.unwrap().ids;
    all.sort();
    let mut want = vec![fresh.id, retried.id];
    want.sort();
    assert_eq!(all, want);
}

async fn due_pages_follow_the_due_time_not_the_row_id(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    // Five rows made in id order, due in the opposite order; two more due at one instant.
    let base = Utc::now() - Duration::minutes(10);
    let mut rows: Vec<_> = (0..7)
        .map(|_| new(s, Some(EventId::new()), DeliveryState::Pending))
        .collect();
    for (i, r) in rows.iter_mut().enumerate().take(5) {
        r.next_attempt_at = Some(base + Duration::seconds(10 - i64::try_from(i).unwrap()));
    }
    rows[5].next_attempt_at = Some(base);
    rows[6].next_attempt_at = Some(base);
    d.insert_many(&rows).await.unwrap();
    let due = DueDeliveries {
        before: Utc::now(),
        stream: None,
        scheduled_only: false,
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = d.due_page(&due, after, 2).await.unwrap();
        if page.ids.is_empty() {
            break;
        }
        seen.extend(page.ids);
        after = page.last;
    }
    // The two due first (one instant, then by id), then the five latest made first.
    let want: Vec<_> = [5, 6, 4, 3, 2, 1, 0].iter().map(|&i| rows[i].id).collect();
    assert_eq!(seen, want);
}

async fn renewing_held_deliveries_keeps_them_from_other_processes_and_writes_only_those_near_their_end(
    db: TestDb,
) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    // Held in memory for ten minutes (a lane behind a slow receiver), and just made.
    let mut held = new(s, Some(EventId::new()), DeliveryState::Pending);
    held.next_attempt_at = Some(Utc::now() - Duration::minutes(10));
    let fresh = new(s, Some(EventId::new()), DeliveryState::Pending);
    // Claimed by this process: one lease ends in 10 s, one in an hour.
    let ending = new(s, Some(EventId::new()), DeliveryState::Pending);
    let long = new(s, Some(EventId::new()), DeliveryState::Pending);
    let done = new(s, Some(EventId::new()), DeliveryState::Delivered);
    d.insert_many(&[
        held.clone(),
        fresh.clone(),
        ending.clone(),
        long.clone(),
        done.clone(),
    ])
    .await
    .unwrap();
    let due_now = DueDeliveries {
        before: Utc::now(),
        stream: None,
        scheduled_only: false,
    };
    let in_10s = Utc::now() + Duration::seconds(10);
    assert_eq!(
        d.claim(&[ending.id], &due_now, in_10s).await.unwrap().len(),
        1
    );
    let in_1h = Utc::now() + Duration::hours(1);
    assert_eq!(d.claim(&[long.id], &due_now, in_1h).await.unwrap().len(), 1);
    let fresh_was = d.get(fresh.id).await.unwrap();
    let long_was = d.get(long.id).await.unwrap();

    // Another tenant's scope renews nothing, whatever ids it is given.
    let other = tenant(db.store(), "b").await;
    let all = [held.id, fresh.id, ending.id, long.id, done.id];
    let margin = Duration::seconds(30);
    let now = Utc::now();
    let renewed = db
        .store()
        .scope(other.id)
        .deliveries()
        .renew(&all, now - margin, now + margin)
        .await
        .unwrap();
    assert_eq!(renewed, 0);

    // Only the two near being taken are written.
    let now = Utc::now();
    assert_eq!(d.renew(&all, now - margin, now + margin).await.unwrap(), 2);
    assert_eq!(
        d.get(fresh.id).await.unwrap(),
        fresh_was,
        "a fresh one is not written"
    );
    assert_eq!(
        d.get(long.id).await.unwrap(),
        long_was,
        "a long lease is not written"
    );
    assert_eq!(
        d.get(done.id).await.unwrap().state,
        DeliveryState::Delivered
    );

    // Another process's recovery sweep (overdue by a minute) finds neither renewed one, and
    // its retry scheduler finds the claim whose lease ended no longer scheduled.
    let overdue = DueDeliveries {
        before: Utc::now() - Duration::minutes(1),
        stream: None,
        scheduled_only: false,
    };
    assert!(d.due_page(&overdue, None, 10).await.unwrap().ids.is_empty());
    let scheduled = DueDeliveries {
        before: in_10s + Duration::seconds(5),
        stream: None,
        scheduled_only: true,
    };
    assert!(
        d.due_page(&scheduled, None, 10)
            .await
            .unwrap()
            .ids
            .is_empty()
    );
    assert!(d.claim(&all, &overdue, in_1h).await.unwrap().is_empty());

    // When the renewals stop (the owner died), they are overdue once the time has passed.
    let later = DueDeliveries {
        before: Utc::now() + Duration::seconds(1),
        stream: None,
        scheduled_only: false,
    };
    let mut taken = d.due_page(&later, None, 10).await.unwrap().ids;
    taken.sort();
    let mut want = vec![held.id, fresh.id, ending.id];
    want.sort();
    assert_eq!(taken, want);
}
