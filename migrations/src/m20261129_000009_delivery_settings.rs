//! `delivery_settings` (JSON, NULL = none) on `tenants` and `streams`: a tenant's retry
//! schedule and, per stream, a retry schedule and a delivery rate limit that override the
//! operator's configuration.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000009_delivery_settings"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["tenants", "streams"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(ColumnDef::new("delivery_settings").json_binary().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["streams", "tenants"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column("delivery_settings")
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
