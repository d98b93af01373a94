//! The store's one error type. sea-orm's error stays inside [`DatabaseError`], which shows and
//! chains it without exposing its type.

use sea_orm::{DbErr, SqlErr};
use sethub_domain::{Quota, StatusActor};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The row does not exist, or belongs to another tenant (the two are indistinguishable on
    /// purpose).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write; `what` names the value, e.g. "tenant slug `acme`".
    #[error("{what} already exists")]
    Conflict { what: String },
    /// The database role may bypass row-level security (superuser or BYPASSRLS), and
    /// `allow_superuser` is not set.
    #[error(
        "refusing to run as PostgreSQL role `{role}`: it is a superuser or has BYPASSRLS, so \
         row-level security would not isolate tenants. Connect as the services' role (LOGIN \
         NOSUPERUSER NOBYPASSRLS), or set `database.allow_superuser` for local experiments only"
    )]
    UnsafeRole { role: String },
    /// The database role owns what it could use to turn row-level security off (a table, or
    /// the schema), and `allow_superuser` is not set.
    #[error(
        "refusing to run as PostgreSQL role `{role}`: it owns {object}, so it could turn \
         row-level security off. Serve as a role with only table rights (`database.url`) and \
         migrate as the schema's owner (`database.migrate_url`), or set \
         `database.allow_superuser` for local experiments only"
    )]
    OwnerRole { role: String, object: String },
    /// The database has migrations this process would need and may not apply itself.
    #[error(
        "the database schema is behind ({count} migration(s) pending, first `{first}`): run \
         `sethub migrate` (or start a service) with `database.migrate_url` set to the schema's \
         owner"
    )]
    SchemaBehind { count: usize, first: String },
    /// The connection URL or options are unusable.
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// A quota refused the write (nothing was written).
    #[error("quota {quota} reached: {}", quota.describe(*limit))]
    QuotaExceeded { quota: Quota, limit: u32 },
    /// The stream was disabled by its tenant or by sethub: its receiver may not change its
    /// status (nothing was written).
    #[error("the stream was disabled by {by}; only its tenant can enable it")]
    StatusLocked {
        by: StatusActor,
        reason: Option<String>,
    },
    /// Any other database failure.
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

/// A database failure (connection, query, constraint). Its cause chain is kept for the log.
#[derive(Debug, thiserror::Error)]
#[error("database error: {0}")]
pub struct DatabaseError(#[source] DbErr);

impl StoreError {
    /// Wraps a sea-orm error. Kept as a function rather than `From<DbErr>` so that no public
    /// impl names a sea-orm type.
    pub(crate) fn db(err: DbErr) -> Self {
        Self::Database(DatabaseError(err))
    }

    /// Classifies a failed write: a unique violation becomes `Conflict { what }`, a foreign-key
    /// violation `NotFound` (the tenant it refers to does not exist), anything else a database
    /// error.
    pub(crate) fn on_write(err: DbErr, what: impl FnOnce() -> String) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Conflict { what: what() },
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => Self::NotFound,
            _ => Self::db(err),
        }
    }
}

/// `.map_err(StoreError::db)` in short.
pub(crate) trait DbResultExt<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> DbResultExt<T> for Result<T, DbErr> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(StoreError::db)
    }
}
