//! A RabbitMQ consumer that outlives connections: when its channel dies it waits for the
//! supervisor's next connection and consumes again. Deliveries of the dead channel cannot be
//! settled any more (their acker is poisoned, settling returns [`BusError::DeliveryLost`]);
//! RabbitMQ requeued them when the channel closed and delivers them again.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Acker, Channel, Consumer};

use super::link::{Link, Live, Wait};
use crate::BusError;
use crate::delivery::{Outcome, RawDelivery, RawSource, Settle};

/// Pause before consuming again on a connection that is still up (say the queue was briefly
/// unavailable while its quorum elected a leader after a restart).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

pub(crate) struct RabbitConsumer {
    link: Arc<Link>,
    queue: String,
    prefetch: u16,
    /// The channel is kept so it closes (requeuing unsettled deliveries) when this is dropped.
    current: Option<(u64, Channel, Consumer)>,
}

impl RabbitConsumer {
    /// Starts consuming now, so a missing queue or a refused prefetch fails `subscribe`.
    pub(crate) async fn start(
        link: Arc<Link>,
        queue: String,
        prefetch: u16,
    ) -> Result<Self, BusError> {
        if prefetch == 0 {
            return Err(BusError::InvalidPrefetch);
        }
        let deadline = tokio::time::Instant::now() + link.config.publish_timeout;
        let live = match link.live(None, Some(deadline)).await {
            Ok(live) => live,
            Err(Wait::Shutdown) => return Err(BusError::Closed),
            Err(Wait::Timeout) => {
                return Err(BusError::Unavailable(
                    "no connection to subscribe on".into(),
                ));
            }
        };
        let mut consumer = Self {
            link,
            queue,
            prefetch,
            current: None,
        };
        consumer.current = Some(consumer.consume(&live).await?);
        Ok(consumer)
    }

    async fn consume(&self, live: &Live) -> Result<(u64, Channel, Consumer), BusError> {
        let channel = live.connection.create_channel().await?;
        // Per consumer: at most `prefetch` unacked deliveries are in flight to us.
        channel
            .basic_qos(self.prefetch, BasicQosOptions { global: false })
            .await?;
        let consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                // Empty: the broker picks a unique tag.
                "".into(),
                // Manual acks (`no_ack: false`), shared with other consumers.
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((live.generation, channel, consumer))
    }

    /// Consumes again after the channel died; `None` once the bus is shut down.
    async fn resume(&mut self, mut stale: Option<u64>) -> Option<()> {
        loop {
            let live = self.link.live(stale, None).await.ok()?;
            match self.consume(&live).await {
                Ok(current) => {
                    tracing::info!(queue = %self.queue, "consuming again after a lost channel");
                    self.current = Some(current);
                    return Some(());
                }
                Err(error) => {
                    tracing::warn!(queue = %self.queue, %error, "cannot consume yet");
                    if live.connection.status().connected() {
                        stale = None;
                        tokio::select! {
                            () = self.link.shutting_down() => return None,
                            () = tokio::time::sleep(RETRY_PAUSE) => {}
                        }
                    } else {
                        stale = Some(live.generation);
                    }
                }
            }
        }
    }
}

#[async_trait]
impl RawSource for RabbitConsumer {
    async fn next(&mut self) -> Option<RawDelivery> {
        loop {
            if self.link.is_shut_down() {
                self.current = None;
                return None;
            }
            let Some((generation, _, consumer)) = self.current.as_mut() else {
                self.resume(None).await?;
                continue;
            };
            let generation = *generation;
            let next = tokio::select! {
                () = self.link.shutting_down() => None,
                next = consumer.next() => Some(next),
            };
            match next {
                None => {
                    self.current = None;
                    return None;
                }
                Some(Some(Ok(delivery))) => {
                    let traceparent = traceparent(&delivery.properties);
                    return Some(
                        RawDelivery::new(
                            delivery.data,
                            delivery.redelivered || delivered_before(&delivery.properties),
                            Box::new(RabbitSettle(delivery.acker)),
                        )
                        .with_traceparent(traceparent),
                    );
                }
                Some(ended) => {
                    if let Some(Err(error)) = ended {
                        tracing::warn!(queue = %self.queue, %error, "consumer failed");
                    } else {
                        tracing::warn!(queue = %self.queue, "consumer cancelled");
                    }
                    self.current = None;
                    let connected = self
                        .link
                        .current()
                        .is_some_and(|l| l.generation == generation);
                    self.resume(if connected { None } else { Some(generation) })
                        .await?;
                }
            }
        }
    }
}

struct RabbitSettle(Acker);

#[async_trait]
impl Settle for RabbitSettle {
    async fn settle(self: Box<Self>, outcome: Outcome) -> Result<(), BusError> {
        let acker = self.0;
        let sent = match outcome {
            Outcome::Ack => acker.ack(BasicAckOptions { multiple: false }).await,
            // Back to the queue; quorum queues count it toward `x-delivery-limit`.
            Outcome::Requeue => {
                acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    })
                    .await
            }
            // Not requeued: the queue's dead-letter exchange takes it.
            Outcome::DeadLetter => {
                acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: false,
                    })
                    .await
            }
        };
        match sent {
            Ok(true) => Ok(()),
            Ok(false) => Err(BusError::DeliveryLost),
            Err(_) if acker.poisoned() => Err(BusError::DeliveryLost),
            Err(error) => Err(error.into()),
        }
    }

    fn abandon(self: Box<Self>) {
        let acker = self.0;
        if !acker.usable() {
            return;
        }
        // Without a runtime (a process tearing down) the channel's close requeues it instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    })
                    .await;
            });
        }
    }

    fn live(&self) -> bool {
        self.0.usable()
    }
}

/// The W3C `traceparent` header of a message, if it has one.
fn traceparent(properties: &lapin::BasicProperties) -> Option<String> {
    let headers = properties.headers().as_ref()?;
    let (_, value) = headers
        .inner()
        .iter()
        .find(|(k, _)| k.as_str() == "traceparent")?;
    match value {
        lapin::types::AMQPValue::LongString(s) => {
            Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        _ => None,
    }
}

/// A quorum queue counts the times a message went back to it in `x-delivery-count`; a
/// message that has one was handed out before, whatever the `redelivered` flag says (a
/// node recovering from a crash may send it again without the flag).
fn delivered_before(properties: &lapin::BasicProperties) -> bool {
    use lapin::types::AMQPValue;
    let Some(headers) = properties.headers().as_ref() else {
        return false;
    };
    headers
        .inner()
        .iter()
        .find(|(k, _)| k.as_str() == "x-delivery-count")
        .is_some_and(|(_, value)| match value {
            AMQPValue::ShortShortInt(n) => *n > 0,
            AMQPValue::ShortShortUInt(n) => *n > 0,
            AMQPValue::ShortInt(n) => *n > 0,
            AMQPValue::ShortUInt(n) => *n > 0,
            AMQPValue::LongInt(n) => *n > 0,
            AMQPValue::LongUInt(n) => *n > 0,
            AMQPValue::LongLongInt(n) => *n > 0,
            _ => false,
        })
}
