//! `/api/v1/receivers`: the organisations that hold client credentials for the tenant's
//! streams. The client secret is shown once, on creation.

use actix_web::http::StatusCode;
use actix_web::{
    HttpRequest, HttpResponse, get, post,
    web::{Json, Path},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sethub_app::admin::{self, DisplayName};
use sethub_domain::ReceiverId;
use sethub_http::ApiError;
use sethub_store::Receiver;
use utoipa::ToSchema;

use crate::api::auth::AdminKey;
use crate::api::body::{FromFields, JsonBody, context};
use crate::api::{Problem, no_store};

/// A receiver (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiverView {
    #[schema(example = "rcv_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f")]
    pub receiver_id: String,
    pub name: String,
    pub client_id: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<Receiver> for ReceiverView {
    fn from(r: Receiver) -> Self {
        Self {
            receiver_id: r.id.to_string(),
            name: r.name,
            client_id: r.client_id,
            created_at: r.created_at,
            disabled_at: r.disabled_at,
        }
    }
}

/// A new receiver with its client credentials; `client_secret` is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedReceiverView {
    pub receiver_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub token_endpoint: String,
}

/// Creates a receiver.
#[derive(Debug, ToSchema)]
pub struct CreateReceiver {
    /// 1–200 characters.
    #[schema(value_type = String, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Example SIEM")]
    pub name: DisplayName,
}

impl FromFields for CreateReceiver {
    fn from_fields(f: &mut crate::api::body::Fields) -> Result<Self, ApiError> {
        let name: String = f.required("name")?;
        Ok(Self {
            name: name
                .parse()
                .map_err(|e: String| ApiError::invalid("name", e))?,
        })
    }
}

/// Creates a receiver with client credentials for the tenant's token endpoint.
#[utoipa::path(
    tag = "receivers",
    request_body = CreateReceiver,
    responses(
        (status = 201, description = "Created; the secret is shown only now", body = CreatedReceiverView),
        (status = 400, description = "Invalid body", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope, or the tenant has as many receivers as its `receivers_per_tenant` quota allows (code `quota_exceeded`, `field` the quota)", body = Problem),
        (status = 413, description = "Body over 64 KiB", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/receivers")]
pub async fn create_receiver(
    req: HttpRequest,
    caller: AdminKey,
    body: JsonBody<CreateReceiver>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let r = admin::create_receiver(&ctx, caller.tenant, &body.0.name).await?;
    Ok(no_store(StatusCode::CREATED).json(CreatedReceiverView {
        receiver_id: r.receiver_id.to_string(),
        client_id: r.client_id,
        client_secret: r.client_secret,
        token_endpoint: r.token_endpoint,
    }))
}

/// The tenant's receivers, oldest first.
#[utoipa::path(
    tag = "receivers",
    responses(
        (status = 200, description = "The receivers", body = [ReceiverView]),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/receivers")]
pub async fn list_receivers(
    req: HttpRequest,
    caller: AdminKey,
) -> Result<Json<Vec<ReceiverView>>, ApiError> {
    let ctx = context(&req)?;
    let list = admin::list_receivers(&ctx, caller.tenant).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// One receiver of the tenant.
#[utoipa::path(
    tag = "receivers",
    params(("id" = String, Path, description = "Receiver id (`rcv_…`)")),
    responses(
        (status = 200, description = "The receiver", body = ReceiverView),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such receiver in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/receivers/{id}")]
pub async fn get_receiver(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<Json<ReceiverView>, ApiError> {
    let ctx = context(&req)?;
    let id: ReceiverId = id
        .parse()
        .map_err(|_| ApiError::not_found("no receiver with this id"))?;
    Ok(Json(
        admin::get_receiver(&ctx, caller.tenant, id).await?.into(),
    ))
}
