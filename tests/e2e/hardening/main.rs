//! Hardening, end to end over the real binary and the production backends: random requests
//! to every route of every service never get a 5xx other than 503 nor a dropped connection,
//! and never grow `/metrics`; a schema-driven run of the served OpenAPI (schemathesis) finds no
//! server error; a service refuses to run as the owner of its tables.

#![allow(
    clippy::disallowed_methods,
    reason = "the test's own client sends to the hub under test on loopback, not on a tenant's behalf"
)]
#![allow(clippy::unwrap_used)]

mod fuzz;
mod routes;
mod schemathesis;
mod session;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sethub_tests::backends::Production;
use sethub_tests::setup::Hub;
use sethub_tests::{init_crypto, random_suffix};

use fuzz::{Fuzzer, MARK, Planned};
use routes::Service;

const BIN: &str = env!("CARGO_BIN_EXE_sethub");

/// Requests in all (a few thousand, well under a minute in a debug build).
const REQUESTS: usize = 5000;

/// The production backends with short long-polls (a random poll may ask to wait).
fn env(prod: &Production) -> BTreeMap<String, String> {
    let mut env = prod.env();
    env.insert("SETHUB_POLL__DEFAULT_WAIT_SECS".into(), "1".into());
    env.insert("SETHUB_POLL__MAX_WAIT_SECS".into(), "1".into());
    env
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sethub-hardening-{}", random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// What a request got: its status, or why it got none.
async fn send(client: &reqwest::Client, base: &str, p: &Planned) -> Result<u16, String> {
    let method = reqwest::Method::from_bytes(p.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client
        .request(method, format!("{base}{}", p.path_and_query))
        .body(p.body.clone());
    for (k, v) in &p.headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    resp.bytes()
        .await
        .map_err(|e| format!("reading the body: {e:?}"))?;
    Ok(status)
}

/// The `sethub_http_*` series of a process's `/metrics`: (lines, bytes).
async fn http_series(client: &reqwest::Client, base: &str) -> (Vec<String>, usize) {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = text
        .lines()
        .filter(|l| l.starts_with("sethub_http_"))
        .map(str::to_owned)
        .collect();
    (lines, text.len())
}

fn label<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + line[start..].find('"')?;
    Some(&line[start..end])
}

#[tokio::test]
async fn random_requests_to_every_route_of_every_service_never_get_a_server_error_nor_grow_metrics()
{
    init_crypto();
    let dir = temp_dir();
    let prod = Production::new().await;
    let hub = Hub::start_split(Path::new(BIN), &env(&prod), &dir)
        .await
        .unwrap();
    let known = session::known(&hub, Path::new(BIN)).await;
    let client = client();
    let openapi: serde_json::Value = client
        .get(format!("{}/api/v1/openapi.json", hub.manage_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let routes = routes::all(&openapi);
    let bases: Vec<String> = hub
        .processes
        .iter()
        .map(|(_, p)| p.base_url.clone())
        .collect();
    let base_of = |service: Service, pick: usize| match service {
        Service::Manage => hub.manage_url.clone(),
        Service::Ingest => hub.ingest_url.clone(),
        Service::Fanout => hub.process("fanout").unwrap().base_url.clone(),
        Service::Each => bases[pick % bases.len()].clone(),
    };

    let seed: u64 = std::env::var("SETHUB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("seed {seed} (set SETHUB_FUZZ_SEED={seed} to replay)");
    let mut fuzzer = Fuzzer::new(seed, known);
    let mut pick = rand::rngs::StdRng::seed_from_u64(seed);
    // Every route with each of its methods first, every query parameter with integers out
    // of range, then random routes.
    let mut plan: Vec<(String, Planned)> = Vec::new();
    for route in &routes {
        for p in fuzzer.query_sweep(route) {
            plan.push((base_of(p.service, plan.len()), p));
        }
        for _ in 0..route.methods.len().max(1) * 2 {
            let p = fuzzer.request(route);
            plan.push((base_of(p.service, plan.len()), p));
        }
    }
    while plan.len() < REQUESTS {
        let route = routes.choose(&mut pick).unwrap();
        let p = fuzzer.request(route);
        plan.push((base_of(p.service, plan.len()), p));
    }

    let started = Instant::now();
    let outcomes: Vec<(String, Planned, Result<u16, String>)> =
        futures_util::stream::iter(plan.into_iter().map(|(base, p)| {
            let client = client.clone();
            async move {
                let got = send(&client, &base, &p).await;
                (base, p, got)
            }
        }))
        .buffer_unordered(8)
        .collect()
        .await;
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|(_, _, got)| !matches!(got, Ok(s) if *s < 500 || *s == 503))
        .map(|(base, p, got)| format!("{got:?} for {p} at {base}"))
        .collect();
    println!(
        "{} requests in {:?}; statuses {:?}",
        outcomes.len(),
        started.elapsed(),
        outcomes
            .iter()
            .filter_map(|(_, _, g)| g.as_ref().ok())
            .fold(BTreeMap::<u16, usize>::new(), |mut m, s| {
                *m.entry(*s).or_default() += 1;
                m
            })
    );
    assert!(
        failures.is_empty(),
        "seed {seed}: {} server errors or dropped connections, first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Every label of every process's request metrics comes from a bounded set.
    for base in &bases {
        let (lines, bytes) = http_series(&client, base).await;
        assert!(bytes < 2 << 20, "{base}/metrics is {bytes} bytes");
        for line in &lines {
            if let Some(method) = label(line, "method") {
                assert!(
                    [
                        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT",
                        "TRACE", "OTHER"
                    ]
                    .contains(&method),
                    "{line}"
                );
            }
            if let Some(route) = label(line, "route") {
                assert!(!route.contains(MARK), "a raw path became a label: {line}");
            }
            if let Some(status) = label(line, "status") {
                assert!(
                    status.len() == 3 && status.is_ascii() && !status.ends_with('x')
                        || ["1xx", "2xx", "3xx", "4xx", "5xx", "other"].contains(&status),
                    "{line}"
                );
            }
        }
        // Made-up methods on random paths add nothing after the first.
        send(&client, base, &fuzzer.probe()).await.unwrap();
        let (before, _) = http_series(&client, base).await;
        for _ in 0..200 {
            send(&client, base, &fuzzer.probe()).await.unwrap();
        }
        let (after, _) = http_series(&client, base).await;
        assert_eq!(
            before.len(),
            after.len(),
            "{base}: 200 made-up methods added series"
        );
    }
}

#[tokio::test]
async fn a_schema_driven_run_of_the_served_openapi_passes_every_schemathesis_check() {
    let Some(python) = schemathesis::python() else {
        return;
    };
    init_crypto();
    let dir = temp_dir();
    let prod = Production::new().await;
    let hub = Hub::start_all(Path::new(BIN), &env(&prod), &dir)
        .await
        .unwrap();
    let known = session::known(&hub, Path::new(BIN)).await;
    schemathesis::run(
        &python,
        &hub.manage_url,
        &known.api_key,
        &known.ids[0],
        &dir,
    )
    .await;
}

#[tokio::test]
async fn a_service_whose_database_role_owns_the_tables_refuses_to_start_naming_the_migration_url() {
    let dir = temp_dir();
    let prod = Production::new().await;
    let mut env = env(&prod);
    let owner = env["SETHUB_DATABASE__MIGRATE_URL"].clone();
    env.insert("SETHUB_DATABASE__URL".to_owned(), owner);
    env.remove("SETHUB_DATABASE__MIGRATE_URL");
    let failure =
        match sethub_tests::SethubProcess::start(Path::new(BIN), &["all"], &env, &dir).await {
            Ok(_) => panic!("it must not serve as the owner of its tables"),
            Err(f) => f,
        };
    assert_eq!(failure.status, Some(1), "{failure:?}");
    let lines: Vec<&str> = failure
        .stderr
        .lines()
        .filter(|l| l.starts_with("sethub: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "{failure:?}");
    assert!(
        lines[0].contains("sethub_owner") && lines[0].contains("database.migrate_url"),
        "{failure:?}"
    );
}
