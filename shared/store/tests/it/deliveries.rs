//! The deliveries repository (and the streams version fan-out relies on) on PostgreSQL and
//! SQLite.

use chrono::{Duration, Utc};
use sethub_domain::{
    DeliveryId, DeliveryMethod, EventId, StatusActor, StreamId, StreamStatus, TenantId,
};
use sethub_store::testing::TestDb;
use sethub_store::{
    Attempt, Change, DeliveryKind, DeliveryState, DueDeliveries, MAX_REDRIVE, NewDelivery, Store,
    StoreError, StreamFields, Update,
};

use crate::support::{new_receiver, tenant};

contract!(
    a_repeated_stream_and_event_pair_stores_one_delivery,
    outcomes_change_state_and_write_the_delivery_log,
    due_lists_pending_deliveries_by_due_time_only,
    held_deliveries_are_released_oldest_first,
    released_deliveries_are_paged_in_publication_order_not_in_row_order,
    every_stream_change_moves_the_streams_version,
    another_tenant_never_sees_or_changes_a_delivery,
    the_log_is_pruned_by_age,
    delivered_sets_are_pruned_by_age_and_nothing_else_is,
    dead_deliveries_are_redriven_by_id_or_all_and_start_afresh,
    one_redrive_puts_back_at_most_its_bound_oldest_first,
    polled_sets_hide_for_their_visibility_and_settle_by_ack_or_error,
);

pub(crate) async fn stream(store: &Store, tenant: TenantId) -> StreamId {
    let scope = store.scope(tenant);
    let rx = scope.receivers().create(new_receiver("rx")).await.unwrap();
    let id = StreamId::new();
    scope
        .streams()
        .create(
            id,
            rx.id,
            StreamFields {
                aud: vec!["rcv".into()],
                delivery_method: DeliveryMethod::Push,
                endpoint_url: Some("https://rx.example.com/events".into()),
                authorization_sealed: None,
                events_requested: None,
                events_delivered: vec!["https://example.com/e".into()],
                description: None,
                min_verification_interval: 30,
                inactivity_timeout: None,
            },
        )
        .await
        .unwrap();
    id
}

pub(crate) fn new(stream: StreamId, event: Option<EventId>, state: DeliveryState) -> NewDelivery {
    NewDelivery {
        id: DeliveryId::new(),
        stream_id: stream,
        event_id: event,
        kind: if event.is_some() {
            DeliveryKind::Event
        } else {
            DeliveryKind::Verification
        },
        jti: uuid::Uuid::new_v4().simple().to_string(),
        set_token: "a.b.c".into(),
        state,
        next_attempt_at: (state == DeliveryState::Pending).then(Utc::now),
    }
}

fn attempt(d: &NewDelivery, status: Option<u16>, outcome: &str) -> Attempt {
    Attempt {
        delivery_id: d.id,
        stream_id: d.stream_id,
        attempted_at: Utc::now(),
        status,
        latency_ms: 12,
        outcome: outcome.into(),
        error: None,
        response_excerpt: Some("ok".into()),
    }
}

async fn a_repeated_stream_and_event_pair_stores_one_delivery(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s1 = stream(db.store(), t.id).await;
    let s2 = stream(db.store(), t.id).await;
    let event = EventId::new();
    let d = db.store().scope(t.id).deliveries();
    let first = vec![
        new(s1, Some(event), DeliveryState::Pending),
        new(s2, Some(event), DeliveryState::Pending),
    ];
    assert_eq!(d.insert_many(&first).await.unwrap(), 2);
    // The same event fanned out again (a redelivered bus message): nothing new.
    let again = vec![
        new(s1, Some(event), DeliveryState::Pending),
        new(s2, Some(event), DeliveryState::Pending),
    ];
    assert_eq!(d.insert_many(&again).await.unwrap(), 0);
    let stored = d.for_event(event).await.unwrap();
    let mut ids: Vec<_> = stored.iter().map(|x| x.id).collect();
    ids.sort();
    let mut want: Vec<_> = first.iter().map(|x| x.id).collect();
    want.sort();
    assert_eq!(ids, want);
    // SETs without an event (verification) never collide.
    let v = vec![
        new(s1, None, DeliveryState::Pending),
        new(s1, None, DeliveryState::Pending),
    ];
    assert_eq!(d.insert_many(&v).await.unwrap(), 2);
}

