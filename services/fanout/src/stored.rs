//! Pushing before the delivery rows are committed.
//!
//! A fresh event's push SETs go to the dispatcher as soon as they are signed, while the
//! transaction that stores their delivery rows runs beside the first attempt, so the commit
//! leaves the latency path. It stays on the durability path: the bus message is acknowledged
//! only after the rows are committed, and no outcome of such a push is written before them
//! (an outcome update of a row not yet stored would change nothing, and the row would then be
//! pushed again by the recovery sweep). The [`Recorder`](crate::recorder::Recorder) waits on
//! the job's [`StoredGate`] before it takes the outcome.
//!
//! **Written once.** The pipeline waits a moment (`push.first_outcome_wait_ms`) for the early
//! pushes' answers before it stores the rows: a SET its receiver took by then is stored
//! `delivered` with its attempt, in the statement that stores the others
//! ([`StoredGate::offer`], [`StoredSignal::collect`]), instead of `pending` and then updated by
//! the recorder. Outcomes that come later, and every other outcome, wait for the commit as
//! above.
//!
//! A crash before the commit loses nothing: the message is still unacknowledged, RabbitMQ
//! hands it out again, and the SETs are made and pushed again with the same `jti`
//! (deterministic per stream, event and generation), so a receiver can drop the repeat. The
//! duplicates are bounded by the pushes in flight when the process died.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sethub_store::Change;
use tokio::sync::{Notify, watch};

use crate::recorder::Record;

/// Opens once the delivery rows of a batch of early pushes are committed (or were not).
#[derive(Clone, Debug)]
pub struct StoredGate {
    rx: watch::Receiver<Option<bool>>,
    early: Arc<Early>,
    /// This job's push was counted as answered already ([`StoredGate::pass`]).
    passed: bool,
}

/// The side that says how the rows' transaction ended.
#[derive(Debug)]
pub struct StoredSignal {
    tx: watch::Sender<Option<bool>>,
    early: Arc<Early>,
}

/// The final outcomes that came before the rows were stored.
#[derive(Debug)]
struct Early {
    /// `Some` until the pipeline takes them to store with the rows.
    outcomes: Mutex<Option<Vec<Record>>>,
    /// How many pushes the batch made, and how many were answered (whatever the answer):
    /// once all were, the pipeline need not wait. A receiver answering 503 at once must not
    /// hold its event messages for the whole wait (that slowed every tenant behind them).
    expected: usize,
    answered: AtomicUsize,
    arrived: Notify,
}

/// A gate and its signal, for a batch of `expected` early pushes.
pub fn gate(expected: usize) -> (StoredSignal, StoredGate) {
    let (tx, rx) = watch::channel(None);
    let early = Arc::new(Early {
        outcomes: Mutex::new(Some(Vec::new())),
        expected,
        answered: AtomicUsize::new(0),
        arrived: Notify::new(),
    });
    (
        StoredSignal {
            tx,
            early: early.clone(),
        },
        StoredGate {
            rx,
            early,
            passed: false,
        },
    )
}

impl StoredSignal {
    /// The first deliveries offered so far, once every push was answered or `wait` has
    /// passed; later ones wait for the commit ([`StoredGate::stored`]).
    pub async fn collect(&self, wait: Duration) -> Vec<Record> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let complete = self.early.answered.load(Ordering::SeqCst) >= self.early.expected;
            if complete
                || tokio::time::timeout_at(deadline, self.early.arrived.notified())
                    .await
                    .is_err()
            {
                break;
            }
        }
        self.take()
    }

    /// Ends the collection: what was offered, and nothing more will be taken.
    fn take(&self) -> Vec<Record> {
        self.early
            .outcomes
            .lock()
            .ok()
            .and_then(|mut o| o.take())
            .unwrap_or_default()
    }

    /// The rows are committed (`true`), or will never be (`false`: the fan-out was given up).
    pub fn done(self, stored: bool) {
        // Whatever was not collected waits for the commit from now on.
        drop(self.take());
        // No gate left: every job of the batch is settled already.
        let _ = self.tx.send(Some(stored));
    }
}

impl Drop for StoredSignal {
    fn drop(&mut self) {
        drop(self.take());
        // Dropped without a word (the task was cancelled): the rows were not stored.
        self.tx.send_if_modified(|v| {
            if v.is_none() {
                *v = Some(false);
                true
            } else {
                false
            }
        });
    }
}

impl StoredGate {
    /// Offers a push's outcome to be stored with the rows: taken (`None`) when it is a first
    /// attempt the receiver took and the rows are not being stored yet; otherwise handed back
    /// (`Some`), to be recorded once they are.
    pub fn offer(&self, record: Record) -> Option<Record> {
        let handed_back = self.keep(record);
        // Counted after it is kept: once the collection sees every push answered, every
        // first delivery among them is in.
        if !self.passed {
            self.count_answer();
        }
        handed_back
    }

    /// This job's push will not be answered before the rows are stored (the dispatcher made
    /// it wait: an open breaker, a spent rate limit, its tenant's share of the backlog full):
    /// counted as answered now, so the collection does not wait for it (a noisy tenant's
    /// waiting SETs must not hold its event messages, and the pipeline's permits, for the
    /// whole `push.first_outcome_wait_ms`). Its outcome, whenever it comes, waits for the
    /// commit.
    pub fn pass(&mut self) {
        if !std::mem::replace(&mut self.passed, true) {
            self.count_answer();
        }
    }

    fn count_answer(&self) {
        let answered = self.early.answered.fetch_add(1, Ordering::SeqCst) + 1;
        if answered >= self.early.expected {
            self.early.arrived.notify_one();
        }
    }

