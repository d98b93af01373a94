//! A tenant's deliveries (one signed SET for one stream) and their attempt log.
//!
//! Fan-out writes deliveries in batches before it acknowledges the bus message that asked for
//! them ([`Deliveries::insert_many`], idempotent on `(stream, event)`); push workers report
//! outcomes in batches ([`Deliveries::apply`], one transaction: state changes plus the
//! attempt log rows). A delivery is `pending` while the hub owes it to a push receiver; the
//! recovery sweep, the retry scheduler and the push of released or redriven SETs take pending
//! ones a page at a time with [`Deliveries::due_page`] and [`Deliveries::claim`] (`claim.rs`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use sethub_domain::{DeliveryId, EventId, StreamId};

use crate::entities::deliveries as d;
use crate::entities::delivery_attempts as a;
use crate::error::{DbResultExt, StoreError};
use crate::repos::{micros, now};
use crate::scope::Ctx;

/// The most dead deliveries one redrive puts back (and loads): a caller with more asks again.
pub const MAX_REDRIVE: u64 = 10_000;

mod claim;
mod health;
mod insert;
mod poll;
mod pressure;
mod types;

pub use claim::{DueCursor, DueDeliveries, DuePage};
pub use health::{HealthFacts, HourOutcomes, LogFilter, LogSearch, MAX_LOG_PAGE};
pub use insert::FirstDelivered;
pub use pressure::{FailureStreak, QUEUE_COUNT_CAP, Queue};

pub use types::{Attempt, Change, Delivery, DeliveryKind, DeliveryState, NewDelivery, Update};

/// Deliveries of one tenant.
pub struct Deliveries<'a> {
    pub(super) ctx: Ctx<'a>,
}

