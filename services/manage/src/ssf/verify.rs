//! Verification requests (SSF §8): `POST verify` → 204, then fan-out emits a verification SET
//! carrying `state` on the stream. Requests closer together than the stream's
//! `min_verification_interval` get 429 with `Retry-After`.

use actix_web::{HttpResponse, web};
use serde_json::Value;
use sethub_app::AppContext;
use sethub_app::ssf::control::{self, VerifyRequest};
use sethub_app::ssf::wire::{StreamBody, stream_body};
use sethub_app::ssf::{Receiver, SCOPE_MANAGE, SsfError};

pub async fn verify(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    raw: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    let caller = rx.require(SCOPE_MANAGE)?;
    let StreamBody { obj, id, .. } = stream_body(&raw)?;
    let state = match obj.get("state") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(SsfError::bad("state", "must be a string")),
    };
    let req = VerifyRequest {
        stream_id: id,
        state,
    };
    control::verify(&ctx, caller, req).await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
