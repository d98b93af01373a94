//! `signing_keys`: a tenant's SET signing keys through their life (`next` → `active` →
//! `retiring` → `retired`). The private key is stored sealed with a master key
//! (`master_key_id` names which, so master keys can rotate); the public JWK is served in JWKS.

use sea_orm_migration::prelude::*;

use crate::{id_and_tenant, index, rls, tenant_fk, text, ts, ts_null};

pub struct Migration;

const TABLE: &str = "signing_keys";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000003_signing_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                id_and_tenant(Table::create().table(TABLE))
                    .col(text("kid"))
                    .col(text("alg"))
                    .col(
                        text("state").check(
                            Expr::col("state").is_in(["next", "active", "retiring", "retired"]),
                        ),
                    )
                    .col(ColumnDef::new("public_jwk").json_binary().not_null())
                    .col(ColumnDef::new("sealed_private").blob().not_null())
                    .col(text("master_key_id"))
                    .col(ts("created_at"))
                    .col(ts_null("activated_at"))
                    .col(ts_null("retiring_at"))
                    .col(ts_null("retired_at"))
                    .foreign_key(&mut tenant_fk(TABLE))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(TABLE, &["tenant_id", "kid"], true))
            .await?;
        manager
            .create_index(index(TABLE, &["tenant_id", "state"], false))
            .await?;
        // At most one active key per tenant: the signer never has to choose. Rotation retires
        // the old key before activating the new one, in one transaction. Partial indexes are
        // written the same way on PostgreSQL and SQLite.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ix_signing_keys_one_active ON signing_keys (tenant_id) WHERE state = 'active'",
            )
            .await?;
        rls::isolate_tenant_table(manager, TABLE).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TABLE).to_owned())
            .await
    }
}
