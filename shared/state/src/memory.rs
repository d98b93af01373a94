//! The in-memory twin of [`RedisState`](crate::RedisState): one process, same contract.
//! Used by the embedded default (`sethub all` without Redis) and in tests.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::limit::{Limit, RateDecision, gcra};
use crate::wake::{WakeGuard, WakeHub};
use sethub_domain::TenantId;

use crate::{Key, KeyPrefix, StateError, StateStore};

/// Expired entries are swept every this many writes, so idle keys don't accumulate.
const SWEEP_EVERY: u32 = 1024;

struct Entry {
    value: String,
    expires_at: Instant,
}

/// A set of keys (a member's sessions) with its own expiry.
struct Index {
    keys: HashSet<String>,
    expires_at: Instant,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    indexes: HashMap<String, Index>,
    writes: u32,
}

impl Entries {
    /// The live entry at `key`, dropping it when expired.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.map.get(key).is_some_and(|e| e.expires_at <= now) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }

    fn put(&mut self, key: &str, value: String, expires_at: Instant, now: Instant) {
        self.writes = self.writes.wrapping_add(1);
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.map.retain(|_, e| e.expires_at > now);
            self.indexes.retain(|_, i| i.expires_at > now);
        }
        self.map.insert(key.to_owned(), Entry { value, expires_at });
    }

    /// The live index at `index`, dropping it when expired.
    fn live_index(&mut self, index: &str, now: Instant) -> Option<&mut Index> {
        if self.indexes.get(index).is_some_and(|i| i.expires_at <= now) {
            self.indexes.remove(index);
        }
        self.indexes.get_mut(index)
    }

    /// Lists `key` in `index`, drops listed keys that expired, and raises the index's expiry
    /// to `expires_at` when it is earlier.
    fn list(&mut self, index: &str, key: &str, expires_at: Instant, now: Instant) {
        let map = &self.map;
        let entry = self.indexes.entry(index.to_owned()).or_insert(Index {
            keys: HashSet::new(),
            expires_at,
        });
        if entry.expires_at <= now {
            entry.keys.clear();
        }
        entry
            .keys
            .retain(|k| map.get(k).is_some_and(|e| e.expires_at > now));
        entry.keys.insert(key.to_owned());
        entry.expires_at = entry.expires_at.max(expires_at);
    }
}

/// State in this process's memory. Cloning shares it.
#[derive(Clone)]
pub struct MemoryState {
    entries: Arc<Mutex<Entries>>,
    wake: WakeHub,
    /// The clock origin for rate-limit TATs (microseconds since `epoch`).
    epoch: Instant,
}

impl Default for MemoryState {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryState").finish_non_exhaustive()
    }
}

