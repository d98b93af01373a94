//! `/portal/events`: the event types the tenant sends, with their fields and an example SET
//! each; and `POST /portal/streams/{id}/test`: a test SET of any type sent to a stream.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::{Value, json};
use sethub_app::AppContext;
use sethub_domain::events::{self, EventType, FieldKind};
use sethub_domain::subject::Subject;
use sethub_domain::{DeliveryId, DeliveryMethod, StreamId, StreamStatus};
use sethub_store::{DeliveryKind, DeliveryState, NewDelivery, StoreError};

use super::unavailable;
use super::{Who, not_found};
use crate::web::flash::Flash;
use crate::web::form::Form;
use crate::web::{Home, PageError};
use crate::web::{csrf_refused, page, see_other};

struct TypeView {
    anchor: String,
    uri: String,
    name: String,
    description: String,
    deprecated: bool,
    fields: Vec<(String, String, String, String)>,
    example: String,
}

#[derive(Template)]
#[template(path = "portal_events.html")]
struct EventsPage {
    who: Who,
    active: &'static str,
    types: Vec<TypeView>,
}

/// The event types a stream may take (those the SSF metadata advertises).
pub(crate) fn supported() -> Vec<&'static EventType> {
    let uris = sethub_app::ssf::streams::events_supported();
    events::registry()
        .iter()
        .filter(|t| uris.iter().any(|u| u == t.uri))
        .collect()
}

fn label(v: impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(Value::Object(o)) => o
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

/// What a field takes, for people (not the registry's own names, `one_of`, `open_enum`).
fn kind_text(kind: FieldKind) -> String {
    match kind {
        FieldKind::String => "text".into(),
        FieldKind::Number => "number".into(),
        FieldKind::Object => "object".into(),
        FieldKind::NonEmptyObject => "object (not empty)".into(),
        FieldKind::StringArray => "list of texts".into(),
        FieldKind::OneOf(values) => format!("one of: {}", values.join(", ")),
        FieldKind::OpenEnum(values) => format!("text, such as: {}", values.join(", ")),
        FieldKind::LanguageMap => "text per language, e.g. {\"en\": \"…\"}".into(),
        FieldKind::Any => "any JSON value".into(),
    }
}

/// The claims of an example SET of `t` for this receiver.
fn example_claims(issuer: &str, aud: &str, t: &EventType) -> Value {
    json!({
        "iss": issuer,
        "aud": aud,
        "jti": "3d0c3cf797584bd193bd0fb1bd4e7d30",
        "iat": 1_700_000_000,
        "txn": "evt_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f",
        "sub_id": {"format": "email", "email": "user@example.com"},
        "events": { t.uri: t.example_payload() },
    })
}

/// `GET /portal/events`.
pub async fn list(ctx: web::Data<AppContext>, who: Who, _req: HttpRequest) -> HttpResponse {
    let issuer = sethub_app::admin::issuer(&ctx, &who.tenant.slug);
    let aud = who.receiver_id.to_string();
    let types = supported()
        .into_iter()
        .map(|t| TypeView {
            anchor: t.uri.rsplit('/').next().unwrap_or(t.uri).to_owned(),
            uri: t.uri.to_owned(),
            name: t.name.to_owned(),
            description: t.description.to_owned(),
            deprecated: t.deprecated,
            fields: t
                .all_fields()
                .map(|f| {
                    (
                        f.name.to_owned(),
                        label(f.presence),
                        kind_text(f.kind),
                        f.description.to_owned(),
                    )
                })
                .collect(),
            example: serde_json::to_string_pretty(&example_claims(&issuer, &aud, t))
                .unwrap_or_default(),
        })
        .collect();
    page(
        StatusCode::OK,
        &EventsPage {
            who,
            active: "events",
            types,
        },
    )
}

/// `POST /portal/streams/{id}/test`: `event_type`. A SET with the type's example payload, a
/// `txn` starting `test-`, signed by the tenant, delivered like any other (held while the
/// stream is paused).
pub async fn send_test(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    id: web::Path<String>,
    form: Form<HashMap<String, String>>,
) -> HttpResponse {
    if !super::csrf_ok(&session, &form) {
        return csrf_refused();
    }
    let Ok(id) = id.parse::<StreamId>() else {
        return not_found();
    };
    let scope = ctx.store.scope(who.tenant.id);
    let stream = match scope.streams().get_for_receiver(id, who.receiver_id).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return not_found(),
        Err(e) => {
            return PageError::unavailable(Home::Portal, "a stream could not be read", e).into();
        }
    };
    let uri = form.get("event_type").map_or("", String::as_str);
    let message = match make_test(&ctx, &who, &stream, uri).await {
        Ok(Some(jti)) => Flash::ok(format!("Test event sent (jti {jti}).")),
        Ok(None) => {
            Flash::problem("This stream does not take that event type; choose one of its types.")
        }
        Err(()) => return unavailable(),
    };
    message.keep(&session, "stream_message");
    see_other(&format!("/portal/streams/{id}"))
}

