//! Waiting on a condition with a deadline: the only way tests wait.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `condition` every 50 ms until it returns `Some`, or panics naming `what` at the
/// deadline. The condition is the assertion; the interval only bounds the polling cost.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = condition().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
