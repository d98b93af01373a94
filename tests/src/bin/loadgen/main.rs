//! `sethub-loadgen`: drives a real hub with events and measures what comes out.
//!
//! It starts the hub itself, from the `sethub` binary given with `--bin` (default: the
//! `sethub` next to this executable):
//!
//! - production (default): a fresh PostgreSQL database (as `TestDb::postgres()` makes them:
//!   `sethub_test_*`, owned by `sethub_app`, dropped at the end), RabbitMQ and Redis on
//!   127.0.0.1 under a random prefix (its queues deleted at the end with `rabbitmqctl`, when
//!   there is one), and three processes `sethub manage`, `sethub ingest`,
//!   `sethub fanout`, all with the manage URL as public URL;
//! - `--embedded`: one `sethub all` over SQLite, the in-process bus and in-memory state.
//!
//! The tenant's ingest rate limit is lifted (`SETHUB_INGEST__RATE_PER_SECOND`, `…__BURST`;
//! `--env KEY=VALUE` overrides any variable of the processes). It creates a tenant with the
//! admin CLI, and, except in mode `ingest`, a receiver and `--streams` push streams to a
//! built-in verifying [`TestReceiver`] (one path per stream). Then `--concurrency`
//! publishers send `--events` CAEP session-revoked events, one per request or `--batch` per
//! request, at `--rate` events/s (0: as fast as they are accepted), and it waits until every
//! stream got a SET of every accepted event (`txn` = the event id), or `--timeout` passes, or
//! no SET arrives for `--idle-timeout` (so a hub without delivery ends with a clear message
//! instead of hanging).
//!
//! Modes: `ingest` (no streams; measures accepted events/s), `fanout` (throughput of
//! delivery; defaults 10 streams, as fast as possible), `latency` (end-to-end latency at a
//! light fixed load; defaults 1 stream, 50 events/s, 1000 events, concurrency 4), `poll`
//! (one poll stream filled by the publish, then drained `--max-events` at a time with
//! acknowledgements: the drain rate in SETs/s, every SET verified against the JWKS).
//!
//! Progress goes to stderr once a second; the final report is one JSON object on stdout:
//! `accepted_events_per_s`, `delivered_sets_per_s`, `e2e_latency_ms {p50,p95,p99,max}`
//! (from the send time of the publish request to the SET's arrival at the receiver, which
//! answers 202), `publish_latency_ms`, `peak_rss_mb` per process (VmHWM), `cpu_s` per
//! process, the machine's busy CPU share while publishing (PostgreSQL, RabbitMQ and Redis
//! share the machine), and `errors` (publish failures by status, invalid SETs, missing SETs,
//! duplicates, SETs of no published event, SETs without the stream's `Authorization`).
//! Exit code 0 when every event was accepted and every expected SET arrived, 1 otherwise
//! (the report says what is missing), 2 when the run could not be set up.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use sethub_tests::backends::Production;
use sethub_tests::setup::{self, Hub, Publisher, SESSION_REVOKED};
use sethub_tests::{TestReceiver, init_crypto, random_suffix};

mod delivery;
mod measure;
mod poll;
mod publish;
use delivery::wait_for_delivery;
use measure::{busy_pct, cpu_seconds, host_cpu, peak_rss_mb, percentiles, round};
use poll::{poll_drain, wait_queued, wake_latency};
use publish::{Progress, join_publishers, publisher_task};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Publish only: accepted events per second.
    Ingest,
    /// Publish to N push streams: delivered SETs per second and latency under load.
    Fanout,
    /// A light fixed rate to one stream: end-to-end latency.
    Latency,
    /// Publish to one poll stream, then drain it (`--max-events` per poll, acknowledging
    /// each batch in the next poll): poll drain rate in SETs per second.
    Poll,
}

