//! Tenant scopes: the only handles that reach tenant-owned rows.
//!
//! Isolation is enforced twice. On PostgreSQL every scoped operation runs in a transaction
//! whose first statement is `SELECT set_config('sethub.tenant_id', $1, true)`: transaction-local,
//! so it ends with the transaction and never leaks to the next user of a pooled connection, and
//! the row-level security policies (migrations `rls.rs`) key on it. And every query the
//! repositories write also filters by `tenant_id` (belt and braces; SQLite has no RLS).

use std::future::Future;
use std::pin::Pin;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};
use sethub_domain::TenantId;
use sethub_migrations::TENANT_SETTING;
use uuid::Uuid;

use crate::error::{DbResultExt, StoreError};
use crate::repos::{
    ApiKeys, Audit, Deliveries, Events, Members, Receivers, SigningKeys, Streams, Upstreams, Usage,
};

/// Tenant-owned data of one tenant. Each repository call is its own transaction; use
/// [`TenantScope::transaction`] or [`TenantScope::begin`] to make several writes atomic.
#[derive(Clone, Copy)]
pub struct TenantScope<'a> {
    db: &'a DatabaseConnection,
    tenant: TenantId,
}

impl std::fmt::Debug for TenantScope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantScope")
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl<'a> TenantScope<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection, tenant: TenantId) -> Self {
        Self { db, tenant }
    }

    /// The tenant this scope is bound to.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    fn ctx(&self) -> Ctx<'a> {
        Ctx {
            conn: Conn::Pool(self.db),
            tenant: self.tenant,
        }
    }

    pub fn api_keys(&self) -> ApiKeys<'a> {
        ApiKeys::new(self.ctx())
    }

    pub fn signing_keys(&self) -> SigningKeys<'a> {
        SigningKeys::new(self.ctx())
    }

    pub fn receivers(&self) -> Receivers<'a> {
        Receivers::new(self.ctx())
    }

    pub fn events(&self) -> Events<'a> {
        Events::new(self.ctx())
    }

    pub fn streams(&self) -> Streams<'a> {
        Streams::new(self.ctx())
    }

    pub fn deliveries(&self) -> Deliveries<'a> {
        Deliveries::new(self.ctx())
    }

    pub fn audit(&self) -> Audit<'a> {
        Audit::new(self.ctx())
    }

    pub fn members(&self) -> Members<'a> {
        Members::new(self.ctx())
    }

    pub fn upstreams(&self) -> Upstreams<'a> {
        Upstreams::new(self.ctx())
    }

    pub fn usage(&self) -> Usage<'a> {
        Usage::new(self.ctx())
    }

    /// Opens a transaction bound to this tenant. Dropping it without [`TenantTx::commit`]
    /// rolls it back. On SQLite (one connection) nothing else reaches the database until it
    /// ends, so keep it short and do not call the store outside it meanwhile.
    pub async fn begin(&self) -> Result<TenantTx, StoreError> {
        Ok(TenantTx {
            tx: begin_scoped(self.db, self.tenant).await?,
            tenant: self.tenant,
        })
    }

    /// Runs `f` in one transaction bound to this tenant: committed if `f` returns `Ok`, rolled
    /// back if it returns `Err`.
    ///
    /// ```ignore
    /// scope.transaction(|tx| Box::pin(async move {
    ///     tx.signing_keys().set_state(old, SigningKeyState::Retiring, now).await?;
    ///     tx.signing_keys().set_state(new, SigningKeyState::Active, now).await
    /// })).await?;
    /// ```
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(
                &'c TenantTx,
            )
                -> Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>
            + Send,
        T: Send,
    {
        let tx = self.begin().await?;
        match f(&tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(err) => {
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(error = %rollback, "rollback after a failed tenant transaction failed");
                }
                Err(err)
            }
        }
    }
}

/// An open transaction bound to one tenant (see [`TenantScope::begin`]).
pub struct TenantTx {
    tx: DatabaseTransaction,
    tenant: TenantId,
}

