//! The README's receiver walkthrough, run exactly as written against a real `sethub all` over
//! PostgreSQL, RabbitMQ and Redis, with the real `sethub` binary as the admin CLI. (The same
//! walkthrough through the nginx router in front of three processes is in `router.rs`.)

#![allow(clippy::unwrap_used)]

use std::path::Path;

use sethub_tests::backends::Production;
use sethub_tests::setup::run_readme_walkthrough;
use sethub_tests::{SethubProcess, init_crypto, random_suffix};

const BIN: &str = env!("CARGO_BIN_EXE_sethub");

#[tokio::test]
async fn the_readme_walkthrough_runs_with_only_curl_against_a_production_hub() {
    init_crypto();
    let dir = std::env::temp_dir().join(format!("sethub-walk-{}", random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let prod = Production::new().await;
    let env = prod.env();
    let hub = SethubProcess::start(Path::new(BIN), &["all"], &env, &dir)
        .await
        .unwrap_or_else(|f| panic!("{f:?}"));
    if let Err(story) = run_readme_walkthrough(Path::new(BIN), &env, &hub.base_url, &dir).await {
        panic!("{story}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
