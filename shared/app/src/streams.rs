//! What the control plane and the data plane must agree on about a stream: how its push
//! `Authorization` header is sealed at rest, and how a poll stream's long polls are woken
//! (the SSRF policy of push targets is [`crate::egress::policy`]).

use sethub_domain::{StreamId, TenantId};
use sethub_jose::keyring::{KeyringError, MasterKeyring, SealContext, SealedKey};

use crate::AppContext;

/// The context a stream's `authorization_header` is sealed under: bound to the tenant and the
/// stream, so a sealed header copied to another stream does not open.
pub fn authorization_seal_context(tenant: TenantId, stream: StreamId) -> SealContext {
    SealContext::new("stream-authorization", tenant, stream.to_string())
}

/// Why a sealed header could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the authorization header of stream {stream}: {reason}")]
pub struct OpenError {
    pub stream: StreamId,
    pub reason: String,
}

/// The master keyring of this deployment.
pub fn keyring(ctx: &AppContext) -> Result<MasterKeyring, KeyringError> {
    MasterKeyring::new(ctx.master_keys.iter().cloned())
}

/// Opens a stream's sealed `authorization_header`.
pub fn open_authorization(
    ring: &MasterKeyring,
    tenant: TenantId,
    stream: StreamId,
    sealed: &[u8],
) -> Result<String, OpenError> {
    let fail = |reason: String| OpenError { stream, reason };
    let text = std::str::from_utf8(sealed).map_err(|e| fail(e.to_string()))?;
    let sealed: SealedKey = text.parse().map_err(|e| fail(format!("{e}")))?;
    let bytes = ring
        .open(&authorization_seal_context(tenant, stream), &sealed)
        .map_err(|e| fail(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| fail(e.to_string()))
}

/// The wake-up key of a poll stream's long polls: notified when a SET is queued for it.
pub fn poll_wake_key(ctx: &AppContext, tenant: TenantId, stream: StreamId) -> sethub_state::Key {
    sethub_state::Key::stream(
        &ctx.key_prefix,
        tenant,
        stream,
        sethub_state::KeyKind::Wake,
        "poll",
    )
}

/// Wakes a poll stream's long polls (best effort: a poller that misses it finds the SET at
/// its next poll).
pub async fn wake_pollers(ctx: &AppContext, tenant: TenantId, stream: StreamId) {
    if let Err(e) = ctx.state.notify(&poll_wake_key(ctx, tenant, stream)).await {
        tracing::debug!(%stream, error = %e, "cannot wake the stream's long polls");
    }
}

/// How a stream is named to people: its description, else its id.
pub fn name_of(s: &sethub_store::Stream) -> String {
    s.description
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| s.id.to_string())
}
