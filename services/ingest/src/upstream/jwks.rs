//! The JWKS of upstream transmitters that publish theirs at a URL: fetched through the egress
//! gate (no private addresses or plain HTTP unless the operator allows them, no redirects, the
//! answer bounded), kept for `ingest.upstream_jwks_cache_secs`, and fetched again early when a
//! SET names a `kid` the cached set lacks, at most once per `ingest.upstream_jwks_refetch_secs`
//! per URL (so a flood of SETs with made-up `kid`s cannot make sethub hammer the transmitter).
//! A failed fetch is remembered for `ingest.upstream_jwks_failure_secs`: SETs arriving
//! meanwhile are refused without fetching again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::web;
use sethub_app::AppContext;
use sethub_app::egress::Purpose;
use sethub_egress::GuardedClient;
use sethub_jose::Jwks;

struct Entry {
    /// The last set fetched, and when.
    jwks: Option<(Arc<Jwks>, Instant)>,
    /// The last fetch tried (successful or not), and its error if it failed.
    attempted_at: Instant,
    failure: Option<JwksError>,
}

/// Cached JWKS by URL, shared by an ingest process's workers ([`JwksCache::shared`]).
#[derive(Default)]
pub struct JwksCache {
    entries: Mutex<HashMap<String, Entry>>,
}

/// Why the keys could not be had. The texts are for the log; the SET's sender gets a generic
/// `503`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JwksError {
    #[error("the transmitter's JWKS cannot be fetched: {0}")]
    Fetch(String),
    #[error("the transmitter's JWKS is not a usable JWKS: {0}")]
    Invalid(String),
    #[error(
        "the last fetch of the transmitter's JWKS failed moments ago ({0}); not tried again yet"
    )]
    Remembered(Box<JwksError>),
}

impl JwksCache {
    /// The one cache of this process: actix builds the app once per worker, and a cache per
    /// worker would fetch (and remember failures) once per worker.
    pub fn shared() -> web::Data<JwksCache> {
        static SHARED: OnceLock<web::Data<JwksCache>> = OnceLock::new();
        SHARED
            .get_or_init(|| web::Data::new(JwksCache::default()))
            .clone()
    }

    /// The guarded client of a fetch, under the context's policy (fetches are rare: cached,
    /// and failures remembered).
    fn client(ctx: &AppContext) -> Result<GuardedClient, JwksError> {
        sethub_app::egress::client(ctx, Purpose::Jwks).map_err(|e| JwksError::Fetch(e.to_string()))
    }

    /// The JWKS at `url`: cached while fresh; `stale_kid` asks for a fetch when the cached set
    /// lacks that `kid` and the last fetch is older than the refetch interval. A failure within
    /// the failure interval is answered again without fetching.
    pub async fn get(
        &self,
        ctx: &AppContext,
        url: &str,
        stale_kid: Option<&str>,
    ) -> Result<Arc<Jwks>, JwksError> {
        let cfg = &ctx.config.ingest;
        let ttl = Duration::from_secs(cfg.upstream_jwks_cache_secs);
        let refetch = Duration::from_secs(cfg.upstream_jwks_refetch_secs);
        let remember = Duration::from_secs(cfg.upstream_jwks_failure_secs);
        if let Ok(map) = self.entries.lock()
            && let Some(e) = map.get(url)
        {
            let since_attempt = e.attempted_at.elapsed();
            if let Some((jwks, fetched_at)) = &e.jwks
                && fetched_at.elapsed() < ttl
            {
                let lacks_kid = stale_kid
                    .is_some_and(|kid| !jwks.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
                if !(lacks_kid && since_attempt >= refetch) {
                    return Ok(jwks.clone());
                }
            }
            if let Some(failure) = &e.failure
                && since_attempt < remember
            {
                return Err(JwksError::Remembered(Box::new(failure.clone())));
            }
        }
        let fetched = Self::fetch(ctx, url).await;
        if let Ok(mut map) = self.entries.lock() {
            let now = Instant::now();
            let entry = map.entry(url.to_owned()).or_insert(Entry {
                jwks: None,
                attempted_at: now,
                failure: None,
            });
            entry.attempted_at = now;
            match &fetched {
                Ok(jwks) => {
                    entry.jwks = Some((jwks.clone(), now));
                    entry.failure = None;
                }
                Err(e) => entry.failure = Some(e.clone()),
            }
        }
        fetched
    }

    async fn fetch(ctx: &AppContext, url: &str) -> Result<Arc<Jwks>, JwksError> {
        let answer = Self::client(ctx)?
            .get(url)
            .header("Accept", "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| JwksError::Fetch(e.to_string()))?;
        if !answer.status.is_success() {
            return Err(JwksError::Fetch(format!("HTTP {}", answer.status.as_u16())));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|e| JwksError::Invalid(e.to_string()))?;
        let jwks = Jwks::from_json(&value).map_err(|e| JwksError::Invalid(e.to_string()))?;
        tracing::info!(url, "fetched an upstream transmitter's JWKS");
        Ok(Arc::new(jwks))
    }
}
