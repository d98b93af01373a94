//! The values of the deliveries repository: states, kinds, rows and outcomes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sethub_domain::{DeliveryId, EventId, StreamId, TenantId};

use crate::entities::deliveries as d;
use crate::entities::delivery_attempts as a;
use crate::error::StoreError;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Owed to a push receiver; due at `next_attempt_at`.
    Pending,
    /// Kept while the stream is paused; released in order when it is enabled again.
    Held,
    /// Waiting in a poll stream's queue until the receiver acknowledges it.
    Queued,
    /// The receiver took it.
    Delivered,
    /// Given up (retries exhausted, or refused by the receiver): kept, listed, redrivable.
    Dead,
    /// Not sent because the stream was disabled (a disabled stream holds nothing).
    Dropped,
}

impl DeliveryState {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Held,
        Self::Queued,
        Self::Delivered,
        Self::Dead,
        Self::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Held => "held",
            Self::Queued => "queued",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Dropped => "dropped",
        }
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown delivery state `{s}` (one of pending, held, queued, delivered, dead, dropped)")
            })
    }
}

/// What a delivery's SET is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryKind {
    /// An event published by the tenant.
    Event,
    /// An SSF verification SET, asked for by the receiver.
    Verification,
    /// An SSF stream-updated SET, after the tenant or sethub changed the stream's status.
    StreamUpdated,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Verification => "verification",
            Self::StreamUpdated => "stream_updated",
        }
    }
}

impl FromStr for DeliveryKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "event" => Ok(Self::Event),
            "verification" => Ok(Self::Verification),
            "stream_updated" => Ok(Self::StreamUpdated),
            other => Err(format!("unknown delivery kind `{other}`")),
        }
    }
}

/// A delivery to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub stream_id: StreamId,
    /// The event the SET carries (`None` for verification and stream-updated SETs).
    pub event_id: Option<EventId>,
    pub kind: DeliveryKind,
    pub jti: String,
    pub set_token: String,
    pub state: DeliveryState,
    /// When it is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub stream_id: StreamId,
    pub event_id: Option<EventId>,
    pub kind: DeliveryKind,
    pub jti: String,
    pub set_token: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub resigned: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// `0` for the delivery fan-out made; a replay's deliveries have a later generation.
    pub generation: i64,
}

impl TryFrom<d::Model> for Delivery {
    type Error = StoreError;

    fn try_from(m: d::Model) -> Result<Self, StoreError> {
        let corrupt = |e: String| StoreError::Config(format!("delivery {}: {e}", m.id));
        Ok(Self {
            id: DeliveryId::from_uuid(m.id),
            tenant_id: TenantId::from_uuid(m.tenant_id),
            stream_id: StreamId::from_uuid(m.stream_id),
            event_id: m.event_id.map(EventId::from_uuid),
            kind: m.kind.parse().map_err(corrupt)?,
            jti: m.jti,
            set_token: m.set_token,
            state: m.state.parse().map_err(corrupt)?,
            attempts: u32::try_from(m.attempts).unwrap_or(0),
            next_attempt_at: m.next_attempt_at,
            first_attempt_at: m.first_attempt_at,
            last_status: m.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: m.last_error,
            resigned: m.resigned,
            created_at: m.created_at,
            updated_at: m.updated_at,
            delivered_at: m.delivered_at,
            generation: m.generation,
        })
    }
}

/// One push attempt, for the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub delivery_id: DeliveryId,
    pub stream_id: StreamId,
    pub attempted_at: DateTime<Utc>,
    /// The HTTP status, if the receiver answered.
    pub status: Option<u16>,
    pub latency_ms: u32,
    /// What sethub made of it: `delivered`, `retry`, `dead`, `resign`, `disabled`, `skipped`.
    pub outcome: String,
    pub error: Option<String>,
    /// The first bytes of the answer's body (lossy UTF-8).
    pub response_excerpt: Option<String>,
}

impl From<a::Model> for Attempt {
    fn from(m: a::Model) -> Self {
        Self {
            delivery_id: DeliveryId::from_uuid(m.delivery_id),
            stream_id: StreamId::from_uuid(m.stream_id),
            attempted_at: m.attempted_at,
            status: m.status.and_then(|s| u16::try_from(s).ok()),
            latency_ms: u32::try_from(m.latency_ms).unwrap_or(0),
            outcome: m.outcome,
            error: m.error,
            response_excerpt: m.response_excerpt,
        }
    }
}

/// A state change of one delivery, reported by a push worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Taken by the receiver with this status.
    Delivered { status: u16 },
    /// Failed; try again at `next_attempt_at`.
    Retry {
        next_attempt_at: DateTime<Utc>,
        status: Option<u16>,
        error: String,
    },
    /// Not attempted now (its endpoint's breaker is open, its stream's rate limit is spent):
    /// due again at `next_attempt_at`. Its last answer is kept.
    Reschedule { next_attempt_at: DateTime<Utc> },
    /// Signed again (after `jws_signature_failed`): the new SET, due at once.
    Resigned {
        jti: String,
        set_token: String,
        status: Option<u16>,
        error: String,
    },
    /// Given up: kept as dead, with why.
    Dead { status: Option<u16>, error: String },
    /// Not sent: the stream is disabled.
    Dropped { reason: String },
    /// Not sent: the stream is paused; kept until it is enabled.
    Held,
}

/// A change to one delivery; `attempted` says whether it counts as an attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub id: DeliveryId,
    pub at: DateTime<Utc>,
    pub attempted: bool,
    pub change: Change,
}