impl std::fmt::Debug for TenantTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl TenantTx {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            conn: Conn::Tx(&self.tx),
            tenant: self.tenant,
        }
    }

    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys::new(self.ctx())
    }

    pub fn signing_keys(&self) -> SigningKeys<'_> {
        SigningKeys::new(self.ctx())
    }

    pub fn receivers(&self) -> Receivers<'_> {
        Receivers::new(self.ctx())
    }

    pub fn events(&self) -> Events<'_> {
        Events::new(self.ctx())
    }

    pub fn streams(&self) -> Streams<'_> {
        Streams::new(self.ctx())
    }

    pub fn deliveries(&self) -> Deliveries<'_> {
        Deliveries::new(self.ctx())
    }

    pub fn audit(&self) -> Audit<'_> {
        Audit::new(self.ctx())
    }

    pub fn members(&self) -> Members<'_> {
        Members::new(self.ctx())
    }

    pub fn upstreams(&self) -> Upstreams<'_> {
        Upstreams::new(self.ctx())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.db()
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await.db()
    }
}

/// Begins a transaction and binds it to `tenant` (PostgreSQL: the RLS setting).
pub(crate) async fn begin_scoped(
    db: &DatabaseConnection,
    tenant: TenantId,
) -> Result<DatabaseTransaction, StoreError> {
    begin_scoped_with(db, tenant, false).await
}

/// [`begin_scoped`]; `relaxed` also lets the transaction commit without waiting for the disk
/// (PostgreSQL's `synchronous_commit = off`, for this transaction only), in the same
/// statement as the tenant setting: for writes whose loss in a database crash is harmless
/// (they are redone), never for anything a client was told is durable.
async fn begin_scoped_with(
    db: &DatabaseConnection,
    tenant: TenantId,
    relaxed: bool,
) -> Result<DatabaseTransaction, StoreError> {
    // SQLite: `BEGIN IMMEDIATE` takes the write lock at the start, waiting out another
    // process's writer (the busy timeout). A deferred transaction that reads and then writes
    // fails at once with SQLITE_BUSY_SNAPSHOT (517, "database is locked") when another
    // process committed in between — an admin command beside a running hub — and no busy
    // timeout retries that.
    let mode = (db.get_database_backend() == DbBackend::Sqlite)
        .then_some(SqliteTransactionMode::Immediate);
    let tx = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: mode,
            ..TransactionOptions::default()
        })
        .await
        .db()?;
    if tx.get_database_backend() == DbBackend::Postgres {
        let sql = if relaxed {
            "SELECT set_config($1, $2, true), set_config('synchronous_commit', 'off', true)"
        } else {
            "SELECT set_config($1, $2, true)"
        };
        tx.query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [TENANT_SETTING.into(), tenant.as_uuid().to_string().into()],
        ))
        .await
        .db()?;
    }
    Ok(tx)
}

/// Where a repository runs: on the pool (each call its own scoped transaction) or inside a
/// caller's [`TenantTx`].
#[derive(Clone, Copy)]
enum Conn<'a> {
    Pool(&'a DatabaseConnection),
    Tx(&'a DatabaseTransaction),
}

/// A repository's handle: where to run and for which tenant. Private fields: only scopes make
/// one.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    conn: Conn<'a>,
    tenant: TenantId,
}

impl<'a> Ctx<'a> {
    pub(crate) fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The tenant's UUID, for the `tenant_id` filters.
    pub(crate) fn tid(&self) -> Uuid {
        self.tenant.as_uuid()
    }

