//! The README's receiver walkthrough, run exactly as written against a real `sethub all` over
//! PostgreSQL, RabbitMQ and Redis, with the real `sethub` binary as the admin CLI.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

use std::path::Path;

use sethub_tests::backends::Production;
use sethub_tests::tls::TestCa;
use sethub_tests::{SethubProcess, init_crypto, random_suffix};

const BIN: &str = env!("CARGO_BIN_EXE_sethub");

/// The shell block between the walkthrough markers of README.md.
fn walkthrough_script() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let block = readme
        .split("<!-- walkthrough:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- walkthrough:end -->").next())
        .expect("README.md has the walkthrough markers");
    block
        .trim()
        .trim_start_matches("```sh")
        .trim_end_matches("```")
        .to_owned()
}

#[tokio::test]
async fn the_readme_walkthrough_runs_with_only_curl_against_a_production_hub() {
    run_walkthrough(false).await;
}

/// The same walkthrough against a hub serving TLS itself (`server.tls`), with curl trusting
/// the test's CA (`CURL_CA_BUNDLE`).
#[tokio::test]
async fn the_readme_walkthrough_runs_with_only_curl_against_a_production_hub_over_tls() {
    run_walkthrough(true).await;
}

async fn run_walkthrough(tls: bool) {
    init_crypto();
    let dir = std::env::temp_dir().join(format!("sethub-walk-{}", random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let prod = Production::new().await;
    let mut env = prod.env();
    if tls {
        let ca = TestCa::new("walkthrough CA");
        let (cert, key) = ca.leaf().write(&dir);
        env.insert(
            "SETHUB_SERVER__TLS__CERT".to_owned(),
            cert.display().to_string(),
        );
        env.insert(
            "SETHUB_SERVER__TLS__KEY".to_owned(),
            key.display().to_string(),
        );
        env.insert(
            "CURL_CA_BUNDLE".to_owned(),
            ca.write_ca(&dir).display().to_string(),
        );
    }
    let hub = SethubProcess::start(Path::new(BIN), &["all"], &env, &dir)
        .await
        .unwrap_or_else(|f| panic!("{f:?}"));
    assert_eq!(
        hub.base_url.starts_with("https://"),
        tls,
        "{}",
        hub.base_url
    );

    let script = format!("set -euo pipefail\n{}", walkthrough_script());
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .envs(&env)
        .env("SETHUB_SERVER__PUBLIC_URL", &hub.base_url)
        .env("HUB", &hub.base_url)
        .env("PUSH_URL", "http://127.0.0.1:9/events")
        .env("PATH", path)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the walkthrough failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.trim_end().ends_with("walkthrough complete"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
