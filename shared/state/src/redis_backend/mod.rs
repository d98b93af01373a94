//! [`RedisState`]: the state store over Redis, shared by every instance of every service.
//!
//! Commands go through one `ConnectionManager` (multiplexed; reconnects by itself after Redis
//! restarts). Wake-ups use one dedicated pub/sub connection owned by a subscriber task that
//! multiplexes every waiter of this process (`subscriber.rs`).

mod scripts;
mod subscriber;

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Client, RedisResult};

use tokio::sync::{mpsc, oneshot};

use self::subscriber::{Subscribe, Subscriber};
use crate::limit::{Limit, RateDecision};
use crate::wake::{WakeGuard, WakeHub};
use sethub_domain::TenantId;

use crate::{Key, KeyPrefix, StateError, StateStore};

/// Keys one `SCAN` step asks for and one `DEL` removes when purging a tenant.
const PURGE_PAGE: usize = 500;

/// How to reach Redis.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS.
    pub url: String,
    /// Bound on one command's answer; a hung Redis gives an error after this.
    pub response_timeout: Duration,
    /// Bound on one connection attempt; a dead Redis gives an error after about this.
    pub connection_timeout: Duration,
    /// How often the wake-up subscriber pings its idle connection, to notice a half-open one.
    pub keepalive_interval: Duration,
}

impl RedisOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            response_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(2),
            keepalive_interval: Duration::from_secs(15),
        }
    }

    /// The bound on a whole operation: a reconnect (two attempts) plus the answer.
    fn operation_timeout(&self) -> Duration {
        self.connection_timeout * 2 + self.response_timeout + Duration::from_millis(500)
    }
}

/// The Redis-backed [`StateStore`]. Cloning shares the connections.
#[derive(Clone)]
pub struct RedisState {
    connection: ConnectionManager,
    options: RedisOptions,
    wake: WakeHub,
    subscribes: mpsc::UnboundedSender<Subscribe>,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("RedisState").finish_non_exhaustive()
    }
}

impl RedisState {
    /// Connects and checks Redis answers. Must run inside a tokio runtime (it spawns the
    /// wake-up subscriber task, which ends when the store and its guards are dropped).
    pub async fn connect(options: RedisOptions) -> Result<Self, StateError> {
        let state = Self::connect_lazy(options)?;
        state.ping().await?;
        Ok(state)
    }

