//! Rebuildable shared state: rate-limit buckets, counters with expiry, dedupe entries,
//! circuit-breaker flags, long-poll wake-ups and browser sessions (records listed in a
//! per-member index, so all of a member's sessions can be ended), behind one [`StateStore`]
//! trait.
//!
//! Two backends honour the same contract (`tests/contract.rs` runs against both):
//! [`RedisState`] for production (several instances share one Redis) and [`MemoryState`] for the
//! embedded default and tests. Nothing here is an obligation: losing Redis loses only state
//! that rebuilds itself (design.md, invariants), so callers treat errors as "unknown" and
//! decide (fail open or closed) themselves. Sessions fail closed: losing them signs people
//! out, nothing more.
//!
//! This is the only crate that touches `redis`.

mod error;
mod key;
mod limit;
mod memory;
mod redis_backend;
mod wake;

use std::time::Duration;

use async_trait::async_trait;
use sethub_domain::TenantId;

pub use crate::error::StateError;
pub use crate::key::{Key, KeyKind, KeyPrefix};
pub use crate::limit::{Limit, RateDecision};
pub use crate::memory::MemoryState;
pub use crate::redis_backend::{RedisOptions, RedisState};
pub use crate::wake::WakeGuard;

/// The state store contract. Object safe: services hold an `Arc<dyn StateStore>`.
///
/// Values are strings; keys are [`Key`]s (scoped by construction). Every write takes a TTL,
/// so nothing lives forever.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// Takes `cost` tokens from the bucket at `key` (GCRA), atomically and in one round trip.
    ///
    /// A fresh or idle bucket admits `limit.burst` at once, then `limit.rate_per_sec`.
    /// A denied call takes nothing; `retry_after` says when `cost` tokens will be available.
    /// `cost == 0` only reports `remaining`. The bucket expires once it is full again.
    /// Errors with [`StateError::InvalidArgument`] when `cost > limit.burst` (never admissible).
    async fn rate_limit(
        &self,
        key: &Key,
        limit: Limit,
        cost: u32,
    ) -> Result<RateDecision, StateError>;

    /// Adds `by` to the counter at `key` and returns the new value. The first increment (the
    /// one that creates the counter) sets its expiry to `ttl`; later ones don't extend it.
    async fn incr(&self, key: &Key, by: i64, ttl: Duration) -> Result<i64, StateError>;

    /// The counter at `key`, 0 when absent or expired.
    async fn get_counter(&self, key: &Key) -> Result<i64, StateError>;

    /// Dedupe: stores `value` with `ttl` unless `key` holds a value. Returns the value already
    /// there (`Some`, nothing changed) or `None` when `value` was stored. Atomic.
    async fn set_if_absent(
        &self,
        key: &Key,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StateError>;

    /// A lease: `owner` (a token unique to the caller) holds `key` for `ttl` from now. Takes
    /// it when nobody holds it (or the holder's lease ran out) and renews it when `owner`
    /// holds it already; returns whether `owner` holds it now. Atomic, so of several callers
    /// at most one holds a key at a time. A holder that stops renewing loses it after `ttl`.
    async fn lease(&self, key: &Key, owner: &str, ttl: Duration) -> Result<bool, StateError>;

    /// Stores `value` with `ttl`, replacing any value (e.g. "circuit open until ...").
    async fn set_with_ttl(&self, key: &Key, value: &str, ttl: Duration) -> Result<(), StateError>;

    /// The value at `key`, `None` when absent or expired.
    async fn get(&self, key: &Key) -> Result<Option<String>, StateError>;

    /// Removes `key`; `true` when it existed.
    async fn delete(&self, key: &Key) -> Result<bool, StateError>;

    /// Registers a waiter on the wake-up channel `key`. Once this returns, every later
    /// [`notify`](Self::notify) of `key` wakes the guard, even one sent before
    /// [`WakeGuard::wait`] is called. A notify sent before `subscribe` is not seen.
    ///
    /// The long-poll pattern is register, then check, then wait, so no SET slips between the
    /// check and the wait:
    ///
    /// ```text
    /// let mut guard = state.subscribe(&key).await?;
    /// loop {
    ///     let sets = queue.fetch(max).await?;          // check after registering
    ///     if !sets.is_empty() || !guard.wait(remaining).await { return Ok(sets); }
    /// }
    /// ```
    async fn subscribe(&self, key: &Key) -> Result<WakeGuard, StateError>;

    /// Wakes every waiter registered on `key` (in any process sharing the backend).
    async fn notify(&self, key: &Key) -> Result<(), StateError>;

    /// Subscribes and waits once: `true` when woken, `false` after `timeout`. Only for callers
    /// with nothing to check; otherwise use [`subscribe`](Self::subscribe).
    async fn wait(&self, key: &Key, timeout: Duration) -> Result<bool, StateError> {
        let mut guard = self.subscribe(key).await?;
        Ok(guard.wait(timeout).await)
    }

    /// Stores the record `value` at `key` for `ttl` (replacing any) and, with an `index`, lists
    /// `key` in that index (a set of keys). An index lives at least as long as each record
    /// it lists (its expiry is raised to `ttl` when shorter); listed records that have
    /// expired are dropped from it on each write. Atomic. For sessions: `key` a session,
    /// `index` its member's sessions.
    async fn put_indexed(
        &self,
        key: &Key,
        value: &str,
        ttl: Duration,
        index: Option<&Key>,
    ) -> Result<(), StateError>;

    /// Like [`put_indexed`](Self::put_indexed), only when `key` holds a record: an ended
    /// record is never brought back by a late write. `false` (nothing written) when absent.
    async fn replace_indexed(
        &self,
        key: &Key,
        value: &str,
        ttl: Duration,
        index: Option<&Key>,
    ) -> Result<bool, StateError>;

    /// Sets the expiry of the record at `key` to `ttl` (and raises its index's, as
    /// [`put_indexed`](Self::put_indexed) does). `false` when absent: nothing changed.
    async fn expire_indexed(
        &self,
        key: &Key,
        ttl: Duration,
        index: Option<&Key>,
    ) -> Result<bool, StateError>;

    /// Removes the record at `key` and its entry in `index`; `true` when it existed.
    async fn delete_indexed(&self, key: &Key, index: Option<&Key>) -> Result<bool, StateError>;

    /// Removes every record `index` lists, and the index; returns how many records existed.
    /// Atomic: a record listed before this call is gone after it.
    async fn delete_index(&self, index: &Key) -> Result<u64, StateError>;

    /// The keys `index` lists whose records still exist (in no particular order).
    async fn list_index(&self, index: &Key) -> Result<Vec<String>, StateError>;

    /// Deletes every key a tenant owns, for purging a closed tenant: each
    /// `{prefix}:t:{tenant}:…` key, the session records its members' session indexes list
    /// (sessions are global keys), and the per-account sign-in buckets of its slug
    /// (`{prefix}:g:rl:login:{slug}:…`). Returns how many keys were removed. Bounded by
    /// what the tenant has: Redis is walked with `SCAN … MATCH`, a page at a time.
    async fn purge_tenant(
        &self,
        prefix: &KeyPrefix,
        tenant: TenantId,
        slug: &str,
    ) -> Result<u64, StateError>;

    /// The live keys (records and indexes) whose name contains `needle`, at most `limit`:
    /// what a check that a tenant left nothing behind reads.
    async fn keys_containing(&self, needle: &str, limit: usize) -> Result<Vec<String>, StateError>;

    /// Checks the backend answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StateError>;
}

