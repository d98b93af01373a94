//! Rate limits and the GCRA (generic cell rate algorithm) both backends implement.
//!
//! GCRA keeps one number per bucket, the theoretical arrival time (TAT). With emission interval
//! `T = 1 / rate` and tolerance `tau = T * burst`, a request of cost `c` at `now` is admitted
//! when `max(TAT, now) + T * c - tau <= now`, and then `TAT = max(TAT, now) + T * c`. An idle
//! bucket is full (burst tokens); it expires when `TAT <= now` since it would be full anyway.
//! Times are microseconds as `f64` (exact up to 2^53 µs, ~285 years), as in the Lua script.

use std::time::Duration;

use crate::StateError;

/// A token-bucket rate: `burst` requests at once, refilled at `rate_per_sec`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// Tokens added per second (may be fractional: 0.5 is one per two seconds).
    pub rate_per_sec: f64,
    /// Bucket size: the most requests admitted at once by an idle bucket.
    pub burst: u32,
}

impl Limit {
    pub fn per_second(rate: u32, burst: u32) -> Self {
        Self {
            rate_per_sec: f64::from(rate),
            burst,
        }
    }

    pub fn per_minute(rate: u32, burst: u32) -> Self {
        Self {
            rate_per_sec: f64::from(rate) / 60.0,
            burst,
        }
    }

    pub fn per_hour(rate: u32, burst: u32) -> Self {
        Self {
            rate_per_sec: f64::from(rate) / 3600.0,
            burst,
        }
    }

    /// The emission interval `T` in microseconds, after checking the limit and the cost.
    pub(crate) fn interval_micros(&self, cost: u32) -> Result<f64, StateError> {
        if !(self.rate_per_sec.is_finite() && self.rate_per_sec > 0.0) {
            return Err(StateError::InvalidArgument(format!(
                "rate_per_sec must be a positive number, not {}",
                self.rate_per_sec
            )));
        }
        if self.burst == 0 {
            return Err(StateError::InvalidArgument(
                "burst must be at least 1".into(),
            ));
        }
        if cost > self.burst {
            return Err(StateError::InvalidArgument(format!(
                "cost {cost} exceeds burst {}: it could never be admitted",
                self.burst
            )));
        }
        Ok(1_000_000.0 / self.rate_per_sec)
    }
}

/// The answer of [`StateStore::rate_limit`](crate::StateStore::rate_limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Whole tokens left after this call.
    pub remaining: u32,
    /// When denied, how long until `cost` tokens are available; zero when allowed.
    pub retry_after: Duration,
}

/// One GCRA step (the in-memory twin of the Lua script in `redis_backend/scripts.rs`).
/// Returns the decision and, when admitted, the new TAT.
pub(crate) fn gcra(
    tat: Option<f64>,
    now: f64,
    interval: f64,
    burst: u32,
    cost: u32,
) -> (RateDecision, Option<f64>) {
    let tolerance = interval * f64::from(burst);
    let tat = tat.map_or(now, |tat| tat.max(now));
    let new_tat = tat + interval * f64::from(cost);
    let diff = now - (new_tat - tolerance);
    if diff < 0.0 {
        let available = (now - (tat - tolerance)) / interval;
        let decision = RateDecision {
            allowed: false,
            remaining: whole_tokens(available),
            retry_after: Duration::from_micros((-diff).ceil() as u64),
        };
        (decision, None)
    } else {
        let decision = RateDecision {
            allowed: true,
            remaining: whole_tokens(diff / interval),
            retry_after: Duration::ZERO,
        };
        (decision, Some(new_tat))
    }
}

/// Tokens as a whole number, tolerating float noise just below an integer.
pub(crate) fn whole_tokens(tokens: f64) -> u32 {
    (tokens + 1e-9).floor().max(0.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_bucket_admits_its_burst_then_denies_for_one_interval() {
        let (interval, burst) = (1000.0, 3);
        let mut tat = None;
        for expected_remaining in [2, 1, 0] {
            let (decision, new_tat) = gcra(tat, 0.0, interval, burst, 1);
            assert!(decision.allowed);
            assert_eq!(decision.remaining, expected_remaining);
            tat = new_tat;
        }
        let (denied, unchanged) = gcra(tat, 0.0, interval, burst, 1);
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after, Duration::from_micros(1000));
        assert_eq!(unchanged, None);
        let (later, _) = gcra(tat, 1000.0, interval, burst, 1);
        assert!(later.allowed);
    }

    #[test]
    fn a_cost_above_the_burst_is_refused_as_an_argument() {
        assert!(Limit::per_second(1, 2).interval_micros(3).is_err());
        assert!(Limit::per_second(0, 2).interval_micros(1).is_err());
        assert!(Limit::per_second(1, 0).interval_micros(0).is_err());
    }
}
