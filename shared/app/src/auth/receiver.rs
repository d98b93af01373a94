//! Authenticating a receiver by its bearer access token for the tenant of a path
//! (`/t/{slug}/…`): the one check behind the SSF stream API (manage) and the poll endpoint
//! (fanout).

use sethub_domain::ReceiverId;
use sethub_store::{StoreError, Tenant};

use super::{TokenClaims, TokenKeys};
use crate::AppContext;

/// A receiver of the path's tenant, authenticated.
#[derive(Debug, Clone)]
pub struct AuthenticatedReceiver {
    pub tenant: Tenant,
    pub receiver_id: ReceiverId,
    pub claims: TokenClaims,
}

/// Why a receiver was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverAuthError {
    /// 401: the reason, safe to show (it never tells whether the tenant exists).
    #[error("{0}")]
    Unauthorized(String),
    /// The store could not answer (503).
    #[error(transparent)]
    Store(StoreError),
}

/// Checks `token` (signature and expiry; no database) and then that it was issued for the
/// tenant `slug` to a receiver that still exists and is not disabled. A token of another
/// tenant gets the same answer as no token.
pub async fn authenticate_receiver(
    ctx: &AppContext,
    slug: &str,
    token: &str,
) -> Result<AuthenticatedReceiver, ReceiverAuthError> {
    let unauthorized = |why: &str| ReceiverAuthError::Unauthorized(why.to_owned());
    let claims = TokenKeys::new(&ctx.master_keys)
        .verify(token, chrono::Utc::now().timestamp())
        .map_err(|e| ReceiverAuthError::Unauthorized(e.to_string()))?;
    let tenant = ctx
        .store
        .tenants()
        .find_by_slug(slug)
        .await
        .map_err(ReceiverAuthError::Store)?
        .filter(|t| t.id.to_string() == claims.tnt)
        .ok_or_else(|| unauthorized("the access token was not issued for this issuer"))?;
    let receiver_id: ReceiverId = claims
        .rcv
        .parse()
        .map_err(|_| unauthorized("the access token is malformed"))?;
    match ctx
        .store
        .scope(tenant.id)
        .receivers()
        .get(receiver_id)
        .await
    {
        Ok(r) if r.disabled_at.is_none() => Ok(AuthenticatedReceiver {
            tenant,
            receiver_id,
            claims,
        }),
        Ok(_) => Err(unauthorized("the receiver is disabled")),
        Err(StoreError::NotFound) => Err(unauthorized("the receiver no longer exists")),
        Err(e) => Err(ReceiverAuthError::Store(e)),
    }
}
