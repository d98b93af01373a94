//! The `poll` scenario: a tenant with one poll stream is filled with `--poll-sets` SETs (32
//! publishers, closed loop), and once fan-out has queued them all, drained with
//! acknowledgements at `maxEvents` 1000; filled again and drained at 100 (`--max-events`).
//! Each drain is one report (`poll1000`, `poll100`): drained SETs per second and the CPU per
//! SET over the drain alone. No `ANALYZE`: the planner sees what a deployment would.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sethub_tests::setup::Publisher;

use crate::drive::{self, Counters};
use crate::measure::round;
use crate::poll::{poll_drain, wait_queued};
use crate::sample::{Sampler, per_set};
use crate::say;

/// A tenant with one poll stream.
pub(crate) struct PollTarget {
    pub(crate) publisher: Publisher,
    pub(crate) api_key: String,
    pub(crate) issuer: String,
    pub(crate) token: String,
    pub(crate) endpoint: String,
    pub(crate) jwks_uri: String,
    pub(crate) stream_url: String,
}

/// Fills the stream with `sets` SETs and drains it `max_events` at a time: one report.
pub(crate) async fn fill_and_drain(
    target: &PollTarget,
    sampler: &Sampler,
    sets: usize,
    max_events: usize,
    verify: bool,
    timeout: Duration,
) -> anyhow::Result<Value> {
    say(&format!(
        "[poll{max_events}] filling the poll stream with {sets} SETs"
    ));
    let sent = drive::closed_loop(
        &target.publisher,
        0,
        sets,
        32,
        Arc::new(Counters::default()),
    )
    .await?;
    let accepted = sent.accepted_count();
    let queued = wait_queued(&target.stream_url, &target.api_key, accepted, timeout).await?;
    say(&format!(
        "[poll{max_events}] {queued} SETs queued; draining {max_events} at a time"
    ));
    let reset = sampler.reset_peak_rss();
    let start = sampler.snapshot();
    let mut drained = poll_drain(
        &target.token,
        &target.endpoint,
        &target.jwks_uri,
        &target.issuer,
        accepted,
        max_events,
        verify,
        timeout,
    )
    .await?;
    let end = sampler.snapshot();
    let (peak, rss_end) = sampler.memory();
    let got = drained["drained_sets"].as_u64().unwrap_or(0) as usize;
    let cpu = end.cpu_ms_since(&start);
    let complete = drained["complete"].as_bool().unwrap_or(false) && sent.errors.is_empty();
    drained["complete"] = json!(complete);
    let mut report = json!({
        "scenario": format!("poll{max_events}"),
        "load": {"kind": "poll", "fill_events": sets, "max_events": max_events, "verify": verify},
        "accepted_events": accepted,
        "accepted_events_per_s": round(sent.accepted_per_s()),
        "publish_errors": sent.errors,
        "queued_before_drain": queued,
        "cpu_ms_per_set": per_set(&cpu, got),
        "cpu_ms": cpu.iter().map(|(k, v)| (k.clone(), json!(round(*v)))).collect::<serde_json::Map<_, _>>(),
        "machine_busy_pct": end.busy_pct_since(&start),
        "peak_rss_mb": peak,
        "rss_end_mb": rss_end,
        "peak_rss_is_the_scenarios": reset,
        "missing": accepted.saturating_sub(got),
    });
    if let (Value::Object(r), Value::Object(d)) = (&mut report, drained) {
        r.extend(d);
    }
    Ok(report)
}
