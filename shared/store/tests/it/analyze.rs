//! The planner's statistics refreshed by the runtime role itself (`Store::analyze_stale`),
//! which matters where PostgreSQL's autovacuum is off or behind.

use std::time::{Duration as StdDuration, Instant};

use sea_orm::sqlx::{self, Connection, PgConnection, Row};
use sethub_domain::EventId;
use sethub_store::DeliveryState;
use sethub_store::testing::{APP_ROLE, TestDb, admin_url};

use crate::deliveries::{new, stream};
use crate::support::tenant;

/// When `deliveries` was last analysed and the planner's count of its rows, read as the
/// superuser (what the runtime role cannot fake).
async fn deliveries_stats(db: &TestDb) -> (bool, f32) {
    let mut url = url::Url::parse(&admin_url()).unwrap();
    url.set_path(db.database_name().unwrap());
    let mut admin = PgConnection::connect(url.as_str()).await.unwrap();
    let row = sqlx::query(
        "SELECT s.last_analyze IS NOT NULL AS analysed, c.reltuples \
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
         WHERE s.relname = 'deliveries'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    let stats = (row.get("analysed"), row.get("reltuples"));
    admin.close().await.unwrap();
    stats
}

#[tokio::test]
async fn the_runtime_role_analyses_a_table_that_changed_much_and_only_then() {
    let db = TestDb::postgres().await;
    let store = db.store();
    assert_eq!(store.role().await.unwrap().as_deref(), Some(APP_ROLE));
    let t = tenant(store, "a").await;
    let s = stream(store, t.id).await;
    let rows: Vec<_> = (0..3_000)
        .map(|_| new(s, Some(EventId::new()), DeliveryState::Queued))
        .collect();
    for chunk in rows.chunks(500) {
        store
            .scope(t.id)
            .deliveries()
            .insert_many(chunk)
            .await
            .unwrap();
    }

    // The changes reach the statistics a moment after their commit: ask until it analyses.
    let deadline = Instant::now() + StdDuration::from_secs(30);
    loop {
        let tables = store.analyze_stale(1_000, 0.05).await.unwrap();
        if tables.iter().any(|t| t == "deliveries") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries was never analysed: {tables:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
    let (analysed, reltuples) = deliveries_stats(&db).await;
    assert!(analysed);
    assert!(
        (2_900.0..=3_100.0).contains(&reltuples),
        "the planner now counts {reltuples} rows"
    );

    // Unchanged since: not analysed again, however often asked.
    let again = store.analyze_stale(1_000, 0.05).await.unwrap();
    assert!(!again.iter().any(|t| t == "deliveries"), "{again:?}");
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
