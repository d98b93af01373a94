//! Storing new deliveries: fan-out's SETs of an event message, a replay's generation, and
//! the SETs whose first push was answered before their rows were written.
//!
//! **Written once.** Fan-out pushes a fresh event's SETs while it signs them and stores their
//! rows after (the bus message is acknowledged only then). A SET whose receiver took it by then
//! is stored as `delivered`, with its attempt in the delivery log, in the same statement that
//! stores the others: its row is written once, where storing it `pending` and updating it to
//! `delivered` a moment later wrote it twice, left a dead row version behind (which only a
//! vacuum reclaims) and cost the outcome recorder a transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect};
use sethub_domain::DeliveryId;

use super::{Attempt, Deliveries, DeliveryState, NewDelivery};
use crate::entities::deliveries as d;
use crate::entities::delivery_attempts as a;
use crate::error::{DbResultExt, StoreError};
use crate::repos::{micros, now};

/// A first push that the receiver took before the delivery's row was stored: the row is
/// stored `delivered` with this outcome, and `attempt` goes to the delivery log with it.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstDelivered {
    pub id: DeliveryId,
    /// The receiver's answer (2xx).
    pub status: u16,
    /// When the outcome was known.
    pub at: DateTime<Utc>,
    pub attempt: Attempt,
}

/// Rows per statement: PostgreSQL takes at most 65535 parameters, and smaller statements keep
/// the memory of a big fan-out small.
const CHUNK: usize = 250;

