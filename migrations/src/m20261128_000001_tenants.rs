//! `tenants`: the global registry. Not tenant-owned, so no row-level security: the services
//! look a tenant up by slug (from the route `/t/{slug}/…`) before any tenant scope exists.

use sea_orm_migration::prelude::*;

use crate::{index, text, ts};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000001_tenants"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tenants")
                    .col(ColumnDef::new("id").uuid().not_null().primary_key())
                    .col(text("slug"))
                    .col(text("name"))
                    .col(ts("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("tenants", &["slug"], true))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("tenants").to_owned())
            .await
    }
}
