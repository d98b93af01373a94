//! The streams repository on PostgreSQL and SQLite.

use chrono::{Duration, Utc};
use serde_json::json;
use sethub_domain::{DeliveryMethod, StatusActor, StreamId, StreamStatus};
use sethub_store::testing::TestDb;
use sethub_store::{StoreError, StreamFields};

use crate::support::{new_receiver, tenant};

contract!(
    a_stream_is_created_enabled_and_read_back_by_its_receiver_only,
    an_update_replaces_the_configuration_and_keeps_the_status,
    status_changes_return_the_stream_before_and_after,
    verification_requests_closer_than_the_minimum_interval_are_not_recorded,
    subjects_are_added_removed_and_listed_by_canonical_key,
    a_deleted_stream_and_its_subjects_are_gone,
    another_tenants_scope_never_sees_the_stream,
);

fn fields(method: DeliveryMethod) -> StreamFields {
    StreamFields {
        aud: vec!["https://rx.example.com".into()],
        delivery_method: method,
        endpoint_url: Some("https://rx.example.com/events".into()),
        authorization_sealed: Some(b"sealed".to_vec()),
        events_requested: None,
        events_delivered: vec![
            "https://schemas.openid.net/secevent/caep/event-type/session-revoked".into(),
        ],
        description: Some("first".into()),
        min_verification_interval: 30,
        inactivity_timeout: None,
    }
}

