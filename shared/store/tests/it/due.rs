//! What background work is due, found in one query across tenants (`Store::pending_due`,
//! `count_dead`, `poll_queues`, `tenants_with_attempts_before`, `tenants_with_upstreams`), on
//! PostgreSQL and SQLite; and, on PostgreSQL, that the functions lending these reads to the
//! runtime role lend nothing else.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sqlx::{self, Connection, PgConnection, Row};
use serde_json::json;
use sethub_domain::EventId;
use sethub_store::testing::{TestDb, admin_url};
use sethub_store::{Attempt, Change, DeliveryState, NewDelivery, NewUpstream, Update};

use crate::deliveries::{new, stream};
use crate::support::{seed, tenant};

contract!(
    only_tenants_with_pending_deliveries_due_are_found_with_their_earliest_and_parked_times,
    dead_letters_and_queued_sets_are_counted_over_every_tenant_and_empty_queues_are_not_listed,
    pruning_and_upstream_polling_find_only_the_tenants_with_something_to_do,
);

fn close(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_milliseconds().abs() < 5
}

fn due_at(stream: sethub_domain::StreamId, at: DateTime<Utc>) -> NewDelivery {
    let mut d = new(stream, Some(EventId::new()), DeliveryState::Pending);
    d.next_attempt_at = Some(at);
    d
}

async fn only_tenants_with_pending_deliveries_due_are_found_with_their_earliest_and_parked_times(
    db: TestDb,
) {
    let store = db.store();
    let now = Utc::now();
    let (busy, idle, finished, later) = (
        tenant(store, "busy").await,
        tenant(store, "idle").await,
        tenant(store, "finished").await,
        tenant(store, "later").await,
    );
    // busy: a first attempt due 10 s ago and a retry parked until 30 s from now.
    let s = stream(store, busy.id).await;
    let first = due_at(s, now - Duration::seconds(10));
    let retry = due_at(s, now);
    let d = store.scope(busy.id).deliveries();
    d.insert_many(&[first.clone(), retry.clone()])
        .await
        .unwrap();
    let parked_until = now + Duration::seconds(30);
    d.apply(
        &[Update {
            id: retry.id,
            at: now,
            attempted: true,
            change: Change::Retry {
                next_attempt_at: parked_until,
                status: Some(503),
                error: "busy".into(),
            },
        }],
        &[],
    )
    .await
    .unwrap();
    // idle: a stream and nothing else; finished: only a delivered and a dead delivery.
    stream(store, idle.id).await;
    let s = stream(store, finished.id).await;
    store
        .scope(finished.id)
        .deliveries()
        .insert_many(&[
            new(s, Some(EventId::new()), DeliveryState::Delivered),
            new(s, Some(EventId::new()), DeliveryState::Dead),
        ])
        .await
        .unwrap();
    // later: pending, due in an hour.
    let s = stream(store, later.id).await;
    store
        .scope(later.id)
        .deliveries()
        .insert_many(&[due_at(s, now + Duration::hours(1))])
        .await
        .unwrap();

    let due = store.pending_due(now + Duration::minutes(1)).await.unwrap();
    assert_eq!(
        due.iter().map(|t| t.tenant).collect::<Vec<_>>(),
        vec![busy.id],
        "only the tenant with deliveries due within the minute"
    );
    assert!(
        close(due[0].earliest, now - Duration::seconds(10)),
        "{due:?}"
    );
    let parked = due[0]
        .earliest_parked
        .expect("the parked retry is reported");
    assert!(close(parked, parked_until), "{due:?}");

    // Before the parked retry: only the overdue first attempt, and no parked time.
    let overdue = store.pending_due(now - Duration::seconds(5)).await.unwrap();
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].earliest_parked, None);
    assert!(
        store
            .pending_due(now - Duration::seconds(60))
            .await
            .unwrap()
            .is_empty(),
        "nothing was due a minute ago"
    );
}

async fn dead_letters_and_queued_sets_are_counted_over_every_tenant_and_empty_queues_are_not_listed(
    db: TestDb,
) {
    let store = db.store();
    let (a, b, idle) = (
        tenant(store, "a").await,
        tenant(store, "b").await,
        tenant(store, "idle").await,
    );
    assert_eq!(store.count_dead().await.unwrap(), 0);
    assert!(store.poll_queues().await.unwrap().is_empty());
    stream(store, idle.id).await;
    let (sa, sb) = (stream(store, a.id).await, stream(store, b.id).await);
    let queued: Vec<_> = (0..3)
        .map(|_| new(sa, Some(EventId::new()), DeliveryState::Queued))
        .collect();
    store
        .scope(a.id)
        .deliveries()
        .insert_many(
            &[
                queued.clone(),
                vec![
                    new(sa, Some(EventId::new()), DeliveryState::Dead),
                    new(sa, Some(EventId::new()), DeliveryState::Dead),
                ],
            ]
            .concat(),
        )
        .await
        .unwrap();
    store
        .scope(b.id)
        .deliveries()
        .insert_many(&[
            new(sb, Some(EventId::new()), DeliveryState::Dead),
            new(sb, Some(EventId::new()), DeliveryState::Delivered),
        ])
        .await
        .unwrap();

    assert_eq!(
        store.count_dead().await.unwrap(),
        3,
        "2 of a's and 1 of b's"
    );
    let queues = store.poll_queues().await.unwrap();
    assert_eq!(queues.len(), 1, "only a's stream has a queue: {queues:?}");
    assert_eq!(
        (queues[0].tenant, queues[0].stream, queues[0].queued),
        (a.id, sa, 3)
    );
    assert!((Utc::now() - queues[0].oldest).num_seconds() < 60);
}

