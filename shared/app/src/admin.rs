//! Tenant administration: the operations the admin CLI, the tenant REST API and the console
//! call, so none of them writes SQL or crypto itself. Secrets (API keys, client secrets) are
//! returned once, in the `Created…` structs, and stored only as hashes; never log them.

mod secrets;
mod values;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sethub_domain::{ApiKeyId, Profile, ReceiverId, TenantId};
use sethub_http::{ApiError, ErrorCode};
use sethub_jose::KeySpec;
use sethub_store::{ApiKey, NewApiKey, NewReceiver, Receiver, StoreError, Tenant};

pub use secrets::{API_KEY_LEN, RandomFailed, api_key_tenant, random_token, sha256_hex};
pub use values::{DisplayName, RESERVED_SLUGS, Scope, TenantSlug};

use crate::AppContext;
use crate::keys::{self, KeysError};

/// Why an admin operation failed. Each maps to one REST error (`From<AdminError> for
/// ApiError`) and reads as one line in the CLI.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the slug `{0}` is taken by another tenant")]
    SlugTaken(String),
    #[error("no tenant has the slug `{0}`")]
    UnknownTenant(String),
    #[error("no {0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error(
        "tenant `{slug}` was created but its first keys were not ({cause}); run \
         `sethub key rotate --tenant {slug} --now` and `sethub apikey create --tenant {slug} \
         --scope admin --scope events:publish`"
    )]
    Incomplete { slug: String, cause: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error(transparent)]
    Random(#[from] RandomFailed),
    /// A change was made but fan-out could not be told (503: retry; the retry tells it).
    #[error("the message bus is unavailable: {0}")]
    Bus(#[from] sethub_bus::BusError),
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::SlugTaken(_) => ApiError::new(ErrorCode::Conflict, e.to_string()),
            AdminError::UnknownTenant(_) | AdminError::NotFound(_) => {
                ApiError::not_found(e.to_string())
            }
            AdminError::Unauthenticated(why) => ApiError::unauthorized(why),
            AdminError::Store(StoreError::NotFound) => ApiError::not_found("not found"),
            AdminError::Store(StoreError::Conflict { what }) => {
                ApiError::new(ErrorCode::Conflict, format!("{what} already exists"))
            }
            AdminError::Store(StoreError::QuotaExceeded { quota, limit }) => ApiError::new(
                ErrorCode::QuotaExceeded,
                format!("quota {quota} reached: {}", quota.describe(limit)),
            )
            .with_field(quota.as_str()),
            AdminError::Store(e @ StoreError::Database(_)) => ApiError::unavailable(e),
            e @ AdminError::Bus(_) => ApiError::unavailable(e),
            AdminError::Keys(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

/// A new tenant. `api_key` is shown once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedTenant {
    pub tenant_id: TenantId,
    pub slug: String,
    pub issuer: String,
    pub api_key: String,
    /// The first key's kind (`ES256`, `EdDSA`, `RS256-2048`, `RS256-3072`).
    pub signing_alg: String,
    /// The interoperability profile, if any.
    pub profile: Option<String>,
}

/// A new receiver. `client_secret` is shown once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedReceiver {
    pub receiver_id: ReceiverId,
    pub client_id: String,
    pub client_secret: String,
    pub token_endpoint: String,
}

/// A new API key. `api_key` is shown once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedApiKey {
    pub api_key_id: ApiKeyId,
    pub api_key: String,
    pub scopes: Vec<String>,
}

/// A tenant as its administrators see it.
#[derive(Debug, Clone, Serialize)]
pub struct TenantInfo {
    pub tenant_id: TenantId,
    pub slug: String,
    pub name: String,
    pub issuer: String,
    pub metadata_url: String,
    pub created_at: DateTime<Utc>,
    /// The interoperability profile switched on, if any.
    pub profile: Option<Profile>,
    /// When it was closed (`crate::closing`), if it is.
    pub closed_at: Option<DateTime<Utc>>,
    /// When a closed tenant's data is deleted.
    pub purge_after: Option<DateTime<Utc>>,
}

/// `{public_url}/t/{slug}`.
pub fn issuer(ctx: &AppContext, slug: &str) -> String {
    ctx.url(&format!("/t/{slug}"))
}

