//! The startup check: the store refuses a role that bypasses row-level security or owns the
//! tables; and the runtime role cannot turn row-level security off.

use sea_orm::sqlx::{self, AssertSqlSafe, Connection, PgConnection, Row};
use sethub_store::testing::{OWNER_ROLE, TestDb, admin_url};
use sethub_store::{ConnectOptions, Store, StoreError};

/// `url` with its user and database replaced.
fn url_as(base: &str, user: &str, database: &str) -> String {
    let mut url = url::Url::parse(base).unwrap();
    url.set_username(user).unwrap();
    url.set_path(database);
    url.to_string()
}

#[tokio::test]
async fn connecting_as_a_superuser_is_refused_with_a_clear_error() {
    let db = TestDb::postgres().await;
    let url = url_as(
        &admin_url(),
        url::Url::parse(&admin_url()).unwrap().username(),
        db.database_name().unwrap(),
    );

    let err = Store::connect(&url, ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsafeRole { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("superuser") && message.contains("BYPASSRLS"),
        "{message}"
    );
    assert!(
        message.contains("allow_superuser"),
        "the error names the escape hatch: {message}"
    );
}

#[tokio::test]
async fn connecting_as_a_superuser_is_allowed_with_the_explicit_escape_hatch() {
    let db = TestDb::postgres().await;
    let url = url_as(
        &admin_url(),
        url::Url::parse(&admin_url()).unwrap().username(),
        db.database_name().unwrap(),
    );

    let store = Store::connect(
        &url,
        ConnectOptions {
            allow_superuser: true,
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap();
    store.ping().await.unwrap();
}

#[tokio::test]
async fn connecting_as_a_role_with_bypassrls_is_refused() {
    let db = TestDb::postgres().await;
    let role = "sethub_test_bypassrls";
    let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
    let created = sqlx::query(AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN NOSUPERUSER BYPASSRLS"
    )))
    .execute(&mut admin)
    .await;
    if let Err(sqlx::Error::Database(e)) = &created {
        assert!(
            matches!(e.code().as_deref(), Some("42710" | "23505")),
            "{e}"
        );
    }
    let url = url_as(&admin_url(), role, db.database_name().unwrap());

    let err = Store::connect(&url, ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnsafeRole { role: r } if r == role),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_app_role_connects_without_the_escape_hatch() {
    let db = TestDb::postgres().await;
    let store = Store::connect(db.url(), ConnectOptions::default())
        .await
        .unwrap();
    store.ping().await.unwrap();
}

#[tokio::test]
async fn the_runtime_role_cannot_turn_row_level_security_off_nor_change_the_schema() {
    let db = TestDb::postgres().await;
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    for sql in [
        "ALTER TABLE streams DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE streams NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON streams",
        "ALTER TABLE streams OWNER TO sethub_app",
        "DROP TABLE streams",
        "TRUNCATE streams",
        "CREATE TABLE evil (x int)",
        "DELETE FROM seaql_migrations",
    ] {
        let err = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        let sqlx::Error::Database(e) = &err else {
            panic!("{sql}: {err}");
        };
        assert_eq!(
            e.code().as_deref(),
            Some("42501"),
            "{sql} must fail with insufficient_privilege: {e}"
        );
    }
    let mut admin = PgConnection::connect(&url_as(
        &admin_url(),
        url::Url::parse(&admin_url()).unwrap().username(),
        db.database_name().unwrap(),
    ))
    .await
    .unwrap();
    let row = sqlx::query(
        "SELECT relrowsecurity AND relforcerowsecurity AS on FROM pg_class WHERE relname = 'streams'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(
        row.get::<bool, _>("on"),
        "row-level security is still forced"
    );
}

#[tokio::test]
async fn serving_as_the_owner_of_the_tables_is_refused_naming_the_migration_url() {
    let db = TestDb::postgres().await;
    let err = Store::connect(db.migrate_url().unwrap(), ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::OwnerRole { role, .. } if role == OWNER_ROLE),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("database.migrate_url") && message.contains("allow_superuser"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_url_scheme_is_a_configuration_error() {
    let err = Store::connect("mysql://localhost/x", ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
}
