//! Verification requests (SSF §8): `POST verify` → 204, then fan-out emits a verification SET
//! carrying `state` on the stream. Requests closer together than the stream's
//! `min_verification_interval` get 429 with `Retry-After`.

use actix_web::{HttpResponse, web};
use serde_json::Value;
use sethub_app::AppContext;
use sethub_bus::{Envelope, Message};

use crate::ssf::auth::{Receiver, SCOPE_MANAGE};
use crate::ssf::error::SsfError;
use crate::ssf::streams::{StreamBody, stream_body};

/// Longest `state` echoed back.
pub const MAX_STATE: usize = 1024;

pub async fn verify(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    raw: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    rx.require(SCOPE_MANAGE)?;
    let StreamBody { obj, id, .. } = stream_body(&raw)?;
    let state = match obj.get("state") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= MAX_STATE => Some(s.clone()),
        Some(Value::String(_)) => {
            return Err(SsfError::bad(
                "state",
                format!("longer than {MAX_STATE} bytes"),
            ));
        }
        Some(_) => return Err(SsfError::bad("state", "must be a string")),
    };
    let streams = ctx.store.scope(rx.tenant.id).streams();
    let stream = streams.get_for_receiver(id, rx.receiver_id).await?;
    if !streams
        .try_record_verification(id, chrono::Utc::now())
        .await?
    {
        let wait = stream
            .last_verification_at
            .map(|last| {
                let next =
                    last + chrono::Duration::seconds(i64::from(stream.min_verification_interval));
                next.signed_duration_since(chrono::Utc::now())
                    .num_seconds()
                    .max(1)
            })
            .unwrap_or(1);
        return Err(SsfError::TooSoon(wait.unsigned_abs()));
    }
    ctx.bus
        .publish(Envelope::new(
            rx.tenant.id,
            Message::VerificationRequested {
                stream_id: id,
                state,
            },
        ))
        .await
        .map_err(SsfError::internal)?;
    Ok(HttpResponse::NoContent()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
