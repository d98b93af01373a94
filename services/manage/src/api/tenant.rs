//! `GET /api/v1/tenant`: the caller's tenant; `PUT /api/v1/tenant/profile`: its
//! interoperability profile; `POST /api/v1/tenant/close` and `POST /api/v1/tenant/reopen`:
//! closing the organisation (`sethub_app::closing`).

use actix_web::{HttpRequest, get, post, put, web::Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sethub_app::admin;
use sethub_http::ApiError;
use utoipa::ToSchema;

use crate::api::auth::{AdminKey, AnyStateAdminKey};
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
    /// When the organisation was closed, or null while it is open. A closed organisation
    /// publishes nothing and its API only reads (and reopens).
    pub closed_at: Option<DateTime<Utc>>,
    /// When a closed organisation's data is deleted, or null while it is open.
    pub purge_after: Option<DateTime<Utc>>,
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
            closed_at: t.closed_at,
            purge_after: t.purge_after,
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
pub async fn get_tenant(
    req: HttpRequest,
    caller: AnyStateAdminKey,
) -> Result<Json<TenantView>, ApiError> {
    let ctx = context(&req)?;
    let t = admin::tenant_info(&ctx, caller.0.tenant).await?;
    Ok(Json(t.into()))
}

/// Closing the organisation: its slug, as a confirmation.
#[derive(Debug, ToSchema)]
pub struct CloseTenant {
    /// The tenant's slug, exactly: closing is not undone by mistake. Required.
    #[schema(example = "acme", min_length = 1, max_length = 64)]
    pub confirm: String,
}

impl FromFields for CloseTenant {
    fn from_fields(f: &mut Fields) -> Result<Self, ApiError> {
        Ok(Self {
            confirm: f.required("confirm")?,
        })
    }
}

/// The organisation after closing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClosedView {
    pub tenant: TenantView,
    /// Streams disabled by this request; each receiver was sent a stream-updated SET.
    pub streams_disabled: u64,
}

/// Closes the organisation: publishing is refused at once, every stream is disabled and its
/// receiver sent a stream-updated SET, and this API only reads (and reopens) until
/// `purge_after`, when everything the organisation holds is deleted. Repeating it on a
/// closed organisation keeps its `purge_after`.
#[utoipa::path(
    tag = "tenant",
    request_body = CloseTenant,
    responses(
        (status = 200, description = "The closed organisation", body = ClosedView),
        (status = 400, description = "Invalid body, or `confirm` is not the tenant's slug", body = crate::api::Problem),
        (status = 401, description = "No valid API key", body = crate::api::Problem),
        (status = 403, description = "The key lacks the admin scope", body = crate::api::Problem),
    ),
    security(("api_key" = []))
)]
#[post("/tenant/close")]
pub async fn close_tenant(
    req: HttpRequest,
    caller: AnyStateAdminKey,
    body: JsonBody<CloseTenant>,
) -> Result<Json<ClosedView>, ApiError> {
    let ctx = context(&req)?;
    let caller = caller.0;
    let t = admin::tenant_info(&ctx, caller.tenant).await?;
    if body.0.confirm != t.slug {
        return Err(ApiError::invalid(
            "confirm",
            "`confirm` must be this tenant's slug (see GET /api/v1/tenant), exactly",
        ));
    }
    let closed =
        sethub_app::closing::close(&ctx, caller.tenant, format!("api_key:{}", caller.key.id))
            .await?;
    let t = admin::tenant_info(&ctx, caller.tenant).await?;
    Ok(Json(ClosedView {
        tenant: t.into(),
        streams_disabled: closed.streams_disabled as u64,
    }))
}

/// Reopens a closed organisation before its `purge_after`: its streams that closing disabled
/// are enabled again (each receiver is sent a stream-updated SET) and it may publish. An open
/// organisation is returned as it is.
#[utoipa::path(
    tag = "tenant",
    responses(
        (status = 200, description = "The open organisation", body = TenantView),
        (status = 401, description = "No valid API key", body = crate::api::Problem),
        (status = 403, description = "The key lacks the admin scope, or the grace period is over", body = crate::api::Problem),
    ),
    security(("api_key" = []))
)]
#[post("/tenant/reopen")]
pub async fn reopen_tenant(
    req: HttpRequest,
    caller: AnyStateAdminKey,
) -> Result<Json<TenantView>, ApiError> {
    let ctx = context(&req)?;
    let caller = caller.0;
    sethub_app::closing::reopen(&ctx, caller.tenant, format!("api_key:{}", caller.key.id)).await?;
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
