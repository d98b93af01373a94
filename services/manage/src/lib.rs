//! The `manage` service. Its routes are mounted by `sethub manage` (alone) or `sethub all`.

use actix_web::web;

/// Registers this service's routes. The health routes are mounted by the server itself.
pub fn routes(_cfg: &mut web::ServiceConfig) {}
