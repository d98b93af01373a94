//! Dead letters and replay, with the audit log that records who asked for each.
//!
//! - `POST /api/v1/streams/{id}/redrive`: dead deliveries go back (same SET, same `jti`) to
//!   `pending` (push) or `queued` (poll) with a fresh retry schedule.
//! - `POST /api/v1/streams/{id}/replay`: stored events of a time range or an event-id range are
//!   made into new SETs for the stream (re-signed, new `jti`, same `txn`), as a new generation
//!   of deliveries beside the first ones. The stream's event types and removed subjects apply,
//!   as at fan-out; a paused stream holds them, a disabled one refuses the replay (409).
//! - `GET /api/v1/audit-log`: who redrove or replayed what, and when.
//!
//! The change and its audit entry are one transaction. Fan-out is then told (a
//! `deliveries_redriven` control message) to push what is due; poll streams' long polls are
//! woken.

use actix_web::http::StatusCode;
use actix_web::{
    HttpRequest, HttpResponse, get, post,
    web::{Json, Path},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sethub_app::AppContext;
use sethub_app::recovery::{RecoveryError, Redrive, more_to_redrive};
use sethub_domain::subject::{ParseMode, Subject};
use sethub_domain::{AuditId, DeliveryId, DeliveryMethod, EventId, StreamStatus, TenantId};
use sethub_http::{ApiError, ErrorCode};
use sethub_store::{AuditEntry, DeliveryKind, DeliveryState, NewAuditEntry, NewDelivery, Stream};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::AdminKey;
use crate::api::body::{Fields, FromFields, JsonBody, context, query};
use crate::api::streams::{limit, parse_stream, store_error};
use crate::api::{Problem, no_store};

/// The most events one replay request makes SETs of.
pub const MAX_REPLAY: u64 = 10_000;

/// Who the audit log names for an API key.
pub(crate) fn actor(caller: &AdminKey) -> String {
    format!("api_key:{}", caller.key.id)
}

/// Tells fan-out that deliveries of the stream are due, or wakes its long polls.
pub(crate) async fn announce(
    ctx: &AppContext,
    tenant: TenantId,
    stream: &Stream,
) -> Result<(), ApiError> {
    sethub_app::recovery::announce(ctx, tenant, stream)
        .await
        .map_err(recovery_error)
}

/// A redrive's refusal, as the tenant API answers it.
fn recovery_error(e: RecoveryError) -> ApiError {
    match e {
        e if e.is_not_found() => ApiError::not_found("not found"),
        RecoveryError::Store(e) => store_error(e),
        e @ (RecoveryError::Bus(_) | RecoveryError::NotFound) => ApiError::unavailable(e),
    }
}

/// Which dead deliveries to redrive: all of the stream's, or those listed, or those made in
/// a time range (the filters combine).
#[derive(Debug, ToSchema)]
pub struct RedriveRequest {
    /// Delivery ids (`dlv_…`), at most 1000.
    #[schema(value_type = Option<Vec<String>>)]
    pub delivery_ids: Option<Vec<DeliveryId>>,
    /// Only deliveries made at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only deliveries made before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// An optional `[from, to)` time range; `to` at or before `from` makes it empty (nothing
/// matches), as a range the schema can describe.
type TimeRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn time_range(f: &mut Fields) -> Result<TimeRange, ApiError> {
    let from: Option<DateTime<Utc>> = f.optional("from")?;
    let to: Option<DateTime<Utc>> = f.optional("to")?;
    Ok((from, to))
}

impl FromFields for RedriveRequest {
    fn from_fields(f: &mut Fields) -> Result<Self, ApiError> {
        let ids: Option<Vec<String>> = f.optional("delivery_ids")?;
        let delivery_ids = match ids {
            None => None,
            Some(ids) if ids.len() > 1000 => {
                return Err(ApiError::invalid("delivery_ids", "at most 1000 ids"));
            }
            Some(ids) => Some(
                ids.iter()
                    .map(|i| {
                        i.parse().map_err(|_| {
                            ApiError::invalid("delivery_ids", format!("`{i}` is not a delivery id"))
                        })
                    })
                    .collect::<Result<Vec<DeliveryId>, ApiError>>()?,
            ),
        };
        let (from, to) = time_range(f)?;
        Ok(Self {
            delivery_ids,
            from,
            to,
        })
    }
}

/// How many deliveries a redrive put back.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redriven {
    pub redriven: usize,
    /// Their ids, oldest first.
    pub delivery_ids: Vec<String>,
    /// True when the redrive stopped at its bound (10,000): more dead deliveries may match;
    /// send the same request again to go on.
    pub more: bool,
    /// The audit log entry of this redrive (`aud_…`).
    pub audit_id: String,
}

/// Redrives dead deliveries of a stream: each is sent again (push) or offered again (poll)
/// now with a fresh retry schedule (same SET, same `jti`). Recorded in the audit log with
/// the API key that asked.
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "Stream id (`str_…`)")),
    request_body = RedriveRequest,
    responses(
        (status = 200, description = "The deliveries put back", body = Redriven),
        (status = 400, description = "Invalid body", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such stream in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/streams/{id}/redrive")]
pub async fn redrive(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
    body: JsonBody<RedriveRequest>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let id = parse_stream(&id)?;
    let r = body.0;
    let (back, entry) = redrive_stream(&ctx, caller.tenant, id, &r, actor(&caller)).await?;
    Ok(no_store(StatusCode::OK).json(Redriven {
        redriven: back.len(),
        delivery_ids: back.iter().map(|d| d.id.to_string()).collect(),
        more: more_to_redrive(&back),
        audit_id: entry.id.to_string(),
    }))
}

/// Redrives dead deliveries of a stream through the one service function
/// (`sethub_app::recovery::redrive`), recording the API key that asked.
async fn redrive_stream(
    ctx: &AppContext,
    tenant: TenantId,
    id: sethub_domain::StreamId,
    r: &RedriveRequest,
    actor: String,
) -> Result<(Vec<sethub_store::Delivery>, AuditEntry), ApiError> {
    let which = Redrive {
        delivery_ids: r.delivery_ids.clone(),
        from: r.from,
        to: r.to,
    };
    sethub_app::recovery::redrive(ctx, tenant, id, &which, actor)
        .await
        .map_err(recovery_error)
}

/// Which stored events to replay: those received in a time range, or those in an event-id
/// range (inclusive), or both (the bounds combine). At least one bound is required.
#[derive(Debug, ToSchema)]
pub struct ReplayRequest {
    /// Events received at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Events received before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Events from this id on (`evt_…`, inclusive).
    #[schema(value_type = Option<String>, pattern = "^evt_[0-9a-fA-F]{32}$")]
    pub from_event_id: Option<EventId>,
    /// Events up to this id (`evt_…`, inclusive). Before `from_event_id`: an empty range.
    #[schema(value_type = Option<String>, pattern = "^evt_[0-9a-fA-F]{32}$")]
    pub to_event_id: Option<EventId>,
}

impl FromFields for ReplayRequest {
    fn from_fields(f: &mut Fields) -> Result<Self, ApiError> {
        let (from, to) = time_range(f)?;
        let event = |f: &mut Fields, name: &str| -> Result<Option<EventId>, ApiError> {
            f.optional::<String>(name)?
                .map(|s| {
                    s.parse::<EventId>()
                        .map_err(|_| ApiError::invalid(name, format!("`{s}` is not an event id")))
                })
                .transpose()
        };
        let from_event_id = event(f, "from_event_id")?;
        let to_event_id = event(f, "to_event_id")?;
        if from.is_none() && to.is_none() && from_event_id.is_none() && to_event_id.is_none() {
            return Err(ApiError::invalid(
                "from",
                "give a time range (`from`, `to`) or an event-id range (`from_event_id`, `to_event_id`)",
            ));
        }
        Ok(Self {
            from,
            to,
            from_event_id,
            to_event_id,
        })
    }
}

/// What a replay did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// New deliveries made (one per event the stream takes).
    pub replayed: usize,
    /// Events in the range the stream does not take (other event types, removed subjects).
    pub skipped: usize,
    /// The generation of the new deliveries (the same for all of this replay).
    pub generation: i64,
    /// The range holds more than one request replays (10,000 events): the first event not
    /// replayed; pass it as `from_event_id` of the next request to go on.
    pub more_from_event_id: Option<String>,
    /// The audit log entry of this replay (`aud_…`).
    pub audit_id: String,
}

/// Replays stored events to one stream: each event of the range that the stream takes gets
/// a new SET (re-signed, new `jti`, same `txn`), delivered like a new one (held while the
/// stream is paused). Recorded in the audit log with the API key that asked.
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "Stream id (`str_…`)")),
    request_body = ReplayRequest,
    responses(
        (status = 200, description = "The events replayed", body = Replayed),
        (status = 400, description = "Invalid body", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such stream in this tenant", body = Problem),
        (status = 409, description = "The stream is disabled", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/streams/{id}/replay")]
pub async fn replay(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
    body: JsonBody<ReplayRequest>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let id = parse_stream(&id)?;
    let r = body.0;
    let tenant = caller.tenant;
    let scope = ctx.store.scope(tenant);
    let stream = scope.streams().get(id).await.map_err(store_error)?;
    let state = match (stream.status, stream.delivery_method) {
        (StreamStatus::Disabled, _) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "the stream is disabled: enable it (or pause it to hold the SETs) before replaying",
            ));
        }
        (StreamStatus::Paused, _) => DeliveryState::Held,
        (StreamStatus::Enabled, DeliveryMethod::Push) => DeliveryState::Pending,
        (StreamStatus::Enabled, DeliveryMethod::Poll) => DeliveryState::Queued,
    };
    let removed: Vec<Subject> = scope
        .streams()
        .subjects(id)
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|s| !s.added)
        .filter_map(|s| Subject::parse(&s.subject, ParseMode::Receiving).ok())
        .collect();
    let slug = ctx
        .store
        .tenants()
        .get(tenant)
        .await
        .map_err(store_error)?
        .slug;
    let issuer = sethub_app::admin::issuer(&ctx, &slug);
    let key = sethub_app::keys::active_signing_key(&ctx, tenant)
        .await
        .map_err(ApiError::unavailable)?;

    // One generation per replay (the request time in µs): its SETs' `jti`s are its own.
    let generation = Utc::now().timestamp_micros();
    // Read the range a page at a time, up to MAX_REPLAY events.
    let events = scope.events();
    let mut new = Vec::new();
    let (mut seen, mut skipped) = (0_u64, 0_usize);
    let mut after = None;
    let mut more_from = None;
    'pages: loop {
        let page = events
            .list_range(r.from, r.to, r.from_event_id, r.to_event_id, after, 1000)
            .await
            .map_err(store_error)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let full = page.len() == 1000;
        for e in page {
            if seen == MAX_REPLAY {
                more_from = Some(e.id.to_string());
                break 'pages;
            }
            seen += 1;
            let event = sethub_app::events::accepted_event(&e, None);
            let subject = sethub_app::sets::event_subject(&event);
            let picked = sethub_app::sets::delivered_events(&event, &stream);
            let (Some(subject), Some(picked)) = (subject, picked) else {
                skipped += 1;
                continue;
            };
            if removed.iter().any(|r| r.matches(&subject)) {
                skipped += 1;
                continue;
            }
            let signed = sethub_app::sets::event_set_of_generation(
                &key, &issuer, &stream, &event, &subject, picked, generation,
            )
            .map_err(ApiError::internal)?;
            new.push(NewDelivery {
                id: DeliveryId::new(),
                stream_id: id,
                event_id: Some(e.id),
                kind: DeliveryKind::Event,
                jti: signed.jti,
                set_token: signed.token,
                state,
                next_attempt_at: (state == DeliveryState::Pending).then(Utc::now),
            });
        }
        if !full {
            break;
        }
    }
    let tx = scope.begin().await.map_err(store_error)?;
    let stored = tx
        .deliveries()
        .insert_replay(&new, generation)
        .await
        .map_err(store_error)?;
    let entry = tx
        .audit()
        .record(NewAuditEntry {
            actor: actor(&caller),
            action: "events.replay".into(),
            target: Some(id.to_string()),
            details: json!({
                "from": r.from,
                "to": r.to,
                "from_event_id": r.from_event_id.map(|e| e.to_string()),
                "to_event_id": r.to_event_id.map(|e| e.to_string()),
                "replayed": stored,
                "skipped": skipped,
                "generation": generation,
                "more_from_event_id": more_from,
            }),
        })
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    tracing::info!(%tenant, stream = %id, api_key = %caller.key.id, replayed = stored,
        skipped, generation, "events replayed");
    if stored > 0 && state != DeliveryState::Held {
        announce(&ctx, tenant, &stream).await?;
    }
    Ok(no_store(StatusCode::OK).json(Replayed {
        replayed: usize::try_from(stored).unwrap_or(usize::MAX),
        skipped,
        generation,
        more_from_event_id: more_from,
        audit_id: entry.id.to_string(),
    }))
}

/// Paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this target (a stream id `str_…`, a receiver `rcv_…`, an upstream
    /// transmitter `ups_…`).
    pub target: Option<String>,
    /// Only entries older than this one (`aud_…`): the next page.
    #[param(pattern = "^aud_[0-9a-fA-F]{32}$")]
    pub before: Option<String>,
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// An audit log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub audit_id: String,
    pub at: DateTime<Utc>,
    /// Who asked: `api_key:key_…`, or a console member `member:mbr_…`.
    pub actor: String,
    /// `deliveries.redrive`, `events.replay`, `upstream.create`, `upstream.subscribe`,
    /// `upstream.delete`, `stream.delete`, `receiver.disable`, `receiver.enable`,
    /// `receiver.invite`.
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            audit_id: e.id.to_string(),
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            details: e.details,
        }
    }
}

/// The tenant's audit log, newest first.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "The entries, newest first", body = [AuditView]),
        (status = 400, description = "Invalid query", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/audit-log")]
pub async fn list_audit(
    req: HttpRequest,
    caller: AdminKey,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    let ctx = context(&req)?;
    let q: AuditQuery = query(&req)?;
    let before = q
        .before
        .as_deref()
        .map(str::parse::<AuditId>)
        .transpose()
        .map_err(|_| ApiError::invalid("before", "must be an audit entry id (aud_…)"))?;
    let list = ctx
        .store
        .scope(caller.tenant)
        .audit()
        .list(q.target.as_deref(), before, limit(q.limit)?)
        .await
        .map_err(store_error)?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}
