//! The connection to RabbitMQ, kept alive by a supervisor task: when the connection dies (the
//! broker restarted, the network dropped) it reconnects with capped exponential backoff and
//! declares the topology again. Publishers and consumers wait on [`Link::live`] for the next
//! connection instead of failing.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::{Connection, ConnectionProperties, Event};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::{RabbitConfig, topology};
use crate::{BusError, Topology};

/// How often the supervisor looks at the connection's state, besides its error events.
const HEALTH_CHECK: Duration = Duration::from_millis(250);
/// First pause between reconnection attempts; doubled up to `RabbitConfig::max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// One established connection. `generation` grows with every reconnection, so a user can ask
/// for "a connection other than the one that just failed".
#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) generation: u64,
    pub(crate) connection: Arc<Connection>,
}

/// Why [`Link::live`] returned no connection.
pub(crate) enum Wait {
    Shutdown,
    Timeout,
}

/// What publishers and consumers share. Dropping the last handle stops the supervisor.
pub(crate) struct Link {
    pub(crate) config: RabbitConfig,
    pub(crate) names: Topology,
    live: watch::Receiver<Option<Live>>,
    shutdown: watch::Sender<bool>,
}

impl Link {
    /// Connects and declares the topology (failing fast if the broker is not there at start),
    /// then hands the connection to a supervisor task.
    pub(crate) async fn start(
        config: RabbitConfig,
    ) -> Result<(Arc<Link>, JoinHandle<()>), BusError> {
        let names = Topology::new(config.prefix.clone()).with_event_shards(config.event_shards);
        let connection = open(&config, &names).await?;
        let first = Live {
            generation: 1,
            connection: Arc::new(connection),
        };
        let (live_tx, live) = watch::channel(Some(first.clone()));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let supervisor = Supervisor {
            config: config.clone(),
            names: names.clone(),
            live: live_tx,
            shutdown: shutdown_rx,
        };
        let handle = tokio::spawn(supervisor.run(first));
        Ok((
            Arc::new(Link {
                config,
                names,
                live,
                shutdown,
            }),
            handle,
        ))
    }

    pub(crate) fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// The current connection if it is up.
    pub(crate) fn current(&self) -> Option<Live> {
        self.live
            .borrow()
            .clone()
            .filter(|l| l.connection.status().connected())
    }

    /// Waits for a connection that is up and is not generation `stale`, until `deadline`.
    pub(crate) async fn live(
        &self,
        stale: Option<u64>,
        deadline: Option<Instant>,
    ) -> Result<Live, Wait> {
        let mut live = self.live.clone();
        let mut shutdown = self.shutdown.subscribe();
        let usable = |l: &Option<Live>| {
            l.as_ref()
                .is_some_and(|l| Some(l.generation) != stale && l.connection.status().connected())
        };
        let wait = async {
            tokio::select! {
                found = live.wait_for(usable) => found.ok().and_then(|l| l.clone()).ok_or(Wait::Shutdown),
                _ = shutdown.wait_for(|s| *s) => Err(Wait::Shutdown),
            }
        };
        if self.is_shut_down() {
            return Err(Wait::Shutdown);
        }
        match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, wait)
                .await
                .unwrap_or(Err(Wait::Timeout)),
            None => wait.await,
        }
    }

    /// Resolves when [`Link::shut_down`] is called (or the link is dropped).
    pub(crate) async fn shutting_down(&self) {
        let mut shutdown = self.shutdown.subscribe();
        let _ = shutdown.wait_for(|s| *s).await;
    }
}

/// Opens a connection named for the management UI and declares the topology on it.
async fn open(config: &RabbitConfig, names: &Topology) -> Result<Connection, BusError> {
    let attempt = async {
        let properties = ConnectionProperties::default()
            .with_connection_name(config.connection_name.as_str().into());
        let connection = Connection::connect(&config.url, properties).await?;
        let channel = connection.create_channel().await?;
        topology::declare(&channel, names, config.delivery_limit).await?;
        channel.close(200, "topology declared".into()).await?;
        Ok::<_, lapin::Error>(connection)
    };
    match tokio::time::timeout(config.connect_timeout, attempt).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(BusError::Unavailable(error.to_string())),
        Err(_) => Err(BusError::Unavailable(format!(
            "no connection within {:?}",
            config.connect_timeout
        ))),
    }
}

struct Supervisor {
    config: RabbitConfig,
    names: Topology,
    live: watch::Sender<Option<Live>>,
    shutdown: watch::Receiver<bool>,
}

impl Supervisor {
    async fn run(mut self, mut current: Live) {
        loop {
            tokio::select! {
                _ = self.shutdown.wait_for(|s| *s) => break,
                () = died(&current.connection) => {}
            }
            tracing::warn!(connection = %self.config.connection_name, "RabbitMQ connection lost; reconnecting");
            self.live.send_replace(None);
            match self.reconnect(current.generation + 1).await {
                Some(next) => current = next,
                None => break,
            }
        }
        self.live.send_replace(None);
        if current.connection.status().connected() {
            let closing = current.connection.close(200, "sethub bus closed".into());
            if let Err(error) = tokio::time::timeout(self.config.connect_timeout, closing)
                .await
                .unwrap_or(Ok(()))
            {
                tracing::debug!(%error, "closing the RabbitMQ connection");
            }
        }
    }

    /// Tries until connected (`Some`) or shut down (`None`).
    async fn reconnect(&mut self, generation: u64) -> Option<Live> {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1u32.. {
            if *self.shutdown.borrow() {
                return None;
            }
            match open(&self.config, &self.names).await {
                Ok(connection) => {
                    tracing::info!(connection = %self.config.connection_name, attempt, "RabbitMQ connection re-established");
                    let live = Live {
                        generation,
                        connection: Arc::new(connection),
                    };
                    self.live.send_replace(Some(live.clone()));
                    return Some(live);
                }
                Err(error) => {
                    tracing::warn!(%error, attempt, retry_in = ?backoff, "RabbitMQ reconnection failed");
                }
            }
            tokio::select! {
                _ = self.shutdown.wait_for(|s| *s) => return None,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
        None
    }
}

/// Resolves once `connection` is no longer usable.
async fn died(connection: &Connection) {
    let mut events = connection.events_listener();
    let mut check = tokio::time::interval(HEALTH_CHECK);
    check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.next() => match event {
                None => return,
                Some(Event::Error(error)) => tracing::debug!(%error, "RabbitMQ connection error"),
                Some(_) => {}
            },
            _ = check.tick() => {}
        }
        if !connection.status().connected() {
            return;
        }
    }
}
