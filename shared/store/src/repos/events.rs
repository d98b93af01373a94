//! A tenant's accepted events. Inserting is idempotent on an optional key: the first event
//! with a key wins and every repeat gets it back (`Duplicate`), so the publisher gets the first
//! answer again.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, TryInsertResult,
};
use sethub_domain::{EventId, TenantId};

use crate::entities::events as e;
use crate::error::{DbResultExt, StoreError};
use crate::repos::{micros, now};
use crate::scope::Ctx;

mod prune;

/// The most events one `list_received` call returns.
pub const MAX_LIST: u64 = 1000;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSource {
    /// Published through the ingest API with an API key.
    Api,
    /// A pre-signed SET pushed by a registered upstream transmitter.
    Upstream,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Upstream => "upstream",
        }
    }
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventSource {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "api" => Ok(Self::Api),
            "upstream" => Ok(Self::Upstream),
            other => Err(StoreError::Config(format!(
                "unknown event source `{other}`"
            ))),
        }
    }
}

/// What an event list keeps: events of a type, about a subject (any of its identifying
/// values, exactly), received since a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub subject: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// An event to store. The id is the caller's (it is the `txn` of every SET made from it).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: EventId,
    /// The event type URIs (the keys of the SET's `events` claim).
    pub event_types: Vec<String>,
    pub sub_id: Option<serde_json::Value>,
    /// The full published body (for an upstream SET: what it carried).
    pub payload: serde_json::Value,
    pub txn: Option<String>,
    pub toe: Option<DateTime<Utc>>,
    pub source: EventSource,
    /// The publisher's `Idempotency-Key`, or for an upstream SET its `jti` (prefix it so the
    /// two cannot collide); unique per tenant.
    pub idempotency_key: Option<String>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub event_types: Vec<String>,
    pub sub_id: Option<serde_json::Value>,
    pub payload: serde_json::Value,
    pub txn: Option<String>,
    pub toe: Option<DateTime<Utc>>,
    pub source: EventSource,
    pub idempotency_key: Option<String>,
    /// When the store accepted it.
    pub received_at: DateTime<Utc>,
    /// When its `event_accepted` message was confirmed by the broker ([`Events::mark_published`]);
    /// `None` while it is stored but not published.
    pub published_at: Option<DateTime<Utc>>,
}

impl TryFrom<e::Model> for StoredEvent {
    type Error = StoreError;

    fn try_from(m: e::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: EventId::from_uuid(m.id),
            tenant_id: TenantId::from_uuid(m.tenant_id),
            // Written by `insert` only, always an array of strings.
            event_types: serde_json::from_value(m.event_types).unwrap_or_default(),
            sub_id: m.sub_id,
            payload: m.payload,
            txn: m.txn,
            toe: m.toe,
            source: m.source.parse()?,
            idempotency_key: m.idempotency_key,
            received_at: m.received_at,
            published_at: m.published_at,
        })
    }
}

/// What [`Events::insert`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum InsertOutcome {
    /// Stored now.
    Inserted(StoredEvent),
    /// An event with the same idempotency key was stored before: this is it (unchanged).
    Duplicate(StoredEvent),
}

impl InsertOutcome {
    /// The event stored, new or earlier.
    pub fn event(&self) -> &StoredEvent {
        match self {
            Self::Inserted(e) | Self::Duplicate(e) => e,
        }
    }

    pub fn into_event(self) -> StoredEvent {
        match self {
            Self::Inserted(e) | Self::Duplicate(e) => e,
        }
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Duplicate(_))
    }
}

/// The row of a stored event.
fn model(ev: &StoredEvent) -> e::ActiveModel {
    e::ActiveModel {
        id: Set(ev.id.as_uuid()),
        tenant_id: Set(ev.tenant_id.as_uuid()),
        event_types: Set(serde_json::Value::from(ev.event_types.clone())),
        sub_id: Set(ev.sub_id.clone()),
        payload: Set(ev.payload.clone()),
        txn: Set(ev.txn.clone()),
        toe: Set(ev.toe),
        source: Set(ev.source.as_str().to_owned()),
        idempotency_key: Set(ev.idempotency_key.clone()),
        received_at: Set(ev.received_at),
        published_at: Set(ev.published_at),
    }
}

/// What [`Events::insert_many`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct InsertedBatch {
    /// One outcome per event, in order.
    pub outcomes: Vec<InsertOutcome>,
    /// The tenant's streams version, read in the inserting transaction.
    pub streams_version: i64,
}

