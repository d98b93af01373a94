//! One measured scenario run: publish to one tenant (closed or open loop), wait until the
//! receiver has every (stream, sequence) pair of the accepted events or nothing new arrived
//! for the idle timeout, and report.
//!
//! The window is the run's own: the CPU snapshot is taken just before the first publish and
//! just after the last receipt (on a stall, the first periodic snapshot after the last
//! receipt), and the peak RSS of each sethub process is reset at its start.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use sethub_tests::setup::Publisher;

use crate::drive::{self, Counters, Sent};
use crate::measure::{percentiles, round};
use crate::sample::{Sampler, Snapshot, per_set};
use crate::say;
use crate::sink::Sink;

/// How the events are published.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Load {
    /// `events` events from `concurrency` publishers, each waiting for its answer.
    Closed { events: usize, concurrency: usize },
    /// `rate` events/s for `duration`, sent on a clock.
    Open { rate: f64, duration: Duration },
}

impl Load {
    fn describe(&self) -> Value {
        match *self {
            Load::Closed {
                events,
                concurrency,
            } => json!({"kind": "closed", "events": events, "concurrency": concurrency}),
            Load::Open { rate, duration } => {
                json!({"kind": "open", "rate": rate, "duration_s": duration.as_secs_f64()})
            }
        }
    }
}

/// A tenant the suite publishes to: its publisher and its push streams `first..first+count`.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) publisher: Publisher,
    pub(crate) first_stream: u32,
    pub(crate) streams: u32,
}

/// What every run shares.
pub(crate) struct Bench {
    pub(crate) sink: Sink,
    pub(crate) sampler: Sampler,
    pub(crate) idle: Duration,
    pub(crate) max_in_flight: usize,
    next_run: std::sync::atomic::AtomicU32,
}

impl Bench {
    pub(crate) fn new(sink: Sink, sampler: Sampler, idle: Duration, max_in_flight: usize) -> Self {
        Self {
            sink,
            sampler,
            idle,
            max_in_flight,
            next_run: std::sync::atomic::AtomicU32::new(1),
        }
    }

    /// Runs `load` against `target` and reports it as scenario `name`.
    pub(crate) async fn run(
        &self,
        name: &str,
        target: &Target,
        load: Load,
    ) -> anyhow::Result<Value> {
        let run = self.next_run.fetch_add(1, Ordering::Relaxed);
        self.sink.begin(run, target.first_stream, target.streams);
        let (other0, unmarked0) = self.sink.strays();
        let reset = self.sampler.reset_peak_rss();
        let counters = Arc::new(Counters::default());
        let start = self.sampler.snapshot();
        let publishing = {
            let (publisher, counters) = (target.publisher.clone(), counters.clone());
            let max_in_flight = self.max_in_flight;
            tokio::spawn(async move {
                match load {
                    Load::Closed {
                        events,
                        concurrency,
                    } => drive::closed_loop(&publisher, run, events, concurrency, counters).await,
                    Load::Open { rate, duration } => {
                        drive::open_loop(&publisher, run, rate, duration, max_in_flight, counters)
                            .await
                    }
                }
            })
        };
        tokio::pin!(publishing);
        let streams = target.streams as usize;
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        let mut samples: Vec<Snapshot> = Vec::new();
        let mut sent: Option<Sent> = None;
        let mut expected = None::<usize>;
        let (mut last_pairs, mut last_change) = (0usize, tokio::time::Instant::now());
        let mut last_accepted = 0usize;
        let mut note = Value::Null;
        let complete = loop {
            tokio::select! {
                done = &mut publishing, if sent.is_none() => {
                    let done = done??;
                    let want = done.accepted_count() * streams;
                    expected = Some(want);
                    sent = Some(done);
                    if self.sink.set_target(want) {
                        break true;
                    }
                }
                () = self.sink.reached(), if expected.is_some() => break true,
                _ = ticker.tick() => {
                    samples.push(self.sampler.snapshot());
                    let (pairs, dups, _) = self.sink.progress();
                    let accepted = counters.accepted.load(Ordering::Relaxed);
                    say(&format!(
                        "[{name}] t={:.0}s accepted={accepted} (+{}/s) failed={} delivered={pairs}/{} dups={dups}",
                        samples.len(),
                        accepted - last_accepted,
                        counters.failed.load(Ordering::Relaxed),
                        expected.map_or("…".to_owned(), |e| e.to_string()),
                    ));
                    last_accepted = accepted;
                    if pairs != last_pairs {
                        (last_pairs, last_change) = (pairs, tokio::time::Instant::now());
                    } else if expected.is_some() && last_change.elapsed() >= self.idle {
                        let msg = format!(
                            "stalled: nothing new for {}s, {pairs} of {} SETs arrived",
                            self.idle.as_secs(),
                            expected.unwrap_or(0)
                        );
                        say(&format!("[{name}] {msg}"));
                        note = Value::from(msg);
                        break false;
                    }
                }
            }
        };
        let end_now = self.sampler.snapshot();
        let (peak, rss_end) = self.sampler.memory();
        let rec = self.sink.end();
        let (other1, unmarked1) = self.sink.strays();
        let sent = sent.unwrap_or_default();
        let end = match rec.last_arrival_us {
            Some(last) if !complete => samples
                .into_iter()
                .find(|s| s.at_us >= last)
                .unwrap_or(end_now),
            _ => end_now,
        };
        let delivered = rec.pairs();
        let cpu = end.cpu_ms_since(&start);
        let delivery_s = match (rec.first_arrival_us, rec.last_arrival_us) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e6,
            _ => 0.0,
        };
        let window_s = rec
            .last_arrival_us
            .map_or(0.0, |l| l.saturating_sub(start.at_us) as f64 / 1e6);
        let mut latency: Vec<f64> = rec
            .latencies_us
            .iter()
            .map(|u| *u as f64 / 1000.0)
            .collect();
        let mut publish_latency = sent.publish_latency_ms.clone();
        let missing = rec.missing(&sent.accepted);
        Ok(json!({
            "scenario": name,
            "run": run,
            "load": load.describe(),
            "streams": target.streams,
            "accepted_events": sent.accepted_count(),
            "accepted_events_per_s": round(sent.accepted_per_s()),
            "publish_errors": sent.errors,
            "publish_latency_ms": percentiles(&mut publish_latency),
            "late_sends": sent.late_sends,
            "peak_in_flight": sent.peak_in_flight,
            "expected_sets": expected.unwrap_or(0),
            "delivered_sets": delivered,
            "delivered_sets_per_s": if delivery_s > 0.0 { round(delivered as f64 / delivery_s) } else { 0.0 },
            "window_s": round(window_s),
            "latency_ms": percentiles(&mut latency),
            "cpu_ms_per_set": per_set(&cpu, delivered),
            "cpu_ms": cpu.iter().map(|(k, v)| (k.clone(), json!(round(*v)))).collect::<serde_json::Map<_, _>>(),
            "machine_busy_pct": end.busy_pct_since(&start),
            "peak_rss_mb": peak,
            "rss_end_mb": rss_end,
            "peak_rss_is_the_scenarios": reset,
            "duplicates": rec.duplicates,
            "missing": missing,
            "wrong_path_sets": rec.wrong_path,
            "other_run_sets": other1 - other0,
            "unmarked_sets": unmarked1 - unmarked0,
            "complete": complete && missing == 0 && sent.errors.is_empty(),
            "note": note,
        }))
    }
}
