//! `GET /api/v1/tenant`: the caller's tenant.

use actix_web::{HttpRequest, get, web::Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sethub_app::admin;
use sethub_http::ApiError;
use utoipa::ToSchema;

use crate::api::auth::AdminKey;
use crate::api::body::context;

/// The tenant the API key belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    #[schema(example = "tnt_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f")]
    pub tenant_id: String,
    pub slug: String,
    pub name: String,
    /// The `iss` of the tenant's SETs.
    pub issuer: String,
    /// Its SSF transmitter metadata.
    pub metadata_url: String,
    pub created_at: DateTime<Utc>,
}

/// The caller's tenant.
#[utoipa::path(
    tag = "tenant",
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        (status = 401, description = "No valid API key", body = crate::api::Problem),
        (status = 403, description = "The key lacks the admin scope", body = crate::api::Problem),
    ),
    security(("api_key" = []))
)]
#[get("/tenant")]
pub async fn get_tenant(req: HttpRequest, caller: AdminKey) -> Result<Json<TenantView>, ApiError> {
    let ctx = context(&req)?;
    let t = admin::tenant_info(&ctx, caller.tenant).await?;
    Ok(Json(TenantView {
        tenant_id: t.tenant_id.to_string(),
        slug: t.slug,
        name: t.name,
        issuer: t.issuer,
        metadata_url: t.metadata_url,
        created_at: t.created_at,
    }))
}
