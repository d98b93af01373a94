//! Replay generations, the audit log, upstream transmitters and event ranges, on PostgreSQL
//! and SQLite.

use chrono::{Duration, Utc};
use serde_json::json;
use sethub_domain::EventId;
use sethub_store::testing::TestDb;
use sethub_store::{DeliveryState, NewAuditEntry, NewUpstream, StoreError};

use crate::deliveries::{new, stream};
use crate::support::{new_event, tenant};

contract!(
    a_replay_stores_a_new_generation_beside_the_first_delivery,
    audit_entries_commit_and_roll_back_with_the_change,
    upstream_transmitters_are_unique_per_issuer_and_tenant,
    events_are_listed_by_time_and_id_range,
    a_poll_streams_dead_sets_are_redriven_to_the_queue,
    events_and_deliveries_are_counted_per_hour,
    the_event_log_filters_by_type_subject_and_time,
);

async fn a_replay_stores_a_new_generation_beside_the_first_delivery(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let event = EventId::new();
    let first = new(s, Some(event), DeliveryState::Pending);
    assert_eq!(
        d.insert_many(std::slice::from_ref(&first)).await.unwrap(),
        1
    );
    // Fan-out again (a redelivered message): nothing new.
    let again = new(s, Some(event), DeliveryState::Pending);
    assert_eq!(d.insert_many(&[again]).await.unwrap(), 0);
    // A replay of the same event to the same stream stands beside it.
    let replayed = new(s, Some(event), DeliveryState::Pending);
    assert_eq!(
        d.insert_replay(std::slice::from_ref(&replayed), 7)
            .await
            .unwrap(),
        1
    );
    let got = d.get(replayed.id).await.unwrap();
    assert_eq!((got.generation, got.event_id), (7, Some(event)));
    assert_eq!(d.get(first.id).await.unwrap().generation, 0);
    // The same replay twice adds nothing; generation 0 is the fan-out's own.
    assert_eq!(
        d.insert_replay(&[new(s, Some(event), DeliveryState::Pending)], 7)
            .await
            .unwrap(),
        0
    );
    assert!(matches!(
        d.insert_replay(&[new(s, Some(event), DeliveryState::Pending)], 0)
            .await,
        Err(StoreError::Config(_))
    ));
    assert_eq!(d.for_event(event).await.unwrap().len(), 2);
}

