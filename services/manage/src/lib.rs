//! The `manage` service. Its routes are mounted by `sethub manage` (alone) or `sethub all`.

pub mod api;
pub mod ssf;

use actix_web::web;

/// Registers this service's routes. The health routes are mounted by the server itself.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(ssf::routes).configure(api::routes);
}
