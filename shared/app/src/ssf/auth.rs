//! Who is calling the SSF stream API or the poll endpoint: the receiver behind the bearer
//! access token, for the tenant of the path (`/t/{slug}/…`). One extractor serves both
//! services, so a handler that takes it cannot run unauthenticated, and the token is checked
//! before the body is read (401 first).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use sethub_domain::ReceiverId;
use sethub_store::Tenant;

use super::error::SsfError;
use crate::AppContext;
use crate::auth::{ReceiverAuthError, TokenClaims, authenticate_receiver};

/// Scope for every stream management operation (it implies the others).
pub const SCOPE_MANAGE: &str = "ssf.manage";
/// Scope for read-only stream management.
pub const SCOPE_READ: &str = "ssf.read";
/// Scope for the poll endpoint.
pub const SCOPE_POLL: &str = "ssf.poll";
/// Everything a receiver may be granted.
pub const ALL_SCOPES: [&str; 3] = [SCOPE_MANAGE, SCOPE_READ, SCOPE_POLL];

/// Whom a stream operation acts for: a receiver of a tenant. The SSF API gets it from an
/// access token ([`Receiver`]), the portal from its session; the operations take nothing else.
#[derive(Debug, Clone)]
pub struct ReceiverCaller {
    pub tenant: Tenant,
    pub receiver_id: ReceiverId,
}

/// A receiver of the path's tenant, authenticated by its bearer access token.
pub struct Receiver {
    pub caller: ReceiverCaller,
    pub claims: TokenClaims,
}

impl Receiver {
    /// 403 unless the token carries `scope` (or `ssf.manage`, which implies every other).
    pub fn require(&self, scope: &'static str) -> Result<&ReceiverCaller, SsfError> {
        if self.claims.has_scope(scope) || self.claims.has_scope(SCOPE_MANAGE) {
            Ok(&self.caller)
        } else {
            Err(SsfError::InsufficientScope(scope))
        }
    }
}

fn context(req: &HttpRequest) -> Result<web::Data<AppContext>, SsfError> {
    req.app_data::<web::Data<AppContext>>()
        .cloned()
        .ok_or_else(|| SsfError::internal("AppContext is not registered"))
}

impl FromRequest for Receiver {
    type Error = SsfError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, SsfError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = context(&req)?;
            // Authentication comes first: nothing about the tenant is revealed to a caller
            // without a valid token.
            let token = sethub_http::bearer_token(&req)
                .map_err(|e| SsfError::Unauthorized(e.to_string()))?;
            // A NUL in the path (the slug, a poll stream's id) or the query names nothing
            // (PostgreSQL could not even be asked): refused before any lookup.
            if let Some(name) = sethub_http::nul::in_target(&req) {
                return Err(SsfError::bad(&name, sethub_http::nul::NUL_REFUSED));
            }
            let slug = req.match_info().get("slug").unwrap_or_default();
            let who = authenticate_receiver(&ctx, slug, token)
                .await
                .map_err(|e| match e {
                    ReceiverAuthError::Unauthorized(why) => SsfError::Unauthorized(why),
                    ReceiverAuthError::Store(e) => e.into(),
                })?;
            Ok(Receiver {
                caller: ReceiverCaller {
                    tenant: who.tenant,
                    receiver_id: who.receiver_id,
                },
                claims: who.claims,
            })
        })
    }
}
