//! The repository contract, run on PostgreSQL and on SQLite (one test per backend each).

use chrono::{Duration, Utc};
use sethub_domain::{ApiKeyId, EventId, ReceiverId, SigningKeyId};
use sethub_store::testing::TestDb;
use sethub_store::{InsertOutcome, SigningKeyState, StoreError};

use crate::support::{new_event, new_key, new_receiver, new_signing_key, seed, tenant, unique};

contract!(
    a_taken_tenant_slug_is_a_conflict_naming_the_slug,
    tenants_are_found_by_id_and_slug_and_listed,
    an_api_key_is_found_by_its_hash_until_it_is_revoked,
    an_api_key_hash_is_unique,
    an_event_with_a_repeated_idempotency_key_returns_the_first_event,
    an_idempotency_key_past_its_window_is_given_up_to_a_new_event,
    events_are_listed_by_time_range_with_a_limit,
    an_event_is_stored_unpublished_and_marked_published_once,
    a_repeated_event_id_is_a_conflict,
    signing_keys_rotate_in_one_transaction_and_two_active_keys_conflict,
    receivers_are_created_and_found_by_id_and_client_id,
    a_failed_transaction_leaves_nothing_behind,
    a_scope_for_tenant_a_never_returns_tenant_b_rows_through_any_repository_method,
    writing_for_a_tenant_that_does_not_exist_is_not_found,
    concurrent_inserts_with_one_idempotency_key_store_one_event,
);

/// Fanout workers run repositories in spawned tasks: their futures must be `Send`.
#[allow(dead_code)]
fn repository_futures_are_send(store: &sethub_store::Store, id: EventId) {
    fn send<T: Send>(_: T) {}
    let scope = store.scope(sethub_domain::TenantId::new());
    send(scope.events().get(id));
    send(scope.events().insert(new_event(None)));
    send(scope.api_keys().list());
    send(scope.begin());
    send(scope.transaction(|tx| Box::pin(async move { tx.receivers().list().await })));
    send(store.tenants().list());
}

