//! actix-web glue shared by the services: the API error type and its one mapping to HTTP,
//! request metrics, finding NUL in request input, and the `/healthz`, `/readyz` and `/metrics` routes.

mod bearer;
mod error;
mod health;
mod metrics_mw;
pub mod nul;

pub use bearer::{BearerError, bearer_token};
pub use error::{ApiError, ErrorCode};
pub use health::{Check, CheckResult, Readiness, health_routes};
pub use metrics_mw::RequestMetrics;
