//! Indexes for poll delivery: a stream's queued SETs in order (`stream_id, state, id`) and a
//! stream's SETs by `jti` (acknowledgements and `setErrs` name them by `jti`).

use sea_orm_migration::prelude::*;

use crate::index;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000010_delivery_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index("deliveries", &["stream_id", "state", "id"], false))
            .await?;
        manager
            .create_index(index("deliveries", &["stream_id", "jti"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "ix_deliveries_stream_id_jti",
            "ix_deliveries_stream_id_state_id",
        ] {
            manager
                .drop_index(Index::drop().name(name).table("deliveries").to_owned())
                .await?;
        }
        Ok(())
    }
}
