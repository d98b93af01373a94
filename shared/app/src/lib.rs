//! What every service needs at run time: the configuration, the three backends (chosen by the
//! configuration: PostgreSQL or SQLite, RabbitMQ or in-process, Redis or in-memory), the
//! metrics registry and readiness checks, plus the HTTP server they are served by.

pub mod admin;
pub mod auth;
mod backends;
pub mod client_addr;
pub mod closing;
pub mod console;
pub mod deliveries;
pub mod egress;
pub mod events;
pub mod keys;
mod master_key;
pub mod quotas;
pub mod receivers;
pub mod recovery;
pub mod request_log;
mod server;
pub mod sessions;
pub mod sets;
mod shutdown;
pub mod signin_limits;
pub mod ssf;
pub mod sso;
pub mod streams;
pub mod team;
pub mod tls;
pub mod upstream_rx;
pub mod upstreams;
pub mod usage;

use std::sync::Arc;

pub use backends::{StartError, connect_backends, connect_store_only, migrate_database};
pub use master_key::load_master_keys;
pub use server::{RouteFn, load_tls, serve};
use sethub_bus::Bus;
use sethub_config::Config;
use sethub_http::Readiness;
use sethub_state::{KeyPrefix, StateStore};
use sethub_store::Store;
use sethub_telemetry::Metrics;
pub use shutdown::Shutdown;
use url::Url;

/// Shared, cheap-to-clone handles a service works with.
#[derive(Clone)]
pub struct AppContext {
    pub config: Arc<Config>,
    /// Base of every URL sethub hands out (issuers, endpoints); no trailing slash.
    pub public_url: Url,
    pub store: Store,
    pub bus: Arc<dyn Bus>,
    pub state: Arc<dyn StateStore>,
    /// Prefix of every Redis key of this deployment.
    pub key_prefix: KeyPrefix,
    pub metrics: Metrics,
    pub readiness: Readiness,
    /// Master keys sealing secrets at rest, as `(id, 32 bytes)`; the first one seals.
    pub master_keys: Arc<Vec<(String, [u8; 32])>>,
    /// Tenants' signing keys, opened once and kept (see [`keys::active_signing_key`]).
    pub keys: keys::KeyCache,
    /// Set on SIGTERM: consumers stop taking work, waiting long polls are answered.
    pub shutdown: Shutdown,
}

impl AppContext {
    /// `public_url` joined with a path that starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }
}