/// Where the tenant's receivers trade client credentials for access tokens.
pub fn token_endpoint(ctx: &AppContext, slug: &str) -> String {
    ctx.url(&format!("/t/{slug}/oauth/token"))
}

/// The tenant's SSF metadata (path-insertion form of `/.well-known/ssf-configuration`).
pub fn metadata_url(ctx: &AppContext, slug: &str) -> String {
    ctx.url(&format!("/.well-known/ssf-configuration/t/{slug}"))
}

/// The scopes of a tenant's first API key.
pub const FIRST_KEY_SCOPES: [Scope; 2] = [Scope::EventsPublish, Scope::Admin];

/// Creates a tenant with its first signing key (active) and first API key (scopes
/// `events:publish` and `admin`).
///
/// Everything that can fail without the database (master keys, randomness) is checked before
/// the tenant row is written; the keys are then written in one tenant transaction. Should that
/// transaction fail, the tenant is deleted again, so nothing is half-created; only if that
/// delete fails too does the error say how to finish by hand ([`AdminError::Incomplete`]).
pub async fn create_tenant(
    ctx: &AppContext,
    slug: &TenantSlug,
    name: &DisplayName,
) -> Result<CreatedTenant, AdminError> {
    create_tenant_with_owner(ctx, slug, name, TenantOptions::default(), None).await
}

/// How a new tenant signs: the kind of its first key (default: ES256, or RS256-2048 under the
/// CAEP interoperability profile) and its profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantOptions {
    pub key: Option<KeySpec>,
    pub profile: Option<Profile>,
}

impl TenantOptions {
    /// The first key's kind, checked against the profile.
    pub fn key_spec(&self) -> Result<KeySpec, KeysError> {
        let spec = match (self.key, self.profile) {
            (Some(spec), _) => spec,
            (None, Some(Profile::CaepInterop)) => KeySpec::Rs256 { bits: 2048 },
            (None, None) => KeySpec::default(),
        };
        keys::allowed(self.profile, spec)?;
        Ok(spec)
    }
}

/// [`create_tenant`] with [`TenantOptions`], and with the console's first member (its owner)
/// written in the same transaction as the keys, when given.
pub async fn create_tenant_with_owner(
    ctx: &AppContext,
    slug: &TenantSlug,
    name: &DisplayName,
    options: TenantOptions,
    owner: Option<sethub_store::NewMember>,
) -> Result<CreatedTenant, AdminError> {
    let spec = options.key_spec()?;
    // Fails here, before any write, if the master keys are unusable (an ES256 key is cheap).
    keys::generate(
        ctx,
        TenantId::new(),
        sethub_store::SigningKeyState::Active,
        KeySpec::Es256,
    )
    .await?;
    secrets::random_token()?;
    let tenant = match ctx
        .store
        .tenants()
        .create_with_profile(
            slug.as_str(),
            name.as_str(),
            options.profile.map(Profile::as_str),
        )
        .await
    {
        Ok(t) => t,
        Err(StoreError::Conflict { .. }) => return Err(AdminError::SlugTaken(slug.to_string())),
        Err(e) => return Err(e.into()),
    };
    let incomplete = |cause: &dyn std::fmt::Display| AdminError::Incomplete {
        slug: slug.to_string(),
        cause: cause.to_string(),
    };
    let signing = keys::generate(ctx, tenant.id, sethub_store::SigningKeyState::Active, spec)
        .await
        .map_err(|e| incomplete(&e))?;
    let api_key = secrets::mint_api_key(tenant.id).map_err(|e| incomplete(&e))?;
    let written = async {
        let tx = ctx.store.scope(tenant.id).begin().await?;
        tx.signing_keys().insert(signing).await?;
        tx.api_keys()
            .create(new_api_key("initial", &api_key, &FIRST_KEY_SCOPES))
            .await?;
        if let Some(owner) = owner {
            tx.members().create(owner).await?;
        }
        tx.commit().await
    };
    if let Err(e) = written.await {
        // Nothing half-created: take the tenant back (its rows go with it by cascade).
        if let Err(undo) = ctx.store.tenants().delete(tenant.id).await {
            tracing::error!(tenant = %tenant.id, slug = %slug, error = %e, undo = %undo, "tenant created without its keys");
            return Err(incomplete(&e));
        }
        return Err(e.into());
    }
    tracing::info!(tenant = %tenant.id, slug = %slug, "tenant created");
    Ok(CreatedTenant {
        tenant_id: tenant.id,
        slug: tenant.slug.clone(),
        issuer: issuer(ctx, &tenant.slug),
        api_key: api_key.secret,
        signing_alg: spec.name(),
        profile: options.profile.map(|p| p.as_str().to_owned()),
    })
}

