//! Single sign-on of a tenant's console: its OpenID provider (issuer) and the client sethub is
//! registered as there (client id; the secret sealed with the master key).

use sea_orm_migration::prelude::*;

use crate::{id_and_tenant, index, rls, tenant_fk, text, ts};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000013_sso"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                id_and_tenant(Table::create().table("sso_configs"))
                    .col(text("issuer"))
                    .col(text("client_id"))
                    .col(ColumnDef::new("client_secret_sealed").text().null())
                    .col(ts("updated_at"))
                    .foreign_key(&mut tenant_fk("sso_configs"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("sso_configs", &["tenant_id"], true))
            .await?;
        rls::isolate_tenant_table(manager, "sso_configs").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("sso_configs").to_owned())
            .await
    }
}
