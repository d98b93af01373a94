//! Single sign-on: an OpenID provider (issuer) and the client sethub is registered as there
//! (client id; the secret sealed with the master key), for a tenant's console (no
//! `receiver_id`) or for one receiver's portal users.

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
                    .col(ColumnDef::new("receiver_id").uuid().null())
                    .col(ts("updated_at"))
                    .foreign_key(&mut tenant_fk("sso_configs"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sso_configs_receiver")
                            .from("sso_configs", ("tenant_id", "receiver_id"))
                            .to("receivers", ("tenant_id", "id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("sso_configs", &["tenant_id", "receiver_id"], false))
            .await?;
        rls::isolate_tenant_table(manager, "sso_configs").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("sso_configs").to_owned())
            .await
    }
}
