//! Waiting for the SETs of a run to arrive at the test receiver, and counting them.

use std::time::{Duration, Instant};

use sethub_tests::TestReceiver;

use crate::publish::Published;
use crate::say;

/// How delivery ended.
pub(crate) struct Delivery {
    pub(crate) complete: bool,
    pub(crate) note: Option<String>,
    pub(crate) ended: Instant,
}

/// Waits until the receiver holds `expected` SETs of accepted events, the deadline passes,
/// or nothing arrives for `idle`. Woken by the receiver on each request, and once a second
/// to print progress.
pub(crate) async fn wait_for_delivery(
    receiver: &TestReceiver,
    published: &Published,
    expected: usize,
    timeout: Duration,
    idle: Duration,
) -> Delivery {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut changes = receiver.changes();
    let mut target = expected;
    let mut last_total = receiver.total_received();
    let mut last_arrival = started;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        changes.borrow_and_update();
        let total = receiver.total_received();
        if total != last_total {
            last_total = total;
            last_arrival = Instant::now();
        }
        if total >= target {
            let matched = matched_sets(receiver, published);
            if matched >= expected {
                return Delivery {
                    complete: true,
                    note: None,
                    ended: Instant::now(),
                };
            }
            // Duplicates or unexpected SETs were counted: wait for the rest.
            target = total + (expected - matched);
        }
        let now = Instant::now();
        if now >= deadline {
            return Delivery {
                complete: false,
                note: Some(format!(
                    "timed out after {}s waiting for delivery: {total} of {expected} SETs arrived",
                    timeout.as_secs()
                )),
                ended: now,
            };
        }
        if now >= last_arrival + idle {
            let note = if total == 0 {
                format!(
                    "no SET arrived within {}s after publishing: push delivery is not running in \
                     this hub (fan-out not built yet, or not consuming); delivered = 0",
                    idle.as_secs()
                )
            } else {
                format!(
                    "delivery stalled: no SET for {}s, {total} of {expected} arrived",
                    idle.as_secs()
                )
            };
            return Delivery {
                complete: false,
                note: Some(note),
                ended: now,
            };
        }
        let wake = deadline.min(last_arrival + idle);
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = ticker.tick() => say(&format!(
                "delivery: {total}/{expected} SETs, {} invalid, {:.0}s",
                receiver.total_invalid(),
                started.elapsed().as_secs_f64()
            )),
        }
    }
}

/// How many (stream, accepted event) pairs have at least one SET.
pub(crate) fn matched_sets(receiver: &TestReceiver, published: &Published) -> usize {
    let mut seen = std::collections::HashSet::new();
    receiver.for_each_received(|path, set| {
        if let Some(txn) = &set.txn
            && published.sent.contains_key(txn)
        {
            seen.insert((path.to_owned(), txn.clone()));
        }
    });
    seen.len()
}
