//! The `fanout` service: consumes accepted events, matches streams, signs one SET per stream,
//! delivers by push with retries, and serves the poll endpoint. Its routes are mounted by
//! `sethub fanout` (alone) or `sethub all`.

pub mod push;
pub mod retry;

use actix_web::web;

/// Registers this service's routes. The health routes are mounted by the server itself.
pub fn routes(_cfg: &mut web::ServiceConfig) {}
