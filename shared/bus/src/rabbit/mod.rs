//! The bus on RabbitMQ (lapin 4): persistent messages with publisher confirms, mandatory
//! routing, manual acks, bounded prefetch, and a supervisor that reconnects after the broker
//! restarts (see [`link`]).

mod consumer;
mod link;
mod topology;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::consumer::RabbitConsumer;
use self::link::{Link, Live, Wait};
use crate::delivery::Merged;
use crate::{
    Bus, BusError, DEFAULT_DELIVERY_LIMIT, DEFAULT_EVENT_SHARDS, DeadLetters, Envelope,
    MAX_EVENT_SHARDS, QueueKind, Subscription, Topology,
};

/// AMQP `delivery_mode` of a message the broker writes to disk.
const PERSISTENT: u8 = 2;
/// Longest pause between two publish attempts on a connection that is up.
const MAX_PUBLISH_PAUSE: Duration = Duration::from_secs(1);

/// How to reach RabbitMQ and how patient to be with it.
#[derive(Debug, Clone)]
pub struct RabbitConfig {
    /// `amqp://user:pass@host:5672/vhost` (or `amqps://`).
    pub url: String,
    /// Prefix of every exchange and queue name.
    pub prefix: String,
    /// Shown in the management UI's connection list; name the service and host.
    pub connection_name: String,
    /// How long a publish (and a subscribe) waits for a connection and a confirm, across
    /// reconnections, before it fails.
    pub publish_timeout: Duration,
    /// Limit of one connection attempt (TCP, AMQP handshake and topology declaration).
    pub connect_timeout: Duration,
    /// Cap of the exponential backoff between reconnection attempts.
    pub max_backoff: Duration,
    /// `x-delivery-limit` of the work queues (see [`DEFAULT_DELIVERY_LIMIT`]).
    pub delivery_limit: u32,
    /// How many queues the events are spread over, by tenant ([`DEFAULT_EVENT_SHARDS`]);
    /// the same in every service.
    pub event_shards: u16,
}

impl RabbitConfig {
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: prefix.into(),
            connection_name: format!("sethub (pid {})", std::process::id()),
            publish_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(5),
            delivery_limit: DEFAULT_DELIVERY_LIMIT,
            event_shards: DEFAULT_EVENT_SHARDS,
        }
    }
}

/// The bus on RabbitMQ.
pub struct RabbitBus {
    link: Arc<Link>,
    /// The confirm-mode channel publishes go through, with the generation of its connection.
    publisher: tokio::sync::Mutex<Option<(u64, Channel)>>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl RabbitBus {
    /// Connects with default settings and declares the topology under `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, BusError> {
        Self::connect_with(RabbitConfig::new(url, prefix)).await
    }

    /// Connects and declares the topology; fails if the broker cannot be reached now.
    pub async fn connect_with(config: RabbitConfig) -> Result<Self, BusError> {
        let (link, supervisor) = Link::start(config).await?;
        Ok(Self {
            link,
            publisher: tokio::sync::Mutex::new(None),
            supervisor: Mutex::new(Some(supervisor)),
        })
    }

    pub fn topology(&self) -> &Topology {
        &self.link.names
    }

    /// The name of the connection in the management UI.
    pub fn connection_name(&self) -> &str {
        &self.link.config.connection_name
    }

    /// Publishes bytes as they are to the exchange of `kind`, bypassing the typed
    /// [`Envelope`]: what a foreign or newer publisher could send. For tests and for
    /// replaying dead letters; services use [`Bus::publish`].
    pub async fn publish_raw(&self, kind: QueueKind, payload: Vec<u8>) -> Result<(), BusError> {
        let properties = BasicProperties::default().with_delivery_mode(PERSISTENT);
        // Events go to shard 0 (`s0.#`); the control queue takes every key.
        let key = match kind {
            QueueKind::Events => "s0.raw",
            QueueKind::Control => "raw",
        };
        self.publish_bytes(kind, key, &payload, properties, "(raw)")
            .await
    }

    /// Deletes this prefix's queues (with their messages) and exchanges. For tests and
    /// decommissioning.
    pub async fn delete_topology(&self) -> Result<(), BusError> {
        let live = self.wait_live(None).await?;
        let channel = live.connection.create_channel().await?;
        topology::delete(&channel, &self.link.names).await?;
        channel.close(200, "topology deleted".into()).await?;
        Ok(())
    }

