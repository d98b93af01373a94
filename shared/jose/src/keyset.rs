//! A tenant's signing keys and their rotation, as pure logic over a list of keys with
//! timestamps. A new key is published as `next` before it signs (receivers cache JWKS), and
//! the key it replaces stays published as `retiring` for an overlap (SETs signed with it may
//! still be queued), then becomes `retired` and disappears from the JWKS.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sethub_domain::SigningKeyId;

use crate::{Alg, Jwk, Jwks};

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Published and signing (at most one).
    Active,
    /// Published for the overlap, no longer signing.
    Retiring,
    /// Neither published nor signing.
    Retired,
}

/// One key of the set (its private half is sealed elsewhere).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: SigningKeyId,
    pub alg: Alg,
    /// The public key, with its `kid`.
    pub public_jwk: Jwk,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    /// When the key entered its current state.
    pub state_since: DateTime<Utc>,
}

impl KeyRecord {
    /// A new key in state `state` at `now`.
    pub fn new(
        id: SigningKeyId,
        alg: Alg,
        public_jwk: Jwk,
        state: KeyState,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            alg,
            public_jwk,
            state,
            created_at: now,
            state_since: now,
        }
    }

    /// The key's `kid`.
    pub fn kid(&self) -> &str {
        self.public_jwk.kid.as_deref().unwrap_or_default()
    }

    fn set_state(&mut self, state: KeyState, now: DateTime<Utc>) {
        self.state = state;
        self.state_since = now;
    }
}

/// The timing of rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a `next` key is published before it may become active. Default 24 h.
    pub publish_lead: Duration,
    /// How long a `retiring` key stays published. Default 7 days.
    pub overlap: Duration,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self {
            publish_lead: Duration::hours(24),
            overlap: Duration::days(7),
        }
    }
}

/// A rotation that cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("there is no next key to rotate to: add one first")]
    NoNextKey,
    #[error("the next key is published only since {since}; it may sign from {ready_at}")]
    NextNotReady {
        since: DateTime<Utc>,
        ready_at: DateTime<Utc>,
    },
    #[error("there is already a next key ({0:?})")]
    NextExists(SigningKeyId),
    #[error("the key set has {0} active keys; at most one may sign")]
    SeveralActive(usize),
    #[error("the key set has {0} next keys; at most one is allowed")]
    SeveralNext(usize),
    #[error("no key {0:?} in this set")]
    UnknownKey(SigningKeyId),
}

/// What [`KeySet::rotate`] changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub activated: SigningKeyId,
    pub retiring: Option<SigningKeyId>,
}

/// A tenant's signing keys.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeySet {
    keys: Vec<KeyRecord>,
}

impl KeySet {
    /// A key set from stored records, checking at most one `active` and one `next`.
    pub fn new(keys: Vec<KeyRecord>) -> Result<Self, KeySetError> {
        let count = |s: KeyState| keys.iter().filter(|k| k.state == s).count();
        match (count(KeyState::Active), count(KeyState::Next)) {
            (a, _) if a > 1 => Err(KeySetError::SeveralActive(a)),
            (_, n) if n > 1 => Err(KeySetError::SeveralNext(n)),
            _ => Ok(Self { keys }),
        }
    }

    /// A tenant's first key: active at once (no receiver has cached anything yet).
    pub fn bootstrap(id: SigningKeyId, alg: Alg, public_jwk: Jwk, now: DateTime<Utc>) -> Self {
        Self {
            keys: vec![KeyRecord::new(id, alg, public_jwk, KeyState::Active, now)],
        }
    }

    /// Every key, whatever its state.
    pub fn keys(&self) -> &[KeyRecord] {
        &self.keys
    }

    /// The key that signs now.
    pub fn active(&self) -> Option<&KeyRecord> {
        self.keys.iter().find(|k| k.state == KeyState::Active)
    }

    /// The key published to sign next.
    pub fn next(&self) -> Option<&KeyRecord> {
        self.keys.iter().find(|k| k.state == KeyState::Next)
    }

    /// The keys to publish at `now`: next, active, and retiring keys within the overlap.
    pub fn published(&self, now: DateTime<Utc>, policy: &RotationPolicy) -> Vec<&KeyRecord> {
        self.keys
            .iter()
            .filter(|k| match k.state {
                KeyState::Next | KeyState::Active => true,
                KeyState::Retiring => now < k.state_since + policy.overlap,
                KeyState::Retired => false,
            })
            .collect()
    }

    /// The JWKS to serve at `now`.
    pub fn jwks(&self, now: DateTime<Utc>, policy: &RotationPolicy) -> Jwks {
        Jwks::new(
            self.published(now, policy)
                .into_iter()
                .map(|k| k.public_jwk.clone())
                .collect(),
        )
    }

    /// Publishes a new key as `next` (at most one at a time).
    pub fn add_next(
        &mut self,
        id: SigningKeyId,
        alg: Alg,
        public_jwk: Jwk,
        now: DateTime<Utc>,
    ) -> Result<(), KeySetError> {
        if let Some(next) = self.next() {
            return Err(KeySetError::NextExists(next.id));
        }
        self.keys
            .push(KeyRecord::new(id, alg, public_jwk, KeyState::Next, now));
        Ok(())
    }

    /// When the next key may be activated, if there is one.
    pub fn next_ready_at(&self, policy: &RotationPolicy) -> Option<DateTime<Utc>> {
        self.next().map(|k| k.state_since + policy.publish_lead)
    }

    /// Activates the next key once it has been published for the lead time; the active key
    /// becomes retiring.
    pub fn rotate(
        &mut self,
        now: DateTime<Utc>,
        policy: &RotationPolicy,
    ) -> Result<Rotation, KeySetError> {
        let next = self.next().ok_or(KeySetError::NoNextKey)?;
        let ready_at = next.state_since + policy.publish_lead;
        if now < ready_at {
            return Err(KeySetError::NextNotReady {
                since: next.state_since,
                ready_at,
            });
        }
        let mut rotation = Rotation {
            activated: next.id,
            retiring: None,
        };
        for key in &mut self.keys {
            match key.state {
                KeyState::Active => {
                    key.set_state(KeyState::Retiring, now);
                    rotation.retiring = Some(key.id);
                }
                KeyState::Next => key.set_state(KeyState::Active, now),
                _ => {}
            }
        }
        Ok(rotation)
    }

    /// Moves retiring keys whose overlap has passed to `retired`; returns their ids.
    pub fn retire_expired(
        &mut self,
        now: DateTime<Utc>,
        policy: &RotationPolicy,
    ) -> Vec<SigningKeyId> {
        let mut retired = Vec::new();
        for key in &mut self.keys {
            if key.state == KeyState::Retiring && now >= key.state_since + policy.overlap {
                key.set_state(KeyState::Retired, now);
                retired.push(key.id);
            }
        }
        retired
    }

    /// Withdraws a key at once (e.g. compromised): retired, unpublished. If it was active,
    /// nothing signs until the next key is activated.
    pub fn revoke(&mut self, id: SigningKeyId, now: DateTime<Utc>) -> Result<(), KeySetError> {
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or(KeySetError::UnknownKey(id))?;
        key.set_state(KeyState::Retired, now);
        Ok(())
    }
}
