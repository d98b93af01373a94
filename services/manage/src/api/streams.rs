//! `/api/v1/streams` and `/api/v1/deliveries`: the tenant's view of its receivers' streams
//! and of what was delivered on them. A tenant can pause, enable or disable a stream (the
//! receiver is told with a stream-updated SET, SSF §6), delete it (audited), list a stream's
//! deliveries (for example the dead-lettered ones) and read the delivery log.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{
    HttpRequest, HttpResponse, delete, get, post,
    web::{Json, Path},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sethub_app::ssf::SsfError;
use sethub_domain::{DeliveryId, StreamId, StreamStatus};
use sethub_http::ApiError;
use sethub_store::{Attempt, Delivery, DeliveryState, StoreError, Stream};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::AdminKey;
use crate::api::body::{Fields, FromFields, JsonBody, context, query};
use crate::api::recovery::actor;
use crate::api::{Problem, no_store};

/// The most rows one list call returns, and the default.
const MAX_LIMIT: u64 = 500;
const DEFAULT_LIMIT: u64 = 100;

pub(crate) fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("not found"),
        e @ StoreError::Database(_) => ApiError::unavailable(e),
        other => ApiError::internal(other),
    }
}

/// A stream operation's refusal, as the tenant API answers it.
pub(crate) fn ssf_error(e: SsfError) -> ApiError {
    match e {
        SsfError::NotFound => ApiError::not_found("not found"),
        SsfError::Unavailable(why) => ApiError::unavailable(why),
        other => ApiError::internal(other),
    }
}

pub(crate) fn parse_stream(raw: &str) -> Result<StreamId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no stream with this id"))
}

/// A stream as the tenant sees it (never its authorization header).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamView {
    #[schema(example = "str_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f")]
    pub stream_id: String,
    pub receiver_id: String,
    pub aud: Vec<String>,
    /// `push` or `poll`.
    pub delivery_method: String,
    pub endpoint_url: Option<String>,
    pub events_delivered: Vec<String>,
    pub description: Option<String>,
    /// `enabled`, `paused` or `disabled`.
    pub status: String,
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The stream's own delivery settings (`retry`, `max_rate_per_second`), if any.
    #[schema(value_type = Option<Object>)]
    pub delivery_settings: Option<serde_json::Value>,
    /// How many deliveries are in each state (only on the single-stream read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<BTreeMap<String, u64>>,
}

impl From<Stream> for StreamView {
    fn from(s: Stream) -> Self {
        Self {
            stream_id: s.id.to_string(),
            receiver_id: s.receiver_id.to_string(),
            aud: s.aud,
            delivery_method: s.delivery_method.as_str().to_owned(),
            endpoint_url: s.endpoint_url,
            events_delivered: s.events_delivered,
            description: s.description,
            status: s.status.as_str().to_owned(),
            status_reason: s.status_reason,
            created_at: s.created_at,
            updated_at: s.updated_at,
            delivery_settings: s.delivery_settings,
            deliveries: None,
        }
    }
}

/// One SET owed to, or delivered on, a stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    #[schema(example = "dlv_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f")]
    pub delivery_id: String,
    pub stream_id: String,
    /// The event (`txn` of the SET); absent for verification and stream-updated SETs.
    pub event_id: Option<String>,
    /// `event`, `verification` or `stream_updated`.
    pub kind: String,
    pub jti: String,
    /// `pending`, `held`, `queued`, `delivered`, `dead` or `dropped`.
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The SET as signed (only on the single-delivery read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// Every attempt, oldest first (only on the single-delivery read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptView>>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            delivery_id: d.id.to_string(),
            stream_id: d.stream_id.to_string(),
            event_id: d.event_id.map(|e| e.to_string()),
            kind: d.kind.as_str().to_owned(),
            jti: d.jti,
            state: d.state.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            set: None,
            attempt_log: None,
        }
    }
}

/// One push attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub delivery_id: String,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    pub latency_ms: u32,
    /// `delivered`, `retry`, `dead`, `resign` or `disabled`.
    pub outcome: String,
    pub error: Option<String>,
    /// The first bytes of the receiver's answer.
    pub response_excerpt: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            delivery_id: a.delivery_id.to_string(),
            attempted_at: a.attempted_at,
            status: a.status,
            latency_ms: a.latency_ms,
            outcome: a.outcome,
            error: a.error,
            response_excerpt: a.response_excerpt,
        }
    }
}