    /// Like [`connect`](Self::connect) without waiting for Redis: the first command connects.
    /// For services that start before Redis and report it through `/readyz`.
    pub fn connect_lazy(options: RedisOptions) -> Result<Self, StateError> {
        let client = Client::open(options.url.as_str())
            .map_err(|err| StateError::InvalidArgument(format!("redis url: {err}")))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.response_timeout))
            .set_connection_timeout(Some(options.connection_timeout))
            // Fail fast while Redis is down; the next command tries again.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;

        let (emptied_tx, emptied) = mpsc::unbounded_channel();
        let (subscribes, subscribes_rx) = mpsc::unbounded_channel();
        let wake = WakeHub::new(Some(emptied_tx));
        let subscriber = Subscriber {
            client,
            hub: wake.clone(),
            timeout: options.connection_timeout + options.response_timeout,
            keepalive: options.keepalive_interval.max(Duration::from_millis(10)),
            subscribes: subscribes_rx,
            emptied,
        };
        tokio::spawn(subscriber.run());
        Ok(Self {
            connection,
            options,
            wake,
            subscribes,
        })
    }

    /// Runs one request with the operation bound. A request that failed because the
    /// connection was refused (so it never reached Redis) is tried once more on the
    /// reconnected connection; an idempotent one also after any dropped connection.
    /// Every key matching `pattern` (`SCAN … MATCH … COUNT`, walked to the end; a key
    /// present throughout is returned at least once, and duplicates are removed).
    async fn scan(&self, pattern: &str) -> Result<Vec<String>, StateError> {
        let mut cursor: u64 = 0;
        let mut keys = std::collections::BTreeSet::new();
        loop {
            let (next, page): (u64, Vec<String>) = self
                .run(true, |mut con| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(PURGE_PAGE)
                        .query_async(&mut con)
                        .await
                })
                .await?;
            keys.extend(page);
            if next == 0 {
                return Ok(keys.into_iter().collect());
            }
            cursor = next;
        }
    }

    async fn run<T, F, Fut>(&self, idempotent: bool, request: F) -> Result<T, StateError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let bound = self.options.operation_timeout();
        let attempt = async {
            match request(self.connection.clone()).await {
                Err(err)
                    if err.is_connection_refusal()
                        || (idempotent && (err.is_connection_dropped() || err.is_io_error())) =>
                {
                    request(self.connection.clone()).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(bound, attempt).await {
            Ok(result) => Ok(result?),
            Err(_elapsed) => Err(StateError::Timeout(bound)),
        }
    }
}

impl RedisState {
    /// One run of the indexed-write script (`mode`: `put`, `replace` or `expire`). Idempotent:
    /// a retry writes the same value and expiry again.
    async fn indexed_write(
        &self,
        mode: &'static str,
        key: &Key,
        value: &str,
        ttl: Duration,
        index: Option<&Key>,
    ) -> Result<bool, StateError> {
        let written: i64 = self
            .run(true, |mut con| async move {
                let mut call = scripts::PUT_INDEXED.key(key.as_str());
                if let Some(index) = index {
                    call.key(index.as_str());
                }
                call.arg(value)
                    .arg(millis(ttl))
                    .arg(mode)
                    .invoke_async(&mut con)
                    .await
            })
            .await?;
        Ok(written == 1)
    }
}

/// A TTL in whole milliseconds, at least 1 (Redis refuses 0).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl StateStore for RedisState {
    async fn rate_limit(
        &self,
        key: &Key,
        limit: Limit,
        cost: u32,
    ) -> Result<RateDecision, StateError> {
        let interval = limit.interval_micros(cost)?;
        let (allowed, remaining, retry_after): (i64, i64, i64) = self
            .run(false, |mut con| async move {
                scripts::RATE_LIMIT
                    .key(key.as_str())
                    .arg(interval)
                    .arg(limit.burst)
                    .arg(cost)
                    .invoke_async(&mut con)
                    .await
            })
            .await?;
        Ok(RateDecision {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            retry_after: Duration::from_micros(u64::try_from(retry_after).unwrap_or(0)),
        })
    }

    async fn incr(&self, key: &Key, by: i64, ttl: Duration) -> Result<i64, StateError> {
        self.run(false, |mut con| async move {
            scripts::INCR
                .key(key.as_str())
                .arg(by)
                .arg(millis(ttl))
                .invoke_async(&mut con)
                .await
        })
        .await
    }

    async fn get_counter(&self, key: &Key) -> Result<i64, StateError> {
        let value: Option<String> = self.get(key).await?;
        match value {
            None => Ok(0),
            Some(value) => value.parse().map_err(|_| StateError::WrongType {
                key: key.to_string(),
                expected: "an integer counter",
            }),
        }
    }

    async fn set_if_absent(
        &self,
        key: &Key,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StateError> {
        // Idempotent: a retry after a lost answer returns the value the first try stored,
        // which is `value` itself, so the caller still sees its own write.
        self.run(true, |mut con| async move {
            scripts::SET_IF_ABSENT
                .key(key.as_str())
                .arg(value)
                .arg(millis(ttl))
                .invoke_async(&mut con)
                .await
        })
        .await
    }

    async fn lease(&self, key: &Key, owner: &str, ttl: Duration) -> Result<bool, StateError> {
        // Idempotent: a retry after a lost answer finds `owner` holding it and renews.
        self.run(true, |mut con| async move {
            scripts::LEASE
                .key(key.as_str())
                .arg(owner)
                .arg(millis(ttl))
                .invoke_async::<i64>(&mut con)
                .await
        })
        .await
        .map(|held| held == 1)
    }

    async fn set_with_ttl(&self, key: &Key, value: &str, ttl: Duration) -> Result<(), StateError> {
        self.run(true, |mut con| async move {
            con.pset_ex::<_, _, ()>(key.as_str(), value, millis(ttl))
                .await
        })
        .await
    }

    async fn get(&self, key: &Key) -> Result<Option<String>, StateError> {
        self.run(true, |mut con| async move { con.get(key.as_str()).await })
            .await
    }

    async fn delete(&self, key: &Key) -> Result<bool, StateError> {
        let removed: i64 = self
            .run(true, |mut con| async move { con.del(key.as_str()).await })
            .await?;
        Ok(removed > 0)
    }

    async fn put_indexed(
        &self,
        key: &Key,
        value: &str,
        ttl: Duration,
        index: Option<&Key>,
    ) -> Result<(), StateError> {
        self.indexed_write("put", key, value, ttl, index)
            .await
            .map(|_written| ())
    }

    async fn replace_indexed(
        &self,
        key: &Key,
        value: &str,
        ttl: Duration,
        index: Option<&Key>,
    ) -> Result<bool, StateError> {
        self.indexed_write("replace", key, value, ttl, index).await
    }

    async fn expire_indexed(
        &self,
        key: &Key,
        ttl: Duration,
        index: Option<&Key>,
    ) -> Result<bool, StateError> {
        self.indexed_write("expire", key, "", ttl, index).await
    }

    async fn delete_indexed(&self, key: &Key, index: Option<&Key>) -> Result<bool, StateError> {
        let removed: i64 = self
            .run(true, |mut con| async move {
                let mut call = scripts::DELETE_INDEXED.key(key.as_str());
                if let Some(index) = index {
                    call.key(index.as_str());
                }
                call.invoke_async(&mut con).await
            })
            .await?;
        Ok(removed > 0)
    }

    async fn delete_index(&self, index: &Key) -> Result<u64, StateError> {
        let ended: i64 = self
            .run(true, |mut con| async move {
                scripts::DELETE_INDEX
                    .key(index.as_str())
                    .invoke_async(&mut con)
                    .await
            })
            .await?;
        Ok(u64::try_from(ended).unwrap_or(0))
    }

    async fn list_index(&self, index: &Key) -> Result<Vec<String>, StateError> {
        let listed: Vec<String> = self
            .run(
                true,
                |mut con| async move { con.smembers(index.as_str()).await },
            )
            .await?;
        if listed.is_empty() {
            return Ok(listed);
        }
        let alive: Vec<bool> = self
            .run(true, |mut con| {
                let listed = listed.clone();
                async move {
                    let mut pipe = redis::pipe();
                    for key in &listed {
                        pipe.exists(key);
                    }
                    pipe.query_async(&mut con).await
                }
            })
            .await?;
        Ok(listed
            .into_iter()
            .zip(alive)
            .filter_map(|(key, alive)| alive.then_some(key))
            .collect())
    }

    async fn subscribe(&self, key: &Key) -> Result<WakeGuard, StateError> {
        // Register first: a message arriving once Redis confirmed the subscription finds us.
        let guard = self.wake.register(key.as_str());
        let (reply, confirmed) = oneshot::channel();
        let request = Subscribe {
            channel: key.as_str().to_owned(),
            reply,
        };
        self.subscribes
            .send(request)
            .map_err(|_| StateError::Unavailable("redis subscriber task stopped".into()))?;
        let bound = self.options.operation_timeout();
        match tokio::time::timeout(bound, confirmed).await {
            Ok(Ok(Ok(()))) => Ok(guard),
            Ok(Ok(Err(err))) => Err(err),
            Ok(Err(_closed)) => Err(StateError::Unavailable(
                "redis subscriber task stopped".into(),
            )),
            Err(_elapsed) => Err(StateError::Timeout(bound)),
        }
    }

    async fn notify(&self, key: &Key) -> Result<(), StateError> {
        // A duplicate PUBLISH is only a spurious wake-up: safe to retry.
        self.run(true, |mut con| async move {
            con.publish::<_, _, i64>(key.as_str(), 1).await
        })
        .await
        .map(|_receivers| ())
    }

    async fn purge_tenant(
        &self,
        prefix: &KeyPrefix,
        tenant: TenantId,
        slug: &str,
    ) -> Result<u64, StateError> {
        let [own, logins] = crate::tenant_patterns(prefix, tenant, slug);
        let [_, _, index_start] = crate::tenant_starts(prefix, tenant, slug);
        let mut removed = 0;
        for pattern in [own, logins] {
            // Collected first: deleting while a SCAN walks is allowed, but a page at a time
            // keeps each step simple to retry.
            for page in self.scan(&pattern).await?.chunks(PURGE_PAGE) {
                for key in page.iter().filter(|k| k.starts_with(&index_start)) {
                    let ended: i64 = self
                        .run(true, |mut con| async move {
                            scripts::DELETE_INDEX
                                .key(key.as_str())
                                .invoke_async(&mut con)
                                .await
                        })
                        .await?;
                    removed += u64::try_from(ended).unwrap_or(0) + 1;
                }
                let rest: Vec<&String> = page
                    .iter()
                    .filter(|k| !k.starts_with(&index_start))
                    .collect();
                if rest.is_empty() {
                    continue;
                }
                let n: i64 = self
                    .run(true, |mut con| {
                        let rest = rest.clone();
                        async move { con.del(rest).await }
                    })
                    .await?;
                removed += u64::try_from(n).unwrap_or(0);
            }
        }
        Ok(removed)
    }

    async fn keys_containing(&self, needle: &str, limit: usize) -> Result<Vec<String>, StateError> {
        let escaped: String = needle.chars().fold(String::new(), |mut out, c| {
            if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
                out.push('\\');
            }
            out.push(c);
            out
        });
        let mut keys = self.scan(&format!("*{escaped}*")).await?;
        keys.truncate(limit);
        Ok(keys)
    }

    async fn ping(&self) -> Result<(), StateError> {
        self.run(true, |mut con| async move {
            redis::cmd("PING").query_async::<String>(&mut con).await
        })
        .await
        .map(|_pong| ())
    }
}
