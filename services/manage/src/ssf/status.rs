//! Stream status (SSF §6): read and update `enabled`, `paused`, `disabled` with a reason,
//! through `sethub_app::ssf::control`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use sethub_app::AppContext;
use sethub_app::ssf::control::{self, StatusUpdate};
use sethub_app::ssf::wire::{StreamBody, parse_stream_id, stream_body};
use sethub_app::ssf::{Receiver, SCOPE_MANAGE, SCOPE_READ, SsfError};
use sethub_domain::StreamStatus;

use super::streams::json_response;

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
    let caller = rx.require(SCOPE_READ)?;
    let raw = q
        .stream_id
        .as_deref()
        .ok_or_else(|| SsfError::bad("stream_id", "is required"))?;
    let id = parse_stream_id(Some(raw))?.ok_or(SsfError::NotFound)?;
    let s = control::read_status(&ctx, caller, id).await?;
    Ok(json_response(
        StatusCode::OK,
        &body(raw, s.status, s.status_reason.as_deref()),
    ))
}

pub async fn update(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    raw: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    let caller = rx.require(SCOPE_MANAGE)?;
    let StreamBody { obj, raw_id, id } = stream_body(&raw)?;
    let status: StreamStatus = obj
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| SsfError::bad("status", "is required and must be a string"))?
        .parse()
        .map_err(|e: String| SsfError::bad("status", e))?;
    let reason = match obj.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(_) => return Err(SsfError::bad("reason", "must be a string")),
    };
    let change = StatusUpdate {
        stream_id: id,
        status,
        reason,
    };
    let after = control::set_status(&ctx, caller, change).await?;
    Ok(json_response(
        StatusCode::OK,
        &body(&raw_id, after.status, after.status_reason.as_deref()),
    ))
}
