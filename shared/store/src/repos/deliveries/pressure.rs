//! What the health view says beyond the hourly counts: how many push attempts failed in a
//! row at the endpoint (what fan-out's circuit breaker counts), and a stream's queue (SETs
//! not yet settled, and when the oldest was made) — for a poll stream, what the receiver has
//! not acknowledged.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use sethub_domain::StreamId;

use super::{Attempt, Deliveries, DeliveryState};
use crate::entities::deliveries as d;
use crate::error::{DbResultExt, StoreError};

/// The most queued SETs one look counts; a longer queue reads "at least" this many.
pub const QUEUE_COUNT_CAP: u64 = 10_000;

/// A run of failed push attempts, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureStreak {
    /// Failed attempts in a row since the last one the endpoint answered well (at most the
    /// `max` asked for).
    pub failures: u32,
    /// When the newest of them was made.
    pub last_at: Option<DateTime<Utc>>,
}

/// A stream's SETs not yet settled (a push stream's pending ones, a poll stream's queued).
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    /// Pending or queued deliveries, at most [`QUEUE_COUNT_CAP`] + 1 (more reads "at least").
    pub pending: u64,
    /// When the oldest of them was made.
    pub oldest: Option<DateTime<Utc>>,
}

/// Whether an attempt is one the breaker counts: no answer (a network error, a timeout) or
/// a 5xx, retried or given up on; a 429 says when to come back and counts as no failure.
fn endpoint_failed(a: &Attempt) -> bool {
    matches!(a.outcome.as_str(), "retry" | "dead")
        && a.status.is_none_or(|s| (500..600).contains(&s))
}

impl Deliveries<'_> {
    /// How many of a stream's newest push attempts (looking at `max`) failed at the endpoint
    /// in a row, through `(tenant_id, stream_id, attempted_at)`.
    pub async fn failure_streak(
        &self,
        stream: StreamId,
        max: u64,
    ) -> Result<FailureStreak, StoreError> {
        let newest = self.attempts_for_stream(stream, max).await?;
        let failures = newest.iter().take_while(|a| endpoint_failed(a)).count();
        Ok(FailureStreak {
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            last_at: newest
                .first()
                .filter(|a| endpoint_failed(a))
                .map(|a| a.attempted_at),
        })
    }

    /// A stream's pending or queued SETs (counted up to [`QUEUE_COUNT_CAP`] + 1) and the oldest one's
    /// making time, through `(stream_id, state, id)` (ids are time-ordered).
    pub async fn queue(&self, stream: StreamId) -> Result<Queue, StoreError> {
        let g = self.ctx.begin().await?;
        let pending = || {
            d::Entity::find()
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::StreamId.eq(stream.as_uuid()))
                .filter(d::Column::State.is_in([
                    DeliveryState::Pending.as_str(),
                    DeliveryState::Queued.as_str(),
                ]))
        };
        let count = pending()
            .select_only()
            .column(d::Column::Id)
            .limit(QUEUE_COUNT_CAP + 1)
            .count(g.tx())
            .await
            .db()?;
        let oldest: Option<DateTime<Utc>> = pending()
            .select_only()
            .column(d::Column::CreatedAt)
            .order_by_asc(d::Column::Id)
            .limit(1)
            .into_tuple()
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(Queue {
            pending: count,
            oldest,
        })
    }
}
