//! Stream status (SSF §6): read and update `enabled`, `paused`, `disabled` with a reason.
//! A receiver's own request needs no stream-updated SET (only transmitter-initiated changes do).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use sethub_app::AppContext;
use sethub_bus::{Envelope, Message};
use sethub_domain::{StatusActor, StreamStatus};

use crate::ssf::auth::{Receiver, SCOPE_MANAGE, SCOPE_READ};
use crate::ssf::error::SsfError;
use crate::ssf::streams::{StreamBody, parse_stream_id, stream_body};

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    stream_id: Option<String>,
}

fn body(id: &str, status: StreamStatus, reason: Option<&str>) -> Value {
    let mut v = json!({"stream_id": id, "status": status});
    if let Some(r) = reason {
        v["reason"] = json!(r);
    }
    v
}

pub async fn read(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    q: web::Query<StatusQuery>,
) -> Result<HttpResponse, SsfError> {
    rx.require(SCOPE_READ)?;
    let raw = q
        .stream_id
        .as_deref()
        .ok_or_else(|| SsfError::bad("stream_id", "is required"))?;
    let id = parse_stream_id(Some(raw))?.ok_or(SsfError::NotFound)?;
    let streams = ctx.store.scope(rx.tenant.id).streams();
    let s = streams.get_for_receiver(id, rx.receiver_id).await?;
    streams.touch_activity(id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body(raw, s.status, s.status_reason.as_deref())))
}

pub async fn update(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    raw: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    rx.require(SCOPE_MANAGE)?;
    let StreamBody { obj, raw_id, id } = stream_body(&raw)?;
    let status: StreamStatus = obj
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| SsfError::bad("status", "is required and must be a string"))?
        .parse()
        .map_err(|e: String| SsfError::bad("status", e))?;
    let reason = match obj.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.chars().take(500).collect::<String>()),
        Some(_) => return Err(SsfError::bad("reason", "must be a string")),
    };
    let streams = ctx.store.scope(rx.tenant.id).streams();
    streams.get_for_receiver(id, rx.receiver_id).await?;
    // A stream its tenant or sethub disabled stays so: 403 (`SsfError::StatusLocked`).
    let (_, after) = streams
        .set_status(id, status, reason.clone(), StatusActor::Receiver)
        .await?;
    let message = Message::StreamStatusChanged {
        stream_id: id,
        status: status.as_str().to_owned(),
        reason,
        notify: false,
    };
    if let Err(e) = ctx.bus.publish(Envelope::new(rx.tenant.id, message)).await {
        tracing::warn!(error = %e, "could not publish a status change");
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body(&raw_id, after.status, after.status_reason.as_deref())))
}
