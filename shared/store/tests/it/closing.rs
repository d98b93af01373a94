//! Closing a tenant (issue 16): `Tenants::close`, `reopen`, `due_for_purge`, and that deleting
//! a closed tenant leaves no row of it in any table of the schema — every table is listed from
//! the catalogue (`information_schema` on PostgreSQL, `sqlite_master` on SQLite), so a table a
//! later migration adds is checked too, or fails the test until it is classified.

use chrono::{Duration, Utc};
use sea_orm::sqlx::{self, AssertSqlSafe, Connection, PgConnection, Row, SqliteConnection};
use sethub_domain::TenantId;
use sethub_store::testing::TestDb;
use sethub_store::{Backend, Invite, NewAuditEntry, NewMember, NewUpstream, Role, SsoConfig};

use crate::support::{seed, tenant, unique};

/// Tables without a `tenant_id` column, and how each is checked: `tenants` by its `id`, the
/// migrations' bookkeeping holds no tenant data.
const GLOBAL_TABLES: [&str; 2] = ["tenants", "seaql_migrations"];

/// A row of every tenant-owned kind: `seed`'s and the rest (audit log, upstream transmitter,
/// member, invite, single sign-on).
async fn seed_everything(db: &TestDb, t: &sethub_store::Tenant) {
    let seeded = seed(db.store(), t).await;
    let scope = db.store().scope(t.id);
    scope
        .audit()
        .record(NewAuditEntry {
            actor: "test".into(),
            action: "seed".into(),
            target: None,
            details: serde_json::json!({}),
        })
        .await
        .unwrap();
    scope
        .upstreams()
        .create(NewUpstream {
            issuer: format!("https://{}.example.com", unique("idp")),
            audience: "aud".into(),
            jwks_url: Some("https://idp.example.com/jwks".into()),
            jwks: None,
        })
        .await
        .unwrap();
    scope
        .members()
        .create(NewMember {
            email: format!("{}@example.com", unique("owner")),
            password_hash: Some("x".into()),
            role: Role::Owner,
            receiver_id: None,
        })
        .await
        .unwrap();
    scope
        .members()
        .invite(
            &unique("token"),
            &Invite {
                role: Role::Receiver,
                receiver_id: Some(seeded.receiver.id),
                expires_at: Utc::now() + Duration::hours(1),
                email: None,
            },
        )
        .await
        .unwrap();
    scope
        .members()
        .set_sso(
            None,
            Some(&SsoConfig {
                issuer: "https://idp.example.com".into(),
                client_id: "console".into(),
                client_secret_sealed: None,
            }),
        )
        .await
        .unwrap();
}

/// Rows per table that belong to `tenant` (`tenant_id`, or `id` for `tenants`), read past
/// row-level security (as the superuser on PostgreSQL); fails on a table it cannot classify.
async fn rows_per_table(db: &TestDb, tenant: TenantId) -> Vec<(String, i64)> {
    let id = tenant.as_uuid().to_string();
    let mut counts = Vec::new();
    match db.backend() {
        Backend::Postgres => {
            let mut url = url::Url::parse(&sethub_store::testing::admin_url()).unwrap();
            url.set_path(db.database_name().unwrap());
            let mut conn = PgConnection::connect(url.as_str()).await.unwrap();
            let tables = sqlx::query(
                "SELECT t.table_name::text AS name, EXISTS (SELECT 1 FROM information_schema.columns c \
                   WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name \
                   AND c.column_name = 'tenant_id') AS owned \
                 FROM information_schema.tables t \
                 WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' ORDER BY 1",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for t in tables {
                let (name, owned): (String, bool) = (t.get("name"), t.get("owned"));
                let Some(column) = column_of(&name, owned) else {
                    continue;
                };
                let n: i64 = sqlx::query(AssertSqlSafe(format!(
                    r#"SELECT count(*) AS n FROM "{name}" WHERE {column}::text = $1"#
                )))
                .bind(&id)
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get("n");
                counts.push((name, n));
            }
            let _ = conn.close().await;
        }
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(db.url()).await.unwrap();
            let tables = sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY 1",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for t in tables {
                let name: String = t.get("name");
                let owned: i64 = sqlx::query(AssertSqlSafe(format!(
                    r#"SELECT count(*) AS n FROM pragma_table_info('{name}') WHERE name = 'tenant_id'"#
                )))
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get("n");
                let Some(column) = column_of(&name, owned > 0) else {
                    continue;
                };
                // UUIDs are stored as text or as 16 bytes, depending on the column: match both.
                let n: i64 = sqlx::query(AssertSqlSafe(format!(
                    r#"SELECT count(*) AS n FROM "{name}" WHERE {column} = $1 OR {column} = $2"#
                )))
                .bind(&id)
                .bind(tenant.as_uuid().as_bytes().to_vec())
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get("n");
                counts.push((name, n));
            }
            let _ = conn.close().await;
        }
    }
    counts
}

