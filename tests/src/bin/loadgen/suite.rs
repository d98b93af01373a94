//! Mode `suite` (and `noisy`, `poll`, `--soak`): the method of the team's benchmarking notes
//! in one invocation — setup, warm-up, `--rounds` rounds of the chosen scenarios on one
//! database, a JSON line per scenario run and a summary line at the end.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sethub_tests::random_suffix;
use sethub_tests::setup::Publisher;

use crate::hub::{self, HubOptions, Running};
use crate::noisy::{self, Noise};
use crate::pollrun::{self, PollTarget};
use crate::preload::{self, Owner};
use crate::sample::Sampler;
use crate::scenario::{Bench, Load, Target};
use crate::sink::Sink;
use crate::{emit, say};

/// Scenario names, in the order of the notes.
pub(crate) const SCENARIOS: [&str; 6] = ["a", "b", "c", "c1000", "poll", "noisy"];

/// What the suite runs; the defaults are the benchmarking notes'.
#[derive(Clone, Debug)]
pub(crate) struct SuiteConfig {
    pub(crate) rounds: usize,
    pub(crate) scenarios: Vec<String>,
    pub(crate) events_a: usize,
    pub(crate) concurrency_a: usize,
    pub(crate) events_b: usize,
    pub(crate) concurrency_b: usize,
    pub(crate) duration_c: Duration,
    pub(crate) rate_c: f64,
    pub(crate) rate_c1000: f64,
    pub(crate) warmup_single: usize,
    pub(crate) warmup_ten: usize,
    pub(crate) poll_sets: usize,
    pub(crate) poll_max_events: Vec<usize>,
    pub(crate) verify_poll: bool,
    pub(crate) wake_rounds: usize,
    pub(crate) noise: Noise,
    pub(crate) soak: Option<usize>,
    pub(crate) preload: Option<u64>,
    pub(crate) preload_tenants: usize,
    pub(crate) preload_workers: usize,
    pub(crate) idle: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) receiver_workers: usize,
}

impl SuiteConfig {
    fn wants(&self, name: &str) -> bool {
        self.soak.is_some() && name == "a" || self.scenarios.iter().any(|s| s == name)
    }

    /// The runs in order: `(round, scenario)`.
    fn plan(&self) -> Vec<(usize, String)> {
        match self.soak {
            Some(n) => (1..=n).map(|i| (i, "a".to_owned())).collect(),
            None => (1..=self.rounds)
                .flat_map(|r| self.scenarios.iter().map(move |s| (r, s.clone())))
                .collect(),
        }
    }
}

/// Checks the scenario names.
pub(crate) fn check_scenarios(names: &[String]) -> anyhow::Result<()> {
    for name in names {
        if !SCENARIOS.contains(&name.as_str()) {
            bail!(
                "unknown scenario `{name}` (one of {})",
                SCENARIOS.join(", ")
            );
        }
    }
    Ok(())
}

/// The tenants the scenarios publish to.
struct Tenants {
    single: Option<Target>,
    ten: Option<Target>,
    quiet: Option<Target>,
    poll: Option<PollTarget>,
    /// `(tenant id, stream ids)` of the measured push tenants, for the preload.
    owners: Vec<(String, Vec<String>)>,
}

async fn push_tenant(
    running: &Running,
    bin: &Path,
    sink: &Sink,
    name: &str,
    first: u32,
    count: u32,
) -> anyhow::Result<(Target, String, Vec<String>)> {
    let slug = format!("{name}-{}", random_suffix());
    let endpoints: Vec<String> = (first..first + count).map(|i| sink.url(i)).collect();
    let t = hub::tenant_with_push_streams(running, bin, &slug, &endpoints).await?;
    say(&format!(
        "tenant {slug}: {count} push stream(s) to {}",
        sink.url(first)
    ));
    let publisher = Publisher::new(&running.hub.ingest_url, &slug, &t.tenant.api_key)?;
    Ok((
        Target {
            publisher,
            first_stream: first,
            streams: count,
        },
        t.tenant.tenant_id,
        t.streams,
    ))
}

