//! Upstream transmitters sethub subscribes to as an SSF receiver (`sethub upstream subscribe`):
//! `upstream_transmitters.subscription` (JSON: the metadata URL and endpoints discovered, the
//! OAuth client id, the delivery method and the upstream's `stream_id`),
//! `upstream_transmitters.client_secret` (sealed with the master key, never in clear) and
//! `upstream_transmitters.subscription_status` (JSON: state, last SET, last verification, last
//! error). All NULL for a transmitter registered only to push SETs in (the older way).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000040_upstream_subscriptions"
    }
}

const TABLE: &str = "upstream_transmitters";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for col in [
            ColumnDef::new("subscription")
                .json_binary()
                .null()
                .to_owned(),
            ColumnDef::new("client_secret").text().null().to_owned(),
            ColumnDef::new("subscription_status")
                .json_binary()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(TABLE).add_column(col).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in ["subscription_status", "client_secret", "subscription"] {
            manager
                .alter_table(Table::alter().table(TABLE).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
