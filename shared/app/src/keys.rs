//! A tenant's SET signing keys over the store and `sethub-jose`: the first key, the JWKS to
//! publish, the key that signs now (opened once, then cached), and rotation.
//!
//! Private keys are sealed with the current master key (AES-256-GCM) before they reach the
//! store. The seal's additional data binds the purpose, the tenant and the key's `kid` (its
//! RFC 7638 thumbprint, unique per tenant), so a sealed blob cannot be moved to another tenant
//! or another key row. (The store makes the row id on insert, so the id cannot be bound.)
//!
//! Rotation, as the CLI (`sethub key rotate [--now]`) and the REST API
//! (`POST /api/v1/signing-keys/rotate`) expose it:
//! - **scheduled** (the default): with no `next` key, publish a fresh one as `next`; once the
//!   `next` key has been published for [`RotationPolicy::publish_lead`] (24 h), the same
//!   command promotes it: it becomes `active` and the old active key `retiring`. Receivers
//!   that cache the JWKS see a new key before any SET is signed with it.
//! - **now** (forced): make a `next` key if there is none and promote it at once. The old key
//!   stays published as `retiring` for [`RotationPolicy::overlap`] (7 days), so SETs signed
//!   just before still verify; receivers with a stale JWKS cache must refetch on an unknown
//!   `kid`. For a suspected compromise.
//!
//! Both also retire `retiring` keys whose overlap has passed. Every change of one call happens
//! in one tenant transaction; the old key leaves `active` before the new one enters it (the
//! store allows one active key per tenant).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sethub_domain::Profile;
use sethub_domain::TenantId;
use sethub_jose::keyring::{KeyringError, MasterKeyring, SealContext, SealedKey};
use sethub_jose::keyset::{KeyRecord, KeySet, KeySetError, KeyState, RotationPolicy};
use sethub_jose::{Alg, Jwk, Jwks, KeySpec, SigningKey};
use sethub_store::{NewSigningKey, SigningKeyRecord, SigningKeyState, StoreError};

use crate::AppContext;

/// The algorithm of the keys sethub generates unless the tenant chooses another.
pub const DEFAULT_ALG: Alg = Alg::Es256;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key material: {0}")]
    Keyring(#[from] KeyringError),
    #[error("cannot generate a signing key: {0}")]
    Generate(#[from] sethub_jose::KeyError),
    #[error("the tenant has no active signing key")]
    NoActiveKey,
    #[error("the stored signing key `{kid}` is unreadable: {reason}")]
    Corrupt { kid: String, reason: String },
    #[error(transparent)]
    KeySet(#[from] KeySetError),
    /// The tenant's profile does not allow this kind of key.
    #[error("the {profile} profile requires {requires} keys; {spec} is not allowed")]
    ProfileForbids {
        profile: &'static str,
        requires: &'static str,
        spec: KeySpec,
    },
    #[error("key generation did not finish: {0}")]
    Join(String),
}

/// `(tenant, kid)`.
type CacheKey = (TenantId, String);

/// Opened signing keys by `(tenant, kid)`, so signing never re-opens or re-parses a key.
/// Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct KeyCache {
    keys: Arc<RwLock<HashMap<CacheKey, Arc<SigningKey>>>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.keys.read().map_or(0, |m| m.len());
        f.debug_struct("KeyCache").field("keys", &n).finish()
    }
}

impl KeyCache {
    fn get(&self, tenant: TenantId, kid: &str) -> Option<Arc<SigningKey>> {
        let map = self.keys.read().ok()?;
        map.get(&(tenant, kid.to_owned())).cloned()
    }

    fn put(&self, tenant: TenantId, key: Arc<SigningKey>) {
        if let Ok(mut map) = self.keys.write() {
            map.insert((tenant, key.kid().to_owned()), key);
        }
    }

    /// Drops the tenant's keys that are not in `keep` (after a rotation).
    fn retain(&self, tenant: TenantId, keep: &[&str]) {
        if let Ok(mut map) = self.keys.write() {
            map.retain(|(t, kid), _| *t != tenant || keep.contains(&kid.as_str()));
        }
    }
}

/// The rotation timing (the defaults: 24 h lead, 7 days overlap).
pub fn policy(_ctx: &AppContext) -> RotationPolicy {
    RotationPolicy::default()
}

fn keyring(ctx: &AppContext) -> Result<MasterKeyring, KeysError> {
    Ok(MasterKeyring::new(ctx.master_keys.iter().cloned())?)
}

fn seal_context(tenant: TenantId, kid: &str) -> SealContext {
    SealContext::new("signing-key", tenant, kid)
}

