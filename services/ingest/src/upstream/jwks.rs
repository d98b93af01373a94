//! The JWKS of upstream transmitters that publish theirs at a URL: fetched through the
//! egress policy (no private addresses or plain HTTP unless the operator allows them, no
//! redirects), kept for `ingest.upstream_jwks_cache_secs`, and fetched again early when a SET
//! names a `kid` the cached set lacks, at most once per `ingest.upstream_jwks_refetch_secs`
//! per URL (so a flood of SETs with made-up `kid`s cannot make sethub hammer the
//! transmitter).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sethub_app::AppContext;
use sethub_egress::ClientOptions;
use sethub_jose::Jwks;

/// The most bytes of a JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

struct Entry {
    jwks: Arc<Jwks>,
    fetched_at: Instant,
}

/// Cached JWKS by URL, shared by an ingest process's workers.
#[derive(Default)]
pub struct JwksCache {
    entries: Mutex<HashMap<String, Entry>>,
    client: Mutex<Option<reqwest::Client>>,
}

/// Why the keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the transmitter's jwks_url is not allowed: {0}")]
    Refused(String),
    #[error("cannot fetch the transmitter's JWKS from {url}: {why}")]
    Fetch { url: String, why: String },
    #[error("the transmitter's JWKS at {url} is not a usable JWKS: {why}")]
    Invalid { url: String, why: String },
}

impl JwksCache {
    fn client(&self, ctx: &AppContext) -> Result<reqwest::Client, JwksError> {
        let mut slot = self
            .client
            .lock()
            .map_err(|_| JwksError::Refused("internal: the JWKS client lock is poisoned".into()))?;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let opts = ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_idle_per_host: 4,
            user_agent: format!("sethub/{} (jwks)", env!("CARGO_PKG_VERSION")),
        };
        let c = sethub_app::streams::egress_policy(ctx)
            .client(&opts)
            .map_err(|e| JwksError::Refused(e.to_string()))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The JWKS at `url`: cached while fresh; `stale_kid` asks for a fetch when the cached set
    /// lacks that `kid` and the last fetch is older than the refetch interval.
    pub async fn get(
        &self,
        ctx: &AppContext,
        url: &str,
        stale_kid: Option<&str>,
    ) -> Result<Arc<Jwks>, JwksError> {
        let cfg = &ctx.config.ingest;
        let ttl = Duration::from_secs(cfg.upstream_jwks_cache_secs);
        let refetch = Duration::from_secs(cfg.upstream_jwks_refetch_secs);
        if let Ok(map) = self.entries.lock()
            && let Some(e) = map.get(url)
        {
            let age = e.fetched_at.elapsed();
            let lacks_kid = stale_kid
                .is_some_and(|kid| !e.jwks.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
            let fresh = age < ttl && !(lacks_kid && age >= refetch);
            if fresh {
                return Ok(e.jwks.clone());
            }
        }
        let jwks = Arc::new(self.fetch(ctx, url).await?);
        if let Ok(mut map) = self.entries.lock() {
            map.insert(
                url.to_owned(),
                Entry {
                    jwks: jwks.clone(),
                    fetched_at: Instant::now(),
                },
            );
        }
        Ok(jwks)
    }

    async fn fetch(&self, ctx: &AppContext, url: &str) -> Result<Jwks, JwksError> {
        let policy = sethub_app::streams::egress_policy(ctx);
        policy
            .check_url(url)
            .map_err(|e| JwksError::Refused(e.to_string()))?;
        let fail = |why: String| JwksError::Fetch {
            url: url.to_owned(),
            why,
        };
        let mut resp = self
            .client(ctx)?
            .get(url)
            .header("Accept", "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(fail(format!("larger than {MAX_JWKS_BYTES} bytes")));
            }
        }
        let invalid = |why: String| JwksError::Invalid {
            url: url.to_owned(),
            why,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
        tracing::info!(url, "fetched an upstream transmitter's JWKS");
        Jwks::from_json(&value).map_err(|e| invalid(e.to_string()))
    }
}