/// The column naming a table's tenant, `None` for the migrations' bookkeeping; panics for a
/// table it does not know how to check.
fn column_of(table: &str, owned: bool) -> Option<&'static str> {
    match (table, owned) {
        (_, true) => Some("tenant_id"),
        ("tenants", false) => Some("id"),
        ("seaql_migrations", false) => None,
        (other, false) => panic!(
            "table `{other}` has no tenant_id column and is not one of {GLOBAL_TABLES:?}: \
             say how a closed tenant's rows in it are deleted (sethub_app::closing) and \
             classify it here"
        ),
    }
}

async fn closing_and_purging_deletes_every_row_of_the_tenant_in_every_table_and_nothing_else(
    db: TestDb,
) {
    let (a, b) = (
        tenant(db.store(), "leaving").await,
        tenant(db.store(), "staying").await,
    );
    seed_everything(&db, &a).await;
    seed_everything(&db, &b).await;
    let before = rows_per_table(&db, a.id).await;
    for (table, n) in &before {
        assert!(*n > 0, "the seed wrote no row of `{table}`: {before:?}");
    }

    // Closing: read-only times, nothing due before them; a second close keeps the times.
    let purge_after = Utc::now() + Duration::days(30);
    let (closed, changed) = db.store().tenants().close(a.id, purge_after).await.unwrap();
    assert!(changed && closed.closed_at.is_some());
    let kept = closed.purge_after.unwrap();
    assert!(
        (kept - purge_after).num_milliseconds().abs() < 1000,
        "{kept}"
    );
    let (again, changed) = db
        .store()
        .tenants()
        .close(a.id, Utc::now() + Duration::days(1))
        .await
        .unwrap();
    assert!(!changed);
    assert_eq!(again.purge_after, closed.purge_after);
    assert!(
        db.store()
            .tenants()
            .due_for_purge(Utc::now(), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Reopening clears both; closing again for a deletion already due makes it due.
    let (open, changed) = db.store().tenants().reopen(a.id).await.unwrap();
    assert!(changed && open.closed_at.is_none() && open.purge_after.is_none());
    let (_, changed) = db.store().tenants().reopen(a.id).await.unwrap();
    assert!(!changed, "an open tenant is left as it is");
    db.store()
        .tenants()
        .close(a.id, Utc::now() - Duration::seconds(1))
        .await
        .unwrap();
    let (late, changed) = db.store().tenants().reopen(a.id).await.unwrap();
    assert!(
        !changed && late.closed_at.is_some(),
        "past its deletion time a tenant cannot be reopened"
    );
    let due = db
        .store()
        .tenants()
        .due_for_purge(Utc::now(), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![a.id],
        "only the closed tenant is due"
    );

    db.store().tenants().delete(a.id).await.unwrap();
    let after = rows_per_table(&db, a.id).await;
    assert_eq!(after.len(), before.len());
    for (table, n) in &after {
        assert_eq!(
            *n, 0,
            "`{table}` still holds rows of the deleted tenant: {after:?}"
        );
    }
    for (table, n) in rows_per_table(&db, b.id).await {
        assert!(n > 0, "`{table}` lost the other tenant's rows");
    }
    assert!(
        db.store()
            .tenants()
            .due_for_purge(Utc::now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

contract!(closing_and_purging_deletes_every_row_of_the_tenant_in_every_table_and_nothing_else);
