//! `sethub-loadgen`: drives a real hub with events and measures what comes out.
//!
//! It starts the hub itself, from the `sethub` binary given with `--bin` (default: the
//! `sethub` next to this executable, or `SETHUB_BIN`):
//!
//! - production (default): a fresh PostgreSQL database (as `TestDb::postgres()` makes them:
//!   `sethub_test_*`, owned by `sethub_owner`, used as `sethub_app`, dropped at the end),
//!   RabbitMQ and Redis on 127.0.0.1 under a fresh random prefix (its queues deleted at the
//!   end with `rabbitmqctl`, when there is one), and three processes `sethub manage`,
//!   `sethub ingest`, `sethub fanout`, all with the manage URL as public URL;
//! - `--embedded`: one `sethub all` over SQLite, the in-process bus and in-memory state.
//!
//! Every mode lifts the ingest rate limit (`SETHUB_INGEST__RATE_PER_SECOND`, `…__BURST`) and
//! sets the log filter to `warn` (`SETHUB_LOG__FILTER`); `--env KEY=VALUE` overrides any
//! variable of the processes. Progress goes to stderr once a second. The loadgen never runs
//! `ANALYZE` or `VACUUM`: the hub gets what a deployment gets.
//!
//! # Mode `suite` (the team's benchmarking method in one invocation)
//!
//! Setup: two tenants, `single` with one push stream and `ten` with ten, each stream pushing to
//! its own path (`/p/{n}`) of one receiver on loopback that answers `202` at once and does not
//! verify signatures (`--receiver-workers` threads). Publishers send one CAEP session-revoked
//! event per request about an opaque subject; the event's payload carries `loadgen_run`,
//! `loadgen_seq` and `loadgen_sent_us` (the intended send time), which the receiver reads from
//! the SET's claims to measure publish → receipt latency and to count each (path, sequence)
//! pair once (more copies are `duplicates`; pairs that never came are `missing`). Warm-up:
//! `--warmup-single` (200) events to `single`, `--warmup-ten` (100) to `ten`, not reported.
//! Then `--rounds` (3) rounds of `--scenarios` (default `a,b,c,c1000`):
//!
//! - `a`: `--concurrency-a` (32) publishers in a closed loop, `--events-a` (20,000) events,
//!   single stream;
//! - `b`: `--concurrency-b` (8) publishers in a closed loop, `--events-b` (2,000) events to the
//!   ten streams (20,000 SETs);
//! - `c`: an open loop at `--rate-c` (200) events/s for `--duration-c` (30) s, single stream;
//!   `c1000`: the same at `--rate-c1000` (1,000) events/s. Open loop means sends scheduled on a
//!   clock, whatever is unanswered (at most `--max-in-flight` requests at once; sends that
//!   leave more than 10 ms late are counted `late_sends`), latency from the intended time;
//! - `poll`: a tenant with one poll stream is filled with `--poll-sets` (20,000) SETs and, once
//!   all are queued, drained with acknowledgements at `maxEvents` 1000, refilled and drained at
//!   100 (`--max-events 1000,100`); reported as `poll1000` and `poll100`;
//! - `noisy`: see mode `noisy`.
//!
//! A run ends when the receiver has every pair, or after `--idle-timeout` (60) s without a new
//! one. Each run prints one JSON line on stdout as it ends: `scenario`, `round`, `run`, `load`
//! (its parameters), `streams`, `accepted_events`, `accepted_events_per_s` (first send → last
//! answer), `publish_errors`, `publish_latency_ms`, `late_sends`, `peak_in_flight`,
//! `expected_sets`, `delivered_sets`, `delivered_sets_per_s` (first → last receipt),
//! `window_s` (first publish → last receipt), `latency_ms` `{p50,p95,p99,max}`,
//! `cpu_ms_per_set` and `cpu_ms` over the window (`machine`: `/proc/stat` busy time of all
//! cores, user + nice + system + irq + softirq + steal; `manage`, `ingest`, `fanout` (or `all`); `postgres` (all its processes),
//! split into `postgres_own_db` (the backends of this run's database) and `postgres_other`;
//! `rabbitmq` (`beam.smp`); `redis`; `loadgen` (this process, receiver included) and
//! `loadgen_receiver` (its receiver threads)), `machine_busy_pct`, `peak_rss_mb` (`VmHWM` of
//! each sethub process, reset at the run's start when `peak_rss_is_the_scenarios`),
//! `rss_end_mb`, `duplicates`, `missing`, `wrong_path_sets`, `other_run_sets` (late copies of
//! an earlier run), `unmarked_sets` (SETs without a mark: preloaded deliveries), `complete`,
//! `note`. Poll runs report `drain_sets_per_s`, `drained_sets`, `polls` and the CPU of the
//! drain. The last line is the summary: per scenario `runs`, `complete_runs` and every figure
//! as `{median, min, max}` over the rounds, plus `preload` and `complete`.
//!
//! `--soak [N]` (N = 10): instead, scenario `a` N times in a row on one database, a line each,
//! and a summary with `soak.last_over_first` (every figure of the last run over the first).
//!
//! `--preload-deliveries N`: before the warm-up, N delivery rows with their events and
//! attempts are written straight into the database (see the `preload` module): 80 % under
//! `--preload-tenants` (4) extra tenants, 20 % under the measured tenants' own streams, by
//! `--preload-workers` (2) `psql` sessions at once; reported as a `{"preload": …}` line
//! (rows, seconds, the due pending rows fan-out pushed meanwhile).
//!
//! # Mode `noisy` (also the suite's scenario `noisy`)
//!
//! A quiet tenant publishes `--quiet-rate` (100) events/s in an open loop to one healthy push
//! stream for `--duration-noisy` (30) s alone, then again while a noisy tenant publishes
//! `--noisy-rate` (1,000) events/s to ten push streams on a second receiver answering `503`.
//! The report (`scenario: noisy`) gives `quiet_p50_ms` and `quiet_p99_ms` `{alone,
//! with_noise}`, `fanout_peak_rss_mb` `{alone, with_noise}`, `noise` (accepted events, the
//! 503 receiver's requests), `bus_drained_after_s` (production: after the noise it waits
//! until the run's RabbitMQ queues are empty, so fan-out's leftover work does not leak into
//! the next scenario), `noisy_streams_deleted` and `noisy_streams_delete_s` (then the noisy
//! streams are deleted, with their parked retries) and both quiet runs in full. The quiet
//! tenant's warm-up is 20 events. One round unless `--rounds`; in the suite, put it last.
//!
//! # Mode `poll`
//!
//! The suite with scenario `poll` only, one round unless `--rounds`, SETs verified against
//! the tenant's JWKS unless `--no-verify`, then the long-poll wake-up latency (a waiting
//! long poll, one publish, the time to the answer; 20 times) as a `poll-wake` line.
//!
//! # Classic modes
//!
//! `ingest` (no streams; accepted events/s), `fanout` (`--streams` push streams, default 10,
//! as fast as possible) and `latency` (1 stream, 50 events/s, 1000 events, concurrency 4):
//! one tenant, a verifying receiver (unless `--no-verify`), `--events` published by
//! `--concurrency` publishers, one per request or `--batch` per request, at `--rate` events/s
//! (0: as fast as accepted); it waits for a SET of every accepted event on every stream
//! (`txn` = the event id) until `--timeout`, or `--idle-timeout` (15) s without one. One JSON
//! object at the end: `accepted_events_per_s`, `delivered_sets_per_s`, `e2e_latency_ms`,
//! `publish_latency_ms`, `peak_rss_mb`, `cpu_s` per process, the machine's busy share while
//! publishing and `errors`.
//!
//! Exit code 0 when every run was complete (every event accepted, every SET there), 1
//! otherwise (the report says what is missing), 2 when the run could not be set up, 130 when
//! interrupted (SIGINT or SIGTERM: the hub is stopped and its database dropped on the way out).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use serde_json::Value;
use sethub_tests::{init_crypto, random_suffix};

