//! Poll delivery (RFC 8936) on the deliveries of a poll stream: handing out queued SETs
//! with a visibility timeout, and settling them by acknowledgement or reported error.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use sethub_domain::StreamId;

use super::{Deliveries, Delivery, DeliveryState};
use crate::entities::deliveries as d;
use crate::entities::delivery_attempts as a;
use crate::error::{DbResultExt, StoreError};
use crate::repos::{micros, now};

impl Deliveries<'_> {
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
        self.poll_made_since(stream, max, visibility, None).await
    }

    /// [`Deliveries::poll`] handing out only SETs made at or after `made_since` (the poll
    /// queue's age retention): older ones are never served, even before the recovery sweep
    /// drops them ([`Deliveries::trim_queue`]).
    pub async fn poll_made_since(
        &self,
        stream: StreamId,
        max: u64,
        visibility: std::time::Duration,
        made_since: Option<DateTime<Utc>>,
    ) -> Result<(Vec<Delivery>, bool), StoreError> {
        let g = self.ctx.begin().await?;
        let t = now();
        let since = micros(made_since.unwrap_or(DateTime::UNIX_EPOCH));
        if g.tx().get_database_backend() == DbBackend::Postgres {
            let got = pg_claim(g.tx(), self.ctx.tid(), stream, max, visibility, t, since).await?;
            g.finish().await?;
            return Ok(got);
        }
        let visible = || {
            sea_orm::Condition::all()
                .add(d::Column::CreatedAt.gte(since))
                .add(
                    sea_orm::Condition::any()
                        .add(d::Column::VisibleAt.is_null())
                        .add(d::Column::VisibleAt.lte(t)),
                )
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
            .col_expr(d::Column::VisibleAt, Expr::value(until))
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
            .filter(d::Column::VisibleAt.eq(until))
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
        if g.tx().get_database_backend() == DbBackend::Postgres {
            // One statement with the list as one parameter: planned once, whatever its length.
            let n = g
                .tx()
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE deliveries SET state = 'delivered', delivered_at = $1, \
                     next_attempt_at = NULL, updated_at = $1 \
                     WHERE tenant_id = $2 AND stream_id = $3 AND state = 'queued' \
                     AND jti = ANY (ARRAY(SELECT jsonb_array_elements_text($4::jsonb)))",
                    [
                        t.into(),
                        self.ctx.tid().into(),
                        stream.as_uuid().into(),
                        serde_json::Value::from(jtis.to_vec()).into(),
                    ],
                ))
                .await
                .db()?
                .rows_affected();
            g.finish().await?;
            return Ok(n);
        }
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
}

impl Deliveries<'_> {
    /// Applies a poll stream's retention: its queued SETs made before `older_than`, and the
    /// oldest beyond the newest `keep`, are dropped (state `dropped`, with the reason). Returns
    /// how many were dropped for age and for count.
    pub async fn trim_queue(
        &self,
        stream: StreamId,
        older_than: DateTime<Utc>,
        keep: u64,
    ) -> Result<(u64, u64), StoreError> {
        let g = self.ctx.begin().await?;
        let t = now();
        let drop = |reason: &str| {
            d::Entity::update_many()
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::StreamId.eq(stream.as_uuid()))
                .filter(d::Column::State.eq(DeliveryState::Queued.as_str()))
                .col_expr(
                    d::Column::State,
                    Expr::value(DeliveryState::Dropped.as_str()),
                )
                .col_expr(d::Column::NextAttemptAt, Expr::value(None::<DateTime<Utc>>))
                .col_expr(d::Column::LastError, Expr::value(reason.to_owned()))
                .col_expr(d::Column::UpdatedAt, Expr::value(t))
        };
        let by_age = drop("dropped by the poll queue's retention: too old")
            .filter(d::Column::CreatedAt.lt(micros(older_than)))
            .exec(g.tx())
            .await
            .db()?
            .rows_affected;
        // The newest SET beyond the `keep` newest: it and everything older go.
        let boundary: Option<uuid::Uuid> = d::Entity::find()
            .select_only()
            .column(d::Column::Id)
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()))
            .filter(d::Column::State.eq(DeliveryState::Queued.as_str()))
            .order_by_desc(d::Column::Id)
            .offset(keep)
            .limit(1)
            .into_tuple()
            .one(g.tx())
            .await
            .db()?;
        let by_count = match boundary {
            Some(id) => {
                drop("dropped by the poll queue's retention: too many waiting")
                    .filter(d::Column::Id.lte(id))
                    .exec(g.tx())
                    .await
                    .db()?
                    .rows_affected
            }
            None => 0,
        };
        g.finish().await?;
        Ok((by_age, by_count))
    }
}

/// The claim in one PostgreSQL statement: the oldest visible queued SETs, locked past any
/// other poll's (`SKIP LOCKED`), hidden until `visibility` from now, returned; then whether
/// more are visible.
async fn pg_claim(
    tx: &sea_orm::DatabaseTransaction,
    tenant: uuid::Uuid,
    stream: StreamId,
    max: u64,
    visibility: std::time::Duration,
    t: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<(Vec<Delivery>, bool), StoreError> {
    let until = micros(
        t + chrono::Duration::from_std(visibility)
            .unwrap_or_else(|_| chrono::Duration::seconds(30)),
    );
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    let rows = d::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH picked AS ( \
               SELECT id FROM deliveries \
               WHERE tenant_id = $1 AND stream_id = $2 AND state = 'queued' \
                 AND (visible_at IS NULL OR visible_at <= $3) \
                 AND created_at >= $6 \
               ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             UPDATE deliveries d SET visible_at = $5, attempts = d.attempts + 1, \
               first_attempt_at = COALESCE(d.first_attempt_at, $3), updated_at = $3 \
             FROM picked WHERE d.id = picked.id RETURNING d.*",
            [
                tenant.into(),
                stream.as_uuid().into(),
                t.into(),
                limit.into(),
                until.into(),
                since.into(),
            ],
        ))
        .all(tx)
        .await
        .db()?;
    let more = tx
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM deliveries \
               WHERE tenant_id = $1 AND stream_id = $2 AND state = 'queued' \
                 AND (visible_at IS NULL OR visible_at <= $3) \
                 AND created_at >= $4) AS more",
            [
                tenant.into(),
                stream.as_uuid().into(),
                t.into(),
                since.into(),
            ],
        ))
        .await
        .db()?
        .map(|r| r.try_get::<bool>("", "more"))
        .transpose()
        .db()?
        .unwrap_or(false);
    let mut got = rows
        .into_iter()
        .map(TryInto::try_into)
        .collect::<Result<Vec<Delivery>, _>>()?;
    got.sort_by_key(|d: &Delivery| d.id);
    Ok((got, more))
}

/// A random offset below a millisecond, so that two polls never share a claim mark.
fn rand_micros() -> u32 {
    uuid::Uuid::new_v4().as_bytes()[0] as u32 * 4 % 1000
}