impl Deliveries<'_> {
    /// Stores deliveries in one statement; a `(stream, event)` pair that already has one is
    /// skipped (a redelivered bus message). Returns how many were new.
    pub async fn insert_many(&self, new: &[NewDelivery]) -> Result<u64, StoreError> {
        self.insert_generation(new, 0, &[]).await
    }

    /// [`Deliveries::insert_many`], with the deliveries of `delivered` stored as delivered
    /// (their first push succeeded already) and their attempts logged, in the same statement.
    /// A delivery skipped as a repeat keeps its stored row, and its attempt is not logged.
    pub async fn insert_many_delivered(
        &self,
        new: &[NewDelivery],
        delivered: &[FirstDelivered],
    ) -> Result<u64, StoreError> {
        self.insert_generation(new, 0, delivered).await
    }

    /// Stores the deliveries of a replay: new SETs of events that were fanned out before,
    /// under a generation of their own (one per replay, above 0), so they stand beside the
    /// first deliveries. Returns how many were stored.
    pub async fn insert_replay(
        &self,
        new: &[NewDelivery],
        generation: i64,
    ) -> Result<u64, StoreError> {
        if generation <= 0 {
            return Err(StoreError::Config(
                "a replay's generation must be above 0".into(),
            ));
        }
        self.insert_generation(new, generation, &[]).await
    }

    async fn insert_generation(
        &self,
        new: &[NewDelivery],
        generation: i64,
        delivered: &[FirstDelivered],
    ) -> Result<u64, StoreError> {
        if new.is_empty() {
            return Ok(0);
        }
        let t = now();
        let delivered: HashMap<DeliveryId, &FirstDelivered> =
            delivered.iter().map(|f| (f.id, f)).collect();
        if self.ctx.backend() == DbBackend::Postgres {
            return self.insert_pg(new, generation, t, &delivered).await;
        }
        let tid = self.ctx.tid();
        let model = |n: &NewDelivery| {
            let mut m = d::ActiveModel {
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
                generation: sea_orm::ActiveValue::Set(generation),
                visible_at: sea_orm::ActiveValue::Set(None),
            };
            if let Some(f) = delivered.get(&n.id) {
                let at = micros(f.at);
                m.state = sea_orm::ActiveValue::Set(DeliveryState::Delivered.as_str().to_owned());
                m.attempts = sea_orm::ActiveValue::Set(1);
                m.next_attempt_at = sea_orm::ActiveValue::Set(None);
                m.first_attempt_at = sea_orm::ActiveValue::Set(Some(at));
                m.last_status = sea_orm::ActiveValue::Set(Some(i32::from(f.status)));
                m.delivered_at = sea_orm::ActiveValue::Set(Some(at));
                m.updated_at = sea_orm::ActiveValue::Set(at);
            }
            m
        };
        let g = self.ctx.begin().await?;
        let mut inserted = 0;
        for chunk in new.chunks(CHUNK) {
            let res = d::Entity::insert_many(chunk.iter().map(model))
                .on_conflict(
                    OnConflict::columns([
                        d::Column::StreamId,
                        d::Column::EventId,
                        d::Column::Generation,
                    ])
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
            // The attempts of the rows that are ours (a repeat kept its stored row).
            let mine: Vec<uuid::Uuid> = chunk
                .iter()
                .filter(|n| delivered.contains_key(&n.id))
                .map(|n| n.id.as_uuid())
                .collect();
            if mine.is_empty() {
                continue;
            }
            let stored: Vec<uuid::Uuid> = d::Entity::find()
                .select_only()
                .column(d::Column::Id)
                .filter(d::Column::TenantId.eq(tid))
                .filter(d::Column::Id.is_in(mine))
                .into_tuple()
                .all(g.tx())
                .await
                .db()?;
            let models = stored
                .iter()
                .filter_map(|id| delivered.get(&DeliveryId::from_uuid(*id)))
                .map(|f| attempt_model(tid, &f.attempt))
                .collect::<Vec<_>>();
            if !models.is_empty() {
                a::Entity::insert_many(models)
                    .exec_without_returning(g.tx())
                    .await
                    .db()?;
            }
        }
        g.finish().await?;
        Ok(inserted)
    }

    /// [`Deliveries::insert_generation`] on PostgreSQL: one statement per 250 rows with the
    /// rows (and the attempts of those delivered already) as JSON parameters; up to 250 rows
    /// (an event's SETs) that statement is the whole transaction (`Ctx::insert_scoped`: one
    /// round trip), more go in one transaction.
    async fn insert_pg(
        &self,
        new: &[NewDelivery],
        generation: i64,
        t: DateTime<Utc>,
        delivered: &HashMap<DeliveryId, &FirstDelivered>,
    ) -> Result<u64, StoreError> {
        const INSERT: &str = "INSERT INTO deliveries (id, tenant_id, stream_id, event_id, kind, \
             jti, set_token, state, attempts, next_attempt_at, first_attempt_at, last_status, \
             resigned, created_at, updated_at, delivered_at, generation) \
             SELECT r.id, $2::uuid, r.stream_id, r.event_id, r.kind, r.jti, r.set_token, r.state, \
             COALESCE(r.attempts, 0), r.next_attempt_at, r.done_at, r.last_status, false, $3, \
             COALESCE(r.done_at, $3), r.done_at, $4 \
             FROM tenant, jsonb_to_recordset($5::jsonb) AS r(id uuid, stream_id uuid, \
             event_id uuid, kind text, jti text, set_token text, state text, \
             next_attempt_at timestamptz, attempts int, done_at timestamptz, last_status int) \
             ON CONFLICT (stream_id, event_id, generation) DO NOTHING";
        // With first attempts: the deliveries' INSERT is a CTE, and the attempts of the rows it
        // inserted (not of a repeat's) go in beside it; the statement counts the new rows.
        const WITH_ATTEMPTS: &str = ", ins AS ({INSERT} RETURNING id), \
             logged AS (INSERT INTO delivery_attempts (id, tenant_id, delivery_id, stream_id, \
             attempted_at, status, latency_ms, outcome, error, response_excerpt) \
             SELECT x.id, $2::uuid, x.delivery_id, x.stream_id, x.attempted_at, \
             x.status, x.latency_ms, x.outcome, x.error, x.response_excerpt \
             FROM tenant, jsonb_to_recordset($6::jsonb) AS x(id uuid, delivery_id uuid, stream_id uuid, \
             attempted_at timestamptz, status int, latency_ms int, outcome text, error text, \
             response_excerpt text) \
             WHERE x.delivery_id IN (SELECT id FROM ins)) \
             SELECT count(*)::bigint AS n FROM ins";
        let guard = if new.len() > CHUNK {
            Some(self.ctx.begin().await?)
        } else {
            None
        };
        let ctx = match &guard {
            Some(g) => self.ctx.with_tx(g.tx()),
            None => self.ctx,
        };
        let mut inserted = 0;
        for chunk in new.chunks(CHUNK) {
            let mut attempts = Vec::new();
            let rows: Vec<serde_json::Value> = chunk
                .iter()
                .map(|n| {
                    let mut row = serde_json::json!({
                        "id": n.id.as_uuid(),
                        "stream_id": n.stream_id.as_uuid(),
                        "event_id": n.event_id.map(|e| e.as_uuid()),
                        "kind": n.kind.as_str(),
                        "jti": n.jti,
                        "set_token": n.set_token,
                        "state": n.state.as_str(),
                        "next_attempt_at": n.next_attempt_at.map(micros),
                    });
                    if let Some(f) = delivered.get(&n.id) {
                        row["state"] = DeliveryState::Delivered.as_str().into();
                        row["next_attempt_at"] = serde_json::Value::Null;
                        row["attempts"] = 1.into();
                        row["done_at"] = serde_json::json!(micros(f.at));
                        row["last_status"] = f.status.into();
                        attempts.push(attempt_json(&f.attempt));
                    }
                    row
                })
                .collect();
            let mut values = vec![
                self.ctx.tid().into(),
                t.into(),
                generation.into(),
                serde_json::Value::Array(rows).into(),
            ];
            inserted += if attempts.is_empty() {
                ctx.insert_scoped(INSERT, values).await
            } else {
                values.push(serde_json::Value::Array(attempts).into());
                ctx.query_count_scoped(&WITH_ATTEMPTS.replace("{INSERT}", INSERT), values)
                    .await
            }
            .map_err(|e| StoreError::on_write(e, || "delivery".to_owned()))?;
        }
        if let Some(g) = guard {
            g.finish().await?;
        }
        Ok(inserted)
    }
}

