//! Fresh databases for tests (feature `testing`; other crates' tests use it too).
//!
//! - [`TestDb::postgres`] creates a database `sethub_test_<random>` owned by the migration
//!   role [`OWNER_ROLE`], migrates it *as that role* and grants the runtime role [`APP_ROLE`]
//!   its rights ([`crate::migrate_as_owner`], as production does), and connects a [`Store`]
//!   as the runtime role, which owns nothing (both roles LOGIN NOSUPERUSER NOBYPASSRLS,
//!   created if missing). The admin connection comes from
//!   `SETHUB_TEST_PG_ADMIN_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`; trust
//!   auth on 127.0.0.1, so no passwords).
//! - [`TestDb::sqlite`] migrates a file in a temporary directory.
//!
//! Dropping a `TestDb` drops its PostgreSQL database (`WITH (FORCE)`, from a helper thread, so
//! it works inside or outside a runtime), unless `SETHUB_TEST_KEEP_DB` is set, which keeps it
//! for a look and prints its URL. A test process killed before the drop leaves its database;
//! `sethub_test_*` databases are safe to drop by hand at any time no test runs.

use sea_orm::sqlx::{self, AssertSqlSafe, Connection, PgConnection};
use tempfile::TempDir;
use url::Url;

use crate::{Backend, ConnectOptions, Store};

/// The services' (runtime) role in tests: may not bypass row-level security, owns nothing.
pub const APP_ROLE: &str = "sethub_app";

/// The migration role in tests: owns the test databases, their schema and tables.
pub const OWNER_ROLE: &str = "sethub_owner";

/// The admin (superuser) URL used to create roles and databases.
pub fn admin_url() -> String {
    std::env::var("SETHUB_TEST_PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A migrated database of its own for one test, with a [`Store`] on it.
pub struct TestDb {
    store: Store,
    url: String,
    /// The owner's URL (PostgreSQL).
    migrate_url: Option<String>,
    kind: Kind,
}

enum Kind {
    Postgres { admin_url: String, name: String },
    Sqlite { _dir: TempDir },
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The `sethub.tenant_id` setting a connection of `store`'s pool holds now (`None` when unset
/// or empty). With a pool of one connection: what the previous statement left behind.
pub async fn tenant_setting(store: &Store) -> Option<String> {
    use sea_orm::ConnectionTrait;
    let row = store
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT current_setting('{}', true) AS v",
                crate::TENANT_SETTING
            ),
        ))
        .await
        .ok()??;
    row.try_get::<Option<String>>("", "v")
        .ok()
        .flatten()
        .filter(|v| !v.is_empty())
}

impl TestDb {
    /// A fresh PostgreSQL database; panics with the reason if it cannot make one.
    pub async fn postgres() -> TestDb {
        match Self::try_postgres().await {
            Ok(db) => db,
            Err(e) => panic!(
                "cannot create a PostgreSQL test database: {e}. Is PostgreSQL running and does \
                 SETHUB_TEST_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres) \
                 reach it as a superuser?"
            ),
        }
    }

