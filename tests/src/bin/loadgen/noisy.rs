//! The `noisy` scenario: does a tenant whose receiver fails slow down a quiet one?
//!
//! A quiet tenant publishes `--quiet-rate` events/s (open loop) to one healthy push stream for
//! `--duration-noisy` seconds alone; then again while a noisy tenant publishes
//! `--noisy-rate` events/s to ten push streams on a second receiver that answers every SET
//! `503`. The report holds both quiet runs in full (`alone`, `with_noise`: latency, CPU per SET,
//! peak RSS over each run), what the noise did (`noise`), and fan-out's peak RSS under the
//! noise. Afterwards (production) it waits until the run's RabbitMQ queues are empty
//! (`bus_drained_after_s`, at most 300 s: fan-out may still be working through the noise's
//! events), then deletes the noisy tenant's streams, so that its parked retries do not leak
//! into the next scenario.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sethub_tests::random_suffix;
use sethub_tests::setup::Publisher;

use crate::drive::{self, Counters};
use crate::hub::{self, Running};
use crate::measure::round;
use crate::say;
use crate::scenario::{Bench, Load, Target};
use crate::sink::Sink;

/// Rates and duration of the noisy scenario.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Noise {
    pub(crate) quiet_rate: f64,
    pub(crate) noisy_rate: f64,
    pub(crate) duration: Duration,
}

pub(crate) async fn run(
    bench: &Bench,
    running: &Running,
    bin: &Path,
    quiet: &Target,
    failing: &Sink,
    noise: Noise,
) -> anyhow::Result<Value> {
    let load = Load::Open {
        rate: noise.quiet_rate,
        duration: noise.duration,
    };
    say("[noisy] the quiet tenant alone");
    let alone = bench.run("noisy-quiet-alone", quiet, load).await?;

    let slug = format!("noisy-{}", random_suffix());
    let endpoints: Vec<String> = (0..10).map(|i| failing.url(200 + i)).collect();
    let noisy = hub::tenant_with_push_streams(running, bin, &slug, &endpoints).await?;
    let publisher = Publisher::new(&running.hub.ingest_url, &slug, &noisy.tenant.api_key)?;
    let requests0 = failing.requests();
    say(&format!(
        "[noisy] the quiet tenant with {} events/s to 10 streams answering 503",
        noise.noisy_rate
    ));
    let noise_task = {
        let max_in_flight = bench.max_in_flight;
        tokio::spawn(async move {
            drive::open_loop(
                &publisher,
                0,
                noise.noisy_rate,
                noise.duration,
                max_in_flight,
                Arc::new(Counters::default()),
            )
            .await
        })
    };
    let with_noise = bench.run("noisy-quiet-with-noise", quiet, load).await;
    let noise_sent = noise_task.await??;
    let with_noise = with_noise?;
    let requests = failing.requests() - requests0;
    // The noise's events may still wait in the bus: let fan-out work through them before the
    // next scenario measures anything, and before deleting the streams (a delete racing
    // fan-out's writes of their deliveries was seen to fail with 500 or hang).
    let settle_s = match &running.production {
        Some(p) => {
            say("[noisy] waiting for the bus to drain");
            hub::wait_bus_idle(&p.prefix, Duration::from_secs(300)).await
        }
        None => None,
    };
    let deleting = std::time::Instant::now();
    let mut deleted = 0usize;
    for stream in &noisy.streams {
        // One more try after a pause: a delete was seen to fail with 500 while the stream's
        // parked retries were being claimed.
        let mut tries = 0;
        loop {
            tries += 1;
            match hub::delete_stream(running, &slug, &noisy.token, stream).await {
                Ok(()) => {
                    deleted += 1;
                    break;
                }
                Err(e) if tries < 2 => {
                    say(&format!("[noisy] {e:#}; trying again in 5 s"));
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Err(e) => {
                    say(&format!("[noisy] {e:#}: its backlog stays"));
                    break;
                }
            }
        }
    }
    let delete_s = deleting.elapsed().as_secs_f64();
    let pick = |run: &Value, path: &[&str]| path.iter().fold(run, |v, k| &v[*k]).clone();
    let complete = alone["complete"] == true && with_noise["complete"] == true;
    Ok(json!({
        "scenario": "noisy",
        "load": {"kind": "noisy", "quiet_rate": noise.quiet_rate, "noisy_rate": noise.noisy_rate,
                 "duration_s": noise.duration.as_secs_f64(), "noisy_streams": 10},
        "quiet_p50_ms": {"alone": pick(&alone, &["latency_ms", "p50"]), "with_noise": pick(&with_noise, &["latency_ms", "p50"])},
        "quiet_p99_ms": {"alone": pick(&alone, &["latency_ms", "p99"]), "with_noise": pick(&with_noise, &["latency_ms", "p99"])},
        "fanout_peak_rss_mb": {"alone": pick(&alone, &["peak_rss_mb", "fanout"]), "with_noise": pick(&with_noise, &["peak_rss_mb", "fanout"])},
        "noise": {
            "accepted_events": noise_sent.accepted_count(),
            "accepted_events_per_s": round(noise_sent.accepted_per_s()),
            "publish_errors": noise_sent.errors,
            "late_sends": noise_sent.late_sends,
            "receiver_requests_503": requests,
        },
        "bus_drained_after_s": settle_s.map(round),
        "noisy_streams_deleted": deleted,
        "noisy_streams_delete_s": round(delete_s),
        "alone": alone,
        "with_noise": with_noise,
        "complete": complete,
    }))
}
