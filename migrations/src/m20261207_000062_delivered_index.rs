//! An index of delivered SETs by delivery time, for the usage page's "SETs delivered per day,
//! per stream" and the dashboard's hourly count: partial (`state = 'delivered'`) and carrying
//! `stream_id`, so on PostgreSQL the count is an index-only scan of the window instead of a
//! walk over the tenant's whole delivery history. Its cost is one index entry per delivered
//! SET; the change to `delivered` already updates `state`, which other indexes hold, so no
//! HOT update is lost.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000062_delivered_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Partial indexes read the same on PostgreSQL and SQLite.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_deliveries_delivered ON deliveries \
                 (tenant_id, delivered_at, stream_id) WHERE state = 'delivered'",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_deliveries_delivered")
            .await
            .map(|_| ())
    }
}
