//! `GET /api/v1/tenant`: the caller's tenant; `PUT /api/v1/tenant/profile`: its
//! interoperability profile.

use actix_web::{HttpRequest, get, put, web::Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sethub_app::admin;
use sethub_http::ApiError;
use utoipa::ToSchema;

use crate::api::auth::AdminKey;
use crate::api::body::{Fields, FromFields, JsonBody, context};
use sethub_domain::Profile;

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
    /// The interoperability profile switched on (`caep-interop`), or null.
    #[schema(example = "caep-interop")]
    pub profile: Option<String>,
}

impl From<admin::TenantInfo> for TenantView {
    fn from(t: admin::TenantInfo) -> Self {
        Self {
            tenant_id: t.tenant_id.to_string(),
            slug: t.slug,
            name: t.name,
            issuer: t.issuer,
            metadata_url: t.metadata_url,
            created_at: t.created_at,
            profile: t.profile.map(|p| p.as_str().to_owned()),
        }
    }
}

/// Switches the interoperability profile.
#[derive(Debug, ToSchema)]
pub struct SetProfile {
    /// `caep-interop`, or null for none. Required.
    #[schema(
        value_type = Option<String>,
        example = "caep-interop",
        required = true,
        pattern = "^caep-interop$"
    )]
    pub profile: Option<Profile>,
}

impl FromFields for SetProfile {
    fn from_fields(f: &mut Fields) -> Result<Self, ApiError> {
        if !f.has("profile") {
            return Err(ApiError::invalid(
                "profile",
                "`profile` is required (null for none)",
            ));
        }
        let name: Option<String> = f.optional("profile")?;
        let profile = match name {
            None => None,
            Some(n) => Some(Profile::from_name(&n).ok_or_else(|| {
                ApiError::invalid(
                    "profile",
                    format!("unknown profile `{n}` (known: caep-interop)"),
                )
            })?),
        };
        Ok(Self { profile })
    }
}

/// The tenant after a profile change, and the rotation it caused, if any.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub tenant: TenantView,
    /// Switching the CAEP profile on while signing with another algorithm rotates at once to
    /// an RS256 key: the kid that signs now. Null if no rotation happened.
    pub rotated_to_kid: Option<String>,
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
    Ok(Json(t.into()))
}

/// Switches the tenant's interoperability profile on (`caep-interop`) or off (null). The
/// CAEP profile signs RS256: a tenant on another algorithm is rotated at once to an RS256-2048
/// key, the old key staying in the JWKS through the overlap.
#[utoipa::path(
    tag = "tenant",
    request_body = SetProfile,
    responses(
        (status = 200, description = "The tenant with its profile", body = ProfileView),
        (status = 400, description = "Invalid body", body = crate::api::Problem),
        (status = 401, description = "No valid API key", body = crate::api::Problem),
        (status = 403, description = "The key lacks the admin scope", body = crate::api::Problem),
    ),
    security(("api_key" = []))
)]
#[put("/tenant/profile")]
pub async fn put_profile(
    req: HttpRequest,
    caller: AdminKey,
    body: JsonBody<SetProfile>,
) -> Result<Json<ProfileView>, ApiError> {
    let ctx = context(&req)?;
    let (t, rotation) = admin::set_profile(&ctx, caller.tenant, body.0.profile).await?;
    Ok(Json(ProfileView {
        tenant: t.into(),
        rotated_to_kid: rotation.and_then(|r| r.active_kid),
    }))
}
