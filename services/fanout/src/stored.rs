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
//! A crash before the commit loses nothing: the message is still unacknowledged, RabbitMQ
//! hands it out again, and the SETs are made and pushed again with the same `jti`
//! (deterministic per stream, event and generation), so a receiver can drop the repeat. The
//! duplicates are bounded by the pushes in flight when the process died.

use tokio::sync::watch;

/// Opens once the delivery rows of a batch of early pushes are committed (or were not).
#[derive(Clone, Debug)]
pub struct StoredGate(watch::Receiver<Option<bool>>);

/// The side that says how the rows' transaction ended.
#[derive(Debug)]
pub struct StoredSignal(watch::Sender<Option<bool>>);

/// A gate and its signal.
pub fn gate() -> (StoredSignal, StoredGate) {
    let (tx, rx) = watch::channel(None);
    (StoredSignal(tx), StoredGate(rx))
}

impl StoredSignal {
    /// The rows are committed (`true`), or will never be (`false`: the fan-out was given up).
    pub fn done(self, stored: bool) {
        // No gate left: every job of the batch is settled already.
        let _ = self.0.send(Some(stored));
    }
}

impl Drop for StoredSignal {
    fn drop(&mut self) {
        // Dropped without a word (the task was cancelled): the rows were not stored.
        self.0.send_if_modified(|v| {
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
    /// Waits until the rows' transaction ended; `true` when they are stored.
    pub async fn stored(&self) -> bool {
        let mut rx = self.0.clone();
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
    #[tokio::test]
    async fn the_gate_opens_with_the_signal_and_says_whether_the_rows_are_stored() {
        let (signal, gate) = super::gate();
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.stored().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the gate opened before the commit");
        signal.done(true);
        assert!(waiting.await.unwrap());
        assert!(gate.stored().await, "a gate stays open");

        let (signal, gate) = super::gate();
        signal.done(false);
        assert!(!gate.stored().await);
    }

    #[tokio::test]
    async fn a_signal_dropped_without_a_word_means_not_stored() {
        let (signal, gate) = super::gate();
        drop(signal);
        assert!(!gate.stored().await);
    }
}