/// Generates a key of `spec` and seals it for `tenant`, ready to insert in `state`. Pure
/// crypto, no I/O: callers do it before opening a transaction. It runs on the blocking pool,
/// since an RSA key takes from a tenth of a second to seconds of CPU.
pub async fn generate(
    ctx: &AppContext,
    tenant: TenantId,
    state: SigningKeyState,
    spec: KeySpec,
) -> Result<NewSigningKey, KeysError> {
    let ring = keyring(ctx)?;
    tokio::task::spawn_blocking(move || {
        let key = SigningKey::generate_spec(spec)?;
        let sealed = ring.seal(&seal_context(tenant, key.kid()), key.pkcs8_der())?;
        Ok(NewSigningKey {
            kid: key.kid().to_owned(),
            alg: key.alg().as_str().to_owned(),
            state,
            public_jwk: key.public_jwk().to_json(),
            sealed_private: sealed.as_str().as_bytes().to_vec(),
            master_key_id: sealed.master_key_id().to_owned(),
        })
    })
    .await
    .map_err(|e| KeysError::Join(e.to_string()))?
}

/// Gives a tenant with no key its first one (ES256), active at once (nobody has cached a JWKS
/// yet).
pub async fn bootstrap(ctx: &AppContext, tenant: TenantId) -> Result<SigningKeyRecord, KeysError> {
    let new = generate(ctx, tenant, SigningKeyState::Active, KeySpec::default()).await?;
    Ok(ctx.store.scope(tenant).signing_keys().insert(new).await?)
}

/// The kinds of key a tenant may use under its profile (all of them without one).
pub fn allowed(profile: Option<Profile>, spec: KeySpec) -> Result<(), KeysError> {
    match profile {
        Some(p @ Profile::CaepInterop) if spec.alg() != Alg::Rs256 => {
            Err(KeysError::ProfileForbids {
                profile: p.as_str(),
                requires: "RS256 (2048 or 3072-bit)",
                spec,
            })
        }
        _ => Ok(()),
    }
}

/// The kind of key the tenant signs with now: that of its next key if one is published (the
/// latest choice), else of its active key, else the default.
pub fn current_spec(set: &KeySet) -> KeySpec {
    set.next()
        .or_else(|| set.active())
        .map_or_else(KeySpec::default, |k| k.public_jwk.spec())
}

fn state_of(s: SigningKeyState) -> KeyState {
    match s {
        SigningKeyState::Next => KeyState::Next,
        SigningKeyState::Active => KeyState::Active,
        SigningKeyState::Retiring => KeyState::Retiring,
        SigningKeyState::Retired => KeyState::Retired,
    }
}

fn corrupt(r: &SigningKeyRecord, reason: impl ToString) -> KeysError {
    KeysError::Corrupt {
        kid: r.kid.clone(),
        reason: reason.to_string(),
    }
}

/// A stored key as `sethub-jose` sees it.
pub fn key_record(r: &SigningKeyRecord) -> Result<KeyRecord, KeysError> {
    let alg = Alg::from_name(&r.alg).ok_or_else(|| corrupt(r, "unknown alg"))?;
    let jwk = Jwk::from_json(&r.public_jwk).map_err(|e| corrupt(r, e))?;
    let since = match r.state {
        SigningKeyState::Next => Some(r.created_at),
        SigningKeyState::Active => r.activated_at,
        SigningKeyState::Retiring => r.retiring_at,
        SigningKeyState::Retired => r.retired_at,
    };
    Ok(KeyRecord {
        id: r.id,
        alg,
        public_jwk: jwk,
        state: state_of(r.state),
        created_at: r.created_at,
        state_since: since.unwrap_or(r.created_at),
    })
}

fn keyset_of(records: &[SigningKeyRecord]) -> Result<KeySet, KeysError> {
    let keys = records.iter().map(key_record).collect::<Result<_, _>>()?;
    Ok(KeySet::new(keys)?)
}

/// The tenant's key set.
pub async fn load_keyset(ctx: &AppContext, tenant: TenantId) -> Result<KeySet, KeysError> {
    keyset_of(&ctx.store.scope(tenant).signing_keys().list().await?)
}

