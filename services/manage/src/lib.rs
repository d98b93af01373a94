//! The `manage` service. Its routes are mounted by `sethub manage` (alone) or `sethub all`.

pub mod api;
pub mod portal;
pub mod ssf;
mod ui;
pub mod web;

/// Registers this service's routes. The health routes are mounted by the server itself.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.configure(ssf::routes).configure(api::routes);
}

/// [`routes`] and the web console (which needs its session key, made once at start).
pub fn routes_with_console(
    settings: web::ConsoleSettings,
) -> impl Fn(&mut actix_web::web::ServiceConfig) + Send + Sync + 'static {
    move |cfg| {
        routes(cfg);
        web::routes(cfg, &settings);
        portal::routes(cfg, &settings);
    }
}
