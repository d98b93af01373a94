//! Drops the foreign keys from `deliveries` and `delivery_attempts` to `tenants`.
//!
//! Each row of those tables already references its stream by `(tenant_id, stream_id)`, and a
//! stream references its tenant, so the tenant key checked nothing the stream key did not:
//! a delivery can only name a tenant that owns its stream, and deleting a tenant still
//! removes them through its streams (`ON DELETE CASCADE` on both steps). What the tenant key
//! cost was on the data path: every inserted delivery and attempt ran a referential check,
//! `SELECT … FROM tenants … FOR KEY SHARE`, which locks the tenant's one row — a WAL record
//! and a dirtied page per statement, and a multixact when a tenant's inserts overlap, on the
//! single row all of a tenant's traffic shares.
//!
//! PostgreSQL only: SQLite cannot drop a constraint without rebuilding the table, and the
//! embedded default is not where this cost shows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000072_hot_path_foreign_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS fk_deliveries_tenant; \
                 ALTER TABLE delivery_attempts DROP CONSTRAINT IF EXISTS fk_delivery_attempts_tenant",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE deliveries ADD CONSTRAINT fk_deliveries_tenant FOREIGN KEY \
                   (tenant_id) REFERENCES tenants(id) ON UPDATE RESTRICT ON DELETE CASCADE; \
                 ALTER TABLE delivery_attempts ADD CONSTRAINT fk_delivery_attempts_tenant \
                   FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON UPDATE RESTRICT \
                   ON DELETE CASCADE",
            )
            .await
            .map(|_| ())
    }
}
