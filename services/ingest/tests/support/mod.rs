//! Shared set-up for the ingest tests: an `AppContext` over a fresh PostgreSQL database, the
//! in-process bus and in-memory state; tenants made through `sethub_app::admin`; requests
//! through `actix_web::test`.

#![allow(clippy::unwrap_used, dead_code)]

use std::time::Duration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::{App, test, web};
use base64::Engine;
use chrono::Utc;
use serde_json::{Value, json};
use sethub_app::AppContext;
use sethub_app::admin::{self, CreatedTenant};
use sethub_bus::{Bus, BusError, DeadLetters, Envelope, Message, QueueKind, Subscription};
use sethub_config::{Config, Secret};
use sethub_domain::{EventId, TenantId};
use sethub_store::StoredEvent;
use sethub_store::testing::TestDb;

pub const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
pub const IDENTIFIER_CHANGED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/identifier-changed";

pub struct Hub {
    /// Kept alive for the test: dropping it drops the database.
    pub db: TestDb,
    pub ctx: AppContext,
}

pub fn unique(label: &str) -> String {
    let u = TenantId::new().as_uuid().simple().to_string();
    format!("{label}-{}", &u[22..])
}

/// A valid publish request about `email`.
pub fn event(email: &str) -> Value {
    json!({
        "sub_id": {"format": "email", "email": email},
        "events": {REVOKED: {"event_timestamp": 1_700_000_000}},
        "txn": "upstream-1",
        "toe": 1_700_000_000
    })
}

impl Hub {
    pub async fn new() -> Hub {
        Self::with(|_| {}).await
    }

    /// A hub whose configuration `tweak` adjusts first.
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Hub {
        let db = TestDb::postgres().await;
        let mut config = Config::default();
        config.database.url = Some(Secret::new(db.url().to_owned()));
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        config.secrets.master_keys = vec![Secret::new(format!("t1:{key}"))];
        tweak(&mut config);
        let public = url::Url::parse("https://hub.example.com").unwrap();
        let ctx = sethub_app::connect_backends(config, public, false)
            .await
            .unwrap();
        Hub { db, ctx }
    }

    /// A new tenant with an API key holding `events:publish` and `admin`.
    pub async fn tenant(&self, label: &str) -> CreatedTenant {
        let slug = unique(label).parse().unwrap();
        let name = label.parse().unwrap();
        admin::create_tenant(&self.ctx, &slug, &name).await.unwrap()
    }

    pub async fn app(
        &self,
    ) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
    {
        test::init_service(
            App::new()
                .app_data(web::Data::new(self.ctx.clone()))
                .configure(sethub_ingest::routes),
        )
        .await
    }

    /// The routes over a context whose bus refuses every publish (the broker is down).
    pub async fn app_with_bus_down(
        &self,
    ) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
    {
        let mut ctx = self.ctx.clone();
        ctx.bus = std::sync::Arc::new(DownBus(self.ctx.bus.clone()));
        test::init_service(
            App::new()
                .app_data(web::Data::new(ctx))
                .configure(sethub_ingest::routes),
        )
        .await
    }

    /// A consumer of the events queue (subscribe before publishing).
    pub async fn events_queue(&self) -> Subscription {
        self.ctx.bus.subscribe(QueueKind::Events, 16).await.unwrap()
    }
    /// Waits until the event's publication is recorded (events with an `Idempotency-Key`).
    pub async fn wait_published(&self, tenant: TenantId, id: sethub_domain::EventId) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let events = self.ctx.store.scope(tenant).events();
        while events.get(id).await.unwrap().published_at.is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the publication of {id} was not recorded within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Every event stored for `tenant`.
    pub async fn stored(&self, tenant: TenantId) -> Vec<StoredEvent> {
        let from = Utc::now() - chrono::Duration::days(1);
        let to = Utc::now() + chrono::Duration::days(1);
        self.ctx
            .store
            .scope(tenant)
            .events()
            .list_received(from, to, 1000)
            .await
            .unwrap()
    }

    /// The next message on `queue` (acked), failing after a few seconds.
    pub async fn next_message(&self, queue: &mut Subscription) -> Envelope {
        let d = tokio::time::timeout(Duration::from_secs(5), queue.next())
            .await
            .expect("a message within 5s")
            .expect("the bus is open");
        let envelope = d.message().clone();
        d.ack().await.unwrap();
        envelope
    }

    /// Asserts nothing more was published on `queue`: a control message published now must be
    /// the next one out (the queue is first in, first out).
    pub async fn assert_nothing_published(&self, queue: &mut Subscription) {
        let control = Envelope::new(
            TenantId::new(),
            Message::EventAccepted {
                event_id: EventId::new(),
            },
        );
        self.ctx.bus.publish(control.clone()).await.unwrap();
        let next = self.next_message(queue).await;
        assert_eq!(
            next.id, control.id,
            "something else was published: {next:?}"
        );
    }
}

/// A response: status, headers and the body as JSON (`Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

pub async fn send<S>(app: &S, req: test::TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = test::read_body(resp).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(format!("{bytes:?}")))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// `POST {uri}` with a JSON body and a bearer key.
pub fn post(uri: &str, key: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri(uri)
        .insert_header(("Authorization", format!("Bearer {key}")))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_string())
}

/// A bus whose broker refuses publishes; everything else goes to the real one.
struct DownBus(std::sync::Arc<dyn Bus>);

#[async_trait::async_trait]
impl Bus for DownBus {
    async fn publish(&self, _: Envelope) -> Result<(), BusError> {
        Err(BusError::Unavailable("test: the broker is down".into()))
    }

    async fn subscribe(&self, queue: QueueKind, prefetch: u16) -> Result<Subscription, BusError> {
        self.0.subscribe(queue, prefetch).await
    }

    async fn event_shards(&self) -> Result<Vec<u16>, BusError> {
        self.0.event_shards().await
    }

    async fn subscribe_event_shard(
        &self,
        shard: u16,
        prefetch: u16,
    ) -> Result<Subscription, BusError> {
        self.0.subscribe_event_shard(shard, prefetch).await
    }

    async fn subscribe_dead(&self, prefetch: u16) -> Result<DeadLetters, BusError> {
        self.0.subscribe_dead(prefetch).await
    }

    async fn ping(&self) -> Result<(), BusError> {
        Err(BusError::Unavailable("test: the broker is down".into()))
    }

    async fn close(&self) {}
}

/// The event ids an `events_accepted` message announces (and checks each carries its event).
pub fn announced(message: &sethub_bus::Message) -> Vec<sethub_domain::EventId> {
    match message {
        sethub_bus::Message::EventsAccepted { events } => {
            assert!(
                events
                    .iter()
                    .all(|e| e.sub_id.is_some() && !e.events.is_empty())
            );
            events.iter().map(|e| e.event_id).collect()
        }
        other => panic!("expected events_accepted.v1, got {other:?}"),
    }
}

/// The events the message announces as maybe announced before (published again after a
/// publish that was not confirmed): fan-out stores their deliveries before pushing.
pub fn repeats(message: &sethub_bus::Message) -> Vec<sethub_domain::EventId> {
    match message {
        sethub_bus::Message::EventsAccepted { events } => events
            .iter()
            .filter(|e| e.maybe_announced)
            .map(|e| e.event_id)
            .collect(),
        other => panic!("expected events_accepted.v1, got {other:?}"),
    }
}