async fn audit_entries_commit_and_roll_back_with_the_change(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let other = tenant(db.store(), "b").await;
    let entry = |action: &str, target: &str| NewAuditEntry {
        actor: "api_key:key_1".into(),
        action: action.into(),
        target: Some(target.into()),
        details: json!({ "n": 1 }),
    };
    let scope = db.store().scope(t.id);
    let tx = scope.begin().await.unwrap();
    tx.audit()
        .record(entry("deliveries.redrive", "str_x"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(scope.audit().list(None, None, 10).await.unwrap().is_empty());
    let tx = scope.begin().await.unwrap();
    let a = tx
        .audit()
        .record(entry("deliveries.redrive", "str_x"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let b = scope
        .audit()
        .record(entry("events.replay", "str_y"))
        .await
        .unwrap();
    let all = scope.audit().list(None, None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![b.id, a.id]
    );
    assert_eq!(all[1], a);
    let y = scope.audit().list(Some("str_y"), None, 10).await.unwrap();
    assert_eq!(y.len(), 1);
    assert_eq!(y[0].action, "events.replay");
    let older = scope.audit().list(None, Some(b.id), 10).await.unwrap();
    assert_eq!(older.iter().map(|e| e.id).collect::<Vec<_>>(), vec![a.id]);
    assert!(
        db.store()
            .scope(other.id)
            .audit()
            .list(None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn upstream_transmitters_are_unique_per_issuer_and_tenant(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let other = tenant(db.store(), "b").await;
    let up = |iss: &str| NewUpstream {
        issuer: iss.into(),
        audience: "https://hub.example".into(),
        jwks_url: None,
        jwks: Some(json!({ "keys": [] })),
    };
    let scope = db.store().scope(t.id);
    let a = scope
        .upstreams()
        .create(up("https://idp.example"))
        .await
        .unwrap();
    assert!(matches!(
        scope.upstreams().create(up("https://idp.example")).await,
        Err(StoreError::Conflict { .. })
    ));
    // Another tenant may register the same issuer, and never sees this one.
    let theirs = db.store().scope(other.id).upstreams();
    theirs.create(up("https://idp.example")).await.unwrap();
    assert!(matches!(theirs.get(a.id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        theirs.delete(a.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        scope
            .upstreams()
            .by_issuer("https://idp.example")
            .await
            .unwrap(),
        a
    );
    assert_eq!(scope.upstreams().list().await.unwrap(), vec![a.clone()]);
    scope.upstreams().delete(a.id).await.unwrap();
    assert!(matches!(
        scope.upstreams().by_issuer("https://idp.example").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(theirs.list().await.unwrap().len(), 1);
}

async fn events_are_listed_by_time_and_id_range(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let events = db.store().scope(t.id).events();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(events.insert(new_event(None)).await.unwrap().event().id);
    }
    let got = |v: Vec<sethub_store::StoredEvent>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let all = events
        .list_range(
            Some(Utc::now() - Duration::hours(1)),
            None,
            None,
            None,
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(got(all), ids);
    let mid = events
        .list_range(None, None, Some(ids[1]), Some(ids[3]), None, 100)
        .await
        .unwrap();
    assert_eq!(got(mid), ids[1..=3].to_vec());
    let page = events
        .list_range(None, None, Some(ids[0]), None, Some(ids[2]), 1)
        .await
        .unwrap();
    assert_eq!(got(page), vec![ids[3]]);
    let future = events
        .list_range(
            Some(Utc::now() + Duration::hours(1)),
            None,
            None,
            None,
            None,
            100,
        )
        .await
        .unwrap();
    assert!(future.is_empty());
    let other = tenant(db.store(), "b").await;
    assert!(
        db.store()
            .scope(other.id)
            .events()
            .list_range(None, None, Some(ids[0]), None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_poll_streams_dead_sets_are_redriven_to_the_queue(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let q = new(s, Some(EventId::new()), DeliveryState::Queued);
    d.insert_many(std::slice::from_ref(&q)).await.unwrap();
    let (got, _) = d
        .poll(s, 10, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    d.report_errors(s, &[(q.jti.clone(), "invalid_key".into(), "no".into())])
        .await
        .unwrap();
    assert_eq!(d.get(q.id).await.unwrap().state, DeliveryState::Dead);
    assert!(matches!(
        d.redrive(s, None, None, None, DeliveryState::Delivered)
            .await,
        Err(StoreError::Config(_))
    ));
    let back = d
        .redrive(s, None, None, None, DeliveryState::Queued)
        .await
        .unwrap();
    assert_eq!(back.len(), 1);
    let got = d.get(q.id).await.unwrap();
    assert_eq!(
        (got.state, got.next_attempt_at, got.attempts),
        (DeliveryState::Queued, None, 0)
    );
    // Offered to the poller at once.
    let (again, _) = d
        .poll(s, 10, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
}

async fn events_and_deliveries_are_counted_per_hour(db: TestDb) {
    use sethub_store::{Change, Update};
    let t = tenant(db.store(), "a").await;
    let other = tenant(db.store(), "b").await;
    let events = db.store().scope(t.id).events();
    for _ in 0..3 {
        events.insert(new_event(None)).await.unwrap();
    }
    db.store()
        .scope(other.id)
        .events()
        .insert(new_event(None))
        .await
        .unwrap();
    let since = Utc::now() - Duration::hours(2);
    let hours = events.count_by_hour(since).await.unwrap();
    assert_eq!(hours.iter().map(|(_, n)| n).sum::<u64>(), 3, "{hours:?}");
    let now_hour = Utc::now().timestamp() / 3600;
    assert!(
        hours
            .iter()
            .all(|(h, _)| (now_hour - 2..=now_hour).contains(h)),
        "{hours:?}"
    );
    assert!(
        events
            .count_by_hour(Utc::now() + Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    // Deliveries: only the delivered ones count.
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let batch: Vec<_> = (0..3)
        .map(|_| new(s, Some(EventId::new()), DeliveryState::Pending))
        .collect();
    d.insert_many(&batch).await.unwrap();
    let delivered: Vec<Update> = batch[..2]
        .iter()
        .map(|x| Update {
            id: x.id,
            at: Utc::now(),
            attempted: true,
            change: Change::Delivered { status: 202 },
        })
        .collect();
    d.apply(&delivered, &[]).await.unwrap();
    let hours = d.delivered_by_hour(since).await.unwrap();
    assert_eq!(hours.iter().map(|(_, n)| n).sum::<u64>(), 2, "{hours:?}");
    let mut all = d.count_by_stream_and_state().await.unwrap();
    all.sort_by_key(|(_, st, _)| st.as_str());
    assert_eq!(
        all,
        vec![
            (s, DeliveryState::Delivered, 2),
            (s, DeliveryState::Pending, 1)
        ]
    );
    assert!(
        db.store()
            .scope(other.id)
            .deliveries()
            .count_by_stream_and_state()
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_event_log_filters_by_type_subject_and_time(db: TestDb) {
    use sethub_store::EventFilter;
    let t = tenant(db.store(), "a").await;
    let events = db.store().scope(t.id).events();
    let revoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
    let changed = "https://schemas.openid.net/secevent/caep/event-type/credential-change";
    let mut ids = Vec::new();
    for (ty, email) in [
        (revoked, "ann@example.com"),
        (changed, "bob@example.com"),
        (revoked, "userAx@example.com"),
    ] {
        let mut e = new_event(None);
        e.event_types = vec![ty.to_owned()];
        e.sub_id = Some(serde_json::json!({"format": "email", "email": email}));
        ids.push(events.insert(e).await.unwrap().event().id);
    }
    assert_eq!(
        ids_of(&events, EventFilter::default()).await,
        vec![ids[2], ids[1], ids[0]]
    );
    let by_type = EventFilter {
        event_type: Some(revoked.into()),
        ..Default::default()
    };
    assert_eq!(ids_of(&events, by_type).await, vec![ids[2], ids[0]]);
    let by_subject = EventFilter {
        subject: Some("bob@example.com".into()),
        ..Default::default()
    };
    assert_eq!(ids_of(&events, by_subject).await, vec![ids[1]]);
    // LIKE wildcards in the input are plain characters.
    let wild = EventFilter {
        subject: Some("user_x@example.com".into()),
        ..Default::default()
    };
    assert!(ids_of(&events, wild).await.is_empty());
    let partial = EventFilter {
        subject: Some("bob".into()),
        ..Default::default()
    };
    assert!(
        ids_of(&events, partial).await.is_empty(),
        "a whole identifying value, not a part"
    );
    let later = EventFilter {
        since: Some(Utc::now() + Duration::hours(1)),
        ..Default::default()
    };
    assert!(ids_of(&events, later).await.is_empty());
}

async fn ids_of(events: &sethub_store::Events<'_>, f: sethub_store::EventFilter) -> Vec<EventId> {
    events
        .recent(None, &f, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}
