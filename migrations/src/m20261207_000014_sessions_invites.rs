//! Invites bound to an email: an invite made for `email` can only be accepted with that
//! address (`NULL`: any address, as before). Revoking an invite deletes its row.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000014_sessions_invites"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("invites")
                    .add_column(ColumnDef::new("email").text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("invites")
                    .drop_column("email")
                    .to_owned(),
            )
            .await
    }
}
