//! The fan-out service's metrics (all prefixed `sethub_` by the registry):
//!
//! - `fanout_events_total{outcome}`: bus messages of accepted events, by what became of them;
//! - `sets_signed_total{kind}`: SETs signed (`event`, `verification`, `stream_updated`,
//!   `resigned`);
//! - `push_deliveries_total{outcome}`: push outcomes (`delivered`, `delivered_nonstandard`,
//!   `retry`, `dead`, `resign`, `disabled`, `dropped`, `held`, `breaker_open`, `rate_limited`,
//!   and `overflow`: first attempts past their tenant's share of the backlog, parked until
//!   it has room);
//! - `push_attempt_seconds`: latency of one push request;
//! - `end_to_end_seconds`: from the event's acceptance by ingest to the receiver's 2xx;
//! - `push_retry_scheduled`: deliveries waiting in this process's memory (a short wait for a
//!   breaker or a rate limit);
//! - `push_in_memory`, `push_in_memory_peak`: deliveries this process holds now, and the most
//!   it held since it started (bounded by `push.max_backlog`, see `dispatch.rs`);
//! - `push_parked_total`: retries and long waits handed to the database until due;
//! - `push_swept_total`: deliveries the recovery sweep took over (left overdue by a
//!   process that stopped);
//! - `push_written_once_total`: SETs stored `delivered` with their rows, their receiver
//!   having taken them before the rows were written (one row write, `stored.rs`);
//! - `push_in_flight`: push requests in flight;
//! - `push_dead_letters`: dead-lettered deliveries of all tenants, counted by the sweep of the
//!   replica holding the periodic jobs' lease (the others report 0: read it with `max()`);
//! - `bus_lag_seconds{queue}`: from a message's publication to its consumption;
//! - `poll_backlog`, `poll_oldest_age_seconds`: SETs waiting in the poll queues of all
//!   tenants, and the age of the oldest of them (0 when none wait), counted as the dead letters.

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts};
use sethub_telemetry::Metrics;

/// Handles on the fan-out metrics. Cheap to clone.
#[derive(Clone)]
pub struct FanoutMetrics {
    pub events: IntCounterVec,
    pub signed: IntCounterVec,
    pub deliveries: IntCounterVec,
    pub attempt_seconds: Histogram,
    pub end_to_end_seconds: Histogram,
    pub retry_scheduled: IntGauge,
    pub dead_letters: IntGauge,
    pub poll_dropped: IntCounterVec,
    pub in_flight: IntGauge,
    pub bus_lag_seconds: HistogramVec,
    pub in_memory: IntGauge,
    pub in_memory_peak: IntGauge,
    pub parked: prometheus::IntCounter,
    pub swept: prometheus::IntCounter,
    pub tenants_purged: prometheus::IntCounter,
    pub written_once: prometheus::IntCounter,
    pub poll_backlog: IntGauge,
    pub poll_oldest_age_seconds: IntGauge,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 3600.0,
];

impl FanoutMetrics {
    /// Creates the metrics and registers them on `registry` (a second registration of the same
    /// names, as when tests start fan-out twice in one process, keeps the first).
    pub fn new(registry: &Metrics) -> Self {
        let counter = |name: &str, help: &str, label: &str| {
            IntCounterVec::new(Opts::new(name, help), &[label])
                .unwrap_or_else(|e| unreachable!("static metric definition {name} is invalid: {e}"))
        };
        let histogram = |name: &str, help: &str| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
                .unwrap_or_else(|e| unreachable!("static metric definition {name} is invalid: {e}"))
        };
        let gauge = |name: &str, help: &str| {
            IntGauge::new(name, help)
                .unwrap_or_else(|e| unreachable!("static metric definition {name} is invalid: {e}"))
        };
        let m = Self {
            events: counter(
                "fanout_events_total",
                "Accepted events consumed by fan-out, by outcome",
                "outcome",
            ),
            signed: counter("sets_signed_total", "SETs signed, by kind", "kind"),
            deliveries: counter("push_deliveries_total", "Push delivery outcomes", "outcome"),
            attempt_seconds: histogram("push_attempt_seconds", "Latency of one push request"),
            end_to_end_seconds: histogram(
                "end_to_end_seconds",
                "From an event's acceptance to the receiver's 2xx",
            ),
            retry_scheduled: gauge(
                "push_retry_scheduled",
                "Deliveries waiting for a retry in this process",
            ),
            in_flight: gauge("push_in_flight", "Push requests in flight"),
            dead_letters: gauge(
                "push_dead_letters",
                "Dead-lettered deliveries of all tenants (counted by the recovery sweep)",
            ),
            poll_dropped: counter(
                "poll_dropped_total",
                "SETs dropped from poll queues by their retention, by reason (age, count)",
                "reason",
            ),
            bus_lag_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "bus_lag_seconds",
                    "From a bus message's publication to its consumption",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["queue"],
            )
            .unwrap_or_else(|e| unreachable!("static metric definition is invalid: {e}")),
            in_memory: gauge(
                "push_in_memory",
                "Deliveries this fan-out process holds in memory",
            ),
            in_memory_peak: gauge(
                "push_in_memory_peak",
                "The most deliveries this fan-out process held in memory since it started",
            ),
            parked: prometheus::IntCounter::new(
                "push_parked_total",
                "Retries and long waits handed to the database until due",
            )
            .unwrap_or_else(|e| unreachable!("static metric definition is invalid: {e}")),
            swept: prometheus::IntCounter::new(
                "push_swept_total",
                "Deliveries the recovery sweep took over",
            )
            .unwrap_or_else(|e| unreachable!("static metric definition is invalid: {e}")),
            tenants_purged: prometheus::IntCounter::new(
                "tenants_purged_total",
                "Closed organisations deleted after their grace period",
            )
            .unwrap_or_else(|e| unreachable!("static metric definition is invalid: {e}")),
            written_once: prometheus::IntCounter::new(
                "push_written_once_total",
                "SETs stored delivered with their rows (taken before the rows were written)",
            )
            .unwrap_or_else(|e| unreachable!("static metric definition is invalid: {e}")),
            poll_backlog: gauge(
                "poll_backlog",
                "SETs waiting in the poll queues of all tenants (counted by the recovery sweep)",
            ),
            poll_oldest_age_seconds: gauge(
                "poll_oldest_age_seconds",
                "Age of the oldest SET waiting in any poll queue (0 when none wait)",
            ),
        };
        for result in [
            registry.register(&m.events),
            registry.register(&m.signed),
            registry.register(&m.deliveries),
            registry.register(&m.attempt_seconds),
            registry.register(&m.end_to_end_seconds),
            registry.register(&m.retry_scheduled),
            registry.register(&m.in_flight),
            registry.register(&m.dead_letters),
            registry.register(&m.poll_dropped),
            registry.register(&m.bus_lag_seconds),
            registry.register(&m.in_memory),
            registry.register(&m.in_memory_peak),
            registry.register(&m.parked),
            registry.register(&m.swept),
            registry.register(&m.tenants_purged),
            registry.register(&m.written_once),
            registry.register(&m.poll_backlog),
            registry.register(&m.poll_oldest_age_seconds),
        ] {
            if let Err(e) = result {
                tracing::debug!(error = %e, "fan-out metric already registered");
            }
        }
        m
    }
}