async fn make_tenants(
    cfg: &SuiteConfig,
    running: &Running,
    bin: &Path,
    sink: &Sink,
) -> anyhow::Result<Tenants> {
    let mut tenants = Tenants {
        single: None,
        ten: None,
        quiet: None,
        poll: None,
        owners: Vec::new(),
    };
    let push = ["a", "b", "c", "c1000"].iter().any(|s| cfg.wants(s));
    if push {
        let (single, id, streams) = push_tenant(running, bin, sink, "single", 0, 1).await?;
        tenants.single = Some(single);
        tenants.owners.push((id, streams));
        let (ten, id, streams) = push_tenant(running, bin, sink, "ten", 1, 10).await?;
        tenants.ten = Some(ten);
        tenants.owners.push((id, streams));
    }
    if cfg.wants("noisy") {
        let (quiet, id, streams) = push_tenant(running, bin, sink, "quiet", 11, 1).await?;
        tenants.quiet = Some(quiet);
        tenants.owners.push((id, streams));
    }
    if cfg.wants("poll") {
        let slug = format!("poll-{}", random_suffix());
        let t = hub::tenant_with_push_streams(running, bin, &slug, &[]).await?;
        let (endpoint, stream_url) = hub::poll_stream(running, &slug, &t.token).await?;
        say(&format!("tenant {slug}: one poll stream at {endpoint}"));
        tenants.poll = Some(PollTarget {
            publisher: Publisher::new(&running.hub.ingest_url, &slug, &t.tenant.api_key)?,
            api_key: t.tenant.api_key.clone(),
            jwks_uri: running.hub.jwks_url(&slug),
            issuer: t.tenant.issuer.clone(),
            token: t.token,
            endpoint,
            stream_url,
        });
    }
    Ok(tenants)
}

/// Extra tenants with five streams each, then the rows: 80 % theirs, 20 % the measured
/// tenants'.
async fn preload_rows(
    cfg: &SuiteConfig,
    running: &Running,
    bin: &Path,
    sink: &Sink,
    tenants: &Tenants,
    n: u64,
) -> anyhow::Result<Value> {
    let database = running
        .production
        .as_ref()
        .and_then(|p| p.db.database_name())
        .context("--preload-deliveries needs PostgreSQL (not --embedded)")?
        .to_owned();
    let extras = cfg.preload_tenants.max(1) as u64;
    let measured = tenants.owners.len() as u64;
    let own_share = if measured == 0 { 0 } else { n / 5 };
    let mut owners = Vec::new();
    for i in 0..extras {
        let first = 100 + 5 * i as u32;
        let (_, id, streams) = push_tenant(running, bin, sink, "history", first, 5).await?;
        let share = (n - own_share) / extras + u64::from(i < (n - own_share) % extras);
        owners.push(Owner {
            tenant_id: id,
            streams,
            deliveries: share,
            pending: true,
        });
    }
    for (i, (id, streams)) in tenants.owners.iter().enumerate() {
        let share = own_share / measured + u64::from((i as u64) < own_share % measured);
        owners.push(Owner {
            tenant_id: id.clone(),
            streams: streams.clone(),
            deliveries: share,
            pending: false,
        });
    }
    // The due pending rows are pushed (or given up) by fan-out, from the first chunk on: let
    // that settle before the warm-up.
    let (_, before) = sink.strays();
    let mut report = preload::preload(&database, &owners, cfg.preload_workers).await?;
    let mut last = (before, tokio::time::Instant::now());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while tokio::time::Instant::now() < deadline && last.1.elapsed() < Duration::from_secs(25) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, now) = sink.strays();
        if now != last.0 {
            last = (now, tokio::time::Instant::now());
        }
    }
    report["pending_pushed"] = json!(sink.strays().1 - before);
    Ok(report)
}

/// Runs the suite; `Ok(true)` when every run was complete.
pub(crate) async fn run(cfg: SuiteConfig, hub_options: HubOptions<'_>) -> anyhow::Result<bool> {
    let bin = hub_options.bin;
    let embedded = hub_options.embedded;
    let running = hub::start(hub_options).await?;
    let result = run_on(&cfg, &running, bin, embedded).await;
    running.shut_down().await;
    result
}

