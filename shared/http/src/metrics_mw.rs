//! Middleware recording `http_requests_total` and `http_request_duration_seconds` by route
//! pattern (not raw path, so ids do not explode the label set).

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use sethub_telemetry::Metrics;

/// Records request metrics for one service name.
#[derive(Clone)]
pub struct RequestMetrics {
    service: &'static str,
    metrics: Metrics,
}

impl RequestMetrics {
    pub fn new(service: &'static str, metrics: Metrics) -> Self {
        Self { service, metrics }
    }

    /// Use as `App::new().wrap(from_fn(move |req, next| m.clone().record(req, next)))`.
    pub async fn record(
        self,
        req: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<impl MessageBody>, Error> {
        let start = Instant::now();
        let method = req.method().as_str().to_owned();
        let result = next.call(req).await;
        // The route is known only after routing, which happens inside `next`.
        let (status, route) = match &result {
            Ok(resp) => (resp.status().as_u16(), resp.request().match_pattern()),
            Err(e) => (e.as_response_error().status_code().as_u16(), None),
        };
        let route = route.unwrap_or_else(|| "unmatched".to_owned());
        let status = status.to_string();
        self.metrics
            .http_requests
            .with_label_values(&[self.service, &method, &route, &status])
            .inc();
        self.metrics
            .http_duration
            .with_label_values(&[self.service, &method, &route])
            .observe(start.elapsed().as_secs_f64());
        result
    }
}
