//! sethub as an SSF receiver of a tenant's upstream transmitters (an identity provider that
//! speaks SSF): `subscribe` discovers the transmitter from its issuer, gets a token with the
//! tenant's client credentials, creates a stream that pushes to the tenant's own
//! `/t/{slug}/sets` (or that sethub polls), asking for the event types the tenant's streams
//! deliver, registers the transmitter (issuer, the stream's `aud`, its `jwks_uri`) for the
//! upstream SET intake — so received events are re-published re-signed, `txn` kept,
//! deduplicated by `iss`+`jti` — and asks for a verification SET. The intake hands every SET of
//! a subscribed transmitter to [`on_set`] first: verification and stream-updated SETs are
//! recorded in the subscription's status, not re-published. Every call leaves through the
//! egress gate. The client secret is sealed with the master key.

pub mod remote;
pub mod watch;

use std::str::FromStr;

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use sethub_domain::events::{STREAM_UPDATED, VERIFICATION};
use sethub_domain::{TenantId, UpstreamId};
use sethub_egress::{FetchError, GuardedClient};
use sethub_jose::ValidatedSet;
use sethub_jose::keyring::{SealContext, SealedKey};
use sethub_store::{
    NewAuditEntry, NewUpstream, StoreError, Subscription, SubscriptionStatus, Tenant, Upstream,
};

use crate::AppContext;
use crate::egress::Purpose;
pub use remote::RemoteError;

/// SSF's push delivery method (RFC 8935).
pub const PUSH_METHOD: &str = "urn:ietf:rfc:8935";
/// SSF's poll delivery method (RFC 8936).
pub const POLL_METHOD: &str = "urn:ietf:rfc:8936";

/// How the upstream's SETs reach sethub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The transmitter pushes to the tenant's `/t/{slug}/sets`.
    Push,
    /// sethub polls the transmitter's endpoint.
    Poll,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Poll => "poll",
        }
    }

    fn method(self) -> &'static str {
        match self {
            Self::Push => PUSH_METHOD,
            Self::Poll => POLL_METHOD,
        }
    }
}

impl FromStr for Delivery {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "push" => Ok(Self::Push),
            "poll" => Ok(Self::Poll),
            other => Err(format!("`{other}` is neither push nor poll")),
        }
    }
}

/// What a subscription is made from.
#[derive(Debug, Clone, Copy)]
pub struct SubscribeRequest<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub delivery: Delivery,
}

/// A subscription made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscribed {
    pub upstream_id: UpstreamId,
    pub stream_id: String,
    pub status: String,
}

/// An upstream transmitter as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamSummary {
    pub upstream_id: UpstreamId,
    pub issuer: String,
    pub audience: String,
    /// `push` or `poll`; absent for a transmitter registered only to push SETs in.
    pub delivery: Option<String>,
    pub stream_id: Option<String>,
    pub status: Option<SubscriptionStatus>,
}

impl From<Upstream> for UpstreamSummary {
    fn from(u: Upstream) -> Self {
        Self {
            upstream_id: u.id,
            issuer: u.issuer,
            audience: u.audience,
            delivery: u.subscription.as_ref().map(|s| s.delivery.clone()),
            stream_id: u.subscription.map(|s| s.stream_id),
            status: u.status.map(|mut s| {
                s.verification_state = None;
                s
            }),
        }
    }
}

/// A removal done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub upstream_id: UpstreamId,
    /// Whether the transmitter's stream was deleted there (or was gone already).
    pub remote_stream_deleted: bool,
}

