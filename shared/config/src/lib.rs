//! sethub's configuration: typed, layered (built-in defaults < TOML file < `SETHUB_…`
//! environment variables, `__` for nesting), validated once at start.
//!
//! Every key is documented once, in `sethub.example.toml` at the repository root. Secrets are
//! wrapped in [`Secret`] so they never reach a log line.

mod secret;
mod signin;
mod validate;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;

pub use secret::{Secret, redact_url};
pub use signin::SignInConfig;

/// The whole configuration of a sethub process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where files of the embedded default live (the SQLite database, the generated master key).
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub bus: BusConfig,
    pub state: StateConfig,
    pub secrets: SecretsConfig,
    pub log: LogConfig,
    pub push: PushConfig,
    pub ingest: IngestConfig,
    pub poll: PollConfig,
    pub signin: SignInConfig,
    pub sessions: SessionsConfig,
    pub quotas: QuotasConfig,
    pub telemetry: TelemetryConfig,
    pub closing: ClosingConfig,
}

/// Distributed tracing (OpenTelemetry).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP collector's base URL (`/v1/traces` is added), e.g.
    /// `http://otel-collector:4318`. Unset: no spans are made or sent.
    pub otlp_endpoint: Option<Url>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on, `host:port`; port 0 picks a free port.
    pub listen: String,
    /// The URL people and receivers reach this hub at; issuers and endpoints are built from it.
    /// When unset it is `http://{listen}` with the port actually bound.
    pub public_url: Option<Url>,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed (networks, e.g. `10.0.0.0/8`).
    /// Empty: the client address is always the peer's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// On SIGTERM (or Ctrl-C) the process exits within this many seconds: readiness turns
    /// 503, then after `drain_secs` it stops taking work, answers waiting long polls, lets
    /// requests and pushes in flight finish until the deadline, and hands back the rest.
    pub shutdown_secs: u64,
    /// How long `/readyz` answers 503 before the listener closes, so load balancers stop
    /// sending new requests first. Less than `shutdown_secs`.
    pub drain_secs: u64,
    /// Serve HTTPS with these PEM files (both or neither); unset: plain HTTP behind a proxy.
    pub tls: TlsConfig,
}

/// `server.tls`: the certificate chain and private key, PEM files read at start and again on
/// SIGHUP or when either file changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

