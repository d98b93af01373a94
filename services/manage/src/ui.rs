//! What the console and the portal both render of deliveries: a stream's health, a filtered
//! delivery log and one delivery's page, as template values made from the typed results of
//! `sethub_app::deliveries`. Each surface keeps its own page structs (its header and menu);
//! the partial templates `_health.html`, `_log.html` and `_delivery.html` take these values.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use sethub_app::AppContext;
use sethub_app::deliveries::words;
use sethub_app::deliveries::{self, DeliveryError};
use sethub_app::deliveries::{Breaker, PollHealth};
use sethub_app::deliveries::{DecodedSet, DeliveryDetail, LogQuery, Slot, StreamHealth, WINDOWS};
use sethub_domain::{DeliveryId, StreamId, TenantId};
use sethub_store::{Delivery, DeliveryState};

use crate::web::flash::Flash;
use crate::web::{Home, error_page_of, unavailable_of};

/// A stream's health, as `_health.html` shows it.
pub struct HealthView {
    pub success_rate: String,
    pub delivered: u64,
    pub failed: u64,
    pub width: i64,
    pub height: i64,
    pub points: String,
    pub slots: Vec<Slot>,
    pub failing: Option<String>,
    /// The latest failure in words, and when (RFC 3339).
    pub last_error: Option<(String, String)>,
    pub next_retry: Option<String>,
    pub dead: u64,
    /// A push stream's breaker in words, and whether sending is paused.
    pub breaker: Option<Breaker>,
    /// A poll stream's queue and polls.
    pub poll: Option<PollHealth>,
}

impl From<StreamHealth> for HealthView {
    fn from(h: StreamHealth) -> Self {
        Self {
            success_rate: h.success_rate,
            delivered: h.delivered,
            failed: h.failed,
            width: h.sparkline.width,
            height: h.sparkline.height,
            points: h.sparkline.points,
            slots: h.sparkline.slots,
            failing: h.failing,
            last_error: h.last_error.map(|(w, at)| (w, stamp(at))),
            next_retry: h.next_retry.map(stamp),
            dead: h.dead,
            breaker: h.breaker,
            poll: h.poll,
        }
    }
}

/// A time as the pages print it (the `<time>` element keeps it machine-readable too).
pub fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// One row of a delivery log.
pub struct LogRow {
    pub id: String,
    pub jti: String,
    /// The event id, or what the SET is (a verification, a stream update).
    pub event: String,
    pub state: String,
    pub attempts: u32,
    pub last: String,
    pub created_at: String,
}

/// The log's filter form and its rows, as `_log.html` shows them.
pub struct LogView {
    /// Where the filter form and the rows' links lead (`/console/streams/str_…`).
    pub base: String,
    pub state: String,
    pub window: String,
    pub q: String,
    pub states: Vec<&'static str>,
    pub windows: Vec<(&'static str, &'static str)>,
    pub filtered: bool,
    pub rows: Vec<LogRow>,
    /// The query string of the next page.
    pub next: Option<String>,
}

impl LogView {
    pub fn new(base: String, q: &LogQuery, rows: Vec<Delivery>, next: Option<String>) -> Self {
        Self {
            base,
            state: q.state.clone(),
            window: q.window.clone(),
            q: q.q.clone(),
            states: DeliveryState::ALL.iter().map(|s| s.as_str()).collect(),
            windows: WINDOWS.iter().map(|(v, l, _)| (*v, *l)).collect(),
            filtered: q.filtered(),
            rows: rows.into_iter().map(row).collect(),
            next,
        }
    }
}

/// The event a delivery carries, or what its SET is (a verification, a stream update).
fn event_of(d: &Delivery) -> String {
    match (d.event_id, d.kind) {
        (Some(e), _) => e.to_string(),
        // An event's SET without a stored event: the portal's test event.
        (None, sethub_store::DeliveryKind::Event) => "test event".to_owned(),
        (None, kind) => kind.as_str().replace('_', " "),
    }
}

fn row(d: Delivery) -> LogRow {
    LogRow {
        id: d.id.to_string(),
        event: event_of(&d),
        jti: d.jti,
        state: d.state.as_str().to_owned(),
        attempts: d.attempts,
        last: words::outcome(d.last_status, d.last_error.as_deref()),
        created_at: d.created_at.to_rfc3339(),
    }
}

/// One attempt on a delivery's page.
pub struct AttemptRow {
    pub at: String,
    pub status: String,
    pub latency_ms: u32,
    pub outcome: String,
    /// The answer's first bytes, or the transport error in words.
    pub response: String,
}

/// One delivery, as `_delivery.html` shows it.
pub struct DeliveryView {
    pub id: String,
    pub jti: String,
    pub event: String,
    pub state: String,
    pub attempts_made: u32,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last: String,
    pub set: Option<DecodedSet>,
    pub attempts: Vec<AttemptRow>,
    pub can_send_again: bool,
}

