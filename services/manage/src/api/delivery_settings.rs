//! Delivery settings: the tenant's retry schedule (`/api/v1/tenant/delivery-settings`) and,
//! per stream, a retry schedule and a delivery rate limit for receivers that ask for one
//! (`/api/v1/streams/{id}/delivery-settings`). A stream's settings win over the tenant's,
//! which win over the operator's configuration. Fan-out applies a change to the SETs it
//! pushes from then on (retries already scheduled keep their time).

use actix_web::http::StatusCode;
use actix_web::{
    HttpRequest, HttpResponse, get, put,
    web::{Json, Path},
};
use serde::Serialize;
use sethub_domain::delivery::{DeliverySettings, RetryPolicy};
use sethub_http::ApiError;
use utoipa::ToSchema;

use crate::api::auth::AdminKey;
use crate::api::body::{Fields, FromFields, JsonBody, context};
use crate::api::streams::{StreamView, parse_stream, store_error};
use crate::api::{Problem, no_store};

/// A retry schedule: attempt n waits `initial_secs * factor^(n-1)`, capped at
/// `max_delay_secs`, jittered by ±`jitter`; given up `max_age_secs` after the first attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetryPolicyDoc {
    /// 0.1 to 2592000 (30 days).
    #[schema(example = 5.0, minimum = 0.1, maximum = 2592000)]
    pub initial_secs: f64,
    /// 1 to 10.
    #[schema(example = 3.0, minimum = 1, maximum = 10)]
    pub factor: f64,
    /// 0.1 to 2592000 (30 days). It caps every delay, the first included.
    #[schema(example = 28800.0, minimum = 0.1, maximum = 2592000)]
    pub max_delay_secs: f64,
    /// 1 to 2592000 (30 days).
    #[schema(example = 259200.0, minimum = 1, maximum = 2592000)]
    pub max_age_secs: f64,
    /// 0 to 0.5.
    #[schema(example = 0.2, minimum = 0, maximum = 0.5)]
    pub jitter: f64,
}

/// A tenant's delivery settings: its retry schedule (a rate limit is set per stream).
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantDeliverySettingsDoc {
    pub retry: Option<RetryPolicyDoc>,
}

/// Delivery settings; an absent member falls back (stream → tenant → configuration).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliverySettingsDoc {
    pub retry: Option<RetryPolicyDoc>,
    /// Pushes per second at most (streams only), 0.1 to 100000.
    #[schema(minimum = 0.1, maximum = 100000)]
    pub max_rate_per_second: Option<f64>,
}

/// The settings as sent: `{"retry"?, "max_rate_per_second"?}`, each checked by name.
pub struct SettingsBody(pub DeliverySettings);

impl FromFields for SettingsBody {
    const BODY_REQUIRED: bool = true;

    fn from_fields(f: &mut Fields) -> Result<Self, ApiError> {
        let settings = DeliverySettings {
            retry: f.optional::<RetryPolicy>("retry")?,
            max_rate_per_second: f.optional("max_rate_per_second")?,
        };
        settings
            .validate()
            .map_err(|(field, why)| ApiError::invalid(field.clone(), format!("`{field}` {why}")))?;
        Ok(Self(settings))
    }
}

/// The tenant's delivery settings (`{}` when none are set).
#[utoipa::path(
    tag = "delivery settings",
    responses(
        (status = 200, description = "The settings", body = TenantDeliverySettingsDoc),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/tenant/delivery-settings")]
pub async fn get_tenant_settings(
    req: HttpRequest,
    caller: AdminKey,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ctx = context(&req)?;
    let t = ctx
        .store
        .tenants()
        .get(caller.tenant)
        .await
        .map_err(store_error)?;
    Ok(Json(
        t.delivery_settings.unwrap_or_else(|| serde_json::json!({})),
    ))
}

/// Replaces the tenant's delivery settings (`{}` clears them; an empty body is a 400). The
/// rate limit is per stream only.
#[utoipa::path(
    tag = "delivery settings",
    request_body = TenantDeliverySettingsDoc,
    responses(
        (status = 200, description = "The settings now", body = TenantDeliverySettingsDoc),
        (status = 400, description = "Invalid body (the problem names the member)", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
    ),
    security(("api_key" = []))
)]
#[put("/tenant/delivery-settings")]
pub async fn put_tenant_settings(
    req: HttpRequest,
    caller: AdminKey,
    body: JsonBody<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let settings = body.0.0;
    if settings.max_rate_per_second.is_some() {
        return Err(ApiError::invalid(
            "max_rate_per_second",
            "a delivery rate limit is set per stream (/api/v1/streams/{id}/delivery-settings)",
        ));
    }
    let t = ctx
        .store
        .tenants()
        .set_delivery_settings(caller.tenant, settings.stored())
        .await
        .map_err(store_error)?;
    Ok(no_store(StatusCode::OK).json(t.delivery_settings.unwrap_or_else(|| serde_json::json!({}))))
}

/// Replaces one stream's delivery settings (`{}` clears them; an empty body is a 400).
#[utoipa::path(
    tag = "delivery settings",
    params(("id" = String, Path, description = "Stream id (`str_…`)")),
    request_body = DeliverySettingsDoc,
    responses(
        (status = 200, description = "The stream with its settings", body = StreamView),
        (status = 400, description = "Invalid body (the problem names the member)", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such stream in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[put("/streams/{id}/delivery-settings")]
pub async fn put_stream_settings(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
    body: JsonBody<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let id = parse_stream(&id)?;
    let stream = ctx
        .store
        .scope(caller.tenant)
        .streams()
        .set_delivery_settings(id, body.0.0.stored())
        .await
        .map_err(store_error)?;
    Ok(no_store(StatusCode::OK).json(StreamView::from(stream)))
}