#[derive(Debug, Parser)]
#[command(
    name = "sethub-loadgen",
    about = "Load generator for sethub (see the module docs)"
)]
struct Args {
    /// The sethub binary (default: `sethub` beside this executable, or SETHUB_BIN).
    #[arg(long = "bin")]
    bin: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "fanout")]
    mode: Mode,
    /// Push streams (mode fanout: 10, latency: 1; ingest: none).
    #[arg(long)]
    streams: Option<usize>,
    /// Events to publish (default 10000; latency: 1000).
    #[arg(long)]
    events: Option<usize>,
    /// Events per second; 0 = as fast as they are accepted (default 0; latency: 50).
    #[arg(long)]
    rate: Option<f64>,
    /// Concurrent publishers (default 32; latency: 4).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Events per batch request; 0 = one event per request.
    #[arg(long, default_value_t = 0)]
    batch: usize,
    /// One `sethub all` over SQLite and in-process backends instead of the production ones.
    #[arg(long)]
    embedded: bool,
    /// Production: do not start `sethub fanout` (ingest alone, or to see the report of a hub
    /// that delivers nothing).
    #[arg(long, conflicts_with = "embedded")]
    without_fanout: bool,
    /// Longest wait for delivery after publishing, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Give up when no SET arrived for this many seconds.
    #[arg(long, default_value_t = 15)]
    idle_timeout: u64,
    /// Do not verify SETs at the receiver (only decode them).
    #[arg(long)]
    no_verify: bool,
    /// Worker threads of the built-in receiver.
    #[arg(long, default_value_t = 2)]
    receiver_workers: usize,
    /// Mode poll: `maxEvents` of each poll.
    #[arg(long, default_value_t = 100)]
    max_events: usize,
    /// Extra environment for the sethub processes, KEY=VALUE (repeatable).
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got `{s}`"))
}

/// The run's parameters once the mode's defaults are applied.
#[derive(Clone, Debug)]
struct Plan {
    mode: Mode,
    streams: usize,
    events: usize,
    rate: f64,
    concurrency: usize,
    batch: usize,
}

impl Plan {
    fn from(args: &Args) -> Self {
        let latency = args.mode == Mode::Latency;
        Self {
            mode: args.mode,
            streams: match args.mode {
                Mode::Ingest | Mode::Poll => 0,
                Mode::Fanout => args.streams.unwrap_or(10),
                Mode::Latency => args.streams.unwrap_or(1),
            },
            events: args.events.unwrap_or(if latency { 1000 } else { 10_000 }),
            rate: args.rate.unwrap_or(if latency { 50.0 } else { 0.0 }),
            concurrency: args
                .concurrency
                .unwrap_or(if latency { 4 } else { 32 })
                .max(1),
            batch: args.batch,
        }
    }

    /// Events per request.
    fn per_request(&self) -> usize {
        self.batch.max(1)
    }

    fn requests(&self) -> usize {
        self.events.div_ceil(self.per_request())
    }
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("sethub-loadgen: cannot start a runtime: {e}");
            std::process::exit(2)
        });
    let code = runtime.block_on(async {
        match run(args).await {
            Ok((report, complete)) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
                if complete { 0 } else { 1 }
            }
            Err(e) => {
                eprintln!("sethub-loadgen: {e:#}");
                2
            }
        }
    });
    drop(runtime);
    std::process::exit(code);
}

fn say(msg: &str) {
    eprintln!("[loadgen] {msg}");
}

fn default_binary() -> Option<PathBuf> {
    setup::find_sethub_binary()
}

async fn run(args: Args) -> anyhow::Result<(Value, bool)> {
    init_crypto();
    let plan = Arc::new(Plan::from(&args));
    let bin = args
        .bin
        .clone()
        .or_else(default_binary)
        .context("no sethub binary: pass --bin PATH (cargo build --release -p sethub)")?;
    if !bin.is_file() {
        bail!("{} is not a file", bin.display());
    }
    let workdir = std::env::temp_dir().join(format!("sethub-loadgen-{}", random_suffix()));
    std::fs::create_dir_all(&workdir)
        .with_context(|| format!("cannot create {}", workdir.display()))?;
    let result = run_in(&args, plan, &bin, &workdir).await;
    let _ = std::fs::remove_dir_all(&workdir);
    result
}

