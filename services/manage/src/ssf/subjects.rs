//! Add and remove subjects of a stream (SSF §7): `POST subjects:add` → 200 with an empty
//! body, `POST subjects:remove` → 204. Subjects are parsed strictly here, within the tenant's
//! list-size quota, and changed through `sethub_app::ssf::control`.

use actix_web::{HttpResponse, web};
use serde_json::Value;
use sethub_app::AppContext;
use sethub_app::ssf::control::{self, SubjectChange};
use sethub_app::ssf::wire::{StreamBody, stream_body};
use sethub_app::ssf::{Receiver, SCOPE_MANAGE, SsfError};
use sethub_domain::subject::{ParseMode, Subject};

async fn put(
    ctx: web::Data<AppContext>,
    rx: Receiver,
    raw: web::Bytes,
    added: bool,
) -> Result<(), SsfError> {
    let caller = rx.require(SCOPE_MANAGE)?;
    let StreamBody { obj, id, .. } = stream_body(&raw)?;
    let subject_json = obj
        .get("subject")
        .ok_or_else(|| SsfError::bad("subject", "is required"))?;
    let quotas = sethub_app::quotas::of_tenant(&ctx, &caller.tenant);
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
    let change = SubjectChange {
        stream_id: id,
        subject,
        verified,
        added,
    };
    control::change_subject(&ctx, caller, change).await
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
