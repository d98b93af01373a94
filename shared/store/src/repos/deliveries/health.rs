//! What a stream's health view and its searchable delivery log read: attempts per hour by
//! outcome, the latest failure, the next retry, dead letters, and a filtered page of the log.
//!
//! Every query is bounded: the hourly counts read at most [`HEALTH_MAX_ATTEMPTS`] of the
//! window's newest attempts through `(tenant_id, stream_id, attempted_at)`; a log page is at
//! most [`MAX_LOG_PAGE`] rows by a keyset cursor on the delivery id; a subject search looks at
//! the newest [`SUBJECT_SEARCH_EVENTS`] matching events only.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use sethub_domain::{DeliveryId, EventId, StreamId};

use super::{Attempt, Deliveries, Delivery, DeliveryState};
use crate::entities::deliveries as d;
use crate::entities::delivery_attempts as a;
use crate::entities::events as e;
use crate::error::{DbResultExt, StoreError};
use crate::repos::micros;

/// The most attempts one health look counts (the newest of its window).
const HEALTH_MAX_ATTEMPTS: u64 = 50_000;
/// The most deliveries one page of a log holds.
pub const MAX_LOG_PAGE: u64 = 100;
/// The most events a subject search matches deliveries of (the newest of them).
const SUBJECT_SEARCH_EVENTS: u64 = 1_000;

/// Outcomes that are a failed push (`skipped` is no attempt; `delivered` is success).
const FAILED: [&str; 4] = ["retry", "dead", "resign", "disabled"];

/// Push attempts of one hour: taken, and failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourOutcomes {
    /// Hours since the epoch.
    pub hour: i64,
    pub delivered: u64,
    pub failed: u64,
}

/// What the store knows of a stream's health.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthFacts {
    /// Hours with attempts, oldest first.
    pub hours: Vec<HourOutcomes>,
    /// The newest attempt.
    pub latest: Option<Attempt>,
    /// The newest failed attempt of the window.
    pub last_failure: Option<Attempt>,
    /// When the soonest pending delivery is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub dead: u64,
}

/// Which deliveries of a stream a log page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub state: Option<DeliveryState>,
    /// Made at or after.
    pub from: Option<DateTime<Utc>>,
    /// Made before.
    pub to: Option<DateTime<Utc>>,
    pub search: Option<LogSearch>,
    /// The next page: deliveries older than this one.
    pub before: Option<DeliveryId>,
}

/// What a log search looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSearch {
    /// The SET's `jti`, exactly.
    Jti(String),
    /// Deliveries of one event.
    Event(EventId),
    /// Deliveries of events whose subject has a value starting so.
    SubjectPrefix(String),
}

