//! Closing an organisation (issue 16, "Leaving"):
//!
//! - `tenants.closed_at`: when its owner closed it (NULL: open). A closed tenant is read-only:
//!   ingest refuses its publishes, its streams are disabled, its console and tenant API only
//!   read (and reopen).
//! - `tenants.purge_after`: when fan-out's sweep leader deletes everything it owns (its rows,
//!   by the `ON DELETE CASCADE` of every tenant-owned table, and its state-store keys). Set
//!   with `closed_at` from `tenants.close_grace_days`; NULL again on reopening.
//! - `ix_tenants_purge_after`: a partial index of the closed tenants, so the sweep's look for
//!   tenants due for deletion reads only those (the `tenants` table is global, without
//!   row-level security, so no `SECURITY DEFINER` function is needed).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000078_closing"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["closed_at", "purge_after"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("tenants")
                        .add_column(crate::ts_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_tenants_purge_after ON tenants (purge_after) \
                 WHERE purge_after IS NOT NULL",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_tenants_purge_after")
            .await?;
        for column in ["purge_after", "closed_at"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("tenants")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
