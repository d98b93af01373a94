//! An index of pending deliveries in publication order, per stream.
//!
//! A stream's released (once held) and redriven SETs are pushed in publication order, a page
//! at a time (`Deliveries::due_page_in_order`): by the event's id, or the delivery's own for a
//! SET without an event. Without an index in that order every page read and sorted all of the
//! stream's pending deliveries, so releasing 50,000 held SETs read 50,000 rows 500 times. The
//! expression is written exactly as the query writes it, which SQLite needs to use it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000021_pending_order_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_deliveries_pending_order ON deliveries \
                 (stream_id, (COALESCE(event_id, id)), id) WHERE state = 'pending'",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_deliveries_pending_order")
            .await
            .map(|_| ())
    }
}
