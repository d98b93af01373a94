//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// sethub: a multi-tenant Security Event hub (Shared Signals transmitter as a service).
///
/// With no configuration, `sethub all` starts the embedded default: SQLite in ./data, an
/// in-process bus and in-memory state. Configure `database.url`, `bus.url` and `state.url`
/// (or SETHUB_DATABASE__URL, SETHUB_BUS__URL, SETHUB_STATE__URL) for production.
#[derive(Debug, Parser)]
#[command(name = "sethub", version, about)]
pub struct Cli {
    /// TOML configuration file (see sethub.example.toml). Also SETHUB_CONFIG.
    #[arg(long, global = true, env = "SETHUB_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run ingest, fan-out and manage in one process on one listener.
    All,
    /// Run the ingest service (publish API).
    Ingest,
    /// Run the fan-out service (matching, signing, delivery, poll endpoint).
    Fanout,
    /// Run the manage service (SSF metadata and stream API, REST API, console and portal).
    Manage,
    /// Migrate the database to the latest schema and exit.
    Migrate,
    /// GET a URL and exit 0 on a 2xx answer (a container health check without curl).
    Probe { url: String },
    /// Tenants (admin; prints JSON).
    #[command(subcommand)]
    Tenant(crate::admin_cli::TenantCommand),
    /// Receivers of a tenant (admin; prints JSON).
    #[command(subcommand)]
    Receiver(crate::admin_cli::ReceiverCommand),
    /// Signing keys of a tenant (admin; prints JSON).
    #[command(subcommand)]
    Key(crate::admin_cli::KeyCommand),
    /// API keys of a tenant (admin; prints JSON).
    #[command(subcommand)]
    Apikey(crate::admin_cli::ApiKeyCommand),
    /// Upstream SSF transmitters the tenant receives from (admin; prints JSON).
    #[command(subcommand)]
    Upstream(crate::admin_cli::UpstreamCommand),
}
