//! Delivery settings a tenant sets for all its streams or for one stream: the retry schedule
//! of failed pushes and a delivery rate limit (for receivers that ask for one). Absent
//! members fall back: stream → tenant → the operator's configuration.

use serde::{Deserialize, Serialize};

/// A jittered exponential retry schedule (see the configuration's `[push.retry]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// First delay, seconds (at least 0.1).
    pub initial_secs: f64,
    /// Growth per attempt (1 to 10).
    pub factor: f64,
    /// Longest delay, seconds (at least 0.1). It caps every delay, the first included: below
    /// `initial_secs`, every retry waits `max_delay_secs`.
    pub max_delay_secs: f64,
    /// Give up (dead-letter) this long after the first attempt, seconds (1 s to 30 days).
    pub max_age_secs: f64,
    /// Jitter, a fraction of the delay (0 to 0.5).
    pub jitter: f64,
}

/// The longest delay a retry schedule may name, seconds (30 days: no SET waits longer than
/// `max_age_secs` allows anyway).
pub const MAX_DELAY_SECS: f64 = 30.0 * 86400.0;

impl RetryPolicy {
    /// Checks the values; the error names the member (`retry.factor`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |m: &str, why: &str| Err((format!("retry.{m}"), why.to_owned()));
        if !(0.1..=MAX_DELAY_SECS).contains(&self.initial_secs) {
            return bad("initial_secs", "must be between 0.1 and 2592000 (30 days)");
        }
        if !(1.0..=10.0).contains(&self.factor) {
            return bad("factor", "must be between 1 and 10");
        }
        if !(0.1..=MAX_DELAY_SECS).contains(&self.max_delay_secs) {
            return bad(
                "max_delay_secs",
                "must be between 0.1 and 2592000 (30 days)",
            );
        }
        if !(1.0..=30.0 * 86400.0).contains(&self.max_age_secs) {
            return bad("max_age_secs", "must be between 1 and 2592000 (30 days)");
        }
        if !(0.0..=0.5).contains(&self.jitter) {
            return bad("jitter", "must be between 0 and 0.5");
        }
        Ok(())
    }
}

/// The delivery settings of a tenant or of one stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// The retry schedule of failed pushes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// At most this many pushes per second to the stream (a burst of the same size, at
    /// least 1). Only meaningful per stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate_per_second: Option<f64>,
}

impl DeliverySettings {
    /// Checks the values; the error names the member.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let Some(r) = &self.retry {
            r.validate()?;
        }
        if let Some(rate) = self.max_rate_per_second
            && !(rate.is_finite() && (0.1..=100_000.0).contains(&rate))
        {
            return Err((
                "max_rate_per_second".into(),
                "must be between 0.1 and 100000".into(),
            ));
        }
        Ok(())
    }

    /// The stored form: `None` when nothing is set (the column is cleared).
    pub fn stored(&self) -> Option<serde_json::Value> {
        (self != &DeliverySettings::default())
            .then(|| serde_json::to_value(self).unwrap_or_default())
    }

    /// These settings, with what they leave open taken from `fallback`.
    pub fn or(&self, fallback: &DeliverySettings) -> DeliverySettings {
        DeliverySettings {
            retry: self.retry.clone().or_else(|| fallback.retry.clone()),
            max_rate_per_second: self.max_rate_per_second.or(fallback.max_rate_per_second),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_secs: 1.0,
            factor: 2.0,
            max_delay_secs: 60.0,
            max_age_secs: 3600.0,
            jitter: 0.1,
        }
    }

    #[test]
    fn a_stream_setting_wins_and_the_rest_falls_back() {
        let tenant = DeliverySettings {
            retry: Some(policy()),
            max_rate_per_second: Some(50.0),
        };
        let stream = DeliverySettings {
            retry: None,
            max_rate_per_second: Some(5.0),
        };
        let eff = stream.or(&tenant);
        assert_eq!(eff.max_rate_per_second, Some(5.0));
        assert_eq!(eff.retry, Some(policy()));
    }

    #[test]
    fn bad_values_name_their_member() {
        let mut p = policy();
        p.factor = 11.0;
        let s = DeliverySettings {
            retry: Some(p),
            max_rate_per_second: None,
        };
        assert_eq!(s.validate().unwrap_err().0, "retry.factor");
        let s = DeliverySettings {
            retry: None,
            max_rate_per_second: Some(0.0),
        };
        assert_eq!(s.validate().unwrap_err().0, "max_rate_per_second");
        assert!(serde_json::from_str::<DeliverySettings>(r#"{"rate": 1}"#).is_err());
        let ok: DeliverySettings = serde_json::from_str(r#"{"max_rate_per_second": 2.5}"#).unwrap();
        assert!(ok.validate().is_ok());
    }
}
