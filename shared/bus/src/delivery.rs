//! Subscriptions and deliveries, shared by both implementations.
//!
//! A backend supplies a [`RawSource`] of [`RawDelivery`] values, each with a [`Settle`] handle;
//! this module decodes them, dead-letters what does not decode, and gives consumers
//! [`Delivery`] values that must be settled exactly once (ack, requeue or dead-letter).

use async_trait::async_trait;

use crate::{BusError, Envelope};

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ack,
    Requeue,
    DeadLetter,
}

/// A backend's handle on one unsettled delivery.
#[async_trait]
pub(crate) trait Settle: Send + Sync {
    async fn settle(self: Box<Self>, outcome: Outcome) -> Result<(), BusError>;
    /// The delivery was dropped unsettled: return the message to its queue. Runs in `Drop`,
    /// so it must not block.
    fn abandon(self: Box<Self>);
    /// False once the delivery cannot be settled any more (its channel died): the broker
    /// has already requeued the message.
    fn live(&self) -> bool;
}

/// A backend's consumer.
#[async_trait]
pub(crate) trait RawSource: Send {
    /// The next delivery; `None` once the bus is closed.
    async fn next(&mut self) -> Option<RawDelivery>;
}

/// Several consumers as one (the event shards, for [`crate::Bus::subscribe`]): each call waits
/// on all of them and starts looking at the next one each time, so they take turns.
/// A consumer's `next` loses nothing when dropped before it completes (a delivery is only
/// taken from its buffer by the call that returns it).
pub(crate) struct Merged {
    sources: Vec<Box<dyn RawSource>>,
    turn: usize,
}

impl Merged {
    pub(crate) fn new(sources: Vec<Box<dyn RawSource>>) -> Self {
        Self { sources, turn: 0 }
    }
}

#[async_trait]
impl RawSource for Merged {
    async fn next(&mut self) -> Option<RawDelivery> {
        let count = self.sources.len();
        if count == 0 {
            return None;
        }
        let first = self.turn % count;
        self.turn = self.turn.wrapping_add(1);
        let (before, from_first) = self.sources.split_at_mut(first);
        let waiting: Vec<_> = from_first
            .iter_mut()
            .chain(before.iter_mut())
            .map(|source| source.next())
            .collect();
        // The first ready in that order; `None` (the bus closed) ends the merge too.
        let (next, _, _) = futures_util::future::select_all(waiting).await;
        next
    }
}

pub(crate) struct RawDelivery {
    pub(crate) payload: Vec<u8>,
    pub(crate) redelivered: bool,
    /// The message's `traceparent` header (RabbitMQ), which the envelope takes over.
    traceparent: Option<String>,
    settle: Option<Box<dyn Settle>>,
}

impl RawDelivery {
    pub(crate) fn new(payload: Vec<u8>, redelivered: bool, settle: Box<dyn Settle>) -> Self {
        Self {
            payload,
            redelivered,
            traceparent: None,
            settle: Some(settle),
        }
    }

    pub(crate) fn with_traceparent(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }

    fn live(&self) -> bool {
        self.settle.as_ref().is_some_and(|s| s.live())
    }

    async fn settle(mut self, outcome: Outcome) -> Result<(), BusError> {
        match self.settle.take() {
            Some(settle) => settle.settle(outcome).await,
            None => Err(BusError::DeliveryLost),
        }
    }
}

impl Drop for RawDelivery {
    fn drop(&mut self) {
        if let Some(settle) = self.settle.take() {
            settle.abandon();
        }
    }
}

/// A consumer on a work queue. Dropping it is a consumer's death: every delivery it has not
/// settled goes back to the queue for another consumer.
pub struct Subscription {
    queue: String,
    source: Box<dyn RawSource>,
}

impl Subscription {
    pub(crate) fn new(queue: String, source: Box<dyn RawSource>) -> Self {
        Self { queue, source }
    }

    /// The queue this subscription consumes.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Waits for the next message; `None` once the bus is closed. Keeps working across broker
    /// restarts. A payload that does not decode as an [`Envelope`] is dead-lettered (and
    /// logged) here, so it never reaches the consumer nor loops on the queue.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            let raw = self.source.next().await?;
            if !raw.live() {
                // Buffered from a channel that has since died: the broker requeued it already.
                continue;
            }
            match Envelope::decode(&raw.payload) {
                Ok(mut envelope) => {
                    if raw.traceparent.is_some() {
                        envelope.traceparent = raw.traceparent.clone();
                    }
                    return Some(Delivery { envelope, raw });
                }
                Err(error) => {
                    tracing::warn!(queue = %self.queue, %error, bytes = raw.payload.len(),
                        "undecodable message; dead-lettering it");
                    if let Err(error) = raw.settle(Outcome::DeadLetter).await {
                        tracing::warn!(queue = %self.queue, %error, "could not dead-letter");
                    }
                }
            }
        }
    }
}

/// One message handed to a consumer. Settle it with [`ack`](Self::ack),
/// [`nack_requeue`](Self::nack_requeue) or [`dead_letter`](Self::dead_letter); dropped
/// unsettled, it goes back to its queue.
pub struct Delivery {
    envelope: Envelope,
    raw: RawDelivery,
}

impl Delivery {
    pub fn message(&self) -> &Envelope {
        &self.envelope
    }

    /// True when the message was delivered before (requeued, or its consumer died).
    pub fn redelivered(&self) -> bool {
        self.raw.redelivered
    }

    /// Done: the message leaves the queue. [`BusError::DeliveryLost`] if the channel died
    /// first; the message will then be delivered again.
    pub async fn ack(self) -> Result<(), BusError> {
        self.raw.settle(Outcome::Ack).await
    }

    /// Not now: back to the queue, to be delivered again (counts toward the delivery limit).
    pub async fn nack_requeue(self) -> Result<(), BusError> {
        self.raw.settle(Outcome::Requeue).await
    }

    /// Never: move the message to the dead-letter queue.
    pub async fn dead_letter(self) -> Result<(), BusError> {
        self.raw.settle(Outcome::DeadLetter).await
    }
}

/// A consumer on the dead-letter queue. Its messages need not decode.
pub struct DeadLetters {
    source: Box<dyn RawSource>,
}

impl DeadLetters {
    pub(crate) fn new(source: Box<dyn RawSource>) -> Self {
        Self { source }
    }

    /// Waits for the next dead letter; `None` once the bus is closed.
    pub async fn next(&mut self) -> Option<DeadLetter> {
        loop {
            let raw = self.source.next().await?;
            if raw.live() {
                return Some(DeadLetter { raw });
            }
        }
    }
}

/// A message from the dead-letter queue, as published.
pub struct DeadLetter {
    raw: RawDelivery,
}

impl DeadLetter {
    pub fn payload(&self) -> &[u8] {
        &self.raw.payload
    }

    /// The payload decoded, if it decodes.
    pub fn decode(&self) -> Result<Envelope, serde_json::Error> {
        Envelope::decode(&self.raw.payload)
    }

    /// Removes it from the dead-letter queue.
    pub async fn ack(self) -> Result<(), BusError> {
        self.raw.settle(Outcome::Ack).await
    }

    /// Leaves it on the dead-letter queue.
    pub async fn nack_requeue(self) -> Result<(), BusError> {
        self.raw.settle(Outcome::Requeue).await
    }
}
