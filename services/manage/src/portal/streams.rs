//! The receiver's streams: list and create (`/portal`), one stream with its deliveries and
//! pause/enable (`/portal/streams/{id}`). Every stream operation is the SSF API's own
//! (`sethub_app::ssf`), called with the session's receiver and typed requests.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::deliveries::{LogQuery, failing_streams, stream_health};
use sethub_app::ssf::SsfError;
use sethub_app::ssf::control::{self, StatusUpdate, SubjectChange, VerifyRequest};
use sethub_app::ssf::streams::{self as ops, NewStream};
use sethub_app::ssf::wire::{DeliveryRequest, Method};
use sethub_domain::subject::{Subject, SubjectId};
use sethub_domain::{DeliveryMethod, StreamId, StreamStatus};
use sethub_store::{DeliveryState, StoreError};

use super::unavailable;
use super::{Who, not_found, stream_of, who};
use crate::ui::{HealthView, LogView};
use crate::web::PageError;
use crate::web::confirm::{self, Ask};
use crate::web::flash::Flash;
use crate::web::form::{EditForm, Field, Form};
use crate::web::{Home, csrf_ok, csrf_refused, page, see_other};

struct StreamRow {
    id: String,
    label: String,
    method: &'static str,
    status: String,
    events: String,
    endpoint: String,
    /// The latest push failed, or dead letters wait.
    warn: bool,
}

struct EventType {
    uri: String,
    name: String,
    checked: bool,
}

/// The event types of one vocabulary, with a "select all" box.
struct EventGroup {
    /// `caep`, `risc`, …: the ids of the group's elements.
    id: &'static str,
    title: &'static str,
    types: Vec<EventType>,
}

/// An error of the create form: the field it belongs to, its label and the problem.
struct FormError {
    field: &'static str,
    label: &'static str,
    problem: String,
}

/// The event types a stream may take, grouped by vocabulary, `chosen` ones checked.
fn event_groups(chosen: &[&str]) -> Vec<EventGroup> {
    use sethub_domain::events::Vocabulary;
    let order = [
        (Vocabulary::Caep, "caep", "CAEP: continuous access"),
        (Vocabulary::Risc, "risc", "RISC: account security"),
        (Vocabulary::Scim, "scim", "SCIM: provisioning"),
        (Vocabulary::OidcLogout, "logout", "OpenID Connect logout"),
        (Vocabulary::Ssf, "ssf", "SSF"),
    ];
    let types = super::events::supported();
    order
        .into_iter()
        .map(|(vocabulary, id, title)| EventGroup {
            id,
            title,
            types: types
                .iter()
                .filter(|t| t.vocabulary == vocabulary)
                .map(|t| EventType {
                    uri: t.uri.to_owned(),
                    name: t.name.to_owned(),
                    checked: chosen.contains(&t.uri),
                })
                .collect(),
        })
        .filter(|g| !g.types.is_empty())
        .collect()
}

fn label_of(field: &str) -> &'static str {
    match field {
        "endpoint_url" => "Push URL",
        "authorization_header" => "Authorization header",
        "events" => "Event types",
        "description" => "Name",
        _ => "Stream",
    }
}

#[derive(Template)]
#[template(path = "portal_streams.html")]
struct StreamsPage {
    who: Who,
    active: &'static str,
    streams: Vec<StreamRow>,
    method: String,
    fields: Vec<Field>,
    event_groups: Vec<EventGroup>,
    events_error: Option<String>,
    /// Every problem of the form, listed at the top of the page.
    errors: Vec<FormError>,
    message: Option<String>,
}

struct AttemptRow {
    at: String,
    status: String,
    latency_ms: u32,
    outcome: String,
    response: String,
}

