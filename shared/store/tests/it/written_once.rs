//! Deliveries whose first push succeeded before their rows were stored are stored delivered,
//! with their attempts, in one write (`Deliveries::insert_many_delivered`), on both backends.

use chrono::{Duration, Utc};
use sethub_domain::EventId;
use sethub_store::testing::TestDb;
use sethub_store::{Attempt, DeliveryState, FirstDelivered, NewDelivery};

use crate::deliveries::{new, stream};
use crate::support::tenant;

contract!(
    first_deliveries_are_stored_delivered_with_their_attempt_and_the_rest_pending,
    a_repeat_keeps_its_stored_row_and_logs_no_attempt_for_it,
);

fn first(d: &NewDelivery, status: u16) -> FirstDelivered {
    let at = Utc::now();
    FirstDelivered {
        id: d.id,
        status,
        at,
        attempt: Attempt {
            delivery_id: d.id,
            stream_id: d.stream_id,
            attempted_at: at - Duration::milliseconds(3),
            status: Some(status),
            latency_ms: 3,
            outcome: "delivered".into(),
            error: None,
            response_excerpt: Some("ok".into()),
        },
    }
}

async fn first_deliveries_are_stored_delivered_with_their_attempt_and_the_rest_pending(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let took = new(s, Some(EventId::new()), DeliveryState::Pending);
    let slow = new(s, Some(EventId::new()), DeliveryState::Pending);
    let queued = new(s, Some(EventId::new()), DeliveryState::Queued);
    let done = first(&took, 200);
    let n = d
        .insert_many_delivered(
            &[took.clone(), slow.clone(), queued.clone()],
            std::slice::from_ref(&done),
        )
        .await
        .unwrap();
    assert_eq!(n, 3);

    let got = d.get(took.id).await.unwrap();
    assert_eq!(got.state, DeliveryState::Delivered);
    assert_eq!(got.attempts, 1);
    assert_eq!(got.last_status, Some(200));
    assert_eq!(got.next_attempt_at, None);
    let at = done.at.timestamp_micros();
    assert_eq!(got.delivered_at.map(|t| t.timestamp_micros()), Some(at));
    assert_eq!(got.first_attempt_at.map(|t| t.timestamp_micros()), Some(at));
    assert_eq!(got.updated_at.timestamp_micros(), at);
    let log = d.attempts_for_delivery(took.id).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].status, Some(200));
    assert_eq!(log[0].outcome, "delivered");
    assert_eq!(log[0].response_excerpt.as_deref(), Some("ok"));

    // The others are stored as they were made: nothing of the first delivery leaks to them.
    let got = d.get(slow.id).await.unwrap();
    assert_eq!(got.state, DeliveryState::Pending);
    assert_eq!(got.attempts, 0);
    assert!(got.next_attempt_at.is_some() && got.delivered_at.is_none());
    assert!(d.attempts_for_delivery(slow.id).await.unwrap().is_empty());
    assert_eq!(d.get(queued.id).await.unwrap().state, DeliveryState::Queued);
    // A delivered one is no longer pending: no sweep or scheduler looks at it.
    assert_eq!(d.count_in_state(DeliveryState::Pending).await.unwrap(), 1);
}

async fn a_repeat_keeps_its_stored_row_and_logs_no_attempt_for_it(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let event = EventId::new();
    let stored = new(s, Some(event), DeliveryState::Pending);
    d.insert_many(std::slice::from_ref(&stored)).await.unwrap();
    // The same (stream, event) signed again (a redelivered message) and delivered at once.
    let again = new(s, Some(event), DeliveryState::Pending);
    let other = new(s, Some(EventId::new()), DeliveryState::Pending);
    let n = d
        .insert_many_delivered(
            &[again.clone(), other.clone()],
            &[first(&again, 202), first(&other, 202)],
        )
        .await
        .unwrap();
    assert_eq!(n, 1, "only the new pair is stored");
    assert!(matches!(
        d.get(again.id).await,
        Err(sethub_store::StoreError::NotFound)
    ));
    assert!(d.attempts_for_delivery(again.id).await.unwrap().is_empty());
    let kept = d.get(stored.id).await.unwrap();
    assert_eq!(
        kept.state,
        DeliveryState::Pending,
        "the stored row is unchanged"
    );
    assert!(d.attempts_for_delivery(stored.id).await.unwrap().is_empty());
    assert_eq!(
        d.get(other.id).await.unwrap().state,
        DeliveryState::Delivered
    );
    assert_eq!(d.attempts_for_delivery(other.id).await.unwrap().len(), 1);
}