async fn outcomes_change_state_and_write_the_delivery_log(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let ok1 = new(s, Some(EventId::new()), DeliveryState::Pending);
    let ok2 = new(s, Some(EventId::new()), DeliveryState::Pending);
    let retry = new(s, Some(EventId::new()), DeliveryState::Pending);
    let dead = new(s, Some(EventId::new()), DeliveryState::Pending);
    d.insert_many(&[ok1.clone(), ok2.clone(), retry.clone(), dead.clone()])
        .await
        .unwrap();
    let now = Utc::now();
    let next = now + Duration::seconds(30);
    let updates = vec![
        Update {
            id: ok1.id,
            at: now,
            attempted: true,
            change: Change::Delivered { status: 202 },
        },
        Update {
            id: ok2.id,
            at: now,
            attempted: true,
            change: Change::Delivered { status: 200 },
        },
        Update {
            id: retry.id,
            at: now,
            attempted: true,
            change: Change::Retry {
                next_attempt_at: next,
                status: Some(503),
                error: "receiver answered HTTP 503".into(),
            },
        },
        Update {
            id: dead.id,
            at: now,
            attempted: true,
            change: Change::Dead {
                status: Some(400),
                error: "invalid_request".into(),
            },
        },
    ];
    let log = vec![
        attempt(&ok1, Some(202), "delivered"),
        attempt(&ok2, Some(200), "delivered"),
        attempt(&retry, Some(503), "retry"),
        attempt(&dead, Some(400), "dead"),
    ];
    d.apply(&updates, &log).await.unwrap();

    let got = d.get(ok1.id).await.unwrap();
    assert_eq!(got.state, DeliveryState::Delivered);
    assert_eq!(got.attempts, 1);
    assert_eq!(got.last_status, Some(202));
    assert!(got.delivered_at.is_some() && got.first_attempt_at.is_some());
    assert_eq!(d.get(ok2.id).await.unwrap().last_status, Some(200));
    let got = d.get(retry.id).await.unwrap();
    assert_eq!(got.state, DeliveryState::Pending);
    assert_eq!(got.attempts, 1);
    assert_eq!(
        got.next_attempt_at.unwrap().timestamp_micros(),
        next.timestamp_micros()
    );
    assert_eq!(
        got.last_error.as_deref(),
        Some("receiver answered HTTP 503")
    );
    let got = d.get(dead.id).await.unwrap();
    assert_eq!(got.state, DeliveryState::Dead);
    assert_eq!(got.next_attempt_at, None);

    // A late outcome never reopens a delivered one.
    d.apply(
        &[Update {
            id: ok1.id,
            at: Utc::now(),
            attempted: true,
            change: Change::Retry {
                next_attempt_at: next,
                status: None,
                error: "late".into(),
            },
        }],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(d.get(ok1.id).await.unwrap().state, DeliveryState::Delivered);

    let logged = d.attempts_for_stream(s, 10).await.unwrap();
    assert_eq!(logged.len(), 4);
    assert_eq!(
        d.attempts_for_delivery(retry.id).await.unwrap()[0].status,
        Some(503)
    );
    let counts = d.count_by_state(s).await.unwrap();
    let count = |st| counts.iter().find(|(s, _)| *s == st).map_or(0, |(_, n)| *n);
    assert_eq!(count(DeliveryState::Delivered), 2);
    assert_eq!(count(DeliveryState::Pending), 1);
    assert_eq!(count(DeliveryState::Dead), 1);
    let dead_only = d
        .list_for_stream(s, Some(DeliveryState::Dead), None, 10)
        .await
        .unwrap();
    assert_eq!(dead_only.len(), 1);
    assert_eq!(dead_only[0].id, dead.id);
}

async fn due_lists_pending_deliveries_by_due_time_only(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let mut later = new(s, Some(EventId::new()), DeliveryState::Pending);
    later.next_attempt_at = Some(Utc::now() + Duration::hours(1));
    let now = new(s, Some(EventId::new()), DeliveryState::Pending);
    let held = new(s, Some(EventId::new()), DeliveryState::Held);
    d.insert_many(&[later.clone(), now.clone(), held])
        .await
        .unwrap();
    let due: Vec<_> = d
        .due(Utc::now(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(due, vec![now.id]);
    let all = d.due(Utc::now() + Duration::hours(2), 100).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, now.id, "soonest first");
}

async fn held_deliveries_are_released_oldest_first(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let batch: Vec<_> = (0..5)
        .map(|_| new(s, Some(EventId::new()), DeliveryState::Held))
        .collect();
    for one in &batch {
        d.insert_many(std::slice::from_ref(one)).await.unwrap();
    }
    let released = d.release_held(s, DeliveryState::Pending).await.unwrap();
    assert_eq!(released, 5);
    // Pushed a page at a time, oldest first.
    let due = DueDeliveries {
        before: Utc::now(),
        stream: Some(s),
        scheduled_only: false,
    };
    let first = d.due_page(&due, None, 3).await.unwrap();
    let rest = d.due_page(&due, first.last, 3).await.unwrap();
    assert_eq!(
        first
            .ids
            .iter()
            .chain(&rest.ids)
            .copied()
            .collect::<Vec<_>>(),
        batch.iter().map(|x| x.id).collect::<Vec<_>>()
    );
    for x in &batch {
        let got = d.get(x.id).await.unwrap();
        assert!(got.state == DeliveryState::Pending && got.next_attempt_at.is_some());
    }
    assert_eq!(
        d.release_held(s, DeliveryState::Pending).await.unwrap(),
        0,
        "none is held any more"
    );
    assert_eq!(
        d.list_for_stream(s, Some(DeliveryState::Held), None, 10)
            .await
            .unwrap()
            .len(),
        0
    );
}

async fn released_deliveries_are_paged_in_publication_order_not_in_row_order(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let other = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    // Events accepted in this order...
    let events: Vec<EventId> = (0..6).map(|_| EventId::new()).collect();
    // ...signed (rows made) in another, as concurrent fan-out tasks do; a SET without an
    // event made between them; another stream's SETs.
    let mut rows = Vec::new();
    for i in [3, 0, 5, 1] {
        rows.push(new(s, Some(events[i]), DeliveryState::Held));
    }
    let verification = new(s, None, DeliveryState::Held);
    rows.push(verification.clone());
    for i in [4, 2] {
        rows.push(new(s, Some(events[i]), DeliveryState::Held));
    }
    rows.push(new(other, Some(events[0]), DeliveryState::Held));
    for one in &rows {
        d.insert_many(std::slice::from_ref(one)).await.unwrap();
    }
    assert_eq!(d.release_held(s, DeliveryState::Pending).await.unwrap(), 7);
    let due = DueDeliveries {
        before: Utc::now(),
        stream: Some(s),
        scheduled_only: false,
    };
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = d.due_page_in_order(&due, after, 2).await.unwrap();
        let Some(last) = page.last().copied() else {
            break;
        };
        assert!(page.len() <= 2);
        after = Some(last);
        paged.extend(page);
    }
    let row = |e: usize| {
        rows.iter()
            .find(|r| r.stream_id == s && r.event_id == Some(events[e]))
            .unwrap()
            .id
    };
    // By event id; the SET without an event by its own id, made after all six events.
    let want = vec![
        row(0),
        row(1),
        row(2),
        row(3),
        row(4),
        row(5),
        verification.id,
    ];
    assert_eq!(paged, want);
    // The plain page is in due order (here, the order the rows were released in: by row id).
    let by_row = d.due_page(&due, None, 10).await.unwrap().ids;
    assert_ne!(by_row, want);
}

async fn every_stream_change_moves_the_streams_version(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let streams = db.store().scope(t.id).streams();
    let v0 = streams.version().await.unwrap();
    let s = stream(db.store(), t.id).await;
    let v1 = streams.version().await.unwrap();
    assert!(v1 > v0, "create");
    streams
        .set_status(s, StreamStatus::Paused, None, StatusActor::Receiver)
        .await
        .unwrap();
    let v2 = streams.version().await.unwrap();
    assert!(v2 > v1, "status");
    streams
        .put_subject(
            s,
            "email:a@example.com",
            serde_json::json!({"format":"email","email":"a@example.com"}),
            false,
            true,
        )
        .await
        .unwrap();
    let v3 = streams.version().await.unwrap();
    assert!(v3 > v2, "subject");
    streams.delete(s).await.unwrap();
    assert!(streams.version().await.unwrap() > v3, "delete");
    // Another tenant's version does not move.
    let other = tenant(db.store(), "b").await;
    let before = db
        .store()
        .scope(other.id)
        .streams()
        .version()
        .await
        .unwrap();
    stream(db.store(), t.id).await;
    assert_eq!(
        db.store()
            .scope(other.id)
            .streams()
            .version()
            .await
            .unwrap(),
        before
    );
}

async fn another_tenant_never_sees_or_changes_a_delivery(db: TestDb) {
    let a = tenant(db.store(), "a").await;
    let b = tenant(db.store(), "b").await;
    let s = stream(db.store(), a.id).await;
    let one = new(s, Some(EventId::new()), DeliveryState::Pending);
    db.store()
        .scope(a.id)
        .deliveries()
        .insert_many(std::slice::from_ref(&one))
        .await
        .unwrap();
    let db_b = db.store().scope(b.id).deliveries();
    assert!(matches!(db_b.get(one.id).await, Err(StoreError::NotFound)));
    assert!(db_b.due(Utc::now(), 100).await.unwrap().is_empty());
    assert!(
        db_b.list_for_stream(s, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    db_b.apply(
        &[Update {
            id: one.id,
            at: Utc::now(),
            attempted: true,
            change: Change::Dead {
                status: None,
                error: "from b".into(),
            },
        }],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        db.store()
            .scope(a.id)
            .deliveries()
            .get(one.id)
            .await
            .unwrap()
            .state,
        DeliveryState::Pending
    );
    // B cannot make a delivery on A's stream (the composite key refuses it).
    assert!(
        db_b.insert_many(&[new(s, Some(EventId::new()), DeliveryState::Pending)])
            .await
            .is_err()
    );
}

async fn the_log_is_pruned_by_age(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let one = new(s, Some(EventId::new()), DeliveryState::Pending);
    d.insert_many(std::slice::from_ref(&one)).await.unwrap();
    let mut old = attempt(&one, Some(503), "retry");
    old.attempted_at = Utc::now() - Duration::days(40);
    let recent = attempt(&one, Some(202), "delivered");
    d.apply(&[], &[old, recent]).await.unwrap();
    assert_eq!(
        d.prune_attempts(Utc::now() - Duration::days(30))
            .await
            .unwrap(),
        1
    );
    let left = d.attempts_for_delivery(one.id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, Some(202));
}

async fn delivered_sets_are_pruned_by_age_and_nothing_else_is(db: TestDb) {
    let (a, b) = (tenant(db.store(), "a").await, tenant(db.store(), "b").await);
    let (sa, sb) = (
        stream(db.store(), a.id).await,
        stream(db.store(), b.id).await,
    );
    let long_ago = Utc::now() - Duration::days(100);
    let cutoff = Utc::now() - Duration::days(90);
    let settle = |d: &NewDelivery, at, change| Update {
        id: d.id,
        at,
        attempted: true,
        change,
    };
    let pending = || new(sa, Some(EventId::new()), DeliveryState::Pending);
    let (old, recent, waiting, dead) = (
        [pending(), pending(), pending()],
        pending(),
        pending(),
        pending(),
    );
    let da = db.store().scope(a.id).deliveries();
    let mut all = old.to_vec();
    all.extend([recent.clone(), waiting.clone(), dead.clone()]);
    da.insert_many(&all).await.unwrap();
    let delivered = || Change::Delivered { status: 202 };
    let updates: Vec<Update> = old
        .iter()
        .map(|d| settle(d, long_ago, delivered()))
        .collect();
    da.apply(&updates, &[]).await.unwrap();
    da.apply(&[settle(&recent, Utc::now(), delivered())], &[])
        .await
        .unwrap();
    let gone = Change::Dead {
        status: Some(400),
        error: "invalid_request".into(),
    };
    da.apply(&[settle(&dead, long_ago, gone)], &[])
        .await
        .unwrap();
    // Tenant b has an old delivered SET too: listed, and left to its own pruning.
    let db_b = db.store().scope(b.id).deliveries();
    let theirs = new(sb, Some(EventId::new()), DeliveryState::Pending);
    db_b.insert_many(std::slice::from_ref(&theirs))
        .await
        .unwrap();
    db_b.apply(&[settle(&theirs, long_ago, delivered())], &[])
        .await
        .unwrap();

    let mut listed = db
        .store()
        .tenants_with_delivered_before(cutoff)
        .await
        .unwrap();
    listed.sort();
    let mut both = vec![a.id, b.id];
    both.sort();
    assert_eq!(listed, both);
    // Two a statement: three old delivered SETs take two rounds.
    assert_eq!(da.prune_delivered(cutoff, 2).await.unwrap(), 3);
    for d in &old {
        assert!(matches!(da.get(d.id).await, Err(StoreError::NotFound)));
    }
    assert_eq!(
        da.get(recent.id).await.unwrap().state,
        DeliveryState::Delivered
    );
    assert_eq!(
        da.get(waiting.id).await.unwrap().state,
        DeliveryState::Pending
    );
    assert_eq!(da.get(dead.id).await.unwrap().state, DeliveryState::Dead);
    assert_eq!(
        db_b.get(theirs.id).await.unwrap().state,
        DeliveryState::Delivered
    );
    assert_eq!(
        db.store()
            .tenants_with_delivered_before(cutoff)
            .await
            .unwrap(),
        vec![b.id]
    );
    assert_eq!(da.prune_delivered(cutoff, 2).await.unwrap(), 0);
}

async fn dead_deliveries_are_redriven_by_id_or_all_and_start_afresh(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let batch: Vec<_> = (0..3)
        .map(|_| new(s, Some(EventId::new()), DeliveryState::Pending))
        .collect();
    d.insert_many(&batch).await.unwrap();
    let kill = |x: &NewDelivery| Update {
        id: x.id,
        at: Utc::now(),
        attempted: true,
        change: Change::Dead {
            status: Some(503),
            error: "gave up".into(),
        },
    };
    d.apply(&batch.iter().map(kill).collect::<Vec<_>>(), &[])
        .await
        .unwrap();
    let one = d
        .redrive(s, Some(&[batch[1].id]), None, None, DeliveryState::Pending)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].id, batch[1].id);
    let got = d.get(batch[1].id).await.unwrap();
    assert_eq!(got.state, DeliveryState::Pending);
    assert_eq!(got.attempts, 0);
    assert!(got.first_attempt_at.is_none() && got.next_attempt_at.is_some());
    // A window that holds nothing redrives nothing; then all the rest.
    let later = Utc::now() + Duration::hours(1);
    assert!(
        d.redrive(s, None, Some(later), None, DeliveryState::Pending)
            .await
            .unwrap()
            .is_empty()
    );
    // Another tenant redrives nothing of this one (two are still dead).
    let other = tenant(db.store(), "b").await;
    assert!(
        db.store()
            .scope(other.id)
            .deliveries()
            .redrive(s, None, None, None, DeliveryState::Pending)
            .await
            .unwrap()
            .is_empty()
    );
    let rest = d
        .redrive(s, None, None, None, DeliveryState::Pending)
        .await
        .unwrap();
    assert_eq!(rest.len(), 2);
    assert!(
        d.redrive(s, None, None, None, DeliveryState::Pending)
            .await
            .unwrap()
            .is_empty()
    );
    let due = DueDeliveries {
        before: Utc::now(),
        stream: Some(s),
        scheduled_only: false,
    };
    assert_eq!(d.due_page(&due, None, 10).await.unwrap().ids.len(), 3);
}

async fn one_redrive_puts_back_at_most_its_bound_oldest_first(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let bound = usize::try_from(MAX_REDRIVE).unwrap();
    let dead: Vec<_> = (0..=bound)
        .map(|_| new(s, Some(EventId::new()), DeliveryState::Dead))
        .collect();
    for chunk in dead.chunks(1000) {
        d.insert_many(chunk).await.unwrap();
    }
    let first = d
        .redrive(s, None, None, None, DeliveryState::Pending)
        .await
        .unwrap();
    assert_eq!(first.len(), bound, "one call stops at its bound");
    let mut ids: Vec<_> = dead.iter().map(|x| x.id).collect();
    ids.sort();
    assert_eq!(
        first.first().map(|x| x.id),
        ids.first().copied(),
        "oldest first"
    );
    let rest = d
        .redrive(s, None, None, None, DeliveryState::Pending)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![ids[bound]]
    );
}

