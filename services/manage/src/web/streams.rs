//! `/console/streams`: the tenant's streams with their deliveries counted by state, and a
//! stream's configuration, status (pause, disable, enable: `sethub_app::ssf::control`, so the
//! receiver is told with a stream-updated SET), deletion (after a yes) and dead letters with
//! a redrive (the tenant API's redrive, audited the same way).

use std::collections::{HashMap, HashSet};

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::deliveries::{LogQuery, failing_streams, stream_health};
use sethub_app::ssf::SsfError;
use sethub_app::ssf::control;
use sethub_domain::delivery::DeliverySettings;
use sethub_domain::{DeliveryMethod, StreamId, StreamStatus};
use sethub_store::{DeliveryState, StoreError, Stream};

use super::Home;
use super::PageError;
use super::confirm::{self, Ask};
use super::flash::Flash;
use super::session::{Change, Who};
use super::{error_page, page, see_other, unavailable};
use crate::ui::{HealthView, LogView};
use sethub_app::recovery::{Redrive, more_to_redrive};

struct Row {
    id: String,
    /// The stream's name (its description), else its id.
    name: String,
    receiver: String,
    method: &'static str,
    status: String,
    counts: String,
    /// The latest push failed, or dead letters wait.
    warn: bool,
}

#[derive(Template)]
#[template(path = "streams.html")]
struct StreamsPage {
    who: Who,
    active: &'static str,
    streams: Vec<Row>,
    message: Option<Flash>,
}

struct Dead {
    id: String,
    event: String,
    attempts: u32,
    error: String,
    created_at: String,
}

#[derive(Template)]
#[template(path = "stream.html")]
struct StreamPage {
    who: Who,
    active: &'static str,
    id: String,
    d: Details,
    /// Why the stream is failing, when its latest push failed.
    failing: Option<String>,
    receiver: String,
    method: &'static str,
    status: String,
    counts: String,
    dead: Vec<Dead>,
    /// The last dead delivery shown when there are older ones.
    older: Option<String>,
    message: Option<super::flash::Flash>,
    rate: String,
    rate_fields: Vec<super::form::Field>,
    h: HealthView,
    log: LogView,
}

fn rate_field(value: &str, error: Option<String>) -> super::form::Field {
    let mut f = super::form::Field::new("max_rate_per_second", "Pushes per second at most", "text")
        .value(value);
    f.error = error;
    f
}

fn current_rate(s: &Stream) -> String {
    s.delivery_settings
        .as_ref()
        .and_then(|v| v.get("max_rate_per_second"))
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Dead letters shown per page.
const DEAD_PAGE: u64 = 100;

/// What the stream page says of a stream besides its deliveries.
struct Details {
    name: String,
    endpoint: String,
    events: String,
    reason: String,
}

pub(crate) fn name_of(s: &Stream) -> String {
    sethub_app::streams::name_of(s)
}

fn details(s: &Stream) -> Details {
    Details {
        name: name_of(s),
        endpoint: s.endpoint_url.clone().unwrap_or_default(),
        events: s
            .events_delivered
            .iter()
            .map(|e| e.rsplit('/').next().unwrap_or(e))
            .collect::<Vec<_>>()
            .join(", "),
        reason: s.status_reason.clone().unwrap_or_default(),
    }
}

fn method(s: &Stream) -> &'static str {
    match s.delivery_method {
        DeliveryMethod::Push => "push",
        DeliveryMethod::Poll => "poll",
    }
}

