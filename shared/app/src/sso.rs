//! Single sign-on with OpenID Connect (authorization code with PKCE; `state` and `nonce`
//! checked): to the console, configured per tenant, or to the portal, configured per receiver
//! (each with a provider's issuer and the client id and secret sethub has there). A person is
//! matched by a **verified** email to a console member of the tenant, or to a portal user of
//! that receiver. The provider is reached through the egress gate ([`crate::egress`]: every
//! discovery, JWKS and token request checked, no redirects, answers bounded), driving
//! `openidconnect` with a closure over our [`GuardedClient`]. Errors shown to the person name
//! the failed step, never what the provider answered.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use sethub_domain::TenantId;
use sethub_egress::{FetchError, GuardedClient};
use sethub_jose::keyring::{SealContext, SealedKey};
use sethub_store::{Member, SsoConfig, StoreError};

use crate::AppContext;
use crate::egress::Purpose;

/// Why single sign-on did not sign anyone in.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("single sign-on is not set up for this organisation")]
    NotConfigured,
    #[error("the identity provider could not be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the sign-in answer does not belong to the sign-in that was started (state)")]
    State,
    #[error("the identity token was refused: {0}")]
    IdToken(String),
    #[error("the identity provider did not vouch for an email address (verified email needed)")]
    NoVerifiedEmail,
    #[error("no member of this organisation has the email {0}; ask an owner for an invite")]
    NoMember(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the client secret cannot be sealed or opened: {0}")]
    Secret(String),
    #[error("too many single sign-on attempts for this organisation; try again in {0} s")]
    TooManyStarts(u64),
}

/// A started sign-in, kept in the session until the provider sends the person back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub tenant: TenantId,
    /// The receiver whose portal is being signed in to (`None`: the console).
    #[serde(default)]
    pub receiver: Option<sethub_domain::ReceiverId>,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// When it was started (Unix seconds); an answer after [`PENDING_SECS`] is refused.
    #[serde(default)]
    pub started_at: i64,
}

/// How long a started sign-in waits for the provider's answer.
pub const PENDING_SECS: i64 = 600;

fn secret_context(tenant: TenantId, receiver: Option<sethub_domain::ReceiverId>) -> SealContext {
    let who = receiver.map_or_else(|| "console".to_owned(), |r| r.to_string());
    SealContext::new("sso-client-secret", tenant, who)
}

/// Seals a client secret for storage (bound to the console or to the receiver).
pub fn seal_secret(
    ctx: &AppContext,
    tenant: TenantId,
    receiver: Option<sethub_domain::ReceiverId>,
    secret: &str,
) -> Result<String, SsoError> {
    let ring = crate::streams::keyring(ctx).map_err(|e| SsoError::Secret(e.to_string()))?;
    ring.seal(&secret_context(tenant, receiver), secret.as_bytes())
        .map(|s| s.to_string())
        .map_err(|e| SsoError::Secret(e.to_string()))
}

fn open_secret(
    ctx: &AppContext,
    tenant: TenantId,
    receiver: Option<sethub_domain::ReceiverId>,
    sealed: &str,
) -> Result<String, SsoError> {
    let ring = crate::streams::keyring(ctx).map_err(|e| SsoError::Secret(e.to_string()))?;
    let sealed: SealedKey = sealed
        .parse()
        .map_err(|e| SsoError::Secret(format!("{e}")))?;
    let bytes = ring
        .open(&secret_context(tenant, receiver), &sealed)
        .map_err(|e| SsoError::Secret(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| SsoError::Secret(e.to_string()))
}

/// What the single sign-on settings form saves.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// A new client secret; empty keeps the saved one, unless the provider changed.
    pub client_secret: &'a str,
}