async fn a_taken_tenant_slug_is_a_conflict_naming_the_slug(db: TestDb) {
    let slug = unique("acme");
    db.store().tenants().create(&slug, "Acme").await.unwrap();
    let err = db
        .store()
        .tenants()
        .create(&slug, "Acme again")
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict { what } => assert!(what.contains(&slug), "{what}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn tenants_are_found_by_id_and_slug_and_listed(db: TestDb) {
    let tenants = db.store().tenants();
    let a = tenant(db.store(), "a").await;
    let b = tenant(db.store(), "b").await;
    assert_eq!(tenants.get(a.id).await.unwrap(), a);
    assert_eq!(
        tenants.find_by_slug(&b.slug).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(tenants.find_by_slug("nobody").await.unwrap(), None);
    assert!(matches!(
        tenants.get(sethub_domain::TenantId::new()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(tenants.list().await.unwrap(), vec![a, b]);
}

async fn an_api_key_is_found_by_its_hash_until_it_is_revoked(db: TestDb) {
    let t = tenant(db.store(), "t").await;
    let keys = db.store().scope(t.id).api_keys();
    let new = new_key("ci");
    let hash = new.secret_hash.clone();
    let key = keys.create(new).await.unwrap();
    assert_eq!(key.tenant_id, t.id);
    assert_eq!(key.scopes, vec!["events:publish".to_owned()]);
    assert!(key.is_active());

    assert_eq!(
        keys.find_active_by_hash(&hash).await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(keys.find_active_by_hash("other").await.unwrap(), None);
    assert_eq!(keys.list().await.unwrap(), vec![key.clone()]);

    let used = Utc::now();
    keys.touch_last_used(key.id, used).await.unwrap();
    let touched = keys.get(key.id).await.unwrap();
    assert_eq!(
        touched.last_used_at.unwrap().timestamp_micros(),
        used.timestamp_micros()
    );

    let revoked = keys.revoke(key.id).await.unwrap();
    let revoked_at = revoked.revoked_at.expect("revoked");
    assert_eq!(keys.find_active_by_hash(&hash).await.unwrap(), None);
    assert_eq!(
        keys.revoke(key.id).await.unwrap().revoked_at,
        Some(revoked_at),
        "revoking twice keeps the time"
    );
    assert_eq!(
        keys.list().await.unwrap().len(),
        1,
        "revoked keys are still listed"
    );

    assert!(matches!(
        keys.revoke(ApiKeyId::new()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        keys.touch_last_used(ApiKeyId::new(), used).await,
        Err(StoreError::NotFound)
    ));
}

async fn an_api_key_hash_is_unique(db: TestDb) {
    let t = tenant(db.store(), "t").await;
    let keys = db.store().scope(t.id).api_keys();
    let new = new_key("one");
    keys.create(new.clone()).await.unwrap();
    assert!(matches!(
        keys.create(new).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn an_event_with_a_repeated_idempotency_key_returns_the_first_event(db: TestDb) {
    let (a, b) = (tenant(db.store(), "a").await, tenant(db.store(), "b").await);
    let events = db.store().scope(a.id).events();

    let first = events.insert(new_event(Some("k1"))).await.unwrap();
    let InsertOutcome::Inserted(first) = first else {
        panic!("first insert: {first:?}")
    };
    assert_eq!(events.get(first.id).await.unwrap(), first);

    let mut again = new_event(Some("k1"));
    again.payload = serde_json::json!({"different": true});
    let again_id = again.id;
    match events.insert(again).await.unwrap() {
        InsertOutcome::Duplicate(existing) => assert_eq!(existing, first),
        other => panic!("expected the first event back, got {other:?}"),
    }
    assert!(
        matches!(events.get(again_id).await, Err(StoreError::NotFound)),
        "the repeat was not stored"
    );

    // Without a key every event is new; the same key in another tenant is another event.
    assert!(!events.insert(new_event(None)).await.unwrap().is_duplicate());
    assert!(!events.insert(new_event(None)).await.unwrap().is_duplicate());
    assert!(
        !db.store()
            .scope(b.id)
            .events()
            .insert(new_event(Some("k1")))
            .await
            .unwrap()
            .is_duplicate()
    );
}

async fn an_idempotency_key_past_its_window_is_given_up_to_a_new_event(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let events = db.store().scope(t.id).events();
    let first = events
        .insert(new_event(Some("k1")))
        .await
        .unwrap()
        .into_event();
    // Within the window (an hour): the first event comes back, nothing is stored.
    let within = events
        .insert_many_within(vec![new_event(Some("k1"))], Some(Duration::hours(1)))
        .await
        .unwrap();
    assert_eq!(
        within.outcomes,
        vec![InsertOutcome::Duplicate(first.clone())]
    );
    // Past the window (none: the first was received before this call): a new event takes
    // the key, and the first stays, without it.
    let past = events
        .insert_many_within(vec![new_event(Some("k1"))], Some(Duration::zero()))
        .await
        .unwrap();
    let [InsertOutcome::Inserted(second)] = past.outcomes.as_slice() else {
        panic!("expected a new event, got {:?}", past.outcomes)
    };
    assert_ne!(second.id, first.id);
    assert_eq!(events.get(first.id).await.unwrap().idempotency_key, None);
    assert_eq!(
        events
            .get(second.id)
            .await
            .unwrap()
            .idempotency_key
            .as_deref(),
        Some("k1")
    );
    // The key is the new event's now.
    let again = events
        .insert_many_within(vec![new_event(Some("k1"))], Some(Duration::hours(1)))
        .await
        .unwrap();
    assert_eq!(again.outcomes[0].event().id, second.id);
    assert!(again.outcomes[0].is_duplicate());
}

async fn an_event_is_stored_unpublished_and_marked_published_once(db: TestDb) {
    let (a, b) = (tenant(db.store(), "a").await, tenant(db.store(), "b").await);
    let events = db.store().scope(a.id).events();
    let stored = events.insert(new_event(None)).await.unwrap().into_event();
    assert_eq!(stored.published_at, None);
    assert_eq!(events.get(stored.id).await.unwrap().published_at, None);

    // Another tenant cannot mark it.
    assert!(
        !db.store()
            .scope(b.id)
            .events()
            .mark_published(stored.id)
            .await
            .unwrap()
    );
    assert_eq!(events.get(stored.id).await.unwrap().published_at, None);

    assert!(events.mark_published(stored.id).await.unwrap());
    let first = events.get(stored.id).await.unwrap().published_at.unwrap();
    assert!(
        !events.mark_published(stored.id).await.unwrap(),
        "only the first call marks"
    );
    assert_eq!(
        events.get(stored.id).await.unwrap().published_at,
        Some(first)
    );
    assert!(!events.mark_published(EventId::new()).await.unwrap());
}

async fn events_are_listed_by_time_range_with_a_limit(db: TestDb) {
    let t = tenant(db.store(), "t").await;
    let events = db.store().scope(t.id).events();
    let before = Utc::now() - Duration::seconds(1);
    let mut stored = Vec::new();
    for _ in 0..3 {
        stored.push(events.insert(new_event(None)).await.unwrap().into_event());
    }
    let after = Utc::now() + Duration::seconds(1);

    let all = events.list_received(before, after, 10).await.unwrap();
    assert_eq!(all, stored);
    assert_eq!(
        events.list_received(before, after, 2).await.unwrap(),
        stored[..2].to_vec()
    );
    assert!(
        events
            .list_received(after, after + Duration::hours(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        events
            .list_received(before - Duration::hours(1), before, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        events
            .list_received(stored[2].received_at, after, 10)
            .await
            .unwrap()
            .last(),
        Some(&stored[2])
    );
}

async fn a_repeated_event_id_is_a_conflict(db: TestDb) {
    let t = tenant(db.store(), "t").await;
    let events = db.store().scope(t.id).events();
    let e = new_event(None);
    events.insert(e.clone()).await.unwrap();
    assert!(matches!(
        events.insert(e).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn signing_keys_rotate_in_one_transaction_and_two_active_keys_conflict(db: TestDb) {
    let t = tenant(db.store(), "t").await;
    let scope = db.store().scope(t.id);
    let old = scope
        .signing_keys()
        .insert(new_signing_key(SigningKeyState::Active))
        .await
        .unwrap();
    assert!(old.activated_at.is_some());
    assert_eq!(old.sealed_private, vec![1, 2, 3, 4]);
    let next = scope
        .signing_keys()
        .insert(new_signing_key(SigningKeyState::Next))
        .await
        .unwrap();
    assert!(next.activated_at.is_none());
    assert!(matches!(
        scope
            .signing_keys()
            .insert(new_signing_key(SigningKeyState::Active))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        scope
            .signing_keys()
            .set_state(next.id, SigningKeyState::Active, Utc::now())
            .await,
        Err(StoreError::Conflict { .. })
    ));

    let at = Utc::now();
    let (old_id, next_id) = (old.id, next.id);
    scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.signing_keys()
                    .set_state(old_id, SigningKeyState::Retiring, at)
                    .await?;
                tx.signing_keys()
                    .set_state(next_id, SigningKeyState::Active, at)
                    .await
            })
        })
        .await
        .unwrap();

    let active = scope.signing_keys().active().await.unwrap().unwrap();
    assert_eq!(active.id, next.id);
    assert_eq!(
        active.activated_at.unwrap().timestamp_micros(),
        at.timestamp_micros()
    );
    let retiring = scope.signing_keys().get(old.id).await.unwrap();
    assert_eq!(retiring.state, SigningKeyState::Retiring);
    assert_eq!(
        retiring.activated_at, old.activated_at,
        "earlier timestamps are kept"
    );
    assert!(retiring.retiring_at.is_some());
    let listed: Vec<_> = scope
        .signing_keys()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec![old.id, next.id]);
    assert!(matches!(
        scope
            .signing_keys()
            .set_state(SigningKeyId::new(), SigningKeyState::Retired, at)
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn receivers_are_created_and_found_by_id_and_client_id(db: TestDb) {
    let (a, b) = (tenant(db.store(), "a").await, tenant(db.store(), "b").await);
    let receivers = db.store().scope(a.id).receivers();
    let new = new_receiver("r1");
    let client_id = new.client_id.clone();
    let r = receivers.create(new.clone()).await.unwrap();
    assert_eq!(r.tenant_id, a.id);
    assert_eq!(receivers.get(r.id).await.unwrap(), r);
    assert_eq!(
        receivers.find_by_client_id(&client_id).await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(receivers.find_by_client_id("nobody").await.unwrap(), None);
    assert_eq!(receivers.list().await.unwrap(), vec![r]);
    assert!(matches!(
        receivers.get(ReceiverId::new()).await,
        Err(StoreError::NotFound)
    ));
    // client ids are unique across tenants.
    match db.store().scope(b.id).receivers().create(new).await {
        Err(StoreError::Conflict { what }) => assert!(what.contains(&client_id), "{what}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn a_failed_transaction_leaves_nothing_behind(db: TestDb) {
    let t = tenant(db.store(), "t").await;
    let scope = db.store().scope(t.id);
    let result: Result<(), StoreError> = scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.api_keys().create(new_key("in tx")).await?;
                tx.receivers().create(new_receiver("in tx")).await?;
                Err(StoreError::NotFound)
            })
        })
        .await;
    assert!(matches!(result, Err(StoreError::NotFound)));
    assert!(scope.api_keys().list().await.unwrap().is_empty());
    assert!(scope.receivers().list().await.unwrap().is_empty());

    // A dropped `begin()` rolls back; a committed one keeps its writes.
    {
        let tx = scope.begin().await.unwrap();
        tx.api_keys().create(new_key("dropped")).await.unwrap();
    }
    assert!(scope.api_keys().list().await.unwrap().is_empty());
    let tx = scope.begin().await.unwrap();
    let key = tx.api_keys().create(new_key("kept")).await.unwrap();
    assert_eq!(
        tx.api_keys().list().await.unwrap(),
        vec![key.clone()],
        "visible inside the transaction"
    );
    tx.commit().await.unwrap();
    assert_eq!(scope.api_keys().list().await.unwrap(), vec![key]);
}

async fn a_scope_for_tenant_a_never_returns_tenant_b_rows_through_any_repository_method(
    db: TestDb,
) {
    let (a, b) = (tenant(db.store(), "a").await, tenant(db.store(), "b").await);
    let bs = seed(db.store(), &b).await;
    let now = Utc::now();
    let scope = db.store().scope(a.id);

    let keys = scope.api_keys();
    assert!(keys.list().await.unwrap().is_empty());
    assert_eq!(keys.find_active_by_hash(&bs.key_hash).await.unwrap(), None);
    assert!(matches!(
        keys.get(bs.key.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        keys.revoke(bs.key.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        keys.touch_last_used(bs.key.id, now).await,
        Err(StoreError::NotFound)
    ));

    let signing = scope.signing_keys();
    assert!(signing.list().await.unwrap().is_empty());
    assert_eq!(signing.active().await.unwrap(), None);
    assert!(matches!(
        signing.get(bs.signing_key.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        signing
            .set_state(bs.signing_key.id, SigningKeyState::Retired, now)
            .await,
        Err(StoreError::NotFound)
    ));

    let receivers = scope.receivers();
    assert!(receivers.list().await.unwrap().is_empty());
    assert!(matches!(
        receivers.get(bs.receiver.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        receivers
            .find_by_client_id(&bs.receiver.client_id)
            .await
            .unwrap(),
        None
    );

    let events = scope.events();
    assert!(matches!(
        events.get(bs.event.id).await,
        Err(StoreError::NotFound)
    ));
    let wide = (now - Duration::days(1), now + Duration::days(1));
    assert!(
        events
            .list_received(wide.0, wide.1, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let mine = events
        .insert(new_event(bs.event.idempotency_key.as_deref()))
        .await
        .unwrap();
    assert!(
        !mine.is_duplicate(),
        "B's idempotency key does not make A's event a duplicate"
    );
    assert!(
        events
            .list_received(wide.0, wide.1, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| e.tenant_id == a.id)
    );

    // B's rows are untouched.
    let b_scope = db.store().scope(b.id);
    assert_eq!(b_scope.api_keys().get(bs.key.id).await.unwrap(), bs.key);
    assert_eq!(
        b_scope.signing_keys().get(bs.signing_key.id).await.unwrap(),
        bs.signing_key
    );
    assert_eq!(
        b_scope.receivers().get(bs.receiver.id).await.unwrap(),
        bs.receiver
    );
    assert_eq!(b_scope.events().get(bs.event.id).await.unwrap(), bs.event);
}

async fn writing_for_a_tenant_that_does_not_exist_is_not_found(db: TestDb) {
    let scope = db.store().scope(sethub_domain::TenantId::new());
    assert!(matches!(
        scope.api_keys().create(new_key("x")).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        scope.events().insert(new_event(None)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        scope.events().get(EventId::new()).await,
        Err(StoreError::NotFound)
    ));
}

async fn concurrent_inserts_with_one_idempotency_key_store_one_event(db: TestDb) {
    let t = tenant(db.store(), "t").await;
    let scope = db.store().scope(t.id);
    let (events_1, events_2) = (scope.events(), scope.events());
    let (one, two) = tokio::join!(
        events_1.insert(new_event(Some("race"))),
        events_2.insert(new_event(Some("race")))
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.event(), two.event(), "both callers get the same event");
    assert!(
        one.is_duplicate() != two.is_duplicate(),
        "exactly one inserted: {one:?} {two:?}"
    );
}