/// Why a subscription could not be made, listed or removed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamRxError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("an upstream transmitter with issuer `{0}` is registered already")]
    Conflict(String),
    #[error("no upstream transmitter `{0}`")]
    NotFound(UpstreamId),
    #[error("the upstream transmitter: {0}")]
    Remote(#[from] RemoteError),
    #[error("no outbound HTTP client: {0}")]
    Egress(FetchError),
    #[error("the client secret cannot be sealed or opened: {0}")]
    Secret(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UpstreamRxError {
    /// Whether this is a long poll that reached `ingest.upstream_long_poll_secs` unanswered
    /// (the transmitter waits longer than sethub does): not an error, the next poll follows.
    pub fn is_poll_timeout(&self) -> bool {
        matches!(
            self,
            Self::Remote(RemoteError::Fetch {
                source: FetchError::Timeout,
                ..
            })
        )
    }
}

fn seal_context(tenant: TenantId, id: UpstreamId) -> SealContext {
    SealContext::new("upstream-client-secret", tenant, id.to_string())
}

fn seal_secret(
    ctx: &AppContext,
    tenant: TenantId,
    id: UpstreamId,
    secret: &str,
) -> Result<String, UpstreamRxError> {
    let ring = crate::streams::keyring(ctx).map_err(|e| UpstreamRxError::Secret(e.to_string()))?;
    ring.seal(&seal_context(tenant, id), secret.as_bytes())
        .map(|s| s.to_string())
        .map_err(|e| UpstreamRxError::Secret(e.to_string()))
}

fn open_secret(ctx: &AppContext, up: &Upstream) -> Result<String, UpstreamRxError> {
    let fail = |e: String| UpstreamRxError::Secret(e);
    let sealed = up
        .client_secret_sealed
        .as_deref()
        .ok_or_else(|| fail("none is stored".into()))?;
    let ring = crate::streams::keyring(ctx).map_err(|e| fail(e.to_string()))?;
    let sealed: SealedKey = sealed.parse().map_err(|e| fail(format!("{e}")))?;
    let bytes = ring
        .open(&seal_context(up.tenant_id, up.id), &sealed)
        .map_err(|e| fail(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| fail(e.to_string()))
}

fn client(ctx: &AppContext) -> Result<GuardedClient, UpstreamRxError> {
    crate::egress::client(ctx, Purpose::Upstream).map_err(UpstreamRxError::Egress)
}

/// The event types the tenant's streams deliver (SSF's own types aside); every type sethub
/// knows when the tenant has no stream yet.
async fn events_wanted(ctx: &AppContext, tenant: TenantId) -> Result<Vec<String>, StoreError> {
    let streams = ctx.store.scope(tenant).streams().list().await?;
    let ssf = |t: &str| t == VERIFICATION || t == STREAM_UPDATED;
    let mut wanted: Vec<String> = streams
        .into_iter()
        .flat_map(|s| s.events_delivered)
        .filter(|t| !ssf(t))
        .collect();
    if wanted.is_empty() {
        wanted = sethub_domain::events::registry()
            .uris()
            .filter(|t| !ssf(t))
            .map(str::to_owned)
            .collect();
    }
    wanted.sort();
    wanted.dedup();
    Ok(wanted)
}

fn random_state() -> String {
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `delivery` member of a create request: push to the tenant's intake, or poll.
fn delivery_object(ctx: &AppContext, slug: &str, delivery: &str) -> Result<Value, UpstreamRxError> {
    match delivery.parse::<Delivery>() {
        Ok(Delivery::Push) => Ok(json!({
            "method": PUSH_METHOD,
            "endpoint_url": format!(
                "{}/t/{slug}/sets",
                ctx.public_url.as_str().trim_end_matches('/'),
            ),
        })),
        Ok(Delivery::Poll) => Ok(json!({ "method": POLL_METHOD })),
        Err(message) => Err(UpstreamRxError::Invalid {
            field: "delivery",
            message,
        }),
    }
}

/// Subscribes the tenant to the transmitter of `req.issuer` (see the module's text).
pub async fn subscribe(
    ctx: &AppContext,
    tenant: &Tenant,
    req: SubscribeRequest<'_>,
) -> Result<Subscribed, UpstreamRxError> {
    let invalid = |field, message: String| UpstreamRxError::Invalid { field, message };
    crate::egress::policy(ctx)
        .check_url(req.issuer)
        .map_err(|e| invalid("issuer", e.to_string()))?;
    let metadata_url =
        remote::metadata_url(req.issuer).map_err(|e| invalid("issuer", e.to_string()))?;
    if req.client_id.is_empty() {
        return Err(invalid("client-id", "must not be empty".into()));
    }
    let scope = ctx.store.scope(tenant.id);
    if scope.upstreams().by_issuer(req.issuer).await.is_ok() {
        return Err(UpstreamRxError::Conflict(req.issuer.to_owned()));
    }
    let http = client(ctx)?;
    let meta = remote::discover(&http, req.issuer).await?;
    let method = req.delivery.method();
    if !meta.delivery_methods_supported.is_empty()
        && !meta.delivery_methods_supported.iter().any(|m| m == method)
    {
        return Err(invalid(
            "delivery",
            format!("the transmitter does not offer {method}"),
        ));
    }
    let token = remote::access_token(
        &http,
        &meta.token_endpoint,
        req.client_id,
        req.client_secret,
    )
    .await?;
    let events = events_wanted(ctx, tenant.id).await?;
    let delivery = delivery_object(ctx, &tenant.slug, req.delivery.as_str())?;
    let stream = remote::create_stream(&http, &meta, &token, delivery, &events).await?;
    let state = match &meta.status_endpoint {
        Some(ep) => remote::stream_status(&http, ep, &token, &stream.stream_id)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the new upstream stream's status cannot be read");
                "enabled".to_owned()
            }),
        None => "enabled".to_owned(),
    };
    let id = UpstreamId::new();
    let sealed = seal_secret(ctx, tenant.id, id, req.client_secret)?;
    let verification_state = meta.verification_endpoint.as_ref().map(|_| random_state());
    let subscription = Subscription {
        metadata_url: metadata_url.into(),
        client_id: req.client_id.to_owned(),
        token_endpoint: meta.token_endpoint.clone(),
        configuration_endpoint: meta.configuration_endpoint.clone(),
        verification_endpoint: meta.verification_endpoint.clone(),
        delivery: req.delivery.as_str().to_owned(),
        stream_id: stream.stream_id.clone(),
        poll_url: stream.poll_url.clone(),
        events_requested: events,
    };
    let status = SubscriptionStatus {
        state: state.clone(),
        verification_state: verification_state.clone(),
        ..SubscriptionStatus::default()
    };
    let new = NewUpstream {
        issuer: req.issuer.to_owned(),
        audience: stream.audience.clone(),
        jwks_url: Some(meta.jwks_uri.clone()),
        jwks: None,
    };
    if let Err(e) = record(ctx, tenant.id, id, new, subscription, sealed, status).await {
        // Nothing is registered: the stream made for it is not left behind.
        let _ = remote::delete_stream(
            &http,
            &meta.configuration_endpoint,
            &token,
            &stream.stream_id,
        )
        .await;
        return Err(e);
    }
    if let (Some(ep), Some(st)) = (&meta.verification_endpoint, &verification_state)
        && let Err(e) = remote::request_verification(&http, ep, &token, &stream.stream_id, st).await
    {
        note_error(ctx, tenant.id, id, &e.to_string()).await;
    }
    Ok(Subscribed {
        upstream_id: id,
        stream_id: stream.stream_id,
        status: state,
    })
}

async fn record(
    ctx: &AppContext,
    tenant: TenantId,
    id: UpstreamId,
    new: NewUpstream,
    subscription: Subscription,
    sealed: String,
    status: SubscriptionStatus,
) -> Result<(), UpstreamRxError> {
    let issuer = new.issuer.clone();
    let details = json!({ "issuer": issuer, "delivery": subscription.delivery,
                          "stream_id": subscription.stream_id });
    let tx = ctx.store.scope(tenant).begin().await?;
    tx.upstreams()
        .create_subscribed(id, new, subscription, sealed, status)
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => UpstreamRxError::Conflict(issuer),
            other => other.into(),
        })?;
    tx.audit()
        .record(NewAuditEntry {
            actor: "admin-cli".into(),
            action: "upstream.subscribe".into(),
            target: Some(id.to_string()),
            details,
        })
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Records `error` as the subscription's last (best effort: the log has it too).
async fn note_error(ctx: &AppContext, tenant: TenantId, id: UpstreamId, error: &str) {
    tracing::warn!(%tenant, upstream = %id, %error, "upstream subscription error");
    let ups = ctx.store.scope(tenant).upstreams();
    if let Ok(up) = ups.get(id).await {
        let mut status = up.status.unwrap_or_default();
        status.last_error = Some(error.to_owned());
        let _ = ups.set_status(id, &status).await;
    }
}

/// One long poll of a poll subscription (see [`remote::poll`]): acknowledges `ack`, reports
/// `set_errs`, returns the `(jti, SET)`s handed out (a fresh token each time). The token
/// request and the poll both leave through the egress gate; the poll's client waits up to
/// `ingest.upstream_long_poll_secs`.
pub async fn poll_once(
    ctx: &AppContext,
    up: &Upstream,
    ack: &[String],
    set_errs: &serde_json::Map<String, Value>,
) -> Result<Vec<(String, String)>, UpstreamRxError> {
    let Some(sub) = &up.subscription else {
        return Ok(Vec::new());
    };
    let Some(url) = &sub.poll_url else {
        return Err(UpstreamRxError::Invalid {
            field: "delivery",
            message: "the transmitter gave the poll stream no endpoint_url".into(),
        });
    };
    let http = client(ctx)?;
    let secret = open_secret(ctx, up)?;
    let token = remote::access_token(&http, &sub.token_endpoint, &sub.client_id, &secret).await?;
    let long =
        crate::egress::client(ctx, Purpose::UpstreamPoll).map_err(UpstreamRxError::Egress)?;
    Ok(remote::poll(&long, url, &token, ack, set_errs, 100).await?)
}

/// The tenant's upstream transmitters, oldest first.
pub async fn list(
    ctx: &AppContext,
    tenant: TenantId,
) -> Result<Vec<UpstreamSummary>, UpstreamRxError> {
    let all = ctx.store.scope(tenant).upstreams().list().await?;
    Ok(all.into_iter().map(Into::into).collect())
}

/// Removes an upstream transmitter; for a subscription, deletes its stream at the
/// transmitter first (a transmitter that cannot be reached does not keep it registered).
pub async fn remove(
    ctx: &AppContext,
    tenant: TenantId,
    id: UpstreamId,
) -> Result<Removed, UpstreamRxError> {
    let up = match ctx.store.scope(tenant).upstreams().get(id).await {
        Err(StoreError::NotFound) => return Err(UpstreamRxError::NotFound(id)),
        other => other?,
    };
    let remote_stream_deleted = match &up.subscription {
        Some(sub) => match delete_remote(ctx, &up, sub).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(upstream = %id, error = %e, "the upstream stream was not deleted");
                false
            }
        },
        None => false,
    };
    let tx = ctx.store.scope(tenant).begin().await?;
    tx.upstreams().delete(id).await?;
    tx.audit()
        .record(NewAuditEntry {
            actor: "admin-cli".into(),
            action: "upstream.delete".into(),
            target: Some(id.to_string()),
            details: json!({ "issuer": up.issuer, "remote_stream_deleted": remote_stream_deleted }),
        })
        .await?;
    tx.commit().await?;
    Ok(Removed {
        upstream_id: id,
        remote_stream_deleted,
    })
}