fn counts(c: &[(DeliveryState, u64)]) -> String {
    if c.is_empty() {
        return "none yet".into();
    }
    c.iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /console/streams`.
pub async fn list(ctx: web::Data<AppContext>, who: Who, session: Session) -> HttpResponse {
    let scope = ctx.store.scope(who.tenant);
    let loaded = async {
        let streams = scope.streams().list().await?;
        let receivers = scope.receivers().list().await?;
        let all = scope.deliveries().count_by_stream_and_state().await?;
        let dead: HashSet<StreamId> = all
            .iter()
            .filter(|(_, st, n)| *st == DeliveryState::Dead && *n > 0)
            .map(|(id, _, _)| *id)
            .collect();
        let ids: Vec<StreamId> = streams.iter().map(|s| s.id).collect();
        let warn = failing_streams(&ctx, who.tenant, &ids, &dead).await?;
        let mut rows = Vec::new();
        for s in &streams {
            let c: Vec<(DeliveryState, u64)> = all
                .iter()
                .filter(|(id, _, _)| *id == s.id)
                .map(|(_, st, n)| (*st, *n))
                .collect();
            rows.push(Row {
                id: s.id.to_string(),
                name: name_of(s),
                receiver: receivers
                    .iter()
                    .find(|r| r.id == s.receiver_id)
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
                method: method(s),
                status: s.status.as_str().to_owned(),
                counts: counts(&c),
                warn: warn.contains(&s.id),
            });
        }
        Ok::<_, StoreError>(rows)
    }
    .await;
    let Ok(streams) = loaded else {
        return unavailable();
    };
    page(
        StatusCode::OK,
        &StreamsPage {
            who,
            active: "streams",
            streams,
            message: Flash::take(&session, "streams_message"),
        },
    )
}

fn no_such_stream() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "No such stream",
        "This stream does not exist in your organisation.",
    )
}

/// The tenant's stream `raw`; else the "No such stream" page or the 503 page.
async fn stream_of(ctx: &AppContext, who: &Who, raw: &str) -> Result<Stream, HttpResponse> {
    let id = raw.parse::<StreamId>().map_err(|_| no_such_stream())?;
    match ctx.store.scope(who.tenant).streams().get(id).await {
        Ok(s) => Ok(s),
        Err(StoreError::NotFound) => Err(no_such_stream()),
        Err(e) => {
            Err(PageError::unavailable(Home::Console, "a stream could not be read", e).into())
        }
    }
}

/// `GET /console/streams/{id}`.
pub async fn show(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    id: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let stream = match stream_of(&ctx, &who, &id).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let rate = current_rate(&stream);
    let message = Flash::take(&session, "stream_message");
    render(
        &ctx,
        who,
        &stream,
        &query,
        StatusCode::OK,
        vec![rate_field(&rate, None)],
        message,
    )
    .await
}

/// `GET /console/streams/{id}/live`: the stream page's health and delivery log as JSON, for
/// its script to update the open page ([`crate::ui::live`]).
pub async fn live(
    ctx: web::Data<AppContext>,
    who: Who,
    id: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let stream = match stream_of(&ctx, &who, &id).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let id = stream.id;
    let base = format!("/console/streams/{id}");
    crate::ui::live(&ctx, Home::Console, who.tenant, &stream, base, &query).await
}

/// The stream page: its configuration, health, delivery log (filtered by `query`) and dead
/// letters (paged by `before`).
async fn render(
    ctx: &AppContext,
    who: Who,
    stream: &Stream,
    query: &HashMap<String, String>,
    status: StatusCode,
    rate_fields: Vec<super::form::Field>,
    message: Option<Flash>,
) -> HttpResponse {
    let id = stream.id;
    let scope = ctx.store.scope(who.tenant);
    let log_query = LogQuery::parse(query);
    let loaded = async {
        Ok::<_, StoreError>((
            scope.receivers().get(stream.receiver_id).await?,
            scope.deliveries().count_by_state(id).await?,
            stream_health(ctx, who.tenant, stream).await?,
            log_query
                .page(ctx, who.tenant, id, crate::ui::LOG_PAGE)
                .await?,
            scope
                .deliveries()
                .list_for_stream(
                    id,
                    Some(DeliveryState::Dead),
                    query
                        .get("dead_before")
                        .and_then(|b| b.parse::<sethub_domain::DeliveryId>().ok()),
                    DEAD_PAGE,
                )
                .await?,
        ))
    }
    .await;
    let (receiver, c, health, (rows, next), dead) = match loaded {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(error = %e, "a stream's page could not be loaded");
            return unavailable();
        }
    };
    let older = (dead.len() as u64 == DEAD_PAGE)
        .then(|| dead.last().map(|d| d.id.to_string()))
        .flatten();
    let base = format!("/console/streams/{id}");
    page(
        status,
        &StreamPage {
            older,
            rate_fields,
            rate: current_rate(stream),
            message,
            who,
            active: "streams",
            id: id.to_string(),
            d: details(stream),
            failing: health.failing.clone(),
            h: health.into(),
            log: LogView::new(base, &log_query, rows, next),
            receiver: receiver.name,
            method: method(stream),
            status: stream.status.as_str().to_owned(),
            counts: counts(&c),
            dead: dead
                .into_iter()
                .map(|d| Dead {
                    id: d.id.to_string(),
                    event: d.event_id.map(|e| e.to_string()).unwrap_or_default(),
                    attempts: d.attempts,
                    error: sethub_app::deliveries::words::outcome(None, d.last_error.as_deref()),
                    created_at: d.created_at.to_rfc3339(),
                })
                .collect(),
        },
    )
}

/// `POST /console/streams/{id}/status`: `status` (`enabled`, `paused`, `disabled`) and an
/// optional `reason`, as the tenant: the receiver is told with a stream-updated SET.
pub async fn set_status(
    ctx: web::Data<AppContext>,
    session: Session,
    id: web::Path<String>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    // Another tenant's stream is not found before anything is asked.
    let id = match stream_of(&ctx, &who, &id).await {
        Ok(s) => s.id,
        Err(answer) => return answer,
    };
    let Ok(status) = form
        .get("status")
        .map_or("", String::as_str)
        .parse::<StreamStatus>()
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The stream was not changed",
            "Choose enabled, paused or disabled.",
        );
    };
    let reason = form
        .get("reason")
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if status == StreamStatus::Disabled && !confirm::confirmed(form.iter()) {
        let action = format!("/console/streams/{id}/status");
        return confirm::ask(
            Home::Console,
            &action,
            form.iter(),
            Ask {
                question: "Disable this stream?".into(),
                detail: "It stops delivering until you enable it again, and its receiver \
                         cannot enable it; the receiver is told with a stream-updated SET.",
                yes: "Yes, disable it",
                back: format!("/console/streams/{id}"),
            },
        );
    }
    match control::set_status_as_tenant(&ctx, who.tenant, id, status, reason).await {
        Ok(after) => {
            let text = format!(
                "The stream is {}; its receiver is told.",
                after.status.as_str()
            );
            Flash::ok(text).keep(&session, "stream_message");
            see_other(&format!("/console/streams/{id}"))
        }
        Err(SsfError::NotFound) => no_such_stream(),
        Err(SsfError::Unavailable(_)) => unavailable(),
        Err(e) => {
            Flash::problem(format!("Not changed: {e}")).keep(&session, "stream_message");
            see_other(&format!("/console/streams/{id}"))
        }
    }
}

/// `POST /console/streams/{id}/redrive`: the dead deliveries chosen, or every one.
pub async fn redrive(
    ctx: web::Data<AppContext>,
    session: Session,
    id: web::Path<String>,
    Change { who, form }: Change<Vec<(String, String)>>,
) -> HttpResponse {
    let single: HashMap<String, String> = form.iter().cloned().collect();
    // Another tenant's stream is not found before anything is asked.
    let id = match stream_of(&ctx, &who, &id).await {
        Ok(s) => s.id,
        Err(answer) => return answer,
    };
    // `which=chosen`: the dead letters ticked (`delivery`, repeated); else every one.
    let chosen = (single.get("which").map(String::as_str) == Some("chosen")).then(|| {
        form.iter()
            .filter(|(k, _)| k == "delivery")
            .filter_map(|(_, v)| v.parse::<sethub_domain::DeliveryId>().ok())
            .collect::<Vec<_>>()
    });
    if chosen.as_ref().is_some_and(Vec::is_empty) {
        Flash::problem("Nothing was redriven: tick the dead letters to send again.")
            .keep(&session, "stream_message");
        return see_other(&format!("/console/streams/{id}"));
    }
    if !confirm::confirmed(form.iter().map(|(k, v)| (k, v))) {
        let action = format!("/console/streams/{id}/redrive");
        let question = match &chosen {
            Some(c) if c.len() == 1 => "Send the chosen dead letter again?".to_owned(),
            Some(c) => format!("Send the {} chosen dead letters again?", c.len()),
            None => "Send every dead letter of this stream again?".to_owned(),
        };
        return confirm::ask(
            Home::Console,
            &action,
            form.iter().map(|(k, v)| (k, v)),
            Ask {
                question,
                detail: "Each is pushed (or offered to the poller) again now, the same SET with \
                         the same jti; the redrive is written to the audit log.",
                yes: "Yes, send them again",
                back: format!("/console/streams/{id}"),
            },
        );
    }
    let which = Redrive {
        delivery_ids: chosen,
        ..Default::default()
    };
    match sethub_app::recovery::redrive(
        &ctx,
        who.tenant,
        id,
        &which,
        format!("member:{}", who.member),
    )
    .await
    {
        Ok((back, _)) => {
            let n = back.len();
            let done = match n {
                1 => "1 dead delivery redriven".to_owned(),
                n => format!("{n} dead deliveries redriven"),
            };
            let text = if more_to_redrive(&back) {
                format!("{done}; more are waiting: redrive again.")
            } else {
                format!("{done}.")
            };
            Flash::ok(text).keep(&session, "stream_message");
            see_other(&format!("/console/streams/{id}"))
        }
        Err(e) if e.is_not_found() => no_such_stream(),
        Err(e) => {
            tracing::warn!(error = %e, "redrive failed");
            unavailable()
        }
    }
}

/// `POST /console/streams/{id}/rate`: `max_rate_per_second` (empty: no limit), checked by the
/// tenant API's rules; the stream's retry schedule is kept.
pub async fn set_rate(
    ctx: web::Data<AppContext>,
    session: Session,
    id: web::Path<String>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let Ok(id) = id.parse::<StreamId>() else {
        return no_such_stream();
    };
    let scope = ctx.store.scope(who.tenant);
    let stream = match scope.streams().get(id).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return no_such_stream(),
        Err(e) => {
            return PageError::unavailable(Home::Console, "a stream could not be read", e).into();
        }
    };
    let raw = form.get("max_rate_per_second").map_or("", |v| v.trim());
    // The stream's other settings stay as stored.
    let mut settings: DeliverySettings = stream
        .delivery_settings
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    settings.max_rate_per_second = match raw {
        "" => None,
        typed => match typed.parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => return rate_refused(&ctx, who, &stream, raw, "enter a number".into()).await,
        },
    };
    if let Err((_, why)) = settings.validate() {
        return rate_refused(&ctx, who, &stream, raw, why).await;
    }
    if scope
        .streams()
        .set_delivery_settings(id, settings.stored())
        .await
        .is_err()
    {
        return unavailable();
    }
    Flash::ok("The rate limit is saved.").keep(&session, "stream_message");
    see_other(&format!("/console/streams/{id}"))
}

async fn rate_refused(
    ctx: &AppContext,
    who: Who,
    stream: &Stream,
    typed: &str,
    error: String,
) -> HttpResponse {
    render(
        ctx,
        who,
        stream,
        &HashMap::new(),
        StatusCode::BAD_REQUEST,
        vec![rate_field(typed, Some(error))],
        None,
    )
    .await
}

/// `POST /console/streams/{id}/delete`: deletes the stream as the tenant, after a yes
/// (`confirmed=yes`).
pub async fn delete(
    ctx: web::Data<AppContext>,
    session: Session,
    id: web::Path<String>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let Ok(id) = id.parse::<StreamId>() else {
        return no_such_stream();
    };
    if !confirm::confirmed(form.iter()) {
        let name = match ctx.store.scope(who.tenant).streams().get(id).await {
            Ok(s) => name_of(&s),
            Err(StoreError::NotFound) => return no_such_stream(),
            Err(e) => {
                return PageError::unavailable(Home::Console, "a stream could not be read", e)
                    .into();
            }
        };
        let action = format!("/console/streams/{id}/delete");
        return confirm::ask(
            Home::Console,
            &action,
            form.iter(),
            Ask {
                question: format!("Delete the stream {name}?"),
                detail: "The stream, its subjects and its delivery log are deleted and nothing \
                         more is sent on it. Its receiver is not told: to tell it, disable the \
                         stream first. This cannot be undone.",
                yes: "Yes, delete it",
                back: format!("/console/streams/{id}"),
            },
        );
    }
    let actor = format!("member:{}", who.member);
    match control::delete_as_tenant(&ctx, who.tenant, id, actor).await {
        Ok(s) => {
            tracing::info!(tenant = %who.tenant, member = %who.member, stream = %id, "stream deleted from the console");
            Flash::ok(format!("The stream {} is deleted.", name_of(&s)))
                .keep(&session, "streams_message");
            see_other("/console/streams")
        }
        Err(SsfError::NotFound) => no_such_stream(),
        Err(e) => {
            tracing::warn!(error = %e, "console: a stream could not be deleted");
            unavailable()
        }
    }
}