#[derive(Template)]
#[template(path = "portal_stream.html")]
struct StreamPage {
    who: Who,
    active: &'static str,
    message: Option<Flash>,
    /// The stream's subjects: (subject, `removed` or `added`).
    subjects: Vec<(String, &'static str)>,
    /// The event types a test event can be sent of: (URI, name).
    test_types: Vec<(String, String)>,
    s: StreamRow,
    /// Why the stream is failing, when its latest push failed.
    failing: Option<String>,
    h: HealthView,
    log: LogView,
    attempts: Vec<AttemptRow>,
}

fn short(uri: &str) -> String {
    uri.rsplit('/').next().unwrap_or(uri).to_owned()
}

fn row(s: &sethub_store::Stream) -> StreamRow {
    StreamRow {
        id: s.id.to_string(),
        label: s.description.clone().unwrap_or_else(|| s.id.to_string()),
        method: match s.delivery_method {
            DeliveryMethod::Push => "push",
            DeliveryMethod::Poll => "poll",
        },
        status: s.status.as_str().to_owned(),
        events: s
            .events_delivered
            .iter()
            .map(|e| short(e))
            .collect::<Vec<_>>()
            .join(", "),
        endpoint: s.endpoint_url.clone().unwrap_or_default(),
        warn: false,
    }
}

fn form_fields(form: &[(String, String)]) -> Vec<Field> {
    let v = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
    };
    vec![
        Field::new("description", "Name (optional)", "text")
            .optional()
            .value(v("description")),
        Field::new("endpoint_url", "Push URL", "text")
            .hint("Where sethub POSTs your SETs (push only).")
            .value(v("endpoint_url")),
        Field::new(
            "authorization_header",
            "Authorization header (optional)",
            "text",
        )
        .optional()
        .hint("Sent with every push, e.g. \"Bearer …\".")
        .value(v("authorization_header")),
    ]
}