/// Saves the single sign-on of the console (`receiver` `None`) or of a receiver's portal. A
/// typed secret is sealed. An empty one keeps the saved secret only while the issuer and the
/// client id stay the same: a secret is never sent to a provider it was not given for.
/// Whether a secret is saved afterwards.
pub async fn save_settings(
    ctx: &AppContext,
    tenant: TenantId,
    receiver: Option<sethub_domain::ReceiverId>,
    settings: Settings<'_>,
) -> Result<bool, SsoError> {
    let members = ctx.store.scope(tenant).members();
    let sealed = match settings.client_secret {
        "" => members.sso(receiver).await?.and_then(|c| {
            let same = c.issuer == settings.issuer && c.client_id == settings.client_id;
            if !same && c.client_secret_sealed.is_some() {
                tracing::info!(%tenant, ?receiver, "single sign-on provider changed; its client secret is dropped");
            }
            c.client_secret_sealed.filter(|_| same)
        }),
        secret => Some(seal_secret(ctx, tenant, receiver, secret)?),
    };
    let has_secret = sealed.is_some();
    let config = SsoConfig {
        issuer: settings.issuer.to_owned(),
        client_id: settings.client_id.to_owned(),
        client_secret_sealed: sealed,
    };
    members.set_sso(receiver, Some(&config)).await?;
    tracing::info!(%tenant, ?receiver, issuer = settings.issuer, "single sign-on configured");
    Ok(has_secret)
}

/// Uses up the `state` of a pending sign-in in the state store, so its answer is taken once
/// even by a session that was copied before it came back.
async fn spend_state(ctx: &AppContext, pending: &Pending) -> Result<(), SsoError> {
    let age = chrono::Utc::now().timestamp() - pending.started_at;
    if !(0..=PENDING_SECS).contains(&age) {
        return Err(SsoError::State);
    }
    let key = sethub_state::Key::tenant(
        &ctx.key_prefix,
        pending.tenant,
        sethub_state::KeyKind::Dedupe,
        &format!("sso-state:{}", crate::admin::sha256_hex(&pending.state)),
    );
    let ttl = std::time::Duration::from_secs(PENDING_SECS.unsigned_abs() + 60);
    match ctx.state.set_if_absent(&key, "used", ttl).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(SsoError::State),
        Err(e) => {
            tracing::warn!(error = %e, "cannot mark a single sign-on answer used; the session's one use still holds");
            Ok(())
        }
    }
}

/// The HTTP client the OpenID library uses: the guarded one (every request's URL checked:
/// scheme, IP literals, resolved names; no redirects; the answer bounded).
fn http_client(ctx: &AppContext) -> Result<GuardedClient, SsoError> {
    crate::egress::client(ctx, Purpose::Sso).map_err(|e| provider("client", &e))
}

/// One request of the OpenID library, through the guarded client.
async fn send(
    client: &GuardedClient,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, FetchError> {
    let (parts, body) = req.into_parts();
    let answer = client
        .request(parts.method, &parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut out = openidconnect::http::Response::builder().status(answer.status);
    if let Some(h) = out.headers_mut() {
        *h = answer.headers;
    }
    Ok(out
        .body(answer.body)
        .unwrap_or_else(|_| openidconnect::http::Response::new(Vec::new())))
}

/// A provider failure as shown to the person signing in: which step failed and, when the
/// egress policy refused the address, that; never what the provider answered (its status,
/// body or URL would make the sign-in page a port scanner). The detail goes to the log.
fn provider(step: &str, detail: &dyn std::fmt::Display) -> SsoError {
    tracing::warn!(step, error = %detail, "single sign-on: the identity provider failed");
    SsoError::Provider(format!("at the {step} step"))
}

/// Like [`provider`] for the OpenID library's errors, keeping the egress policy's refusal
/// (which says what sethub decided, not what the provider answered).
fn provider_request<E: std::error::Error + 'static>(step: &str, e: &E) -> SsoError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(FetchError::Refused(refused)) = s.downcast_ref::<FetchError>() {
            tracing::warn!(step, %refused, "single sign-on: the provider's address is refused");
            return SsoError::Provider(format!(
                "at the {step} step: the provider's address is not allowed (sethub only \
                 contacts public https addresses)"
            ));
        }
        source = s.source();
    }
    provider(step, e)
}

