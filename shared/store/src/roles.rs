//! Two PostgreSQL roles: the **owner** of the schema runs the migrations and grants, the
//! **runtime** role the services connect as has only the rights it uses (`SELECT`, `INSERT`,
//! `UPDATE`, `DELETE` on the tables, `USAGE` on the sequences, read-only on the migration
//! table). Only a table's owner (or a superuser) can `ALTER TABLE … DISABLE / NO FORCE ROW
//! LEVEL SECURITY`, drop a policy or a table, so a runtime role that owns nothing cannot turn
//! tenant isolation off even if SQL were ever injected.

use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait,
};
use sethub_migrations::{Migrator, MigratorTrait};

use crate::error::{DbResultExt, StoreError};

/// `name` as a quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) async fn one_text(
    db: &DatabaseConnection,
    sql: &str,
    column: &str,
) -> Result<Option<String>, StoreError> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .db()?;
    match row {
        Some(row) => Ok(Some(row.try_get("", column).db()?)),
        None => Ok(None),
    }
}

/// The first object the connected role could use to turn row-level security off as its
/// owner: a table of the current schema, or the schema itself (the database's owner owns
/// `public`), directly or through a role it is a member of. `None` for a runtime role.
pub(crate) async fn owned_object(db: &DatabaseConnection) -> Result<Option<String>, StoreError> {
    one_text(
        db,
        "SELECT what FROM ( \
           SELECT 'table `' || c.relname || '`' AS what, 1 AS o \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             AND pg_has_role(current_user, c.relowner, 'MEMBER') \
           UNION ALL \
           SELECT 'schema `' || n.nspname || '`', 2 \
           FROM pg_namespace n \
           WHERE n.nspname = current_schema() AND pg_has_role(current_user, n.nspowner, 'MEMBER') \
         ) owned ORDER BY o, what LIMIT 1",
        "what",
    )
    .await
}

/// The role a connection runs as.
pub(crate) async fn current_role(db: &DatabaseConnection) -> Result<String, StoreError> {
    one_text(db, "SELECT current_user::text AS role", "role")
        .await?
        .ok_or_else(|| StoreError::Config("the database did not name the current role".to_owned()))
}

/// The grants that give `role` exactly what the services use, on today's tables and (default
/// privileges of the owner running them) on every table a later migration creates.
fn grant_statements(schema: &str, role: &str) -> Vec<String> {
    let (s, r) = (ident(schema), ident(role));
    vec![
        format!("GRANT USAGE ON SCHEMA {s} TO {r}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}"),
        format!("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {r}"),
        // The runtime role only reads it, to check that the schema is current. (Never revoke
        // SELECT: the read-only check takes a table it cannot see for one not made yet.)
        format!(
            "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON TABLE {s}.\"seaql_migrations\" FROM {r}"
        ),
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}"
        ),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE ON SEQUENCES TO {r}"),
    ]
}

/// Applies every pending migration as the owner role at `owner_url`, then grants
/// `runtime_role` the rights the services use (again on every call: idempotent, and it keeps
/// up with tables a migration added). PostgreSQL only. `None`: a single-role setup, nothing
/// to grant.
pub async fn migrate_as_owner(
    owner_url: &str,
    runtime_role: Option<&str>,
) -> Result<(), StoreError> {
    if !(owner_url.starts_with("postgres://") || owner_url.starts_with("postgresql://")) {
        return Err(StoreError::Config(
            "the migration URL must start with postgres:// or postgresql://".to_owned(),
        ));
    }
    let mut o = sea_orm::ConnectOptions::new(owner_url.to_owned());
    o.sqlx_logging(false).max_connections(1);
    let db = Database::connect(o).await.db()?;
    // Processes starting together (ingest, fan-out, manage) would otherwise migrate and
    // grant at once, and concurrent GRANTs fail with "tuple concurrently updated". The lock
    // is the session's, on the pool's one connection, and goes with it.
    let outcome = async {
        execute(&db, &format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).await?;
        let outcome = migrate_and_grant(&db, runtime_role).await;
        let unlocked = execute(&db, &format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).await;
        outcome.and(unlocked)
    }
    .await;
    let closed = db.close().await.db();
    outcome.and(closed)
}

/// The advisory lock key of migrations (an arbitrary constant: "sethub" in ASCII).
const MIGRATION_LOCK: i64 = 0x7365_7468_7562;

async fn execute(db: &DatabaseConnection, sql: &str) -> Result<(), StoreError> {
    db.execute_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .db()
        .map(|_| ())
}

async fn migrate_and_grant(
    db: &DatabaseConnection,
    runtime_role: Option<&str>,
) -> Result<(), StoreError> {
    Migrator::up(db, None).await.db()?;
    let owner = current_role(db).await?;
    let Some(runtime_role) = runtime_role.filter(|r| *r != owner) else {
        return Ok(());
    };
    let schema = one_text(db, "SELECT current_schema()::text AS s", "s")
        .await?
        .ok_or_else(|| StoreError::Config("no current schema".to_owned()))?;
    // One transaction: a process checking the schema meanwhile sees all grants or none.
    let tx = db.begin().await.db()?;
    for sql in grant_statements(&schema, runtime_role) {
        tx.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .db()?;
    }
    tx.commit().await.db()
}

/// The migrations the database at `db` has not applied, read without writing (the runtime
/// role may only read the migration table).
pub(crate) async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    Ok(Migrator::get_pending_migrations_read_only(db)
        .await
        .db()?
        .iter()
        .map(|m| m.name().to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_so_a_role_name_cannot_inject_sql() {
        assert_eq!(ident("sethub_app"), "\"sethub_app\"");
        assert_eq!(
            ident("a\"; DROP TABLE x; --"),
            "\"a\"\"; DROP TABLE x; --\""
        );
    }
}
