//! [`Store`]: the connection pool, migrations, the startup role check, and the two ways in —
//! the global tenant registry and tenant scopes.

use std::time::Duration;

use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use sethub_domain::TenantId;
use sethub_migrations::{Migrator, MigratorTrait};

use crate::error::{DbResultExt, StoreError};
use crate::repos::tenants::Tenants;
use crate::scope::TenantScope;

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Production: tenant isolation by row-level security plus the store's own filters.
    Postgres,
    /// The embedded default: one file, one connection, the store's filters only.
    Sqlite,
}

/// How to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Pool size on PostgreSQL. SQLite always uses one connection (one writer at a time
    /// anyway, and no `database is locked` between our own connections).
    pub max_connections: u32,
    /// Allow a PostgreSQL role that bypasses row-level security (a superuser or BYPASSRLS) or
    /// could turn it off (the owner of the tables or the schema). Never in production: tenant
    /// isolation would rest on the store's filters alone.
    pub allow_superuser: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            allow_superuser: false,
        }
    }
}

/// The database. Cheap to clone (a shared pool).
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// How long to wait for a pooled connection. With SQLite's single connection, code that holds
/// a [`crate::TenantTx`] and calls the store outside it waits here, then fails rather than hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a SQLite statement waits for a lock held by another process (e.g. `sethub migrate`
/// or an admin command next to a running hub).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled connection idle this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

