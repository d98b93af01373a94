//! The per-tenant publish rate (GCRA in the state store, `ingest.rate_per_second` and
//! `ingest.burst`), charged one token per event after authentication and before the body is
//! parsed or the database touched; 429 with `Retry-After` when spent.
//!
//! The bucket is rebuildable state: when the state store cannot answer, publishing goes on
//! (fail open, logged): losing Redis must not stop events from being accepted.

use sethub_app::AppContext;
use sethub_domain::TenantId;
use sethub_http::ApiError;
use sethub_state::{Key, KeyKind, Limit};

use crate::metrics;

/// Takes `events` tokens from the tenant's bucket. A batch larger than the burst is charged
/// the whole burst (it could never be admitted otherwise).
pub async fn charge(
    ctx: &AppContext,
    counter: &metrics::Counter,
    tenant: TenantId,
    events: usize,
) -> Result<(), ApiError> {
    let cfg = &ctx.config.ingest;
    let limit = Limit {
        rate_per_sec: cfg.rate_per_second,
        burst: cfg.burst,
    };
    let cost = u32::try_from(events)
        .unwrap_or(u32::MAX)
        .clamp(1, cfg.burst.max(1));
    counter.talker(ctx, tenant, u64::try_from(events).unwrap_or(u64::MAX));
    let key = Key::tenant(&ctx.key_prefix, tenant, KeyKind::RateLimit, "ingest");
    match ctx.state.rate_limit(&key, limit, cost).await {
        Ok(d) if d.allowed => Ok(()),
        Ok(d) => {
            counter.record(ctx, metrics::Outcome::RateLimited, u64::from(cost));
            let secs = d.retry_after.as_secs() + u64::from(d.retry_after.subsec_nanos() > 0);
            Err(ApiError::rate_limited(secs))
        }
        Err(e) => {
            tracing::warn!(tenant = %tenant, error = %e, "rate limit unknown; admitting");
            Ok(())
        }
    }
}
