//! Seeds shared by the tests.

use sethub_domain::EventId;
use sethub_store::{
    ApiKey, EventSource, NewApiKey, NewEvent, NewReceiver, NewSigningKey, Receiver,
    SigningKeyRecord, SigningKeyState, Store, StoredEvent, Tenant,
};

pub fn unique(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4().simple())
}

pub async fn tenant(store: &Store, label: &str) -> Tenant {
    store
        .tenants()
        .create(&unique(label), &format!("Tenant {label}"))
        .await
        .unwrap()
}

pub fn new_key(name: &str) -> NewApiKey {
    NewApiKey {
        name: name.to_owned(),
        prefix: "sh_test_ab12".to_owned(),
        secret_hash: unique("hash"),
        scopes: vec!["events:publish".to_owned()],
    }
}

pub fn new_signing_key(state: SigningKeyState) -> NewSigningKey {
    NewSigningKey {
        kid: unique("kid"),
        alg: "ES256".to_owned(),
        state,
        public_jwk: serde_json::json!({"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}),
        sealed_private: vec![1, 2, 3, 4],
        master_key_id: "mk1".to_owned(),
    }
}

pub fn new_receiver(name: &str) -> NewReceiver {
    NewReceiver {
        name: name.to_owned(),
        client_id: unique("client"),
        client_secret_hash: "$argon2id$x".to_owned(),
    }
}

pub fn new_event(key: Option<&str>) -> NewEvent {
    NewEvent {
        id: EventId::new(),
        event_types: vec![
            "https://schemas.openid.net/secevent/caep/event-type/session-revoked".to_owned(),
        ],
        sub_id: Some(serde_json::json!({"format": "email", "email": "user@example.com"})),
        payload: serde_json::json!({"events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked": {}}}),
        txn: None,
        toe: Some(chrono::Utc::now()),
        source: EventSource::Api,
        idempotency_key: key.map(str::to_owned),
    }
}

/// One row of every tenant-owned kind for a tenant.
pub struct Seeded {
    pub key: ApiKey,
    pub key_hash: String,
    pub signing_key: SigningKeyRecord,
    pub receiver: Receiver,
    pub event: StoredEvent,
}

pub async fn seed(store: &Store, tenant: &Tenant) -> Seeded {
    let scope = store.scope(tenant.id);
    let new = new_key("seed");
    let key_hash = new.secret_hash.clone();
    let key = scope.api_keys().create(new).await.unwrap();
    let signing_key = scope
        .signing_keys()
        .insert(new_signing_key(SigningKeyState::Active))
        .await
        .unwrap();
    let receiver = scope
        .receivers()
        .create(new_receiver("seed"))
        .await
        .unwrap();
    let event = scope
        .events()
        .insert(new_event(Some("seed-key")))
        .await
        .unwrap()
        .into_event();
    // A stream with a subject, a delivery and its log row.
    let stream = sethub_domain::StreamId::new();
    scope
        .streams()
        .create(
            stream,
            receiver.id,
            sethub_store::StreamFields {
                aud: vec!["seed".into()],
                delivery_method: sethub_domain::DeliveryMethod::Push,
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
    scope
        .streams()
        .put_subject(
            stream,
            "email:seed@example.com",
            serde_json::json!({"format": "email", "email": "seed@example.com"}),
            true,
            true,
        )
        .await
        .unwrap();
    let delivery = sethub_domain::DeliveryId::new();
    scope
        .deliveries()
        .insert_many(&[sethub_store::NewDelivery {
            id: delivery,
            stream_id: stream,
            event_id: Some(event.id),
            kind: sethub_store::DeliveryKind::Event,
            jti: "seed".into(),
            set_token: "a.b.c".into(),
            state: sethub_store::DeliveryState::Pending,
            next_attempt_at: Some(chrono::Utc::now()),
        }])
        .await
        .unwrap();
    scope
        .deliveries()
        .apply(
            &[],
            &[sethub_store::Attempt {
                delivery_id: delivery,
                stream_id: stream,
                attempted_at: chrono::Utc::now(),
                status: Some(503),
                latency_ms: 1,
                outcome: "retry".into(),
                error: None,
                response_excerpt: None,
            }],
        )
        .await
        .unwrap();
    Seeded {
        key,
        key_hash,
        signing_key,
        receiver,
        event,
    }
}
