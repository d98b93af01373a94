//! When to try a failed push again: jittered exponential back-off, capped, given up after a
//! maximum age (by default about three days), configurable per tenant and per stream.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A retry schedule. Attempt `n` (1-based, counting failures so far) waits
/// `min(initial * factor^(n-1), max_delay)`, jittered by ±`jitter`, and none is scheduled past
/// `max_age` after the first attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrySchedule {
    pub initial_secs: f64,
    pub factor: f64,
    pub max_delay_secs: f64,
    pub max_age_secs: f64,
    /// Fraction of the delay, 0.0..=0.5.
    pub jitter: f64,
}

impl Default for RetrySchedule {
    /// 5 s, ×3, capped at 8 h, for 72 h: 5 s, 15 s, 45 s, 2¼ min, 6¾ min, 20 min, 1 h, 3 h,
    /// then every 8 h — about 16 attempts in three days.
    fn default() -> Self {
        Self {
            initial_secs: 5.0,
            factor: 3.0,
            max_delay_secs: 8.0 * 3600.0,
            max_age_secs: 72.0 * 3600.0,
            jitter: 0.2,
        }
    }
}

impl From<&sethub_domain::delivery::RetryPolicy> for RetrySchedule {
    fn from(c: &sethub_domain::delivery::RetryPolicy) -> Self {
        Self {
            initial_secs: c.initial_secs,
            factor: c.factor,
            max_delay_secs: c.max_delay_secs,
            max_age_secs: c.max_age_secs,
            jitter: c.jitter,
        }
    }
}

impl From<&sethub_config::RetryConfig> for RetrySchedule {
    fn from(c: &sethub_config::RetryConfig) -> Self {
        Self {
            initial_secs: c.initial_secs,
            factor: c.factor,
            max_delay_secs: c.max_delay_secs,
            max_age_secs: c.max_age_secs,
            jitter: c.jitter,
        }
    }
}

impl RetrySchedule {
    /// The un-jittered delay after `failures` failed attempts (`failures >= 1`).
    pub fn base_delay(&self, failures: u32) -> Duration {
        let exp = f64::from(failures.saturating_sub(1).min(64));
        let secs = (self.initial_secs * self.factor.powf(exp))
            .min(self.max_delay_secs)
            .max(0.0);
        Duration::from_secs_f64(secs)
    }

    /// The delay before the next attempt, or `None` when the SET has been failing for longer
    /// than `max_age` (then it is dead-lettered). `age` is the time since the first attempt;
    /// `random` is a uniform sample in [0, 1) for the jitter; `at_least` comes from the
    /// receiver's `Retry-After`.
    pub fn next_delay(
        &self,
        failures: u32,
        age: Duration,
        random: f64,
        at_least: Option<Duration>,
    ) -> Option<Duration> {
        let base = self.base_delay(failures).as_secs_f64();
        let jitter = self.jitter.clamp(0.0, 0.5);
        let jittered = base * (1.0 - jitter + 2.0 * jitter * random.clamp(0.0, 1.0));
        let mut delay = Duration::from_secs_f64(jittered.max(0.0));
        if let Some(min) = at_least {
            delay = delay.max(min);
        }
        if (age + delay).as_secs_f64() > self.max_age_secs {
            return None;
        }
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_grows_caps_and_spans_about_three_days() {
        let s = RetrySchedule::default();
        assert_eq!(s.base_delay(1), Duration::from_secs(5));
        assert_eq!(s.base_delay(2), Duration::from_secs(15));
        assert_eq!(s.base_delay(20), Duration::from_secs(8 * 3600));
        let (mut age, mut attempts) = (Duration::ZERO, 1u32);
        while let Some(d) = s.next_delay(attempts, age, 0.5, None) {
            age += d;
            attempts += 1;
        }
        assert!(
            age > Duration::from_secs(64 * 3600) && age <= Duration::from_secs(72 * 3600),
            "{age:?}"
        );
        assert!((14..=20).contains(&attempts), "{attempts}");
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let s = RetrySchedule::default();
        let lo = s.next_delay(3, Duration::ZERO, 0.0, None).unwrap();
        let hi = s.next_delay(3, Duration::ZERO, 0.999_999, None).unwrap();
        assert_eq!(lo, Duration::from_secs(36));
        assert!(hi > Duration::from_secs(53) && hi <= Duration::from_secs(54));
    }

    #[test]
    fn retry_after_is_a_floor_and_max_age_ends_the_retries() {
        let s = RetrySchedule {
            max_age_secs: 60.0,
            ..RetrySchedule::default()
        };
        assert_eq!(
            s.next_delay(1, Duration::ZERO, 0.5, Some(Duration::from_secs(30))),
            Some(Duration::from_secs(30))
        );
        assert_eq!(s.next_delay(1, Duration::from_secs(58), 0.5, None), None);
    }
}