async fn delete_remote(
    ctx: &AppContext,
    up: &Upstream,
    sub: &Subscription,
) -> Result<(), UpstreamRxError> {
    let http = client(ctx)?;
    let secret = open_secret(ctx, up)?;
    let token = remote::access_token(&http, &sub.token_endpoint, &sub.client_id, &secret).await?;
    remote::delete_stream(&http, &sub.configuration_endpoint, &token, &sub.stream_id).await?;
    Ok(())
}

/// What the intake does with a SET of a subscribed transmitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// An event: re-publish it.
    Publish,
    /// SSF's own (verification, stream-updated): recorded in the status, not re-published.
    Consumed,
    /// A verification SET whose `state` is not the one asked for (SSF §8): refused with
    /// `invalid_state`, the mismatch recorded as the last error.
    InvalidState,
}

/// Notes a validated SET of a subscribed transmitter in its status (see [`Intake`]). A status
/// that cannot be written is logged; the SET is still handled.
pub async fn on_set(ctx: &AppContext, up: &Upstream, set: &ValidatedSet) -> Intake {
    let mut status = up.status.clone().unwrap_or_default();
    let now = Utc::now();
    let intake = if let Some(v) = set.events.get(VERIFICATION) {
        match v.get("state").and_then(Value::as_str) {
            // Sent unprompted (SSF §8): nothing to compare.
            None => return Intake::Consumed,
            // The state last asked for (kept, so a repeat of this SET is recognised).
            Some(state) if Some(state) == status.verification_state.as_deref() => {
                status.last_verification_at = Some(now);
                Intake::Consumed
            }
            Some(_) => {
                status.last_error =
                    Some("a verification SET whose state is not the one sethub asked for".into());
                Intake::InvalidState
            }
        }
    } else if let Some(u) = set.events.get(STREAM_UPDATED) {
        if let Some(s) = u.get("status").and_then(Value::as_str) {
            status.state = s.to_owned();
        }
        Intake::Consumed
    } else {
        status.last_set_at = Some(now);
        Intake::Publish
    };
    if let Err(e) = ctx
        .store
        .scope(up.tenant_id)
        .upstreams()
        .set_status(up.id, &status)
        .await
    {
        tracing::warn!(upstream = %up.id, error = %e, "the upstream's status was not written");
    }
    intake
}
