//! Members: the people of a tenant who sign in to the web console (role `owner`, `admin` or
//! `viewer`) or, for one of its receivers, to the portal (role `receiver`, with the
//! `receiver_id`). A member belongs to one tenant and signs in at that tenant (organisation
//! slug, email, password), so every lookup stays inside the tenant's scope.
//!
//! Invites: one-time links (only a hash of the token is kept) that let a person become a
//! member: a receiver's first portal user, or a team member with a role.

use sea_orm_migration::prelude::*;

use crate::{id_and_tenant, index, rls, tenant_fk, text, ts, ts_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000012_members"
    }
}

const ROLES: [&str; 4] = ["owner", "admin", "viewer", "receiver"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                id_and_tenant(Table::create().table("members"))
                    .col(text("email"))
                    .col(ColumnDef::new("password_hash").text().null())
                    .col(text("role").check(Expr::col("role").is_in(ROLES)))
                    .col(ColumnDef::new("receiver_id").uuid().null())
                    .col(ts("created_at"))
                    .col(ts_null("last_login_at"))
                    .foreign_key(&mut tenant_fk("members"))
                    .foreign_key(&mut receiver_fk("members"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("members", &["tenant_id", "email"], true))
            .await?;
        rls::isolate_tenant_table(manager, "members").await?;
        manager
            .create_table(
                id_and_tenant(Table::create().table("invites"))
                    .col(text("token_hash"))
                    .col(text("role").check(Expr::col("role").is_in(ROLES)))
                    .col(ColumnDef::new("receiver_id").uuid().null())
                    .col(ts("created_at"))
                    .col(ts("expires_at"))
                    .col(ts_null("used_at"))
                    .foreign_key(&mut tenant_fk("invites"))
                    .foreign_key(&mut receiver_fk("invites"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("invites", &["tenant_id", "token_hash"], true))
            .await?;
        rls::isolate_tenant_table(manager, "invites").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["invites", "members"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// `(tenant_id, receiver_id)` → `receivers`, deleted with it.
fn receiver_fk(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_receiver"))
        .from(table, ("tenant_id", "receiver_id"))
        .to("receivers", ("tenant_id", "id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}