async fn render(
    ctx: &AppContext,
    who: Who,
    status: StatusCode,
    form: &[(String, String)],
    errors: Vec<(&'static str, String)>,
    message: Option<String>,
) -> HttpResponse {
    let Ok(streams) = ops::list(ctx, &who.caller()).await else {
        return unavailable();
    };
    let ids: Vec<StreamId> = streams.iter().map(|s| s.id).collect();
    let dead = match ctx
        .store
        .scope(who.tenant.id)
        .deliveries()
        .count_by_stream_and_state()
        .await
    {
        Ok(all) => all
            .into_iter()
            .filter(|(id, st, n)| *st == DeliveryState::Dead && *n > 0 && ids.contains(id))
            .map(|(id, _, _)| id)
            .collect(),
        Err(e) => {
            return PageError::unavailable(
                Home::Portal,
                "the dead letters could not be counted",
                e,
            )
            .into();
        }
    };
    let Ok(warn) = failing_streams(ctx, who.tenant.id, &ids, &dead).await else {
        return unavailable();
    };
    let chosen: Vec<&str> = form
        .iter()
        .filter(|(n, _)| n == "event")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut fields = form_fields(form);
    let mut events_error = None;
    let mut listed = Vec::new();
    for (field, e) in errors {
        if field == "events" {
            events_error = Some(e.clone());
        } else if let Some(f) = fields.iter_mut().find(|f| f.name == field) {
            f.error = Some(e.clone());
        }
        listed.push(FormError {
            field,
            label: label_of(field),
            problem: e,
        });
    }
    let method = form
        .iter()
        .find(|(n, _)| n == "method")
        .map_or("push", |(_, v)| v.as_str())
        .to_owned();
    // Optional fields are not `required` for the browser: only the URL, for push.
    page(
        status,
        &StreamsPage {
            who,
            active: "streams",
            streams: streams
                .iter()
                .map(|s| StreamRow {
                    warn: warn.contains(&s.id),
                    ..row(s)
                })
                .collect(),
            method,
            fields,
            event_groups: event_groups(&chosen),
            events_error,
            errors: listed,
            message,
        },
    )
}

/// `GET /portal`.
pub async fn list(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    match who(&ctx, &req).await {
        Ok(w) => render(&ctx, w, StatusCode::OK, &[], Vec::new(), None).await,
        Err(answer) => answer,
    }
}

/// Maps an SSF API refusal (`field: problem`) to the form's field.
fn field_of(e: &SsfError) -> Option<(&'static str, String)> {
    let (field, problem) = e.field()?;
    let name = match field {
        "delivery.endpoint_url" | "delivery" => "endpoint_url",
        "delivery.authorization_header" => "authorization_header",
        "events_requested" => "events",
        "description" => "description",
        _ => return None,
    };
    Some((name, problem.to_owned()))
}

/// `POST /portal/streams`: `method`, `endpoint_url`, `authorization_header`, `description`,
/// `event` (repeated).
pub async fn create(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    form: EditForm<Vec<(String, String)>>,
) -> HttpResponse {
    let nul = form.nul_error(&["endpoint_url", "authorization_header", "description"]);
    let form = form.into_inner();
    let v = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if !csrf_ok(&session, v("csrf").as_ref()) {
        return csrf_refused();
    }
    let events: Vec<&str> = form
        .iter()
        .filter(|(n, _)| n == "event")
        .map(|(_, v)| v.as_str())
        .collect();
    // Every problem the form can be told of at once; the stream API checks them again.
    let mut errors = Vec::new();
    match nul {
        Ok(None) => {}
        Ok(Some(e)) => errors.push((e.field, e.message)),
        Err(refused) => return refused.into(),
    }
    if v("method").as_deref() != Some("poll") {
        let url = v("endpoint_url").unwrap_or_default();
        if let Err(e) = sethub_app::egress::policy(&ctx)
            .check_url_resolving(&url)
            .await
        {
            errors.push(("endpoint_url", e.to_string()));
        }
    }
    if events.is_empty() {
        errors.push(("events", "choose at least one event type".to_owned()));
    }
    if !errors.is_empty() {
        return render(&ctx, who, StatusCode::BAD_REQUEST, &form, errors, None).await;
    }
    let delivery = match v("method").as_deref() {
        Some("poll") => None,
        _ => Some(DeliveryRequest {
            method: Method::Push,
            endpoint_url: Some(v("endpoint_url").unwrap_or_default()),
            authorization_header: v("authorization_header"),
        }),
    };
    let new = NewStream {
        delivery,
        events_requested: Some(events.iter().map(|e| (*e).to_owned()).collect()),
        description: v("description"),
    };
    match ops::create(&ctx, &who.caller(), new).await {
        Ok(created) => see_other(&format!("/portal/streams/{}", created.id)),
        Err(e) => match field_of(&e) {
            Some(err) => render(&ctx, who, StatusCode::BAD_REQUEST, &form, vec![err], None).await,
            None => {
                let status = actix_web::ResponseError::status_code(&e);
                render(&ctx, who, status, &form, Vec::new(), Some(e.to_string())).await
            }
        },
    }
}

fn parse_id(raw: &str) -> Option<StreamId> {
    raw.parse().ok()
}

/// `GET /portal/streams/{id}/live`: the stream page's health and delivery log as JSON, for
/// its script to update the open page ([`crate::ui::live`]).
pub async fn live(
    ctx: web::Data<AppContext>,
    who: Who,
    id: web::Path<String>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let Some(id) = parse_id(&id) else {
        return not_found();
    };
    let stream = match stream_of(&ctx, &who, id, not_found).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let base = format!("/portal/streams/{id}");
    crate::ui::live(&ctx, Home::Portal, who.tenant.id, &stream, base, &query).await
}

/// `GET /portal/streams/{id}`.
pub async fn show(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    id: web::Path<String>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let Some(id) = parse_id(&id) else {
        return not_found();
    };
    let scope = ctx.store.scope(who.tenant.id);
    let stream = match stream_of(&ctx, &who, id, not_found).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let log_query = LogQuery::parse(&query);
    let loaded = async {
        Ok::<_, StoreError>((
            log_query
                .page(&ctx, who.tenant.id, id, crate::ui::LOG_PAGE)
                .await?,
            stream_health(&ctx, who.tenant.id, &stream).await?,
            scope.deliveries().attempts_for_stream(id, 100).await?,
            scope.streams().subjects(id).await?,
        ))
    }
    .await;
    let ((rows, next), health, attempts, subjects) = match loaded {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(error = %e, "portal: a stream's page could not be loaded");
            return unavailable();
        }
    };
    page(
        StatusCode::OK,
        &StreamPage {
            who,
            active: "streams",
            message: Flash::take(&session, "stream_message"),
            subjects: subjects
                .into_iter()
                .map(|s| {
                    (
                        crate::web::subject_text(Some(&s.subject)),
                        if s.added { "added" } else { "removed" },
                    )
                })
                .collect(),
            test_types: super::events::supported()
                .into_iter()
                .filter(|t| stream.events_delivered.iter().any(|e| e == t.uri))
                .map(|t| (t.uri.to_owned(), t.name.to_owned()))
                .collect(),
            s: row(&stream),
            failing: health.failing.clone(),
            h: health.into(),
            log: LogView::new(format!("/portal/streams/{id}"), &log_query, rows, next),
            attempts: attempts
                .into_iter()
                .map(|a| AttemptRow {
                    at: a.attempted_at.to_rfc3339(),
                    status: a
                        .status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                    latency_ms: a.latency_ms,
                    outcome: a.outcome,
                    response: match a.response_excerpt {
                        Some(r) => r,
                        None => sethub_app::deliveries::words::outcome(None, a.error.as_deref()),
                    },
                })
                .collect(),
        },
    )
}