mod classic;
mod delivery;
mod drive;
mod hub;
mod measure;
mod noisy;
mod poll;
mod pollrun;
mod preload;
mod publish;
mod sample;
mod scenario;
mod sink;
mod suite;
mod summary;
#[cfg(test)]
use measure::{cpu_seconds, host_cpu, peak_rss_mb, percentiles};
#[cfg(test)]
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Publish only: accepted events per second.
    Ingest,
    /// Publish to N push streams: delivered SETs per second and latency under load.
    Fanout,
    /// A light fixed rate to one stream: end-to-end latency.
    Latency,
    /// Fill a poll stream and drain it at `--max-events` (1000, then 100), then the long-poll
    /// wake-up latency.
    Poll,
    /// The benchmarking method: warm-up, then `--rounds` rounds of `--scenarios`.
    Suite,
    /// A quiet tenant's latency alone and beside a tenant whose receiver answers 503.
    Noisy,
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
    /// Classic modes: push streams (fanout: 10, latency: 1; ingest: none).
    #[arg(long)]
    streams: Option<usize>,
    /// Classic modes: events to publish (default 10000; latency: 1000).
    #[arg(long)]
    events: Option<usize>,
    /// Classic modes: events per second; 0 = as fast as accepted (default 0; latency: 50).
    #[arg(long)]
    rate: Option<f64>,
    /// Classic modes: concurrent publishers (default 32; latency: 4).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Classic modes: events per batch request; 0 = one event per request.
    #[arg(long, default_value_t = 0)]
    batch: usize,
    /// One `sethub all` over SQLite and in-process backends instead of the production ones.
    #[arg(long)]
    embedded: bool,
    /// Classic modes, production: do not start `sethub fanout`.
    #[arg(long, conflicts_with = "embedded")]
    without_fanout: bool,
    /// Longest wait for delivery (classic) or for a poll stream to fill, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Give up when nothing new arrived for this many seconds (suite: 60, classic: 15).
    #[arg(long)]
    idle_timeout: Option<u64>,
    /// Do not verify SETs (classic modes' receiver; mode poll's drain).
    #[arg(long)]
    no_verify: bool,
    /// Worker threads of the receiver.
    #[arg(long, default_value_t = 2)]
    receiver_workers: usize,
    /// Poll drains: `maxEvents` of each drain, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,100")]
    max_events: Vec<usize>,
    /// Extra environment for the sethub processes, KEY=VALUE (repeatable).
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,

    /// Suite: rounds (default 3; modes poll and noisy: 1).
    #[arg(long)]
    rounds: Option<usize>,
    /// Suite: scenarios of each round, comma-separated (a, b, c, c1000, poll, noisy).
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,c1000")]
    scenarios: Vec<String>,
    /// Scenario a: events.
    #[arg(long, default_value_t = 20_000)]
    events_a: usize,
    /// Scenario a: publishers.
    #[arg(long, default_value_t = 32)]
    concurrency_a: usize,
    /// Scenario b: events (each makes ten SETs).
    #[arg(long, default_value_t = 2_000)]
    events_b: usize,
    /// Scenario b: publishers.
    #[arg(long, default_value_t = 8)]
    concurrency_b: usize,
    /// Scenarios c and c1000: seconds of publishing.
    #[arg(long, default_value_t = 30.0)]
    duration_c: f64,
    /// Scenario c: events per second.
    #[arg(long, default_value_t = 200.0)]
    rate_c: f64,
    /// Scenario c1000: events per second.
    #[arg(long, default_value_t = 1000.0)]
    rate_c1000: f64,
    /// Warm-up events to the single stream.
    #[arg(long, default_value_t = 200)]
    warmup_single: usize,
    /// Warm-up events to the ten streams.
    #[arg(long, default_value_t = 100)]
    warmup_ten: usize,
    /// Open loops: most requests in flight at once.
    #[arg(long, default_value_t = 2048)]
    max_in_flight: usize,
    /// Scenario poll: SETs each fill puts in the poll stream.
    #[arg(long, default_value_t = 20_000)]
    poll_sets: usize,
    /// Noisy: the quiet tenant's events per second.
    #[arg(long, default_value_t = 100.0)]
    quiet_rate: f64,
    /// Noisy: the noisy tenant's events per second (to ten streams answering 503).
    #[arg(long, default_value_t = 1000.0)]
    noisy_rate: f64,
    /// Noisy: seconds of each phase.
    #[arg(long, default_value_t = 30.0)]
    duration_noisy: f64,
    /// Scenario a N times in a row on one database (default N: 10); implies mode suite.
    #[arg(long, num_args = 0..=1, default_missing_value = "10")]
    soak: Option<usize>,
    /// Before the scenarios, write N delivery rows (with events and attempts) into the
    /// database; implies mode suite unless a classic mode is given. Production only.
    #[arg(long)]
    preload_deliveries: Option<u64>,
    /// Preload: extra tenants holding 80 % of the rows.
    #[arg(long, default_value_t = 4)]
    preload_tenants: usize,
    /// Preload: concurrent `psql` sessions writing rows and building indexes.
    #[arg(long, default_value_t = 2)]
    preload_workers: usize,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got `{s}`"))
}

