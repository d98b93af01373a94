//! Row-level security for tenant-owned tables (PostgreSQL only; SQLite has none and relies on
//! the store's own `tenant_id` filters, which run on PostgreSQL too).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The transaction-local setting the policies compare `tenant_id` with. The store sets it with
/// `SELECT set_config('sethub.tenant_id', $1, true)` as the first statement of every
/// tenant-scoped transaction.
pub const TENANT_SETTING: &str = "sethub.tenant_id";

/// The name of the one policy on each tenant-owned table.
pub const POLICY: &str = "tenant_isolation";

/// Enables and forces row-level security on `table` with the `tenant_isolation` policy.
///
/// - `ENABLE` turns the policies on; `FORCE` applies them to the table's owner too, because the
///   services' role owns the tables (it runs the migrations). Only superusers and BYPASSRLS
///   roles escape, and the store refuses to run as one.
/// - `current_setting(…, true)` is NULL when the setting was never made in this session and
///   `''` after a transaction that made it ended; `NULLIF(…, '')::uuid` turns both into NULL,
///   and `tenant_id = NULL` is never true: no setting, no rows.
/// - `WITH CHECK` refuses to insert or update a row into another tenant than the setting's.
///
/// A no-op on other backends.
pub async fn isolate_tenant_table(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let conn = manager.get_connection();
    let predicate =
        format!("tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid");
    conn.execute_unprepared(&format!(
        r#"ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY"#
    ))
    .await?;
    conn.execute_unprepared(&format!(
        r#"ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY"#
    ))
    .await?;
    conn.execute_unprepared(&format!(
        r#"CREATE POLICY {POLICY} ON "{table}" USING ({predicate}) WITH CHECK ({predicate})"#
    ))
    .await?;
    Ok(())
}
