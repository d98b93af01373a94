//! `api_keys`: a tenant's publishing keys. Only a hash of the secret is stored (a SHA-256 hex of
//! a high-entropy key: no salt or slow hash needed), unique across tenants so a hash names at
//! most one key; `prefix` is the displayable start of the key.

use sea_orm_migration::prelude::*;

use crate::{id_and_tenant, index, rls, tenant_fk, text, ts, ts_null};

pub struct Migration;

const TABLE: &str = "api_keys";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000002_api_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                id_and_tenant(Table::create().table(TABLE))
                    .col(text("name"))
                    .col(text("prefix"))
                    .col(text("secret_hash"))
                    .col(ColumnDef::new("scopes").json_binary().not_null())
                    .col(ts("created_at"))
                    .col(ts_null("last_used_at"))
                    .col(ts_null("revoked_at"))
                    .foreign_key(&mut tenant_fk(TABLE))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(TABLE, &["secret_hash"], true))
            .await?;
        manager
            .create_index(index(TABLE, &["tenant_id", "created_at"], false))
            .await?;
        rls::isolate_tenant_table(manager, TABLE).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping the table drops its indexes and policies with it.
        manager
            .drop_table(Table::drop().table(TABLE).to_owned())
            .await
    }
}
