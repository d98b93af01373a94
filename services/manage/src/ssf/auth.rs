//! Who is calling: the tenant named by the path (`/t/{slug}/…`) and, for the stream API, the
//! receiver behind the bearer access token. Both are extractors, so a handler that takes them
//! cannot run unauthenticated, and the token is checked before the body is read (401 first).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use sethub_app::AppContext;
use sethub_app::auth::{TokenClaims, TokenKeys};
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
            let keys = TokenKeys::new(&ctx.master_keys);
            let claims = keys
                .verify(token, chrono::Utc::now().timestamp())
                .map_err(|e| SsfError::Unauthorized(e.to_string()))?;
            let slug = req.match_info().get("slug").unwrap_or_default();
            let tenant = ctx
                .store
                .tenants()
                .find_by_slug(slug)
                .await?
                .filter(|t| t.id.to_string() == claims.tnt)
                // A token of another tenant is as good as no token here.
                .ok_or_else(|| {
                    SsfError::Unauthorized("the access token was not issued for this issuer".into())
                })?;
            let receiver_id: ReceiverId = claims
                .rcv
                .parse()
                .map_err(|_| SsfError::Unauthorized("the access token is malformed".into()))?;
            let receiver = match ctx
                .store
                .scope(tenant.id)
                .receivers()
                .get(receiver_id)
                .await
            {
                Ok(r) => r,
                Err(sethub_store::StoreError::NotFound) => {
                    return Err(SsfError::Unauthorized(
                        "the receiver no longer exists".into(),
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            if receiver.disabled_at.is_some() {
                return Err(SsfError::Unauthorized("the receiver is disabled".into()));
            }
            Ok(Receiver {
                tenant,
                receiver_id,
                claims,
            })
        })
    }
}
