//! What every fan-out task shares. [`Core`]: the app context, the stream cache, the
//! recorder, the retry scheduler, the metrics and the push client, which the push worker
//! holds too; [`Engine`]: the core plus the dispatcher (which holds the push worker), what the
//! consumers, the retry scheduler and the sweep are given. The core knows nothing of the
//! dispatcher, so the push worker and the dispatcher do not hold each other.

use std::sync::Arc;
use std::time::Duration;

use sethub_app::AppContext;
use sethub_domain::TenantId;
use sethub_jose::SigningKey;
use sethub_jose::keyring::MasterKeyring;

use crate::cache::{StreamCache, TenantStreams};
use crate::dispatch::Dispatcher;
use crate::metrics::FanoutMetrics;
use crate::recorder::Recorder;

pub struct Core {
    pub ctx: AppContext,
    pub ring: MasterKeyring,
    pub cache: StreamCache,
    pub metrics: FanoutMetrics,
    pub recorder: Recorder,
    /// The egress gate's client for pushes (the only way a push leaves).
    pub client: sethub_egress::GuardedClient,
    pub signing_keys: SigningKeyCache,
    pub scheduler: crate::scheduler::Scheduler,
}

/// The core and the dispatcher; the core's fields and methods are reached through it
/// (`engine.ctx`, `engine.signing_key(…)`).
pub struct Engine {
    pub core: Arc<Core>,
    pub dispatcher: Dispatcher,
}

impl std::ops::Deref for Engine {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

/// How long fan-out signs with a tenant's key before it looks the active key up again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// The tenants' active signing keys, with when each was looked up.
pub type SigningKeyCache =
    std::sync::Mutex<std::collections::HashMap<TenantId, (std::time::Instant, Arc<SigningKey>)>>;

/// Errors of fan-out work: transient ones are retried (the bus message stays unsettled),
/// permanent ones are logged and the message is acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
}

impl From<sethub_store::StoreError> for WorkError {
    fn from(e: sethub_store::StoreError) -> Self {
        match e {
            sethub_store::StoreError::NotFound => Self::Permanent("not found".into()),
            other => Self::Transient(other.to_string()),
        }
    }
}

impl From<sethub_app::keys::KeysError> for WorkError {
    fn from(e: sethub_app::keys::KeysError) -> Self {
        Self::Transient(format!("signing key: {e}"))
    }
}

impl From<sethub_jose::KeyError> for WorkError {
    fn from(e: sethub_jose::KeyError) -> Self {
        Self::Permanent(format!("cannot sign: {e}"))
    }
}

impl Core {
    /// The tenant's streams, checked against the database's version now.
    pub async fn streams_now(&self, tenant: TenantId) -> Result<Arc<TenantStreams>, WorkError> {
        Ok(self
            .cache
            .get(&self.ctx, &self.ring, tenant, Duration::ZERO)
            .await?)
    }

    /// The tenant's streams at `version` or newer: the cached copy if it is, else reloaded.
    pub async fn streams_at_least(
        &self,
        tenant: TenantId,
        version: i64,
    ) -> Result<Arc<TenantStreams>, WorkError> {
        if let Some(c) = self.cache.cached_at_least(tenant, version) {
            return Ok(c);
        }
        self.streams_now(tenant).await
    }

    /// The tenant's streams, checked within the last second (push workers).
    pub async fn streams_recent(&self, tenant: TenantId) -> Result<Arc<TenantStreams>, WorkError> {
        Ok(self
            .cache
            .get(&self.ctx, &self.ring, tenant, Duration::from_secs(1))
            .await?)
    }

    /// The key that signs the tenant's SETs now, looked up at most once per
    /// [`KEY_CACHE_TTL`] per tenant. Signing a few seconds longer with a key that was just
    /// replaced is harmless: a replaced key stays published (retiring) for days.
    pub async fn signing_key(&self, tenant: TenantId) -> Result<Arc<SigningKey>, WorkError> {
        if let Ok(cache) = self.signing_keys.lock()
            && let Some((at, key)) = cache.get(&tenant)
            && at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(key.clone());
        }
        let key = sethub_app::keys::active_signing_key(&self.ctx, tenant).await?;
        if let Ok(mut cache) = self.signing_keys.lock() {
            cache.insert(tenant, (std::time::Instant::now(), key.clone()));
        }
        Ok(key)
    }

    /// Forgets the tenant's cached signing key (a receiver said a signature failed).
    pub fn forget_signing_key(&self, tenant: TenantId) {
        if let Ok(mut cache) = self.signing_keys.lock() {
            cache.remove(&tenant);
        }
    }

    /// A consumer on `queue`, retried until the bus takes it; `None` once the bus is closed
    /// for good.
    pub async fn subscribe(
        &self,
        queue: sethub_bus::QueueKind,
        prefetch: u16,
    ) -> Option<sethub_bus::Subscription> {
        let subscribed = with_retries(&format!("subscribing to the {queue} queue"), || async {
            self.ctx
                .bus
                .subscribe(queue, prefetch)
                .await
                .map_err(|e| WorkError::Transient(e.to_string()))
        })
        .await;
        match subscribed {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(%queue, error = %e, "cannot consume");
                None
            }
        }
    }

    /// A consumer on each event shard the bus has ([`sethub_bus::Bus::event_shards`]), each
    /// retried until the bus takes it; `None` once the bus is closed for good.
    pub async fn subscribe_event_shards(
        &self,
        prefetch: u16,
    ) -> Option<Vec<sethub_bus::Subscription>> {
        let bus = &self.ctx.bus;
        let transient = |e: sethub_bus::BusError| WorkError::Transient(e.to_string());
        let subscribed = with_retries("subscribing to the event shards", || async {
            let mut subscriptions = Vec::new();
            for shard in bus.event_shards().await.map_err(transient)? {
                let sub = bus.subscribe_event_shard(shard, prefetch).await;
                subscriptions.push(sub.map_err(transient)?);
            }
            Ok(subscriptions)
        })
        .await;
        match subscribed {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot consume the events queues");
                None
            }
        }
    }

    /// Records how long a message waited on the bus.
    pub fn observe_lag(&self, queue: &str, published_at: chrono::DateTime<chrono::Utc>) {
        let lag = (chrono::Utc::now() - published_at)
            .to_std()
            .unwrap_or_default();
        self.metrics
            .bus_lag_seconds
            .with_label_values(&[queue])
            .observe(lag.as_secs_f64());
    }

    /// The tenant's issuer.
    pub fn issuer(&self, slug: &str) -> String {
        sethub_app::admin::issuer(&self.ctx, slug)
    }
}

/// Runs `work` until it succeeds or fails permanently, backing off between transient
/// failures (a backend is down: the bus message stays unsettled meanwhile, so nothing is
/// lost if this process dies, and nothing is dead-lettered for a backend outage).
pub async fn with_retries<T, F, Fut>(what: &str, mut work: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, WorkError>>,
{
    let mut delay = Duration::from_millis(100);
    loop {
        match work().await {
            Ok(v) => return Ok(v),
            Err(WorkError::Permanent(e)) => return Err(e),
            Err(WorkError::Transient(e)) => {
                tracing::warn!(error = %e, retry_in = ?delay, "{what} failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
