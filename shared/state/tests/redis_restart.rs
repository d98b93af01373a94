//! Redis restarts for real: `redis-cli shutdown nosave`, then `redis-server` started again with
//! the CI arguments (nothing on disk, so every key is gone). Names contain `restart`: the test
//! runner runs these one at a time after every other test; a lock also keeps them apart.
//! Whatever happens, a guard leaves Redis running.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed assertion with a location

mod common;

use std::process::Command;
use std::time::Duration;

use common::{DEADLINE, Harness, eventually};
use sethub_state::{KeyKind, Limit};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// One restart at a time, whatever the test runner's parallelism.
static REDIS: Mutex<()> = Mutex::const_new(());

const PORT: &str = "6379";

fn answers_ping() -> bool {
    Command::new("redis-cli")
        .args(["-p", PORT, "ping"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "PONG")
}

/// Blocks until `condition` holds (for the guard's `Drop`, which cannot await).
fn wait_blocking(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + DEADLINE * 3;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop_redis() {
    // `shutdown` closes the connection it came on, so redis-cli's own status says nothing.
    let _ = Command::new("redis-cli")
        .args(["-p", PORT, "shutdown", "nosave"])
        .output();
    wait_blocking("Redis to stop", || !answers_ping());
}

fn start_redis() {
    if answers_ping() {
        return;
    }
    let status = Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            PORT,
        ])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
        ])
        .args(["--logfile", "/var/log/redis/ci.log"])
        .status()
        .expect("redis-server is installed");
    assert!(status.success(), "redis-server failed to start: {status}");
    wait_blocking("Redis to answer PING", answers_ping);
}

/// Starts Redis again when dropped, so a failing test never leaves it stopped.
struct KeepRedisRunning;

impl Drop for KeepRedisRunning {
    fn drop(&mut self) {
        start_redis();
    }
}

async fn restart_redis() {
    tokio::task::spawn_blocking(|| {
        stop_redis();
        start_redis();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_store_works_again_after_a_redis_restart_with_its_data_gone() {
    let _one_at_a_time = REDIS.lock().await;
    let _keep = KeepRedisRunning;
    let h = Harness::redis().await;
    let bucket = h.key(KeyKind::RateLimit, "ingest");
    let counter = h.key(KeyKind::Counter, "attempts");
    let limit = Limit::per_hour(1, 3);
    let ttl = Duration::from_secs(60);
    for _ in 0..3 {
        assert!(h.state.rate_limit(&bucket, limit, 1).await.unwrap().allowed);
    }
    assert!(!h.state.rate_limit(&bucket, limit, 1).await.unwrap().allowed);
    assert_eq!(h.state.incr(&counter, 5, ttl).await.unwrap(), 5);
    let early_key = h.key(KeyKind::Wake, "before");
    let mut early = h.state.subscribe(&early_key).await.unwrap();

    restart_redis().await;

    eventually("the store to answer again", || async {
        h.state.ping().await.is_ok()
    })
    .await;
    // The data is gone, so the bucket is full and the counter starts again.
    for _ in 0..3 {
        assert!(h.state.rate_limit(&bucket, limit, 1).await.unwrap().allowed);
    }
    assert!(!h.state.rate_limit(&bucket, limit, 1).await.unwrap().allowed);
    assert_eq!(h.state.incr(&counter, 1, ttl).await.unwrap(), 1);

    // A waiter subscribed after the restart is woken by a notify.
    let late_key = h.key(KeyKind::Wake, "after");
    let mut late = h.state.subscribe(&late_key).await.unwrap();
    h.state.notify(&late_key).await.unwrap();
    assert!(
        late.wait(Duration::from_secs(5)).await,
        "a waiter after the restart missed its notify"
    );

    // A waiter from before the restart is woken by the reconnect (notifies may have been lost),
    // and, resubscribed, by the next notify.
    assert!(
        early.wait(Duration::from_secs(5)).await,
        "not woken by the reconnect"
    );
    h.state.notify(&early_key).await.unwrap();
    assert!(
        early.wait(Duration::from_secs(5)).await,
        "not resubscribed after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_errors_quickly_while_redis_is_stopped_and_recovers_after_the_restart() {
    let _one_at_a_time = REDIS.lock().await;
    let _keep = KeepRedisRunning;
    let h = Harness::redis().await;
    let bucket = h.key(KeyKind::RateLimit, "push");
    let wake = h.key(KeyKind::Wake, "poll");
    h.state.ping().await.unwrap();

    tokio::task::spawn_blocking(stop_redis).await.unwrap();
    let started = Instant::now();
    assert!(
        h.state
            .rate_limit(&bucket, Limit::per_second(1, 1), 1)
            .await
            .is_err()
    );
    assert!(h.state.subscribe(&wake).await.is_err());
    assert!(h.state.notify(&wake).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    tokio::task::spawn_blocking(start_redis).await.unwrap();
    eventually("the store to answer again", || async {
        h.state.ping().await.is_ok()
    })
    .await;
    assert!(
        h.state
            .rate_limit(&bucket, Limit::per_second(1, 1), 1)
            .await
            .unwrap()
            .allowed
    );
    let mut waiter = h.state.subscribe(&wake).await.unwrap();
    h.state.notify(&wake).await.unwrap();
    assert!(waiter.wait(Duration::from_secs(5)).await);
}