/// Logs why a test event could not be made (the page says only that it was not).
fn failed(e: &dyn std::fmt::Display) {
    tracing::warn!(error = %e, "portal: a test event could not be made");
}

async fn make_test(
    ctx: &AppContext,
    who: &Who,
    stream: &sethub_store::Stream,
    uri: &str,
) -> Result<Option<String>, ()> {
    if stream.status == StreamStatus::Disabled || !stream.events_delivered.iter().any(|e| e == uri)
    {
        return Ok(None);
    }
    let Some(t) = events::registry().get(uri) else {
        return Ok(None);
    };
    let key = sethub_app::keys::active_signing_key(ctx, who.tenant.id)
        .await
        .map_err(|e| failed(&e))?;
    let issuer = sethub_app::admin::issuer(ctx, &who.tenant.slug);
    let subject = Subject::parse(
        &json!({"format": "email", "email": "test-user@example.com"}),
        sethub_domain::subject::ParseMode::Receiving,
    )
    .map_err(|e| failed(&e))?;
    let event = sethub_bus::AcceptedEvent {
        event_id: sethub_domain::EventId::new(),
        received_at: chrono::Utc::now(),
        sub_id: Some(subject.to_json()),
        events: [(uri.to_owned(), t.example_payload())]
            .into_iter()
            .collect(),
        toe: None,
        streams_version: None,
        txn: Some(format!("test-{}", DeliveryId::new().as_uuid().simple())),
        maybe_announced: false,
    };
    let picked = sethub_app::sets::delivered_events(&event, stream)
        .ok_or_else(|| failed(&"the stream takes none of the event's types"))?;
    let signed = sethub_app::sets::event_set(&key, &issuer, stream, &event, &subject, picked)
        .map_err(|e| failed(&e))?;
    let state = match (stream.status, stream.delivery_method) {
        (StreamStatus::Paused, _) => DeliveryState::Held,
        (_, DeliveryMethod::Push) => DeliveryState::Pending,
        (_, DeliveryMethod::Poll) => DeliveryState::Queued,
    };
    let new = NewDelivery {
        id: DeliveryId::new(),
        stream_id: stream.id,
        event_id: None,
        kind: DeliveryKind::Event,
        jti: signed.jti.clone(),
        set_token: signed.token,
        state,
        next_attempt_at: (state == DeliveryState::Pending).then(chrono::Utc::now),
    };
    ctx.store
        .scope(who.tenant.id)
        .deliveries()
        .insert_many(&[new])
        .await
        .map_err(|e| failed(&e))?;
    if state != DeliveryState::Held {
        sethub_app::recovery::announce(ctx, who.tenant.id, stream)
            .await
            .map_err(|e| failed(&e))?;
    }
    Ok(Some(signed.jti))
}
