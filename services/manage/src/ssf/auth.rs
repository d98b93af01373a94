//! Who is calling: the tenant named by the path (`/t/{slug}/…`) and, for the stream API, the
//! receiver behind the bearer access token. Both are extractors, so a handler that takes them
//! cannot run unauthenticated, and the token is checked before the body is read (401 first).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use sethub_app::AppContext;
use sethub_app::auth::{ReceiverAuthError, TokenClaims, authenticate_receiver};
use sethub_domain::ReceiverId;
use sethub_store::Tenant;

use crate::ssf::error::SsfError;

/// Scope for every stream management operation.
pub const SCOPE_MANAGE: &str = "ssf.manage";
/// Scope for read-only stream management.
pub const SCOPE_READ: &str = "ssf.read";
/// Scope for the poll endpoint.
pub const SCOPE_POLL: &str = "ssf.poll";
/// Everything a receiver may be granted.
pub const ALL_SCOPES: [&str; 3] = [SCOPE_MANAGE, SCOPE_READ, SCOPE_POLL];

fn context(req: &HttpRequest) -> Result<web::Data<AppContext>, SsfError> {
    req.app_data::<web::Data<AppContext>>()
        .cloned()
        .ok_or_else(|| SsfError::internal("AppContext is not registered"))
}

/// The tenant of `/t/{slug}/…`; 404 when no tenant has that slug.
pub struct TenantPath(pub Tenant);

impl FromRequest for TenantPath {
    type Error = SsfError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, SsfError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = context(&req)?;
            let slug = req.match_info().get("slug").unwrap_or_default().to_owned();
            let tenant = ctx
                .store
                .tenants()
                .find_by_slug(&slug)
                .await?
                .ok_or(SsfError::NotFound)?;
            Ok(TenantPath(tenant))
        })
    }
}

/// A receiver of the path's tenant, authenticated by its bearer access token.
pub struct Receiver {
    pub tenant: Tenant,
    pub receiver_id: ReceiverId,
    pub claims: TokenClaims,
}

impl Receiver {
    /// 403 unless the token carries `scope` (or `ssf.manage`, which implies every
    /// management scope).
    pub fn require(&self, scope: &'static str) -> Result<(), SsfError> {
        if self.claims.has_scope(scope)
            || (scope == SCOPE_READ && self.claims.has_scope(SCOPE_MANAGE))
        {
            Ok(())
        } else {
            Err(SsfError::InsufficientScope(scope))
        }
    }
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
            let slug = req.match_info().get("slug").unwrap_or_default();
            let who = authenticate_receiver(&ctx, slug, token)
                .await
                .map_err(|e| match e {
                    ReceiverAuthError::Unauthorized(why) => SsfError::Unauthorized(why),
                    ReceiverAuthError::Store(e) => e.into(),
                })?;
            Ok(Receiver {
                tenant: who.tenant,
                receiver_id: who.receiver_id,
                claims: who.claims,
            })
        })
    }
}