    /// [`TestDb::postgres`], returning the failure.
    pub async fn try_postgres() -> Result<TestDb, String> {
        let admin_url = admin_url();
        let name = format!("sethub_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .map_err(|e| format!("admin connection: {e}"))?;
        ensure_role(&mut admin, APP_ROLE).await?;
        ensure_role(&mut admin, OWNER_ROLE).await?;
        sqlx::query(AssertSqlSafe(format!(
            r#"CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}""#
        )))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        let _ = admin.close().await;

        let url = role_url(&admin_url, APP_ROLE, &name)?;
        let migrate_url = role_url(&admin_url, OWNER_ROLE, &name)?;

        // Own the database before anything can fail, so the drop cleans up.
        let kind = Kind::Postgres { admin_url, name };
        let store = async {
            crate::migrate_as_owner(&migrate_url, Some(APP_ROLE))
                .await
                .map_err(|e| format!("migrate as {OWNER_ROLE}: {e}"))?;
            Store::connect(&url, ConnectOptions::default())
                .await
                .map_err(|e| format!("connect as {APP_ROLE}: {e}"))
        }
        .await;
        let store = match store {
            Ok(store) => store,
            Err(e) => {
                drop_database_blocking(&kind);
                return Err(e);
            }
        };
        Ok(TestDb {
            store,
            url,
            migrate_url: Some(migrate_url),
            kind,
        })
    }

    /// A fresh SQLite database in a temporary directory; panics with the reason on failure.
    pub async fn sqlite() -> TestDb {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(e) => panic!("cannot create a temporary directory: {e}"),
        };
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("sethub.sqlite").display()
        );
        let store = match Store::connect(&url, ConnectOptions::default()).await {
            Ok(store) => store,
            Err(e) => panic!("cannot open {url}: {e}"),
        };
        if let Err(e) = store.migrate().await {
            panic!("cannot migrate {url}: {e}");
        }
        TestDb {
            store,
            url,
            migrate_url: None,
            kind: Kind::Sqlite { _dir: dir },
        }
    }

    /// A store connected as the app role (PostgreSQL) or to the file (SQLite).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The URL the store connected with (as the runtime role on PostgreSQL).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The migration role's URL (`database.migrate_url`); `None` on SQLite, where the one
    /// file is migrated through [`TestDb::url`].
    pub fn migrate_url(&self) -> Option<&str> {
        self.migrate_url.as_deref()
    }

    /// Refreshes the planner's statistics (`ANALYZE`) as the owner: PostgreSQL analyzes only
    /// the tables of the role that asks, and the runtime role owns none.
    pub async fn analyze(&self) -> Result<(), String> {
        let Some(url) = self.migrate_url() else {
            return self.store.analyze().await.map_err(|e| e.to_string());
        };
        let mut conn = PgConnection::connect(url)
            .await
            .map_err(|e| format!("connect as {OWNER_ROLE}: {e}"))?;
        sqlx::query("ANALYZE")
            .execute(&mut conn)
            .await
            .map_err(|e| format!("ANALYZE: {e}"))?;
        let _ = conn.close().await;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// The PostgreSQL database's name.
    pub fn database_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Postgres { name, .. } => Some(name),
            Kind::Sqlite { .. } => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if matches!(self.kind, Kind::Postgres { .. })
            && std::env::var_os("SETHUB_TEST_KEEP_DB").is_some()
        {
            eprintln!("SETHUB_TEST_KEEP_DB: keeping {}", self.url);
            return;
        }
        drop_database_blocking(&self.kind);
    }
}

/// `admin_url` as `role` (no password: trust on 127.0.0.1) on database `name`.
fn role_url(admin_url: &str, role: &str, name: &str) -> Result<String, String> {
    let mut url = Url::parse(admin_url).map_err(|e| format!("admin URL: {e}"))?;
    url.set_username(role)
        .map_err(|()| "admin URL cannot take a user name".to_owned())?;
    url.set_password(None)
        .map_err(|()| "admin URL cannot drop its password".to_owned())?;
    url.set_path(name);
    Ok(url.to_string())
}

/// Creates a role unless it exists. Tests create it concurrently: a loser of the race gets
/// `duplicate_object` (42710) or, inserting into the catalog at the same moment,
/// `unique_violation` (23505); both mean the role is there.
async fn ensure_role(admin: &mut PgConnection, role: &str) -> Result<(), String> {
    let sql = format!(r#"CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS"#);
    match sqlx::query(AssertSqlSafe(sql)).execute(&mut *admin).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42710" | "23505")) => {
            Ok(())
        }
        Err(e) => Err(format!("CREATE ROLE {role}: {e}")),
    }
}

/// Drops a PostgreSQL database from a thread with its own runtime: `Drop` cannot await, and
/// blocking on the caller's runtime (possibly single-threaded) would deadlock.
fn drop_database_blocking(kind: &Kind) {
    let Kind::Postgres { admin_url, name } = kind else {
        return;
    };
    let (admin_url, name) = (admin_url.clone(), name.clone());
    let joined = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut admin = PgConnection::connect(&admin_url)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query(AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
            )))
            .execute(&mut admin)
            .await
            .map_err(|e| e.to_string())?;
            let _ = admin.close().await;
            Ok::<_, String>(())
        })
    })
    .join();
    match joined {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("warning: could not drop the test database: {e}"),
        Err(_) => eprintln!("warning: the thread dropping the test database panicked"),
    }
}
