//! Connecting the three backends the configuration selects, with errors that name the backend,
//! where it was looked for and what to do.

use std::sync::Arc;

use sethub_bus::{Bus, InProcessBus, RabbitBus, RabbitConfig};
use sethub_config::{Config, redact_url};
use sethub_http::{Check, Readiness};
use sethub_state::{KeyPrefix, MemoryState, RedisOptions, RedisState, StateStore};
use sethub_store::Store;
use sethub_telemetry::Metrics;
use url::Url;

use crate::AppContext;

/// Why a process could not start. Printed as one line; the process exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error(
        "cannot use PostgreSQL/SQLite at {url}: {cause}. Is it running and is `database.url` right?"
    )]
    Database { url: String, cause: String },
    #[error("cannot reach RabbitMQ at {url}: {cause}. Is it running and is `bus.url` right?")]
    Bus { url: String, cause: String },
    #[error("cannot reach Redis at {url}: {cause}. Is it running and is `state.url` right?")]
    State { url: String, cause: String },
    #[error("{0}")]
    Io(String),
}

/// Connects (and for the database, migrates when `migrate` is set) every backend.
pub async fn connect_backends(
    config: Config,
    public_url: Url,
    migrate: bool,
) -> Result<AppContext, StartError> {
    let master_keys = crate::load_master_keys(&config)?;
    let metrics = Metrics::new().map_err(|e| StartError::Config(e.to_string()))?;
    let store = connect_store(&config, migrate).await?;

    let bus: Arc<dyn Bus> = match &config.bus.url {
        Some(url) => {
            let url = url.expose().clone();
            let mut rabbit = RabbitConfig::new(url.clone(), config.bus.prefix.clone());
            rabbit.event_shards = config.bus.event_shards;
            let bus = RabbitBus::connect_with(rabbit)
                .await
                .map_err(|e| StartError::Bus {
                    url: redact_url(&url),
                    cause: e.to_string(),
                })?;
            Arc::new(bus)
        }
        None => Arc::new(InProcessBus::new()),
    };

    let state: Arc<dyn StateStore> = match &config.state.url {
        Some(url) => {
            let url = url.expose().clone();
            let state = RedisState::connect(RedisOptions::new(url.clone()))
                .await
                .map_err(|e| StartError::State {
                    url: redact_url(&url),
                    cause: e.to_string(),
                })?;
            Arc::new(state)
        }
        None => Arc::new(MemoryState::new()),
    };

    let key_prefix = KeyPrefix::new(config.state.prefix.clone())
        .map_err(|e| StartError::Config(format!("state.prefix: {e}")))?;
    let readiness = Readiness::new(vec![
        Arc::new(StoreCheck(store.clone())) as Arc<dyn Check>,
        Arc::new(BusCheck(bus.clone())),
        Arc::new(StateCheck(state.clone())),
    ]);
    Ok(AppContext {
        config: Arc::new(config),
        public_url,
        store,
        bus,
        state,
        key_prefix,
        metrics,
        readiness,
        master_keys: Arc::new(master_keys),
        keys: crate::keys::KeyCache::default(),
        shutdown: crate::Shutdown::default(),
    })
}

/// Connects (and migrates when `migrate` is set) the database only, for one-shot commands
/// such as the admin CLI: the bus and state are the in-process twins, never connected to
/// RabbitMQ or Redis. Not for serving: nothing published on this context leaves the process.
pub async fn connect_store_only(
    config: Config,
    public_url: Url,
    migrate: bool,
) -> Result<AppContext, StartError> {
    let master_keys = crate::load_master_keys(&config)?;
    let metrics = Metrics::new().map_err(|e| StartError::Config(e.to_string()))?;
    let store = connect_store(&config, migrate).await?;
    let key_prefix = KeyPrefix::new(config.state.prefix.clone())
        .map_err(|e| StartError::Config(format!("state.prefix: {e}")))?;
    let readiness = Readiness::new(vec![Arc::new(StoreCheck(store.clone())) as Arc<dyn Check>]);
    Ok(AppContext {
        config: Arc::new(config),
        public_url,
        store,
        bus: Arc::new(InProcessBus::new()),
        state: Arc::new(MemoryState::new()),
        key_prefix,
        metrics,
        readiness,
        master_keys: Arc::new(master_keys),
        keys: crate::keys::KeyCache::default(),
        shutdown: crate::Shutdown::default(),
    })
}

