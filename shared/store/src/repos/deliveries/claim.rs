//! Pending deliveries taken out of the database a page at a time, each by one fan-out
//! process: the retry scheduler, the recovery sweep, the push of released held SETs and a
//! redrive page through due deliveries (keyset pages in due order, `(next_attempt_at, id)`;
//! a release or redrive in publication order) and claim them.
//!
//! A claim moves a due delivery's `next_attempt_at` to the end of a lease (and its
//! `updated_at` to now) in one conditional statement: a second process that read the same
//! page finds it no longer due and passes it by, so two processes never push it twice. The
//! process that claimed it records an outcome long before the lease ends; if it dies, the
//! delivery is due again when the lease ends, and the next claim takes it.
//!
//! A *scheduled* delivery is one whose `next_attempt_at` is later than its `updated_at`: a
//! retry, or a wait, that its process handed back to the database (or a lease). The others
//! are due since they were stored or released (a first attempt, a re-signed SET) and may be
//! in the memory of the process that made them: only the recovery sweep takes those, once
//! they are overdue by `push.orphan_after_secs`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sethub_domain::{DeliveryId, StreamId};

use super::{Deliveries, Delivery, DeliveryState};
use crate::entities::deliveries as d;
use crate::error::{DbResultExt, StoreError};
use crate::repos::{micros, now};

/// Which pending deliveries a page or a claim looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueDeliveries {
    /// Due at or before this instant.
    pub before: DateTime<Utc>,
    /// Only this stream's.
    pub stream: Option<StreamId>,
    /// Only scheduled ones (see the module documentation).
    pub scheduled_only: bool,
}

impl DueDeliveries {
    fn condition(&self, tid: uuid::Uuid) -> sea_orm::Condition {
        let mut c = sea_orm::Condition::all()
            .add(d::Column::TenantId.eq(tid))
            .add(d::Column::State.eq(DeliveryState::Pending.as_str()))
            .add(d::Column::NextAttemptAt.lte(micros(self.before)));
        if let Some(stream) = self.stream {
            c = c.add(d::Column::StreamId.eq(stream.as_uuid()));
        }
        if self.scheduled_only {
            c = c.add(Expr::col(d::Column::UpdatedAt).lt(Expr::col(d::Column::NextAttemptAt)));
        }
        c
    }
}

/// A place in the due order (due time, then id) to page on from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueCursor {
    next_attempt_at: DateTime<Utc>,
    id: DeliveryId,
}

/// One page of [`Deliveries::due_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePage {
    /// The deliveries, in due order.
    pub ids: Vec<DeliveryId>,
    /// Where the next page starts (`None` when the page is empty).
    pub last: Option<DueCursor>,
}