/// The `SCAN` patterns of what a tenant owns (see [`StateStore::purge_tenant`]): its own keys
/// and the sign-in buckets of its slug, glob characters escaped.
pub(crate) fn tenant_patterns(prefix: &KeyPrefix, tenant: TenantId, slug: &str) -> [String; 2] {
    let escape = |s: &str| {
        s.chars().fold(String::new(), |mut out, c| {
            if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
                out.push('\\');
            }
            out.push(c);
            out
        })
    };
    [
        format!(
            "{}:t:{}:*",
            escape(prefix.as_str()),
            escape(&tenant.to_string())
        ),
        format!(
            "{}:g:{}:login:{}:*",
            escape(prefix.as_str()),
            KeyKind::RateLimit.code(),
            escape(slug)
        ),
    ]
}

/// The start of a tenant's own keys and of its slug's sign-in buckets (the literal prefixes
/// of [`tenant_patterns`]), and the start of its session indexes.
pub(crate) fn tenant_starts(prefix: &KeyPrefix, tenant: TenantId, slug: &str) -> [String; 3] {
    [
        format!("{prefix}:t:{tenant}:"),
        format!("{prefix}:g:{}:login:{slug}:", KeyKind::RateLimit.code()),
        format!("{prefix}:t:{tenant}:{}:", KeyKind::SessionIndex.code()),
    ]
}
