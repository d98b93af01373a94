//! The stream configuration endpoint (SSF §5): create (POST → 201), read (GET → the stream, or
//! an array of the caller's streams), update (PATCH → 200), replace (PUT → 200), delete
//! (DELETE → 204). Each handler parses the body and calls `sethub_app::ssf::streams`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use sethub_app::AppContext;
use sethub_app::ssf::streams::{self as ops, ChangeKind, NewStream, to_config};
use sethub_app::ssf::wire::{self, StreamConfig, parse_json, parse_stream_id};
use sethub_app::ssf::{Receiver, SCOPE_MANAGE, SCOPE_READ, SsfError};

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    stream_id: Option<String>,
}

pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

fn request(body: &[u8]) -> Result<wire::StreamRequest, SsfError> {
    wire::parse_stream_request(&parse_json(body)?).map_err(|e| SsfError::bad(&e.field, &e.problem))
}

pub async fn create(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    body: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    let caller = rx.require(SCOPE_MANAGE)?;
    let new = NewStream::from_request(request(&body)?)?;
    let stream = ops::create(&ctx, caller, new).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &to_config(&ctx, &caller.tenant, &stream),
    ))
}

pub async fn read(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    q: web::Query<StreamQuery>,
) -> Result<HttpResponse, SsfError> {
    let caller = rx.require(SCOPE_READ)?;
    match parse_stream_id(q.stream_id.as_deref())? {
        Some(id) => {
            let s = ops::read(&ctx, caller, id).await?;
            Ok(json_response(
                StatusCode::OK,
                &to_config(&ctx, &caller.tenant, &s),
            ))
        }
        None => {
            let all: Vec<StreamConfig> = ops::list(&ctx, caller)
                .await?
                .iter()
                .map(|s| to_config(&ctx, &caller.tenant, s))
                .collect();
            Ok(json_response(StatusCode::OK, &all))
        }
    }
}

async fn change(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    body: web::Bytes,
    kind: ChangeKind,
) -> Result<HttpResponse, SsfError> {
    let caller = rx.require(SCOPE_MANAGE)?;
    let updated = ops::change(&ctx, caller, request(&body)?, kind).await?;
    Ok(json_response(
        StatusCode::OK,
        &to_config(&ctx, &caller.tenant, &updated),
    ))
}

pub async fn update(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    body: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    change(ctx, rx, body, ChangeKind::Update).await
}

pub async fn replace(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    body: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    change(ctx, rx, body, ChangeKind::Replace).await
}

pub async fn delete(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    q: web::Query<StreamQuery>,
) -> Result<HttpResponse, SsfError> {
    let caller = rx.require(SCOPE_MANAGE)?;
    let id = parse_stream_id(q.stream_id.as_deref())?
        .ok_or_else(|| SsfError::bad("stream_id", "is required"))?;
    ops::delete(&ctx, caller, id).await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
