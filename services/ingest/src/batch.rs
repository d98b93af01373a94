//! `POST /t/{slug}/events:batch`: publish up to `ingest.max_batch` events in one request,
//! `{"events": [<publish request>, …]}`.
//!
//! The envelope is all or nothing (401/403/413/415, 400 for a malformed body, no `events`
//! array, an empty one or too many items, 429 when the rate limit cannot cover every item).
//! Items are independent: each valid one is stored and published, each invalid one refused,
//! and the answer is `200 {"results": [{"index", "status": 202, "event_id"} | {"index",
//! "status": 4xx/5xx, "error": <problem>}]}` in request order. An item's `error.field` is
//! relative to the item (`sub_id.email`). Valid items are stored in one transaction and
//! announced in one bus message per hundred.
//!
//! The rate limiter is charged the number of items, after the envelope is read (it must be
//! counted) and before any item is validated or stored. With an `Idempotency-Key`, item `i`
//! is idempotent on (key, `i`): repeating the batch returns the same event ids.

use actix_web::body::to_bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;
use serde_json::{Map, Value};
use sethub_app::AppContext;
use sethub_domain::EventId;
use sethub_http::ApiError;
use sethub_telemetry::trace::{self, Span};

use crate::accept::accept_many;
use crate::auth::Publisher;
use crate::metrics::Counter;
use crate::request::PublishRequest;
use crate::single::refusal;
use crate::{body, idempotency, limit};

/// One item's answer.
#[derive(Debug, Serialize)]
pub struct ItemResult {
    pub index: usize,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct BatchBody {
    pub results: Vec<ItemResult>,
}

/// The items of a batch envelope (400 for anything but `{"events": [1..=max items]}`).
fn items(mut envelope: Map<String, Value>, max: usize) -> Result<Vec<Value>, ApiError> {
    let events = envelope.remove("events");
    if let Some(k) = envelope.keys().next() {
        return Err(ApiError::invalid(
            k.as_str(),
            format!("unknown member `{k}`; a batch is `{{\"events\": [ … ]}}`"),
        ));
    }
    match events {
        Some(Value::Array(items)) if items.is_empty() => Err(ApiError::invalid(
            "events",
            "`events` must hold at least one event",
        )),
        Some(Value::Array(items)) if items.len() > max => Err(ApiError::invalid(
            "events",
            format!("a batch holds at most {max} events, not {}", items.len()),
        )),
        Some(Value::Array(items)) => Ok(items),
        _ => Err(ApiError::invalid(
            "events",
            "`events` must be an array of publish requests",
        )),
    }
}

/// The problem body an error renders as (the same one a single publish would get).
async fn problem(e: &ApiError) -> Value {
    let body = to_bytes(e.error_response().into_body()).await.ok();
    body.and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::json!({"detail": e.detail()}))
}

pub async fn publish_batch(
    ctx: web::Data<AppContext>,
    counter: web::Data<Counter>,
    publisher: Publisher,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let cfg = &ctx.config.ingest;
    let key = idempotency::from_request(&req)?;
    let envelope = body::read_object(&req, payload, cfg.max_body_bytes).await?;
    let items = items(envelope, cfg.max_batch)?;
    let span = Span::root("ingest.publish_batch");
    span.set("sethub.tenant", || publisher.tenant.to_string());
    span.set("sethub.events", || {
        i64::try_from(items.len()).unwrap_or(i64::MAX)
    });
    limit::charge(&ctx, &counter, publisher.tenant, items.len()).await?;

    // Valid items are stored in one transaction and published together; invalid ones are
    // refused on their own. The answer keeps the request's order.
    let tenant = publisher.tenant;
    let mut outcomes: Vec<Option<Result<crate::accept::Accepted, ApiError>>> = Vec::new();
    let mut valid = Vec::new();
    let mut valid_at = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let parsed = match item {
            Value::Object(object) => PublishRequest::parse(object, publisher.subject_list_items)
                .and_then(|r| r.check_profile(publisher.profile).map(|()| r)),
            _ => Err(ApiError::invalid(
                "body",
                "each event must be a JSON object",
            )),
        };
        match parsed {
            Ok(request) => {
                let stored_key = key
                    .as_deref()
                    .map(|k| idempotency::stored_batch_key(k, index));
                valid.push((request, stored_key));
                valid_at.push(index);
                outcomes.push(None);
            }
            Err(e) => outcomes.push(Some(Err(e))),
        }
    }
    for (index, result) in valid_at
        .into_iter()
        .zip(trace::within(span.traceparent(), accept_many(&ctx, tenant, valid)).await)
    {
        outcomes[index] = Some(result);
    }
    let outcomes: Vec<Result<crate::accept::Accepted, ApiError>> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(ApiError::internal("a batch item got no answer"))))
        .collect();
    let mut results = Vec::with_capacity(outcomes.len());
    for (index, outcome) in outcomes.into_iter().enumerate() {
        results.push(match outcome {
            Ok(accepted) => {
                counter.record(&ctx, accepted.outcome, 1);
                ItemResult {
                    index,
                    status: 202,
                    event_id: Some(accepted.event_id),
                    error: None,
                }
            }
            Err(e) => {
                counter.record(&ctx, refusal(&e), 1);
                ItemResult {
                    index,
                    status: e.code().status().as_u16(),
                    event_id: None,
                    error: Some(problem(&e).await),
                }
            }
        });
    }
    Ok(HttpResponse::Ok().json(BatchBody { results }))
}