async fn polled_sets_hide_for_their_visibility_and_settle_by_ack_or_error(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let s = stream(db.store(), t.id).await;
    let d = db.store().scope(t.id).deliveries();
    let queued: Vec<_> = (0..5)
        .map(|_| new(s, Some(EventId::new()), DeliveryState::Queued))
        .collect();
    d.insert_many(&queued).await.unwrap();
    let long = std::time::Duration::from_secs(3600);
    let (first, more) = d.poll(s, 2, long).await.unwrap();
    assert_eq!(
        first.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![queued[0].id, queued[1].id]
    );
    assert!(more);
    // Handed out: hidden from the next poll.
    let (second, more) = d.poll(s, 10, long).await.unwrap();
    assert_eq!(second.len(), 3);
    assert!(!more);
    assert!(d.poll(s, 10, long).await.unwrap().0.is_empty());
    // Acknowledge two, report one as invalid; repeats and unknown jtis change nothing.
    let acks = vec![
        first[0].jti.clone(),
        first[1].jti.clone(),
        "unknown".to_owned(),
    ];
    assert_eq!(d.ack(s, &acks).await.unwrap(), 2);
    assert_eq!(d.ack(s, &acks).await.unwrap(), 0);
    let errs = vec![(
        second[0].jti.clone(),
        "invalid_key".to_owned(),
        "no such key".to_owned(),
    )];
    assert_eq!(d.report_errors(s, &errs).await.unwrap(), 1);
    assert_eq!(d.report_errors(s, &errs).await.unwrap(), 0);
    assert_eq!(
        d.get(first[0].id).await.unwrap().state,
        DeliveryState::Delivered
    );
    let dead = d.get(second[0].id).await.unwrap();
    assert_eq!(dead.state, DeliveryState::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("invalid_key: no such key"));
    assert_eq!(
        d.attempts_for_delivery(second[0].id).await.unwrap()[0].outcome,
        "set_err"
    );
    // Unsettled SETs come back once their visibility ends (here a millisecond); settled ones
    // never do.
    let other = stream(db.store(), t.id).await;
    let one = new(other, Some(EventId::new()), DeliveryState::Queued);
    d.insert_many(std::slice::from_ref(&one)).await.unwrap();
    let blink = std::time::Duration::from_millis(1);
    assert_eq!(d.poll(other, 10, blink).await.unwrap().0.len(), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let back = loop {
        let (got, _) = d.poll(other, 10, long).await.unwrap();
        if !got.is_empty() {
            break got;
        }
        assert!(std::time::Instant::now() < deadline, "never offered again");
    };
    assert_eq!(back[0].id, one.id);
    assert_eq!(back[0].attempts, 2);
    assert!(d.poll(s, 10, long).await.unwrap().0.is_empty());
}
