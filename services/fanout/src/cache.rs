//! The tenants' streams as fan-out needs them, cached per tenant and reloaded when the
//! tenant's `streams_version` (bumped in the same transaction as every stream or subject
//! change) moves. Fan-out checks the version for every event, so a stream created before an
//! event was accepted always sees it; push workers accept a copy checked within the last
//! second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sethub_app::AppContext;
use sethub_app::streams::open_authorization;
use sethub_domain::delivery::DeliverySettings;
use sethub_domain::subject::{ParseMode, Subject};
use sethub_domain::{StreamId, StreamStatus, TenantId};
use sethub_jose::keyring::MasterKeyring;
use sethub_store::{StoreError, Stream};

use crate::retry::RetrySchedule;

/// One stream with what matching and pushing need, prepared once.
#[derive(Debug)]
pub struct StreamView {
    pub stream: Stream,
    /// Subjects the receiver removed (with `default_subjects: ALL`, everything else matches).
    pub removed: Vec<Subject>,
    /// The opened push `Authorization` header.
    pub authorization: Option<String>,
    /// `scheme://host:port` of the push endpoint: the unit of concurrency caps and breakers.
    pub origin: Option<String>,
    /// The retry schedule: the stream's, else the tenant's, else the configuration's.
    pub schedule: RetrySchedule,
    /// Pushes per second the stream takes at most (its delivery settings), if limited.
    pub max_rate_per_second: Option<f64>,
    /// Its receiver is disabled by the tenant: the stream delivers nothing, whatever its
    /// status, and holds its SETs as a paused stream does (`sethub_app::receivers`).
    pub receiver_disabled: bool,
}

impl StreamView {
    /// The status fan-out delivers by: the stream's own, except that an `enabled` stream of
    /// a disabled receiver is held as if `paused` (released when the receiver is enabled).
    pub fn status(&self) -> StreamStatus {
        match self.stream.status {
            StreamStatus::Enabled if self.receiver_disabled => StreamStatus::Paused,
            s => s,
        }
    }
}

/// A tenant's streams at one version.
#[derive(Debug)]
pub struct TenantStreams {
    pub version: i64,
    pub slug: String,
    pub streams: Vec<Arc<StreamView>>,
    checked_at: Instant,
}

impl TenantStreams {
    pub fn get(&self, id: StreamId) -> Option<&Arc<StreamView>> {
        self.streams.iter().find(|s| s.stream.id == id)
    }
}

/// The cache. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct StreamCache {
    map: Arc<RwLock<HashMap<TenantId, Arc<TenantStreams>>>>,
}

impl StreamCache {
    fn cached(&self, tenant: TenantId) -> Option<Arc<TenantStreams>> {
        self.map.read().ok()?.get(&tenant).cloned()
    }

    /// The cached streams of the tenant if their version is at least `version`.
    pub fn cached_at_least(&self, tenant: TenantId, version: i64) -> Option<Arc<TenantStreams>> {
        self.cached(tenant).filter(|c| c.version >= version)
    }

    /// Forgets a tenant's streams (a control message said they changed).
    pub fn invalidate(&self, tenant: TenantId) {
        if let Ok(mut map) = self.map.write() {
            map.remove(&tenant);
        }
    }

    /// The tenant's streams, current as of a version check no older than `max_age`.
    pub async fn get(
        &self,
        ctx: &AppContext,
        ring: &MasterKeyring,
        tenant: TenantId,
        max_age: Duration,
    ) -> Result<Arc<TenantStreams>, StoreError> {
        let cached = self.cached(tenant);
        if let Some(c) = &cached
            && c.checked_at.elapsed() <= max_age
            && !max_age.is_zero()
        {
            return Ok(c.clone());
        }
        let scope = ctx.store.scope(tenant);
        let version = scope.streams().version().await?;
        if let Some(c) = cached
            && c.version == version
        {
            if !max_age.is_zero() {
                let fresh = Arc::new(TenantStreams {
                    version,
                    slug: c.slug.clone(),
                    streams: c.streams.clone(),
                    checked_at: Instant::now(),
                });
                self.put(tenant, fresh.clone());
                return Ok(fresh);
            }
            return Ok(c);
        }
        let loaded = Arc::new(load(ctx, ring, tenant, version).await?);
        self.put(tenant, loaded.clone());
        Ok(loaded)
    }

    fn put(&self, tenant: TenantId, streams: Arc<TenantStreams>) {
        if let Ok(mut map) = self.map.write() {
            // Never replace a newer version with an older one loaded concurrently.
            match map.get(&tenant) {
                Some(existing) if existing.version > streams.version => {}
                _ => {
                    map.insert(tenant, streams);
                }
            }
        }
    }
}

async fn load(
    ctx: &AppContext,
    ring: &MasterKeyring,
    tenant: TenantId,
    version: i64,
) -> Result<TenantStreams, StoreError> {
    let t = ctx.store.tenants().get(tenant).await?;
    let tenant_settings = settings(t.delivery_settings.as_ref());
    let scope = ctx.store.scope(tenant);
    let disabled: Vec<_> = scope
        .receivers()
        .list()
        .await?
        .into_iter()
        .filter(|r| r.disabled_at.is_some())
        .map(|r| r.id)
        .collect();
    let streams = scope.streams();
    let mut views = Vec::new();
    for stream in streams.list().await? {
        let removed = streams
            .subjects(stream.id)
            .await?
            .into_iter()
            .filter(|s| !s.added)
            .filter_map(|s| Subject::parse(&s.subject, ParseMode::Receiving).ok())
            .collect();
        let authorization = match &stream.authorization_sealed {
            Some(sealed) => match open_authorization(ring, tenant, stream.id, sealed) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::error!(error = %e, "pushing without the stream's authorization header");
                    None
                }
            },
            None => None,
        };
        let origin = stream
            .endpoint_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization());
        let effective = settings(stream.delivery_settings.as_ref()).or(&tenant_settings);
        let schedule = effective.retry.as_ref().map_or_else(
            || RetrySchedule::from(&ctx.config.push.retry),
            RetrySchedule::from,
        );
        views.push(Arc::new(StreamView {
            max_rate_per_second: effective.max_rate_per_second,
            receiver_disabled: disabled.contains(&stream.receiver_id),
            schedule,
            stream,
            removed,
            authorization,
            origin,
        }));
    }
    Ok(TenantStreams {
        version,
        slug: t.slug,
        streams: views,
        checked_at: Instant::now(),
    })
}

/// Stored delivery settings; unreadable ones (never written by sethub) count as none.
fn settings(v: Option<&serde_json::Value>) -> DeliverySettings {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}
