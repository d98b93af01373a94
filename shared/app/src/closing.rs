//! Closing an organisation (issue 16, "Leaving"): the typed service functions the console,
//! the tenant API and the admin CLI call.
//!
//! - [`close`]: marks the tenant closed with a deletion time `closing.grace_secs` ahead
//!   (`Tenants::close`), disables each of its streams that is not disabled with the reason
//!   [`CLOSED_REASON`] (set by the tenant, so no receiver can enable it again), records
//!   `tenant.close` in the audit log in that transaction, then tells fan-out per stream
//!   (`stream_status_changed` with `notify`): each receiver gets a stream-updated SET
//!   (status `disabled`), pushed or queued even though the stream is disabled. From then on
//!   ingest refuses the tenant's publishes, the console and the tenant API only read (and
//!   reopen), a disabled stream's pending SETs are dropped at their attempt.
//! - [`reopen`]: before the deletion time, clears it, enables again the streams that
//!   [`close`] disabled (their reason is [`CLOSED_REASON`]; a stream paused before closing comes
//!   back enabled), audited as `tenant.reopen`, and tells their receivers (`enabled`).
//! - [`purge_due`]: run by fan-out's sweep leader; deletes each closed tenant whose time has
//!   come — its state-store keys ([`sethub_state::StateStore::purge_tenant`]), then its row,
//!   which removes every row it owns in every table by `ON DELETE CASCADE`.
//!
//! A call repeated after a failure finishes the work: a close of a closed tenant keeps its
//! deletion time and disables (and announces) what is still enabled.

use chrono::{DateTime, Utc};
use serde_json::json;
use sethub_bus::{Envelope, Message};
use sethub_domain::{StatusActor, StreamStatus, TenantId};
use sethub_http::{ApiError, ErrorCode};
use sethub_store::{NewAuditEntry, StoreError, Tenant};

use crate::AppContext;

/// The reason a closed organisation's streams carry (SSF stream status `reason`, and the
/// stream-updated SET's), and how [`reopen`] finds the streams to enable again.
pub const CLOSED_REASON: &str = "the transmitter's organisation closed its account; \
     no more events will be sent on this stream";

/// How many closed tenants one pass of the sweep deletes at most.
pub const PURGE_BATCH: u64 = 10;

/// What went wrong closing, reopening or deleting.
#[derive(Debug, thiserror::Error)]
pub enum ClosingError {
    #[error("the organisation `{0}` is closed: it can only be read or reopened")]
    Closed(String),
    #[error(
        "the organisation `{0}` can no longer be reopened: its grace period is over and its \
         data is being deleted"
    )]
    GraceOver(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The change is made but fan-out could not be told (503; repeating the call tells it).
    #[error("the message bus is unavailable: {0}")]
    Bus(#[from] sethub_bus::BusError),
    #[error("the state store is unavailable: {0}")]
    State(#[from] sethub_state::StateError),
}

impl From<ClosingError> for ApiError {
    fn from(e: ClosingError) -> Self {
        match e {
            ClosingError::Closed(_) | ClosingError::GraceOver(_) => {
                ApiError::new(ErrorCode::Forbidden, e.to_string())
            }
            ClosingError::Store(StoreError::NotFound) => ApiError::not_found("no such tenant"),
            ClosingError::Store(e) => ApiError::unavailable(e),
            ClosingError::Bus(e) => ApiError::unavailable(e),
            ClosingError::State(e) => ApiError::unavailable(e),
        }
    }
}

/// What ingest answers a closed organisation's publishes (403).
pub fn publish_refused(slug: &str) -> String {
    format!(
        "the organisation `{slug}` is closed, so it cannot publish events; an owner can \
         reopen it in the console (Organisation → Reopen) until its data is deleted"
    )
}

/// Refuses a change to a closed tenant (`ClosingError::Closed`), for surfaces that write.
pub fn ensure_open(tenant: &Tenant) -> Result<(), ClosingError> {
    match tenant.closed_at {
        Some(_) => Err(ClosingError::Closed(tenant.slug.clone())),
        None => Ok(()),
    }
}

/// The outcome of [`close`].
#[derive(Debug, Clone)]
pub struct Closed {
    pub tenant: Tenant,
    /// When everything the tenant owns is deleted.
    pub purge_after: DateTime<Utc>,
    /// Streams disabled (and their receivers told) by this call.
    pub streams_disabled: usize,
}

/// The grace period between closing and deletion (`closing.grace_secs`).
pub fn grace(ctx: &AppContext) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(ctx.config.closing.grace_secs).unwrap_or(i64::MAX))
}

