//! Fewer indexes and tighter autovacuum on the hot tables.
//!
//! `deliveries` loses `(tenant_id, state, next_attempt_at)`: every delivery's insert and every
//! state change paid for it, and since the partial index of pending deliveries by due time
//! (m20261207_000016) took over the scheduler's and the sweep's claims, only the count of a
//! tenant's dead deliveries read it. That count gets a partial index of its own, which holds
//! only dead rows and so costs nothing on the happy path.
//!
//! A poll stream's claim (a queued SET handed out, hidden until its visibility timeout) moves
//! from `next_attempt_at` to a new column `visible_at` that no index holds: `next_attempt_at`
//! is in the partial index of pending deliveries, and changing an indexed column forbids a HOT
//! update, so every claim wrote a new entry in every index of `deliveries` and left the queue's
//! index walks stepping over dead entries until the next vacuum. With `fillfactor` 85 a claim
//! is now rewritten within its page.
//!
//! Autovacuum and analyze settings (PostgreSQL only; SQLite has neither):
//! With the defaults a table is vacuumed after a fifth of its rows changed and analysed after a
//! tenth: at ten million deliveries that is two million dead row versions before any is
//! reclaimed, while every delivery is updated at least once (its outcome). Smaller fractions
//! keep the dead share, the indexes' bloat and the planner's statistics where a young table
//! had them, so the cost of a delivery does not rise with the history kept. The insert-only
//! tables (events, attempts) are also vacuumed after inserts, which keeps their visibility
//! maps current for index-only scans.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::ts_null;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000020_hot_tables"
    }
}

const TABLES: [(&str, &str); 3] = [
    (
        "deliveries",
        "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02, \
         autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_vacuum_cost_limit = 2000",
    ),
    (
        "events",
        "autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02, \
         autovacuum_vacuum_insert_scale_factor = 0.05",
    ),
    (
        "delivery_attempts",
        "autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02, \
         autovacuum_vacuum_insert_scale_factor = 0.05",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Partial indexes read the same on PostgreSQL and SQLite.
        db.execute_unprepared("DROP INDEX ix_deliveries_tenant_id_state_next_attempt_at")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_deliveries_dead ON deliveries (tenant_id) WHERE state = 'dead'",
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("deliveries")
                    .add_column(ts_null("visible_at"))
                    .to_owned(),
            )
            .await?;
        // Claims in flight keep their deadline.
        db.execute_unprepared(
            "UPDATE deliveries SET visible_at = next_attempt_at, next_attempt_at = NULL \
             WHERE state = 'queued' AND next_attempt_at IS NOT NULL",
        )
        .await?;
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared("ALTER TABLE deliveries SET (fillfactor = 85)")
            .await?;
        for (table, settings) in TABLES {
            db.execute_unprepared(&format!(r#"ALTER TABLE "{table}" SET ({settings})"#))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE deliveries SET next_attempt_at = visible_at \
             WHERE state = 'queued' AND visible_at IS NOT NULL",
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("deliveries")
                    .drop_column("visible_at")
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared("DROP INDEX ix_deliveries_dead")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_deliveries_tenant_id_state_next_attempt_at ON deliveries \
             (tenant_id, state, next_attempt_at)",
        )
        .await?;
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared("ALTER TABLE deliveries RESET (fillfactor)")
            .await?;
        for (table, _) in TABLES {
            db.execute_unprepared(&format!(
                "ALTER TABLE \"{table}\" RESET (autovacuum_vacuum_scale_factor, \
                 autovacuum_analyze_scale_factor, autovacuum_vacuum_insert_scale_factor, \
                 autovacuum_vacuum_cost_limit)"
            ))
            .await?;
        }
        Ok(())
    }
}