impl TlsConfig {
    /// Both files when TLS is on.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://…` for production; unset means SQLite in `data_dir` (embedded default).
    /// On PostgreSQL, the runtime role: it must not own the tables (see `migrate_url`).
    pub url: Option<Secret<String>>,
    /// `postgres://…` of the role that owns the schema: migrations run as it, then it grants
    /// `url`'s role the rights the services use. Unset: nothing migrates at start on
    /// PostgreSQL (`sethub migrate` then migrates as `url`'s role, single-role setups only).
    pub migrate_url: Option<Secret<String>>,
    pub max_connections: u32,
    /// Allow connecting as a PostgreSQL role that bypasses row-level security (superuser,
    /// BYPASSRLS) or could turn it off (owner of the tables or schema). Refused unless set
    /// (never in production).
    pub allow_superuser: bool,
    /// How often fan-out refreshes the planner's statistics of tables that changed much since
    /// their last analysis (PostgreSQL's autovacuum does it too, when it is on). 0: never.
    pub analyze_interval_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `amqp://…` for RabbitMQ; unset means the in-process bus (only for `sethub all`).
    pub url: Option<Secret<String>>,
    /// Prefix of every exchange and queue name.
    pub prefix: String,
    /// Unacknowledged messages a consumer may hold.
    pub prefetch: u16,
    /// How many queues the events are spread over (1–64), each tenant's to one of them by a
    /// hash of its id; fan-out consumes each on its own, so a tenant flooding its queue
    /// delays only the tenants that share it. The same in every service. Raise it in
    /// fan-out before ingest; a fan-out also drains shard queues beyond its setting.
    pub event_shards: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// `redis://…`; unset means in-memory state (only for `sethub all`).
    pub url: Option<Secret<String>>,
    /// Prefix of every Redis key.
    pub prefix: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Master keys that seal signing keys and receivers' authorization headers at rest, as
    /// `id:base64(32 bytes)`. The first one seals; all of them open (for rotation).
    /// Unset in the embedded default: one is generated into `data_dir/master.key`.
    pub master_keys: Vec<Secret<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info,sethub=debug`. `RUST_LOG` overrides it.
    pub filter: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Allow push endpoints on loopback, private, link-local and other non-global addresses.
    /// Off in production (SSRF); the embedded default and tests turn it on. These three keys
    /// are the egress policy of every outbound request (push, upstream JWKS, single sign-on).
    pub allow_private_targets: bool,
    /// Non-global networks that are allowed even when `allow_private_targets` is off.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// Only `https://` push endpoints unless this is set (the embedded default sets it).
    pub allow_http: bool,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// Most push requests in flight at once to one endpoint (scheme, host and port), so one
    /// slow receiver cannot take every connection.
    pub max_in_flight_per_endpoint: usize,
    /// Most push requests in flight at once for one tenant (all its streams and endpoints),
    /// so one tenant's backlog cannot take every slot of an endpoint other tenants' streams
    /// push to too.
    pub max_in_flight_per_tenant: usize,
    /// Consecutive failures (network errors, timeouts, 5xx) that open an endpoint's circuit
    /// breaker, and how long it stays open before one probe is let through.
    pub breaker_failures: u32,
    pub breaker_cooldown_ms: u64,
    /// The retry schedule of failed pushes (default: 5 s, x3, capped at 8 h, for 72 h).
    pub retry: RetryConfig,
    /// A pending delivery overdue by this long is taken over by the recovery sweep (its
    /// worker died); the sweep runs every `sweep_interval_secs`.
    pub orphan_after_secs: u64,
    pub sweep_interval_secs: u64,
    /// Delivery log rows older than this are deleted.
    pub attempt_retention_days: u32,
    /// Delivered SETs older than this (by delivery time) are deleted; pending, queued and
    /// dead ones are kept. At least the usage page's longest window (90 days) to keep its
    /// counts whole.
    pub delivered_retention_days: u32,
    /// Stored events received longer ago than this are deleted once no delivery row (of any
    /// state) names them any more; as long as delivered SETs are kept by default, and at
    /// least `ingest.idempotency_window_secs` (a repeated key must find its event).
    pub event_retention_days: u32,
    /// How many bytes of a receiver's answer the delivery log keeps.
    pub response_excerpt_bytes: usize,
    /// Event messages (up to a hundred events each) one fan-out process works on at once.
    pub fanout_concurrency: usize,
    /// Most deliveries one fan-out process has queued or in flight; past it, it takes no new
    /// events from the bus (and claims no due retries) until some are done. Retries wait in
    /// the database, so a failing receiver's SETs do not count against it.
    pub max_backlog: usize,
    /// Most of those deliveries one tenant may have (at most `max_backlog`); its first
    /// attempts past it wait in the database and come back as its deliveries finish, so one
    /// tenant's burst never stops the others' events.
    pub max_backlog_per_tenant: usize,
    /// The longest a delivery waits in memory for its endpoint's breaker or its stream's rate
    /// limit (and at most `max_backlog` of them do); a longer wait, and every retry after a
    /// failed attempt, waits in the database until due. See ARCHITECTURE.md, the data plane.
    pub max_wait_in_memory_ms: u64,
    /// How long fan-out waits for the first answers to a fresh event's pushes before it
    /// stores their rows: a SET its receiver took by then is stored `delivered` at once (one
    /// row write instead of two); 0 stores every row first as `pending`.
    pub first_outcome_wait_ms: u64,
}