/// Keyless events ready to be stored (see [`Events::begin_keyless`]). Dropped without
/// [`KeylessInsert::commit`], nothing is stored.
pub struct KeylessInsert<'a> {
    how: Keyless<'a>,
    events: Vec<StoredEvent>,
    streams_version: i64,
}

enum Keyless<'a> {
    /// PostgreSQL: one statement, a transaction by itself (or in the caller's).
    Statement(Ctx<'a>),
    /// SQLite: the transaction the version was read in.
    Transaction(crate::scope::Guard<'a>),
}

impl KeylessInsert<'_> {
    /// The events as they will be stored.
    pub fn events(&self) -> &[StoredEvent] {
        &self.events
    }

    /// The tenant's streams version, read before the rows are written.
    pub fn streams_version(&self) -> i64 {
        self.streams_version
    }

    /// Inserts the rows (and commits).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.how {
            Keyless::Statement(ctx) => insert_keyless_pg(ctx, &self.events).await,
            Keyless::Transaction(g) => {
                let models: Vec<e::ActiveModel> = self.events.iter().map(model).collect();
                for chunk in models.chunks(1000) {
                    e::Entity::insert_many(chunk.to_vec())
                        .exec_without_returning(g.tx())
                        .await
                        .map_err(|e| StoreError::on_write(e, || "event".to_owned()))?;
                }
                g.finish().await
            }
        }
    }
}

/// The rows of keyless events in one PostgreSQL statement per thousand (one transaction when
/// there are more).
async fn insert_keyless_pg(ctx: Ctx<'_>, events: &[StoredEvent]) -> Result<(), StoreError> {
    const INSERT: &str = "INSERT INTO events (id, tenant_id, event_types, sub_id, payload, txn, \
         toe, source, received_at) \
         SELECT r.id, $2::uuid, r.event_types, r.sub_id, r.payload, r.txn, r.toe, r.source, \
         r.received_at \
         FROM tenant, jsonb_to_recordset($3::jsonb) AS r(id uuid, event_types jsonb, \
         sub_id jsonb, payload jsonb, txn text, toe timestamptz, source text, \
         received_at timestamptz)";
    let guard = if events.len() > 1000 {
        Some(ctx.begin().await?)
    } else {
        None
    };
    let run = match &guard {
        Some(g) => ctx.with_tx(g.tx()),
        None => ctx,
    };
    for chunk in events.chunks(1000) {
        let rows: Vec<serde_json::Value> = chunk
            .iter()
            .map(|ev| {
                serde_json::json!({
                    "id": ev.id.as_uuid(),
                    "event_types": ev.event_types,
                    "sub_id": ev.sub_id,
                    "payload": ev.payload,
                    "txn": ev.txn,
                    "toe": ev.toe,
                    "source": ev.source.as_str(),
                    "received_at": ev.received_at,
                })
            })
            .collect();
        run.insert_scoped(
            INSERT,
            vec![run.tid().into(), serde_json::Value::Array(rows).into()],
        )
        .await
        .map_err(|e| StoreError::on_write(e, || "event".to_owned()))?;
    }
    if let Some(g) = guard {
        g.finish().await?;
    }
    Ok(())
}

/// Events of one tenant.
pub struct Events<'a> {
    ctx: Ctx<'a>,
}

