//! What a tenant used, for its usage page: events accepted and SETs delivered per day, and the
//! subjects each stream holds (removed ones count, as they do against the quota).
//!
//! One query per figure, each read through an index that starts with `tenant_id`: events by
//! `(tenant_id, received_at)`, delivered SETs by the partial `(tenant_id, delivered_at,
//! stream_id) WHERE state = 'delivered'` (migration 000062; index-only on PostgreSQL),
//! subjects by `(tenant_id, subject_key)`. Days are UTC days since the epoch.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sethub_domain::StreamId;
use uuid::Uuid;

use crate::error::{DbResultExt, StoreError};
use crate::repos::micros;
use crate::scope::Ctx;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// The usage figures of one tenant.
pub struct Usage<'a> {
    ctx: Ctx<'a>,
}

/// `column` (a timestamp) as a whole number of `secs`-long buckets since the epoch.
pub(crate) fn epoch_bucket(backend: DbBackend, column: &str, secs: i64) -> String {
    match backend {
        DbBackend::Postgres => {
            format!("CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / {secs}) AS BIGINT)")
        }
        _ => format!("CAST(strftime('%s', {column}) AS INTEGER) / {secs}"),
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl<'a> Usage<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    /// Runs one read in a tenant transaction; `sql` takes the tenant as its first parameter
    /// (`{p}1`) and `since` as its second.
    async fn read(
        &self,
        sql: impl Fn(DbBackend, &str) -> String,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<sea_orm::QueryResult>, StoreError> {
        let g = self.ctx.begin().await?;
        let backend = g.tx().get_database_backend();
        let p = if backend == DbBackend::Postgres {
            "$"
        } else {
            "?"
        };
        let mut values: Vec<sea_orm::Value> = vec![self.ctx.tid().into()];
        if let Some(since) = since {
            values.push(micros(since).into());
        }
        let rows = g
            .tx()
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql(backend, p),
                values,
            ))
            .await
            .db()?;
        g.finish().await?;
        Ok(rows)
    }

    /// Events accepted since `since`, counted per UTC day: (days since the epoch, count),
    /// oldest first; days without events are left out.
    pub async fn events_by_day(&self, since: DateTime<Utc>) -> Result<Vec<(i64, u64)>, StoreError> {
        let rows = self
            .read(
                |b, p| {
                    format!(
                        "SELECT {} AS d, COUNT(*) AS n FROM events \
                         WHERE tenant_id = {p}1 AND received_at >= {p}2 GROUP BY 1 ORDER BY 1",
                        epoch_bucket(b, "received_at", DAY)
                    )
                },
                Some(since),
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let d: i64 = r.try_get("", "d").db()?;
                let n: i64 = r.try_get("", "n").db()?;
                Ok((d, count(n)))
            })
            .collect()
    }

    /// SETs delivered since `since` (by the time they were delivered), counted per stream and
    /// UTC day: (stream, days since the epoch, count), by stream and then day. A stream or a
    /// day without deliveries is left out.
    pub async fn delivered_by_stream_and_day(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(StreamId, i64, u64)>, StoreError> {
        let rows = self
            .read(
                |b, p| {
                    format!(
                        "SELECT stream_id AS s, {} AS d, COUNT(*) AS n FROM deliveries \
                         WHERE tenant_id = {p}1 AND state = 'delivered' AND delivered_at >= {p}2 \
                         GROUP BY 1, 2 ORDER BY 1, 2",
                        epoch_bucket(b, "delivered_at", DAY)
                    )
                },
                Some(since),
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let s: Uuid = r.try_get("", "s").db()?;
                let d: i64 = r.try_get("", "d").db()?;
                let n: i64 = r.try_get("", "n").db()?;
                Ok((StreamId::from_uuid(s), d, count(n)))
            })
            .collect()
    }

    /// The subject rows of each stream that has any (added and removed: both count against
    /// `subjects_per_stream`), by stream.
    pub async fn subjects_by_stream(&self) -> Result<Vec<(StreamId, u64)>, StoreError> {
        let rows = self
            .read(
                |_, p| {
                    format!(
                        "SELECT stream_id AS s, COUNT(*) AS n FROM stream_subjects \
                         WHERE tenant_id = {p}1 GROUP BY 1 ORDER BY 1"
                    )
                },
                None,
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let s: Uuid = r.try_get("", "s").db()?;
                let n: i64 = r.try_get("", "n").db()?;
                Ok((StreamId::from_uuid(s), count(n)))
            })
            .collect()
    }
}
