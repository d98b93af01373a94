//! Redriving dead deliveries: one typed function the tenant API, the console (a stream's dead
//! letters, one delivery's "send again") and the portal (a receiver's "send again") call.
//!
//! The change and its audit entry are one transaction; then fan-out is told (a
//! `deliveries_redriven` control message) to push what is due, or a poll stream's long polls
//! are woken.

use chrono::{DateTime, Utc};
use serde_json::json;
use sethub_bus::{Envelope, Message};
use sethub_domain::{DeliveryId, DeliveryMethod, StreamId, TenantId};
use sethub_store::{AuditEntry, Delivery, DeliveryState, NewAuditEntry, StoreError, Stream};

use crate::AppContext;

/// Why a redrive did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("no such stream in this organisation")]
    NotFound,
    #[error("the database is unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("fan-out could not be told (the message bus is unavailable): {0}")]
    Bus(String),
}

impl RecoveryError {
    /// Whether the stream (or delivery) was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound | Self::Store(StoreError::NotFound))
    }
}

/// Which dead deliveries of a stream to redrive: all, or those listed, or those made in a
/// time range (the filters combine).
#[derive(Debug, Clone, Default)]
pub struct Redrive {
    pub delivery_ids: Option<Vec<DeliveryId>>,
    /// Only deliveries made at or after.
    pub from: Option<DateTime<Utc>>,
    /// Only deliveries made before.
    pub to: Option<DateTime<Utc>>,
}

/// Whether a redrive stopped at its bound, so more dead deliveries may wait.
pub fn more_to_redrive(back: &[Delivery]) -> bool {
    u64::try_from(back.len()).is_ok_and(|n| n >= sethub_store::MAX_REDRIVE)
}

/// Tells fan-out that deliveries of the stream are due, or wakes its long polls.
pub async fn announce(
    ctx: &AppContext,
    tenant: TenantId,
    stream: &Stream,
) -> Result<(), RecoveryError> {
    match stream.delivery_method {
        DeliveryMethod::Poll => {
            crate::streams::wake_pollers(ctx, tenant, stream.id).await;
            Ok(())
        }
        DeliveryMethod::Push => ctx
            .bus
            .publish(Envelope::new(
                tenant,
                Message::DeliveriesRedriven {
                    stream_id: stream.id,
                },
            ))
            .await
            .map_err(|e| RecoveryError::Bus(e.to_string())),
    }
}

/// Redrives dead deliveries of a stream (at most [`sethub_store::MAX_REDRIVE`] a call: same
/// SET, same `jti`, a fresh retry schedule) and records `actor` in the audit log, in one
/// transaction; then tells fan-out (push) or wakes the pollers (poll).
pub async fn redrive(
    ctx: &AppContext,
    tenant: TenantId,
    id: StreamId,
    r: &Redrive,
    actor: String,
) -> Result<(Vec<Delivery>, AuditEntry), RecoveryError> {
    let scope = ctx.store.scope(tenant);
    let stream = match scope.streams().get(id).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Err(RecoveryError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let back_to = match stream.delivery_method {
        DeliveryMethod::Push => DeliveryState::Pending,
        DeliveryMethod::Poll => DeliveryState::Queued,
    };
    let tx = scope.begin().await?;
    let back = tx
        .deliveries()
        .redrive(id, r.delivery_ids.as_deref(), r.from, r.to, back_to)
        .await?;
    let entry = tx
        .audit()
        .record(NewAuditEntry {
            actor: actor.clone(),
            action: "deliveries.redrive".into(),
            target: Some(id.to_string()),
            details: json!({
                "delivery_ids": r.delivery_ids.as_ref().map(|ids| ids.iter().map(ToString::to_string).collect::<Vec<_>>()),
                "from": r.from,
                "to": r.to,
                "redriven": back.len(),
            }),
        })
        .await?;
    tx.commit().await?;
    tracing::info!(%tenant, stream = %id, %actor, deliveries = back.len(), "dead deliveries redriven");
    if !back.is_empty() {
        announce(ctx, tenant, &stream).await?;
    }
    Ok((back, entry))
}
