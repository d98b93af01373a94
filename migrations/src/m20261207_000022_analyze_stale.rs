//! Planner statistics kept current by the hub itself: `sethub_analyze_stale`.
//!
//! PostgreSQL plans every query on statistics that `ANALYZE` gathers, and only autovacuum runs
//! it unasked. Where autovacuum is off (seen on CI machines), or lags behind a table filled in
//! seconds, a poll queue of 20,000 SETs is planned as the empty table it was, and a drain that
//! should read an index page at a time reads the table. Only a table's owner may analyse it, and
//! the services run as a role that owns nothing (row-level security depends on that), so the
//! owner lends exactly this right through a `SECURITY DEFINER` function: it analyses the tables
//! of this schema whose rows changed by more than `min_changes + fraction × live rows` since
//! their last analysis (autovacuum's own rule), one caller at a time (the others skip), and
//! returns their names. It can do nothing else; its search path is fixed to this schema.
//! PostgreSQL only: SQLite's `PRAGMA optimize` needs no function.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000022_analyze_stale"
    }
}

/// `name` as a quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as a quoted SQL string literal.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let schema = crate::m20261207_000050_due_work::current_schema(db).await?;
        let sql = format!(
            "CREATE FUNCTION sethub_analyze_stale(min_changes bigint, fraction double precision) \
             RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER \
             SET search_path = {ident}, pg_temp AS $fn$ \
             DECLARE t text; \
             BEGIN \
               IF NOT pg_try_advisory_xact_lock(7587891238734201) THEN RETURN; END IF; \
               FOR t IN SELECT s.relname::text FROM pg_stat_user_tables s \
                        WHERE s.schemaname = {lit} \
                          AND s.n_mod_since_analyze > \
                              min_changes + fraction * GREATEST(s.n_live_tup, 0) \
                        ORDER BY s.relname \
               LOOP \
                 EXECUTE format('ANALYZE %I.%I', {lit}, t); \
                 RETURN NEXT t; \
               END LOOP; \
             END $fn$",
            ident = ident(&schema),
            lit = literal(&schema),
        );
        db.execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared(
            "DROP FUNCTION IF EXISTS sethub_analyze_stale(bigint, double precision)",
        )
        .await
        .map(|_| ())
    }
}