/// `POST /portal/streams/{id}/status`: `status` (`enabled`, `paused`).
pub async fn set_status(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    id: web::Path<String>,
    form: Form<Vec<(String, String)>>,
) -> HttpResponse {
    let v = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if !csrf_ok(&session, v("csrf").as_ref()) {
        return csrf_refused();
    }
    let Some(id) = parse_id(&id) else {
        return not_found();
    };
    // Another's stream is not found before anything is asked or done: a receiver is never
    // asked to confirm an action on a stream that is not its own.
    if let Err(answer) = stream_of(&ctx, &who, id, not_found).await {
        return answer;
    }
    let Ok(status) = v("status").unwrap_or_default().parse::<StreamStatus>() else {
        return super::error_page(
            StatusCode::BAD_REQUEST,
            "The stream was not changed",
            "Choose enabled or paused.",
        );
    };
    if status != StreamStatus::Enabled && !confirm::confirmed(form.iter().map(|(k, v)| (k, v))) {
        return confirm::ask(
            Home::Portal,
            &format!("/portal/streams/{id}/status"),
            form.iter().map(|(k, v)| (k, v)),
            Ask {
                question: format!(
                    "{} this stream?",
                    if status == StreamStatus::Paused {
                        "Pause"
                    } else {
                        "Disable"
                    }
                ),
                detail: if status == StreamStatus::Paused {
                    "Nothing is sent to you while it is paused; its SETs are kept and sent \
                     when you enable it again."
                } else {
                    "Nothing is sent to you while it is disabled, and its SETs are not kept."
                },
                yes: if status == StreamStatus::Paused {
                    "Yes, pause it"
                } else {
                    "Yes, disable it"
                },
                back: format!("/portal/streams/{id}"),
            },
        );
    }
    let change = StatusUpdate {
        stream_id: id,
        status,
        reason: None,
    };
    match control::set_status(&ctx, &who.caller(), change).await {
        Ok(_) => see_other(&format!("/portal/streams/{id}")),
        Err(SsfError::NotFound) => not_found(),
        Err(e) => super::error_page(
            actix_web::ResponseError::status_code(&e),
            "The stream was not changed",
            e.to_string(),
        ),
    }
}

