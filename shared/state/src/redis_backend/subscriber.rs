//! The one pub/sub connection of a [`RedisState`](super::RedisState) and the task that owns it.
//!
//! Waiters register in the [`WakeHub`] and ask the task to subscribe their channel; the task
//! answers once Redis confirmed the subscription (so no later PUBLISH can be missed) and turns
//! every message into `hub.fire(channel)`. When the connection drops (Redis restarted), the task
//! reconnects with backoff, subscribes every channel that still has waiters, and wakes the
//! channels that were subscribed before the drop, since notifies may have been lost meanwhile.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use futures_util::StreamExt;
use redis::Client;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use crate::StateError;
use crate::wake::WakeHub;

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub(super) type SubscribeReply = oneshot::Sender<Result<(), StateError>>;

/// A request to confirm that `channel` (already registered in the hub) is subscribed.
pub(super) struct Subscribe {
    pub(super) channel: String,
    pub(super) reply: SubscribeReply,
}

pub(super) struct Subscriber {
    pub(super) client: Client,
    pub(super) hub: WakeHub,
    pub(super) timeout: Duration,
    pub(super) keepalive: Duration,
    pub(super) subscribes: mpsc::UnboundedReceiver<Subscribe>,
    pub(super) emptied: mpsc::UnboundedReceiver<String>,
}

struct Connected {
    sink: PubSubSink,
    stream: PubSubStream,
    /// Channels this connection has confirmed.
    active: HashSet<String>,
}

enum Event {
    Subscribe(Subscribe),
    Emptied(String),
    Message(String),
    Lost,
    Keepalive,
    Stop,
}

impl Subscriber {
    /// Runs until the store and every guard are dropped.
    pub(super) async fn run(mut self) {
        let mut connection: Option<Connected> = None;
        // Subscribes received while disconnected, answered after the next connect attempt.
        let mut pending: VecDeque<Subscribe> = VecDeque::new();
        // Channels subscribed on the last connection: woken after a reconnect.
        let mut missed: Vec<String> = Vec::new();
        let mut backoff = MIN_BACKOFF;
        let mut keepalive =
            tokio::time::interval_at(Instant::now() + self.keepalive, self.keepalive);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);

        loop {
            let Some(conn) = connection.as_mut() else {
                match self.connect().await {
                    Ok(conn) => {
                        backoff = MIN_BACKOFF;
                        for channel in missed.drain(..) {
                            self.hub.fire(&channel);
                        }
                        connection = Some(conn);
                        // Registered channels are now subscribed; pending replies are Ok.
                        for Subscribe { channel, reply } in pending.drain(..) {
                            let result = self.confirm(connection.as_mut(), channel).await;
                            let _ = reply.send(result);
                        }
                    }
                    Err(err) => {
                        if backoff == MIN_BACKOFF {
                            tracing::warn!(error = %err, "redis wake-up subscriber cannot connect; retrying");
                        } else {
                            tracing::debug!(error = %err, "redis wake-up subscriber cannot connect");
                        }
                        for Subscribe { reply, .. } in pending.drain(..) {
                            let _ =
                                reply.send(Err(StateError::Unavailable(err.to_string().into())));
                        }
                        if !self.wait_for_retry(backoff, &mut pending).await {
                            return;
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
                continue;
            };

            let event = tokio::select! {
                message = conn.stream.next() => match message {
                    Some(message) => Event::Message(message.get_channel_name().to_owned()),
                    None => Event::Lost,
                },
                request = self.subscribes.recv() => request.map_or(Event::Stop, Event::Subscribe),
                channel = self.emptied.recv() => channel.map_or(Event::Stop, Event::Emptied),
                _ = keepalive.tick() => Event::Keepalive,
            };
            match event {
                Event::Message(channel) => self.hub.fire(&channel),
                Event::Subscribe(Subscribe { channel, reply }) => {
                    if conn.active.contains(&channel) {
                        let _ = reply.send(Ok(()));
                    } else if self.call(conn.sink.subscribe(&channel)).await.is_ok() {
                        conn.active.insert(channel);
                        let _ = reply.send(Ok(()));
                    } else {
                        // The connection broke: answer after reconnecting (which subscribes it).
                        pending.push_back(Subscribe { channel, reply });
                        missed = lose(&mut connection);
                    }
                }
                Event::Emptied(channel) => {
                    // A new waiter may have registered since: only unsubscribe a channel
                    // that is still without waiters.
                    if !self.hub.contains(&channel)
                        && conn.active.remove(&channel)
                        && self.call(conn.sink.unsubscribe(&channel)).await.is_err()
                    {
                        missed = lose(&mut connection);
                    }
                }
                Event::Keepalive => {
                    // In subscribed mode PING answers an array, not PONG: accept any reply.
                    if let Err(err) = self.call(conn.sink.ping::<redis::Value>()).await {
                        tracing::warn!(error = %err, "redis wake-up subscriber ping failed; reconnecting");
                        missed = lose(&mut connection);
                    }
                }
                Event::Lost => {
                    tracing::warn!("redis wake-up subscriber lost its connection; reconnecting");
                    missed = lose(&mut connection);
                }
                Event::Stop => return,
            }
        }
    }

    async fn connect(&self) -> Result<Connected, StateError> {
        let pubsub = self.call(self.client.get_async_pubsub()).await?;
        let (mut sink, stream) = pubsub.split();
        let channels = self.hub.channels();
        if !channels.is_empty() {
            self.call(sink.subscribe(&channels)).await?;
        }
        Ok(Connected {
            sink,
            stream,
            active: channels.into_iter().collect(),
        })
    }

    /// Confirms a subscription right after a connect.
    async fn confirm(
        &self,
        conn: Option<&mut Connected>,
        channel: String,
    ) -> Result<(), StateError> {
        let Some(conn) = conn else {
            return Err(StateError::Unavailable(
                "redis subscriber disconnected".into(),
            ));
        };
        if !conn.active.contains(&channel) {
            self.call(conn.sink.subscribe(&channel)).await?;
            conn.active.insert(channel);
        }
        Ok(())
    }

    /// Waits out the backoff; a new subscribe request cuts it short (it is pushed to
    /// `pending`). `false` when the store is gone.
    async fn wait_for_retry(
        &mut self,
        backoff: Duration,
        pending: &mut VecDeque<Subscribe>,
    ) -> bool {
        let until = Instant::now() + backoff;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                request = self.subscribes.recv() => match request {
                    Some(request) => {
                        pending.push_back(request);
                        return true;
                    }
                    None => return false,
                },
                // While disconnected there is nothing to unsubscribe from.
                channel = self.emptied.recv() => if channel.is_none() { return false },
            }
        }
    }

    async fn call<T>(
        &self,
        request: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StateError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(result) => Ok(result?),
            Err(_elapsed) => Err(StateError::Timeout(self.timeout)),
        }
    }
}

/// Drops the connection, returning the channels it had subscribed.
fn lose(connection: &mut Option<Connected>) -> Vec<String> {
    connection
        .take()
        .map(|conn| conn.active.into_iter().collect())
        .unwrap_or_default()
}