async fn run_in(
    args: &Args,
    plan: Arc<Plan>,
    bin: &Path,
    workdir: &Path,
) -> anyhow::Result<(Value, bool)> {
    // Backends and processes.
    let production = if args.embedded {
        None
    } else {
        say("creating a PostgreSQL database; RabbitMQ and Redis under a random prefix");
        let db = sethub_store::testing::TestDb::try_postgres()
            .await
            .map_err(|e| anyhow::anyhow!("cannot create a PostgreSQL database: {e}"))?;
        Some(Production {
            db,
            prefix: format!("t{}", random_suffix()),
        })
    };
    let mut env = match &production {
        Some(p) => p.env(),
        None => BTreeMap::from([
            (
                "SETHUB_DATA_DIR".to_owned(),
                workdir.join("data").display().to_string(),
            ),
            (
                "SETHUB_PUSH__ALLOW_PRIVATE_TARGETS".to_owned(),
                "true".to_owned(),
            ),
            ("SETHUB_PUSH__ALLOW_HTTP".to_owned(), "true".to_owned()),
        ]),
    };
    env.insert("SETHUB_INGEST__RATE_PER_SECOND".into(), "1000000".into());
    env.insert("SETHUB_INGEST__BURST".into(), "1000000".into());
    env.extend(args.env.iter().cloned());
    let hub = if args.embedded {
        say(&format!("starting `{} all` (embedded)", bin.display()));
        Hub::start_all(bin, &env, workdir).await?
    } else {
        say(&format!(
            "starting `{0} manage`, `{0} ingest`{1}",
            bin.display(),
            if args.without_fanout {
                " (no fanout)".to_owned()
            } else {
                format!(", `{} fanout`", bin.display())
            }
        ));
        let others: &[&str] = if args.without_fanout {
            &["ingest"]
        } else {
            &["ingest", "fanout"]
        };
        Hub::start_services(bin, &env, workdir, others).await?
    };
    say(&format!(
        "hub: public/manage {}, ingest {}",
        hub.public_url, hub.ingest_url
    ));

    // Tenant, receiver, streams.
    let slug = format!("load-{}", random_suffix());
    let tenant = setup::create_tenant(bin, &hub.env, &slug).await?;
    let receiver = if plan.streams > 0 {
        let meta = setup::metadata(&hub.manage_url, &slug).await?;
        let jwks_uri = meta["jwks_uri"].as_str().unwrap_or_default().to_owned();
        let receiver = TestReceiver::builder(jwks_uri, tenant.issuer.clone())
            .verify(!args.no_verify)
            .workers(args.receiver_workers)
            .start()
            .await;
        let creds = setup::create_receiver(bin, &hub.env, &slug, "loadgen").await?;
        let token = setup::token(&creds).await?;
        for i in 0..plan.streams {
            setup::create_push_stream(
                &hub.manage_url,
                &slug,
                &token,
                &receiver.url(&format!("/s/{i}")),
                Some(&format!("Bearer loadgen-{i}")),
                &[SESSION_REVOKED],
            )
            .await
            .with_context(|| format!("creating stream {i}"))?;
        }
        say(&format!(
            "tenant {slug}: {} push streams to {}",
            plan.streams,
            receiver.url("/s/*")
        ));
        Some(receiver)
    } else {
        say(&format!("tenant {slug}: no streams (mode ingest)"));
        None
    };

    // Mode poll: one poll stream (before publishing, so that every event is queued on it).
    let poll_target = if plan.mode == Mode::Poll {
        let creds = setup::create_receiver(bin, &hub.env, &slug, "loadgen-poll").await?;
        let token = setup::token(&creds).await?;
        let meta = setup::metadata(&hub.manage_url, &slug).await?;
        let config: Value = reqwest::Client::new()
            .post(meta["configuration_endpoint"].as_str().unwrap_or_default())
            .bearer_auth(&token)
            .json(&json!({"events_requested": [SESSION_REVOKED]}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let endpoint = config["delivery"]["endpoint_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // The poll path is served by fan-out (its own port when the services run apart).
        let fanout = hub
            .process("fanout")
            .or_else(|| hub.process("all"))
            .map(|p| p.base_url.clone())
            .unwrap_or_default();
        let endpoint = endpoint.replacen(&hub.public_url, &fanout, 1);
        say(&format!("tenant {slug}: one poll stream at {endpoint}"));
        let stream_url = format!(
            "{}/api/v1/streams/{}",
            hub.manage_url,
            config["stream_id"].as_str().unwrap_or_default()
        );
        Some((
            token,
            endpoint,
            meta["jwks_uri"].as_str().unwrap_or_default().to_owned(),
            stream_url,
        ))
    } else {
        None
    };

    // Publish.
    say(&format!(
        "publishing {} events ({}), {} publishers, {}",
        plan.events,
        if plan.batch == 0 {
            "one per request".to_owned()
        } else {
            format!("batches of {}", plan.batch)
        },
        plan.concurrency,
        if plan.rate > 0.0 {
            format!("{} events/s", plan.rate)
        } else {
            "as fast as accepted".to_owned()
        }
    ));
    let publisher = Publisher::new(&hub.ingest_url, &slug, &tenant.api_key)?;
    let next = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Progress::default());
    let cpu_before = host_cpu();
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..plan.concurrency)
        .map(|_| {
            tokio::spawn(publisher_task(
                publisher.clone(),
                plan.clone(),
                next.clone(),
                progress.clone(),
                start,
            ))
        })
        .collect();
    let all = join_publishers(tasks);
    tokio::pin!(all);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last = 0usize;
    let published = loop {
        tokio::select! {
            done = &mut all => break done?,
            _ = ticker.tick() => {
                let accepted = progress.accepted.load(Ordering::Relaxed);
                let delivered = receiver.as_ref().map_or(0, TestReceiver::total_received);
                say(&format!(
                    "t={:.0}s accepted={accepted} (+{}/s) failed={} delivered={delivered}",
                    start.elapsed().as_secs_f64(),
                    accepted - last,
                    progress.failed.load(Ordering::Relaxed),
                ));
                last = accepted;
            }
        }
    };
    let publish_cpu_busy = busy_pct(cpu_before, host_cpu());
    let accepted = published.sent.len();
    let publish_secs = match (published.first_send, published.last_answer) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    say(&format!(
        "published: {accepted} accepted in {publish_secs:.2}s, {} failed",
        published.errors.values().sum::<usize>()
    ));

    // Delivery.
    let expected = accepted * plan.streams;
    let mut report_delivery = json!(null);
    let mut complete = true;
    let mut note = Value::Null;
    let mut delivered = 0usize;
    let mut e2e = Vec::new();
    let mut duplicates = 0usize;
    let mut unexpected = 0usize;
    let mut wrong_authorization = 0usize;
    let mut invalid = 0usize;
    let mut invalid_reasons: Vec<String> = Vec::new();
    if let Some(receiver) = &receiver {
        let delivery = wait_for_delivery(
            receiver,
            &published,
            expected,
            Duration::from_secs(args.timeout),
            Duration::from_secs(args.idle_timeout),
        )
        .await;
        complete = delivery.complete;
        if let Some(n) = &delivery.note {
            say(n);
            note = Value::from(n.clone());
        }
        let mut per_pair: HashMap<(String, String), usize> = HashMap::new();
        let mut last_arrival = None::<Instant>;
        receiver.for_each_received(|path, set| {
            // Stream i pushes to /s/i with `Authorization: Bearer loadgen-i`.
            let expected_auth = path
                .strip_prefix("/s/")
                .map(|i| format!("Bearer loadgen-{i}"));
            if set.authorization.is_none() || set.authorization != expected_auth {
                wrong_authorization += 1;
            }
            let txn = set.txn.clone().unwrap_or_default();
            let Some(sent) = published.sent.get(&txn) else {
                unexpected += 1;
                return;
            };
            let n = per_pair.entry((path.to_owned(), txn)).or_insert(0);
            *n += 1;
            if *n == 1 {
                e2e.push(set.arrived.saturating_duration_since(*sent).as_secs_f64() * 1000.0);
                last_arrival = Some(last_arrival.map_or(set.arrived, |l| l.max(set.arrived)));
            } else {
                duplicates += 1;
            }
        });
        delivered = per_pair.len();
        for path in receiver.paths() {
            for i in receiver.invalid(&path) {
                invalid += 1;
                if invalid_reasons.len() < 5 && !invalid_reasons.contains(&i.reason) {
                    invalid_reasons.push(i.reason);
                }
            }
        }
        let secs = match (published.first_send, last_arrival) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        report_delivery = json!({
            "duration_s": round(secs),
            "waited_after_publish_s": round(
                published
                    .last_answer
                    .map_or(0.0, |l| delivery.ended.saturating_duration_since(l).as_secs_f64())
            ),
        });
    }

    // Mode poll: drain.
    let mut report_poll = Value::Null;
    if let Some((token, endpoint, jwks_uri, stream_url)) = &poll_target {
        // Measure the drain alone: wait until fan-out has queued every SET.
        let queued = wait_queued(
            stream_url,
            &tenant.api_key,
            published.sent.len(),
            Duration::from_secs(args.timeout),
        )
        .await?;
        say(&format!("poll: {queued} SETs queued; draining"));
        if let Some(p) = &production {
            // The database went from empty to full in seconds, before autovacuum's first look
            // (it naps a minute): refresh the planner's statistics as it would in a running hub.
            say("poll: refreshing PostgreSQL's planner statistics (ANALYZE), as autovacuum would");
            p.db.analyze()
                .await
                .map_err(|e| anyhow::anyhow!("ANALYZE: {e}"))?;
        }
        let drained = poll_drain(
            token,
            endpoint,
            jwks_uri,
            &tenant.issuer,
            &published,
            args.max_events,
            !args.no_verify,
            Duration::from_secs(args.timeout),
        )
        .await?;
        complete = complete && drained["complete"].as_bool().unwrap_or(false);
        report_poll = drained;
        // With the stream drained: how soon a long poll hears of a publish.
        let metrics_url = hub
            .process("fanout")
            .or_else(|| hub.process("all"))
            .map(|p| p.url("/metrics"))
            .unwrap_or_default();
        report_poll["long_poll_wake"] = wake_latency(
            token,
            endpoint,
            &metrics_url,
            &format!("{}/t/{}/events", hub.ingest_url, tenant.slug),
            &tenant.api_key,
            20,
        )
        .await?;
    }

    // Report.
    let mut cpu = serde_json::Map::new();
    for (role, process) in &hub.processes {
        if let Some(secs) = process.pid().and_then(cpu_seconds) {
            cpu.insert(role.clone(), json!(secs));
        }
    }
    if let Some(secs) = cpu_seconds(std::process::id()) {
        cpu.insert("loadgen".into(), json!(secs));
    }
    let mut rss = serde_json::Map::new();
    for (role, process) in &hub.processes {
        if let Some(mb) = process.pid().and_then(peak_rss_mb) {
            rss.insert(role.clone(), json!(mb));
        }
    }
    if let Some(mb) = peak_rss_mb(std::process::id()) {
        rss.insert("loadgen".into(), json!(mb));
    }
    let delivery_secs = report_delivery["duration_s"].as_f64().unwrap_or(0.0);
    let mut publish_latency = published.publish_latency_ms.clone();
    let report = json!({
        "mode": format!("{:?}", plan.mode).to_lowercase(),
        "backends": if args.embedded { "embedded" } else { "production" },
        "processes": hub.processes.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
        "streams": plan.streams,
        "events": plan.events,
        "rate": plan.rate,
        "concurrency": plan.concurrency,
        "batch": plan.batch,
        "verify": !args.no_verify,
        "accepted_events": accepted,
        "publish_duration_s": round(publish_secs),
        "accepted_events_per_s": if publish_secs > 0.0 { round(accepted as f64 / publish_secs) } else { 0.0 },
        "expected_sets": expected,
        "delivered_sets": delivered,
        "delivery": report_delivery,
        "delivered_sets_per_s": if delivery_secs > 0.0 { round(delivered as f64 / delivery_secs) } else { 0.0 },
        "e2e_latency_ms": percentiles(&mut e2e),
        "publish_latency_ms": percentiles(&mut publish_latency),
        "peak_rss_mb": rss,
        "cpu_s": cpu,
        "host_cpu_busy_pct_while_publishing": publish_cpu_busy,
        "errors": {
            "publish": published.errors,
            "invalid_sets": invalid,
            "invalid_reasons": invalid_reasons,
            "missing_sets": expected.saturating_sub(delivered),
            "duplicate_sets": duplicates,
            "unexpected_sets": unexpected,
            "wrong_authorization": wrong_authorization,
        },
        "poll": report_poll,
        "complete": complete && accepted == plan.events,
        "note": note,
    });
    drop(hub);
    if let Some(p) = &production {
        delete_queues(&p.prefix).await;
    }
    drop(production);
    Ok((report, complete && accepted == plan.events))
}

/// Deletes the run's RabbitMQ queues (`{prefix}.…`) with `rabbitmqctl`, best effort: quorum
/// queues outlive their consumers, and a run without fan-out leaves every event in them.
async fn delete_queues(prefix: &str) {
    let listed = tokio::process::Command::new("rabbitmqctl")
        .args(["list_queues", "-q", "--no-table-headers", "name"])
        .output()
        .await;
    let Ok(listed) = listed.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()) else {
        say("rabbitmqctl is not available: the run's queues are left in RabbitMQ");
        return;
    };
    let own = format!("{prefix}.");
    for queue in listed
        .lines()
        .map(str::trim)
        .filter(|q| q.starts_with(&own))
    {
        let deleted = tokio::process::Command::new("rabbitmqctl")
            .args(["delete_queue", "-q", queue])
            .output()
            .await;
        if !deleted.is_ok_and(|o| o.status.success()) {
            say(&format!("could not delete the queue {queue}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        v.reverse();
        assert_eq!(
            percentiles(&mut v),
            json!({"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0})
        );
        assert_eq!(
            percentiles(&mut [7.0]),
            json!({"p50": 7.0, "p95": 7.0, "p99": 7.0, "max": 7.0})
        );
        assert_eq!(percentiles(&mut []), Value::Null);
    }

    #[test]
    fn modes_have_their_defaults_and_batches_cover_every_event() {
        let args = Args::parse_from(["loadgen", "--mode", "latency"]);
        let plan = Plan::from(&args);
        assert_eq!((plan.streams, plan.events, plan.rate), (1, 1000, 50.0));
        let args = Args::parse_from(["loadgen", "--mode", "ingest", "--streams", "5"]);
        assert_eq!(Plan::from(&args).streams, 0, "ingest has no streams");
        let args = Args::parse_from(["loadgen", "--events", "1001", "--batch", "100"]);
        let plan = Plan::from(&args);
        assert_eq!((plan.streams, plan.requests()), (10, 11));
        let args = Args::parse_from(["loadgen", "--env", "SETHUB_A__B=x=y"]);
        assert_eq!(args.env, [("SETHUB_A__B".to_owned(), "x=y".to_owned())]);
    }

    #[test]
    fn this_process_has_a_peak_rss_and_cpu_time() {
        assert!(peak_rss_mb(std::process::id()).unwrap() > 0.0);
        assert!(cpu_seconds(std::process::id()).is_some());
        let (busy, total) = host_cpu().unwrap();
        assert!(busy <= total);
    }
}
