//! SQLite beside another process (an admin command next to a running hub): a tenant
//! transaction that reads and then writes must not fail because the other process committed
//! in between (SQLITE_BUSY_SNAPSHOT, "database is locked", which no busy timeout retries).

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use sethub_store::testing::TestDb;
use sethub_store::{ConnectOptions, Store};

use crate::support::{new_receiver, tenant};

/// A connection that never waits for a lock: `BEGIN IMMEDIATE` on it tells at once whether
/// another connection holds the database's write lock.
async fn impatient(url: &str) -> DatabaseConnection {
    let mut o = sea_orm::ConnectOptions::new(url.to_owned());
    o.max_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|s| s.busy_timeout(Duration::ZERO));
    Database::connect(o).await.unwrap()
}

async fn write_lock_free(probe: &DatabaseConnection) -> bool {
    match probe.execute_unprepared("BEGIN IMMEDIATE").await {
        Ok(_) => {
            probe.execute_unprepared("ROLLBACK").await.unwrap();
            true
        }
        Err(e) => {
            assert!(e.to_string().contains("locked"), "unexpected error: {e}");
            false
        }
    }
}

#[tokio::test]
async fn a_tenant_transaction_holds_the_write_lock_from_its_start() {
    let db = TestDb::sqlite().await;
    let t = tenant(db.store(), "locks").await;
    let probe = impatient(db.url()).await;
    assert!(write_lock_free(&probe).await, "nothing holds the lock yet");

    let tx = db.store().scope(t.id).begin().await.unwrap();
    tx.receivers().list().await.unwrap();
    // Deferred, the read above would hold only a snapshot, and a write committed now by
    // another process would make this transaction's first write fail.
    assert!(
        !write_lock_free(&probe).await,
        "another process could commit under the open tenant transaction"
    );
    tx.receivers().create(new_receiver("first")).await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        write_lock_free(&probe).await,
        "the commit released the lock"
    );
}

#[tokio::test]
async fn a_second_process_writes_after_the_open_transaction_commits() {
    let db = TestDb::sqlite().await;
    let t = tenant(db.store(), "locks").await;
    let other = Store::connect(db.url(), ConnectOptions::default())
        .await
        .unwrap();

    let tx = db.store().scope(t.id).begin().await.unwrap();
    tx.receivers().list().await.unwrap();
    // The other process's write waits for the lock (its busy timeout) instead of slipping in.
    let writer = tokio::spawn(async move {
        other
            .scope(t.id)
            .receivers()
            .create(new_receiver("second"))
            .await
    });
    tx.receivers().create(new_receiver("first")).await.unwrap();
    tx.commit().await.unwrap();
    writer.await.unwrap().unwrap();

    let mut names: Vec<String> = db
        .store()
        .scope(t.id)
        .receivers()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    assert_eq!(names, ["first", "second"]);
}
