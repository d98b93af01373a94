//! What background work is due, found with one indexed query across tenants.
//!
//! Fan-out's periodic work (the recovery sweep and the scheduler's notes, poll queue
//! retention, the dead-letter and poll-backlog gauges, pruning the delivery log) and the
//! upstream poller used to list every tenant and ask each in turn: with 1,000 idle tenants
//! that alone was 7 % of a machine, in every replica. Row-level security forbids the runtime
//! role a read across tenants, so the schema's owner lends exactly the reads these jobs need
//! through `SECURITY DEFINER` functions with a fixed search path, as `sethub_analyze_stale`
//! (migration 000022) lends `ANALYZE`. They return only ids, counts and times:
//!
//! - `sethub_pending_due(before)`: per tenant with pending deliveries due before `before`, the
//!   earliest due time and the earliest of the parked ones (retries, which the scheduler takes);
//! - `sethub_dead_count()`: how many deliveries are dead;
//! - `sethub_poll_queues()`: per stream with queued SETs, how many and the oldest's time;
//! - `sethub_attempts_before(before)`: the tenants with delivery-log rows older than `before`;
//! - `sethub_upstream_tenants()`: the tenants with upstream transmitters.
//!
//! The owner is subject to the tables' forced row-level security too, so each table read gets
//! a second, read-only policy for the owner that holds only while `sethub.cross_tenant` is
//! `on`, a setting these functions make for their query and put back before they return. The
//! runtime role is not the owner, so making that setting itself changes nothing.
//!
//! Indexes keep each read proportional to what it returns: pending deliveries by due time
//! (the partial index by `(tenant_id, next_attempt_at)` would be read whole), queued SETs
//! (partial), and a BRIN index on the delivery log's time (tiny, cheap to keep on an
//! append-only table; PostgreSQL only). SQLite has no row-level security: the store runs
//! plain queries there, served by the same partial indexes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000050_due_work"
    }
}

/// `name` as a quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The schema the migrations run in (where the functions go, and their search path).
pub(crate) async fn current_schema(db: &SchemaManagerConnection<'_>) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_schema()::text AS s",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no current schema".to_owned()))?;
    row.try_get("", "s")
}

/// Creates `signature` as a `SECURITY DEFINER` function of the schema's owner that runs
/// `query` with `sethub.cross_tenant` on (the owner's read policy above) and puts the setting
/// back before it returns. Later migrations lend further reads the same way.
pub(crate) async fn create_cross_tenant_function(
    db: &SchemaManagerConnection<'_>,
    schema: &str,
    signature: &str,
    returns: &str,
    query: &str,
) -> Result<(), DbErr> {
    // The setting is made for the query and put back before returning (a function's own
    // `SET` clause would do both, but PostgreSQL 15 lets only superusers attach a custom
    // setting to a function).
    db.execute_unprepared(&format!(
        "CREATE FUNCTION {signature} RETURNS {returns} LANGUAGE plpgsql \
         SECURITY DEFINER SET search_path = {s}, pg_temp AS $fn$ \
         #variable_conflict use_column
         DECLARE prev text := current_setting('sethub.cross_tenant', true); \
         BEGIN \
           PERFORM set_config('sethub.cross_tenant', 'on', true); \
           RETURN QUERY {query}; \
           PERFORM set_config('sethub.cross_tenant', COALESCE(prev, ''), true); \
         END $fn$",
        s = ident(schema),
    ))
    .await
    .map(|_| ())
}

/// The tables the functions read, each with the owner's cross-tenant read policy.
const TABLES: [&str; 3] = ["deliveries", "delivery_attempts", "upstream_transmitters"];

/// The policy letting the owner read across tenants inside the functions below.
const POLICY: &str = "owner_reads_due_work";

/// Partial indexes, the same on both databases.
const INDEXES: [(&str, &str); 2] = [
    (
        "ix_deliveries_pending_at",
        "deliveries (next_attempt_at) WHERE state = 'pending'",
    ),
    (
        "ix_deliveries_queued",
        "deliveries (tenant_id, stream_id, created_at) WHERE state = 'queued'",
    ),
];

/// `(signature, returns, body)` of each function.
const FUNCTIONS: [(&str, &str, &str); 5] = [
    (
        "sethub_pending_due(before timestamptz)",
        "TABLE(tenant_id uuid, earliest timestamptz, earliest_parked timestamptz)",
        "SELECT d.tenant_id, min(d.next_attempt_at), \
                min(d.next_attempt_at) FILTER (WHERE d.updated_at < d.next_attempt_at) \
         FROM deliveries d \
         WHERE d.state = 'pending' AND d.next_attempt_at < before \
         GROUP BY d.tenant_id",
    ),
    (
        "sethub_dead_count()",
        "SETOF bigint",
        "SELECT count(*) FROM deliveries d WHERE d.state = 'dead'",
    ),
    (
        "sethub_poll_queues()",
        "TABLE(tenant_id uuid, stream_id uuid, queued bigint, oldest timestamptz)",
        "SELECT d.tenant_id, d.stream_id, count(*), min(d.created_at) \
         FROM deliveries d WHERE d.state = 'queued' \
         GROUP BY d.tenant_id, d.stream_id",
    ),
    (
        "sethub_attempts_before(before timestamptz)",
        "SETOF uuid",
        "SELECT DISTINCT a.tenant_id FROM delivery_attempts a WHERE a.attempted_at < before",
    ),
    (
        "sethub_upstream_tenants()",
        "SETOF uuid",
        "SELECT DISTINCT u.tenant_id FROM upstream_transmitters u",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, def) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON {def}"))
                .await?;
        }
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared(
            "CREATE INDEX ix_delivery_attempts_attempted_at_brin ON delivery_attempts \
             USING brin (attempted_at)",
        )
        .await?;
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_schema()::text AS s, current_user::text AS u",
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("no current schema".to_owned()))?;
        let schema: String = row.try_get("", "s")?;
        let owner: String = row.try_get("", "u")?;
        for table in TABLES {
            db.execute_unprepared(&format!(
                "CREATE POLICY {POLICY} ON {t} FOR SELECT TO {o} \
                 USING (current_setting('sethub.cross_tenant', true) = 'on')",
                t = ident(table),
                o = ident(&owner),
            ))
            .await?;
        }
        for (signature, returns, query) in FUNCTIONS {
            create_cross_tenant_function(db, &schema, signature, returns, query).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            for (signature, _, _) in FUNCTIONS {
                db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {signature}"))
                    .await?;
            }
            for table in TABLES {
                db.execute_unprepared(&format!(
                    "DROP POLICY IF EXISTS {POLICY} ON {}",
                    ident(table)
                ))
                .await?;
            }
            db.execute_unprepared("DROP INDEX IF EXISTS ix_delivery_attempts_attempted_at_brin")
                .await?;
        }
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }
}