/// The JWKS to publish at `now`: the next, active and still-overlapping retiring keys.
pub async fn jwks(
    ctx: &AppContext,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<Jwks, KeysError> {
    Ok(load_keyset(ctx, tenant).await?.jwks(now, &policy(ctx)))
}

/// The key that signs the tenant's SETs now. Opened and parsed once per `(tenant, kid)`.
pub async fn active_signing_key(
    ctx: &AppContext,
    tenant: TenantId,
) -> Result<Arc<SigningKey>, KeysError> {
    let record = ctx
        .store
        .scope(tenant)
        .signing_keys()
        .active()
        .await?
        .ok_or(KeysError::NoActiveKey)?;
    if let Some(key) = ctx.keys.get(tenant, &record.kid) {
        return Ok(key);
    }
    let key = Arc::new(open(ctx, tenant, &record)?);
    ctx.keys.put(tenant, key.clone());
    Ok(key)
}

fn open(ctx: &AppContext, tenant: TenantId, r: &SigningKeyRecord) -> Result<SigningKey, KeysError> {
    let alg = Alg::from_name(&r.alg).ok_or_else(|| corrupt(r, "unknown alg"))?;
    let text = std::str::from_utf8(&r.sealed_private).map_err(|e| corrupt(r, e))?;
    let sealed: SealedKey = text.parse()?;
    let der = keyring(ctx)?.open(&seal_context(tenant, &r.kid), &sealed)?;
    let key = SigningKey::from_pkcs8(alg, &der)?;
    if key.kid() != r.kid {
        return Err(corrupt(r, "the private key does not match its kid"));
    }
    Ok(key)
}

/// The tenant's interoperability profile, if it has one.
pub async fn tenant_profile(
    ctx: &AppContext,
    tenant: TenantId,
) -> Result<Option<Profile>, KeysError> {
    let t = ctx.store.tenants().get(tenant).await?;
    Ok(t.profile.as_deref().and_then(Profile::from_name))
}

/// How to rotate (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateMode {
    /// Publish a next key now; promote it once it has been published for the lead time.
    Scheduled,
    /// Promote a next key (made now if there is none) at once.
    Now,
}

/// What a rotation call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationAction {
    /// A new key was published as `next`; run rotate again after `next_ready_at`.
    PublishedNext,
    /// A `next` key is published but not ready yet; nothing changed.
    Pending,
    /// The next key became active; the old active key is retiring.
    Promoted,
}

/// The key set after a rotation call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationSummary {
    pub action: RotationAction,
    pub active_kid: Option<String>,
    pub next_kid: Option<String>,
    /// When the next key may be promoted by a scheduled rotation.
    pub next_ready_at: Option<DateTime<Utc>>,
    /// Keys still published for the overlap, no longer signing.
    pub retiring_kids: Vec<String>,
    /// Keys this call retired (their overlap had passed).
    pub retired_kids: Vec<String>,
}

/// Rotates the tenant's keys (see the module documentation for the two modes), keeping the
/// kind of key it signs with.
pub async fn rotate(
    ctx: &AppContext,
    tenant: TenantId,
    mode: RotateMode,
    now: DateTime<Utc>,
) -> Result<RotationSummary, KeysError> {
    rotate_to(ctx, tenant, mode, None, now).await
}