/// `POST /portal/streams/{id}/verify`: asks for a verification SET (SSF §8), through the
/// SSF handler (its minimum interval applies).
pub async fn verify(
    ctx: web::Data<AppContext>,
    who: Who,
    _req: HttpRequest,
    session: Session,
    id: web::Path<String>,
    form: Form<Vec<(String, String)>>,
) -> HttpResponse {
    let csrf = form
        .iter()
        .find(|(n, _)| n == "csrf")
        .map(|(_, v)| v.clone());
    if !csrf_ok(&session, csrf.as_ref()) {
        return csrf_refused();
    }
    let Some(id) = parse_id(&id) else {
        return not_found();
    };
    let state = format!("portal-{}", chrono::Utc::now().timestamp_millis());
    let req = VerifyRequest {
        stream_id: id,
        state: Some(state.clone()),
    };
    let message = match control::verify(&ctx, &who.caller(), req).await {
        Ok(_) => Flash::ok(format!(
            "Verification requested (state {state}): its SET arrives like any other."
        )),
        Err(SsfError::NotFound) => return not_found(),
        Err(SsfError::TooSoon(secs)) => Flash::problem(format!(
            "Verification was requested a moment ago; try again in {secs} s."
        )),
        Err(e) => Flash::problem(e.to_string()),
    };
    message.keep(&session, "stream_message");
    see_other(&format!("/portal/streams/{id}"))
}

/// `POST /portal/streams/{id}/subjects`: `format` (`email`, `phone_number`, `opaque`,
/// `account`), `value`, `action` (`add`, `remove`), through the SSF subjects handlers.
pub async fn subjects(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    id: web::Path<String>,
    form: Form<Vec<(String, String)>>,
) -> HttpResponse {
    let v = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
    };
    if !csrf_ok(&session, v("csrf").as_ref()) {
        return csrf_refused();
    }
    let Some(id) = parse_id(&id) else {
        return not_found();
    };
    // Another's stream is not found before anything is asked or done: a receiver is never
    // asked to confirm an action on a stream that is not its own.
    if let Err(answer) = stream_of(&ctx, &who, id, not_found).await {
        return answer;
    }
    let value = v("value").unwrap_or_default();
    let id_of = match v("format").as_deref().unwrap_or("email") {
        "phone_number" => SubjectId::PhoneNumber {
            phone_number: value.clone(),
        },
        "opaque" => SubjectId::Opaque { id: value.clone() },
        "account" => SubjectId::Account { uri: value.clone() },
        _ => SubjectId::Email {
            email: value.clone(),
        },
    };
    let subject = Subject::Simple(id_of);
    let add = v("action").as_deref() == Some("add");
    let valid = subject.validate();
    if !add && valid.is_ok() && !confirm::confirmed(form.iter().map(|(k, v)| (k, v))) {
        return confirm::ask(
            Home::Portal,
            &format!("/portal/streams/{id}/subjects"),
            form.iter().map(|(k, v)| (k, v)),
            Ask {
                question: format!("Stop sending events about {value}?"),
                detail: "Events about this subject are no longer sent to this stream until you \
                         add it back.",
                yes: "Yes, remove it",
                back: format!("/portal/streams/{id}"),
            },
        );
    }
    let result = match valid {
        Ok(()) => {
            let change = SubjectChange {
                stream_id: id,
                subject,
                verified: true,
                added: add,
            };
            control::change_subject(&ctx, &who.caller(), change).await
        }
        Err(e) => Err(SsfError::bad(&e.path, &e.problem)),
    };
    let email = value;
    let message = match result {
        Ok(_) if add => Flash::ok(format!("{email} is sent again.")),
        Ok(_) => Flash::ok(format!("{email} is no longer sent to this stream.")),
        Err(SsfError::NotFound) => return not_found(),
        Err(e) => Flash::problem(format!("Not changed: {e}")),
    };
    message.keep(&session, "stream_message");
    see_other(&format!("/portal/streams/{id}"))
}
