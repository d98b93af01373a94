//! A tenant's deliveries (one signed SET for one stream) and their attempt log.
//!
//! Fan-out writes deliveries in batches before it acknowledges the bus message that asked for
//! them ([`Deliveries::insert_many`], idempotent on `(stream, event)`); push workers report
//! outcomes in batches ([`Deliveries::apply`], one transaction: state changes plus the
//! attempt log rows). A delivery is `pending` while the hub owes it to a push receiver; the
//! recovery sweep finds pending ones nobody is working on with [`Deliveries::due`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use sethub_domain::{DeliveryId, EventId, StreamId, TenantId};

use crate::entities::deliveries as d;
use crate::entities::delivery_attempts as a;
use crate::error::{DbResultExt, StoreError};
use crate::repos::{micros, now};
use crate::scope::Ctx;

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

/// Deliveries of one tenant.
pub struct Deliveries<'a> {
    ctx: Ctx<'a>,
}

impl<'a> Deliveries<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    /// Stores deliveries in one statement; a `(stream, event)` pair that already has one is
    /// skipped (a redelivered bus message). Returns how many were new.
    pub async fn insert_many(&self, new: &[NewDelivery]) -> Result<u64, StoreError> {
        if new.is_empty() {
            return Ok(0);
        }
        let t = now();
        let tid = self.ctx.tid();
        let model = |n: &NewDelivery| d::ActiveModel {
            id: sea_orm::ActiveValue::Set(n.id.as_uuid()),
            tenant_id: sea_orm::ActiveValue::Set(tid),
            stream_id: sea_orm::ActiveValue::Set(n.stream_id.as_uuid()),
            event_id: sea_orm::ActiveValue::Set(n.event_id.map(|e| e.as_uuid())),
            kind: sea_orm::ActiveValue::Set(n.kind.as_str().to_owned()),
            jti: sea_orm::ActiveValue::Set(n.jti.clone()),
            set_token: sea_orm::ActiveValue::Set(n.set_token.clone()),
            state: sea_orm::ActiveValue::Set(n.state.as_str().to_owned()),
            attempts: sea_orm::ActiveValue::Set(0),
            next_attempt_at: sea_orm::ActiveValue::Set(n.next_attempt_at.map(micros)),
            first_attempt_at: sea_orm::ActiveValue::Set(None),
            last_status: sea_orm::ActiveValue::Set(None),
            last_error: sea_orm::ActiveValue::Set(None),
            resigned: sea_orm::ActiveValue::Set(false),
            created_at: sea_orm::ActiveValue::Set(t),
            updated_at: sea_orm::ActiveValue::Set(t),
            delivered_at: sea_orm::ActiveValue::Set(None),
        };
        let g = self.ctx.begin().await?;
        let mut inserted = 0;
        // Statements of a few hundred rows: PostgreSQL takes at most 65535 parameters, and
        // smaller statements keep the memory of a big fan-out small.
        for chunk in new.chunks(250) {
            let res = d::Entity::insert_many(chunk.iter().map(model))
                .on_conflict(
                    OnConflict::columns([d::Column::StreamId, d::Column::EventId])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(g.tx())
                .await;
            inserted += match res {
                Ok(n) => n,
                // sea-orm reports "nothing inserted" as an error when every row conflicted.
                Err(sea_orm::DbErr::RecordNotInserted) => 0,
                Err(e) => return Err(StoreError::on_write(e, || "delivery".to_owned())),
            };
        }
        g.finish().await?;
        Ok(inserted)
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

    /// Applies push outcomes and writes their attempt log rows, in one transaction. Deliveries
    /// already delivered are left alone (a late duplicate outcome changes nothing). Committed
    /// without waiting for the disk (PostgreSQL): an outcome lost in a database crash leaves
    /// its delivery pending, and it is pushed again (at least once).
    pub async fn apply(&self, updates: &[Update], attempts: &[Attempt]) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        crate::scope::relax_commit(g.tx()).await?;
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
        for u in updates {
            let at = micros(u.at);
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
                let models = chunk.iter().map(|x| a::ActiveModel {
                    id: sea_orm::ActiveValue::Set(uuid::Uuid::now_v7()),
                    tenant_id: sea_orm::ActiveValue::Set(tid),
                    delivery_id: sea_orm::ActiveValue::Set(x.delivery_id.as_uuid()),
                    stream_id: sea_orm::ActiveValue::Set(x.stream_id.as_uuid()),
                    attempted_at: sea_orm::ActiveValue::Set(micros(x.attempted_at)),
                    status: sea_orm::ActiveValue::Set(x.status.map(i32::from)),
                    latency_ms: sea_orm::ActiveValue::Set(
                        i32::try_from(x.latency_ms).unwrap_or(i32::MAX),
                    ),
                    outcome: sea_orm::ActiveValue::Set(x.outcome.clone()),
                    error: sea_orm::ActiveValue::Set(x.error.clone()),
                    response_excerpt: sea_orm::ActiveValue::Set(x.response_excerpt.clone()),
                });
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
    /// `Queued` (a poll stream); returns them, oldest first.
    pub async fn release_held(
        &self,
        stream: StreamId,
        to: DeliveryState,
    ) -> Result<Vec<Delivery>, StoreError> {
        let due = (to == DeliveryState::Pending).then(now);
        let g = self.ctx.begin().await?;
        let t = now();
        let held = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()))
            .filter(d::Column::State.eq(DeliveryState::Held.as_str()))
            .order_by_asc(d::Column::Id)
            .all(g.tx())
            .await
            .db()?;
        for chunk in held.chunks(500) {
            d::Entity::update_many()
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::Id.is_in(chunk.iter().map(|m| m.id)))
                .filter(d::Column::State.eq(DeliveryState::Held.as_str()))
                .col_expr(d::Column::State, Expr::value(to.as_str()))
                .col_expr(d::Column::NextAttemptAt, Expr::value(due))
                .col_expr(d::Column::UpdatedAt, Expr::value(t))
                .exec(g.tx())
                .await
                .db()?;
        }
        g.finish().await?;
        held.into_iter()
            .map(|mut m| {
                m.state = to.as_str().to_owned();
                m.next_attempt_at = due;
                m.updated_at = t;
                m.try_into()
            })
            .collect()
    }

    /// Gives dead deliveries of a stream another chance: back to pending, due now, with a
    /// fresh retry schedule. All of the stream's dead ones, or only `ids`, or only those made
    /// in `[from, to)`. Returns them, oldest first.
    pub async fn redrive(
        &self,
        stream: StreamId,
        ids: Option<&[DeliveryId]>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<Delivery>, StoreError> {
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
        let dead = q.order_by_asc(d::Column::Id).all(g.tx()).await.db()?;
        let t = now();
        for chunk in dead.chunks(500) {
            d::Entity::update_many()
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::Id.is_in(chunk.iter().map(|m| m.id)))
                .filter(d::Column::State.eq(DeliveryState::Dead.as_str()))
                .col_expr(
                    d::Column::State,
                    Expr::value(DeliveryState::Pending.as_str()),
                )
                .col_expr(d::Column::NextAttemptAt, Expr::value(t))
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
                m.state = DeliveryState::Pending.as_str().to_owned();
                m.next_attempt_at = Some(t);
                m.attempts = 0;
                m.first_attempt_at = None;
                m.updated_at = t;
                m.try_into()
            })
            .collect()
    }

    /// Hands a poll stream's receiver up to `max` of its queued SETs that are visible now
    /// (never handed out, or not acknowledged within their visibility timeout), oldest
    /// first, and hides them for `visibility`; also says whether more are visible. Two
    /// concurrent polls never get the same SET.
    pub async fn poll(
        &self,
        stream: StreamId,
        max: u64,
        visibility: std::time::Duration,
    ) -> Result<(Vec<Delivery>, bool), StoreError> {
        let g = self.ctx.begin().await?;
        let t = now();
        let visible = || {
            sea_orm::Condition::any()
                .add(d::Column::NextAttemptAt.is_null())
                .add(d::Column::NextAttemptAt.lte(t))
        };
        let ids: Vec<uuid::Uuid> = d::Entity::find()
            .select_only()
            .column(d::Column::Id)
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()))
            .filter(d::Column::State.eq(DeliveryState::Queued.as_str()))
            .filter(visible())
            .order_by_asc(d::Column::Id)
            .limit(max + 1)
            .into_tuple()
            .all(g.tx())
            .await
            .db()?;
        let more = ids.len() as u64 > max;
        let take: Vec<uuid::Uuid> = ids.into_iter().take(max as usize).collect();
        if take.is_empty() {
            g.finish().await?;
            return Ok((Vec::new(), more));
        }
        // A claim mark unique to this poll (to the microsecond, with a random offset).
        let until = micros(
            t + chrono::Duration::from_std(visibility)
                .unwrap_or_else(|_| chrono::Duration::seconds(30))
                + chrono::Duration::microseconds(i64::from(rand_micros())),
        );
        d::Entity::update_many()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::Id.is_in(take.iter().copied()))
            .filter(d::Column::State.eq(DeliveryState::Queued.as_str()))
            .filter(visible())
            .col_expr(d::Column::NextAttemptAt, Expr::value(until))
            .col_expr(d::Column::Attempts, Expr::col(d::Column::Attempts).add(1))
            .col_expr(
                d::Column::FirstAttemptAt,
                Expr::col(d::Column::FirstAttemptAt).if_null(t),
            )
            .col_expr(d::Column::UpdatedAt, Expr::value(t))
            .exec(g.tx())
            .await
            .db()?;
        let rows = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::Id.is_in(take.iter().copied()))
            .filter(d::Column::NextAttemptAt.eq(until))
            .order_by_asc(d::Column::Id)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        let got = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<Delivery>, _>>()?;
        Ok((got, more))
    }

    /// The receiver acknowledged these SETs (by `jti`): delivered. Unknown or already settled
    /// ones are ignored (acknowledging twice is harmless). Returns how many were settled now.
    pub async fn ack(&self, stream: StreamId, jtis: &[String]) -> Result<u64, StoreError> {
        if jtis.is_empty() {
            return Ok(0);
        }
        let g = self.ctx.begin().await?;
        let t = now();
        let mut n = 0;
        for chunk in jtis.chunks(500) {
            n += d::Entity::update_many()
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::StreamId.eq(stream.as_uuid()))
                .filter(d::Column::State.eq(DeliveryState::Queued.as_str()))
                .filter(d::Column::Jti.is_in(chunk.iter().cloned()))
                .col_expr(
                    d::Column::State,
                    Expr::value(DeliveryState::Delivered.as_str()),
                )
                .col_expr(d::Column::DeliveredAt, Expr::value(t))
                .col_expr(d::Column::NextAttemptAt, Expr::value(None::<DateTime<Utc>>))
                .col_expr(d::Column::UpdatedAt, Expr::value(t))
                .exec(g.tx())
                .await
                .db()?
                .rows_affected;
        }
        g.finish().await?;
        Ok(n)
    }

    /// The receiver reported these SETs invalid (`setErrs`: `jti` → `err`, `description`):
    /// each is settled as dead with the error, and the report is kept in the delivery log.
    /// Unknown or already settled ones are ignored. Returns how many were settled now.
    pub async fn report_errors(
        &self,
        stream: StreamId,
        errors: &[(String, String, String)],
    ) -> Result<u64, StoreError> {
        if errors.is_empty() {
            return Ok(0);
        }
        let g = self.ctx.begin().await?;
        let t = now();
        let mut n = 0;
        for (jti, err, description) in errors {
            let Some(row) = d::Entity::find()
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::StreamId.eq(stream.as_uuid()))
                .filter(d::Column::State.eq(DeliveryState::Queued.as_str()))
                .filter(d::Column::Jti.eq(jti.as_str()))
                .one(g.tx())
                .await
                .db()?
            else {
                continue;
            };
            let error = format!("{err}: {description}");
            d::Entity::update_many()
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::Id.eq(row.id))
                .col_expr(d::Column::State, Expr::value(DeliveryState::Dead.as_str()))
                .col_expr(d::Column::NextAttemptAt, Expr::value(None::<DateTime<Utc>>))
                .col_expr(d::Column::LastError, Expr::value(error.clone()))
                .col_expr(d::Column::UpdatedAt, Expr::value(t))
                .exec(g.tx())
                .await
                .db()?;
            a::Entity::insert(a::ActiveModel {
                id: sea_orm::ActiveValue::Set(uuid::Uuid::now_v7()),
                tenant_id: sea_orm::ActiveValue::Set(self.ctx.tid()),
                delivery_id: sea_orm::ActiveValue::Set(row.id),
                stream_id: sea_orm::ActiveValue::Set(stream.as_uuid()),
                attempted_at: sea_orm::ActiveValue::Set(t),
                status: sea_orm::ActiveValue::Set(None),
                latency_ms: sea_orm::ActiveValue::Set(0),
                outcome: sea_orm::ActiveValue::Set("set_err".into()),
                error: sea_orm::ActiveValue::Set(Some(error)),
                response_excerpt: sea_orm::ActiveValue::Set(None),
            })
            .exec_without_returning(g.tx())
            .await
            .db()?;
            n += 1;
        }
        g.finish().await?;
        Ok(n)
    }

    /// A stream's pending deliveries due by `before`, oldest first, at most `limit`.
    pub async fn pending_for_stream(
        &self,
        stream: StreamId,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()))
            .filter(d::Column::State.eq(DeliveryState::Pending.as_str()))
            .filter(d::Column::NextAttemptAt.lte(micros(before)))
            .order_by_asc(d::Column::Id)
            .limit(limit)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
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
}

/// A random offset below a millisecond, so that two polls never share a claim mark.
fn rand_micros() -> u32 {
    uuid::Uuid::new_v4().as_bytes()[0] as u32 * 4 % 1000
}