/// Checks a provider's issuer URL against the egress policy (scheme, IP literals, resolved
/// names) when it is saved; the error says why, to show beside the field.
pub async fn check_issuer(ctx: &AppContext, issuer: &str) -> Result<(), String> {
    crate::egress::policy(ctx)
        .check_url_resolving(issuer)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

async fn client(
    ctx: &AppContext,
    tenant: TenantId,
    receiver: Option<sethub_domain::ReceiverId>,
    config: &SsoConfig,
    redirect: &str,
) -> Result<(Client, GuardedClient), SsoError> {
    let http = http_client(ctx)?;
    let issuer = IssuerUrl::new(config.issuer.clone()).map_err(|e| provider("issuer", &e))?;
    let fetch = |req| send(&http, req);
    let metadata = CoreProviderMetadata::discover_async(issuer, &fetch)
        .await
        .map_err(|e| provider_request("discovery", &e))?;
    let secret = match &config.client_secret_sealed {
        Some(s) => Some(ClientSecret::new(open_secret(ctx, tenant, receiver, s)?)),
        None => None,
    };
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id.clone()),
        secret,
    )
    .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).map_err(|e| provider("redirect", &e))?);
    Ok((client, http))
}

/// Starts a sign-in at the tenant's provider: the URL to send the browser to, and what to
/// keep until it comes back to `redirect`.
pub async fn start(
    ctx: &AppContext,
    tenant: TenantId,
    receiver: Option<sethub_domain::ReceiverId>,
    redirect: &str,
) -> Result<(String, Pending), SsoError> {
    let config = ctx
        .store
        .scope(tenant)
        .members()
        .sso(receiver)
        .await?
        .ok_or(SsoError::NotConfigured)?;
    // Each start fetches the provider's discovery document: bounded per tenant.
    crate::signin_limits::admit_sso_start(ctx, tenant)
        .await
        .map_err(SsoError::TooManyStarts)?;
    let (client, _) = client(ctx, tenant, receiver, &config, redirect).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    Ok((
        url.to_string(),
        Pending {
            tenant,
            receiver,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            started_at: chrono::Utc::now().timestamp(),
        },
    ))
}

/// Finishes a sign-in: checks `state`, trades the code (with the PKCE verifier), verifies the
/// ID token (signature, issuer, audience, expiry, `nonce`) and finds the member by verified
/// email.
pub async fn finish(
    ctx: &AppContext,
    pending: &Pending,
    redirect: &str,
    code: &str,
    state: &str,
) -> Result<Member, SsoError> {
    let same = pending.state.len() == state.len()
        && pending
            .state
            .bytes()
            .zip(state.bytes())
            .fold(0u8, |d, (a, b)| d | (a ^ b))
            == 0;
    if !same {
        return Err(SsoError::State);
    }
    spend_state(ctx, pending).await?;
    let config = ctx
        .store
        .scope(pending.tenant)
        .members()
        .sso(pending.receiver)
        .await?
        .ok_or(SsoError::NotConfigured)?;
    let (client, http) = client(ctx, pending.tenant, pending.receiver, &config, redirect).await?;
    let fetch = |req| send(&http, req);
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| provider("token", &e))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(&fetch)
        .await
        .map_err(|e| provider_request("token", &e))?;
    let id_token = token
        .id_token()
        .ok_or_else(|| SsoError::IdToken("the provider sent no ID token".into()))?;
    let claims = id_token
        .claims(
            &client.id_token_verifier(),
            &Nonce::new(pending.nonce.clone()),
        )
        .map_err(|e| SsoError::IdToken(e.to_string()))?;
    let email = match (claims.email(), claims.email_verified()) {
        (Some(e), Some(true)) => e.as_str().to_lowercase(),
        _ => return Err(SsoError::NoVerifiedEmail),
    };
    match ctx
        .store
        .scope(pending.tenant)
        .members()
        .by_email(&email)
        .await
    {
        // A console member for the console; that receiver's user for its portal.
        Ok(m) if pending.receiver.is_none() && m.role != sethub_store::Role::Receiver => Ok(m),
        Ok(m) if pending.receiver.is_some() && m.receiver_id == pending.receiver => Ok(m),
        Ok(_) | Err(StoreError::NotFound) => Err(SsoError::NoMember(email)),
        Err(e) => Err(e.into()),
    }
}