/// The tenant's streams, oldest first.
#[utoipa::path(
    tag = "streams",
    responses(
        (status = 200, description = "The streams", body = [StreamView]),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/streams")]
pub async fn list_streams(
    req: HttpRequest,
    caller: AdminKey,
) -> Result<Json<Vec<StreamView>>, ApiError> {
    let ctx = context(&req)?;
    let list = ctx
        .store
        .scope(caller.tenant)
        .streams()
        .list()
        .await
        .map_err(store_error)?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// One stream, with its deliveries counted by state.
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "Stream id (`str_…`)")),
    responses(
        (status = 200, description = "The stream", body = StreamView),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such stream in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/streams/{id}")]
pub async fn get_stream(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    let ctx = context(&req)?;
    let id = parse_stream(&id)?;
    let scope = ctx.store.scope(caller.tenant);
    let stream = scope.streams().get(id).await.map_err(store_error)?;
    let counts = scope
        .deliveries()
        .count_by_state(id)
        .await
        .map_err(store_error)?;
    let mut view = StreamView::from(stream);
    view.deliveries = Some(
        counts
            .into_iter()
            .map(|(s, n)| (s.as_str().to_owned(), n))
            .collect(),
    );
    Ok(Json(view))
}

/// Deletes a stream as the tenant: the stream, its subjects and its delivery log are deleted
/// and nothing more is sent on it. Its receiver is not told (to tell it, disable the stream
/// first). Recorded in the audit log (`stream.delete`).
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "Stream id (`str_…`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such stream in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[delete("/streams/{id}")]
pub async fn delete_stream(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let id = parse_stream(&id)?;
    sethub_app::ssf::control::delete_as_tenant(&ctx, caller.tenant, id, actor(&caller))
        .await
        .map_err(ssf_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// A status change made by the tenant.
#[derive(Debug, ToSchema)]
pub struct StatusChange {
    /// `enabled`, `paused` or `disabled`.
    #[schema(value_type = String, example = "paused", pattern = "^(enabled|paused|disabled)$")]
    pub status: StreamStatus,
    /// Why, told to the receiver in the stream-updated SET (at most 500 characters).
    #[schema(value_type = Option<String>)]
    pub reason: Option<String>,
}

impl FromFields for StatusChange {
    fn from_fields(f: &mut Fields) -> Result<Self, ApiError> {
        let status: String = f.required("status")?;
        let status = status
            .parse()
            .map_err(|_| ApiError::invalid("status", "must be one of enabled, paused, disabled"))?;
        let reason: Option<String> = f.optional("reason")?;
        if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
            return Err(ApiError::invalid(
                "reason",
                "must be at most 500 characters",
            ));
        }
        Ok(Self { status, reason })
    }
}

/// Changes a stream's status as the tenant. The receiver gets a stream-updated SET with the
/// new status and the reason (SSF §6: a transmitter-initiated change is announced); held SETs
/// of a stream that is enabled again are delivered.
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "Stream id (`str_…`)")),
    request_body = StatusChange,
    responses(
        (status = 200, description = "The stream after the change", body = StreamView),
        (status = 400, description = "Invalid body", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such stream in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/streams/{id}/status")]
pub async fn set_stream_status(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
    body: JsonBody<StatusChange>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let id = parse_stream(&id)?;
    let change = body.0;
    let after = sethub_app::ssf::control::set_status_as_tenant(
        &ctx,
        caller.tenant,
        id,
        change.status,
        change.reason,
    )
    .await
    .map_err(ssf_error)?;
    Ok(no_store(StatusCode::OK).json(StreamView::from(after)))
}

/// Paging and filtering of a delivery list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this state: `pending`, `held`, `queued`, `delivered`, `dead`,
    /// `dropped`.
    #[param(pattern = "^(pending|held|queued|delivered|dead|dropped)$")]
    pub state: Option<String>,
    /// Only deliveries older than this one (`dlv_…`): the next page.
    #[param(pattern = "^dlv_[0-9a-fA-F]{32}$")]
    pub before: Option<String>,
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

pub(crate) fn limit(raw: Option<u64>) -> Result<u64, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// A stream's deliveries, newest first.
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "Stream id (`str_…`)"), DeliveryQuery),
    responses(
        (status = 200, description = "The deliveries, newest first", body = [DeliveryView]),
        (status = 400, description = "Invalid query", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such stream in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/streams/{id}/deliveries")]
pub async fn list_deliveries(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    let ctx = context(&req)?;
    let id = parse_stream(&id)?;
    let q: DeliveryQuery = query(&req)?;
    let state = q
        .state
        .as_deref()
        .map(str::parse::<DeliveryState>)
        .transpose()
        .map_err(|e| ApiError::invalid("state", e))?;
    let before = q
        .before
        .as_deref()
        .map(str::parse::<DeliveryId>)
        .transpose()
        .map_err(|_| ApiError::invalid("before", "must be a delivery id (dlv_…)"))?;
    let scope = ctx.store.scope(caller.tenant);
    scope.streams().get(id).await.map_err(store_error)?;
    let list = scope
        .deliveries()
        .list_for_stream(id, state, before, limit(q.limit)?)
        .await
        .map_err(store_error)?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptQuery {
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// A stream's delivery log: the latest push attempts, newest first.
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "Stream id (`str_…`)"), AttemptQuery),
    responses(
        (status = 200, description = "The attempts, newest first", body = [AttemptView]),
        (status = 400, description = "Invalid query", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such stream in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/streams/{id}/attempts")]
pub async fn list_attempts(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<Json<Vec<AttemptView>>, ApiError> {
    let ctx = context(&req)?;
    let id = parse_stream(&id)?;
    let q: AttemptQuery = query(&req)?;
    let scope = ctx.store.scope(caller.tenant);
    scope.streams().get(id).await.map_err(store_error)?;
    let list = scope
        .deliveries()
        .attempts_for_stream(id, limit(q.limit)?)
        .await
        .map_err(store_error)?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// One delivery with its SET and every attempt.
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "Delivery id (`dlv_…`)")),
    responses(
        (status = 200, description = "The delivery", body = DeliveryView),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such delivery in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/deliveries/{id}")]
pub async fn get_delivery(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    let ctx = context(&req)?;
    let id: DeliveryId = id
        .parse()
        .map_err(|_| ApiError::not_found("no delivery with this id"))?;
    let deliveries = ctx.store.scope(caller.tenant).deliveries();
    let d = deliveries.get(id).await.map_err(store_error)?;
    let attempts = deliveries
        .attempts_for_delivery(id)
        .await
        .map_err(store_error)?;
    let token = d.set_token.clone();
    let mut view = DeliveryView::from(d);
    view.set = Some(token);
    view.attempt_log = Some(attempts.into_iter().map(Into::into).collect());
    Ok(Json(view))
}
