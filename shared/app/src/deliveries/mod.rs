//! What the console and the portal show of deliveries, as typed values both build their pages
//! from: a stream's health ([`stream_health`]), one delivery with its decoded SET and every
//! attempt ([`delivery_detail`]), a filtered page of a stream's log ([`LogQuery`]), and "send
//! again" ([`send_again`], the redrive of that one delivery).

pub mod words;

mod health;
mod log;
pub mod polled;

use chrono::Utc;
use sethub_domain::{DeliveryId, StreamId, TenantId};
use sethub_store::{Attempt, Delivery, DeliveryState, StoreError};

pub use health::{
    Breaker, POLL_SILENCE, PollHealth, Slot, Sparkline, StreamHealth, failing_streams, span_words,
    stream_health,
};
pub use log::{LogQuery, WINDOWS};

use crate::AppContext;

/// Why a delivery view or action could not be given.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("no such delivery on this stream")]
    NotFound,
    #[error("the database is unavailable: {0}")]
    Store(StoreError),
    #[error("only a dead delivery can be sent again; this one is {0}")]
    NotDead(DeliveryState),
    #[error("{0}")]
    Recovery(#[from] crate::recovery::RecoveryError),
}

impl From<StoreError> for DeliveryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            e => Self::Store(e),
        }
    }
}

/// A SET decoded for people: its header and claims as pretty JSON, and whether it verifies
/// against the tenant's published keys.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedSet {
    pub header: String,
    pub claims: String,
    pub verified: bool,
    /// "Verifies: signed by …", or why not.
    pub verdict: String,
}

/// A part of a compact JWS as pretty JSON.
fn part(token: &str, i: usize) -> Option<String> {
    use base64::Engine as _;
    let raw = token.split('.').nth(i)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    serde_json::to_string_pretty(&v).ok()
}

/// Decodes a compact SET and checks it against the tenant's published keys (its JWKS now) and
/// issuer; `None` when it is not a compact JWS.
pub async fn decode_set(
    ctx: &AppContext,
    tenant: TenantId,
    slug: &str,
    token: &str,
) -> Result<Option<DecodedSet>, DeliveryError> {
    let (Some(header), Some(claims)) = (part(token, 0), part(token, 1)) else {
        return Ok(None);
    };
    let (_, jwks) = crate::keys::overview(ctx, tenant, Utc::now())
        .await
        .map_err(|e| DeliveryError::Store(StoreError::Config(e.to_string())))?;
    let issuer = crate::admin::issuer(ctx, slug);
    let expect = sethub_jose::Expectations::new(issuer.clone(), String::new()).any_audience();
    let (verdict, verified) = match sethub_jose::validate_set(token, &jwks, &expect) {
        Ok(_) => (format!("Verifies: signed by {issuer}"), true),
        Err(e) => (format!("Does not verify: {e}"), false),
    };
    Ok(Some(DecodedSet {
        header,
        claims,
        verified,
        verdict,
    }))
}

/// One delivery as its page shows it.
#[derive(Debug, Clone)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    /// `None` when the stored SET is not a compact JWS (never, for SETs sethub signed).
    pub set: Option<DecodedSet>,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
    /// Whether "send again" applies (a dead delivery).
    pub can_send_again: bool,
}

/// A delivery of `stream` in tenant `tenant` (whose slug names its issuer), with its decoded
/// SET and attempts. A delivery of another stream is not found.
pub async fn delivery_detail(
    ctx: &AppContext,
    tenant: TenantId,
    slug: &str,
    stream: StreamId,
    id: DeliveryId,
) -> Result<DeliveryDetail, DeliveryError> {
    let deliveries = ctx.store.scope(tenant).deliveries();
    let delivery = deliveries.get(id).await?;
    if delivery.stream_id != stream {
        return Err(DeliveryError::NotFound);
    }
    let attempts = deliveries.attempts_for_delivery(id).await?;
    let set = decode_set(ctx, tenant, slug, &delivery.set_token).await?;
    Ok(DeliveryDetail {
        can_send_again: delivery.state == DeliveryState::Dead,
        delivery,
        set,
        attempts,
    })
}

/// Sends one dead delivery of `stream` again now (the redrive of that one delivery: same SET,
/// fresh retry schedule), recorded in the audit log as `actor`.
pub async fn send_again(
    ctx: &AppContext,
    tenant: TenantId,
    stream: StreamId,
    id: DeliveryId,
    actor: String,
) -> Result<(), DeliveryError> {
    let delivery = ctx.store.scope(tenant).deliveries().get(id).await?;
    if delivery.stream_id != stream {
        return Err(DeliveryError::NotFound);
    }
    if delivery.state != DeliveryState::Dead {
        return Err(DeliveryError::NotDead(delivery.state));
    }
    let which = crate::recovery::Redrive {
        delivery_ids: Some(vec![id]),
        ..Default::default()
    };
    let (back, _) = crate::recovery::redrive(ctx, tenant, stream, &which, actor).await?;
    if back.is_empty() {
        // Taken meanwhile by another redrive.
        return Err(DeliveryError::NotDead(DeliveryState::Pending));
    }
    Ok(())
}