/// A delivery log row.
pub(super) fn attempt_model(tenant: uuid::Uuid, x: &Attempt) -> a::ActiveModel {
    a::ActiveModel {
        id: sea_orm::ActiveValue::Set(uuid::Uuid::now_v7()),
        tenant_id: sea_orm::ActiveValue::Set(tenant),
        delivery_id: sea_orm::ActiveValue::Set(x.delivery_id.as_uuid()),
        stream_id: sea_orm::ActiveValue::Set(x.stream_id.as_uuid()),
        attempted_at: sea_orm::ActiveValue::Set(micros(x.attempted_at)),
        status: sea_orm::ActiveValue::Set(x.status.map(i32::from)),
        latency_ms: sea_orm::ActiveValue::Set(i32::try_from(x.latency_ms).unwrap_or(i32::MAX)),
        outcome: sea_orm::ActiveValue::Set(x.outcome.clone()),
        error: sea_orm::ActiveValue::Set(x.error.clone()),
        response_excerpt: sea_orm::ActiveValue::Set(x.response_excerpt.clone()),
    }
}

fn attempt_json(x: &Attempt) -> serde_json::Value {
    serde_json::json!({
        "id": uuid::Uuid::now_v7(),
        "delivery_id": x.delivery_id.as_uuid(),
        "stream_id": x.stream_id.as_uuid(),
        "attempted_at": micros(x.attempted_at),
        "status": x.status,
        "latency_ms": i32::try_from(x.latency_ms).unwrap_or(i32::MAX),
        "outcome": x.outcome,
        "error": x.error,
        "response_excerpt": x.response_excerpt,
    })
}