impl Deliveries<'_> {
    /// A stream's health since `since`: attempts per hour by outcome (the newest
    /// [`HEALTH_MAX_ATTEMPTS`] of the window), the newest attempt and failure, the next due
    /// time and the dead-letter count.
    pub async fn health(
        &self,
        stream: StreamId,
        since: DateTime<Utc>,
    ) -> Result<HealthFacts, StoreError> {
        let g = self.ctx.begin().await?;
        let backend = g.tx().get_database_backend();
        let bucket = match backend {
            DbBackend::Postgres => "CAST(FLOOR(EXTRACT(EPOCH FROM attempted_at) / 3600) AS BIGINT)",
            _ => "CAST(strftime('%s', attempted_at) AS INTEGER) / 3600",
        };
        let p = |i: usize| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        };
        let failed = FAILED.map(|f| format!("'{f}'")).join(", ");
        let sql = format!(
            "SELECT h, SUM(CASE WHEN outcome = 'delivered' THEN 1 ELSE 0 END) AS ok, \
             SUM(CASE WHEN outcome IN ({failed}) THEN 1 ELSE 0 END) AS bad FROM \
             (SELECT {bucket} AS h, outcome FROM delivery_attempts \
              WHERE tenant_id = {} AND stream_id = {} AND attempted_at >= {} \
              ORDER BY attempted_at DESC LIMIT {HEALTH_MAX_ATTEMPTS}) AS recent \
             GROUP BY h ORDER BY h",
            p(1),
            p(2),
            p(3)
        );
        let values: Vec<sea_orm::Value> = vec![
            self.ctx.tid().into(),
            stream.as_uuid().into(),
            micros(since).into(),
        ];
        let rows = g
            .tx()
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .db()?;
        let mut hours = Vec::with_capacity(rows.len());
        for r in rows {
            let hour: i64 = r.try_get("", "h").db()?;
            let ok: i64 = r.try_get("", "ok").db()?;
            let bad: i64 = r.try_get("", "bad").db()?;
            hours.push(HourOutcomes {
                hour,
                delivered: u64::try_from(ok).unwrap_or(0),
                failed: u64::try_from(bad).unwrap_or(0),
            });
        }
        let newest = || {
            a::Entity::find()
                .filter(a::Column::TenantId.eq(self.ctx.tid()))
                .filter(a::Column::StreamId.eq(stream.as_uuid()))
                .order_by_desc(a::Column::AttemptedAt)
                .order_by_desc(a::Column::Id)
        };
        let latest = newest().one(g.tx()).await.db()?.map(Attempt::from);
        let last_failure = match &latest {
            Some(l) if FAILED.contains(&l.outcome.as_str()) => Some(l.clone()),
            // Only when the window saw a failure: then the walk stops within the window.
            _ if hours.iter().any(|h| h.failed > 0) => newest()
                .filter(a::Column::AttemptedAt.gte(micros(since)))
                .filter(a::Column::Outcome.is_in(FAILED))
                .one(g.tx())
                .await
                .db()?
                .map(Attempt::from),
            _ => None,
        };
        let next: Option<Option<DateTime<Utc>>> = d::Entity::find()
            .select_only()
            .column(d::Column::NextAttemptAt)
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()))
            .filter(d::Column::State.eq(DeliveryState::Pending.as_str()))
            .order_by_asc(d::Column::NextAttemptAt)
            .limit(1)
            .into_tuple()
            .one(g.tx())
            .await
            .db()?;
        let dead = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()))
            .filter(d::Column::State.eq(DeliveryState::Dead.as_str()))
            .count(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(HealthFacts {
            hours,
            latest,
            last_failure,
            next_attempt_at: next.flatten(),
            dead,
        })
    }

    /// A page of a stream's deliveries, newest first, filtered (at most [`MAX_LOG_PAGE`]).
    pub async fn log_page(
        &self,
        stream: StreamId,
        filter: &LogFilter,
        limit: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let g = self.ctx.begin().await?;
        let mut q = d::Entity::find()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()));
        if let Some(state) = filter.state {
            q = q.filter(d::Column::State.eq(state.as_str()));
        }
        if let Some(from) = filter.from {
            q = q.filter(d::Column::CreatedAt.gte(micros(from)));
        }
        if let Some(to) = filter.to {
            q = q.filter(d::Column::CreatedAt.lt(micros(to)));
        }
        if let Some(before) = filter.before {
            q = q.filter(d::Column::Id.lt(before.as_uuid()));
        }
        match &filter.search {
            None => {}
            Some(LogSearch::Jti(jti)) => q = q.filter(d::Column::Jti.eq(jti.as_str())),
            Some(LogSearch::Event(id)) => q = q.filter(d::Column::EventId.eq(id.as_uuid())),
            Some(LogSearch::SubjectPrefix(prefix)) => {
                // A subject's values are JSON strings: a value starting with the prefix reads
                // `"prefix…` in the JSON text, the same on both backends.
                let json = serde_json::Value::from(prefix.as_str()).to_string();
                let quoted_start = json.trim_end_matches('"');
                let escaped = quoted_start
                    .replace('!', "!!")
                    .replace('%', "!%")
                    .replace('_', "!_");
                let mut events = e::Entity::find()
                    .select_only()
                    .column(e::Column::Id)
                    .filter(e::Column::TenantId.eq(self.ctx.tid()))
                    .filter(
                        Expr::col(e::Column::SubId)
                            .cast_as("TEXT")
                            .like(LikeExpr::new(format!("%{escaped}%")).escape('!')),
                    );
                if let Some(from) = filter.from {
                    events = events.filter(e::Column::ReceivedAt.gte(micros(from)));
                }
                if let Some(to) = filter.to {
                    events = events.filter(e::Column::ReceivedAt.lt(micros(to)));
                }
                let ids: Vec<uuid::Uuid> = events
                    .order_by_desc(e::Column::Id)
                    .limit(SUBJECT_SEARCH_EVENTS)
                    .into_tuple()
                    .all(g.tx())
                    .await
                    .db()?;
                if ids.is_empty() {
                    g.finish().await?;
                    return Ok(Vec::new());
                }
                q = q.filter(d::Column::EventId.is_in(ids));
            }
        }
        let rows = q
            .order_by_desc(d::Column::Id)
            .limit(Ord::min(limit, MAX_LOG_PAGE))
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