/// A jittered exponential retry schedule: attempt n waits `initial_secs * factor^(n-1)`,
/// capped at `max_delay_secs`, jittered by +-`jitter`, and none is scheduled past
/// `max_age_secs` after the first attempt (then the delivery is dead-lettered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub initial_secs: f64,
    pub factor: f64,
    pub max_delay_secs: f64,
    pub max_age_secs: f64,
    pub jitter: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_secs: 5.0,
            factor: 3.0,
            max_delay_secs: 8.0 * 3600.0,
            max_age_secs: 72.0 * 3600.0,
            jitter: 0.2,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest request body accepted by the publish API (bigger gets 413).
    pub max_body_bytes: usize,
    /// Most events in one batch request.
    pub max_batch: usize,
    /// Per-tenant publish rate (events per second, sustained) and burst.
    pub rate_per_second: f64,
    pub burst: u32,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_window_secs: u64,
    /// How long an ingest process trusts an API key it found valid without asking the
    /// database again (so a revoked key is refused within this time); 0 asks every time.
    pub api_key_cache_secs: u64,
    /// How long the JWKS of an upstream transmitter (fetched from its `jwks_url`) is used
    /// before it is fetched again.
    pub upstream_jwks_cache_secs: u64,
    /// A SET signed with a `kid` the cached JWKS lacks fetches the JWKS again, at most once
    /// per this many seconds per transmitter.
    pub upstream_jwks_refetch_secs: u64,
    /// A failed fetch of an upstream JWKS is remembered this long: SETs arriving meanwhile get
    /// `503` without a new fetch (so a flood of SETs cannot make sethub hammer a dead URL).
    pub upstream_jwks_failure_secs: u64,
    /// How often the process running `manage` checks each upstream subscription's stream at
    /// its transmitter and makes it again when the transmitter lost it; 0 = never.
    pub upstream_check_secs: u64,
    /// How long one long poll of an upstream poll stream may stay open (RFC 8936,
    /// `returnImmediately: false`): the HTTP timeout of the poll request, so it must exceed
    /// the transmitter's wait (sethub's own is `poll.default_wait_secs`, 30 s). A poll that
    /// reaches it is not an error: the next one is made at once. 1 to 300.
    pub upstream_long_poll_secs: u64,
    /// A poll that brought no SET (or failed) is followed by the next one no sooner than this
    /// after it began, so a transmitter that answers a long poll at once, empty, is polled at
    /// this pace rather than in a loop. 1 to 3600.
    pub upstream_poll_idle_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollConfig {
    pub default_max_events: u32,
    pub max_max_events: u32,
    /// Long-poll wait when `returnImmediately` is false, and its cap.
    pub default_wait_secs: u64,
    pub max_wait_secs: u64,
    /// How long a polled, unacknowledged SET stays invisible before it is offered again.
    pub visibility_timeout_secs: u64,
    /// Retention of a poll stream's queue: SETs queued longer than this are dropped, oldest
    /// first (counted in `sethub_poll_dropped_total`, and logged).
    pub retention_max_age_secs: u64,
    /// ... and at most this many SETs wait per poll stream; the oldest beyond it are dropped.
    pub retention_max_sets: u64,
}

/// What one tenant and its receivers may create, by default; the operator overrides them per
/// tenant with `sethub tenant quotas`. A create past a limit is refused and writes nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotasConfig {
    pub streams_per_receiver: u32,
    pub receivers_per_tenant: u32,
    pub streams_per_tenant: u32,
    /// Subjects added to (or removed from) one stream.
    pub subjects_per_stream: u32,
    /// Items in any list inside a subject (`aliases`, `ip-addresses`, …); at most 1000.
    pub subject_list_items: u32,
}

impl Default for QuotasConfig {
    fn default() -> Self {
        Self {
            streams_per_receiver: 10,
            receivers_per_tenant: 100,
            streams_per_tenant: 500,
            subjects_per_stream: 10_000,
            subject_list_items: 20,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            bus: BusConfig::default(),
            state: StateConfig::default(),
            secrets: SecretsConfig::default(),
            log: LogConfig::default(),
            push: PushConfig::default(),
            ingest: IngestConfig::default(),
            poll: PollConfig::default(),
            signin: SignInConfig::default(),
            sessions: SessionsConfig::default(),
            quotas: QuotasConfig::default(),
            telemetry: TelemetryConfig::default(),
            closing: ClosingConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            public_url: None,
            workers: 0,
            trusted_proxies: Vec::new(),
            tls: TlsConfig::default(),
            shutdown_secs: 30,
            drain_secs: 5,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            migrate_url: None,
            max_connections: 10,
            allow_superuser: false,
            analyze_interval_secs: 10,
        }
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "sethub".to_owned(),
            prefetch: 64,
            event_shards: 8,
        }
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "sethub".to_owned(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".to_owned(),
        }
    }
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            allowed_networks: Vec::new(),
            allow_http: false,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 15_000,
            max_in_flight_per_endpoint: 32,
            max_in_flight_per_tenant: 16,
            breaker_failures: 20,
            breaker_cooldown_ms: 10_000,
            retry: RetryConfig::default(),
            orphan_after_secs: 60,
            sweep_interval_secs: 10,
            attempt_retention_days: 30,
            delivered_retention_days: 90,
            event_retention_days: 90,
            response_excerpt_bytes: 512,
            max_backlog: 10_000,
            max_backlog_per_tenant: 2_500,
            fanout_concurrency: 16,
            max_wait_in_memory_ms: 2_000,
            first_outcome_wait_ms: 20,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            max_batch: 100,
            rate_per_second: 1_000.0,
            burst: 2_000,
            idempotency_window_secs: 24 * 3600,
            api_key_cache_secs: 10,
            upstream_jwks_cache_secs: 300,
            upstream_jwks_refetch_secs: 30,
            upstream_jwks_failure_secs: 10,
            upstream_check_secs: 60,
            upstream_long_poll_secs: 35,
            upstream_poll_idle_secs: 1,
        }
    }
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            default_max_events: 100,
            max_max_events: 1_000,
            default_wait_secs: 30,
            max_wait_secs: 60,
            visibility_timeout_secs: 30,
            retention_max_age_secs: 7 * 24 * 3600,
            retention_max_sets: 1_000_000,
        }
    }
}

