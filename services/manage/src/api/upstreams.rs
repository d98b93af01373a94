//! `/api/v1/upstream-transmitters`: the SET transmitters a tenant accepts SETs from at
//! `POST /t/{slug}/sets` (ingest). Each names its issuer (`iss`), the audience its SETs must
//! name (`aud`), and its keys: a JWKS URL (fetched by ingest, cached, refetched on an unknown
//! `kid` at most once per interval) or an inline JWKS. Registering and removing one is
//! recorded in the audit log.

use actix_web::http::StatusCode;
use actix_web::{
    HttpRequest, HttpResponse, delete, get, post,
    web::{Json, Path},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sethub_app::upstreams::{self, NewTransmitter};
use sethub_domain::UpstreamId;
use sethub_http::ApiError;
use sethub_store::Upstream;
use utoipa::ToSchema;

use crate::api::auth::AdminKey;
use crate::api::body::{Fields, FromFields, JsonBody, context};
use crate::api::recovery::actor;
use crate::api::streams::store_error;
use crate::api::{Problem, no_store};

/// A transmitter to register (the body's documentation; [`UpstreamBody`] reads it).
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documents the body; UpstreamBody reads it")]
pub struct UpstreamRequest {
    /// The `iss` of its SETs (unique in the tenant).
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$"
    )]
    pub issuer: String,
    /// A value its SETs' `aud` must contain.
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$"
    )]
    pub audience: String,
    /// Where its JWKS is published (`https://`; plain HTTP and private addresses only where
    /// the operator allows them for push endpoints).
    #[schema(format = Uri, max_length = 2048)]
    pub jwks_url: Option<String>,
    /// Its JWKS inline (`{"keys": [...]}`), instead of a URL.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
}

/// A registration body, checked by the service's own rules.
pub struct UpstreamBody(NewTransmitter);

impl FromFields for UpstreamBody {
    fn from_fields(f: &mut Fields) -> Result<Self, ApiError> {
        let issuer: String = f.required("issuer")?;
        let audience: String = f.required("audience")?;
        let jwks_url: Option<String> = f.optional("jwks_url")?;
        let jwks: Option<Value> = f.optional("jwks")?;
        Ok(Self(NewTransmitter::new(
            &issuer, &audience, jwks_url, jwks,
        )?))
    }
}

/// A registered transmitter.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamView {
    #[schema(example = "ups_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f")]
    pub upstream_id: String,
    pub issuer: String,
    pub audience: String,
    pub jwks_url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    pub created_at: DateTime<Utc>,
    /// Set when sethub subscribed to this transmitter as an SSF receiver (`sethub upstream
    /// subscribe`); null for a transmitter registered only to push SETs in.
    pub subscription: Option<SubscriptionView>,
}

/// A subscription to an upstream SSF transmitter and how it fares.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// `push` or `poll`.
    pub delivery: String,
    /// The stream the transmitter made for sethub.
    pub stream_id: String,
    /// The stream's state as last known: `enabled`, `paused`, `disabled`.
    pub state: String,
    /// When the last event SET from it was received.
    pub last_set_at: Option<DateTime<Utc>>,
    /// When the last verification SET asked for arrived.
    pub last_verification_at: Option<DateTime<Utc>>,
    /// The last error talking to it (cleared when its stream is made again).
    pub last_error: Option<String>,
}

impl From<Upstream> for UpstreamView {
    fn from(u: Upstream) -> Self {
        let status = u.status.unwrap_or_default();
        Self {
            upstream_id: u.id.to_string(),
            issuer: u.issuer,
            audience: u.audience,
            jwks_url: u.jwks_url,
            jwks: u.jwks,
            created_at: u.created_at,
            subscription: u.subscription.map(|s| SubscriptionView {
                delivery: s.delivery,
                stream_id: s.stream_id,
                state: status.state,
                last_set_at: status.last_set_at,
                last_verification_at: status.last_verification_at,
                last_error: status.last_error,
            }),
        }
    }
}

fn parse_id(raw: &str) -> Result<UpstreamId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no upstream transmitter with this id"))
}

/// Registers an upstream transmitter.
#[utoipa::path(
    tag = "upstream",
    request_body = UpstreamRequest,
    responses(
        (status = 201, description = "Registered", body = UpstreamView),
        (status = 400, description = "Invalid body", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 409, description = "The issuer is registered already", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/upstream-transmitters")]
pub async fn create_upstream(
    req: HttpRequest,
    caller: AdminKey,
    body: JsonBody<UpstreamBody>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let up = upstreams::register(&ctx, caller.tenant, body.0.0, actor(&caller)).await?;
    Ok(no_store(StatusCode::CREATED).json(UpstreamView::from(up)))
}

/// The tenant's upstream transmitters, oldest first.
#[utoipa::path(
    tag = "upstream",
    responses(
        (status = 200, description = "The transmitters", body = [UpstreamView]),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/upstream-transmitters")]
pub async fn list_upstreams(
    req: HttpRequest,
    caller: AdminKey,
) -> Result<Json<Vec<UpstreamView>>, ApiError> {
    let ctx = context(&req)?;
    let list = ctx
        .store
        .scope(caller.tenant)
        .upstreams()
        .list()
        .await
        .map_err(store_error)?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Removes an upstream transmitter: its SETs are refused from now on.
#[utoipa::path(
    tag = "upstream",
    params(("id" = String, Path, description = "Upstream transmitter id (`ups_…`)")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such transmitter in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[delete("/upstream-transmitters/{id}")]
pub async fn delete_upstream(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let id = parse_id(&id)?;
    upstreams::remove(&ctx, caller.tenant, id, actor(&caller)).await?;
    Ok(no_store(StatusCode::NO_CONTENT).finish())
}