impl<'a> Events<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    /// The stored form of a new event.
    fn stored(&self, new: NewEvent, received_at: DateTime<Utc>) -> StoredEvent {
        StoredEvent {
            id: new.id,
            tenant_id: self.ctx.tenant(),
            event_types: new.event_types,
            sub_id: new.sub_id,
            payload: new.payload,
            txn: new.txn,
            toe: new.toe.map(micros),
            source: new.source,
            idempotency_key: new.idempotency_key,
            received_at,
            published_at: None,
        }
    }

    /// Stores an event, or returns the earlier one with the same idempotency key.
    ///
    /// The check and the insert are one statement (`INSERT … ON CONFLICT (tenant_id,
    /// idempotency_key) DO NOTHING`), so two concurrent publishes with one key store one event:
    /// on PostgreSQL the second waits for the first to commit, inserts nothing, and then reads
    /// the first's row. A repeated event id is a `Conflict`.
    pub async fn insert(&self, new: NewEvent) -> Result<InsertOutcome, StoreError> {
        let event = self.stored(new, now());
        let model = model(&event);
        let id = event.id;
        let conflict = move || format!("event `{id}`");

        let g = self.ctx.begin().await?;
        let Some(key) = event.idempotency_key.clone() else {
            e::Entity::insert(model)
                .exec_without_returning(g.tx())
                .await
                .map_err(|e| StoreError::on_write(e, conflict))?;
            g.finish().await?;
            return Ok(InsertOutcome::Inserted(event));
        };
        let inserted = e::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([e::Column::TenantId, e::Column::IdempotencyKey])
                    .do_nothing()
                    .to_owned(),
            )
            .try_insert()
            .exec_without_returning(g.tx())
            .await
            .map_err(|e| StoreError::on_write(e, conflict))?;
        let outcome = match inserted {
            TryInsertResult::Inserted(n) if n > 0 => InsertOutcome::Inserted(event),
            _ => {
                let row = e::Entity::find()
                    .filter(e::Column::TenantId.eq(self.ctx.tid()))
                    .filter(e::Column::IdempotencyKey.eq(key))
                    .one(g.tx())
                    .await
                    .db()?;
                // Not found can only mean the conflicting row vanished (its tenant deleted).
                InsertOutcome::Duplicate(row.ok_or(StoreError::NotFound)?.try_into()?)
            }
        };
        g.finish().await?;
        Ok(outcome)
    }

    /// Stores several events in one transaction: the batch form of [`Events::insert`], with
    /// the same outcome per event (in the same order). Events with an idempotency key that
    /// was used before get the earlier event back (`Duplicate`). Also returns the tenant's
    /// streams version read in the same transaction: every stream change committed before
    /// the events were stored is counted in it (fan-out uses it to know whether its cached
    /// streams are recent enough for these events).
    pub async fn insert_many(&self, new: Vec<NewEvent>) -> Result<InsertedBatch, StoreError> {
        self.insert_many_within(new, None).await
    }

    /// [`Events::insert_many`] with idempotency keys remembered for `window` only: a key whose
    /// event was received longer ago than that no longer matches, and the new event takes it.
    /// In the inserting transaction, the expired event gives its key up first (the column is
    /// set to NULL; the event itself stays), so the unique `(tenant_id, idempotency_key)` index
    /// never refuses the new one. On PostgreSQL two concurrent requests with one expired key
    /// still store one event: the second waits on the first's row lock, finds the key already
    /// given up, and its insert then meets the first's new row (a `Duplicate`). `None`
    /// remembers keys as long as their events.
    pub async fn insert_many_within(
        &self,
        new: Vec<NewEvent>,
        window: Option<chrono::Duration>,
    ) -> Result<InsertedBatch, StoreError> {
        if new.is_empty() {
            return Ok(InsertedBatch {
                outcomes: Vec::new(),
                streams_version: 0,
            });
        }
        let received_at = now();
        let events: Vec<StoredEvent> = new
            .into_iter()
            .map(|n| self.stored(n, received_at))
            .collect();
        let models: Vec<e::ActiveModel> = events.iter().map(model).collect();
        let keys: Vec<String> = events
            .iter()
            .filter_map(|ev| ev.idempotency_key.clone())
            .collect();
        let g = self.ctx.begin().await?;
        // A window reaching before the epoch of the clock expires nothing.
        if let Some(expired_before) = window.and_then(|w| received_at.checked_sub_signed(w)) {
            let expired_before = micros(expired_before);
            for chunk in keys.chunks(1000) {
                e::Entity::update_many()
                    .col_expr(e::Column::IdempotencyKey, Expr::value(None::<String>))
                    .filter(e::Column::TenantId.eq(self.ctx.tid()))
                    .filter(e::Column::IdempotencyKey.is_in(chunk.iter().cloned()))
                    .filter(e::Column::ReceivedAt.lt(expired_before))
                    .exec(g.tx())
                    .await
                    .db()?;
            }
        }
        for chunk in models.chunks(1000) {
            e::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([e::Column::TenantId, e::Column::IdempotencyKey])
                        .do_nothing()
                        .to_owned(),
                )
                .try_insert()
                .exec_without_returning(g.tx())
                .await
                .map_err(|e| StoreError::on_write(e, || "event".to_owned()))?;
        }
        let mut stored: std::collections::HashMap<String, e::Model> = Default::default();
        for chunk in keys.chunks(1000) {
            let rows = e::Entity::find()
                .filter(e::Column::TenantId.eq(self.ctx.tid()))
                .filter(e::Column::IdempotencyKey.is_in(chunk.iter().cloned()))
                .all(g.tx())
                .await
                .db()?;
            for row in rows {
                if let Some(k) = row.idempotency_key.clone() {
                    stored.insert(k, row);
                }
            }
        }
        let streams_version: Option<i64> =
            crate::entities::tenants::Entity::find_by_id(self.ctx.tid())
                .select_only()
                .column(crate::entities::tenants::Column::StreamsVersion)
                .into_tuple()
                .one(g.tx())
                .await
                .db()?;
        g.finish().await?;
        let outcomes = events
            .into_iter()
            .map(
                |ev| match ev.idempotency_key.as_ref().and_then(|k| stored.get(k)) {
                    Some(row) if row.id != ev.id.as_uuid() => {
                        Ok(InsertOutcome::Duplicate(row.clone().try_into()?))
                    }
                    _ => Ok(InsertOutcome::Inserted(ev)),
                },
            )
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(InsertedBatch {
            outcomes,
            streams_version: streams_version.unwrap_or(0),
        })
    }

    /// Starts storing events without an idempotency key, which can never be duplicates: opens
    /// the transaction and reads the tenant's streams version (what their announcement must
    /// carry: every stream change committed before now is counted in it). The rows are written
    /// by [`KeylessInsert::commit`], which the caller may run beside the announcement.
    pub async fn begin_keyless(&self, new: Vec<NewEvent>) -> Result<KeylessInsert<'a>, StoreError> {
        if new.iter().any(|n| n.idempotency_key.is_some()) {
            return Err(StoreError::Config(
                "begin_keyless takes only events without an idempotency key".to_owned(),
            ));
        }
        let received_at = now();
        let events: Vec<StoredEvent> = new
            .into_iter()
            .map(|n| self.stored(n, received_at))
            .collect();
        if self.ctx.backend() == DbBackend::Postgres {
            // `tenants` is the registry, not a tenant-owned table: no scope needed.
            let version = self
                .ctx
                .query_one_unscoped(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT streams_version FROM tenants WHERE id = $1",
                    [self.ctx.tid().into()],
                ))
                .await
                .db()?
                .map(|r| r.try_get::<i64>("", "streams_version"))
                .transpose()
                .db()?;
            return Ok(KeylessInsert {
                how: Keyless::Statement(self.ctx),
                events,
                streams_version: version.unwrap_or(0),
            });
        }
        let g = self.ctx.begin().await?;
        let streams_version: Option<i64> =
            crate::entities::tenants::Entity::find_by_id(self.ctx.tid())
                .select_only()
                .column(crate::entities::tenants::Column::StreamsVersion)
                .into_tuple()
                .one(g.tx())
                .await
                .db()?;
        Ok(KeylessInsert {
            how: Keyless::Transaction(g),
            events,
            streams_version: streams_version.unwrap_or(0),
        })
    }

    /// [`Events::mark_published`] for several events, in one statement. Committed without
    /// waiting for the disk (on PostgreSQL): losing the mark in a database crash only makes
    /// a repeat of the request publish the event again, which fan-out ignores.
    pub async fn mark_published_many(&self, ids: &[EventId]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let g = self.ctx.begin_relaxed().await?;
        let t = now();
        let mut n = 0;
        for chunk in ids.chunks(1000) {
            n += e::Entity::update_many()
                .col_expr(e::Column::PublishedAt, Expr::value(t))
                .filter(e::Column::TenantId.eq(self.ctx.tid()))
                .filter(e::Column::Id.is_in(chunk.iter().map(|i| i.as_uuid())))
                .filter(e::Column::PublishedAt.is_null())
                .exec(g.tx())
                .await
                .db()?
                .rows_affected;
        }
        g.finish().await?;
        Ok(n)
    }

    /// Records that the event's `event_accepted` message was published (confirmed). Only the
    /// first call sets the time; `false` when it was already set or there is no such event.
    pub async fn mark_published(&self, id: EventId) -> Result<bool, StoreError> {
        let g = self.ctx.begin().await?;
        let res = e::Entity::update_many()
            .col_expr(e::Column::PublishedAt, Expr::value(now()))
            .filter(e::Column::TenantId.eq(self.ctx.tid()))
            .filter(e::Column::Id.eq(id.as_uuid()))
            .filter(e::Column::PublishedAt.is_null())
            .exec(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(res.rows_affected > 0)
    }

    pub async fn get(&self, id: EventId) -> Result<StoredEvent, StoreError> {
        let g = self.ctx.begin().await?;
        let row = e::Entity::find()
            .filter(e::Column::TenantId.eq(self.ctx.tid()))
            .filter(e::Column::Id.eq(id.as_uuid()))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Events received in `[from, to)`, oldest first, at most `limit` (capped at
    /// [`MAX_LIST`]). Page on by passing the last `received_at` as the next `from` (events with
    /// the same instant may repeat; ids tell them apart).
    pub async fn list_received(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = e::Entity::find()
            .filter(e::Column::TenantId.eq(self.ctx.tid()))
            .filter(e::Column::ReceivedAt.gte(micros(from)))
            .filter(e::Column::ReceivedAt.lt(micros(to)))
            .order_by_asc(e::Column::ReceivedAt)
            .order_by_asc(e::Column::Id)
            .limit(limit.min(MAX_LIST))
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Events to replay: received in `[from, to)` and with ids in `[from_id, to_id]` (each
    /// bound optional), in id order (the order they were accepted), at most `limit`, after
    /// `after` when given (to page on).
    pub async fn list_range(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        from_id: Option<EventId>,
        to_id: Option<EventId>,
        after: Option<EventId>,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let g = self.ctx.begin().await?;
        let mut q = e::Entity::find().filter(e::Column::TenantId.eq(self.ctx.tid()));
        if let Some(from) = from {
            q = q.filter(e::Column::ReceivedAt.gte(micros(from)));
        }
        if let Some(to) = to {
            q = q.filter(e::Column::ReceivedAt.lt(micros(to)));
        }
        if let Some(id) = from_id {
            q = q.filter(e::Column::Id.gte(id.as_uuid()));
        }
        if let Some(id) = to_id {
            q = q.filter(e::Column::Id.lte(id.as_uuid()));
        }
        if let Some(id) = after {
            q = q.filter(e::Column::Id.gt(id.as_uuid()));
        }
        let rows = q
            .order_by_asc(e::Column::Id)
            .limit(limit.min(MAX_LIST))
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The newest events first, at most `limit` (capped at [`MAX_LIST`]), older than `before`
    /// when given (the next page), and only those matching `filter`.
    pub async fn recent(
        &self,
        before: Option<EventId>,
        filter: &EventFilter,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
        let g = self.ctx.begin().await?;
        let mut q = e::Entity::find().filter(e::Column::TenantId.eq(self.ctx.tid()));
        if let Some(b) = before {
            q = q.filter(e::Column::Id.lt(b.as_uuid()));
        }
        // JSON read as text, matched with a quoted string: the same on both backends.
        let quoted = |v: &str| {
            let json = serde_json::Value::from(v).to_string();
            let escaped = json
                .replace('!', "!!")
                .replace('%', "!%")
                .replace('_', "!_");
            format!("%{escaped}%")
        };
        if let Some(t) = &filter.event_type {
            q = q.filter(
                Expr::col(e::Column::EventTypes)
                    .cast_as("TEXT")
                    .like(LikeExpr::new(quoted(t)).escape('!')),
            );
        }
        if let Some(s) = &filter.subject {
            q = q.filter(
                Expr::col(e::Column::SubId)
                    .cast_as("TEXT")
                    .like(LikeExpr::new(quoted(s)).escape('!')),
            );
        }
        if let Some(since) = filter.since {
            q = q.filter(e::Column::ReceivedAt.gte(micros(since)));
        }

        let rows = q
            .order_by_desc(e::Column::Id)
            .limit(std::cmp::Ord::min(limit, MAX_LIST))
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Events received since `since`, counted per hour: (hour, as seconds since the epoch
    /// divided by 3600; count), oldest first.
    pub async fn count_by_hour(&self, since: DateTime<Utc>) -> Result<Vec<(i64, u64)>, StoreError> {
        hourly(&self.ctx, "events", "received_at", None, since).await
    }
}

/// Rows of `table` whose `column` is at or after `since` (and whose `state` is `state`, when
/// given), counted per hour since the epoch.
pub(crate) async fn hourly(
    ctx: &crate::scope::Ctx<'_>,
    table: &str,
    column: &str,
    state: Option<&str>,
    since: DateTime<Utc>,
) -> Result<Vec<(i64, u64)>, StoreError> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let g = ctx.begin().await?;
    let backend = g.tx().get_database_backend();
    let bucket = crate::repos::usage::epoch_bucket(backend, column, 3600);
    let (p1, p2, p3) = match backend {
        DbBackend::Postgres => ("$1", "$2", "$3"),
        _ => ("?", "?", "?"),
    };
    let state_filter = if state.is_some() {
        format!(" AND state = {p3}")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {bucket} AS h, COUNT(*) AS n FROM {table} \
         WHERE tenant_id = {p1} AND {column} >= {p2}{state_filter} GROUP BY 1 ORDER BY 1"
    );
    let mut values: Vec<sea_orm::Value> = vec![ctx.tid().into(), micros(since).into()];
    if let Some(s) = state {
        values.push(s.into());
    }
    let rows = g
        .tx()
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .db()?;
    g.finish().await?;
    rows.into_iter()
        .map(|r| {
            let h: i64 = r.try_get("", "h").db()?;
            let n: i64 = r.try_get("", "n").db()?;
            Ok((h, u64::try_from(n).unwrap_or(0)))
        })
        .collect()
}
