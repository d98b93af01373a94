//! `/console/events`: the event log, newest first, with what became of each event's SETs.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;
use sethub_app::AppContext;
use sethub_domain::EventId;

use super::session::Who;
use super::{Home, PageError};
use super::{page, unavailable};

const PAGE: u64 = 50;

/// The widest "received in the last … hours" filter: a year. The form offers less; a larger
/// number typed into the address would overflow the date arithmetic.
const MAX_HOURS: u32 = 24 * 366;

/// The `hours` filter: absent means any time, else a whole number of hours up to a year.
fn parse_hours(raw: Option<&str>) -> Result<Option<u32>, String> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    match raw.parse::<u32>() {
        Ok(h @ 1..=MAX_HOURS) => Ok(Some(h)),
        _ => Err(format!(
            "choose a window from the list (a whole number of hours from 1 to {MAX_HOURS})"
        )),
    }
}

struct Row {
    id: String,
    types: String,
    subject: String,
    received_at: String,
    sets: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    who: Who,
    active: &'static str,
    events: Vec<Row>,
    /// The query of the next page (filters kept).
    next: Option<String>,
    ingest_url: String,
    /// (URI, name, selected)
    types: Vec<(String, String, bool)>,
    subject: String,
    /// (hours, label, selected)
    windows: Vec<(u32, &'static str, bool)>,
    /// Why the `hours` filter was refused (shown beside it).
    hours_error: Option<String>,
    filtered: bool,
}

/// A subject in a few words: its format and its identifying value.
pub(crate) fn subject_text(sub: Option<&Value>) -> String {
    let Some(Value::Object(o)) = sub else {
        return String::new();
    };
    let format = o.get("format").and_then(Value::as_str).unwrap_or("?");
    let value = ["email", "phone_number", "sub", "id", "uri", "url"]
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_str));
    match value {
        Some(v) => format!("{format}: {v}"),
        None => format.to_owned(),
    }
}

/// `GET /console/events?before=evt_…`.
pub async fn list(ctx: web::Data<AppContext>, who: Who, req: HttpRequest) -> HttpResponse {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.0)
        .unwrap_or_default();
    let get = |k: &str| query.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let before = get("before").and_then(|b| b.parse::<EventId>().ok());
    let (hours, hours_error) = match parse_hours(get("hours")) {
        Ok(h) => (h, None),
        Err(message) => (None, Some(message)),
    };
    let filter = sethub_store::EventFilter {
        event_type: get("type").map(str::to_owned),
        subject: get("subject").map(str::to_owned),
        since: hours.map(|h| chrono::Utc::now() - chrono::Duration::hours(i64::from(h))),
    };
    let scope = ctx.store.scope(who.tenant);
    // A refused filter lists nothing: the page says why beside the field.
    let (events, deliveries) = if hours_error.is_some() {
        (Vec::new(), Vec::new())
    } else {
        let Ok(events) = scope.events().recent(before, &filter, PAGE).await else {
            return unavailable();
        };
        let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
        let Ok(deliveries) = scope.deliveries().for_events(&ids).await else {
            return unavailable();
        };
        (events, deliveries)
    };
    let keep = |k: &str| {
        get(k)
            .map(|v| {
                format!(
                    "&{k}={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default()
    };
    let next = (events.len() as u64 == PAGE)
        .then(|| {
            events.last().map(|e| {
                format!(
                    "before={}{}{}{}",
                    e.id,
                    keep("type"),
                    keep("subject"),
                    keep("hours")
                )
            })
        })
        .flatten();
    let rows = events
        .into_iter()
        .map(|e| {
            let mut states: Vec<String> = deliveries
                .iter()
                .filter(|d| d.event_id == Some(e.id))
                .map(|d| d.state.as_str().to_owned())
                .collect();
            states.sort();
            let mut counted: Vec<String> = Vec::new();
            for s in &states {
                let n = states.iter().filter(|x| *x == s).count();
                let label = format!("{n} {s}");
                if !counted.contains(&label) {
                    counted.push(label);
                }
            }
            Row {
                id: e.id.to_string(),
                types: e
                    .event_types
                    .iter()
                    .map(|t| t.rsplit('/').next().unwrap_or(t).to_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
                subject: subject_text(e.sub_id.as_ref()),
                received_at: e.received_at.to_rfc3339(),
                sets: if counted.is_empty() {
                    "none (no stream takes it)".into()
                } else {
                    counted.join(", ")
                },
            }
        })
        .collect();
    let status = if hours_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page(
        status,
        &EventsPage {
            ingest_url: ctx.url(&format!("/t/{}/events", who.slug)),
            who,
            active: "events",
            events: rows,
            next,
            types: sethub_app::ssf::streams::events_supported()
                .into_iter()
                .map(|u| {
                    let selected = filter.event_type.as_deref() == Some(u.as_str());
                    let name = u.rsplit('/').next().unwrap_or(&u).to_owned();
                    (u, name, selected)
                })
                .collect(),
            subject: filter.subject.clone().unwrap_or_default(),
            windows: [
                (1, "last hour"),
                (24, "last 24 hours"),
                (168, "last 7 days"),
            ]
            .into_iter()
            .map(|(h, l)| (h, l, hours == Some(h)))
            .collect(),
            filtered: hours_error.is_some() || filter != sethub_store::EventFilter::default(),
            hours_error,
        },
    )
}

struct SetView {
    stream: String,
    state: String,
    jti: String,
    generation: i64,
    /// (when, status, latency ms, outcome, answer)
    attempts: Vec<(String, String, u32, String, String)>,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    who: Who,
    active: &'static str,
    id: String,
    types: String,
    subject: String,
    received_at: String,
    source: String,
    payload: String,
    sets: Vec<SetView>,
}

/// `GET /console/events/{id}`: the event, each SET made from it and every delivery attempt.
pub async fn show(ctx: web::Data<AppContext>, who: Who, id: web::Path<String>) -> HttpResponse {
    let missing = || {
        super::error_page(
            StatusCode::NOT_FOUND,
            "No such event",
            "This event does not exist in your organisation.",
        )
    };
    let Ok(id) = id.parse::<EventId>() else {
        return missing();
    };
    let scope = ctx.store.scope(who.tenant);
    let event = match scope.events().get(id).await {
        Ok(e) => e,
        Err(sethub_store::StoreError::NotFound) => return missing(),
        Err(e) => {
            return PageError::unavailable(Home::Console, "an event could not be read", e).into();
        }
    };
    let Ok(deliveries) = scope.deliveries().for_event(id).await else {
        return unavailable();
    };
    let mut sets = Vec::new();
    for d in deliveries {
        let Ok(attempts) = scope.deliveries().attempts_for_delivery(d.id).await else {
            return unavailable();
        };
        sets.push(SetView {
            stream: d.stream_id.to_string(),
            state: d.state.as_str().to_owned(),
            jti: d.jti,
            generation: d.generation,
            attempts: attempts
                .into_iter()
                .map(|a| {
                    (
                        a.attempted_at.to_rfc3339(),
                        a.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                        a.latency_ms,
                        a.outcome,
                        a.response_excerpt.or(a.error).unwrap_or_default(),
                    )
                })
                .collect(),
        });
    }
    page(
        StatusCode::OK,
        &EventPage {
            who,
            active: "events",
            id: id.to_string(),
            types: event.event_types.join(", "),
            subject: subject_text(event.sub_id.as_ref()),
            received_at: event.received_at.to_rfc3339(),
            source: event.source.as_str().to_owned(),
            payload: serde_json::to_string_pretty(&event.payload).unwrap_or_default(),
            sets,
        },
    )
}