/// Console and portal sessions (kept in the state store; the cookie holds only an id) and
/// invite links.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// A session not used for this long ends.
    pub idle_secs: u64,
    /// A session ends this long after sign-in, however much it is used.
    pub max_secs: u64,
    /// How long an invite link (team member or receiver's first portal user) stays valid.
    pub invite_secs: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            idle_secs: 2 * 3600,
            max_secs: 12 * 3600,
            invite_secs: 72 * 3600,
        }
    }
}

impl SessionsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, secs) in [
            ("sessions.idle_secs", self.idle_secs),
            ("sessions.max_secs", self.max_secs),
            ("sessions.invite_secs", self.invite_secs),
        ] {
            if secs == 0 || secs > 366 * 24 * 3600 {
                return Err(ConfigError::Invalid {
                    key,
                    problem: "must be between 1 second and a year".into(),
                });
            }
        }
        Ok(())
    }
}

/// Closing an organisation: how long a closed tenant can be reopened before fan-out deletes
/// everything it owns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClosingConfig {
    /// The grace period between closing and deletion (default 30 days).
    pub grace_secs: u64,
}

impl Default for ClosingConfig {
    fn default() -> Self {
        Self {
            grace_secs: 30 * 24 * 3600,
        }
    }
}

impl ClosingConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.grace_secs == 0 || self.grace_secs > 366 * 24 * 3600 {
            return Err(ConfigError::Invalid {
                key: "closing.grace_secs",
                problem: format!(
                    "must be between 1 second and a year (366 days), not {}",
                    self.grace_secs
                ),
            });
        }
        Ok(())
    }
}

/// A configuration that could not be loaded or is not valid. The message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist (given by --config or SETHUB_CONFIG)")]
    MissingFile { path: PathBuf },
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
}

/// Which backends a configuration selects. The embedded default is all three in-process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backends {
    pub postgres: bool,
    pub rabbitmq: bool,
    pub redis: bool,
}

impl Backends {
    pub fn is_embedded(self) -> bool {
        !self.postgres && !self.rabbitmq && !self.redis
    }
}

impl Config {
    /// Loads defaults, then the TOML file (if any), then `SETHUB_…` variables, and validates.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed("SETHUB_"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile {
                    path: path.to_owned(),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // `SETHUB_CONFIG` names the file and `SETHUB_TEST_*` belong to the test harness;
        // neither is a configuration key.
        let env = env
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                key != "config" && !key.starts_with("test_")
            })
            .split("__");
        figment = figment.merge(env);
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(flatten(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration that `SETHUB_…` variables with these names and values would give
    /// (as [`Config::load`] reads them from the environment, but from a list): how a test
    /// checks that a deployment's manifests name only keys that exist, with valid values.
    pub fn from_vars<'a>(
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("SETHUB_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if key == "config" || key.starts_with("test_") {
                continue;
            }
            let value: figment::value::Value = value
                .parse()
                .unwrap_or_else(|never: std::convert::Infallible| match never {});
            figment = figment.merge(Serialized::globals(figment::util::nest(
                &key.replace("__", "."),
                value,
            )));
        }
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(flatten(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Which real backends are configured.
    pub fn backends(&self) -> Backends {
        Backends {
            postgres: self
                .database
                .url
                .as_ref()
                .is_some_and(|u| u.expose().starts_with("postgres")),
            rabbitmq: self.bus.url.is_some(),
            redis: self.state.url.is_some(),
        }
    }
}

/// One line per problem, each naming its key and source (figment's own wording).
fn flatten(error: figment::Error) -> String {
    // TOML parse errors carry a multi-line source snippet; keep only their text lines.
    let text_line = |l: &&str| {
        let snippet =
            l.starts_with('|') || (l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(" |"));
        !(l.is_empty() || snippet)
    };
    error
        .into_iter()
        .map(|e| {
            e.to_string()
                .lines()
                .map(str::trim)
                .filter(text_line)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
