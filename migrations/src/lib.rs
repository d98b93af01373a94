//! sethub's database schema, as sea-orm-migration migrations that run on PostgreSQL and SQLite.
//!
//! Rules (conventions.md, principle 14): add a migration, never edit one that has shipped; every
//! migration has a `down` that undoes it exactly, so the schema goes up, down and up again (a
//! test in `sethub-store` does that on both databases).
//!
//! Tenant isolation: every tenant-owned table has a `tenant_id` column (NOT NULL, FK to
//! `tenants` ON DELETE CASCADE, leading every index) and, on PostgreSQL, row-level security
//! enabled *and forced* with one policy keyed on the transaction-local setting
//! [`TENANT_SETTING`]. New tenant-owned tables call [`rls::isolate_tenant_table`] right after
//! creating them; a test in `sethub-store` fails for any table with a `tenant_id` column that
//! lacks it.
//!
//! Names are written by hand (`impl MigrationName`), not derived from the file name, so moving
//! a file never renames a migration that a database has already recorded.

use sea_orm_migration::prelude::*;

mod m20261128_000001_tenants;
mod m20261128_000002_api_keys;
mod m20261128_000003_signing_keys;
mod m20261128_000004_receivers;
mod m20261128_000005_events;
mod m20261129_000006_streams;
mod m20261129_000007_events_published;
mod m20261129_000008_deliveries;
mod m20261129_000009_delivery_settings;
mod m20261129_000010_delivery_indexes;
mod m20261129_000011_replay_audit_upstream;
mod m20261129_000012_members;
mod m20261129_000013_sso;
mod m20261207_000014_sessions_invites;
mod m20261207_000015_quotas;
mod m20261207_000016_pending_due_index;
mod m20261207_000020_hot_tables;
mod m20261207_000021_pending_order_index;
mod m20261207_000022_analyze_stale;
mod m20261207_000030_interop;
mod m20261207_000040_upstream_subscriptions;
mod m20261207_000050_due_work;
mod m20261207_000062_delivered_index;
mod m20261207_000072_hot_path_foreign_keys;
mod m20261207_000073_delivered_retention;
mod m20261207_000076_event_retention;
mod m20261207_000078_closing;
pub mod rls;

pub use rls::TENANT_SETTING;
pub use sea_orm_migration::MigratorTrait;

/// All migrations, oldest first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_tenants::Migration),
            Box::new(m20261128_000002_api_keys::Migration),
            Box::new(m20261128_000003_signing_keys::Migration),
            Box::new(m20261128_000004_receivers::Migration),
            Box::new(m20261128_000005_events::Migration),
            Box::new(m20261129_000006_streams::Migration),
            Box::new(m20261129_000007_events_published::Migration),
            Box::new(m20261129_000008_deliveries::Migration),
            Box::new(m20261129_000009_delivery_settings::Migration),
            Box::new(m20261129_000010_delivery_indexes::Migration),
            Box::new(m20261129_000011_replay_audit_upstream::Migration),
            Box::new(m20261129_000012_members::Migration),
            Box::new(m20261129_000013_sso::Migration),
            Box::new(m20261207_000014_sessions_invites::Migration),
            Box::new(m20261207_000015_quotas::Migration),
            Box::new(m20261207_000016_pending_due_index::Migration),
            Box::new(m20261207_000020_hot_tables::Migration),
            Box::new(m20261207_000021_pending_order_index::Migration),
            Box::new(m20261207_000022_analyze_stale::Migration),
            Box::new(m20261207_000030_interop::Migration),
            Box::new(m20261207_000040_upstream_subscriptions::Migration),
            Box::new(m20261207_000050_due_work::Migration),
            Box::new(m20261207_000062_delivered_index::Migration),
            Box::new(m20261207_000072_hot_path_foreign_keys::Migration),
            Box::new(m20261207_000073_delivered_retention::Migration),
            Box::new(m20261207_000076_event_retention::Migration),
            Box::new(m20261207_000078_closing::Migration),
        ]
    }
}

/// The column definitions every tenant-owned table starts with: `id` (UUID primary key) and
/// `tenant_id` (UUID, NOT NULL). Pair it with [`tenant_fk`].
pub(crate) fn id_and_tenant(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(ColumnDef::new("id").uuid().not_null().primary_key())
        .col(ColumnDef::new("tenant_id").uuid().not_null())
}

/// `tenant_id` → `tenants(id)` ON DELETE CASCADE: deleting a tenant deletes all it owns.
pub(crate) fn tenant_fk(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_tenant"))
        .from(table, "tenant_id")
        .to("tenants", "id")
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Restrict)
        .to_owned()
}

/// A plain (or unique) index on `table`, named `ix_{table}_{cols}`.
pub(crate) fn index(
    table: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut ix = Index::create();
    ix.name(format!("ix_{table}_{}", cols.join("_")))
        .table(table);
    for col in cols {
        ix.col(*col);
    }
    if unique {
        ix.unique();
    }
    ix.to_owned()
}

pub(crate) fn ts(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

pub(crate) fn ts_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

pub(crate) fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().not_null().to_owned()
}