    /// Keeps a first delivery while the rows are not being stored; hands anything else back.
    fn keep(&self, mut record: Record) -> Option<Record> {
        let first_delivered = matches!(record.update.change, Change::Delivered { .. })
            && record.update.attempted
            && record.release
            && record.attempt.is_some();
        if !first_delivered {
            return Some(record);
        }
        let Ok(mut outcomes) = self.early.outcomes.lock() else {
            return Some(record);
        };
        match outcomes.as_mut() {
            Some(v) => {
                // Kept here, it needs no gate (and holding one would make a cycle).
                record.stored = None;
                v.push(record);
                None
            }
            None => Some(record),
        }
    }

    /// Waits until the rows' transaction ended; `true` when they are stored.
    pub async fn stored(&self) -> bool {
        let mut rx = self.rx.clone();
        let waited = rx
            .wait_for(Option::is_some)
            .await
            .map(|v| v.unwrap_or(false));
        // `Err`: the signal is gone; the `Drop` of a silent one said `false` before it went.
        waited.unwrap_or_else(|_| rx.borrow().unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_gate_opens_with_the_signal_and_says_whether_the_rows_are_stored() {
        let (signal, gate) = super::gate(1);
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.stored().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the gate opened before the commit");
        signal.done(true);
        assert!(waiting.await.unwrap());
        assert!(gate.stored().await, "a gate stays open");

        let (signal, gate) = super::gate(1);
        signal.done(false);
        assert!(!gate.stored().await);
    }

    #[tokio::test]
    async fn a_signal_dropped_without_a_word_means_not_stored() {
        let (signal, gate) = super::gate(1);
        drop(signal);
        assert!(!gate.stored().await);
    }

    fn delivered(change: Change) -> Record {
        let id = sethub_domain::DeliveryId::new();
        Record {
            tenant: sethub_domain::TenantId::new(),
            update: sethub_store::Update {
                id,
                at: chrono::Utc::now(),
                attempted: true,
                change,
            },
            attempt: Some(sethub_store::Attempt {
                delivery_id: id,
                stream_id: sethub_domain::StreamId::new(),
                attempted_at: chrono::Utc::now(),
                status: Some(202),
                latency_ms: 1,
                outcome: "delivered".into(),
                error: None,
                response_excerpt: None,
            }),
            release: true,
            stored: None,
        }
    }

    /// A receiver's 503: a retry.
    fn refused() -> Change {
        Change::Retry {
            next_attempt_at: chrono::Utc::now(),
            status: Some(503),
            error: "503".into(),
        }
    }

    #[tokio::test]
    async fn first_deliveries_offered_before_the_rows_are_stored_are_collected_and_no_others() {
        let (signal, gate) = super::gate(3);
        assert!(
            gate.offer(delivered(Change::Delivered { status: 202 }))
                .is_none()
        );
        assert!(
            gate.offer(delivered(refused())).is_some(),
            "a retry waits for the rows"
        );
        // Two of three answered: the collection waits out its time, then takes what came.
        let started = tokio::time::Instant::now();
        let got = signal.collect(Duration::from_millis(30)).await;
        assert_eq!(got.len(), 1);
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(
            gate.offer(delivered(Change::Delivered { status: 202 }))
                .is_some(),
            "after the collection, outcomes wait for the commit"
        );
        signal.done(true);
        assert!(gate.stored().await);
    }

    #[tokio::test]
    async fn a_failed_answer_ends_the_wait_as_soon_as_a_delivery_does() {
        let (signal, gate) = super::gate(2);
        let collecting = tokio::spawn(async move {
            let got = signal.collect(Duration::from_secs(3600)).await;
            (got.len(), signal)
        });
        assert!(
            gate.offer(delivered(Change::Delivered { status: 202 }))
                .is_none()
        );
        assert!(gate.offer(delivered(refused())).is_some());
        let (n, signal) = collecting.await.unwrap();
        assert_eq!(
            n, 1,
            "the delivery is collected, the 503 waits for the rows"
        );
        signal.done(true);
    }

    #[tokio::test]
    async fn the_collection_ends_as_soon_as_every_push_answered() {
        let (signal, gate) = super::gate(2);
        let collecting = tokio::spawn(async move {
            let got = signal.collect(Duration::from_secs(3600)).await;
            (got.len(), signal)
        });
        for _ in 0..2 {
            assert!(
                gate.offer(delivered(Change::Delivered { status: 200 }))
                    .is_none()
            );
        }
        let (n, signal) = collecting.await.unwrap();
        assert_eq!(n, 2);
        signal.done(true);
    }

    #[tokio::test]
    async fn a_push_made_to_wait_counts_as_answered_once_and_ends_the_wait() {
        let (signal, gate) = super::gate(2);
        let collecting = tokio::spawn(async move {
            let got = signal.collect(Duration::from_secs(3600)).await;
            (got.len(), signal)
        });
        let mut waiting = gate.clone();
        waiting.pass();
        waiting.pass();
        // Its late outcome is not counted again (it would end another batch's wait early).
        assert!(waiting.offer(delivered(refused())).is_some());
        tokio::task::yield_now().await;
        assert_eq!(
            gate.early.answered.load(Ordering::SeqCst),
            1,
            "a push passed and then answered counts once"
        );
        assert!(
            gate.offer(delivered(Change::Delivered { status: 202 }))
                .is_none()
        );
        let (n, signal) = collecting.await.unwrap();
        assert_eq!(n, 1, "only the answered push's delivery is collected");
        signal.done(true);
    }
}
