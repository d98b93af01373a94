//! The tenant named by the path (`/t/{slug}/…`) of the public SSF endpoints (metadata, JWKS).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use sethub_app::AppContext;
use sethub_app::ssf::SsfError;
use sethub_store::Tenant;

/// The tenant of `/t/{slug}/…`; 404 when no tenant has that slug, 400 when it holds a NUL.
pub struct TenantPath(pub Tenant);

impl FromRequest for TenantPath {
    type Error = SsfError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, SsfError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = req
                .app_data::<web::Data<AppContext>>()
                .cloned()
                .ok_or_else(|| SsfError::internal("AppContext is not registered"))?;
            if let Some(name) = sethub_http::nul::in_path(&req) {
                return Err(SsfError::bad(&name, sethub_http::nul::NUL_REFUSED));
            }
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
