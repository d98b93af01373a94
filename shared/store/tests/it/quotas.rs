//! Quotas counted in the inserting transaction, and who may change a disabled stream's status,
//! on PostgreSQL and SQLite.

use sethub_domain::{DeliveryMethod, Quota, Quotas, StatusActor, StreamId, StreamStatus};
use sethub_store::testing::TestDb;
use sethub_store::{StoreError, StreamFields};

use crate::support::{new_receiver, tenant};

contract!(
    the_stream_past_a_receivers_quota_is_refused_and_not_written,
    the_tenants_stream_quota_counts_the_streams_of_every_receiver,
    concurrent_stream_creates_never_pass_the_quota,
    the_receiver_past_the_tenants_quota_is_refused_and_not_written,
    a_new_subject_past_the_quota_is_refused_but_a_known_one_still_changes,
    a_stream_disabled_by_its_tenant_or_sethub_keeps_its_status_against_its_receiver,
    quota_overrides_are_stored_on_the_tenant_and_cleared,
);

fn fields() -> StreamFields {
    StreamFields {
        aud: vec!["rx".into()],
        delivery_method: DeliveryMethod::Poll,
        endpoint_url: Some("https://hub/poll".into()),
        authorization_sealed: None,
        events_requested: None,
        events_delivered: vec![],
        description: None,
        min_verification_interval: 30,
        inactivity_timeout: None,
    }
}

fn quotas(per_receiver: u32, per_tenant: u32) -> Quotas {
    Quotas {
        streams_per_receiver: per_receiver,
        streams_per_tenant: per_tenant,
        ..Quotas::default()
    }
}

fn refused(result: Result<impl std::fmt::Debug, StoreError>, quota: Quota, limit: u32) {
    match result {
        Err(StoreError::QuotaExceeded { quota: q, limit: l }) => {
            assert_eq!((q, l), (quota, limit));
        }
        other => panic!("expected {quota} to refuse, got {other:?}"),
    }
}

async fn the_stream_past_a_receivers_quota_is_refused_and_not_written(db: TestDb) {
    let t = tenant(db.store(), "q").await;
    let scope = db.store().scope(t.id);
    let r = scope.receivers().create(new_receiver("one")).await.unwrap();
    let q = quotas(2, 100);
    for _ in 0..2 {
        scope
            .streams()
            .create_within(StreamId::new(), r.id, fields(), &q)
            .await
            .unwrap();
    }
    let third = StreamId::new();
    refused(
        scope
            .streams()
            .create_within(third, r.id, fields(), &q)
            .await,
        Quota::StreamsPerReceiver,
        2,
    );
    assert_eq!(
        scope.streams().list_for_receiver(r.id).await.unwrap().len(),
        2
    );
    assert!(matches!(
        scope.streams().get(third).await,
        Err(StoreError::NotFound)
    ));
}

async fn the_tenants_stream_quota_counts_the_streams_of_every_receiver(db: TestDb) {
    let t = tenant(db.store(), "q").await;
    let scope = db.store().scope(t.id);
    let a = scope.receivers().create(new_receiver("a")).await.unwrap();
    let b = scope.receivers().create(new_receiver("b")).await.unwrap();
    let q = quotas(10, 3);
    for rx in [a.id, a.id, b.id] {
        scope
            .streams()
            .create_within(StreamId::new(), rx, fields(), &q)
            .await
            .unwrap();
    }
    refused(
        scope
            .streams()
            .create_within(StreamId::new(), b.id, fields(), &q)
            .await,
        Quota::StreamsPerTenant,
        3,
    );
    assert_eq!(scope.streams().list().await.unwrap().len(), 3);
    // Another tenant's count is its own.
    let other = tenant(db.store(), "other").await;
    let oscope = db.store().scope(other.id);
    let c = oscope.receivers().create(new_receiver("c")).await.unwrap();
    oscope
        .streams()
        .create_within(StreamId::new(), c.id, fields(), &q)
        .await
        .unwrap();
}

async fn concurrent_stream_creates_never_pass_the_quota(db: TestDb) {
    let t = tenant(db.store(), "q").await;
    let scope = db.store().scope(t.id);
    let r = scope.receivers().create(new_receiver("one")).await.unwrap();
    let q = quotas(3, 100);
    let attempts = (0..12).map(|_| {
        let store = db.store().clone();
        let tenant = t.id;
        let receiver = r.id;
        tokio::spawn(async move {
            store
                .scope(tenant)
                .streams()
                .create_within(StreamId::new(), receiver, fields(), &q)
                .await
        })
    });
    let mut created = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::QuotaExceeded { .. }) => {}
            Err(e) => panic!("unexpected failure: {e}"),
        }
    }
    assert_eq!(created, 3);
    assert_eq!(
        scope.streams().list_for_receiver(r.id).await.unwrap().len(),
        3
    );
}

