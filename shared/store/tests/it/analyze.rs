//! The planner's statistics refreshed by the runtime role itself (`Store::analyze_stale`),
//! which matters where PostgreSQL's autovacuum is off or behind.

use std::time::{Duration as StdDuration, Instant};

use sea_orm::sqlx::{self, AssertSqlSafe, Connection, PgConnection, Row};
use sethub_domain::EventId;
use sethub_store::DeliveryState;
use sethub_store::testing::{APP_ROLE, TestDb, admin_url};

use crate::deliveries::{new, stream};
use crate::support::tenant;

/// Reads one value of `deliveries`' statistics as the superuser (what the runtime role cannot
/// fake): `SELECT <expr> FROM pg_stat_user_tables s JOIN pg_class c … WHERE deliveries`.
async fn deliveries_stat<T>(db: &TestDb, expr: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let mut url = url::Url::parse(&admin_url()).unwrap();
    url.set_path(db.database_name().unwrap());
    let mut admin = PgConnection::connect(url.as_str()).await.unwrap();
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {expr} AS v FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
         WHERE s.relname = 'deliveries'"
    )))
    .fetch_one(&mut admin)
    .await
    .unwrap();
    let v = row.get("v");
    admin.close().await.unwrap();
    v
}

/// Waits until the statistics count at least `n` changes of `deliveries` since its last
/// analysis: a backend reports its changes a moment after their commit.
async fn until_changes_counted(db: &TestDb, n: i64) {
    let deadline = Instant::now() + StdDuration::from_secs(30);
    loop {
        let counted: i64 = deliveries_stat(db, "s.n_mod_since_analyze").await;
        if counted >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {counted} changes counted, not {n}"
        );
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_runtime_role_analyses_a_table_that_changed_much_and_only_then() {
    let db = TestDb::postgres().await;
    let store = db.store();
    assert_eq!(store.role().await.unwrap().as_deref(), Some(APP_ROLE));
    let t = tenant(store, "a").await;
    let s = stream(store, t.id).await;
    let insert = |n: usize| {
        let rows: Vec<_> = (0..n)
            .map(|_| new(s, Some(EventId::new()), DeliveryState::Queued))
            .collect();
        async move {
            for chunk in rows.chunks(500) {
                store
                    .scope(t.id)
                    .deliveries()
                    .insert_many(chunk)
                    .await
                    .unwrap();
            }
        }
    };
    insert(3_000).await;
    until_changes_counted(&db, 3_000).await;

    let tables = store.analyze_stale(1_000, 0.05).await.unwrap();
    assert!(tables.iter().any(|t| t == "deliveries"), "{tables:?}");
    let analysed: bool = deliveries_stat(&db, "s.last_analyze IS NOT NULL").await;
    assert!(analysed);
    let reltuples: f32 = deliveries_stat(&db, "c.reltuples").await;
    assert!(
        (2_900.0..=3_100.0).contains(&reltuples),
        "the planner now counts {reltuples} rows"
    );

    // Unchanged since, or changed by less than the threshold (1,000 + 5 % of the live rows,
    // 4,100 after the next insert): not analysed again; past it (1,300 > 1,215), analysed.
    let again = store.analyze_stale(1_000, 0.05).await.unwrap();
    assert!(!again.iter().any(|t| t == "deliveries"), "{again:?}");
    insert(1_100).await;
    until_changes_counted(&db, 1_100).await;
    let again = store.analyze_stale(1_000, 0.05).await.unwrap();
    assert!(!again.iter().any(|t| t == "deliveries"), "{again:?}");
    insert(200).await;
    until_changes_counted(&db, 1_300).await;
    let again = store.analyze_stale(1_000, 0.05).await.unwrap();
    assert!(again.iter().any(|t| t == "deliveries"), "{again:?}");
}

#[tokio::test]
async fn on_sqlite_analysing_is_the_planners_own_optimize() {
    let db = TestDb::sqlite().await;
    assert_eq!(
        db.store().analyze_stale(0, 0.0).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(db.store().autovacuum().await.unwrap(), None);
}
