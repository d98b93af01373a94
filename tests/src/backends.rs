//! Real backends for a test: a fresh PostgreSQL database, a random RabbitMQ and Redis prefix,
//! a random master key; and restarting a backend for the tests that need it.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use rand::RngCore;

use crate::random_suffix;

pub fn amqp_url() -> String {
    std::env::var("SETHUB_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("SETHUB_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A random `id:base64` master key.
pub fn master_key() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!(
        "test:{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// The production backends of one test: its own database (the services run as its runtime
/// role and migrate as its owner, as in production), its own queue and key prefixes.
pub struct Production {
    pub db: sethub_store::testing::TestDb,
    pub prefix: String,
}

/// The event shards of a test hub (`bus.event_shards`): two, so the sharded path runs while
/// the hundreds of hubs a test run starts declare few quorum queues (8 is the default).
pub const TEST_EVENT_SHARDS: u16 = 2;

impl Production {
    pub async fn new() -> Self {
        let db = sethub_store::testing::TestDb::postgres().await;
        Self {
            db,
            prefix: format!("t{}", random_suffix()),
        }
    }

    /// The `SETHUB_…` variables selecting these backends.
    pub fn env(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("SETHUB_DATABASE__URL".to_owned(), self.db.url().to_owned()),
            (
                "SETHUB_DATABASE__MIGRATE_URL".to_owned(),
                self.db.migrate_url().unwrap_or_default().to_owned(),
            ),
            ("SETHUB_BUS__URL".to_owned(), amqp_url()),
            ("SETHUB_BUS__PREFIX".to_owned(), self.prefix.clone()),
            (
                "SETHUB_BUS__EVENT_SHARDS".to_owned(),
                TEST_EVENT_SHARDS.to_string(),
            ),
            ("SETHUB_STATE__URL".to_owned(), redis_url()),
            ("SETHUB_STATE__PREFIX".to_owned(), self.prefix.clone()),
            (
                "SETHUB_SECRETS__MASTER_KEYS".to_owned(),
                format!("[\"{}\"]", master_key()),
            ),
            (
                "SETHUB_PUSH__ALLOW_PRIVATE_TARGETS".to_owned(),
                "true".to_owned(),
            ),
            ("SETHUB_PUSH__ALLOW_HTTP".to_owned(), "true".to_owned()),
        ])
    }
}

fn redis_ping() -> bool {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "ping"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
}

/// Stops the local Redis (its data is gone: it keeps nothing on disk).
pub fn stop_redis() {
    let _ = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while redis_ping() {
        assert!(std::time::Instant::now() < deadline, "Redis did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts the local Redis the way this machine kind does, and waits until it answers.
pub fn start_redis() {
    if redis_ping() {
        return;
    }
    let status = Command::new("redis-server")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ])
        .status()
        .expect("redis-server must be installed");
    assert!(status.success(), "redis-server failed to start");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !redis_ping() {
        assert!(
            std::time::Instant::now() < deadline,
            "Redis did not come back within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Restarts Redis when dropped, so a failing test never leaves it down for the others.
pub struct RedisGuard;

impl Drop for RedisGuard {
    fn drop(&mut self) {
        start_redis();
    }
}

fn amqp_port_open() -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], 5672)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// The local RabbitMQ node's process (`beam.smp`): its operating-system id.
pub fn rabbitmq_pid() -> Option<u32> {
    let out = Command::new("rabbitmqctl")
        .args(["eval", "os:getpid()."])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_matches('"')
        .parse()
        .ok()
}

/// Kills the local RabbitMQ node's process `pid` ([`rabbitmq_pid`]) with SIGKILL (no clean
/// shutdown: what it had not written is gone) and waits until it no longer accepts
/// connections.
pub fn kill_rabbitmq(pid: u32) {
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill is installed");
    assert!(
        killed.success(),
        "kill -KILL {pid} (the RabbitMQ node) failed"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while amqp_port_open() {
        assert!(
            std::time::Instant::now() < deadline,
            "RabbitMQ still accepts connections 30 s after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts the local RabbitMQ node the way `scripts/services.sh` does (`rabbitmq-server
/// -detached`, as the `rabbitmq` user with the hard open-files limit: with Debian's default
/// of 1024 its file handle cache runs out once a test run has declared a few hundred quorum
/// queues, and the node stops completing handshakes) and waits until `rabbitmqctl
/// await_startup` succeeds and it accepts connections.
pub fn start_rabbitmq() {
    let debian = std::path::Path::new("/usr/lib/rabbitmq/bin/rabbitmq-server");
    let as_rabbitmq = debian.exists()
        && Command::new("id")
            .args(["-u"])
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let mut command = if as_rabbitmq {
        let mut su = Command::new("su");
        su.args([
            "rabbitmq",
            "-s",
            "/bin/sh",
            "-c",
            "ulimit -n \"$(ulimit -Hn)\"; exec /usr/lib/rabbitmq/bin/rabbitmq-server -detached",
        ])
        .current_dir("/var/lib/rabbitmq");
        su
    } else {
        let mut plain = Command::new("rabbitmq-server");
        plain.arg("-detached");
        plain
    };
    // Without the test's output streams: the node keeps writing to the ones it is given,
    // and once the test has ended nobody reads them and the node blocks on a full pipe.
    let started = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("rabbitmq-server must be installed");
    assert!(started.success(), "rabbitmq-server -detached failed");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let up = Command::new("rabbitmqctl")
            .arg("await_startup")
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if up && amqp_port_open() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "RabbitMQ did not start within 120 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Starts RabbitMQ again when dropped if it is down, so a failing test never leaves it down.
pub struct RabbitGuard;

impl Drop for RabbitGuard {
    fn drop(&mut self) {
        if !amqp_port_open() {
            start_rabbitmq();
        }
    }
}