async fn run_on(
    cfg: &SuiteConfig,
    running: &Running,
    bin: &Path,
    embedded: bool,
) -> anyhow::Result<bool> {
    let sink = Sink::start(202, cfg.receiver_workers)?;
    let failing = if cfg.wants("noisy") {
        Some(Sink::start(503, 1)?)
    } else {
        None
    };
    let database = running
        .production
        .as_ref()
        .and_then(|p| p.db.database_name())
        .map(str::to_owned);
    let tenants = make_tenants(cfg, running, bin, &sink).await?;
    let preloaded = match cfg.preload {
        Some(n) if n > 0 => Some(preload_rows(cfg, running, bin, &sink, &tenants, n).await?),
        _ => None,
    };
    if let Some(p) = &preloaded {
        emit(&json!({"preload": p}));
    }
    let sampler = Sampler::new(running.pids(), database);
    let bench = Bench::new(sink, sampler, cfg.idle, cfg.max_in_flight);

    // Warm-up: not reported beyond a line on stderr.
    let warm = [
        (&tenants.single, cfg.warmup_single, "warm-up single"),
        (&tenants.ten, cfg.warmup_ten, "warm-up ten"),
        (&tenants.quiet, 20, "warm-up quiet"),
    ];
    for (target, events, name) in warm {
        if let (Some(target), true) = (target, events > 0) {
            let load = Load::Closed {
                events,
                concurrency: 8,
            };
            let r = bench.run(name, target, load).await?;
            say(&format!(
                "{name}: {} of {} SETs, p50 {} ms",
                r["delivered_sets"], r["expected_sets"], r["latency_ms"]["p50"]
            ));
        }
    }

    let mut runs: Vec<Value> = Vec::new();
    for (round, name) in cfg.plan() {
        let mut reports = Vec::new();
        match name.as_str() {
            "a" | "b" | "c" | "c1000" => {
                let (target, load) = match name.as_str() {
                    "a" => (
                        &tenants.single,
                        Load::Closed {
                            events: cfg.events_a,
                            concurrency: cfg.concurrency_a,
                        },
                    ),
                    "b" => (
                        &tenants.ten,
                        Load::Closed {
                            events: cfg.events_b,
                            concurrency: cfg.concurrency_b,
                        },
                    ),
                    "c" => (
                        &tenants.single,
                        Load::Open {
                            rate: cfg.rate_c,
                            duration: cfg.duration_c,
                        },
                    ),
                    _ => (
                        &tenants.single,
                        Load::Open {
                            rate: cfg.rate_c1000,
                            duration: cfg.duration_c,
                        },
                    ),
                };
                let target = target.as_ref().context("no tenant for the scenario")?;
                reports.push(bench.run(&name, target, load).await?);
            }
            "poll" => {
                let target = tenants.poll.as_ref().context("no poll tenant")?;
                for max in &cfg.poll_max_events {
                    reports.push(
                        pollrun::fill_and_drain(
                            target,
                            &bench.sampler,
                            cfg.poll_sets,
                            *max,
                            cfg.verify_poll,
                            cfg.timeout,
                        )
                        .await?,
                    );
                }
            }
            "noisy" => {
                let quiet = tenants.quiet.as_ref().context("no quiet tenant")?;
                let failing = failing.as_ref().context("no failing receiver")?;
                reports.push(noisy::run(&bench, running, bin, quiet, failing, cfg.noise).await?);
            }
            other => bail!("unknown scenario `{other}`"),
        }
        for mut report in reports {
            report["round"] = json!(round);
            emit(&report);
            runs.push(report);
        }
    }
    if let (Some(poll), true) = (&tenants.poll, cfg.wake_rounds > 0) {
        let metrics = format!("{}/metrics", running.fanout_url());
        let wake = crate::poll::wake_latency(
            &poll.token,
            &poll.endpoint,
            &metrics,
            &format!(
                "{}/t/{}/events",
                running.hub.ingest_url,
                slug_of(&poll.issuer)
            ),
            &poll.api_key,
            cfg.wake_rounds,
        )
        .await?;
        emit(&json!({"scenario": "poll-wake", "long_poll_wake": wake}));
    }

    let complete = runs.iter().all(|r| r["complete"] == true);
    let mut summary = json!({
        "summary": crate::summary::rounds(&runs),
        "rounds": if cfg.soak.is_some() { 1 } else { cfg.rounds },
        "scenarios": cfg.scenarios,
        "backends": if embedded { "embedded" } else { "production" },
        "processes": running.pids().iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
        "preload": preloaded,
        "complete": complete,
    });
    if cfg.soak.is_some() {
        summary["scenarios"] = json!(["a"]);
        summary["soak"] = crate::summary::first_vs_last(&runs);
    }
    emit(&summary);
    Ok(complete)
}

/// The tenant slug at the end of an issuer (`{public}/t/{slug}`).
fn slug_of(issuer: &str) -> &str {
    issuer.rsplit('/').next().unwrap_or_default()
}
