//! What both test files share: a bus per test (in-process, or RabbitMQ under a random prefix
//! whose queues and exchanges are deleted afterwards), deadlines, and message builders.
#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use sethub_bus::{
    Bus, BusError, DeadLetter, DeadLetters, Delivery, Envelope, InProcessBus, Message, QueueKind,
    RabbitBus, RabbitConfig, StreamChange, Subscription,
};
use sethub_domain::{EventId, StreamId, TenantId};

/// How long anything expected may take to arrive.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How long to watch for something that must not arrive.
pub const QUIET: Duration = Duration::from_millis(500);
/// A small delivery limit, so the limit test is short.
pub const DELIVERY_LIMIT: u32 = 3;

pub fn amqp_url() -> String {
    std::env::var("SETHUB_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A fresh prefix under `sethub.` (the production vhost's permissions allow `^sethub\.`).
pub fn random_prefix() -> String {
    format!("sethub.test-{}", uuid::Uuid::new_v4().simple())
}

pub fn rabbit_config() -> RabbitConfig {
    let mut config = RabbitConfig::new(amqp_url(), random_prefix());
    config.connection_name = format!("sethub-bus tests ({})", config.prefix);
    config.delivery_limit = DELIVERY_LIMIT;
    config.publish_timeout = Duration::from_secs(60);
    config.max_backoff = Duration::from_millis(500);
    config
}

enum Backend {
    InProcess(InProcessBus),
    Rabbit(RabbitBus),
}

/// One bus for one test. Call [`Harness::finish`] at the end; if the test panics first, the
/// RabbitMQ queues and exchanges are still deleted (best effort) when it drops.
pub struct Harness {
    backend: Backend,
    cleanup: Option<Cleanup>,
}

impl Harness {
    pub async fn in_process() -> Self {
        Self {
            backend: Backend::InProcess(InProcessBus::with_delivery_limit(DELIVERY_LIMIT)),
            cleanup: None,
        }
    }

    pub async fn rabbit() -> Self {
        Self::rabbit_with(rabbit_config()).await
    }

    pub async fn rabbit_with(config: RabbitConfig) -> Self {
        let cleanup = Cleanup {
            config: config.clone(),
        };
        let bus = RabbitBus::connect_with(config)
            .await
            .expect("RabbitMQ at SETHUB_TEST_AMQP_URL");
        Self {
            backend: Backend::Rabbit(bus),
            cleanup: Some(cleanup),
        }
    }

    pub fn bus(&self) -> &dyn Bus {
        match &self.backend {
            Backend::InProcess(bus) => bus,
            Backend::Rabbit(bus) => bus,
        }
    }

    pub fn rabbit_bus(&self) -> &RabbitBus {
        match &self.backend {
            Backend::Rabbit(bus) => bus,
            Backend::InProcess(_) => panic!("not a RabbitMQ harness"),
        }
    }

    pub async fn publish_raw(&self, kind: QueueKind, payload: &[u8]) {
        match &self.backend {
            Backend::InProcess(bus) => bus.publish_raw(kind, payload.to_vec()).unwrap(),
            Backend::Rabbit(bus) => bus.publish_raw(kind, payload.to_vec()).await.unwrap(),
        }
    }

    pub async fn finish(mut self) {
        if let Backend::Rabbit(bus) = &self.backend {
            match bus.delete_topology().await {
                Ok(()) => self.cleanup = None,
                // The test closed the bus: `Cleanup` deletes them over a connection of its own.
                Err(BusError::Closed) => {}
                // lapin may fail the connection on a late `basic.cancel-ok` from a consumer
                // the test dropped just before (its channel closed under the deletion): not
                // what the test checks. `Cleanup` deletes them over a connection of its own.
                Err(error) => eprintln!(
                    "deleting the test topology failed ({error}); retrying on a new connection"
                ),
            }
        }
        self.bus().close().await;
    }
}

/// Deletes a test's queues and exchanges from a thread of its own, since `Drop` cannot await.
struct Cleanup {
    /// The test's own: connecting declares the topology, which must match.
    config: RabbitConfig,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let config = self.config.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                if let Ok(bus) = RabbitBus::connect_with(config).await {
                    let _ = bus.delete_topology().await;
                    bus.close().await;
                }
            });
            Ok::<_, std::io::Error>(())
        })
        .join();
    }
}

pub fn event_accepted(tenant_id: TenantId) -> Envelope {
    Envelope::new(
        tenant_id,
        Message::EventAccepted {
            event_id: EventId::new(),
        },
    )
}

pub fn stream_changed(tenant_id: TenantId) -> Envelope {
    Envelope::new(
        tenant_id,
        Message::StreamChanged {
            stream_id: StreamId::new(),
            change: StreamChange::Updated,
        },
    )
}

/// The next delivery, which must come within [`DEADLINE`].
pub async fn next(subscription: &mut Subscription) -> Delivery {
    tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "nothing delivered on {} within {DEADLINE:?}",
                subscription.queue()
            )
        })
        .expect("the subscription ended")
}

/// Asserts nothing is delivered for [`QUIET`].
pub async fn assert_nothing_delivered(subscription: &mut Subscription) {
    if let Ok(delivery) = tokio::time::timeout(QUIET, subscription.next()).await {
        panic!(
            "unexpected delivery: {:?}",
            delivery.map(|d| d.message().clone())
        );
    }
}

pub async fn next_dead(dead: &mut DeadLetters) -> DeadLetter {
    tokio::time::timeout(DEADLINE, dead.next())
        .await
        .expect("nothing dead-lettered within the deadline")
        .expect("the dead-letter subscription ended")
}
