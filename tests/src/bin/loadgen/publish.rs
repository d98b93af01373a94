//! The publishers of the load generator: tasks that publish the planned events (one by one
//! or in batches, at a rate or as fast as accepted) and record what they sent.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use sethub_tests::setup::{self, Publisher};

use crate::Plan;

/// What the publishers recorded.
#[derive(Default)]
pub(crate) struct Published {
    /// Event id → when its publish request was sent.
    pub(crate) sent: HashMap<String, Instant>,
    pub(crate) publish_latency_ms: Vec<f64>,
    /// Failures by status (`transport` when there was no answer).
    pub(crate) errors: BTreeMap<String, usize>,
    pub(crate) first_send: Option<Instant>,
    pub(crate) last_answer: Option<Instant>,
}

impl Published {
    pub(crate) fn merge(&mut self, other: Published) {
        self.sent.extend(other.sent);
        self.publish_latency_ms.extend(other.publish_latency_ms);
        for (k, v) in other.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
        self.first_send = match (self.first_send, other.first_send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_answer = match (self.last_answer, other.last_answer) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Counters the progress line reads.
#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) accepted: AtomicUsize,
    pub(crate) failed: AtomicUsize,
}

pub(crate) fn event(index: usize) -> Value {
    setup::session_revoked(&format!("user{}@example.com", index % 10_000))
}

pub(crate) fn error_key(status: Option<u16>) -> String {
    status.map_or_else(|| "transport".to_owned(), |s| s.to_string())
}

pub(crate) async fn publisher_task(
    publisher: Publisher,
    plan: Arc<Plan>,
    next: Arc<AtomicUsize>,
    progress: Arc<Progress>,
    start: tokio::time::Instant,
) -> Published {
    let mut out = Published::default();
    let per = plan.per_request();
    loop {
        let request = next.fetch_add(1, Ordering::Relaxed);
        if request >= plan.requests() {
            break;
        }
        let first = request * per;
        let last = (first + per).min(plan.events);
        if plan.rate > 0.0 {
            // Pacing: request i is due at start + first event's index / rate.
            let due = start + Duration::from_secs_f64(first as f64 / plan.rate);
            tokio::time::sleep_until(due).await;
        }
        let sent = Instant::now();
        out.first_send.get_or_insert(sent);
        let results: Vec<Result<String, Option<u16>>> = if plan.batch == 0 {
            vec![publisher.publish(&event(first)).await.map_err(|e| e.status)]
        } else {
            let events: Vec<Value> = (first..last).map(event).collect();
            match publisher.publish_batch(&events).await {
                Ok(items) => items.into_iter().map(|r| r.map_err(|e| e.status)).collect(),
                Err(e) => vec![Err(e.status); last - first],
            }
        };
        let answered = Instant::now();
        out.last_answer = Some(answered);
        out.publish_latency_ms
            .push(answered.duration_since(sent).as_secs_f64() * 1000.0);
        for result in results {
            match result {
                Ok(id) => {
                    out.sent.insert(id, sent);
                    progress.accepted.fetch_add(1, Ordering::Relaxed);
                }
                Err(status) => {
                    *out.errors.entry(error_key(status)).or_insert(0) += 1;
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    out
}

/// Awaits every publisher and merges what they recorded.
pub(crate) async fn join_publishers(
    tasks: Vec<tokio::task::JoinHandle<Published>>,
) -> anyhow::Result<Published> {
    let mut all = Published::default();
    for task in tasks {
        all.merge(task.await.context("a publisher panicked")?);
    }
    Ok(all)
}
