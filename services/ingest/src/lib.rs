//! The `ingest` service: tenants publish events with an API key (`events:publish` scope).
//! Its routes are mounted by `sethub ingest` (alone) or `sethub all`.
//!
//! - `POST /t/{slug}/events`: one event ([`single`]).
//! - `POST /t/{slug}/events:batch`: up to `ingest.max_batch` events ([`batch`]).
//! - `POST /t/{slug}/sets`: SETs of the tenant's upstream transmitters (RFC 8935,
//!   [`upstream`]).
//!
//! An accepted event is stored in PostgreSQL and announced on the bus (`event_accepted.v1`,
//! with a broker confirm) before the `202`; see [`accept`].

pub mod accept;
pub mod auth;
pub mod batch;
pub mod body;
mod group;
pub mod idempotency;
pub mod limit;
pub mod metrics;
pub mod request;
pub mod single;
pub mod upstream;

use actix_web::{HttpRequest, web};
use sethub_app::AppContext;
use sethub_http::ApiError;

/// Registers this service's routes. The health routes are mounted by the server itself.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(metrics::Counter::default()))
        .app_data(web::Data::new(auth::KeyCache::default()))
        .app_data(web::Data::new(group::Committer::default()))
        .app_data(upstream::jwks::JwksCache::shared())
        .route("/t/{slug}/sets", web::post().to(upstream::receive))
        .route("/t/{slug}/events", web::post().to(single::publish))
        .route(
            "/t/{slug}/events:batch",
            web::post().to(batch::publish_batch),
        );
}

/// `web::Data<AppContext>` or a 500 (a wiring mistake, never a client's).
pub(crate) fn context(req: &HttpRequest) -> Result<web::Data<AppContext>, ApiError> {
    req.app_data::<web::Data<AppContext>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("AppContext is not registered"))
}