/// Closes the tenant as `actor` (`member:…`, `api_key:…`, `operator`); see the module
/// documentation. Only an owner may: the caller checks who asks (the console's role, the
/// tenant API's `admin` key, the operator's CLI).
pub async fn close(
    ctx: &AppContext,
    tenant: TenantId,
    actor: String,
) -> Result<Closed, ClosingError> {
    let purge_after = Utc::now() + grace(ctx);
    let (closed, changed) = ctx.store.tenants().close(tenant, purge_after).await?;
    let purge_after = closed.purge_after.unwrap_or(purge_after);
    let tx = ctx.store.scope(tenant).begin().await?;
    let streams = tx.streams().list().await?;
    let mut disabled = Vec::new();
    for stream in streams
        .iter()
        .filter(|s| s.status != StreamStatus::Disabled)
    {
        tx.streams()
            .set_status(
                stream.id,
                StreamStatus::Disabled,
                Some(CLOSED_REASON.to_owned()),
                StatusActor::Tenant,
            )
            .await?;
        disabled.push(stream.id);
    }
    if changed {
        tx.audit()
            .record(NewAuditEntry {
                actor: actor.clone(),
                action: "tenant.close".into(),
                target: Some(tenant.to_string()),
                details: json!({
                    "purge_after": purge_after,
                    "streams_disabled": disabled.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }),
            })
            .await?;
    }
    tx.commit().await?;
    tracing::info!(%tenant, by = %actor, %purge_after, streams = disabled.len(), changed,
        "organisation closed");
    for stream_id in &disabled {
        let message = Message::StreamStatusChanged {
            stream_id: *stream_id,
            status: StreamStatus::Disabled.as_str().to_owned(),
            reason: Some(CLOSED_REASON.to_owned()),
            notify: true,
        };
        ctx.bus.publish(Envelope::new(tenant, message)).await?;
    }
    Ok(Closed {
        tenant: closed,
        purge_after,
        streams_disabled: disabled.len(),
    })
}

/// Reopens a closed tenant as `actor` before its deletion; see the module documentation.
/// Returns the tenant as it is now; an open tenant is returned as it is (a repeat after a
/// bus failure enables and announces what is left). `GraceOver` once its deletion time has
/// passed.
pub async fn reopen(
    ctx: &AppContext,
    tenant: TenantId,
    actor: String,
) -> Result<Tenant, ClosingError> {
    let (open, changed) = ctx.store.tenants().reopen(tenant).await?;
    if open.closed_at.is_some() {
        return Err(ClosingError::GraceOver(open.slug));
    }
    let tx = ctx.store.scope(tenant).begin().await?;
    let streams = tx.streams().list().await?;
    let mut enabled = Vec::new();
    for stream in streams.iter().filter(|s| {
        s.status == StreamStatus::Disabled
            && s.status_set_by == StatusActor::Tenant
            && s.status_reason.as_deref() == Some(CLOSED_REASON)
    }) {
        tx.streams()
            .set_status(stream.id, StreamStatus::Enabled, None, StatusActor::Tenant)
            .await?;
        enabled.push(stream.id);
    }
    if changed {
        tx.audit()
            .record(NewAuditEntry {
                actor: actor.clone(),
                action: "tenant.reopen".into(),
                target: Some(tenant.to_string()),
                details: json!({
                    "streams_enabled": enabled.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }),
            })
            .await?;
    }
    tx.commit().await?;
    tracing::info!(%tenant, by = %actor, streams = enabled.len(), "organisation reopened");
    for stream_id in &enabled {
        let message = Message::StreamStatusChanged {
            stream_id: *stream_id,
            status: StreamStatus::Enabled.as_str().to_owned(),
            reason: None,
            notify: true,
        };
        ctx.bus.publish(Envelope::new(tenant, message)).await?;
    }
    Ok(open)
}

/// A tenant [`purge_due`] deleted.
#[derive(Debug, Clone)]
pub struct Purged {
    pub tenant: TenantId,
    pub slug: String,
    /// State-store keys removed.
    pub keys: u64,
}

/// Deletes the closed tenants whose deletion time is before `now` (at most [`PURGE_BATCH`]
/// a call): first their state-store keys, then their rows. A failure leaves the tenant to
/// the next pass (its keys may be gone already: they are rebuildable state or sessions).
pub async fn purge_due(ctx: &AppContext, now: DateTime<Utc>) -> Result<Vec<Purged>, ClosingError> {
    let mut purged = Vec::new();
    for tenant in ctx.store.tenants().due_for_purge(now, PURGE_BATCH).await? {
        let keys = ctx
            .state
            .purge_tenant(&ctx.key_prefix, tenant.id, &tenant.slug)
            .await?;
        match ctx.store.tenants().delete(tenant.id).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(tenant = %tenant.id, slug = %tenant.slug, keys,
            "closed organisation deleted after its grace period");
        purged.push(Purged {
            tenant: tenant.id,
            slug: tenant.slug,
            keys,
        });
    }
    Ok(purged)
}
