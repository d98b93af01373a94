//! The README's receiver walkthrough, run exactly as written against a real `sethub all` over
//! PostgreSQL, RabbitMQ and Redis, with the real `sethub` binary as the admin CLI. (The same
//! walkthrough through the nginx router in front of three processes is in `router.rs`.)

#![allow(clippy::unwrap_used)]

use std::path::Path;

use sethub_tests::backends::Production;
use sethub_tests::setup::run_readme_walkthrough;
use sethub_tests::tls::TestCa;
use sethub_tests::{SethubProcess, init_crypto, random_suffix};

const BIN: &str = env!("CARGO_BIN_EXE_sethub");

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
    if let Err(story) = run_readme_walkthrough(Path::new(BIN), &env, &hub.base_url, &dir).await {
        panic!("{story}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