    async fn wait_live(&self, stale: Option<u64>) -> Result<Live, BusError> {
        let deadline = Instant::now() + self.link.config.publish_timeout;
        match self.link.live(stale, Some(deadline)).await {
            Ok(live) => Ok(live),
            Err(Wait::Shutdown) => Err(BusError::Closed),
            Err(Wait::Timeout) => Err(BusError::Unavailable(format!(
                "no connection within {:?}",
                self.link.config.publish_timeout
            ))),
        }
    }

    /// Publishes until the broker confirms, waiting through reconnections until the
    /// publish timeout. A retry after a lost confirm can store the message twice: delivery
    /// is at-least-once and consumers dedupe on the envelope id.
    async fn publish_bytes(
        &self,
        kind: QueueKind,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
        id: &str,
    ) -> Result<(), BusError> {
        let started = Instant::now();
        let deadline = started + self.link.config.publish_timeout;
        let exchange = self.link.names.exchange(kind);
        let not_confirmed = |cause: String| BusError::NotConfirmed {
            id: id.to_owned(),
            waited: started.elapsed(),
            cause,
        };
        let mut stale = None;
        let mut cause = "no connection to the broker".to_owned();
        let mut pause = Duration::from_millis(50);
        loop {
            let live = match self.link.live(stale, Some(deadline)).await {
                Ok(live) => live,
                Err(Wait::Shutdown) => return Err(BusError::Closed),
                Err(Wait::Timeout) => return Err(not_confirmed(cause)),
            };
            let attempt = async {
                let channel = self.channel(&live).await?;
                channel
                    .basic_publish(
                        exchange.as_str().into(),
                        routing_key.into(),
                        // Mandatory: a message no queue takes comes back as an error.
                        BasicPublishOptions {
                            mandatory: true,
                            immediate: false,
                        },
                        payload,
                        properties.clone(),
                    )
                    .await?
                    .await
            };
            match tokio::time::timeout_at(deadline, attempt).await {
                Ok(Ok(Confirmation::Ack(None))) => return Ok(()),
                Ok(Ok(Confirmation::Ack(Some(_)))) => {
                    return Err(BusError::Unroutable {
                        id: id.to_owned(),
                        exchange,
                        routing_key: routing_key.to_owned(),
                    });
                }
                Ok(Ok(Confirmation::Nack(_))) => cause = "the broker refused it (nack)".into(),
                Ok(Ok(Confirmation::NotRequested)) => {
                    cause = "the channel was not in confirm mode".into()
                }
                Ok(Err(error)) => cause = error.to_string(),
                Err(_) => return Err(not_confirmed(format!("no confirm ({cause})"))),
            }
            tracing::warn!(message_id = id, %cause, "publish not confirmed; retrying");
            self.forget_channel(live.generation).await;
            if live.connection.status().connected() {
                stale = None;
                tokio::time::sleep_until(deadline.min(Instant::now() + pause)).await;
                pause = (pause * 2).min(MAX_PUBLISH_PAUSE);
            } else {
                stale = Some(live.generation);
            }
        }
    }

    /// The publishing channel of `live`, opened in confirm mode when needed.
    async fn channel(&self, live: &Live) -> lapin::Result<Channel> {
        let mut cached = self.publisher.lock().await;
        if let Some((generation, channel)) = cached.as_ref()
            && *generation == live.generation
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let channel = live.connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions { nowait: false })
            .await?;
        *cached = Some((live.generation, channel.clone()));
        Ok(channel)
    }

    async fn forget_channel(&self, generation: u64) {
        let mut cached = self.publisher.lock().await;
        if cached.as_ref().is_some_and(|(g, _)| *g == generation) {
            *cached = None;
        }
    }
}

