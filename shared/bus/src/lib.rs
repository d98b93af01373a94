//! sethub's message bus: the only crate that touches lapin.
//!
//! - [`Message`] / [`Envelope`]: the tagged, versioned messages, each carrying its tenant.
//! - [`Bus`]: publish with a broker confirm, subscribe with manual acks and a bounded
//!   prefetch, ping, close.
//! - [`RabbitBus`]: RabbitMQ (durable exchanges, quorum queues, a dead-letter exchange),
//!   reconnecting after the broker restarts. [`InProcessBus`]: the same contract in memory,
//!   for the embedded mode. `tests/contract.rs` runs one suite against both.
//!
//! Delivery is at-least-once: a message is removed only when its delivery is acked; a
//! delivery dropped unsettled, or held by a consumer that dies, is delivered again (with
//! [`Delivery::redelivered`] set). Consumers dedupe on [`Envelope::id`].

mod delivery;
mod error;
mod in_process;
mod message;
mod rabbit;
mod topology;

use async_trait::async_trait;

pub use delivery::{DeadLetter, DeadLetters, Delivery, Subscription};
pub use error::BusError;
pub use in_process::InProcessBus;
pub use message::{AcceptedEvent, Envelope, Message, StreamChange};
pub use rabbit::{RabbitBus, RabbitConfig};
pub use topology::{
    DEFAULT_DELIVERY_LIMIT, DEFAULT_EVENT_SHARDS, MAX_EVENT_SHARDS, QueueKind, Topology,
};

/// A message bus. Object safe: services hold an `Arc<dyn Bus>`.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Publishes a persistent message and returns once the broker has confirmed it (it is
    /// then durable). A message no queue would receive is an error, never silently dropped.
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError>;

    /// Starts a consumer on `queue` holding at most `prefetch` unsettled deliveries.
    /// Consumers on the same queue compete: each message goes to one of them. For
    /// [`QueueKind::Events`] it consumes every event shard (each with that prefetch) and
    /// takes from them in turn.
    async fn subscribe(&self, queue: QueueKind, prefetch: u16) -> Result<Subscription, BusError>;

    /// The event shards to consume ([`Bus::subscribe_event_shard`]): those of the topology,
    /// and any shard queue beyond them that still exists (left by a larger `event_shards`;
    /// consumed until the process restarts, so lowering the setting strands nothing).
    async fn event_shards(&self) -> Result<Vec<u16>, BusError>;

    /// Starts a consumer on one event shard's queue (see [`Bus::subscribe`]).
    async fn subscribe_event_shard(
        &self,
        shard: u16,
        prefetch: u16,
    ) -> Result<Subscription, BusError>;

    /// Starts a consumer on the dead-letter queue, which holds undecodable messages, messages
    /// dead-lettered by a consumer and messages past the delivery limit.
    async fn subscribe_dead(&self, prefetch: u16) -> Result<DeadLetters, BusError>;

    /// Readiness: `Ok` when the bus can publish now.
    async fn ping(&self) -> Result<(), BusError>;

    /// Stops the bus: publishes fail with [`BusError::Closed`] and subscriptions end.
    /// Unsettled deliveries are redelivered later (to another process).
    async fn close(&self);
}
