//! Migrations go up, down and up again on both backends.

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use sethub_migrations::{Migrator, MigratorTrait};
use sethub_store::testing::{APP_ROLE, TestDb};
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
    // Migrations run as the owner (PostgreSQL) or on the one file (SQLite).
    let conn = Database::connect(db.migrate_url().unwrap_or(db.url()))
        .await
        .unwrap();
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
    // The tables are new: the owner's default privileges gave the runtime role its rights.

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
    sethub_store::migrate_as_owner(db.migrate_url().unwrap(), Some(APP_ROLE))
        .await
        .unwrap();
    db.store().ensure_migrated().await.unwrap();
}

#[tokio::test]
async fn the_runtime_role_reads_the_schema_as_current_but_cannot_migrate_it() {
    let db = TestDb::postgres().await;
    db.store().ensure_migrated().await.unwrap();
    let err = db.store().migrate().await.unwrap_err().to_string();
    assert!(err.contains("permission denied"), "{err}");
}

#[tokio::test]
async fn a_runtime_role_over_an_unmigrated_database_is_told_the_schema_is_behind() {
    let db = TestDb::postgres().await;
    let conn = Database::connect(db.migrate_url().unwrap()).await.unwrap();
    Migrator::down(&conn, Some(1)).await.unwrap();
    conn.close().await.unwrap();
    let err = db.store().ensure_migrated().await.unwrap_err();
    assert!(
        matches!(err, sethub_store::StoreError::SchemaBehind { count: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("database.migrate_url"), "{err}");
}

/// Migration 000030 sets every stream's `aud` to its receiver's client id, across tenants
/// (PostgreSQL: under forced row-level security, which it lifts and restores).
async fn aud_becomes_the_client_id(db: TestDb) {
    let mut seeded = Vec::new();
    for name in ["aud-a", "aud-b"] {
        let t = tenant(db.store(), name).await;
        let s = seed(db.store(), &t).await;
        let streams = db.store().scope(t.id).streams().list().await.unwrap();
        assert_eq!(streams[0].aud, vec!["seed".to_owned()], "as seeded");
        seeded.push((t, s));
    }
    if db.backend() == Backend::Sqlite {
        db.store().close().await.unwrap();
    }
    let conn = Database::connect(db.migrate_url().unwrap_or(db.url()))
        .await
        .unwrap();
    // Back to before 000030 (and whatever came after it), then up again.
    let since_30 = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT count(*) AS n FROM seaql_migrations WHERE version >= 'm20261207_000030'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    Migrator::down(&conn, Some(u32::try_from(since_30).unwrap()))
        .await
        .unwrap();
    Migrator::up(&conn, None).await.unwrap();
    conn.close().await.unwrap();
    let store = Store::connect(db.url(), ConnectOptions::default())
        .await
        .unwrap();
    for (t, s) in seeded {
        let streams = store.scope(t.id).streams().list().await.unwrap();
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].aud, vec![s.receiver.client_id.clone()]);
    }
    // Row-level security is forced again on both tables.
    if db.backend() == Backend::Postgres {
        let conn = Database::connect(db.migrate_url().unwrap()).await.unwrap();
        let row = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_class WHERE relname IN ('streams', 'receivers') \
                 AND relforcerowsecurity",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 2);
        conn.close().await.unwrap();
    }
}

#[tokio::test]
async fn migration_30_sets_every_streams_aud_to_its_receivers_client_id_on_postgres() {
    aud_becomes_the_client_id(TestDb::postgres().await).await;
}

#[tokio::test]
async fn migration_30_sets_every_streams_aud_to_its_receivers_client_id_on_sqlite() {
    aud_becomes_the_client_id(TestDb::sqlite().await).await;
}

/// Migration 000072 dropped the tenant keys of `deliveries` and `delivery_attempts`; their
/// stream keys `(tenant_id, stream_id)` still tie each row to a stream of its own tenant, and
/// deleting a tenant still removes them through its streams.
#[tokio::test]
async fn deliveries_and_attempts_stay_tied_to_a_stream_of_their_tenant_and_go_with_it() {
    let db = TestDb::postgres().await;
    let (a, b) = (
        tenant(db.store(), "fk-a").await,
        tenant(db.store(), "fk-b").await,
    );
    seed(db.store(), &a).await;
    seed(db.store(), &b).await;
    // As the superuser (no row-level security in the way): the counts, and moving tenant
    // b's delivery to tenant a, which would leave it on a stream of another tenant.
    let admin = sethub_store::testing::admin_url();
    let server = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(server, _)| server);
    let owner = Database::connect(format!("{server}/{}", db.database_name().unwrap()))
        .await
        .unwrap();
    let count = |table: &'static str, t: uuid::Uuid| {
        let owner = owner.clone();
        async move {
            let row = owner
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    format!("SELECT count(*) AS n FROM {table} WHERE tenant_id = $1"),
                    [t.into()],
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    for table in ["deliveries", "delivery_attempts"] {
        assert_eq!(
            count(table, a.id.as_uuid()).await,
            1,
            "{table} seeded for a"
        );
    }
    let crossed = owner
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE deliveries SET tenant_id = $1 WHERE tenant_id = $2",
            [a.id.as_uuid().into(), b.id.as_uuid().into()],
        ))
        .await
        .expect_err("a delivery of tenant a on tenant b's stream");
    assert!(
        crossed.to_string().contains("fk_deliveries_stream"),
        "{crossed}"
    );

    db.store().tenants().delete(a.id).await.unwrap();
    for table in ["deliveries", "delivery_attempts"] {
        assert_eq!(
            count(table, a.id.as_uuid()).await,
            0,
            "{table} of a deleted"
        );
        assert_eq!(count(table, b.id.as_uuid()).await, 1, "{table} of b kept");
    }
    owner.close().await.unwrap();
}