#[async_trait]
impl Bus for RabbitBus {
    async fn publish(&self, mut envelope: Envelope) -> Result<(), BusError> {
        // The trace context travels in the headers only (the consumer puts it back).
        let traceparent = envelope.traceparent.take();
        let payload = envelope.encode()?;
        let id = envelope.id.to_string();
        let properties = BasicProperties::default()
            // Written to disk (quorum queues store every message anyway).
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/json".into())
            .with_message_id(id.as_str().into())
            .with_type(envelope.message.type_name().into())
            .with_timestamp(u64::try_from(envelope.published_at.timestamp()).unwrap_or(0))
            .with_app_id("sethub".into());
        // W3C trace context in the message headers, where tracing-aware consumers look.
        let properties = match &traceparent {
            Some(tp) => {
                let mut headers = lapin::types::FieldTable::default();
                headers.insert(
                    "traceparent".into(),
                    lapin::types::AMQPValue::LongString(tp.as_str().into()),
                );
                properties.with_headers(headers)
            }
            None => properties,
        };
        let kind = envelope.message.queue_kind();
        let key =
            self.link
                .names
                .routing_key(kind, envelope.tenant_id, envelope.message.type_name());
        self.publish_bytes(kind, &key, &payload, properties, &id)
            .await
    }

    async fn subscribe(&self, queue: QueueKind, prefetch: u16) -> Result<Subscription, BusError> {
        if queue == QueueKind::Events {
            let mut sources = Vec::new();
            for shard in self.event_shards().await? {
                let name = self.link.names.event_queue(shard);
                let consumer = RabbitConsumer::start(self.link.clone(), name, prefetch).await?;
                sources.push(Box::new(consumer) as Box<dyn crate::delivery::RawSource>);
            }
            let name = self.link.names.queue(queue);
            return Ok(Subscription::new(name, Box::new(Merged::new(sources))));
        }
        let name = self.link.names.queue(queue);
        let consumer = RabbitConsumer::start(self.link.clone(), name.clone(), prefetch).await?;
        Ok(Subscription::new(name, Box::new(consumer)))
    }

    async fn event_shards(&self) -> Result<Vec<u16>, BusError> {
        let names = &self.link.names;
        let mut shards: Vec<u16> = (0..names.event_shards()).collect();
        let live = self.wait_live(None).await?;
        for shard in names.event_shards()..MAX_EVENT_SHARDS {
            if topology::exists(&live.connection, &names.event_queue(shard)).await? {
                tracing::warn!(
                    queue = %names.event_queue(shard),
                    "an event shard queue beyond bus.event_shards exists (the setting was \
                     lowered?); consuming it too until this process restarts. Delete it once \
                     it is empty."
                );
                shards.push(shard);
            }
        }
        Ok(shards)
    }

    async fn subscribe_event_shard(
        &self,
        shard: u16,
        prefetch: u16,
    ) -> Result<Subscription, BusError> {
        if shard >= MAX_EVENT_SHARDS {
            return Err(BusError::NoSuchShard {
                shard,
                shards: self.link.names.event_shards(),
            });
        }
        let name = self.link.names.event_queue(shard);
        let consumer = RabbitConsumer::start(self.link.clone(), name.clone(), prefetch).await?;
        Ok(Subscription::new(name, Box::new(consumer)))
    }

    async fn subscribe_dead(&self, prefetch: u16) -> Result<DeadLetters, BusError> {
        let name = self.link.names.dead_queue();
        let consumer = RabbitConsumer::start(self.link.clone(), name, prefetch).await?;
        Ok(DeadLetters::new(Box::new(consumer)))
    }

    async fn ping(&self) -> Result<(), BusError> {
        if self.link.is_shut_down() {
            return Err(BusError::Closed);
        }
        match self.link.current() {
            Some(_) => Ok(()),
            None => Err(BusError::Unavailable("reconnecting to RabbitMQ".into())),
        }
    }

    async fn close(&self) {
        self.link.shut_down();
        *self.publisher.lock().await = None;
        let supervisor = self.supervisor.lock().ok().and_then(|mut s| s.take());
        if let Some(supervisor) = supervisor {
            let _ = tokio::time::timeout(self.link.config.connect_timeout, supervisor).await;
        }
    }
}

impl Drop for RabbitBus {
    fn drop(&mut self) {
        // Subscriptions share the link; the connection lives until the last one is dropped.
        // Without them, stop the supervisor now rather than keep an idle connection.
        if Arc::strong_count(&self.link) == 1 {
            self.link.shut_down();
        }
    }
}