impl MemoryState {
    pub fn new() -> Self {
        Self {
            entries: Arc::default(),
            wake: WakeHub::new(None),
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Every change is a single insert or remove: a panic elsewhere cannot tear the map.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn expiry(now: Instant, ttl: Duration) -> Instant {
    now.checked_add(ttl)
        .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[async_trait]
impl StateStore for MemoryState {
    async fn rate_limit(
        &self,
        key: &Key,
        limit: Limit,
        cost: u32,
    ) -> Result<RateDecision, StateError> {
        let interval = limit.interval_micros(cost)?;
        let now = Instant::now();
        let now_us = now.duration_since(self.epoch).as_micros() as f64;
        let mut entries = self.lock();
        let tat = match entries.live(key.as_str(), now) {
            Some(entry) => Some(
                entry
                    .value
                    .parse::<f64>()
                    .map_err(|_| StateError::WrongType {
                        key: key.to_string(),
                        expected: "a rate-limit bucket",
                    })?,
            ),
            None => None,
        };
        let (decision, new_tat) = gcra(tat, now_us, interval, limit.burst, cost);
        if let Some(new_tat) = new_tat {
            if new_tat > now_us {
                let ttl = Duration::from_micros((new_tat - now_us).ceil() as u64);
                entries.put(key.as_str(), format!("{new_tat:.0}"), expiry(now, ttl), now);
            } else {
                entries.map.remove(key.as_str());
            }
        }
        Ok(decision)
    }

    async fn incr(&self, key: &Key, by: i64, ttl: Duration) -> Result<i64, StateError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let wrong_type = || StateError::WrongType {
            key: key.to_string(),
            expected: "an integer counter",
        };
        match entries.live(key.as_str(), now) {
            Some(entry) => {
                let current: i64 = entry.value.parse().map_err(|_| wrong_type())?;
                let next = current.checked_add(by).ok_or_else(wrong_type)?;
                entry.value = next.to_string();
                Ok(next)
            }
            None => {
                entries.put(key.as_str(), by.to_string(), expiry(now, ttl), now);
                Ok(by)
            }
        }
    }

    async fn get_counter(&self, key: &Key) -> Result<i64, StateError> {
        match self.get(key).await? {
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
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some(entry) = entries.live(key.as_str(), now) {
            return Ok(Some(entry.value.clone()));
        }
        entries.put(key.as_str(), value.to_owned(), expiry(now, ttl), now);
        Ok(None)
    }

    async fn lease(&self, key: &Key, owner: &str, ttl: Duration) -> Result<bool, StateError> {
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some(entry) = entries.live(key.as_str(), now) {
            if entry.value != owner {
                return Ok(false);
            }
            entry.expires_at = expiry(now, ttl);
            return Ok(true);
        }
        entries.put(key.as_str(), owner.to_owned(), expiry(now, ttl), now);
        Ok(true)
    }

    async fn set_with_ttl(&self, key: &Key, value: &str, ttl: Duration) -> Result<(), StateError> {
        let now = Instant::now();
        self.lock()
            .put(key.as_str(), value.to_owned(), expiry(now, ttl), now);
        Ok(())
    }

    async fn get(&self, key: &Key) -> Result<Option<String>, StateError> {
        let now = Instant::now();
        Ok(self
            .lock()
            .live(key.as_str(), now)
            .map(|entry| entry.value.clone()))
    }

    async fn delete(&self, key: &Key) -> Result<bool, StateError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let existed = entries.live(key.as_str(), now).is_some();
        entries.map.remove(key.as_str());
        Ok(existed)
    }

    async fn put_indexed(
        &self,
        key: &Key,
        value: &str,
        ttl: Duration,
        index: Option<&Key>,
    ) -> Result<(), StateError> {
        let now = Instant::now();
        let expires_at = expiry(now, ttl);
        let mut entries = self.lock();
        entries.put(key.as_str(), value.to_owned(), expires_at, now);
        if let Some(index) = index {
            entries.list(index.as_str(), key.as_str(), expires_at, now);
        }
        Ok(())
    }

    async fn replace_indexed(
        &self,
        key: &Key,
        value: &str,
        ttl: Duration,
        index: Option<&Key>,
    ) -> Result<bool, StateError> {
        let now = Instant::now();
        let expires_at = expiry(now, ttl);
        let mut entries = self.lock();
        if entries.live(key.as_str(), now).is_none() {
            return Ok(false);
        }
        entries.put(key.as_str(), value.to_owned(), expires_at, now);
        if let Some(index) = index {
            entries.list(index.as_str(), key.as_str(), expires_at, now);
        }
        Ok(true)
    }

    async fn expire_indexed(
        &self,
        key: &Key,
        ttl: Duration,
        index: Option<&Key>,
    ) -> Result<bool, StateError> {
        let now = Instant::now();
        let expires_at = expiry(now, ttl);
        let mut entries = self.lock();
        let Some(entry) = entries.live(key.as_str(), now) else {
            return Ok(false);
        };
        entry.expires_at = expires_at;
        if let Some(index) = index {
            entries.list(index.as_str(), key.as_str(), expires_at, now);
        }
        Ok(true)
    }

    async fn delete_indexed(&self, key: &Key, index: Option<&Key>) -> Result<bool, StateError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let existed = entries.live(key.as_str(), now).is_some();
        entries.map.remove(key.as_str());
        if let Some(index) = index.and_then(|i| entries.live_index(i.as_str(), now)) {
            index.keys.remove(key.as_str());
        }
        Ok(existed)
    }

    async fn delete_index(&self, index: &Key) -> Result<u64, StateError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let Some(listed) = entries
            .live_index(index.as_str(), now)
            .map(|i| i.keys.clone())
        else {
            return Ok(0);
        };
        entries.indexes.remove(index.as_str());
        let mut ended = 0;
        for key in listed {
            if entries.live(&key, now).is_some() {
                ended += 1;
            }
            entries.map.remove(&key);
        }
        Ok(ended)
    }

    async fn list_index(&self, index: &Key) -> Result<Vec<String>, StateError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let Some(listed) = entries
            .live_index(index.as_str(), now)
            .map(|i| i.keys.clone())
        else {
            return Ok(Vec::new());
        };
        Ok(listed
            .into_iter()
            .filter(|k| entries.live(k, now).is_some())
            .collect())
    }

    async fn subscribe(&self, key: &Key) -> Result<WakeGuard, StateError> {
        Ok(self.wake.register(key.as_str()))
    }

    async fn notify(&self, key: &Key) -> Result<(), StateError> {
        self.wake.fire(key.as_str());
        Ok(())
    }

    async fn purge_tenant(
        &self,
        prefix: &KeyPrefix,
        tenant: TenantId,
        slug: &str,
    ) -> Result<u64, StateError> {
        let [own, logins, index_start] = crate::tenant_starts(prefix, tenant, slug);
        let mut entries = self.lock();
        let indexes: Vec<String> = entries
            .indexes
            .keys()
            .filter(|k| k.starts_with(&own))
            .cloned()
            .collect();
        let mut removed = 0;
        for index in indexes {
            if let Some(listed) = entries.indexes.remove(&index) {
                removed += 1;
                if index.starts_with(&index_start) {
                    for key in listed.keys {
                        removed += u64::from(entries.map.remove(&key).is_some());
                    }
                }
            }
        }
        let before = entries.map.len();
        entries
            .map
            .retain(|k, _| !k.starts_with(&own) && !k.starts_with(&logins));
        removed += (before - entries.map.len()) as u64;
        Ok(removed)
    }

    async fn keys_containing(&self, needle: &str, limit: usize) -> Result<Vec<String>, StateError> {
        let now = Instant::now();
        let entries = self.lock();
        let records = entries
            .map
            .iter()
            .filter(|(_, e)| e.expires_at > now)
            .map(|(k, _)| k);
        let indexes = entries
            .indexes
            .iter()
            .filter(|(_, i)| i.expires_at > now)
            .map(|(k, _)| k);
        Ok(records
            .chain(indexes)
            .filter(|k| k.contains(needle))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn ping(&self) -> Result<(), StateError> {
        Ok(())
    }
}
