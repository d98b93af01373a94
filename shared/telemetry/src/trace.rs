//! Distributed tracing with OpenTelemetry: one trace follows an event from the publish request
//! (ingest) through RabbitMQ (the W3C `traceparent` travels in the message's headers) to each
//! push attempt or poll claim (fan-out), exported over OTLP/HTTP (protobuf) to
//! `telemetry.otlp_endpoint`.
//!
//! Off unless that key is set, and then free: [`Span`] holds nothing, no id is made, no
//! header written, and no exporter thread runs. The exporter sends through the egress gate
//! (the collector is the operator's, so private addresses and `http://` are allowed for it;
//! no redirects, bounded time and answer), from a batch that a background thread flushes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use sethub_egress::{ClientOptions, EgressPolicy, GuardedClient};

/// The process's tracer, once [`init_tracing`] ran with an endpoint.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceInitError {
    #[error("telemetry.otlp_endpoint: {0}")]
    Endpoint(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
}

/// Keeps the exporter running; dropping it flushes the spans not yet sent.
pub struct TracingGuard(SdkTracerProvider);

impl Drop for TracingGuard {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            tracing::debug!(error = %e, "trace exporter shutdown");
        }
    }
}

/// Starts exporting spans of `service` to the OTLP/HTTP collector at `endpoint` (its base
/// URL, e.g. `http://otel-collector:4318`; `/v1/traces` is added unless given). Must run
/// inside the tokio runtime the exporter's requests will use.
pub fn init_tracing(endpoint: &url::Url, service: &str) -> Result<TracingGuard, TraceInitError> {
    let mut url = endpoint.clone();
    if !url.path().ends_with("/v1/traces") {
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    let policy = EgressPolicy {
        allow_private: true,
        allowed_networks: Vec::new(),
        allow_http: true,
    };
    let opts = ClientOptions {
        request_timeout: Duration::from_secs(10),
        max_response_bytes: 64 * 1024,
        ..ClientOptions::default()
    };
    let client = policy
        .client(&opts)
        .map_err(|e| TraceInitError::Exporter(e.to_string()))?;
    policy
        .check_url(url.as_str())
        .map_err(|e| TraceInitError::Endpoint(e.to_string()))?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|e| TraceInitError::Exporter(e.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.as_str())
        .with_http_client(Egress { client, runtime })
        .build()
        .map_err(|e| TraceInitError::Exporter(e.to_string()))?;
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name(format!("sethub-{service}"))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    // A second start in one process (tests) keeps the first tracer.
    let _ = TRACER.set(provider.tracer("sethub"));
    Ok(TracingGuard(provider))
}

/// Whether spans are recorded (an endpoint is configured).
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

tokio::task_local! {
    /// The `traceparent` of the span the current task works under (see [`within`]).
    static CURRENT: Option<String>;
}

/// Runs `work` under the span whose `traceparent` this is: code deep inside (a bus message
/// being made, a push job being queued) reads it with [`current_traceparent`] instead of
/// being handed it through every call.
pub async fn within<F: std::future::Future>(traceparent: Option<String>, work: F) -> F::Output {
    CURRENT.scope(traceparent, work).await
}

/// The `traceparent` [`within`] set for this task, if any.
pub fn current_traceparent() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

/// One span, ended when dropped (or by [`Span::end`]). Empty when tracing is off.
#[derive(Debug, Default)]
pub struct Span(Option<Context>);

impl Span {
    /// A span that starts a new trace.
    pub fn root(name: &'static str) -> Self {
        Self::start(name, &Context::new())
    }

    /// A span continuing the trace of a W3C `traceparent` (a new trace without one).
    pub fn from_traceparent(name: &'static str, traceparent: Option<&str>) -> Self {
        if !enabled() {
            return Self(None);
        }
        let parent = match traceparent {
            Some(tp) => {
                let carrier = HashMap::from([("traceparent".to_owned(), tp.to_owned())]);
                TraceContextPropagator::new().extract(&carrier)
            }
            None => Context::new(),
        };
        Self::start(name, &parent)
    }

    /// A span inside this one.
    pub fn child(&self, name: &'static str) -> Self {
        match &self.0 {
            Some(cx) => Self::start(name, cx),
            None => Self(None),
        }
    }

    fn start(name: &'static str, parent: &Context) -> Self {
        let Some(tracer) = TRACER.get() else {
            return Self(None);
        };
        let span = tracer.start_with_context(Cow::Borrowed(name), parent);
        Self(Some(parent.with_span(span)))
    }

    /// Whether this span records (tracing is on).
    pub fn is_recording(&self) -> bool {
        self.0.is_some()
    }

    /// Adds an attribute (bounded values only: ids, names, counts, status codes), computed
    /// only when the span records.
    pub fn set<V: Into<opentelemetry::Value>>(&self, key: &'static str, value: impl FnOnce() -> V) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(KeyValue::new(key, value()));
        }
    }

    /// Marks the span failed.
    pub fn fail(&self, reason: impl Into<Cow<'static, str>>) {
        if let Some(cx) = &self.0 {
            cx.span().set_status(Status::error(reason));
        }
    }

    /// The W3C `traceparent` that makes a remote span this one's child.
    pub fn traceparent(&self) -> Option<String> {
        let cx = self.0.as_ref()?;
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(cx, &mut carrier);
        carrier.remove("traceparent")
    }

    /// Ends the span now.
    pub fn end(self) {}
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(cx) = self.0.take() {
            cx.span().end();
        }
    }
}

/// The exporter's HTTP client: the egress gate's, run on the service's tokio runtime (the
/// batch exporter calls it from its own thread).
#[derive(Debug)]
struct Egress {
    client: GuardedClient,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for Egress {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let url = request.uri().to_string();
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in request.headers() {
            if let (Ok(n), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
                reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                headers.insert(n, v);
            }
        }
        let body = request.into_body().to_vec();
        let answer = self
            .runtime
            .spawn(async move { client.post(&url).headers(headers).body(body).send().await })
            .await??;
        Ok(Response::builder()
            .status(answer.status.as_u16())
            .body(Bytes::from(answer.body))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_endpoint_spans_are_empty_and_carry_no_traceparent() {
        let span = Span::root("publish");
        assert!(span.0.is_none());
        assert_eq!(span.traceparent(), None);
        let child = Span::from_traceparent(
            "fanout",
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        assert!(child.0.is_none() && child.child("push").0.is_none());
    }
}
