//! Test harness: a fresh store per test with a random key prefix, and condition waits.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a part of it

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sethub_domain::TenantId;
use sethub_state::{Key, KeyKind, KeyPrefix, MemoryState, RedisOptions, RedisState, StateStore};
use tokio::time::Instant;
use uuid::Uuid;

/// The bound on every condition wait: generous, since only a broken store reaches it.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn redis_url() -> String {
    std::env::var("SETHUB_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub struct Harness {
    pub state: Arc<dyn StateStore>,
    pub prefix: KeyPrefix,
    pub tenant: TenantId,
}

impl Harness {
    pub async fn memory() -> Self {
        Self::with(Arc::new(MemoryState::new()))
    }

    pub async fn redis() -> Self {
        let state = RedisState::connect(RedisOptions::new(redis_url()))
            .await
            .unwrap_or_else(|err| {
                panic!("Redis at {} (SETHUB_TEST_REDIS_URL): {err}", redis_url())
            });
        Self::with(Arc::new(state))
    }

    fn with(state: Arc<dyn StateStore>) -> Self {
        let prefix = KeyPrefix::new(format!("test-{}", Uuid::new_v4().simple())).unwrap();
        Self {
            state,
            prefix,
            tenant: TenantId::new(),
        }
    }

    /// A key of this test's tenant.
    pub fn key(&self, kind: KeyKind, suffix: &str) -> Key {
        Key::tenant(&self.prefix, self.tenant, kind, suffix)
    }
}

/// Polls `condition` until it holds, or panics after [`DEADLINE`] naming `what`.
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
