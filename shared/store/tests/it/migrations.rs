//! Migrations go up, down and up again on both backends.

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use sethub_migrations::{Migrator, MigratorTrait};
use sethub_store::testing::TestDb;
use sethub_store::{Backend, ConnectOptions, Store};

use crate::support::{seed, tenant};

/// Tables the migrations create: tenants, api_keys, signing_keys, receivers, events, streams,
/// stream_subjects, deliveries, delivery_attempts, audit_log, upstream_transmitters, members,
/// invites, sso_configs.
const TABLES: i64 = 14;

async fn our_tables(conn: &sea_orm::DatabaseConnection) -> i64 {
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'"
        }
        _ => {
            "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' \
             AND name <> 'seaql_migrations' AND name NOT LIKE 'sqlite_%'"
        }
    };
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn up_down_up(db: TestDb) {
    let conn = Database::connect(db.url()).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&conn)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(our_tables(&conn).await, TABLES);
    // Data in every table must not stop the way down.
    let t = tenant(db.store(), "m").await;
    seed(db.store(), &t).await;
    if db.backend() == Backend::Sqlite {
        // One connection per pool: let the migration connection take the file's write lock.
        db.store().close().await.unwrap();
    }

    Migrator::down(&conn, None).await.unwrap();
    assert_eq!(our_tables(&conn).await, 0, "down drops everything");
    assert_eq!(
        Migrator::get_pending_migrations(&conn).await.unwrap().len(),
        Migrator::migrations().len()
    );

    Migrator::up(&conn, None).await.unwrap();
    assert_eq!(our_tables(&conn).await, TABLES);
    conn.close().await.unwrap();

    let store = Store::connect(db.url(), ConnectOptions::default())
        .await
        .unwrap();
    let t = tenant(&store, "again").await;
    let seeded = seed(&store, &t).await;
    assert_eq!(
        store.scope(t.id).api_keys().list().await.unwrap(),
        vec![seeded.key]
    );
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again_on_postgres() {
    up_down_up(TestDb::postgres().await).await;
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again_on_sqlite() {
    up_down_up(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let db = TestDb::sqlite().await;
    db.store().migrate().await.unwrap();
    let db = TestDb::postgres().await;
    db.store().migrate().await.unwrap();
}
