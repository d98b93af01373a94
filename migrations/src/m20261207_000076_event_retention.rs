//! Stored events are kept for `push.event_retention_days`, then pruned once no delivery row
//! needs them: before this, nothing ever removed an event row, so the table grew by every
//! event ever published.
//!
//! - `sethub_events_before(before)`: the tenants with an event received before `before`
//!   (what pruning visits), found with one probe per tenant into the index of events by
//!   `(tenant_id, received_at)`, so the cost follows the number of tenants, not of rows.
//!   Lent to the runtime role as migration 000050 lends its reads (`SECURITY DEFINER`, and
//!   on `events` the same read-only policy for the owner that holds only while
//!   `sethub.cross_tenant` is on). PostgreSQL only; the store runs the same query itself on
//!   SQLite.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

use crate::m20261207_000050_due_work::{create_cross_tenant_function, current_schema};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000076_event_retention"
    }
}

const SIGNATURE: &str = "sethub_events_before(before timestamptz)";

/// The owner's cross-tenant read policy on `events` (as migration 000050's on the tables its
/// functions read).
const POLICY: &str = "owner_reads_events_before";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let schema = current_schema(db).await?;
        let owner: String = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_user::text AS u",
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("no current user".to_owned()))?
            .try_get("", "u")?;
        db.execute_unprepared(&format!(
            "CREATE POLICY {POLICY} ON events FOR SELECT TO \"{o}\" \
             USING (current_setting('sethub.cross_tenant', true) = 'on')",
            o = owner.replace('"', "\"\""),
        ))
        .await?;
        create_cross_tenant_function(
            db,
            &schema,
            SIGNATURE,
            "SETOF uuid",
            "SELECT t.id FROM tenants t WHERE EXISTS (SELECT 1 FROM events e \
               WHERE e.tenant_id = t.id AND e.received_at < before)",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {SIGNATURE}"))
                .await?;
            db.execute_unprepared(&format!("DROP POLICY IF EXISTS {POLICY} ON events"))
                .await?;
        }
        Ok(())
    }
}
