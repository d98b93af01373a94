//! The store's tests, one binary: row-level security, the repository contract on both
//! backends, migrations up/down/up, and the role check.

// Test code may unwrap: a panic is a failed assertion with a location. (clippy.toml's
// allow-unwrap-in-tests covers `#[test]` functions only, not the helpers they call.)
#![allow(clippy::unwrap_used)]

/// Runs each named `async fn(TestDb)` as two tests, on PostgreSQL and on SQLite: the
/// repository contract holds on both backends.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(sethub_store::testing::TestDb::postgres().await).await })*
        }
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(sethub_store::testing::TestDb::sqlite().await).await })*
        }
    };
}

mod analyze;
mod claims;
mod closing;
mod contract;
mod deliveries;
mod delivery_log;
mod due;
mod event_retention;
mod migrations;
mod quotas;
mod receiver_admin;
mod recovery;
mod rls;
mod role;
mod sqlite_locks;
mod streams;
mod support;
mod usage;
mod written_once;
