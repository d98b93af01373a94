//! Logs (tracing, text or JSON), metrics (one Prometheus registry per process) and
//! distributed traces ([`trace`], OpenTelemetry over OTLP/HTTP when configured).
//!
//! Each service registers its own metrics on the [`Metrics`] registry it is handed; the
//! `/metrics` route renders the registry in the Prometheus text format.

pub mod trace;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global tracing subscriber. `RUST_LOG` overrides `filter` when set.
/// Safe to call more than once (later calls are ignored), which tests rely on.
pub fn init_logging(json: bool, filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(fmt::layer().json().with_current_span(false))
            .try_init()
    } else {
        registry.with(fmt::layer().with_target(true)).try_init()
    };
    // Already initialised (a second service in the same process, or a test): keep the first.
    drop(result);
}

/// A metric could not be registered (a name clash: a programming error caught at start).
#[derive(Debug, thiserror::Error)]
#[error("metrics registration failed: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// The process's metric registry plus the HTTP metrics every service shares.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `http_requests_total{service, method, route, status}`
    pub http_requests: IntCounterVec,
    /// `http_request_duration_seconds{service, method, route}`
    pub http_duration: HistogramVec,
    /// `backend_up{backend}`: 1 when the backend (`database`, `bus`, `state`) answered the
    /// readiness check run at the last scrape, 0 when it did not.
    pub backend_up: IntGaugeVec,
}

impl Metrics {
    /// A registry with process metrics and HTTP request metrics.
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new_custom(Some("sethub".to_owned()), None)?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route and status",
            ),
            &["service", "method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["service", "method", "route"],
        )?;
        let backend_up = IntGaugeVec::new(
            Opts::new(
                "backend_up",
                "1 when the backend answered the readiness check at the last scrape, else 0",
            ),
            &["backend"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(backend_up.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            backend_up,
        })
    }

    /// The registry, for services to register their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers a collector, e.g. a counter a service created.
    pub fn register<C: prometheus::core::Collector + Clone + 'static>(
        &self,
        c: &C,
    ) -> Result<(), MetricsError> {
        self.registry.register(Box::new(c.clone()))?;
        Ok(())
    }

    /// Everything registered, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "could not encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_renders_process_and_http_metrics() {
        let m = Metrics::new().unwrap();
        m.http_requests
            .with_label_values(&["manage", "GET", "/healthz", "200"])
            .inc();
        let text = m.render();
        assert!(text.contains("sethub_http_requests_total{"), "{text}");
        assert!(
            text.contains("sethub_process_resident_memory_bytes"),
            "{text}"
        );
    }
}
