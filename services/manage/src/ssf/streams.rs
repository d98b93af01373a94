//! The stream configuration endpoint (SSF §5): create (POST → 201), read (GET → the stream, or
//! an array of the caller's streams), update (PATCH → 200), replace (PUT → 200), delete
//! (DELETE → 204). A receiver only ever sees its own streams; anything else is 404.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use sethub_app::AppContext;
use sethub_bus::{Envelope, Message, StreamChange};
use sethub_domain::{DeliveryMethod, StreamId, events};
use sethub_egress::EgressPolicy;
use sethub_jose::keyring::{MasterKeyring, SealContext};
use sethub_store::{Stream, StreamFields};

use crate::ssf::auth::{Receiver, SCOPE_MANAGE, SCOPE_READ};
use crate::ssf::error::SsfError;
use crate::ssf::metadata::issuer;
use crate::ssf::wire::{
    self, DeliveryOut, DeliveryRequest, Method, Patch, StreamConfig, StreamRequest,
};

/// Default `min_verification_interval` of new streams, in seconds.
pub const MIN_VERIFICATION_INTERVAL: i32 = 30;
/// Largest JSON body accepted by the management endpoints.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    stream_id: Option<String>,
}

/// Event types this hub can put on a stream: every known type except SSF's own control
/// events, which are sent on every stream anyway (SSF §4).
pub fn events_supported() -> Vec<String> {
    events::registry()
        .uris()
        .filter(|u| *u != events::VERIFICATION && *u != events::STREAM_UPDATED)
        .map(str::to_owned)
        .collect()
}