/// The configured database (SQLite in `data_dir` by default), connected as the runtime role.
///
/// With `migrate`: SQLite migrates its file; PostgreSQL migrates as `database.migrate_url`'s
/// role (the schema's owner), which then grants the runtime role its rights. Without a
/// migration URL PostgreSQL is migrated here only under `database.allow_superuser` (a role
/// that may own the tables); a runtime role may not create tables.
/// On PostgreSQL the schema must then be current, or the process refuses to start.
async fn connect_store(config: &Config, migrate: bool) -> Result<Store, StartError> {
    let db_url = database_url(config)?;
    let db_err = |cause: String| StartError::Database {
        url: redact_url(&db_url),
        cause,
    };
    let store = Store::connect(&db_url, store_options(config))
        .await
        .map_err(|e| db_err(e.to_string()))?;
    let Some(runtime_role) = store.role().await.map_err(|e| db_err(e.to_string()))? else {
        if migrate {
            store
                .migrate()
                .await
                .map_err(|e| db_err(format!("migration failed: {e}")))?;
        }
        return Ok(store);
    };
    match (&config.database.migrate_url, migrate) {
        (Some(owner_url), true) => {
            let owner_url = owner_url.expose();
            sethub_store::migrate_as_owner(owner_url, Some(&runtime_role))
                .await
                .map_err(|e| StartError::Database {
                    url: redact_url(owner_url),
                    cause: format!("migration failed: {e}"),
                })?;
        }
        // The escape hatch allows serving as the owner: then it may migrate, as before.
        (None, true) if config.database.allow_superuser => {
            sethub_store::migrate_as_owner(&db_url, None)
                .await
                .map_err(|e| db_err(format!("migration failed: {e}")))?;
        }
        _ => {}
    }
    store
        .ensure_migrated()
        .await
        .map_err(|e| db_err(e.to_string()))?;
    Ok(store)
}

/// `sethub migrate`: applies every pending migration. On PostgreSQL with
/// `database.migrate_url`, as the owner, then grants the runtime role (`database.url`, which
/// must connect and own nothing); without it, as `database.url`'s role (a single-role setup,
/// which the services then refuse to serve as).
pub async fn migrate_database(config: &Config) -> Result<(), StartError> {
    if config.database.migrate_url.is_some() || !config.backends().postgres {
        let store = connect_store(config, true).await?;
        store.close().await.ok();
        return Ok(());
    }
    let db_url = database_url(config)?;
    sethub_store::migrate_as_owner(&db_url, None)
        .await
        .map_err(|e| StartError::Database {
            url: redact_url(&db_url),
            cause: format!("migration failed: {e}"),
        })
}

/// `database.url`, or the SQLite file in `data_dir` (created) when unset.
fn database_url(config: &Config) -> Result<String, StartError> {
    Ok(match &config.database.url {
        Some(u) => u.expose().clone(),
        None => {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                StartError::Io(format!(
                    "cannot create data directory {}: {e}",
                    config.data_dir.display()
                ))
            })?;
            format!(
                "sqlite://{}?mode=rwc",
                config.data_dir.join("sethub.sqlite").display()
            )
        }
    })
}

fn store_options(config: &Config) -> sethub_store::ConnectOptions {
    sethub_store::ConnectOptions {
        max_connections: config.database.max_connections,
        allow_superuser: config.database.allow_superuser,
    }
}

struct StoreCheck(Store);
struct BusCheck(Arc<dyn Bus>);
struct StateCheck(Arc<dyn StateStore>);

#[async_trait::async_trait]
impl Check for StoreCheck {
    fn name(&self) -> &'static str {
        "database"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl Check for BusCheck {
    fn name(&self) -> &'static str {
        "bus"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl Check for StateCheck {
    fn name(&self) -> &'static str {
        "state"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}
