//! Interoperability (issue 14):
//!
//! - `tenants.profile`: the interoperability profile a tenant switched on (`caep-interop`),
//!   NULL for none. The signing algorithm needs no column: it is that of the tenant's newest
//!   key.
//! - Every stream's `aud` becomes `[client_id]` of its receiver, the value a receiver knows
//!   from its credentials (it was the receiver id, `rcv_…`, which the README never promised).
//!   On PostgreSQL the update runs across tenants, so the two tables' forced row-level
//!   security is lifted for the statement (the migrating role owns them) and restored in the
//!   same transaction. SETs queued before the migration keep the `aud` they were signed with.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000030_interop"
    }
}

const AUD_TABLES: [&str; 2] = ["streams", "receivers"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .add_column(ColumnDef::new("profile").text().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for t in AUD_TABLES {
                db.execute_unprepared(&format!(r#"ALTER TABLE "{t}" NO FORCE ROW LEVEL SECURITY"#))
                    .await?;
            }
            db.execute_unprepared(
                "UPDATE streams SET aud = jsonb_build_array(r.client_id) FROM receivers r \
                 WHERE r.id = streams.receiver_id AND r.tenant_id = streams.tenant_id",
            )
            .await?;
            for t in AUD_TABLES {
                db.execute_unprepared(&format!(r#"ALTER TABLE "{t}" FORCE ROW LEVEL SECURITY"#))
                    .await?;
            }
        } else {
            db.execute_unprepared(
                "UPDATE streams SET aud = (SELECT json_array(r.client_id) FROM receivers r \
                 WHERE r.id = streams.receiver_id) \
                 WHERE EXISTS (SELECT 1 FROM receivers r WHERE r.id = streams.receiver_id)",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .drop_column("profile")
                    .to_owned(),
            )
            .await
    }
}
