//! The bus's one error type.

use std::time::Duration;

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached (at start, or for longer than the configured wait).
    #[error("the message broker is unavailable: {0}")]
    Unavailable(String),
    /// A publish was not confirmed by the broker in time; it may or may not have been stored,
    /// so the caller must treat the message as not sent (and may publish it again).
    #[error("message {id} was not confirmed by the broker within {waited:?}: {cause}")]
    NotConfirmed {
        id: String,
        waited: Duration,
        cause: String,
    },
    /// A mandatory publish matched no queue: the topology is missing or wrong.
    #[error(
        "message {id} (routing key `{routing_key}`) was returned by `{exchange}`: no queue is bound for it"
    )]
    Unroutable {
        id: String,
        exchange: String,
        routing_key: String,
    },
    /// The channel that carried this delivery is gone (its consumer or the connection died).
    /// The broker requeues such a message and delivers it again, so nothing is lost.
    #[error("the delivery can no longer be settled (its channel is gone); it will be redelivered")]
    DeliveryLost,
    /// A subscription asked for a prefetch of 0 (which AMQP would read as "unbounded").
    #[error("prefetch must be at least 1")]
    InvalidPrefetch,
    #[error("cannot encode the message: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
    /// An event shard that does not exist was asked for.
    #[error("there is no event shard {shard} (this bus has {shards})")]
    NoSuchShard { shard: u16, shards: u16 },
    /// [`crate::Bus::close`] was called.
    #[error("the bus is closed")]
    Closed,
}
