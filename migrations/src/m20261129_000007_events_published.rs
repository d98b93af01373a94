//! `events.published_at`: when ingest's `event_accepted` message for the event was confirmed
//! by the broker. NULL means stored but not (yet) published: a publish that failed after the
//! insert (the client got a 503). A repeat with the same `Idempotency-Key` publishes such an
//! event instead of answering "already accepted", so nothing stored is silently dropped.

use sea_orm_migration::prelude::*;

pub struct Migration;

const TABLE: &str = "events";
const COLUMN: &str = "published_at";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000007_events_published"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .add_column(ColumnDef::new(COLUMN).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(TABLE).drop_column(COLUMN).to_owned())
            .await
    }
}