pub(crate) fn parse_json(body: &[u8]) -> Result<Value, SsfError> {
    if body.len() > MAX_BODY {
        return Err(SsfError::bad(
            "body",
            format!("larger than {MAX_BODY} bytes"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| SsfError::bad("body", format!("not valid JSON ({e})")))
}

/// A management request body: a JSON object whose `stream_id` names a stream (SSF §6–§8).
pub(crate) struct StreamBody {
    pub obj: serde_json::Map<String, Value>,
    pub raw_id: String,
    pub id: StreamId,
}

/// Parses a status, subject or verification body. A malformed `stream_id` names no stream of
/// the receiver: 404, like an unknown one.
pub(crate) fn stream_body(raw: &[u8]) -> Result<StreamBody, SsfError> {
    let v = parse_json(raw)?;
    let Value::Object(obj) = v else {
        return Err(SsfError::bad("body", "must be a JSON object"));
    };
    let raw_id = obj
        .get("stream_id")
        .and_then(Value::as_str)
        .ok_or_else(|| SsfError::bad("stream_id", "is required and must be a string"))?
        .to_owned();
    let id = parse_stream_id(Some(&raw_id))?.ok_or(SsfError::NotFound)?;
    Ok(StreamBody { obj, raw_id, id })
}

pub(crate) fn parse_stream_id(raw: Option<&str>) -> Result<Option<StreamId>, SsfError> {
    match raw {
        None => Ok(None),
        // A malformed id names no stream of this receiver: 404, like an unknown one.
        Some(s) => s.parse().map(Some).map_err(|_| SsfError::NotFound),
    }
}

fn sealing(ctx: &AppContext) -> Result<MasterKeyring, SsfError> {
    MasterKeyring::new(ctx.master_keys.iter().cloned()).map_err(SsfError::internal)
}

fn seal_context(rx: &Receiver, id: StreamId) -> SealContext {
    sethub_app::streams::authorization_seal_context(rx.tenant.id, id)
}

pub(crate) fn egress(ctx: &AppContext) -> EgressPolicy {
    sethub_app::egress::policy(ctx)
}

/// The configuration object of a stream, as the receiver sees it.
pub(crate) fn to_config(ctx: &AppContext, rx: &Receiver, s: &Stream) -> StreamConfig {
    let aud = if s.aud.len() == 1 {
        json!(s.aud[0])
    } else {
        json!(s.aud)
    };
    StreamConfig {
        stream_id: s.id.to_string(),
        iss: issuer(ctx, &rx.tenant.slug),
        aud,
        delivery: DeliveryOut {
            method: match s.delivery_method {
                DeliveryMethod::Push => Method::Push,
                DeliveryMethod::Poll => Method::Poll,
            },
            endpoint_url: s.endpoint_url.clone().unwrap_or_default(),
        },
        events_supported: events_supported(),
        events_requested: s.events_requested.clone(),
        events_delivered: s.events_delivered.clone(),
        min_verification_interval: u32::try_from(s.min_verification_interval).unwrap_or(0),
        inactivity_timeout: s.inactivity_timeout.and_then(|t| u32::try_from(t).ok()),
        description: s.description.clone(),
    }
}

fn poll_url(ctx: &AppContext, rx: &Receiver, id: StreamId) -> String {
    ctx.url(&format!("/t/{}/ssf/poll/{id}", rx.tenant.slug))
}

/// Turns the requested delivery into stored fields: checks a push endpoint against the SSRF
/// guard (after DNS resolution), seals its authorization header, assigns a poll endpoint.
async fn delivery_fields(
    ctx: &AppContext,
    rx: &Receiver,
    id: StreamId,
    d: &DeliveryRequest,
    current: Option<&Stream>,
) -> Result<(DeliveryMethod, Option<String>, Option<Vec<u8>>), SsfError> {
    match d.method {
        Method::Push => {
            let raw = d.endpoint_url.as_deref().unwrap_or_default();
            let url = egress(ctx)
                .check_url_resolving(raw)
                .await
                .map_err(|e| SsfError::bad("delivery.endpoint_url", e))?;
            let sealed = match &d.authorization_header {
                Some(h) => Some(
                    sealing(ctx)?
                        .seal(&seal_context(rx, id), h.as_bytes())
                        .map_err(SsfError::internal)?
                        .to_string()
                        .into_bytes(),
                ),
                // No new header: keep the stored one (PATCH semantics) only for the same push
                // endpoint. A new endpoint drops it: the receiver's secret must not follow
                // its stream to another destination.
                None => current
                    .filter(|c| {
                        c.delivery_method == DeliveryMethod::Push
                            && c.endpoint_url.as_deref() == Some(url.as_str())
                    })
                    .and_then(|c| c.authorization_sealed.clone()),
            };
            Ok((DeliveryMethod::Push, Some(url.to_string()), sealed))
        }
        Method::Poll => {
            let assigned = poll_url(ctx, rx, id);
            if let Some(given) = d.endpoint_url.as_deref()
                && current.is_some()
                && given != assigned
            {
                return Err(SsfError::bad(
                    "delivery.endpoint_url",
                    "a poll endpoint is assigned by the transmitter and cannot be changed",
                ));
            }
            Ok((DeliveryMethod::Poll, Some(assigned), None))
        }
    }
}

async fn publish(ctx: &AppContext, rx: &Receiver, message: Message) {
    // The change is already committed; the bus tells fanout to refresh. A failure here is
    // logged, and fanout re-reads streams from the database on every event anyway.
    if let Err(e) = ctx.bus.publish(Envelope::new(rx.tenant.id, message)).await {
        tracing::warn!(error = %e, "could not publish a stream change");
    }
}

fn json_response(
    status: actix_web::http::StatusCode,
    body: &impl serde::Serialize,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

pub async fn create(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    body: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    rx.require(SCOPE_MANAGE)?;
    let req = wire::parse_stream_request(&parse_json(&body)?)
        .map_err(|e| SsfError::bad(&e.field, &e.problem))?;
    if req.stream_id.is_some() {
        return Err(SsfError::bad(
            "stream_id",
            "is assigned by the transmitter; omit it when creating a stream",
        ));
    }
    // Like `stream_id`, the transmitter's own members have no place in a create request
    // (PATCH/PUT may echo them if equal, SSF §5.4).
    if let Some((name, _)) = req
        .transmitter_supplied
        .iter()
        .find(|(name, _)| wire::CREATE_REFUSED.contains(name))
    {
        return Err(SsfError::bad(
            name,
            "is supplied by the transmitter; omit it when creating a stream",
        ));
    }
    let id = StreamId::new();
    // SSF §5.2: no delivery means poll.
    let delivery = match &req.delivery {
        Patch::Value(d) => d.clone(),
        Patch::Absent | Patch::Null => DeliveryRequest {
            method: Method::Poll,
            endpoint_url: None,
            authorization_header: None,
        },
    };
    let (method, endpoint, sealed) = delivery_fields(&ctx, &rx, id, &delivery, None).await?;
    let requested = match &req.events_requested {
        Patch::Value(v) => Some(v.clone()),
        _ => None,
    };
    let supported = events_supported();
    // `aud` is the receiver's client id: the value it knows from its credentials.
    let client_id = ctx
        .store
        .scope(rx.tenant.id)
        .receivers()
        .get(rx.receiver_id)
        .await?
        .client_id;
    let fields = StreamFields {
        aud: vec![client_id],
        delivery_method: method,
        endpoint_url: endpoint,
        authorization_sealed: sealed,
        events_delivered: wire::events_delivered(requested.as_deref(), &supported),
        events_requested: requested,
        description: match &req.description {
            Patch::Value(d) => Some(d.clone()),
            _ => None,
        },
        min_verification_interval: MIN_VERIFICATION_INTERVAL,
        inactivity_timeout: None,
    };
    let quotas = sethub_app::quotas::of_tenant(&ctx, &rx.tenant);
    let stream = ctx
        .store
        .scope(rx.tenant.id)
        .streams()
        .create_within(id, rx.receiver_id, fields, &quotas)
        .await?;
    publish(
        &ctx,
        &rx,
        Message::StreamChanged {
            stream_id: id,
            change: StreamChange::Created,
        },
    )
    .await;
    Ok(json_response(
        actix_web::http::StatusCode::CREATED,
        &to_config(&ctx, &rx, &stream),
    ))
}

pub async fn read(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    q: web::Query<StreamQuery>,
) -> Result<HttpResponse, SsfError> {
    rx.require(SCOPE_READ)?;
    let streams = ctx.store.scope(rx.tenant.id).streams();
    match parse_stream_id(q.stream_id.as_deref())? {
        Some(id) => {
            let s = streams.get_for_receiver(id, rx.receiver_id).await?;
            streams.touch_activity(id).await?;
            Ok(json_response(
                actix_web::http::StatusCode::OK,
                &to_config(&ctx, &rx, &s),
            ))
        }
        None => {
            let all: Vec<StreamConfig> = streams
                .list_for_receiver(rx.receiver_id)
                .await?
                .iter()
                .map(|s| to_config(&ctx, &rx, s))
                .collect();
            Ok(json_response(actix_web::http::StatusCode::OK, &all))
        }
    }
}

/// SSF §5.4: transmitter-supplied members may be sent but must equal the current values.
fn check_transmitter_supplied(req: &StreamRequest, current: &StreamConfig) -> Result<(), SsfError> {
    let now = serde_json::to_value(current).map_err(SsfError::internal)?;
    for (name, value) in &req.transmitter_supplied {
        let same = match now.get(*name) {
            Some(cur) => cur == value || (*name == "aud" && json!([cur]) == *value),
            None => value.is_null(),
        };
        if !same {
            return Err(SsfError::bad(
                name,
                "is supplied by the transmitter and differs from the stream's value",
            ));
        }
    }
    Ok(())
}

async fn change(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    body: web::Bytes,
    replace: bool,
) -> Result<HttpResponse, SsfError> {
    rx.require(SCOPE_MANAGE)?;
    let req = wire::parse_stream_request(&parse_json(&body)?)
        .map_err(|e| SsfError::bad(&e.field, &e.problem))?;
    let raw_id = req
        .stream_id
        .as_deref()
        .ok_or_else(|| SsfError::bad("stream_id", "is required"))?;
    let id = parse_stream_id(Some(raw_id))?.ok_or(SsfError::NotFound)?;
    let streams = ctx.store.scope(rx.tenant.id).streams();
    let current = streams.get_for_receiver(id, rx.receiver_id).await?;
    check_transmitter_supplied(&req, &to_config(&ctx, &rx, &current))?;
    let mut f = current.fields();
    match (&req.delivery, replace) {
        (Patch::Value(d), _) => {
            let (m, e, s) = delivery_fields(&ctx, &rx, id, d, Some(&current)).await?;
            (f.delivery_method, f.endpoint_url, f.authorization_sealed) = (m, e, s);
        }
        (Patch::Null, _) | (Patch::Absent, true) => {
            return Err(SsfError::bad(
                "delivery",
                "is required; a stream cannot be left without a delivery method",
            ));
        }
        (Patch::Absent, false) => {}
    }
    match (&req.events_requested, replace) {
        (Patch::Value(v), _) => f.events_requested = Some(v.clone()),
        (Patch::Null, _) | (Patch::Absent, true) => f.events_requested = None,
        (Patch::Absent, false) => {}
    }
    match (&req.description, replace) {
        (Patch::Value(d), _) => f.description = Some(d.clone()),
        (Patch::Null, _) | (Patch::Absent, true) => f.description = None,
        (Patch::Absent, false) => {}
    }
    f.events_delivered = wire::events_delivered(f.events_requested.as_deref(), &events_supported());
    let updated = streams.update(id, f).await?;
    publish(
        &ctx,
        &rx,
        Message::StreamChanged {
            stream_id: id,
            change: StreamChange::Updated,
        },
    )
    .await;
    Ok(json_response(
        actix_web::http::StatusCode::OK,
        &to_config(&ctx, &rx, &updated),
    ))
}

pub async fn update(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    body: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    change(ctx, rx, body, false).await
}

pub async fn replace(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    body: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    change(ctx, rx, body, true).await
}

pub async fn delete(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    q: web::Query<StreamQuery>,
) -> Result<HttpResponse, SsfError> {
    rx.require(SCOPE_MANAGE)?;
    let id = parse_stream_id(q.stream_id.as_deref())?
        .ok_or_else(|| SsfError::bad("stream_id", "is required"))?;
    let streams = ctx.store.scope(rx.tenant.id).streams();
    streams.get_for_receiver(id, rx.receiver_id).await?;
    streams.delete(id).await?;
    publish(
        &ctx,
        &rx,
        Message::StreamChanged {
            stream_id: id,
            change: StreamChange::Deleted,
        },
    )
    .await;
    Ok(HttpResponse::NoContent()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