/// [`rotate`], to a key of `spec` when given (another algorithm or size). A published `next`
/// key of another kind is withdrawn (it never signed) and replaced by one of `spec`. The old
/// active key stays in the JWKS through the overlap whatever its algorithm, so SETs signed
/// before the switch still verify. A kind the tenant's profile forbids is refused.
pub async fn rotate_to(
    ctx: &AppContext,
    tenant: TenantId,
    mode: RotateMode,
    spec: Option<KeySpec>,
    now: DateTime<Utc>,
) -> Result<RotationSummary, KeysError> {
    let policy = policy(ctx);
    let profile = tenant_profile(ctx, tenant).await?;
    let current = current_spec(&load_keyset(ctx, tenant).await?);
    let spec = match (spec, profile) {
        (Some(spec), _) => spec,
        // A tenant switched to the profile while signing with another algorithm moves to
        // RS256 on its next rotation.
        (None, Some(Profile::CaepInterop)) if current.alg() != Alg::Rs256 => {
            KeySpec::Rs256 { bits: 2048 }
        }
        (None, _) => current,
    };
    allowed(profile, spec)?;
    // Generated up front, off the runtime, so the transaction holds no crypto; unused if a
    // next key of this kind exists already.
    let candidate = generate(ctx, tenant, SigningKeyState::Next, spec).await?;
    let tx = ctx.store.scope(tenant).begin().await?;
    let keys = tx.signing_keys();
    let mut set = keyset_of(&keys.list().await?)?;

    let retired = set.retire_expired(now, &policy);
    for id in &retired {
        keys.set_state(*id, SigningKeyState::Retired, now).await?;
    }
    // A published next key of another kind never signed: withdraw it for one of `spec`.
    if let Some(next) = set.next().filter(|k| k.public_jwk.spec() != spec) {
        let id = next.id;
        set.revoke(id, now)?;
        keys.set_state(id, SigningKeyState::Retired, now).await?;
    }
    let mut action = RotationAction::Pending;
    if set.next().is_none() {
        let record = keys.insert(candidate).await?;
        let r = key_record(&record)?;
        set.add_next(r.id, r.alg, r.public_jwk, record.created_at)?;
        action = RotationAction::PublishedNext;
    }
    let lead = match mode {
        RotateMode::Now => RotationPolicy {
            publish_lead: chrono::Duration::zero(),
            ..policy
        },
        RotateMode::Scheduled => policy,
    };
    // A key inserted just now may carry a store timestamp a little after `now`.
    let at = set.next().map_or(now, |k| now.max(k.state_since));
    // A key published by this very call is never promoted by a scheduled rotation, whatever
    // the clocks say (the store stamps inserts with its own time).
    let just_published = action == RotationAction::PublishedNext;
    let promote = match mode {
        RotateMode::Now => set.next().is_some(),
        RotateMode::Scheduled => {
            !just_published && set.next_ready_at(&lead).is_some_and(|ready| ready <= at)
        }
    };
    if promote {
        let rotation = set.rotate(at, &lead)?;
        if let Some(old) = rotation.retiring {
            keys.set_state(old, SigningKeyState::Retiring, at).await?;
        }
        keys.set_state(rotation.activated, SigningKeyState::Active, at)
            .await?;
        action = RotationAction::Promoted;
    }
    let summary = summarize(&set, action, &policy, &retired);
    tx.commit().await?;

    let keep: Vec<&str> = set
        .keys()
        .iter()
        .filter(|k| k.state != KeyState::Retired)
        .map(KeyRecord::kid)
        .collect();
    ctx.keys.retain(tenant, &keep);
    Ok(summary)
}

fn summarize(
    set: &KeySet,
    action: RotationAction,
    policy: &RotationPolicy,
    retired: &[sethub_domain::SigningKeyId],
) -> RotationSummary {
    let kids = |state: KeyState| -> Vec<String> {
        set.keys()
            .iter()
            .filter(|k| k.state == state)
            .map(|k| k.kid().to_owned())
            .collect()
    };
    RotationSummary {
        action,
        active_kid: set.active().map(|k| k.kid().to_owned()),
        next_kid: set.next().map(|k| k.kid().to_owned()),
        next_ready_at: set.next_ready_at(policy),
        retiring_kids: kids(KeyState::Retiring),
        retired_kids: set
            .keys()
            .iter()
            .filter(|k| retired.contains(&k.id))
            .map(|k| k.kid().to_owned())
            .collect(),
    }
}

/// One signing key as administrators see it (never its private half).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub id: sethub_domain::SigningKeyId,
    pub kid: String,
    pub alg: String,
    /// The modulus size of an RS256 key.
    pub rsa_bits: Option<u32>,
    /// `next`, `active`, `retiring` or `retired`.
    pub state: String,
    /// Whether the JWKS serves it now.
    pub published: bool,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retiring_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Every key of the tenant, oldest first, and the JWKS published at `now`.
pub async fn overview(
    ctx: &AppContext,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<(Vec<KeyInfo>, Jwks), KeysError> {
    let records = ctx.store.scope(tenant).signing_keys().list().await?;
    let jwks = keyset_of(&records)?.jwks(now, &policy(ctx));
    let infos = records
        .into_iter()
        .map(|r| KeyInfo {
            published: jwks.find(&r.kid).is_some(),
            rsa_bits: Jwk::from_json(&r.public_jwk)
                .ok()
                .and_then(|j| j.spec().rsa_bits()),
            id: r.id,
            kid: r.kid,
            alg: r.alg,
            state: r.state.as_str().to_owned(),
            created_at: r.created_at,
            activated_at: r.activated_at,
            retiring_at: r.retiring_at,
            retired_at: r.retired_at,
        })
        .collect();
    Ok((infos, jwks))
}

impl From<KeysError> for sethub_http::ApiError {
    fn from(e: KeysError) -> Self {
        match e {
            KeysError::Store(e @ StoreError::Database(_)) => sethub_http::ApiError::unavailable(e),
            KeysError::Store(StoreError::NotFound) => sethub_http::ApiError::not_found("not found"),
            // A valid request the tenant's state (its profile) refuses.
            e @ KeysError::ProfileForbids { .. } => {
                sethub_http::ApiError::new(sethub_http::ErrorCode::Conflict, e.to_string())
                    .with_field("alg")
            }
            other => sethub_http::ApiError::internal(other),
        }
    }
}
