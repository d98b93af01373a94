//! Add and remove subjects of a stream (SSF §7): `POST subjects:add` → 200 with an empty
//! body, `POST subjects:remove` → 204. Subjects are validated strictly and stored under their
//! canonical key, so the data plane matches them exactly as subjects.md says.

use actix_web::{HttpResponse, web};
use serde_json::Value;
use sethub_app::AppContext;
use sethub_bus::{Envelope, Message, StreamChange};
use sethub_domain::subject::{ParseMode, Subject};

use crate::ssf::auth::{Receiver, SCOPE_MANAGE};
use crate::ssf::error::SsfError;
use crate::ssf::streams::{StreamBody, stream_body};

async fn put(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    raw: web::Bytes,
    added: bool,
) -> Result<(), SsfError> {
    rx.require(SCOPE_MANAGE)?;
    let StreamBody { obj, id, .. } = stream_body(&raw)?;
    let subject_json = obj
        .get("subject")
        .ok_or_else(|| SsfError::bad("subject", "is required"))?;
    let quotas = sethub_app::quotas::of_tenant(&ctx, &rx.tenant);
    // Receiving mode: legacy names such as `phone` (SSF's own remove example) are accepted.
    let subject = Subject::parse_limited(
        subject_json,
        ParseMode::Receiving,
        "subject",
        quotas.subject_list_items as usize,
    )
    .map_err(|e| SsfError::bad(&e.path, &e.problem))?;
    let verified = match obj.get("verified") {
        None | Some(Value::Null) => true, // SSF §7.1: absent means verified.
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(SsfError::bad("verified", "must be a boolean")),
    };
    let streams = ctx.store.scope(rx.tenant.id).streams();
    streams.get_for_receiver(id, rx.receiver_id).await?;
    streams
        .put_subject_within(
            id,
            &subject.canonical_key(),
            subject.to_json(),
            (added, verified),
            quotas.subjects_per_stream,
        )
        .await?;
    streams.touch_activity(id).await?;
    let message = Message::StreamChanged {
        stream_id: id,
        change: StreamChange::SubjectsChanged,
    };
    if let Err(e) = ctx.bus.publish(Envelope::new(rx.tenant.id, message)).await {
        tracing::warn!(error = %e, "could not publish a subject change");
    }
    Ok(())
}

pub async fn add(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    raw: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    put(ctx, rx, raw, true).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

pub async fn remove(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    raw: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    put(ctx, rx, raw, false).await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