impl Deliveries<'_> {
    /// A page of due deliveries, at most `limit`, in due order (`next_attempt_at`, then id),
    /// after `after` (keyset paging). Nothing is loaded but ids and due times.
    ///
    /// Due order is the order of the partial index of pending deliveries by due time, so a
    /// page costs its own rows however many are due: ordered by id, every page would read
    /// and sort all of them (440 ms a page with 45,000 parked SETs of a recovered receiver).
    pub async fn due_page(
        &self,
        due: &DueDeliveries,
        after: Option<DueCursor>,
        limit: u64,
    ) -> Result<DuePage, StoreError> {
        let g = self.ctx.begin().await?;
        let mut q = d::Entity::find()
            .select_only()
            .column(d::Column::Id)
            .column(d::Column::NextAttemptAt)
            .filter(due.condition(self.ctx.tid()));
        if let Some(after) = after {
            let at = micros(after.next_attempt_at);
            q = q.filter(d::Column::NextAttemptAt.gte(at)).filter(
                sea_orm::Condition::any()
                    .add(d::Column::NextAttemptAt.gt(at))
                    .add(d::Column::Id.gt(after.id.as_uuid())),
            );
        }
        let rows: Vec<(uuid::Uuid, Option<DateTime<Utc>>)> = q
            .order_by_asc(d::Column::NextAttemptAt)
            .order_by_asc(d::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        let last = rows.last().and_then(|(id, at)| {
            at.map(|at| DueCursor {
                next_attempt_at: at,
                id: DeliveryId::from_uuid(*id),
            })
        });
        Ok(DuePage {
            ids: rows
                .into_iter()
                .map(|(id, _)| DeliveryId::from_uuid(id))
                .collect(),
            last,
        })
    }

    /// [`Deliveries::due_page`] in publication order: by the event's id (UUID v7, made when
    /// ingest accepted it, so in the order events were published; ids made in one process
    /// are strictly ordered), then by delivery id (an event's replays, and SETs without an
    /// event, which sort by when they were made). Delivery ids are made when fan-out signs a
    /// SET, and fan-out signs several bus messages at once, so their order is not the
    /// publication order. This is the order a stream's released and redriven SETs are pushed
    /// in; `after` pages on from that delivery's place in it (`NotFound` if it is gone).
    pub async fn due_page_in_order(
        &self,
        due: &DueDeliveries,
        after: Option<DeliveryId>,
        limit: u64,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        // Written as the expression index `ix_deliveries_pending_order` is, so both PostgreSQL
        // and SQLite read the page from it in order.
        const KEY: &str = "COALESCE(event_id, id)";
        let g = self.ctx.begin().await?;
        let mut q = d::Entity::find()
            .select_only()
            .column(d::Column::Id)
            .filter(due.condition(self.ctx.tid()));
        if let Some(after) = after {
            // Keyset on (key, id), the key of `after` read first.
            let at: Option<(Option<uuid::Uuid>, uuid::Uuid)> = d::Entity::find()
                .select_only()
                .column(d::Column::EventId)
                .column(d::Column::Id)
                .filter(d::Column::TenantId.eq(self.ctx.tid()))
                .filter(d::Column::Id.eq(after.as_uuid()))
                .into_tuple()
                .one(g.tx())
                .await
                .db()?;
            let (event, id) = at.ok_or(StoreError::NotFound)?;
            let key = event.unwrap_or(id);
            q = q.filter(
                sea_orm::Condition::any().add(Expr::cust(KEY).gt(key)).add(
                    sea_orm::Condition::all()
                        .add(Expr::cust(KEY).eq(key))
                        .add(d::Column::Id.gt(id)),
                ),
            );
        }
        let ids: Vec<uuid::Uuid> = q
            .order_by(Expr::cust(KEY), sea_orm::Order::Asc)
            .order_by_asc(d::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(ids.into_iter().map(DeliveryId::from_uuid).collect())
    }

    /// Marks the stream's pending deliveries that are due since they were written (released,
    /// redriven, first attempts; not scheduled or claimed ones) as written now, so that no
    /// recovery sweep finds them overdue while a process pushes the stream's released SETs
    /// in order, a page at a time (a sweep would push them out of order). The process doing
    /// that calls this more often than `push.orphan_after_secs`; if it dies, the calls stop
    /// and the sweep takes the rest once overdue. Returns how many rows it touched.
    pub async fn refresh_unscheduled(&self, stream: StreamId) -> Result<u64, StoreError> {
        let t = now();
        let g = self.ctx.begin().await?;
        let res = d::Entity::update_many()
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::StreamId.eq(stream.as_uuid()))
            .filter(d::Column::State.eq(DeliveryState::Pending.as_str()))
            .filter(Expr::col(d::Column::NextAttemptAt).lte(Expr::col(d::Column::UpdatedAt)))
            .col_expr(d::Column::NextAttemptAt, Expr::value(t))
            .col_expr(d::Column::UpdatedAt, Expr::value(t))
            .exec(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(res.rows_affected)
    }

    /// Keeps this process's claim on deliveries it holds in memory (pushing, waiting in its
    /// timer or its lane) alive, so no other process's recovery sweep or retry scheduler
    /// takes them while it works: those of `ids` still pending whose due time is near enough
    /// to be taken (an unscheduled one due before `stale`, a scheduled one, a claim's lease,
    /// due before `soon`) are marked written now and due now (unscheduled, so only a recovery
    /// sweep takes them, once overdue by `push.orphan_after_secs`). The owner calls this more
    /// often than that; if it dies, the calls stop and the deliveries are taken over.
    ///
    /// One statement per 500 ids, in one transaction, and only rows near their end are
    /// written: a delivery done within `stale` is never touched. Returns how many rows it
    /// renewed.
    pub async fn renew(
        &self,
        ids: &[DeliveryId],
        stale: DateTime<Utc>,
        soon: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let t = now();
        let tid = self.ctx.tid();
        let unscheduled = sea_orm::Condition::all()
            .add(Expr::col(d::Column::NextAttemptAt).lte(Expr::col(d::Column::UpdatedAt)))
            .add(d::Column::NextAttemptAt.lt(micros(stale)));
        let scheduled = sea_orm::Condition::all()
            .add(Expr::col(d::Column::UpdatedAt).lt(Expr::col(d::Column::NextAttemptAt)))
            .add(d::Column::NextAttemptAt.lt(micros(soon)));
        let g = self.ctx.begin().await?;
        let mut renewed = 0;
        for chunk in ids.chunks(500) {
            renewed += d::Entity::update_many()
                .filter(d::Column::TenantId.eq(tid))
                .filter(d::Column::State.eq(DeliveryState::Pending.as_str()))
                .filter(d::Column::Id.is_in(chunk.iter().map(|i| i.as_uuid())))
                .filter(
                    sea_orm::Condition::any()
                        .add(unscheduled.clone())
                        .add(scheduled.clone()),
                )
                .col_expr(d::Column::NextAttemptAt, Expr::value(t))
                .col_expr(d::Column::UpdatedAt, Expr::value(t))
                .exec(g.tx())
                .await
                .db()?
                .rows_affected;
        }
        g.finish().await?;
        Ok(renewed)
    }

    /// Claims those of `ids` that are still due as `due` says, until `lease_until`; returns
    /// the claimed deliveries, by id. A delivery another process claimed meanwhile (or that
    /// got an outcome) is left out.
    pub async fn claim(
        &self,
        ids: &[DeliveryId],
        due: &DueDeliveries,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Delivery>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The lease's end, made unique to this claim by its microseconds, marks the rows
        // this statement took (a concurrent claim of the same rows takes none of them:
        // they are no longer due).
        let random = i64::try_from(uuid::Uuid::new_v4().as_u128() % 1_000_000).unwrap_or(0);
        let jitter = chrono::Duration::microseconds(random);
        let mark = micros(lease_until + jitter);
        let t = now();
        let tid = self.ctx.tid();
        let g = self.ctx.begin().await?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let uuids = || chunk.iter().map(|i| i.as_uuid());
            d::Entity::update_many()
                .filter(due.condition(tid))
                .filter(d::Column::Id.is_in(uuids()))
                .col_expr(d::Column::NextAttemptAt, Expr::value(mark))
                .col_expr(d::Column::UpdatedAt, Expr::value(t))
                .exec(g.tx())
                .await
                .db()?;
            let rows = d::Entity::find()
                .filter(d::Column::TenantId.eq(tid))
                .filter(d::Column::Id.is_in(uuids()))
                .filter(d::Column::State.eq(DeliveryState::Pending.as_str()))
                .filter(d::Column::NextAttemptAt.eq(mark))
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

    /// When the tenant's earliest scheduled delivery is due, if it has one.
    pub async fn next_scheduled(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let g = self.ctx.begin().await?;
        let at: Option<Option<DateTime<Utc>>> = d::Entity::find()
            .select_only()
            .column(d::Column::NextAttemptAt)
            .filter(d::Column::TenantId.eq(self.ctx.tid()))
            .filter(d::Column::State.eq(DeliveryState::Pending.as_str()))
            .filter(Expr::col(d::Column::UpdatedAt).lt(Expr::col(d::Column::NextAttemptAt)))
            .order_by_asc(d::Column::NextAttemptAt)
            .limit(1)
            .into_tuple()
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(at.flatten())
    }
}
