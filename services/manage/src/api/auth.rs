//! Who calls the REST API: an API key of a tenant with the `admin` scope, presented as
//! `Authorization: Bearer sh_…`. An extractor, so a handler that takes [`AdminKey`] cannot run
//! unauthenticated; it runs before the body is read (401/403 come first).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use sethub_app::admin::{self, Scope};
use sethub_domain::TenantId;
use sethub_http::{ApiError, ErrorCode};
use sethub_store::ApiKey;

use crate::api::body::context;

/// The caller: its tenant and the API key it presented (which has the `admin` scope).
#[derive(Debug, Clone)]
pub struct AdminKey {
    pub tenant: TenantId,
    pub key: ApiKey,
}

/// The bearer token of the request (401 with the reason otherwise).
fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    sethub_http::bearer_token(req)
        .map(str::to_owned)
        .map_err(|e| ApiError::unauthorized(e.to_string()))
}

/// An [`AdminKey`] whatever the state of its organisation: for reading the tenant and for
/// closing and reopening it. A plain [`AdminKey`] of a closed organisation may only read.
#[derive(Debug, Clone)]
pub struct AnyStateAdminKey(pub AdminKey);

/// The caller's admin key, and whether its organisation is closed.
async fn authenticate(req: &HttpRequest) -> Result<(AdminKey, Option<String>), ApiError> {
    let ctx = context(req)?;
    let token = bearer(req)?;
    let (tenant, key) = admin::authenticate_api_key(&ctx, &token).await?;
    if !key.scopes.iter().any(|s| s == Scope::Admin.as_str()) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this API key lacks the `admin` scope",
        ));
    }
    let t = ctx
        .store
        .tenants()
        .get(tenant)
        .await
        .map_err(ApiError::unavailable)?;
    let closed = t.closed_at.map(|_| t.slug);
    Ok((AdminKey { tenant, key }, closed))
}

impl FromRequest for AdminKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (caller, closed) = authenticate(&req).await?;
            match closed {
                Some(slug) if !req.method().is_safe() => {
                    Err(sethub_app::closing::ClosingError::Closed(slug).into())
                }
                _ => Ok(caller),
            }
        })
    }
}

impl FromRequest for AnyStateAdminKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(Self(authenticate(&req).await?.0)) })
    }
}
