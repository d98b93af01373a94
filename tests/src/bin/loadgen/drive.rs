//! The suite's publishers: one event per request (`POST /t/{slug}/events`), a CAEP
//! session-revoked event about an opaque subject whose payload carries the mark the receiver
//! reads (`loadgen_run`, `loadgen_seq`, `loadgen_sent_us`).
//!
//! - [`closed_loop`]: `concurrency` publishers, each sending its next event when the previous
//!   one was answered; the intended send time is the actual one.
//! - [`open_loop`]: a clock schedules event `i` at `start + i / rate` and sends it then,
//!   whatever is still unanswered (up to `max_in_flight` requests at once; a send that
//!   leaves more than 10 ms after its time is counted `late_sends`). The intended time goes
//!   into the mark, so a slow hub shows in the latency rather than slowing the load down.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use sethub_tests::setup::{Publisher, SESSION_REVOKED};

use crate::publish::error_key;
use crate::sink::now_us;

/// What the publishers of one run did.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    /// By sequence number: whether the event was accepted (202).
    pub(crate) accepted: Vec<bool>,
    /// Failures by status (`transport` when no answer came).
    pub(crate) errors: BTreeMap<String, usize>,
    pub(crate) first_send_us: Option<u64>,
    pub(crate) last_answer_us: Option<u64>,
    pub(crate) publish_latency_ms: Vec<f64>,
    pub(crate) late_sends: usize,
    /// Open loop: the most requests that were in flight at once.
    pub(crate) peak_in_flight: usize,
}

impl Sent {
    pub(crate) fn accepted_count(&self) -> usize {
        self.accepted.iter().filter(|a| **a).count()
    }

    /// Accepted events per second, first send → last answer.
    pub(crate) fn accepted_per_s(&self) -> f64 {
        match (self.first_send_us, self.last_answer_us) {
            (Some(a), Some(b)) if b > a => self.accepted_count() as f64 / ((b - a) as f64 / 1e6),
            _ => 0.0,
        }
    }

    fn record(&mut self, one: Outcome) {
        let (seq, result, sent_us, answered_us) = one;
        if self.accepted.len() <= seq {
            self.accepted.resize(seq + 1, false);
        }
        self.first_send_us = Some(self.first_send_us.map_or(sent_us, |f| f.min(sent_us)));
        self.last_answer_us = Some(
            self.last_answer_us
                .map_or(answered_us, |l| l.max(answered_us)),
        );
        self.publish_latency_ms
            .push(answered_us.saturating_sub(sent_us) as f64 / 1000.0);
        match result {
            Ok(()) => self.accepted[seq] = true,
            Err(status) => *self.errors.entry(error_key(status)).or_insert(0) += 1,
        }
    }
}

/// Counters the progress line reads while publishing.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicUsize,
    pub(crate) failed: AtomicUsize,
}

/// (seq, accepted or the failure's status, sent µs, answered µs)
type Outcome = (usize, Result<(), Option<u16>>, u64, u64);

/// The publish request of event `seq` of run `run`, meant to leave at `intended_us`.
pub(crate) fn body(run: u32, seq: usize, intended_us: u64) -> Value {
    json!({
        "sub_id": {"format": "opaque", "id": format!("u{}", seq % 10_000)},
        "events": {SESSION_REVOKED: {
            "event_timestamp": intended_us / 1_000_000,
            "loadgen_run": run,
            "loadgen_seq": seq,
            "loadgen_sent_us": intended_us,
        }},
    })
}

/// A publish unanswered after this long counts as a `transport` failure (a hung hub must not
/// hang the closed loop).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(60);

async fn publish_one(
    publisher: &Publisher,
    run: u32,
    seq: usize,
    intended_us: u64,
    counters: &Counters,
) -> Outcome {
    let sent = now_us();
    let body = body(run, seq, intended_us);
    let result = match tokio::time::timeout(PUBLISH_TIMEOUT, publisher.publish(&body)).await {
        Ok(answer) => answer.map(|_| ()).map_err(|e| e.status),
        Err(_) => Err(None),
    };
    let counter = if result.is_ok() {
        &counters.accepted
    } else {
        &counters.failed
    };
    counter.fetch_add(1, Ordering::Relaxed);
    (seq, result, sent, now_us())
}

/// `events` events from `concurrency` publishers in a closed loop.
pub(crate) async fn closed_loop(
    publisher: &Publisher,
    run: u32,
    events: usize,
    concurrency: usize,
    counters: Arc<Counters>,
) -> anyhow::Result<Sent> {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (publisher, next, counters) = (publisher.clone(), next.clone(), counters.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if seq >= events {
                        break out;
                    }
                    out.push(publish_one(&publisher, run, seq, now_us(), &counters).await);
                }
            })
        })
        .collect();
    let mut sent = Sent {
        accepted: vec![false; events],
        ..Sent::default()
    };
    for task in tasks {
        for one in task.await.context("a publisher panicked")? {
            sent.record(one);
        }
    }
    Ok(sent)
}

/// An open loop: `rate` events/s for `duration`, at most `max_in_flight` requests at once.
pub(crate) async fn open_loop(
    publisher: &Publisher,
    run: u32,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    counters: Arc<Counters>,
) -> anyhow::Result<Sent> {
    let events = (rate * duration.as_secs_f64()).round() as usize;
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let start = tokio::time::Instant::now();
    let base_us = now_us();
    let mut late = 0usize;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    let mut sent = Sent {
        accepted: vec![false; events],
        ..Sent::default()
    };
    for seq in 0..events {
        let offset = Duration::from_secs_f64(seq as f64 / rate);
        tokio::time::sleep_until(start + offset).await;
        let intended_us = base_us + offset.as_micros() as u64;
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .context("the in-flight limit closed")?;
        if now_us() > intended_us + 10_000 {
            late += 1;
        }
        sent.peak_in_flight = sent
            .peak_in_flight
            .max(max_in_flight.max(1) - slots.available_permits());
        let (publisher, tx, counters) = (publisher.clone(), tx.clone(), counters.clone());
        tokio::spawn(async move {
            let one = publish_one(&publisher, run, seq, intended_us, &counters).await;
            drop(slot);
            let _ = tx.send(one);
        });
        // Record answers as they come (memory stays flat).
        while let Ok(one) = rx.try_recv() {
            sent.record(one);
        }
    }
    drop(tx);
    while let Some(one) = rx.recv().await {
        sent.record(one);
    }
    sent.late_sends = late;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_publish_body_carries_the_mark_in_the_event_payload() {
        let b = body(7, 12_345, 1_700_000_000_123_456);
        let payload = &b["events"][SESSION_REVOKED];
        assert_eq!(payload["loadgen_run"], 7);
        assert_eq!(payload["loadgen_seq"], 12_345);
        assert_eq!(payload["loadgen_sent_us"], 1_700_000_000_123_456u64);
        assert_eq!(payload["event_timestamp"], 1_700_000_000);
        assert_eq!(b["sub_id"], json!({"format": "opaque", "id": "u2345"}));
    }

    #[test]
    fn accepted_rate_runs_from_first_send_to_last_answer() {
        let mut sent = Sent::default();
        sent.record((0, Ok(()), 1_000_000, 1_100_000));
        sent.record((1, Err(Some(503)), 1_200_000, 1_300_000));
        sent.record((2, Ok(()), 1_500_000, 2_000_000));
        assert_eq!(sent.accepted_count(), 2);
        assert_eq!(sent.accepted_per_s(), 2.0);
        assert_eq!(sent.errors["503"], 1);
    }
}
