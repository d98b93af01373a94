//! Who may publish: an API key with the `events:publish` scope, presented as
//! `Authorization: Bearer sh_…`, whose tenant is the one named by the path's `{slug}`.
//!
//! An extractor, so a handler that takes [`Publisher`] cannot run unauthenticated; it runs
//! before the body is read. A key of another tenant gets the same 401 as an unknown key, so a
//! wrong key never learns whether a slug exists.
//!
//! A key found valid is remembered for `ingest.api_key_cache_secs` (per worker), so a
//! publisher's requests do not each cost two database lookups; revoking a key takes effect
//! within that time (0 turns the cache off).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use sethub_app::admin::{self, Scope};
use sethub_domain::{Profile, TenantId};
use sethub_http::{ApiError, ErrorCode};
use sethub_store::StoreError;

use crate::context;

/// Said for every key that cannot publish to this tenant (unknown, revoked, malformed, or
/// another tenant's): the cases are not told apart.
const REFUSED: &str = "the API key is not valid for this tenant (unknown, revoked or malformed)";

/// The caller: a tenant's API key with the `events:publish` scope, for the path's tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publisher {
    pub tenant: TenantId,
    /// The tenant's `subject_list_items` quota: the longest list a `sub_id` may hold.
    pub subject_list_items: usize,
    /// The tenant's interoperability profile, whose rules apply to what it publishes (a
    /// change applies within `ingest.api_key_cache_secs`, like a revoked key).
    pub profile: Option<Profile>,
    /// The tenant's organisation is closed (`sethub_app::closing`): its publishes are refused
    /// (a close applies within `ingest.api_key_cache_secs`, like a revoked key).
    pub closed: bool,
}

/// The bearer token of the request (401 with the reason otherwise).
fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    sethub_http::bearer_token(req).map_err(|e| ApiError::unauthorized(e.to_string()))
}

/// Keys recently found valid for publishing, by the SHA-256 of the presented key: `(when,
/// publisher, slug)`. Per worker; bounded (cleared when full).
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (Instant, Publisher, String)>>,
}

const KEY_CACHE_MAX: usize = 10_000;

impl KeyCache {
    fn get(&self, hash: &str, slug: &str, ttl: Duration) -> Option<Publisher> {
        let map = self.entries.lock().ok()?;
        let (at, publisher, cached_slug) = map.get(hash)?;
        (at.elapsed() < ttl && cached_slug == slug).then_some(*publisher)
    }

    fn put(&self, hash: String, tenant: Publisher, slug: &str) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= KEY_CACHE_MAX {
                map.clear();
            }
            map.insert(hash, (Instant::now(), tenant, slug.to_owned()));
        }
    }
}

impl FromRequest for Publisher {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = context(&req)?;
            let slug = req.match_info().get("slug").unwrap_or_default();
            let token = bearer(&req)?;
            let ttl = Duration::from_secs(ctx.config.ingest.api_key_cache_secs);
            let cache = req
                .app_data::<web::Data<KeyCache>>()
                .cloned()
                .filter(|_| !ttl.is_zero());
            let hash = admin::sha256_hex(token);
            if let Some(publisher) = cache.as_ref().and_then(|c| c.get(&hash, slug, ttl)) {
                return open(publisher, slug);
            }
            let (tenant, key) = admin::authenticate_api_key(&ctx, token).await?;
            // The key names its tenant; the path must name the same one. Looking the key's
            // tenant up (not the slug's) costs the same whether or not the slug exists.
            let (quotas, profile, closed) = match ctx.store.tenants().get(tenant).await {
                Ok(t) if t.slug == slug => (
                    sethub_app::quotas::of_tenant(&ctx, &t),
                    t.profile.as_deref().and_then(Profile::from_name),
                    t.closed_at.is_some(),
                ),
                Ok(_) | Err(StoreError::NotFound) => return Err(ApiError::unauthorized(REFUSED)),
                Err(e) => return Err(ApiError::unavailable(e)),
            };
            if !key
                .scopes
                .iter()
                .any(|s| s == Scope::EventsPublish.as_str())
            {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "this API key lacks the `events:publish` scope",
                ));
            }
            let publisher = Publisher {
                tenant,
                subject_list_items: quotas.subject_list_items as usize,
                profile,
                closed,
            };
            if let Some(cache) = cache {
                cache.put(hash, publisher, slug);
            }
            open(publisher, slug)
        })
    }
}

/// The publisher, unless its organisation is closed: then 403 saying so (the key is valid,
/// so the caller learns nothing it did not know).
fn open(publisher: Publisher, slug: &str) -> Result<Publisher, ApiError> {
    if publisher.closed {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            sethub_app::closing::publish_refused(slug),
        ));
    }
    Ok(publisher)
}
