//! The HTTP server every service runs on: request ids and tracing, request metrics, the
//! health routes, and the routes of the services it serves (one in production, all three in
//! `sethub all`: their routes never collide).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use sethub_http::{RequestMetrics, health_routes};

use crate::AppContext;
use crate::tls::{ServerTls, TlsError};

/// The certificate and key of `server.tls`, read and checked (a key that does not match its
/// certificate is an error naming `server.tls.key`); `None` when TLS is off.
pub fn load_tls(config: &sethub_config::Config) -> Result<Option<Arc<ServerTls>>, TlsError> {
    config
        .server
        .tls
        .files()
        .map(|(cert, key)| ServerTls::load(cert, key))
        .transpose()
}

/// Registers a service's routes; the service reads what it needs from `web::Data<AppContext>`.
pub type RouteFn = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// Starts serving on `listener`, with TLS when `tls` is given (`crate::tls`, loaded from
/// `server.tls` by [`load_tls`] before anything is announced). The returned server runs until
/// stopped or a signal arrives.
pub fn serve(
    ctx: AppContext,
    listener: TcpListener,
    service: &'static str,
    routes: Vec<RouteFn>,
    tls: Option<Arc<ServerTls>>,
) -> std::io::Result<actix_web::dev::Server> {
    let workers = match ctx.config.server.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let data = web::Data::new(ctx.clone());
    let readiness = web::Data::new(ctx.readiness.clone());
    let metrics = web::Data::new(ctx.metrics.clone());
    let request_metrics = RequestMetrics::new(service, ctx.metrics.clone());
    let server = HttpServer::new(move || {
        let rm = request_metrics.clone();
        let mut app = App::new()
            .wrap(from_fn(move |req, next| rm.clone().record(req, next)))
            .wrap(tracing_actix_web::TracingLogger::<
                crate::request_log::RedactedRootSpan,
            >::new())
            .app_data(data.clone())
            .app_data(readiness.clone())
            .app_data(metrics.clone())
            .configure(health_routes);
        for r in &routes {
            let r = r.clone();
            app = app.configure(move |cfg| r(cfg));
        }
        app
    })
    .workers(workers)
    // The binary handles SIGTERM itself (readiness first, then a graceful stop); requests
    // in flight then get what is left of `server.shutdown_secs`.
    .disable_signals()
    .shutdown_timeout(
        ctx.config
            .server
            .shutdown_secs
            .saturating_sub(ctx.config.server.drain_secs)
            .max(1),
    );
    let server = match tls {
        Some(tls) => {
            let config = tls.server_config().map_err(std::io::Error::other)?;
            tls.watch();
            server.listen_rustls_0_23(listener, config)?
        }
        None => server.listen(listener)?,
    };
    Ok(server.run())
}
