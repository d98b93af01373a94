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
    Seeded {
        key,
        key_hash,
        signing_key,
        receiver,
        event,
    }
}
