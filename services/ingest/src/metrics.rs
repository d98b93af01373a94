//! `sethub_events_accepted_total{outcome}`: what became of each published event.
//!
//! `sethub_tenant_events_top_total{tenant}`: events published by the tenants that publish most,
//! for the dashboard's top talkers. Bounded: a space-saving sketch follows at most
//! [`TRACKED`] tenants in memory (a new one replaces the smallest, inheriting its count, so a
//! count overestimates by at most that), and a scrape shows only the [`EXPORTED`] largest.
//!
//! One counter per process (`Metrics::register` refuses a second one of the same name), put on
//! the registry of each app's `AppContext` the first time that app counts an event: tests build
//! several contexts in one process, and a server's workers share one.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, Opts};
use sethub_app::AppContext;
use sethub_domain::TenantId;

/// Tenants the top-talker sketch follows.
pub const TRACKED: usize = 100;
/// Tenants a scrape shows (the series of `tenant_events_top_total` per process).
pub const EXPORTED: usize = 10;

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

/// The tenants that publish most, as a Prometheus collector.
#[derive(Clone)]
pub struct TopTalkers {
    counts: std::sync::Arc<Mutex<HashMap<TenantId, u64>>>,
    exported: IntCounterVec,
}

impl TopTalkers {
    fn new() -> Option<Self> {
        let opts = Opts::new(
            "tenant_events_top_total",
            "Events published by the tenants that publish most (approximate, top few only)",
        );
        let exported = IntCounterVec::new(opts, &["tenant"])
            .inspect_err(|e| tracing::error!(error = %e, "cannot create the top-talker counter"))
            .ok()?;
        Some(Self {
            counts: std::sync::Arc::default(),
            exported,
        })
    }

    /// Counts `n` events of `tenant`.
    pub fn add(&self, tenant: TenantId, n: u64) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        if let Some(c) = counts.get_mut(&tenant) {
            *c = c.saturating_add(n);
            return;
        }
        let mut base = 0;
        if counts.len() >= TRACKED
            && let Some((&smallest, &count)) = counts.iter().min_by_key(|(_, c)| **c)
        {
            counts.remove(&smallest);
            base = count;
        }
        counts.insert(tenant, base.saturating_add(n));
    }

    /// The `limit` largest counts, largest first.
    pub fn top(&self, limit: usize) -> Vec<(TenantId, u64)> {
        let Ok(counts) = self.counts.lock() else {
            return Vec::new();
        };
        let mut all: Vec<(TenantId, u64)> = counts.iter().map(|(t, c)| (*t, *c)).collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(limit);
        all
    }
}

impl Collector for TopTalkers {
    fn desc(&self) -> Vec<&Desc> {
        self.exported.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.exported.reset();
        for (tenant, n) in self.top(EXPORTED) {
            self.exported
                .with_label_values(&[tenant.to_string().as_str()])
                .inc_by(n);
        }
        self.exported.collect()
    }
}

fn talkers() -> Option<&'static TopTalkers> {
    static TALKERS: OnceLock<Option<TopTalkers>> = OnceLock::new();
    TALKERS.get_or_init(TopTalkers::new).as_ref()
}

/// Per-app handle on the counter: registers it on the app's `AppContext` registry at the
/// first event (tolerating one registered by another worker of the same process), then only
/// counts. Installed as app data by [`crate::routes`].
#[derive(Debug, Default)]
pub struct Counter {
    registered: OnceLock<()>,
    talkers_registered: OnceLock<()>,
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

    /// Counts `n` events a tenant asked to publish (the top talkers).
    pub fn talker(&self, ctx: &AppContext, tenant: TenantId, n: u64) {
        let Some(t) = talkers() else { return };
        self.talkers_registered.get_or_init(|| {
            match ctx.metrics.registry().register(Box::new(t.clone())) {
                Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
                Err(e) => tracing::error!(error = %e, "cannot register the top-talker counter"),
            }
        });
        t.add(tenant, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sketch_keeps_the_largest_talkers_within_its_bound() {
        let t = TopTalkers::new().unwrap();
        let loud: Vec<TenantId> = (0..3).map(|_| TenantId::new()).collect();
        for (i, tenant) in loud.iter().enumerate() {
            t.add(*tenant, 1_000 * (i as u64 + 1));
        }
        for _ in 0..1_000 {
            t.add(TenantId::new(), 1);
        }
        assert!(t.counts.lock().unwrap().len() <= TRACKED);
        let top = t.top(3);
        assert_eq!(
            top.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![loud[2], loud[1], loud[0]]
        );
        let families = t.collect();
        assert_eq!(families[0].get_metric().len(), EXPORTED);
    }
}
