//! The foundation, end to end: the real binary, in the embedded default and in production
//! mode over PostgreSQL, RabbitMQ and Redis, answering its health routes; bad configuration
//! and unreachable backends failing fast with one clear line.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sethub_tests::backends::{Production, RedisGuard, start_redis, stop_redis};
use sethub_tests::{SethubProcess, init_crypto, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_sethub");

fn temp_dir() -> tempfile_dir::Dir {
    tempfile_dir::Dir::new()
}

mod tempfile_dir {
    /// A temporary directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let p =
                std::env::temp_dir().join(format!("sethub-e2e-{}", sethub_tests::random_suffix()));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn start(args: &[&str], env: &BTreeMap<String, String>, cwd: &Path) -> SethubProcess {
    SethubProcess::start(Path::new(BIN), args, env, cwd)
        .await
        .unwrap_or_else(|f| panic!("sethub did not start: {f:?}"))
}

#[tokio::test]
async fn the_embedded_default_with_no_configuration_answers_healthz_and_readyz() {
    init_crypto();
    let dir = temp_dir();
    let hub = start(&["all"], &BTreeMap::new(), &dir.0).await;
    assert!(
        hub.stdout_lines.iter().any(|l| l.contains("embedded mode")),
        "it must say it runs the embedded mode: {:?}",
        hub.stdout_lines
    );
    assert_eq!(get(&hub.url("/healthz")).await.0, 200);
    let (status, body) = get(&hub.url("/readyz")).await;
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["database", "bus", "state"]);
    assert!(
        dir.0.join("data/sethub.sqlite").exists(),
        "the SQLite file lives in ./data"
    );
    let (_, metrics) = get(&hub.url("/metrics")).await;
    assert!(metrics.contains("sethub_http_requests_total{"), "{metrics}");
    assert!(
        metrics.contains("route=\"/readyz\""),
        "requests are labelled by route: {metrics}"
    );
    assert!(
        metrics.contains("process_resident_memory_bytes"),
        "{metrics}"
    );
}

#[tokio::test]
async fn each_service_runs_as_its_own_process_over_postgres_rabbitmq_and_redis() {
    init_crypto();
    let dir = temp_dir();
    let prod = Production::new().await;
    let env = prod.env();
    for service in ["ingest", "fanout", "manage"] {
        let hub = start(&[service], &env, &dir.0).await;
        assert!(
            hub.stdout_lines
                .iter()
                .any(|l| l.contains("database PostgreSQL, bus RabbitMQ, state Redis")),
            "{service}: {:?}",
            hub.stdout_lines
        );
        let (status, body) = get(&hub.url("/readyz")).await;
        assert_eq!(status, 200, "{service}: {body}");
        assert_eq!(get(&hub.url("/healthz")).await.0, 200);
    }
}

#[tokio::test]
async fn readyz_names_redis_when_it_is_stopped_and_recovers_after_a_redis_restart() {
    init_crypto();
    let dir = temp_dir();
    let prod = Production::new().await;
    let hub = start(&["all"], &prod.env(), &dir.0).await;
    assert_eq!(get(&hub.url("/readyz")).await.0, 200);

    let _guard = RedisGuard;
    stop_redis();
    let body = wait_until(
        "readyz to report Redis down",
        Duration::from_secs(20),
        || async {
            let (status, body) = get(&hub.url("/readyz")).await;
            (status == 503).then_some(body)
        },
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let failing: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failing,
        ["state"],
        "only the stopped backend is named: {body}"
    );
    for check in v["checks"].as_array().unwrap() {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["name", "ok"],
            "a check shows its name and outcome, never the backend's error text: {body}"
        );
    }
    assert!(!body.contains("6379"), "no address of Redis: {body}");

    start_redis();
    wait_until(
        "readyz to recover after Redis is back",
        Duration::from_secs(30),
        || async { (get(&hub.url("/readyz")).await.0 == 200).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_malformed_config_file_exits_non_zero_with_one_line_naming_it() {
    let dir = temp_dir();
    let file = dir.0.join("bad.toml");
    std::fs::write(&file, "[bus\nprefetch = ").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--config", file.to_str().unwrap(), "all"])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line, no backtrace: {stderr}"
    );
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_wrongly_typed_environment_variable_names_its_key() {
    let dir = temp_dir();
    let out = std::process::Command::new(BIN)
        .arg("all")
        .env("SETHUB_BUS__PREFETCH", "lots")
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("PREFETCH") || stderr.contains("prefetch"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn an_unreachable_backend_at_start_exits_non_zero_with_one_line_naming_it() {
    let dir = temp_dir();
    let prod = Production::new().await;
    let mut env = prod.env();
    env.insert(
        "SETHUB_BUS__URL".to_owned(),
        "amqp://guest:guest@127.0.0.1:1/%2f".to_owned(),
    );
    let failure = match SethubProcess::start(Path::new(BIN), &["all"], &env, &dir.0).await {
        Ok(_) => panic!("it must not start without its bus"),
        Err(f) => f,
    };
    assert_eq!(failure.status, Some(1));
    let lines: Vec<&str> = failure
        .stderr
        .lines()
        .filter(|l| l.starts_with("sethub: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "{failure:?}");
    assert!(
        lines[0].contains("RabbitMQ") && lines[0].contains("127.0.0.1:1"),
        "{failure:?}"
    );
    assert!(!failure.stderr.contains("panicked"), "{failure:?}");
}

#[tokio::test]
async fn a_single_service_without_shared_backends_is_refused_with_what_to_set() {
    let dir = temp_dir();
    let out = std::process::Command::new(BIN)
        .arg("fanout")
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("bus.url") && stderr.contains("sethub all"),
        "{stderr}"
    );
}
