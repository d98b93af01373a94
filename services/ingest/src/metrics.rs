//! `sethub_events_accepted_total{outcome}`: what became of each published event.
//!
//! One counter per process (`Metrics::register` refuses a second one of the same name), put on
//! the registry of each app's `AppContext` the first time that app counts an event: tests build
//! several contexts in one process, and a server's workers share one.

use std::sync::OnceLock;

use prometheus::{IntCounterVec, Opts};
use sethub_app::AppContext;

/// An event's fate, the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored and published now.
    Accepted,
    /// A repeat of an `Idempotency-Key` whose event was already published: answered again.
    Duplicate,
    /// A repeat whose event had been stored but not published: published now.
    Republished,
    /// Refused as invalid (400) or as a conflicting repeat (409).
    Rejected,
    /// Refused by the rate limit (429).
    RateLimited,
    /// A backend failed (503): the client should retry.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Republished => "republished",
            Self::Rejected => "rejected",
            Self::RateLimited => "rate_limited",
            Self::Failed => "failed",
        }
    }
}

fn counter() -> Option<&'static IntCounterVec> {
    static COUNTER: OnceLock<Option<IntCounterVec>> = OnceLock::new();
    COUNTER
        .get_or_init(|| {
            // The registry adds the `sethub_` prefix.
            let opts = Opts::new(
                "events_accepted_total",
                "Events published to ingest, by outcome",
            );
            IntCounterVec::new(opts, &["outcome"])
                .inspect_err(|e| tracing::error!(error = %e, "cannot create the ingest counter"))
                .ok()
        })
        .as_ref()
}

/// Per-app handle on the counter: registers it on the app's `AppContext` registry at the
/// first event (tolerating one registered by another worker of the same process), then only
/// counts. Installed as app data by [`crate::routes`].
#[derive(Debug, Default)]
pub struct Counter {
    registered: OnceLock<()>,
}

impl Counter {
    /// Counts `n` events with this outcome.
    pub fn record(&self, ctx: &AppContext, outcome: Outcome, n: u64) {
        let Some(c) = counter() else { return };
        self.registered.get_or_init(|| {
            match ctx.metrics.registry().register(Box::new(c.clone())) {
                Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
                Err(e) => tracing::error!(error = %e, "cannot register the ingest counter"),
            }
        });
        c.with_label_values(&[outcome.as_str()]).inc_by(n);
    }
}