impl Store {
    /// Connects to `postgres://…` or `sqlite://path?mode=rwc` (or `sqlite::memory:`).
    ///
    /// On PostgreSQL, refuses a role that bypasses row-level security
    /// ([`StoreError::UnsafeRole`]) or owns the tables or the schema
    /// ([`StoreError::OwnerRole`]) unless `opts.allow_superuser` is set. Migrations run as the
    /// owner, through [`crate::migrate_as_owner`].
    pub async fn connect(url: &str, opts: ConnectOptions) -> Result<Store, StoreError> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Config(
                "the database URL must start with postgres://, postgresql:// or sqlite:".to_owned(),
            ));
        };
        let mut o = sea_orm::ConnectOptions::new(url.to_owned());
        // Statements are not logged one by one (sea-orm would log each at INFO); failures
        // reach the log through the callers' errors.
        o.sqlx_logging(false)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // No idle timeout and no maximum lifetime: with either set, sqlx 0.9 runs a
            // maintenance loop that walks `0..num_idle` calling `try_acquire`, and `num_idle`
            // is an atomic that a concurrent pop/release can leave at `usize::MAX` for an
            // instant; read then, the loop spins a worker thread at 100 % forever (seen here
            // as an admin command hanging beside the embedded hub). Connections live as long
            // as the process; a broken one is found by the ping below.
            .idle_timeout(None)
            .max_lifetime(None)
            // Ping a connection only when it has sat idle a while, not before every acquire
            // (sqlx's default): on PostgreSQL that was one more round trip per transaction.
            .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
        match backend {
            Backend::Postgres => {
                // Every statement is planned with its parameters (a few tens of µs). With the
                // default `auto`, a prepared statement switches to a generic plan after five
                // runs and keeps it until the table is next analysed: a plan made while the
                // hot tables were young (a fresh database, a freshly filled poll queue) is a
                // sequential scan, and it stays one as they grow — measured here as 1.2–1.5 ms
                // per outcome update instead of 0.14 ms, rising with every row stored.
                o.max_connections(opts.max_connections.max(1))
                    .map_sqlx_postgres_opts(|pg| {
                        pg.options([("plan_cache_mode", "force_custom_plan")])
                    });
            }
            Backend::Sqlite => {
                // WAL lets readers (another process) run beside the writer; `synchronous`
                // stays at its default FULL so a committed event survives a power cut
                // ("nothing accepted is lost" holds in the embedded mode too).
                o.max_connections(1)
                    .min_connections(1)
                    .map_sqlx_sqlite_opts(|s| {
                        s.journal_mode(SqliteJournalMode::Wal)
                            .busy_timeout(SQLITE_BUSY_TIMEOUT)
                            .foreign_keys(true)
                    });
            }
        }
        let db = Database::connect(o).await.db()?;
        let store = Store { db, backend };
        if backend == Backend::Postgres {
            store.check_role(opts.allow_superuser).await?;
        }
        Ok(store)
    }

    /// Superusers and BYPASSRLS roles are not subject to row-level security (not even with
    /// FORCE), so running as one would silently turn tenant isolation off.
    async fn check_role(&self, allow_superuser: bool) -> Result<(), StoreError> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_user::text AS role, (rolsuper OR rolbypassrls) AS unsafe \
                 FROM pg_roles WHERE rolname = current_user",
            ))
            .await
            .db()?;
        let Some(row) = row else {
            return Err(StoreError::Config(
                "the current role is missing from pg_roles".to_owned(),
            ));
        };
        let role: String = row.try_get("", "role").db()?;
        let unsafe_role: bool = row.try_get("", "unsafe").db()?;
        if unsafe_role {
            if !allow_superuser {
                return Err(StoreError::UnsafeRole { role });
            }
            tracing::warn!(
                role,
                "connected as a role that bypasses row-level security (allow_superuser is set): \
                 tenant isolation rests on the store's filters alone"
            );
            return Ok(());
        }
        // An owner is subject to FORCE'd row-level security, but may switch it off.
        if let Some(object) = crate::roles::owned_object(&self.db).await? {
            if !allow_superuser {
                return Err(StoreError::OwnerRole { role, object });
            }
            tracing::warn!(
                role,
                object,
                "connected as the owner of the schema's tables (allow_superuser is set): it \
                 could turn row-level security off"
            );
        }
        Ok(())
    }

    /// The PostgreSQL role this store runs as (`None` on SQLite).
    pub async fn role(&self) -> Result<Option<String>, StoreError> {
        match self.backend {
            Backend::Postgres => Ok(Some(crate::roles::current_role(&self.db).await?)),
            Backend::Sqlite => Ok(None),
        }
    }

    /// Fails with [`StoreError::SchemaBehind`] when a migration is pending; reads only.
    pub async fn ensure_migrated(&self) -> Result<(), StoreError> {
        let pending = crate::roles::pending_migrations(&self.db).await?;
        match pending.first() {
            None => Ok(()),
            Some(first) => Err(StoreError::SchemaBehind {
                count: pending.len(),
                first: first.clone(),
            }),
        }
    }

    /// Applies every pending migration as this store's role (SQLite, tests and the
    /// single-role `sethub migrate`; a runtime role may not create tables).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.db, None).await.db()
    }

    /// Refreshes the query planner's statistics of every table (`ANALYZE`): what PostgreSQL's
    /// autovacuum does within a minute or so of large changes. For an operator after a bulk
    /// load, or a benchmark that fills an empty database and measures at once (plans made on
    /// an empty table's statistics do not fit a full one).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        self.db
            .execute_raw(Statement::from_string(
                self.db.get_database_backend(),
                "ANALYZE",
            ))
            .await
            .db()?;
        Ok(())
    }

    /// Refreshes the planner's statistics of the tables whose rows changed by more than
    /// `min_changes + fraction × live rows` since their last analysis (autovacuum's rule) and
    /// returns their names. On PostgreSQL through `sethub_analyze_stale`, which the schema's
    /// owner lends the runtime role (migration m20261207_000022); one caller at a time across
    /// processes, the others get an empty list. On SQLite, `PRAGMA optimize` (analyses what
    /// its planner would use; no names).
    pub async fn analyze_stale(
        &self,
        min_changes: u64,
        fraction: f64,
    ) -> Result<Vec<String>, StoreError> {
        match self.backend {
            Backend::Postgres => {
                let rows = self
                    .db
                    .query_all_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT t FROM sethub_analyze_stale($1, $2) AS t",
                        [
                            i64::try_from(min_changes).unwrap_or(i64::MAX).into(),
                            fraction.into(),
                        ],
                    ))
                    .await
                    .db()?;
                rows.iter()
                    .map(|r| r.try_get::<String>("", "t").db())
                    .collect()
            }
            Backend::Sqlite => {
                self.db
                    .execute_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA optimize"))
                    .await
                    .db()?;
                Ok(Vec::new())
            }
        }
    }

    /// Whether PostgreSQL's autovacuum is on (`None` on SQLite, which has none).
    pub async fn autovacuum(&self) -> Result<Option<bool>, StoreError> {
        match self.backend {
            Backend::Postgres => {
                let on: Option<String> = crate::roles::one_text(
                    &self.db,
                    "SELECT current_setting('autovacuum') AS v",
                    "v",
                )
                .await?;
                Ok(on.map(|v| v == "on"))
            }
            Backend::Sqlite => Ok(None),
        }
    }

    /// Checks the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.db()
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The global tenant registry (not tenant-owned, so no scope needed).
    pub fn tenants(&self) -> Tenants<'_> {
        Tenants::new(&self.db)
    }

    /// The only way to tenant-owned rows: every operation through the scope runs in a
    /// transaction bound to `tenant` (row-level security on PostgreSQL) and filters by it.
    pub fn scope(&self, tenant: TenantId) -> TenantScope<'_> {
        TenantScope::new(&self.db, tenant)
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.db.close_by_ref().await.db()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sqlx's maintenance loop (which can spin forever, see [`Store::connect`]) only runs
    /// with an idle timeout or a maximum lifetime, and the per-acquire ping is a round trip.
    #[tokio::test]
    async fn the_pool_runs_no_maintenance_loop_and_pings_only_idle_connections() {
        let store = Store::connect("sqlite::memory:", ConnectOptions::default())
            .await
            .expect("an in-memory SQLite store");
        let options = store.db.get_sqlite_connection_pool().options();
        assert_eq!(options.get_idle_timeout(), None);
        assert_eq!(options.get_max_lifetime(), None);
        assert!(!options.get_test_before_acquire());
    }
}