fn new_api_key(name: &str, key: &secrets::MintedApiKey, scopes: &[Scope]) -> NewApiKey {
    let mut scopes: Vec<Scope> = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    NewApiKey {
        name: name.to_owned(),
        prefix: key.prefix.clone(),
        secret_hash: key.hash.clone(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
    }
}

/// The tenant with this slug.
pub async fn tenant_by_slug(ctx: &AppContext, slug: &str) -> Result<Tenant, AdminError> {
    ctx.store
        .tenants()
        .find_by_slug(slug)
        .await?
        .ok_or_else(|| AdminError::UnknownTenant(slug.to_owned()))
}

/// The tenant as its administrators see it.
pub async fn tenant_info(ctx: &AppContext, tenant: TenantId) -> Result<TenantInfo, AdminError> {
    let t = ctx
        .store
        .tenants()
        .get(tenant)
        .await
        .map_err(not_found("tenant"))?;
    Ok(TenantInfo {
        tenant_id: t.id,
        issuer: issuer(ctx, &t.slug),
        metadata_url: metadata_url(ctx, &t.slug),
        profile: t.profile.as_deref().and_then(Profile::from_name),
        slug: t.slug,
        name: t.name,
        created_at: t.created_at,
        closed_at: t.closed_at,
        purge_after: t.purge_after,
    })
}

/// Switches the tenant's interoperability profile on (or off with `None`). A tenant that
/// switches to the CAEP interoperability profile while signing with anything but RS256 is
/// rotated at once to an RS256-2048 key; its old key stays in the JWKS for the overlap, so
/// SETs already sent still verify. Returns the tenant and the rotation, if one happened.
pub async fn set_profile(
    ctx: &AppContext,
    tenant: TenantId,
    profile: Option<Profile>,
) -> Result<(TenantInfo, Option<keys::RotationSummary>), AdminError> {
    let set = keys::load_keyset(ctx, tenant).await?;
    let active = set.active().map(|k| k.public_jwk.spec());
    ctx.store
        .tenants()
        .set_profile(tenant, profile.map(Profile::as_str))
        .await
        .map_err(not_found("tenant"))?;
    let mut rotation = None;
    let needs_rsa = profile == Some(Profile::CaepInterop)
        && active.is_none_or(|spec| keys::allowed(profile, spec).is_err());
    if needs_rsa {
        let summary = keys::rotate_to(
            ctx,
            tenant,
            keys::RotateMode::Now,
            Some(KeySpec::Rs256 { bits: 2048 }),
            Utc::now(),
        )
        .await?;
        rotation = Some(summary);
    }
    tracing::info!(tenant = %tenant, profile = ?profile, rotated = needs_rsa, "tenant profile set");
    Ok((tenant_info(ctx, tenant).await?, rotation))
}

fn not_found(what: &'static str) -> impl Fn(StoreError) -> AdminError {
    move |e| match e {
        StoreError::NotFound => AdminError::NotFound(what.to_owned()),
        e => AdminError::Store(e),
    }
}

/// Creates a receiver with client credentials for the tenant's token endpoint, within the
/// tenant's `receivers_per_tenant` quota (`AdminError::Store(QuotaExceeded)`, nothing written).
///
/// `client_id` is its own random identifier (`cid_…`): the store makes the receiver id on
/// insert, so the id cannot double as the client id.
pub async fn create_receiver(
    ctx: &AppContext,
    tenant: TenantId,
    name: &DisplayName,
) -> Result<CreatedReceiver, AdminError> {
    let t = ctx
        .store
        .tenants()
        .get(tenant)
        .await
        .map_err(not_found("tenant"))?;
    let client_secret = secrets::random_token()?;
    let client_id = secrets::client_id()?;
    let max = crate::quotas::of_tenant(ctx, &t).receivers_per_tenant;
    let receiver = ctx
        .store
        .scope(tenant)
        .receivers()
        .create_within(
            NewReceiver {
                name: name.to_string(),
                client_id: client_id.clone(),
                client_secret_hash: sha256_hex(&client_secret),
            },
            max,
        )
        .await?;
    tracing::info!(tenant = %tenant, receiver = %receiver.id, "receiver created");
    Ok(CreatedReceiver {
        receiver_id: receiver.id,
        client_id,
        client_secret,
        token_endpoint: token_endpoint(ctx, &t.slug),
    })
}

/// The tenant's receivers, oldest first.
pub async fn list_receivers(
    ctx: &AppContext,
    tenant: TenantId,
) -> Result<Vec<Receiver>, AdminError> {
    Ok(ctx.store.scope(tenant).receivers().list().await?)
}

/// One receiver of the tenant (another tenant's is not found).
pub async fn get_receiver(
    ctx: &AppContext,
    tenant: TenantId,
    id: ReceiverId,
) -> Result<Receiver, AdminError> {
    ctx.store
        .scope(tenant)
        .receivers()
        .get(id)
        .await
        .map_err(not_found("receiver with this id"))
}

/// Rotates a receiver's client secret: the new one is returned (shown once), the old one
/// stops working at once.
pub async fn rotate_receiver_secret(
    ctx: &AppContext,
    tenant: TenantId,
    receiver: ReceiverId,
) -> Result<String, AdminError> {
    let secret = secrets::random_token()?;
    ctx.store
        .scope(tenant)
        .receivers()
        .set_secret_hash(receiver, &sha256_hex(&secret))
        .await
        .map_err(not_found("receiver"))?;
    tracing::info!(%tenant, %receiver, "receiver client secret rotated");
    Ok(secret)
}

/// Creates an API key with these scopes (at least one).
pub async fn create_api_key(
    ctx: &AppContext,
    tenant: TenantId,
    name: &DisplayName,
    scopes: &[Scope],
) -> Result<CreatedApiKey, AdminError> {
    ctx.store
        .tenants()
        .get(tenant)
        .await
        .map_err(not_found("tenant"))?;
    let minted = secrets::mint_api_key(tenant)?;
    let new = new_api_key(name.as_str(), &minted, scopes);
    let key = ctx.store.scope(tenant).api_keys().create(new).await?;
    tracing::info!(tenant = %tenant, api_key = %key.id, "API key created");
    Ok(CreatedApiKey {
        api_key_id: key.id,
        api_key: minted.secret,
        scopes: key.scopes,
    })
}

/// Revokes an API key; revoking it again keeps the first revocation.
pub async fn revoke_api_key(
    ctx: &AppContext,
    tenant: TenantId,
    id: ApiKeyId,
) -> Result<ApiKey, AdminError> {
    let key = ctx
        .store
        .scope(tenant)
        .api_keys()
        .revoke(id)
        .await
        .map_err(not_found("API key with this id"))?;
    tracing::info!(tenant = %tenant, api_key = %id, "API key revoked");
    Ok(key)
}

/// The tenant's API keys, revoked ones included, oldest first.
pub async fn list_api_keys(ctx: &AppContext, tenant: TenantId) -> Result<Vec<ApiKey>, AdminError> {
    Ok(ctx.store.scope(tenant).api_keys().list().await?)
}

/// How stale `last_used_at` may get before a use is recorded again (one write per key per
/// minute at most, not one per request).
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// The tenant and key behind a presented API key; `Unauthenticated` when it is malformed,
/// unknown or revoked (the three are not told apart).
pub async fn authenticate_api_key(
    ctx: &AppContext,
    presented: &str,
) -> Result<(TenantId, ApiKey), AdminError> {
    const REFUSED: &str = "the API key is not valid (unknown, revoked or malformed)";
    let tenant = api_key_tenant(presented).ok_or(AdminError::Unauthenticated(REFUSED))?;
    let keys = ctx.store.scope(tenant).api_keys();
    let key = keys
        .find_active_by_hash(&sha256_hex(presented))
        .await?
        .ok_or(AdminError::Unauthenticated(REFUSED))?;
    let now = Utc::now();
    if key.last_used_at.is_none_or(|t| now - t > TOUCH_EVERY)
        && let Err(e) = keys.touch_last_used(key.id, now).await
    {
        tracing::warn!(api_key = %key.id, error = %e, "cannot record the API key's last use");
    }
    Ok((tenant, key))
}
