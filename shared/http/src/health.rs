//! `/healthz` (the process is up), `/readyz` (its backends answer) and `/metrics`.
//!
//! `/readyz` is public (load balancers call it), so it names a failing backend and nothing
//! more: a backend's error text (host names, user names, driver messages) goes to the log.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use sethub_telemetry::Metrics;

/// The outcome of one backend check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: &'static str,
    pub ok: bool,
    /// Why it failed: logged, never part of the `/readyz` body.
    #[serde(skip)]
    pub error: Option<String>,
}

/// One backend a service needs (database, bus, state store).
#[async_trait::async_trait]
pub trait Check: Send + Sync {
    fn name(&self) -> &'static str;
    async fn check(&self) -> Result<(), String>;
}

/// The checks behind `/readyz`, each bounded by a timeout so a hung backend reads as down.
/// Once the process is shutting down ([`Readiness::drain`]) it answers 503 `draining`
/// whatever its backends say, so a load balancer stops sending it work.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<Arc<dyn Check>>,
    draining: Arc<std::sync::atomic::AtomicBool>,
}

impl Readiness {
    pub fn new(checks: Vec<Arc<dyn Check>>) -> Self {
        Self {
            checks,
            draining: Arc::default(),
        }
    }

    /// From now on `/readyz` answers 503 `{"status": "draining"}` (every clone sees it).
    pub fn drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn run(&self) -> Vec<CheckResult> {
        let futures = self.checks.iter().map(|c| async move {
            let outcome = tokio_timeout(Duration::from_secs(3), c.check()).await;
            let (ok, error) = match outcome {
                Some(Ok(())) => (true, None),
                Some(Err(e)) => (false, Some(e)),
                None => (false, Some("no answer within 3 s".to_owned())),
            };
            CheckResult {
                name: c.name(),
                ok,
                error,
            }
        });
        futures_util::future::join_all(futures).await
    }
}

async fn tokio_timeout<F: std::future::Future>(d: Duration, f: F) -> Option<F::Output> {
    use futures_util::future::{Either, select};
    let sleep = actix_web::rt::time::sleep(d);
    futures_util::pin_mut!(f);
    futures_util::pin_mut!(sleep);
    match select(f, sleep).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}

#[derive(Serialize)]
struct ReadyBody {
    status: &'static str,
    checks: Vec<CheckResult>,
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_draining() {
        return HttpResponse::ServiceUnavailable().json(ReadyBody {
            status: "draining",
            checks: Vec::new(),
        });
    }
    let checks = readiness.run().await;
    let ready = checks.iter().all(|c| c.ok);
    for c in checks.iter().filter(|c| !c.ok) {
        tracing::warn!(
            backend = c.name,
            error = c.error.as_deref().unwrap_or(""),
            "not ready"
        );
    }
    let body = ReadyBody {
        status: if ready { "ready" } else { "unavailable" },
        checks,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Renders the registry after running the readiness checks, so `backend_up` is as fresh as
/// the scrape (each check is bounded, as for `/readyz`).
async fn metrics(
    metrics: web::Data<Metrics>,
    readiness: Option<web::Data<Readiness>>,
) -> HttpResponse {
    if let Some(readiness) = readiness {
        for c in readiness.run().await {
            metrics
                .backend_up
                .with_label_values(&[c.name])
                .set(i64::from(c.ok));
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// Registers the three routes; needs `web::Data<Readiness>` and `web::Data<Metrics>`.
pub fn health_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

#[cfg(test)]
mod tests {
    use actix_web::App;
    use actix_web::test as at;

    use super::*;

    struct Failing;

    #[async_trait::async_trait]
    impl Check for Failing {
        fn name(&self) -> &'static str {
            "database"
        }
        async fn check(&self) -> Result<(), String> {
            Err("connection to postgres://sethub_app@db.internal:5432 refused".to_owned())
        }
    }

    /// The health routes over one failing backend check.
    fn failing_app() -> App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        let readiness = Readiness::new(vec![Arc::new(Failing) as Arc<dyn Check>]);
        App::new()
            .app_data(web::Data::new(readiness))
            .app_data(web::Data::new(Metrics::new().unwrap()))
            .configure(health_routes)
    }

    #[actix_web::test]
    async fn metrics_report_each_backend_as_up_or_down_at_the_scrape() {
        let app = at::init_service(failing_app()).await;
        let resp =
            at::call_service(&app, at::TestRequest::get().uri("/metrics").to_request()).await;
        assert_eq!(resp.status(), 200);
        let body = String::from_utf8(at::read_body(resp).await.to_vec()).unwrap();
        assert!(
            body.contains("sethub_backend_up{backend=\"database\"} 0"),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn readyz_answers_503_draining_once_the_process_drains() {
        let readiness = Readiness::new(Vec::new());
        let app = at::init_service(
            App::new()
                .app_data(web::Data::new(readiness.clone()))
                .app_data(web::Data::new(Metrics::new().unwrap()))
                .configure(health_routes),
        )
        .await;
        let get = || at::TestRequest::get().uri("/readyz").to_request();
        assert_eq!(at::call_service(&app, get()).await.status(), 200);
        readiness.drain();
        let resp = at::call_service(&app, get()).await;
        assert_eq!(resp.status(), 503);
        let body: serde_json::Value = at::read_body_json(resp).await;
        assert_eq!(body["status"], "draining");
    }

    #[actix_web::test]
    async fn readyz_names_the_failing_backend_without_its_error_text() {
        let app = at::init_service(failing_app()).await;
        let resp = at::call_service(&app, at::TestRequest::get().uri("/readyz").to_request()).await;
        assert_eq!(resp.status(), 503);
        let body: serde_json::Value = at::read_body_json(resp).await;
        assert_eq!(
            body,
            serde_json::json!({
                "status": "unavailable",
                "checks": [{"name": "database", "ok": false}]
            })
        );
    }
}
