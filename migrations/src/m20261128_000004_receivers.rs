//! `receivers`: a tenant's receiver organisations with their OAuth client credentials
//! (`client_id` unique across tenants; only a hash of the secret is stored).

use sea_orm_migration::prelude::*;

use crate::{id_and_tenant, index, rls, tenant_fk, text, ts, ts_null};

pub struct Migration;

const TABLE: &str = "receivers";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000004_receivers"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                id_and_tenant(Table::create().table(TABLE))
                    .col(text("name"))
                    .col(text("client_id"))
                    .col(text("client_secret_hash"))
                    .col(ts("created_at"))
                    .col(ts_null("disabled_at"))
                    .foreign_key(&mut tenant_fk(TABLE))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(TABLE, &["client_id"], true))
            .await?;
        manager
            .create_index(index(TABLE, &["tenant_id", "created_at"], false))
            .await?;
        rls::isolate_tenant_table(manager, TABLE).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TABLE).to_owned())
            .await
    }
}