/// The classic run's parameters once the mode's defaults are applied.
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
                Mode::Fanout => args.streams.unwrap_or(10),
                Mode::Latency => args.streams.unwrap_or(1),
                _ => 0,
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

impl Args {
    /// The mode after the flags that imply the suite.
    fn effective_mode(&self) -> Mode {
        if self.soak.is_some() || self.preload_deliveries.is_some() && self.mode == Mode::Fanout {
            Mode::Suite
        } else {
            self.mode
        }
    }

    /// The suite's configuration (modes suite, poll, noisy).
    fn suite(&self, mode: Mode) -> suite::SuiteConfig {
        let scenarios = match mode {
            Mode::Poll => vec!["poll".to_owned()],
            Mode::Noisy => vec!["noisy".to_owned()],
            _ => self.scenarios.clone(),
        };
        let one_round = matches!(mode, Mode::Poll | Mode::Noisy);
        suite::SuiteConfig {
            rounds: self.rounds.unwrap_or(if one_round { 1 } else { 3 }).max(1),
            scenarios,
            events_a: self.events_a,
            concurrency_a: self.concurrency_a,
            events_b: self.events_b,
            concurrency_b: self.concurrency_b,
            duration_c: Duration::from_secs_f64(self.duration_c),
            rate_c: self.rate_c,
            rate_c1000: self.rate_c1000,
            warmup_single: self.warmup_single,
            warmup_ten: self.warmup_ten,
            poll_sets: self.poll_sets,
            poll_max_events: self.max_events.clone(),
            verify_poll: mode == Mode::Poll && !self.no_verify,
            wake_rounds: if mode == Mode::Poll { 20 } else { 0 },
            noise: noisy::Noise {
                quiet_rate: self.quiet_rate,
                noisy_rate: self.noisy_rate,
                duration: Duration::from_secs_f64(self.duration_noisy),
            },
            soak: self.soak.map(|n| n.max(1)),
            preload: self.preload_deliveries,
            preload_tenants: self.preload_tenants,
            preload_workers: self.preload_workers,
            idle: Duration::from_secs(self.idle_timeout.unwrap_or(60)),
            timeout: Duration::from_secs(self.timeout),
            max_in_flight: self.max_in_flight,
            receiver_workers: self.receiver_workers,
        }
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
    let workdir = std::env::temp_dir().join(format!("sethub-loadgen-{}", random_suffix()));
    let code = runtime.block_on(async {
        // On SIGINT or SIGTERM the run is dropped: the hub's processes are killed and the
        // database dropped (the queues stay).
        tokio::select! {
            result = run(args, &workdir) => match result {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(e) => {
                    eprintln!("sethub-loadgen: {e:#}");
                    2
                }
            },
            () = interrupted() => {
                eprintln!("sethub-loadgen: interrupted: stopping the hub, dropping its database");
                130
            }
        }
    });
    drop(runtime);
    let _ = std::fs::remove_dir_all(&workdir);
    std::process::exit(code);
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}

fn say(msg: &str) {
    eprintln!("[loadgen] {msg}");
}

/// Prints one report as a JSON line on stdout.
fn emit(report: &Value) {
    println!("{}", serde_json::to_string(report).unwrap_or_default());
}

async fn run(args: Args, workdir: &std::path::Path) -> anyhow::Result<bool> {
    init_crypto();
    let mode = args.effective_mode();
    if matches!(mode, Mode::Suite) {
        suite::check_scenarios(&args.scenarios)?;
    }
    if args.preload_deliveries.is_some() && args.embedded {
        bail!("--preload-deliveries needs PostgreSQL: drop --embedded");
    }
    let bin = args
        .bin
        .clone()
        .or_else(sethub_tests::setup::find_sethub_binary)
        .context("no sethub binary: pass --bin PATH (cargo build --release -p sethub)")?;
    if !bin.is_file() {
        bail!("{} is not a file", bin.display());
    }
    std::fs::create_dir_all(workdir)
        .with_context(|| format!("cannot create {}", workdir.display()))?;
    match mode {
        Mode::Suite | Mode::Poll | Mode::Noisy => {
            let options = hub::HubOptions {
                bin: &bin,
                workdir,
                embedded: args.embedded,
                without_fanout: false,
                env: &args.env,
            };
            suite::run(args.suite(mode), options).await
        }
        Mode::Ingest | Mode::Fanout | Mode::Latency => {
            let plan = Arc::new(Plan::from(&args));
            classic::run_in(&args, plan, &bin, workdir)
                .await
                .map(|(report, complete)| {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&report).unwrap_or_default()
                    );
                    complete
                })
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
    fn the_suite_defaults_are_the_benchmarking_notes() {
        let args = Args::parse_from(["loadgen", "--mode", "suite"]);
        let cfg = args.suite(args.effective_mode());
        assert_eq!(cfg.rounds, 3);
        assert_eq!(cfg.scenarios, ["a", "b", "c", "c1000"]);
        assert_eq!((cfg.events_a, cfg.concurrency_a), (20_000, 32));
        assert_eq!((cfg.events_b, cfg.concurrency_b), (2_000, 8));
        assert_eq!((cfg.rate_c, cfg.rate_c1000), (200.0, 1000.0));
        assert_eq!(cfg.duration_c, Duration::from_secs(30));
        assert_eq!((cfg.warmup_single, cfg.warmup_ten), (200, 100));
        assert_eq!(cfg.idle, Duration::from_secs(60));
        assert_eq!(cfg.poll_max_events, [1000, 100]);
        assert!(!cfg.verify_poll);
    }

    #[test]
    fn soak_and_preload_imply_the_suite_and_poll_and_noisy_run_once() {
        let args = Args::parse_from(["loadgen", "--soak"]);
        assert_eq!(args.effective_mode(), Mode::Suite);
        assert_eq!(args.suite(Mode::Suite).soak, Some(10));
        let args = Args::parse_from(["loadgen", "--soak", "4", "--events-a", "100"]);
        assert_eq!(args.suite(Mode::Suite).soak, Some(4));
        let args = Args::parse_from(["loadgen", "--preload-deliveries", "1000"]);
        assert_eq!(args.effective_mode(), Mode::Suite);
        let args = Args::parse_from(["loadgen", "--mode", "poll"]);
        let cfg = args.suite(args.effective_mode());
        assert_eq!(
            (cfg.rounds, cfg.scenarios.as_slice()),
            (1, &["poll".to_owned()][..])
        );
        assert!(cfg.verify_poll);
        let args = Args::parse_from(["loadgen", "--mode", "noisy", "--rounds", "2"]);
        let cfg = args.suite(args.effective_mode());
        assert_eq!((cfg.rounds, cfg.scenarios[0].as_str()), (2, "noisy"));
        let args = Args::parse_from(["loadgen", "--scenarios", "a,poll,x"]);
        assert!(suite::check_scenarios(&args.scenarios).is_err());
    }

    #[test]
    fn this_process_has_a_peak_rss_and_cpu_time() {
        assert!(peak_rss_mb(std::process::id()).unwrap() > 0.0);
        assert!(cpu_seconds(std::process::id()).is_some());
        let (busy, total) = host_cpu().unwrap();
        assert!(busy <= total);
    }
}
