//! A circuit breaker: after `failures` consecutive failures (network errors, timeouts, 5xx)
//! it opens for `cooldown`; then it is half open and lets one probe through, whose outcome
//! closes it (a success) or opens it again (a failure). One per tenant and endpoint, so one
//! tenant's failing streams never open the circuit of another tenant's healthy ones on the
//! same receiver host.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long SETs that meet a half-open breaker wait for its probe's outcome.
pub const PROBE_WAIT: Duration = Duration::from_millis(500);

#[derive(Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// What the breaker says about an attempt now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Pass,
    /// Open (or half open with its probe out): come back at this instant.
    WaitUntil(Instant),
}

#[derive(Default)]
pub struct Breaker {
    state: Mutex<State>,
}

impl Breaker {
    /// Whether an attempt may go now.
    pub fn gate(&self) -> Gate {
        let Ok(mut b) = self.state.lock() else {
            return Gate::Pass;
        };
        let now = Instant::now();
        match b.open_until {
            Some(until) if now < until => Gate::WaitUntil(until),
            Some(_) if b.probing => Gate::WaitUntil(now + PROBE_WAIT),
            Some(_) => {
                // Half open: this attempt is the probe.
                b.probing = true;
                Gate::Pass
            }
            None => Gate::Pass,
        }
    }

    /// Until when no attempt can go through it (open, or half open with its probe out);
    /// `None` when one can go now.
    pub fn blocked_until(&self) -> Option<Instant> {
        let b = self.state.lock().ok()?;
        let now = Instant::now();
        match b.open_until {
            Some(until) if now < until => Some(until),
            Some(_) if b.probing => Some(now + PROBE_WAIT),
            _ => None,
        }
    }

    /// The receiver answered in a way that is not a failure: closed.
    pub fn success(&self) {
        if let Ok(mut b) = self.state.lock() {
            *b = State::default();
        }
    }

    /// A network error, a timeout or a 5xx: opens at `threshold` in a row (again at once
    /// after a failed probe).
    pub fn failure(&self, threshold: u32, cooldown: Duration) {
        if let Ok(mut b) = self.state.lock() {
            b.failures = b.failures.saturating_add(1);
            b.probing = false;
            if b.failures >= threshold {
                b.open_until = Some(Instant::now() + cooldown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_after_its_failures_probes_once_then_closes_or_reopens() {
        let b = Breaker::default();
        let cooldown = Duration::from_secs(10);
        b.failure(3, cooldown);
        b.failure(3, cooldown);
        assert_eq!(b.gate(), Gate::Pass, "two failures of three: still closed");
        b.failure(3, cooldown);
        let opened = Instant::now();
        assert_eq!(b.gate(), Gate::WaitUntil(opened + cooldown), "open");

        tokio::time::advance(cooldown).await;
        assert_eq!(b.gate(), Gate::Pass, "half open: the probe goes");
        for _ in 0..5 {
            assert_eq!(
                b.gate(),
                Gate::WaitUntil(Instant::now() + PROBE_WAIT),
                "only one probe at a time"
            );
        }
        b.failure(3, cooldown);
        assert_eq!(
            b.gate(),
            Gate::WaitUntil(Instant::now() + cooldown),
            "a failed probe opens it again for a whole cooldown"
        );

        tokio::time::advance(cooldown).await;
        assert_eq!(b.gate(), Gate::Pass, "the next probe");
        b.success();
        for _ in 0..5 {
            assert_eq!(b.gate(), Gate::Pass, "a successful probe closes it");
        }
        b.failure(3, cooldown);
        assert_eq!(b.gate(), Gate::Pass, "closing forgot the failures");
    }
}