impl<'a> Deliveries<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    /// One delivery.
    pub async fn get(&self, id: DeliveryId) -> Result<Delivery, StoreError> {
        let g = self.ctx.begin().await?;
        let row = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::Id.eq(id.as_uuid()))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// The deliveries made from one event, on every stream.
    pub async fn for_event(&self, event: EventId) -> Result<Vec<Delivery>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::EventId.eq(event.as_uuid()))
            .order_by_asc(d::Column::Id)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The deliveries made from several events, on every stream.
    pub async fn for_events(&self, events: &[EventId]) -> Result<Vec<Delivery>, StoreError> {
        let g = self.ctx.begin().await?;
        let mut out = Vec::new();
        for chunk in events.chunks(1000) {
            let rows = d::Entity::find()
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::EventId.is_in(chunk.iter().map(|e| e.as_uuid())))
                .order_by_asc(d::Column::Id)
                .all(g.tx())
                .await
                .db()?;
            for row in rows {
                out.push(row.try_into()?);
            }
        }
        g.finish().await?;
        Ok(out)
    }

    /// Pending deliveries due at or before `before`, soonest first, at most `limit`.
    pub async fn due(
        &self,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::State.eq(DeliveryState::Pending.as_str()))
            .filter(d::Column::NextAttemptAt.lte(micros(before)))
            .order_by_asc(d::Column::NextAttemptAt)
            .order_by_asc(d::Column::Id)
            .limit(limit)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// A stream's deliveries, newest first, optionally in one state, at most `limit`, older
    /// than the delivery `before` when given (for paging).
    pub async fn list_for_stream(
        &self,
        stream: StreamId,
        state: Option<DeliveryState>,
        before: Option<DeliveryId>,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let g = self.ctx.begin().await?;
        let mut q = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()));
        if let Some(state) = state {
            q = q.filter(d::Column::State.eq(state.as_str()));
        }
        if let Some(before) = before {
            q = q.filter(d::Column::Id.lt(before.as_uuid()));
        }
        let rows = q
            .order_by_desc(d::Column::Id)
            .limit(limit)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// How many of the tenant's deliveries are in `state`.
    pub async fn count_in_state(&self, state: DeliveryState) -> Result<u64, StoreError> {
        let g = self.ctx.begin().await?;
        let n = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::State.eq(state.as_str()))
            .count(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(n)
    }

    /// How many of the tenant's deliveries are in `state`, and when the oldest of them was
    /// created (a poll queue's backlog and its age, for the operator's metrics).
    pub async fn backlog_in_state(
        &self,
        state: DeliveryState,
    ) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let g = self.ctx.begin().await?;
        let row: Option<(i64, Option<DateTime<Utc>>)> = d::Entity::find()
            .select_only()
            .column_as(d::Column::Id.count(), "n")
            .column_as(d::Column::CreatedAt.min(), "oldest")
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::State.eq(state.as_str()))
            .into_tuple()
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        let (n, oldest) = row.unwrap_or((0, None));
        Ok((u64::try_from(n).unwrap_or(0), oldest))
    }

    /// How many deliveries of a stream are in each state.
    pub async fn count_by_state(
        &self,
        stream: StreamId,
    ) -> Result<Vec<(DeliveryState, u64)>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows: Vec<(String, i64)> = d::Entity::find()
            .select_only()
            .column(d::Column::State)
            .column_as(d::Column::Id.count(), "n")
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()))
            .group_by(d::Column::State)
            .into_tuple()
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter()
            .map(|(s, n)| {
                let state = s.parse().map_err(StoreError::Config)?;
                Ok((state, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    /// The tenant's deliveries counted by stream and state, in one query (for views of every
    /// stream at once).
    pub async fn count_by_stream_and_state(
        &self,
    ) -> Result<Vec<(StreamId, DeliveryState, u64)>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows: Vec<(uuid::Uuid, String, i64)> = d::Entity::find()
            .select_only()
            .column(d::Column::StreamId)
            .column(d::Column::State)
            .column_as(d::Column::Id.count(), "n")
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .group_by(d::Column::StreamId)
            .group_by(d::Column::State)
            .into_tuple()
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter()
            .map(|(id, s, n)| {
                let state = s.parse().map_err(StoreError::Config)?;
                Ok((
                    StreamId::from_uuid(id),
                    state,
                    u64::try_from(n).unwrap_or(0),
                ))
            })
            .collect()
    }

    /// Applies push outcomes and writes their attempt log rows, in one transaction. Deliveries
    /// already delivered are left alone (a late duplicate outcome changes nothing). Committed
    /// without waiting for the disk (PostgreSQL): an outcome lost in a database crash leaves
    /// its delivery pending, and it is pushed again (at least once).
    pub async fn apply(&self, updates: &[Update], attempts: &[Attempt]) -> Result<(), StoreError> {
        let g = self.ctx.begin_relaxed().await?;
        let tid = self.ctx.tid();
        let open = || {
            d::Entity::update_many()
                .filter(d::Column::TenantId.eq(tid))
                .filter(d::Column::State.ne(DeliveryState::Delivered.as_str()))
        };
        // Deliveries answered with the same status at the same time are the common case:
        // one statement per status.
        let mut delivered: std::collections::BTreeMap<u16, Vec<uuid::Uuid>> = Default::default();
        let mut delivered_at = None;
        // Waits without an attempt due at the same instant (fan-out rounds them to the
        // second): one statement per instant.
        let mut waits: std::collections::BTreeMap<DateTime<Utc>, (DateTime<Utc>, Vec<uuid::Uuid>)> =
            Default::default();
        for u in updates {
            let at = micros(u.at);
            if let (Change::Reschedule { next_attempt_at }, false) = (&u.change, u.attempted) {
                let group = waits
                    .entry(micros(*next_attempt_at))
                    .or_insert((at, Vec::new()));
                group.0 = Ord::max(group.0, at);
                group.1.push(u.id.as_uuid());
                continue;
            }
            let attempts_expr = if u.attempted {
                Expr::col(d::Column::Attempts).add(1)
            } else {
                Expr::col(d::Column::Attempts)
            };
            let q = open()
                .filter(d::Column::Id.eq(u.id.as_uuid()))
                .col_expr(d::Column::Attempts, attempts_expr)
                .col_expr(d::Column::UpdatedAt, Expr::value(at));
            let q = if u.attempted {
                q.col_expr(
                    d::Column::FirstAttemptAt,
                    Expr::col(d::Column::FirstAttemptAt).if_null(at),
                )
            } else {
                q
            };
            let status = |s: &Option<u16>| Expr::value(s.map(i32::from));
            let q = match &u.change {
                Change::Delivered { status } => {
                    delivered.entry(*status).or_default().push(u.id.as_uuid());
                    delivered_at =
                        Some(delivered_at.map_or(at, |d: DateTime<Utc>| Ord::max(d, at)));
                    continue;
                }
                Change::Retry {
                    next_attempt_at,
                    status: s,
                    error,
                } => q
                    .col_expr(
                        d::Column::State,
                        Expr::value(DeliveryState::Pending.as_str()),
                    )
                    .col_expr(
                        d::Column::NextAttemptAt,
                        Expr::value(micros(*next_attempt_at)),
                    )
                    .col_expr(d::Column::LastStatus, status(s))
                    .col_expr(d::Column::LastError, Expr::value(error.clone())),
                Change::Reschedule { next_attempt_at } => q
                    .col_expr(
                        d::Column::State,
                        Expr::value(DeliveryState::Pending.as_str()),
                    )
                    .col_expr(
                        d::Column::NextAttemptAt,
                        Expr::value(micros(*next_attempt_at)),
                    ),
                Change::Resigned {
                    jti,
                    set_token,
                    status: s,
                    error,
                } => q
                    .col_expr(
                        d::Column::State,
                        Expr::value(DeliveryState::Pending.as_str()),
                    )
                    .col_expr(d::Column::NextAttemptAt, Expr::value(at))
                    .col_expr(d::Column::Jti, Expr::value(jti.clone()))
                    .col_expr(d::Column::SetToken, Expr::value(set_token.clone()))
                    .col_expr(d::Column::Resigned, Expr::value(true))
                    .col_expr(d::Column::LastStatus, status(s))
                    .col_expr(d::Column::LastError, Expr::value(error.clone())),
                Change::Dead { status: s, error } => q
                    .col_expr(d::Column::State, Expr::value(DeliveryState::Dead.as_str()))
                    .col_expr(d::Column::NextAttemptAt, Expr::value(None::<DateTime<Utc>>))
                    .col_expr(d::Column::LastStatus, status(s))
                    .col_expr(d::Column::LastError, Expr::value(error.clone())),
                Change::Dropped { reason } => q
                    .col_expr(
                        d::Column::State,
                        Expr::value(DeliveryState::Dropped.as_str()),
                    )
                    .col_expr(d::Column::NextAttemptAt, Expr::value(None::<DateTime<Utc>>))
                    .col_expr(d::Column::LastError, Expr::value(reason.clone())),
                Change::Held => q
                    .col_expr(d::Column::State, Expr::value(DeliveryState::Held.as_str()))
                    .col_expr(d::Column::NextAttemptAt, Expr::value(None::<DateTime<Utc>>)),
            };
            q.exec(g.tx()).await.db()?;
        }
        for (next, (at, ids)) in waits {
            for chunk in ids.chunks(500) {
                open()
                    .filter(d::Column::Id.is_in(chunk.iter().copied()))
                    .col_expr(
                        d::Column::State,
                        Expr::value(DeliveryState::Pending.as_str()),
                    )
                    .col_expr(d::Column::NextAttemptAt, Expr::value(next))
                    .col_expr(d::Column::UpdatedAt, Expr::value(at))
                    .exec(g.tx())
                    .await
                    .db()?;
            }
        }
        if let Some(at) = delivered_at {
            for (status, ids) in delivered {
                for chunk in ids.chunks(500) {
                    open()
                        .filter(d::Column::Id.is_in(chunk.iter().copied()))
                        .col_expr(
                            d::Column::State,
                            Expr::value(DeliveryState::Delivered.as_str()),
                        )
                        .col_expr(d::Column::Attempts, Expr::col(d::Column::Attempts).add(1))
                        .col_expr(
                            d::Column::FirstAttemptAt,
                            Expr::col(d::Column::FirstAttemptAt).if_null(at),
                        )
                        .col_expr(d::Column::NextAttemptAt, Expr::value(None::<DateTime<Utc>>))
                        .col_expr(d::Column::LastStatus, Expr::value(i32::from(status)))
                        .col_expr(d::Column::LastError, Expr::value(None::<String>))
                        .col_expr(d::Column::DeliveredAt, Expr::value(at))
                        .col_expr(d::Column::UpdatedAt, Expr::value(at))
                        .exec(g.tx())
                        .await
                        .db()?;
                }
            }
        }
        if !attempts.is_empty() {
            for chunk in attempts.chunks(500) {
                let models = chunk.iter().map(|x| insert::attempt_model(tid, x));
                match a::Entity::insert_many(models)
                    .exec_without_returning(g.tx())
                    .await
                {
                    // The stream was deleted meanwhile: its log went with it.
                    Err(e)
                        if matches!(
                            e.sql_err(),
                            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
                        ) =>
                    {
                        return Err(StoreError::NotFound);
                    }
                    other => {
                        other.db()?;
                    }
                }
            }
        }
        g.finish().await
    }

    /// Moves a stream's held deliveries to `to`: `Pending` (a push stream; due now) or
    /// `Queued` (a poll stream), in one statement (nothing is loaded); returns how many. A push
    /// stream's released SETs are then pushed a page at a time in publication order
    /// ([`Deliveries::due_page_in_order`], [`Deliveries::claim`]), not in the order their rows
    /// were made.
    pub async fn release_held(
        &self,
        stream: StreamId,
        to: DeliveryState,
    ) -> Result<u64, StoreError> {
        let t = now();
        let due = (to == DeliveryState::Pending).then_some(t);
        let g = self.ctx.begin().await?;
        let res = d::Entity::update_many()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()))
            .filter(d::Column::State.eq(DeliveryState::Held.as_str()))
            .col_expr(d::Column::State, Expr::value(to.as_str()))
            .col_expr(d::Column::NextAttemptAt, Expr::value(due))
            .col_expr(d::Column::UpdatedAt, Expr::value(t))
            .exec(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(res.rows_affected)
    }

    /// Gives dead deliveries of a stream another chance: back to `back_to` (`pending`, due
    /// now, for a push stream; `queued` for a poll stream), with a fresh retry schedule. All
    /// of the stream's dead ones, or only `ids`, or only those made in `[from, to)`, the
    /// oldest [`MAX_REDRIVE`] of them (so one call's work and memory are bounded; fewer than
    /// that returned means none is left). Returns them, oldest first.
    pub async fn redrive(
        &self,
        stream: StreamId,
        ids: Option<&[DeliveryId]>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        back_to: DeliveryState,
    ) -> Result<Vec<Delivery>, StoreError> {
        if !matches!(back_to, DeliveryState::Pending | DeliveryState::Queued) {
            return Err(StoreError::Config(format!(
                "dead deliveries go back to pending or queued, not {}",
                back_to.as_str()
            )));
        }
        let due = (back_to == DeliveryState::Pending).then(now);
        let g = self.ctx.begin().await?;
        let mut q = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()))
            .filter(d::Column::State.eq(DeliveryState::Dead.as_str()));
        if let Some(ids) = ids {
            q = q.filter(d::Column::Id.is_in(ids.iter().map(|i| i.as_uuid())));
        }
        if let Some(from) = from {
            q = q.filter(d::Column::CreatedAt.gte(micros(from)));
        }
        if let Some(to) = to {
            q = q.filter(d::Column::CreatedAt.lt(micros(to)));
        }
        let dead = q
            .order_by_asc(d::Column::Id)
            .limit(MAX_REDRIVE)
            .all(g.tx())
            .await
            .db()?;
        let t = now();
        for chunk in dead.chunks(500) {
            d::Entity::update_many()
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::Id.is_in(chunk.iter().map(|m| m.id)))
                .filter(d::Column::State.eq(DeliveryState::Dead.as_str()))
                .col_expr(d::Column::State, Expr::value(back_to.as_str()))
                .col_expr(d::Column::NextAttemptAt, Expr::value(due))
                .col_expr(d::Column::VisibleAt, Expr::value(None::<DateTime<Utc>>))
                .col_expr(d::Column::Attempts, Expr::value(0))
                .col_expr(
                    d::Column::FirstAttemptAt,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .col_expr(d::Column::UpdatedAt, Expr::value(t))
                .exec(g.tx())
                .await
                .db()?;
        }
        g.finish().await?;
        dead.into_iter()
            .map(|mut m| {
                m.state = back_to.as_str().to_owned();
                m.next_attempt_at = due;
                m.attempts = 0;
                m.first_attempt_at = None;
                m.updated_at = t;
                m.try_into()
            })
            .collect()
    }

    /// The delivery log of a stream, newest first, at most `limit`.
    pub async fn attempts_for_stream(
        &self,
        stream: StreamId,
        limit: u64,
    ) -> Result<Vec<Attempt>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = a::Entity::find()
            .filter(a::Column::TenantId.eq(self.ctx.tid()))
            .filter(a::Column::StreamId.eq(stream.as_uuid()))
            .order_by_desc(a::Column::AttemptedAt)
            .order_by_desc(a::Column::Id)
            .limit(limit)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Every attempt of one delivery, oldest first.
    pub async fn attempts_for_delivery(&self, id: DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = a::Entity::find()
            .filter(a::Column::TenantId.eq(self.ctx.tid()))
            .filter(a::Column::DeliveryId.eq(id.as_uuid()))
            .order_by_asc(a::Column::AttemptedAt)
            .order_by_asc(a::Column::Id)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Deletes attempt log rows older than `before`; returns how many.
    pub async fn prune_attempts(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let g = self.ctx.begin().await?;
        let res = a::Entity::delete_many()
            .filter(a::Column::TenantId.eq(self.ctx.tid()))
            .filter(a::Column::AttemptedAt.lt(micros(before)))
            .exec(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(res.rows_affected)
    }

    /// Deletes delivered SETs delivered before `before`, at most `batch` a statement (each
    /// its own transaction, so a large backlog never holds one long one); returns how many.
    /// Pending, queued and dead ones stay, whatever their age.
    pub async fn prune_delivered(
        &self,
        before: DateTime<Utc>,
        batch: u64,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let g = self.ctx.begin().await?;
            let ids: Vec<uuid::Uuid> = d::Entity::find()
                .select_only()
                .column(d::Column::Id)
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::State.eq(DeliveryState::Delivered.as_str()))
                .filter(d::Column::DeliveredAt.lt(micros(before)))
                .limit(batch)
                .into_tuple()
                .all(g.tx())
                .await
                .db()?;
            let taken = u64::try_from(ids.len()).unwrap_or(u64::MAX);
            if !ids.is_empty() {
                total += d::Entity::delete_many()
                    .filter(d::Column::TenantId.eq(self.ctx.tid()))
                    .filter(d::Column::Id.is_in(ids))
                    .exec(g.tx())
                    .await
                    .db()?
                    .rows_affected;
            }
            g.finish().await?;
            if taken < Ord::max(batch, 1) {
                return Ok(total);
            }
        }
    }

    /// SETs delivered since `since`, counted per hour (as [`crate::Events::count_by_hour`]).
    pub async fn delivered_by_hour(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        crate::repos::events::hourly(
            &self.ctx,
            "deliveries",
            "delivered_at",
            Some("delivered"),
            since,
        )
        .await
    }
}
