//! Delivered SETs are kept for `push.delivered_retention_days`, then pruned: before this,
//! nothing ever removed a delivered delivery row (about 2 KB with its indexes), so the table
//! grew by every SET ever delivered, and with it the cost of everything that reads it.
//!
//! - `sethub_delivered_before(before)`: the tenants with a delivered SET older than `before`
//!   (what pruning visits), found with one probe per tenant into the partial index of
//!   delivered SETs by `(tenant_id, delivered_at)` (migration 000062), so the cost follows
//!   the number of tenants, not of rows. Lent to the runtime role as migration 000050 lends
//!   its reads (`SECURITY DEFINER`, the owner's cross-tenant read policy). PostgreSQL only;
//!   the store runs the same query itself on SQLite.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261207_000050_due_work::{create_cross_tenant_function, current_schema};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000073_delivered_retention"
    }
}

const SIGNATURE: &str = "sethub_delivered_before(before timestamptz)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let schema = current_schema(db).await?;
        create_cross_tenant_function(
            db,
            &schema,
            SIGNATURE,
            "SETOF uuid",
            "SELECT t.id FROM tenants t WHERE EXISTS (SELECT 1 FROM deliveries d \
               WHERE d.tenant_id = t.id AND d.state = 'delivered' AND d.delivered_at < before)",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {SIGNATURE}"))
                .await?;
        }
        Ok(())
    }
}
