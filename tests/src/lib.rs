//! Harness for sethub's end-to-end tests: start the real `sethub` binary as processes over
//! real backends, wait on conditions with deadlines, restart backends, receive pushed SETs
//! ([`receiver`]), set up tenants, receivers and streams ([`setup`]). The load generator
//! (`sethub-loadgen`, `src/bin/loadgen.rs`) is built on the same pieces.

#![allow(clippy::unwrap_used)]

pub mod backends;
pub mod browser;
pub mod oidc;
pub mod process;
pub mod python;
pub mod receiver;
pub mod router;
pub mod setup;
pub mod ssf_transmitter;
pub mod tls;
pub mod transmitter;
pub mod victim;
pub mod wait;

pub use process::{SethubProcess, StartFailure};
pub use receiver::{Behave, TestReceiver};
pub use wait::wait_until;

/// Installs ring as the rustls provider (needed before any reqwest client is built).
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A short random lowercase suffix for names (queues, prefixes, databases, tenants).
pub fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}