async fn a_stream_is_created_enabled_and_read_back_by_its_receiver_only(db: TestDb) {
    let t = tenant(db.store(), "s").await;
    let scope = db.store().scope(t.id);
    let r1 = scope.receivers().create(new_receiver("one")).await.unwrap();
    let r2 = scope.receivers().create(new_receiver("two")).await.unwrap();
    let id = StreamId::new();
    let s = scope
        .streams()
        .create(id, r1.id, fields(DeliveryMethod::Push))
        .await
        .unwrap();
    assert_eq!(s.status, StreamStatus::Enabled);
    assert_eq!(s.fields(), fields(DeliveryMethod::Push));
    assert_eq!(
        scope.streams().get_for_receiver(id, r1.id).await.unwrap(),
        s
    );
    assert!(matches!(
        scope.streams().get_for_receiver(id, r2.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        scope
            .streams()
            .list_for_receiver(r1.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        scope
            .streams()
            .list_for_receiver(r2.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_update_replaces_the_configuration_and_keeps_the_status(db: TestDb) {
    let t = tenant(db.store(), "s").await;
    let scope = db.store().scope(t.id);
    let r = scope.receivers().create(new_receiver("one")).await.unwrap();
    let id = StreamId::new();
    scope
        .streams()
        .create(id, r.id, fields(DeliveryMethod::Push))
        .await
        .unwrap();
    scope
        .streams()
        .set_status(
            id,
            StreamStatus::Paused,
            Some("maintenance".into()),
            StatusActor::Receiver,
        )
        .await
        .unwrap();
    let mut f = fields(DeliveryMethod::Poll);
    f.endpoint_url = Some("https://hub/poll".into());
    f.authorization_sealed = None;
    f.description = None;
    f.events_requested = Some(vec!["x".into()]);
    let s = scope.streams().update(id, f.clone()).await.unwrap();
    assert_eq!(s.fields(), f);
    assert_eq!(s.status, StreamStatus::Paused);
    assert_eq!(s.status_reason.as_deref(), Some("maintenance"));
}

async fn status_changes_return_the_stream_before_and_after(db: TestDb) {
    let t = tenant(db.store(), "s").await;
    let scope = db.store().scope(t.id);
    let r = scope.receivers().create(new_receiver("one")).await.unwrap();
    let id = StreamId::new();
    scope
        .streams()
        .create(id, r.id, fields(DeliveryMethod::Push))
        .await
        .unwrap();
    let (before, after) = scope
        .streams()
        .set_status(
            id,
            StreamStatus::Disabled,
            Some("bad key".into()),
            StatusActor::Tenant,
        )
        .await
        .unwrap();
    assert_eq!(before.status, StreamStatus::Enabled);
    assert_eq!(after.status, StreamStatus::Disabled);
    assert!(matches!(
        scope
            .streams()
            .set_status(
                StreamId::new(),
                StreamStatus::Paused,
                None,
                StatusActor::Receiver
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn verification_requests_closer_than_the_minimum_interval_are_not_recorded(db: TestDb) {
    let t = tenant(db.store(), "s").await;
    let scope = db.store().scope(t.id);
    let r = scope.receivers().create(new_receiver("one")).await.unwrap();
    let id = StreamId::new();
    scope
        .streams()
        .create(id, r.id, fields(DeliveryMethod::Push))
        .await
        .unwrap();
    let t0 = Utc::now();
    assert!(
        scope
            .streams()
            .try_record_verification(id, t0)
            .await
            .unwrap()
    );
    assert!(
        !scope
            .streams()
            .try_record_verification(id, t0 + Duration::seconds(29))
            .await
            .unwrap()
    );
    assert!(
        scope
            .streams()
            .try_record_verification(id, t0 + Duration::seconds(31))
            .await
            .unwrap()
    );
}

async fn subjects_are_added_removed_and_listed_by_canonical_key(db: TestDb) {
    let t = tenant(db.store(), "s").await;
    let scope = db.store().scope(t.id);
    let r = scope.receivers().create(new_receiver("one")).await.unwrap();
    let id = StreamId::new();
    scope
        .streams()
        .create(id, r.id, fields(DeliveryMethod::Push))
        .await
        .unwrap();
    let subject = json!({"format": "email", "email": "a@example.com"});
    scope
        .streams()
        .put_subject(id, "email:a@example.com", subject.clone(), true, true)
        .await
        .unwrap();
    scope
        .streams()
        .put_subject(id, "email:a@example.com", subject.clone(), false, true)
        .await
        .unwrap();
    scope
        .streams()
        .put_subject(
            id,
            "email:b@example.com",
            json!({"format": "email", "email": "b@example.com"}),
            true,
            false,
        )
        .await
        .unwrap();
    let subjects = scope.streams().subjects(id).await.unwrap();
    assert_eq!(subjects.len(), 2);
    assert_eq!(subjects[0].subject_key, "email:a@example.com");
    assert!(!subjects[0].added, "the latest call wins");
    assert!(subjects[1].added && !subjects[1].verified);
    let missing = scope
        .streams()
        .put_subject(StreamId::new(), "k", subject, true, true)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

async fn a_deleted_stream_and_its_subjects_are_gone(db: TestDb) {
    let t = tenant(db.store(), "s").await;
    let scope = db.store().scope(t.id);
    let r = scope.receivers().create(new_receiver("one")).await.unwrap();
    let id = StreamId::new();
    scope
        .streams()
        .create(id, r.id, fields(DeliveryMethod::Push))
        .await
        .unwrap();
    scope
        .streams()
        .put_subject(id, "k", json!({"format": "opaque", "id": "x"}), true, true)
        .await
        .unwrap();
    scope.streams().delete(id).await.unwrap();
    assert!(matches!(
        scope.streams().get(id).await,
        Err(StoreError::NotFound)
    ));
    assert!(scope.streams().subjects(id).await.unwrap().is_empty());
    assert!(matches!(
        scope.streams().delete(id).await,
        Err(StoreError::NotFound)
    ));
}

async fn another_tenants_scope_never_sees_the_stream(db: TestDb) {
    let a = tenant(db.store(), "a").await;
    let b = tenant(db.store(), "b").await;
    let ra = db
        .store()
        .scope(a.id)
        .receivers()
        .create(new_receiver("one"))
        .await
        .unwrap();
    let id = StreamId::new();
    db.store()
        .scope(a.id)
        .streams()
        .create(id, ra.id, fields(DeliveryMethod::Push))
        .await
        .unwrap();
    let sb = db.store().scope(b.id);
    assert!(matches!(
        sb.streams().get(id).await,
        Err(StoreError::NotFound)
    ));
    assert!(sb.streams().list().await.unwrap().is_empty());
    assert!(matches!(
        sb.streams()
            .set_status(id, StreamStatus::Disabled, None, StatusActor::Receiver)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sb.streams().delete(id).await,
        Err(StoreError::NotFound)
    ));
    // Creating a stream in B for A's receiver fails: the receiver is not B's.
    assert!(
        sb.streams()
            .create(StreamId::new(), ra.id, fields(DeliveryMethod::Push))
            .await
            .is_err()
    );
    assert_eq!(
        db.store()
            .scope(a.id)
            .streams()
            .get(id)
            .await
            .unwrap()
            .status,
        StreamStatus::Enabled
    );
}

mod tenant_deletion {
    use super::*;

    async fn deleting_a_tenant_removes_everything_it_owns(db: TestDb) {
        let t = tenant(db.store(), "gone").await;
        let keep = tenant(db.store(), "kept").await;
        let scope = db.store().scope(t.id);
        let r = scope.receivers().create(new_receiver("one")).await.unwrap();
        let id = StreamId::new();
        scope
            .streams()
            .create(id, r.id, fields(DeliveryMethod::Push))
            .await
            .unwrap();
        scope
            .streams()
            .put_subject(id, "k", json!({"format": "opaque", "id": "x"}), true, true)
            .await
            .unwrap();
        let kept_rx = db
            .store()
            .scope(keep.id)
            .receivers()
            .create(new_receiver("two"))
            .await
            .unwrap();

        db.store().tenants().delete(t.id).await.unwrap();
        assert!(matches!(
            db.store().tenants().get(t.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(scope.receivers().list().await.unwrap().is_empty());
        assert!(scope.streams().list().await.unwrap().is_empty());
        assert!(scope.streams().subjects(id).await.unwrap().is_empty());
        assert_eq!(
            db.store()
                .scope(keep.id)
                .receivers()
                .get(kept_rx.id)
                .await
                .unwrap(),
            kept_rx
        );
        assert!(matches!(
            db.store().tenants().delete(t.id).await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn on_postgres() {
        deleting_a_tenant_removes_everything_it_owns(TestDb::postgres().await).await
    }

    #[tokio::test]
    async fn on_sqlite() {
        deleting_a_tenant_removes_everything_it_owns(TestDb::sqlite().await).await
    }
}
