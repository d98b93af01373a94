//! Row-level security, checked with raw SQL over a plain connection as the services' role: the
//! database isolates tenants, not our code.

use sea_orm::sqlx::{self, AssertSqlSafe, Connection, PgConnection, Row};
use sethub_store::testing::{APP_ROLE, OWNER_ROLE, TestDb, tenant_setting};
use sethub_store::{ConnectOptions, Store, TENANT_SETTING, Tenant};

use crate::support::{new_event, seed, tenant};

const TENANT_TABLES: [&str; 4] = ["api_keys", "signing_keys", "receivers", "events"];

async fn set_tenant(tx: &mut PgConnection, tenant: &Tenant) {
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(TENANT_SETTING)
        .bind(tenant.id.as_uuid().to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
}

async fn tenant_ids(conn: &mut PgConnection, table: &str) -> Vec<String> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT tenant_id::text AS t FROM {table}"
    )))
    .fetch_all(conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<String, _>("t"))
    .collect()
}

#[tokio::test]
async fn a_query_without_a_tenant_filter_as_the_app_role_returns_only_the_rows_of_its_tenant_setting()
 {
    let db = TestDb::postgres().await;
    let (a, b) = (tenant(db.store(), "a").await, tenant(db.store(), "b").await);
    seed(db.store(), &a).await;
    seed(db.store(), &b).await;

    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    set_tenant(&mut tx, &a).await;
    let api_keys = tenant_ids(&mut tx, "api_keys").await;
    assert_eq!(
        api_keys,
        vec![a.id.as_uuid().to_string()],
        "SELECT * FROM api_keys with A's setting"
    );
    for table in TENANT_TABLES {
        let ids = tenant_ids(&mut tx, table).await;
        assert!(!ids.is_empty(), "{table}: A's own rows are visible");
        assert!(
            ids.iter().all(|t| *t == a.id.as_uuid().to_string()),
            "{table}: B's rows leaked: {ids:?}"
        );
    }
    tx.rollback().await.unwrap();

    // After the transaction the setting is gone (it was transaction-local): nothing is visible.
    for table in TENANT_TABLES {
        assert_eq!(
            tenant_ids(&mut conn, table).await,
            Vec::<String>::new(),
            "{table} without a setting"
        );
    }
}

#[tokio::test]
async fn a_query_with_no_tenant_setting_returns_no_rows() {
    let db = TestDb::postgres().await;
    let a = tenant(db.store(), "a").await;
    seed(db.store(), &a).await;

    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    for table in TENANT_TABLES {
        assert!(tenant_ids(&mut conn, table).await.is_empty(), "{table}");
    }
    // An empty setting (what a session sees after a transaction that set it) is no tenant too.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config($1, '', true)")
        .bind(TENANT_SETTING)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert!(tenant_ids(&mut tx, "api_keys").await.is_empty());
}

#[tokio::test]
async fn writing_a_row_for_tenant_b_under_tenant_a_setting_fails() {
    let db = TestDb::postgres().await;
    let (a, b) = (tenant(db.store(), "a").await, tenant(db.store(), "b").await);
    seed(db.store(), &b).await;

    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    set_tenant(&mut tx, &a).await;
    let err = sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, created_at) \
         VALUES ($1::uuid, $2::uuid, 'x', 'x', 'x', '[]'::jsonb, now())",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(b.id.as_uuid().to_string())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    let sqlx::Error::Database(err) = err else {
        panic!("expected a database error, got {err}")
    };
    assert_eq!(
        err.code().as_deref(),
        Some("42501"),
        "insufficient_privilege: {err}"
    );
    assert!(
        err.message().contains("row-level security"),
        "{}",
        err.message()
    );
    tx.rollback().await.unwrap();

    // Moving A's row to B is refused too, and B's rows cannot be touched.
    seed(db.store(), &a).await;
    let mut tx = conn.begin().await.unwrap();
    set_tenant(&mut tx, &a).await;
    let moved = sqlx::query("UPDATE api_keys SET tenant_id = $1::uuid")
        .bind(b.id.as_uuid().to_string())
        .execute(&mut *tx)
        .await;
    assert!(moved.is_err(), "UPDATE moving A's row to B must fail");
    tx.rollback().await.unwrap();

    let mut tx = conn.begin().await.unwrap();
    set_tenant(&mut tx, &a).await;
    for table in TENANT_TABLES {
        let deleted = sqlx::query(AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(
            deleted.rows_affected(),
            1,
            "{table}: only A's one row is deleted"
        );
    }
    tx.commit().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    set_tenant(&mut tx, &b).await;
    for table in TENANT_TABLES {
        assert_eq!(
            tenant_ids(&mut tx, table).await.len(),
            1,
            "{table}: B's row survived"
        );
    }
}

#[tokio::test]
async fn the_app_role_is_not_a_superuser_cannot_bypass_rls_and_every_tenant_table_forces_rls() {
    let db = TestDb::postgres().await;
    let mut conn = PgConnection::connect(db.url()).await.unwrap();

    let row = sqlx::query("SELECT current_user::text AS me, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("me"), APP_ROLE);
    assert!(
        !row.get::<bool, _>("rolsuper"),
        "the app role must not be a superuser"
    );
    assert!(
        !row.get::<bool, _>("rolbypassrls"),
        "the app role must not have BYPASSRLS"
    );

    // Every table with a tenant_id column (today's and any a later migration adds) is owned by
    // the migration role (not the app role), has RLS enabled and forced, and has the
    // tenant_isolation policy.
    let rows = sqlx::query(
        "SELECT c.relname::text AS name, pg_get_userbyid(c.relowner)::text AS owner, \
                c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced, \
                EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation') AS policy \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' \
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) \
         ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get("name")).collect();
    for table in TENANT_TABLES {
        assert!(
            names.iter().any(|n| n == table),
            "{table} has a tenant_id column: {names:?}"
        );
    }
    for r in &rows {
        let name: String = r.get("name");
        assert_eq!(r.get::<String, _>("owner"), OWNER_ROLE, "{name} owner");
        assert!(r.get::<bool, _>("enabled"), "{name}: RLS enabled");
        assert!(r.get::<bool, _>("forced"), "{name}: RLS forced");
        assert!(
            r.get::<bool, _>("policy"),
            "{name}: tenant_isolation policy"
        );
    }
}

#[tokio::test]
async fn a_one_statement_insert_sets_its_tenant_for_itself_only_and_writes_only_that_tenants_rows()
{
    let db = TestDb::postgres().await;
    // One connection: the next statement runs where the insert ran.
    let store = Store::connect(
        db.url(),
        ConnectOptions {
            max_connections: 1,
            allow_superuser: false,
        },
    )
    .await
    .unwrap();
    let (a, b) = (tenant(&store, "a").await, tenant(&store, "b").await);
    assert_eq!(tenant_setting(&store).await, None);

    let insert = store
        .scope(a.id)
        .events()
        .begin_keyless(vec![new_event(None), new_event(None)])
        .await
        .unwrap();
    insert.commit().await.unwrap();
    assert_eq!(
        tenant_setting(&store).await,
        None,
        "the tenant setting of a one-statement insert outlived the statement"
    );

    // The rows are A's, and row-level security shows them to A only.
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    set_tenant(&mut tx, &a).await;
    assert_eq!(
        tenant_ids(&mut tx, "events").await,
        vec![a.id.as_uuid().to_string(); 2]
    );
    tx.rollback().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    set_tenant(&mut tx, &b).await;
    assert!(tenant_ids(&mut tx, "events").await.is_empty());
    tx.rollback().await.unwrap();
}
