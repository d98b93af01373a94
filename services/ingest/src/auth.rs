//! Who may publish: an API key with the `events:publish` scope, presented as
//! `Authorization: Bearer sh_…`, whose tenant is the one named by the path's `{slug}`.
//!
//! An extractor, so a handler that takes [`Publisher`] cannot run unauthenticated; it runs
//! before the body is read. A key of another tenant gets the same 401 as an unknown key, so a
//! wrong key never learns whether a slug exists.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use sethub_app::admin::{self, Scope};
use sethub_domain::TenantId;
use sethub_http::{ApiError, ErrorCode};
use sethub_store::StoreError;

use crate::context;

/// Said for every key that cannot publish to this tenant (unknown, revoked, malformed, or
/// another tenant's): the cases are not told apart.
const REFUSED: &str = "the API key is not valid for this tenant (unknown, revoked or malformed)";

/// The caller: a tenant's API key with the `events:publish` scope, for the path's tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publisher {
    pub tenant: TenantId,
}

/// The bearer token of the request (401 with the reason otherwise).
fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    sethub_http::bearer_token(req).map_err(|e| ApiError::unauthorized(e.to_string()))
}

impl FromRequest for Publisher {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = context(&req)?;
            let slug = req.match_info().get("slug").unwrap_or_default();
            let token = bearer(&req)?;
            let (tenant, key) = admin::authenticate_api_key(&ctx, token).await?;
            // The key names its tenant; the path must name the same one. Looking the key's
            // tenant up (not the slug's) costs the same whether or not the slug exists.
            match ctx.store.tenants().get(tenant).await {
                Ok(t) if t.slug == slug => {}
                Ok(_) | Err(StoreError::NotFound) => return Err(ApiError::unauthorized(REFUSED)),
                Err(e) => return Err(ApiError::unavailable(e)),
            }
            if !key
                .scopes
                .iter()
                .any(|s| s == Scope::EventsPublish.as_str())
            {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "this API key lacks the `events:publish` scope",
                ));
            }
            Ok(Publisher { tenant })
        })
    }
}
