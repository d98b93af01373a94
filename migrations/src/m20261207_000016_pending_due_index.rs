//! An index for the retry scheduler and the recovery sweep: a tenant's pending deliveries by
//! due time. It is partial (`state = 'pending'`), so it holds only what is waiting — a few rows
//! while receivers are healthy, every parked retry while one fails — and the claims of a
//! failing receiver's 50,000 SETs stop scanning the tenant's delivered history.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000016_pending_due_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Partial indexes read the same on PostgreSQL and SQLite.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_deliveries_pending_due ON deliveries \
                 (tenant_id, next_attempt_at) WHERE state = 'pending'",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_deliveries_pending_due")
            .await
            .map(|_| ())
    }
}
