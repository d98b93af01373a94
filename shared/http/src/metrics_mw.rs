//! Middleware recording `http_requests_total` and `http_request_duration_seconds`. Every label
//! comes from a fixed set, so no request can add series: the method is one of the standard ones
//! or `OTHER`, the route is the matched pattern (never the raw path; `unmatched` otherwise),
//! and the status is a known code or its class (`5xx`).

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use sethub_telemetry::Metrics;

/// The route label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

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
        let method = method_label(req.method());
        let result = next.call(req).await;
        // The route is known only after routing, which happens inside `next`.
        let (status, route) = match &result {
            Ok(resp) => (resp.status(), resp.request().match_pattern()),
            Err(e) => (e.as_response_error().status_code(), None),
        };
        let route = route.unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
        let status = status_label(status);
        self.metrics
            .http_requests
            .with_label_values(&[self.service, method, &route, &status])
            .inc();
        self.metrics
            .http_duration
            .with_label_values(&[self.service, method, &route])
            .observe(start.elapsed().as_secs_f64());
        result
    }
}

/// The standard methods by name; any other (HTTP allows any token) is `OTHER`.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD
        .iter()
        .find(|m| *m == method)
        .map_or("OTHER", Method::as_str)
}

/// A status code with a registered reason phrase as itself, any other as its class
/// (`1xx`…`5xx`, and `other` beyond): a handler can only return a bounded set of labels.
fn status_label(status: StatusCode) -> String {
    if status.canonical_reason().is_some() {
        return status.as_str().to_owned();
    }
    match status.as_u16() / 100 {
        class @ 1..=5 => format!("{class}xx"),
        _ => "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::test as at;
    use actix_web::{App, HttpResponse, web};

    use super::*;

    #[test]
    fn made_up_methods_are_other_and_standard_ones_keep_their_name() {
        for m in ["PROBE1", "get", "PROPFIND", "X"] {
            let method = Method::from_bytes(m.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "OTHER", "{m}");
        }
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }

    #[test]
    fn unregistered_status_codes_become_their_class() {
        assert_eq!(status_label(StatusCode::NOT_FOUND), "404");
        assert_eq!(status_label(StatusCode::from_u16(599).unwrap()), "5xx");
        assert_eq!(status_label(StatusCode::from_u16(299).unwrap()), "2xx");
        assert_eq!(status_label(StatusCode::from_u16(999).unwrap()), "other");
    }

    /// The number of series `/metrics` would show.
    fn series(metrics: &Metrics) -> usize {
        metrics
            .render()
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("http_request"))
            .count()
    }

    #[actix_web::test]
    async fn made_up_methods_and_random_paths_add_no_series_after_the_first() {
        let metrics = Metrics::new().unwrap();
        let m = RequestMetrics::new("test", metrics.clone());
        let app = at::init_service(
            App::new()
                .wrap(from_fn(move |req, next| m.clone().record(req, next)))
                .route(
                    "/things/{id}",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                ),
        )
        .await;
        let send = |method: String, path: String| {
            at::TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(&path)
                .to_request()
        };
        let _ = at::call_service(&app, send("PROBE0".into(), "/nowhere/0".into())).await;
        let _ = at::call_service(&app, send("PROBE0".into(), "/things/0".into())).await;
        let _ = at::call_service(&app, send("GET".into(), "/things/0".into())).await;
        let before = series(&metrics);
        for i in 1..=200 {
            let _ =
                at::call_service(&app, send(format!("PROBE{i}"), format!("/nowhere/{i}"))).await;
            let _ = at::call_service(&app, send(format!("PROBE{i}"), format!("/things/{i}"))).await;
            let _ = at::call_service(&app, send("GET".into(), format!("/things/{i}"))).await;
        }
        assert_eq!(series(&metrics), before, "{}", metrics.render());
        let text = metrics.render();
        assert!(!text.contains("PROBE"), "{text}");
        assert!(!text.contains("/nowhere"), "{text}");
        assert!(text.contains(r#"route="/things/{id}""#), "{text}");
    }
}