impl From<DeliveryDetail> for DeliveryView {
    fn from(x: DeliveryDetail) -> Self {
        let d = x.delivery;
        Self {
            id: d.id.to_string(),
            event: event_of(&d),
            jti: d.jti,
            state: d.state.as_str().to_owned(),
            attempts_made: d.attempts,
            created_at: stamp(d.created_at),
            next_attempt_at: (d.state == DeliveryState::Pending)
                .then_some(d.next_attempt_at)
                .flatten()
                .map(stamp),
            delivered_at: d.delivered_at.map(stamp),
            last: words::outcome(d.last_status, d.last_error.as_deref()),
            set: x.set,
            attempts: x
                .attempts
                .into_iter()
                .map(|a| AttemptRow {
                    at: stamp(a.attempted_at),
                    status: a.status.map_or_else(|| "-".into(), |s| s.to_string()),
                    latency_ms: a.latency_ms,
                    outcome: a.outcome,
                    response: match a.response_excerpt {
                        Some(r) if !r.is_empty() => r,
                        _ => words::outcome(None, a.error.as_deref()),
                    },
                })
                .collect(),
            can_send_again: x.can_send_again,
        }
    }
}

/// What a delivery's page shows besides its surface's header and menu.
pub struct DeliveryBody {
    pub d: DeliveryView,
    pub stream_name: String,
    /// The stream's page (`/console/streams/str_…`).
    pub back: String,
    pub message: Option<Flash>,
    /// Whether "send again" is offered (the console's viewers may not).
    pub can_write: bool,
    pub csrf: String,
    /// The question "send again" asks first.
    pub confirm: &'static str,
}

/// The stream and delivery ids of a delivery page's path; `None` for ids that cannot be.
pub fn delivery_path(raw: &(String, String)) -> Option<(StreamId, DeliveryId)> {
    Some((raw.0.parse().ok()?, raw.1.parse().ok()?))
}

/// Who looks at a delivery's page, and from where.
pub struct Viewer<'a> {
    pub home: Home,
    pub tenant: TenantId,
    /// The tenant's slug (its issuer, which the SET must name).
    pub slug: &'a str,
    pub can_write: bool,
    pub csrf: String,
}

/// The page for a delivery that is not on this stream (or not the viewer's).
pub fn no_such_delivery(home: Home) -> HttpResponse {
    error_page_of(
        home,
        StatusCode::NOT_FOUND,
        "No such delivery",
        "This delivery does not exist on this stream, or the stream is not yours.",
    )
}

/// Loads a delivery's page body (its stream named `stream_name`, reached at `back`), or the
/// page to answer instead (not found, unavailable).
pub async fn delivery_body(
    ctx: &AppContext,
    viewer: Viewer<'_>,
    (stream, id): (StreamId, DeliveryId),
    (stream_name, back): (String, String),
    session: &Session,
    confirm: &'static str,
) -> Result<DeliveryBody, HttpResponse> {
    match deliveries::delivery_detail(ctx, viewer.tenant, viewer.slug, stream, id).await {
        Ok(detail) => Ok(DeliveryBody {
            d: detail.into(),
            stream_name,
            back,
            message: Flash::take(session, "delivery_message"),
            can_write: viewer.can_write,
            csrf: viewer.csrf,
            confirm,
        }),
        Err(DeliveryError::NotFound) => Err(no_such_delivery(viewer.home)),
        Err(e) => {
            tracing::warn!(error = %e, "a delivery's page could not be loaded");
            Err(unavailable_of(viewer.home))
        }
    }
}

/// How many rows a stream page's delivery log shows (and its live updates re-render).
pub const LOG_PAGE: u64 = 50;

#[derive(askama::Template)]
#[template(path = "_health.html")]
struct HealthPart<'a> {
    h: &'a HealthView,
}

#[derive(askama::Template)]
#[template(path = "_log_rows.html")]
struct LogRowsPart<'a> {
    log: &'a LogView,
}

/// `GET …/streams/{id}/live` of the console and the portal, for a stream the caller may see
/// (each surface checks that first): the parts of the stream page that change by themselves —
/// its health and its delivery log (filtered and paged by `query`, as the page is) — as
/// `{"<element id>": "<its HTML>"}`, which `console.js` swaps into the open page. The page's
/// base is `base` (`/console/streams/str_…`).
pub async fn live(
    ctx: &AppContext,
    home: Home,
    tenant: TenantId,
    stream: &sethub_store::Stream,
    base: String,
    query: &std::collections::HashMap<String, String>,
) -> HttpResponse {
    use askama::Template as _;
    let log_query = LogQuery::parse(query);
    let loaded = async {
        Ok::<_, sethub_store::StoreError>((
            deliveries::stream_health(ctx, tenant, stream).await?,
            log_query.page(ctx, tenant, stream.id, LOG_PAGE).await?,
        ))
    }
    .await;
    let (health, (rows, next)) = match loaded {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(error = %e, "a stream's live parts could not be loaded");
            return unavailable_of(home);
        }
    };
    let h = HealthView::from(health);
    let log = LogView::new(base, &log_query, rows, next);
    let parts = (HealthPart { h: &h }.render()).and_then(|health| {
        Ok(serde_json::json!({
            "health": health,
            "live-deliveries": LogRowsPart { log: &log }.render()?,
        }))
    });
    match parts {
        Ok(parts) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(parts),
        Err(e) => crate::web::render_failed(&e),
    }
}