async fn pruning_and_upstream_polling_find_only_the_tenants_with_something_to_do(db: TestDb) {
    let store = db.store();
    let (old, recent, idle) = (
        tenant(store, "old").await,
        tenant(store, "recent").await,
        tenant(store, "idle").await,
    );
    stream(store, idle.id).await;
    for (t, age) in [(&old, Duration::days(10)), (&recent, Duration::minutes(1))] {
        let s = stream(store, t.id).await;
        let delivery = new(s, Some(EventId::new()), DeliveryState::Pending);
        let d = store.scope(t.id).deliveries();
        d.insert_many(std::slice::from_ref(&delivery))
            .await
            .unwrap();
        let attempted_at = Utc::now() - age;
        d.apply(
            &[Update {
                id: delivery.id,
                at: attempted_at,
                attempted: true,
                change: Change::Delivered { status: 202 },
            }],
            &[Attempt {
                delivery_id: delivery.id,
                stream_id: s,
                attempted_at,
                status: Some(202),
                latency_ms: 3,
                outcome: "delivered".into(),
                error: None,
                response_excerpt: None,
            }],
        )
        .await
        .unwrap();
    }
    let before = Utc::now() - Duration::days(1);
    assert_eq!(
        store.tenants_with_attempts_before(before).await.unwrap(),
        vec![old.id]
    );

    assert!(store.tenants_with_upstreams().await.unwrap().is_empty());
    for _ in 0..2 {
        // Two transmitters of one tenant: the tenant once.
        store
            .scope(recent.id)
            .upstreams()
            .create(NewUpstream {
                issuer: format!("https://idp-{}.example", uuid::Uuid::new_v4().simple()),
                audience: "https://hub.example".into(),
                jwks_url: None,
                jwks: Some(json!({ "keys": [] })),
            })
            .await
            .unwrap();
    }
    assert_eq!(
        store.tenants_with_upstreams().await.unwrap(),
        vec![recent.id]
    );
}

/// The superuser's connection to the test's database.
async fn admin(db: &TestDb) -> PgConnection {
    let mut url = url::Url::parse(&admin_url()).unwrap();
    url.set_path(db.database_name().unwrap());
    PgConnection::connect(url.as_str()).await.unwrap()
}

#[tokio::test]
async fn the_functions_lent_across_tenants_return_only_ids_counts_and_times_and_lend_nothing_else()
{
    let db = TestDb::postgres().await;
    let (a, b) = (tenant(db.store(), "a").await, tenant(db.store(), "b").await);
    seed(db.store(), &a).await;
    seed(db.store(), &b).await;
    let s = stream(db.store(), a.id).await;
    db.store()
        .scope(a.id)
        .deliveries()
        .insert_many(&[due_at(s, Utc::now() - Duration::hours(1))])
        .await
        .unwrap();

    // Every function the owner lends: what it returns, and a fixed search path.
    let mut admin = admin(&db).await;
    let lent = sqlx::query(
        "SELECT p.proname::text AS name, pg_get_function_result(p.oid) AS returns, \
                array_to_string(p.proconfig, ',') AS config \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = current_schema() AND p.prosecdef ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    let allowed = ["uuid", "timestamp with time zone", "bigint"];
    let mut names = Vec::new();
    for row in &lent {
        let (name, returns, config): (String, String, String) =
            (row.get("name"), row.get("returns"), row.get("config"));
        assert!(config.contains("search_path="), "{name}: {config}");
        names.push(name.clone());
        if name == "sethub_analyze_stale" {
            continue; // table names (migration 000022)
        }
        let types: Vec<&str> = match returns.strip_prefix("TABLE(") {
            Some(cols) => cols
                .trim_end_matches(')')
                .split(", ")
                .map(|col| col.split_once(' ').map_or(col, |(_, ty)| ty))
                .collect(),
            None => vec![returns.trim_start_matches("SETOF ")],
        };
        assert!(
            types.iter().all(|ty| allowed.contains(ty)),
            "{name} returns {returns}: only ids, counts and times may cross tenants"
        );
    }
    for f in [
        "sethub_attempts_before",
        "sethub_dead_count",
        "sethub_pending_due",
        "sethub_poll_queues",
        "sethub_upstream_tenants",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} is lent: {names:?}");
    }

    // The runtime role gets the count, and no row: the owner's cross-tenant policy holds only
    // for the owner, so making its setting changes nothing, and a call leaves no setting.
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    let n: i64 = sqlx::query("SELECT count(*) AS n FROM sethub_pending_due(now())")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get("n");
    assert_eq!(
        n, 2,
        "a and b (each seeded with a pending delivery), across tenants"
    );
    let left: Option<String> =
        sqlx::query("SELECT current_setting('sethub.cross_tenant', true) AS v")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get("v");
    assert!(
        left.unwrap_or_default().is_empty(),
        "the setting ended with the call"
    );
    sqlx::query("SELECT set_config('sethub.cross_tenant', 'on', false)")
        .execute(&mut conn)
        .await
        .unwrap();
    for table in [
        "deliveries",
        "delivery_attempts",
        "upstream_transmitters",
        "api_keys",
    ] {
        let rows: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) AS n FROM {table}"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get("n");
        assert_eq!(rows, 0, "{table}: the runtime role read across tenants");
    }
    conn.close().await.unwrap();
}