async fn the_receiver_past_the_tenants_quota_is_refused_and_not_written(db: TestDb) {
    let t = tenant(db.store(), "q").await;
    let scope = db.store().scope(t.id);
    scope
        .receivers()
        .create_within(new_receiver("a"), 2)
        .await
        .unwrap();
    scope
        .receivers()
        .create_within(new_receiver("b"), 2)
        .await
        .unwrap();
    refused(
        scope.receivers().create_within(new_receiver("c"), 2).await,
        Quota::ReceiversPerTenant,
        2,
    );
    assert_eq!(scope.receivers().list().await.unwrap().len(), 2);
}

async fn a_new_subject_past_the_quota_is_refused_but_a_known_one_still_changes(db: TestDb) {
    let t = tenant(db.store(), "q").await;
    let scope = db.store().scope(t.id);
    let r = scope.receivers().create(new_receiver("one")).await.unwrap();
    let id = StreamId::new();
    scope.streams().create(id, r.id, fields()).await.unwrap();
    let subject = |n: u32| serde_json::json!({"format": "opaque", "id": format!("u{n}")});
    let streams = scope.streams();
    streams
        .put_subject_within(id, "opaque:u1", subject(1), (true, true), 2)
        .await
        .unwrap();
    // A removal is a row too: it counts.
    streams
        .put_subject_within(id, "opaque:u2", subject(2), (false, true), 2)
        .await
        .unwrap();
    refused(
        streams
            .put_subject_within(id, "opaque:u3", subject(3), (true, true), 2)
            .await,
        Quota::SubjectsPerStream,
        2,
    );
    streams
        .put_subject_within(id, "opaque:u2", subject(2), (true, true), 2)
        .await
        .unwrap();
    let rows = streams.subjects(id).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|s| s.added));
}

async fn a_stream_disabled_by_its_tenant_or_sethub_keeps_its_status_against_its_receiver(
    db: TestDb,
) {
    let t = tenant(db.store(), "q").await;
    let scope = db.store().scope(t.id);
    let r = scope.receivers().create(new_receiver("one")).await.unwrap();
    let id = StreamId::new();
    let streams = scope.streams();
    streams.create(id, r.id, fields()).await.unwrap();
    assert_eq!(
        streams.get(id).await.unwrap().status_set_by,
        StatusActor::Receiver
    );

    // Disabled by the tenant: the receiver can neither enable, pause nor re-disable it.
    streams
        .set_status(
            id,
            StreamStatus::Disabled,
            Some("abuse".into()),
            StatusActor::Tenant,
        )
        .await
        .unwrap();
    for status in [
        StreamStatus::Enabled,
        StreamStatus::Paused,
        StreamStatus::Disabled,
    ] {
        match streams
            .set_status(id, status, None, StatusActor::Receiver)
            .await
        {
            Err(StoreError::StatusLocked { by, reason }) => {
                assert_eq!(by, StatusActor::Tenant);
                assert_eq!(reason.as_deref(), Some("abuse"));
            }
            other => panic!("the receiver changed a tenant-disabled stream: {other:?}"),
        }
    }
    let s = streams.get(id).await.unwrap();
    assert_eq!(
        (s.status, s.status_set_by),
        (StreamStatus::Disabled, StatusActor::Tenant)
    );

    // The tenant enables it; then the receiver may change it again.
    streams
        .set_status(id, StreamStatus::Enabled, None, StatusActor::Tenant)
        .await
        .unwrap();
    streams
        .set_status(id, StreamStatus::Paused, None, StatusActor::Receiver)
        .await
        .unwrap();

    // Disabled by sethub (fan-out): locked the same way.
    assert!(
        streams
            .disable_if_not_disabled(id, "410 Gone")
            .await
            .unwrap()
    );
    assert_eq!(
        streams.get(id).await.unwrap().status_set_by,
        StatusActor::Sethub
    );
    assert!(matches!(
        streams
            .set_status(id, StreamStatus::Enabled, None, StatusActor::Receiver)
            .await,
        Err(StoreError::StatusLocked {
            by: StatusActor::Sethub,
            ..
        })
    ));

    // A stream the receiver disabled itself, it may enable.
    streams
        .set_status(id, StreamStatus::Enabled, None, StatusActor::Tenant)
        .await
        .unwrap();
    streams
        .set_status(id, StreamStatus::Disabled, None, StatusActor::Receiver)
        .await
        .unwrap();
    streams
        .set_status(id, StreamStatus::Enabled, None, StatusActor::Receiver)
        .await
        .unwrap();
}

async fn quota_overrides_are_stored_on_the_tenant_and_cleared(db: TestDb) {
    let t = tenant(db.store(), "q").await;
    assert_eq!(t.quotas, None);
    let value = serde_json::json!({"streams_per_receiver": 20});
    let changed = db
        .store()
        .tenants()
        .set_quotas(t.id, Some(value.clone()))
        .await
        .unwrap();
    assert_eq!(changed.quotas, Some(value));
    let cleared = db.store().tenants().set_quotas(t.id, None).await.unwrap();
    assert_eq!(cleared.quotas, None);
    assert!(matches!(
        db.store()
            .tenants()
            .set_quotas(sethub_domain::TenantId::new(), None)
            .await,
        Err(StoreError::NotFound)
    ));
}