    /// The same tenant on `tx` (for a repository call inside another's transaction).
    pub(crate) fn with_tx<'b>(&self, tx: &'b DatabaseTransaction) -> Ctx<'b> {
        Ctx {
            conn: Conn::Tx(tx),
            tenant: self.tenant,
        }
    }

    /// The backend this handle runs on.
    pub(crate) fn backend(&self) -> DbBackend {
        match self.conn {
            Conn::Pool(db) => db.get_database_backend(),
            Conn::Tx(tx) => tx.get_database_backend(),
        }
    }

    /// `body` behind the CTE that binds the tenant (`$1`; the caller's values follow).
    fn scoped(&self, body: &str, mut values: Vec<sea_orm::Value>) -> Statement {
        let sql =
            format!("WITH tenant AS (SELECT set_config('{TENANT_SETTING}', $1, true)) {body}");
        values.insert(0, self.tenant.as_uuid().to_string().into());
        Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
    }

    /// Runs one PostgreSQL write that is a transaction by itself: the statement `body` is
    /// prefixed with `WITH tenant AS (SELECT set_config('sethub.tenant_id', $1, true))` and
    /// must read from `tenant` (`… FROM tenant, …`) so that the setting is made before any row
    /// is written — the row-level security checks of an INSERT then see it, and it ends with
    /// the statement's implicit transaction. One round trip instead of four (`BEGIN`,
    /// `set_config`, the write, `COMMIT`). Only for INSERTs: an UPDATE's or DELETE's scan may
    /// apply the policy's filter before the CTE runs. Inside a caller's transaction it runs
    /// there (the setting is the same).
    pub(crate) async fn insert_scoped(
        &self,
        body: &str,
        values: Vec<sea_orm::Value>,
    ) -> Result<u64, sea_orm::DbErr> {
        let stmt = self.scoped(body, values);
        let done = match self.conn {
            Conn::Pool(db) => db.execute_raw(stmt).await?,
            Conn::Tx(tx) => tx.execute_raw(stmt).await?,
        };
        Ok(done.rows_affected())
    }

    /// [`Ctx::insert_scoped`] for a statement whose data-modifying CTEs write and whose final
    /// `SELECT` returns one row with a count `n` (how many rows a CTE inserted).
    pub(crate) async fn query_count_scoped(
        &self,
        body: &str,
        values: Vec<sea_orm::Value>,
    ) -> Result<u64, sea_orm::DbErr> {
        let stmt = self.scoped(body, values);
        let row = match self.conn {
            Conn::Pool(db) => db.query_one_raw(stmt).await?,
            Conn::Tx(tx) => tx.query_one_raw(stmt).await?,
        };
        let n: i64 = match row {
            Some(r) => r.try_get("", "n")?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// One row of a query that reads no tenant-owned table (no scope needed), on the pool or
    /// in the caller's transaction.
    pub(crate) async fn query_one_unscoped(
        &self,
        stmt: Statement,
    ) -> Result<Option<sea_orm::QueryResult>, sea_orm::DbErr> {
        match self.conn {
            Conn::Pool(db) => db.query_one_raw(stmt).await,
            Conn::Tx(tx) => tx.query_one_raw(stmt).await,
        }
    }

    /// [`Ctx::begin`] for writes whose loss in a database crash is harmless: a new
    /// transaction commits without waiting for the disk; a caller's
    /// transaction is left as the caller made it.
    pub(crate) async fn begin_relaxed(&self) -> Result<Guard<'a>, StoreError> {
        match self.conn {
            Conn::Pool(db) => Ok(Guard::Owned(
                begin_scoped_with(db, self.tenant, true).await?,
            )),
            Conn::Tx(tx) => Ok(Guard::Borrowed(tx)),
        }
    }

    /// A transaction bound to the tenant: a new one on the pool, or the caller's.
    pub(crate) async fn begin(&self) -> Result<Guard<'a>, StoreError> {
        match self.conn {
            Conn::Pool(db) => Ok(Guard::Owned(begin_scoped(db, self.tenant).await?)),
            Conn::Tx(tx) => Ok(Guard::Borrowed(tx)),
        }
    }
}

/// A transaction a repository call runs in. Dropped without [`Guard::finish`] (an error on the
/// way), an owned one rolls back.
pub(crate) enum Guard<'a> {
    Owned(DatabaseTransaction),
    Borrowed(&'a DatabaseTransaction),
}

impl Guard<'_> {
    pub(crate) fn tx(&self) -> &DatabaseTransaction {
        match self {
            Guard::Owned(tx) => tx,
            Guard::Borrowed(tx) => tx,
        }
    }

    /// Locks the row `id` of `table` until the transaction ends (PostgreSQL `SELECT … FOR
    /// UPDATE`; RLS still applies), so a count and the insert it allows cannot interleave with
    /// another transaction's. A no-op on SQLite: its one connection never interleaves
    /// transactions.
    pub(crate) async fn lock_row(&self, table: &'static str, id: Uuid) -> Result<(), StoreError> {
        let tx = self.tx();
        if tx.get_database_backend() == DbBackend::Postgres {
            tx.query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(r#"SELECT 1 AS locked FROM "{table}" WHERE id = $1 FOR UPDATE"#),
                [id.into()],
            ))
            .await
            .db()?;
        }
        Ok(())
    }

    /// Commits an owned transaction; a borrowed one is the caller's to commit.
    pub(crate) async fn finish(self) -> Result<(), StoreError> {
        match self {
            Guard::Owned(tx) => tx.commit().await.db(),
            Guard::Borrowed(_) => Ok(()),
        }
    }
}
