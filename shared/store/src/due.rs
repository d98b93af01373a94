//! What background work is due across tenants, each in one indexed query: the only reads that
//! cross tenants, and they return ids, counts and times, never a tenant's data.
//!
//! On PostgreSQL the runtime role cannot read across tenants (row-level security), so each
//! read calls a `SECURITY DEFINER` function the schema's owner lends it (migration
//! m20261207_000050); on SQLite (no row-level security) the same query runs as it is. Callers
//! then work in the returned tenants' scopes only, so an idle tenant costs nothing.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use sethub_domain::{StreamId, TenantId};

use crate::error::{DbResultExt, StoreError};
use crate::repos::micros;
use crate::store::{Backend, Store};

/// A tenant with pending deliveries due before the time asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTenant {
    pub tenant: TenantId,
    /// When its earliest such delivery is (was) due.
    pub earliest: DateTime<Utc>,
    /// When its earliest parked one (a retry, due later than it was last written) is due:
    /// what the retry scheduler takes.
    pub earliest_parked: Option<DateTime<Utc>>,
}

/// A stream with SETs queued for polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollQueue {
    pub tenant: TenantId,
    pub stream: StreamId,
    pub queued: u64,
    /// When the oldest queued SET was made.
    pub oldest: DateTime<Utc>,
}

const SQLITE_PENDING_DUE: &str = "SELECT tenant_id, min(next_attempt_at) AS earliest, \
       min(CASE WHEN updated_at < next_attempt_at THEN next_attempt_at END) AS earliest_parked \
     FROM deliveries WHERE state = 'pending' AND next_attempt_at < $1 GROUP BY tenant_id";
const SQLITE_DEAD: &str = "SELECT count(*) AS n FROM deliveries WHERE state = 'dead'";
const SQLITE_POLL_QUEUES: &str = "SELECT tenant_id, stream_id, count(*) AS queued, \
       min(created_at) AS oldest \
     FROM deliveries WHERE state = 'queued' GROUP BY tenant_id, stream_id";
const SQLITE_ATTEMPTS_BEFORE: &str =
    "SELECT DISTINCT tenant_id FROM delivery_attempts WHERE attempted_at < $1";
const SQLITE_EVENTS_BEFORE: &str = "SELECT t.id AS tenant_id FROM tenants t WHERE EXISTS \
     (SELECT 1 FROM events e WHERE e.tenant_id = t.id AND e.received_at < $1)";
const SQLITE_UPSTREAM_TENANTS: &str = "SELECT DISTINCT tenant_id FROM upstream_transmitters";
const SQLITE_DELIVERED_BEFORE: &str = "SELECT t.id AS tenant_id FROM tenants t WHERE EXISTS \
     (SELECT 1 FROM deliveries d WHERE d.tenant_id = t.id AND d.state = 'delivered' \
     AND d.delivered_at < $1)";

impl Store {
    async fn due_rows(
        &self,
        postgres: &str,
        sqlite: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, StoreError> {
        let (backend, sql) = match self.backend() {
            Backend::Postgres => (DbBackend::Postgres, postgres),
            Backend::Sqlite => (DbBackend::Sqlite, sqlite),
        };
        self.db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .db()
    }

    /// The tenants with pending deliveries due before `before`, each with its earliest due
    /// time (and its earliest parked one). One query, served by the partial index of pending
    /// deliveries by due time: a tenant with nothing due is not read.
    pub async fn pending_due(&self, before: DateTime<Utc>) -> Result<Vec<DueTenant>, StoreError> {
        let rows = self
            .due_rows(
                "SELECT tenant_id, earliest, earliest_parked FROM sethub_pending_due($1)",
                SQLITE_PENDING_DUE,
                vec![micros(before).into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DueTenant {
                    tenant: TenantId::from_uuid(r.try_get("", "tenant_id").db()?),
                    earliest: r.try_get("", "earliest").db()?,
                    earliest_parked: r.try_get("", "earliest_parked").db()?,
                })
            })
            .collect()
    }

    /// How many deliveries are dead, over every tenant (the partial index of dead ones).
    pub async fn count_dead(&self) -> Result<u64, StoreError> {
        let rows = self
            .due_rows(
                "SELECT n FROM sethub_dead_count() AS n",
                SQLITE_DEAD,
                Vec::new(),
            )
            .await?;
        let n: i64 = match rows.first() {
            Some(r) => r.try_get("", "n").db()?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every stream with SETs queued for polling: how many and since when (the partial index
    /// of queued SETs). Streams with an empty queue are not returned.
    pub async fn poll_queues(&self) -> Result<Vec<PollQueue>, StoreError> {
        let rows = self
            .due_rows(
                "SELECT tenant_id, stream_id, queued, oldest FROM sethub_poll_queues()",
                SQLITE_POLL_QUEUES,
                Vec::new(),
            )
            .await?;
        rows.iter()
            .map(|r| {
                let queued: i64 = r.try_get("", "queued").db()?;
                Ok(PollQueue {
                    tenant: TenantId::from_uuid(r.try_get("", "tenant_id").db()?),
                    stream: StreamId::from_uuid(r.try_get("", "stream_id").db()?),
                    queued: u64::try_from(queued).unwrap_or(0),
                    oldest: r.try_get("", "oldest").db()?,
                })
            })
            .collect()
    }

    /// The tenants whose delivery log has rows older than `before` (what pruning visits).
    pub async fn tenants_with_attempts_before(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<TenantId>, StoreError> {
        let rows = self
            .due_rows(
                "SELECT t AS tenant_id FROM sethub_attempts_before($1) AS t",
                SQLITE_ATTEMPTS_BEFORE,
                vec![micros(before).into()],
            )
            .await?;
        tenant_ids(&rows)
    }

    /// The tenants with a SET delivered before `before` (what the delivered retention visits).
    pub async fn tenants_with_delivered_before(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<TenantId>, StoreError> {
        let rows = self
            .due_rows(
                "SELECT t AS tenant_id FROM sethub_delivered_before($1) AS t",
                SQLITE_DELIVERED_BEFORE,
                vec![micros(before).into()],
            )
            .await?;
        tenant_ids(&rows)
    }

    /// The tenants with an event received before `before` (what the event retention visits).
    pub async fn tenants_with_events_before(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<TenantId>, StoreError> {
        let rows = self
            .due_rows(
                "SELECT t AS tenant_id FROM sethub_events_before($1) AS t",
                SQLITE_EVENTS_BEFORE,
                vec![micros(before).into()],
            )
            .await?;
        tenant_ids(&rows)
    }

    /// The tenants with at least one upstream transmitter.
    pub async fn tenants_with_upstreams(&self) -> Result<Vec<TenantId>, StoreError> {
        let rows = self
            .due_rows(
                "SELECT t AS tenant_id FROM sethub_upstream_tenants() AS t",
                SQLITE_UPSTREAM_TENANTS,
                Vec::new(),
            )
            .await?;
        tenant_ids(&rows)
    }
}

fn tenant_ids(rows: &[QueryResult]) -> Result<Vec<TenantId>, StoreError> {
    rows.iter()
        .map(|r| Ok(TenantId::from_uuid(r.try_get("", "tenant_id").db()?)))
        .collect()
}
