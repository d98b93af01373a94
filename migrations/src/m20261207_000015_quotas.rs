//! Quotas and who set a stream's status: `tenants.quotas` (JSON, NULL = the deployment's
//! defaults; the operator's per-tenant overrides) and `streams.status_set_by` (`receiver`,
//! `tenant` or `sethub`), so a receiver cannot enable a stream its tenant or sethub disabled.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000015_quotas"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .add_column(ColumnDef::new("quotas").json_binary().null())
                    .to_owned(),
            )
            .await?;
        // Existing streams: their status was set by the receiver or by the tenant, and which
        // is not known; `receiver` keeps today's behaviour for them.
        manager
            .alter_table(
                Table::alter()
                    .table("streams")
                    .add_column(
                        ColumnDef::new("status_set_by")
                            .text()
                            .not_null()
                            .default("receiver"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("streams")
                    .drop_column("status_set_by")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .drop_column("quotas")
                    .to_owned(),
            )
            .await
    }
}
