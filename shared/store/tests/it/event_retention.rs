//! The event retention on both backends: old events are pruned once no delivery row names
//! them, in batches, tenant by tenant.

use chrono::{Duration, Utc};
use sethub_store::testing::TestDb;
use sethub_store::{Change, DeliveryState, StoreError, Update};

use crate::deliveries::{new, stream};
use crate::support::{new_event, tenant};

contract!(old_events_are_pruned_once_no_delivery_names_them_and_recent_ones_never_are);

async fn old_events_are_pruned_once_no_delivery_names_them_and_recent_ones_never_are(db: TestDb) {
    let (a, b) = (tenant(db.store(), "a").await, tenant(db.store(), "b").await);
    let s = stream(db.store(), a.id).await;
    let events = db.store().scope(a.id).events();
    let made: Vec<_> = (0..6).map(|_| new_event(None)).collect();
    let ids: Vec<_> = made.iter().map(|e| e.id).collect();
    events.insert_many(made).await.unwrap();
    let theirs = new_event(None);
    let their_id = theirs.id;
    db.store()
        .scope(b.id)
        .events()
        .insert_many(vec![theirs])
        .await
        .unwrap();
    // Events 3, 4 and 5 are still named: by a pending delivery, a dead one and a delivered
    // one (its SET not yet pruned).
    let d = db.store().scope(a.id).deliveries();
    let pending = new(s, Some(ids[3]), DeliveryState::Pending);
    let dead = new(s, Some(ids[4]), DeliveryState::Pending);
    let delivered = new(s, Some(ids[5]), DeliveryState::Pending);
    d.insert_many(&[pending.clone(), dead.clone(), delivered.clone()])
        .await
        .unwrap();
    let long_ago = Utc::now() - Duration::days(100);
    let settle = |id, change| Update {
        id,
        at: long_ago,
        attempted: true,
        change,
    };
    d.apply(
        &[
            settle(
                dead.id,
                Change::Dead {
                    status: Some(400),
                    error: "invalid_request".into(),
                },
            ),
            settle(delivered.id, Change::Delivered { status: 202 }),
        ],
        &[],
    )
    .await
    .unwrap();

    // Within the window: nothing is old enough, and no tenant is visited.
    let window = Utc::now() - Duration::days(90);
    assert!(
        db.store()
            .tenants_with_events_before(window)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(events.prune(window, 2).await.unwrap(), 0);

    // Past it (a cutoff after they were received): the three no delivery names go, two a
    // statement, and only the tenant's own.
    let cutoff = Utc::now() + Duration::minutes(1);
    let mut visited = db.store().tenants_with_events_before(cutoff).await.unwrap();
    visited.sort();
    let mut both = vec![a.id, b.id];
    both.sort();
    assert_eq!(visited, both);
    assert_eq!(events.prune(cutoff, 2).await.unwrap(), 3);
    for id in &ids[..3] {
        assert!(matches!(events.get(*id).await, Err(StoreError::NotFound)));
    }
    for id in &ids[3..] {
        assert_eq!(events.get(*id).await.unwrap().id, *id, "still named");
    }
    assert_eq!(
        db.store()
            .scope(b.id)
            .events()
            .get(their_id)
            .await
            .unwrap()
            .id,
        their_id,
        "another tenant's event is left to its own pruning"
    );
    assert_eq!(events.prune(cutoff, 2).await.unwrap(), 0);

    // Once the delivered SET is pruned, its event goes at the next pass.
    let pruned = d
        .prune_delivered(Utc::now() - Duration::days(90), 10)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(events.prune(cutoff, 2).await.unwrap(), 1);
    assert!(matches!(
        events.get(ids[5]).await,
        Err(StoreError::NotFound)
    ));
    assert!(events.get(ids[3]).await.is_ok() && events.get(ids[4]).await.is_ok());
}
