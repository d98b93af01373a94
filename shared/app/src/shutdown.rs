//! The process-wide "shutting down" signal (SIGTERM): set once by the binary, observed by
//! whatever must stop taking work or hand it back (fan-out's consumers, waiting long polls).

use std::sync::Arc;

use tokio::sync::watch;

/// Cloned into every part of a process; [`Shutdown::begin`] is seen by all clones.
#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Shutdown {
    /// The process is shutting down: everything waiting in [`Shutdown::begun`] returns.
    pub fn begin(&self) {
        self.tx.send_replace(true);
    }

    pub fn has_begun(&self) -> bool {
        *self.tx.borrow()
    }

    /// Returns once the shutdown has begun (at once if it already has).
    pub async fn begun(&self) {
        let mut rx = self.tx.subscribe();
        // `wait_for` errs only when the sender is gone, and `self` holds it.
        let _ = rx.wait_for(|started| *started).await;
    }

    /// `work`'s output, or `None` once the shutdown has begun (whichever comes first): for a
    /// consumer's `next()`, which also ends with `None`.
    pub async fn unless_stopping<T>(&self, work: impl Future<Output = Option<T>>) -> Option<T> {
        tokio::select! {
            out = work => out,
            () = self.begun() => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_shutdown_and_waiters_return() {
        let s = Shutdown::default();
        let clone = s.clone();
        let waiter = tokio::spawn(async move { clone.begun().await });
        assert!(!s.has_begun());
        s.begin();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the waiter returns")
            .expect("the waiter ran");
        assert!(s.has_begun());
        // Late waiters return at once.
        tokio::time::timeout(std::time::Duration::from_secs(5), s.begun())
            .await
            .expect("returns at once");
    }
}
