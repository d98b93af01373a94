//! `GET /console/dashboard`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_domain::StreamStatus;
use sethub_store::{DeliveryState, Stream};

use super::session::Who;
use super::{error_page, page};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    who: Who,
    active: &'static str,
    first_key: Option<String>,
    issuer: String,
    ingest_url: String,
    streams: usize,
    enabled: usize,
    paused: usize,
    disabled: usize,
    receivers: usize,
    active_keys: usize,
    chart_width: usize,
    bars: Vec<Bar>,
    events_24h: u64,
    delivered_24h: u64,
    success_rate: String,
    poll_backlog: u64,
    /// Streams that are disabled or hold dead letters: (id, label).
    failing: Vec<(String, String)>,
}

/// One hour of the chart (SVG units; the chart is 100 high).
struct Bar {
    x: usize,
    label: String,
    events: u64,
    delivered: u64,
    ev_y: u64,
    ev_h: u64,
    dl_y: u64,
    dl_h: u64,
}

fn bars(events: &[(i64, u64)], delivered: &[(i64, u64)], now_hour: i64) -> Vec<Bar> {
    let at = |v: &[(i64, u64)], h: i64| v.iter().find(|(x, _)| *x == h).map_or(0, |(_, n)| *n);
    let max = (now_hour - 23..=now_hour)
        .flat_map(|h| [at(events, h), at(delivered, h)])
        .max()
        .unwrap_or(0)
        .max(1);
    (now_hour - 23..=now_hour)
        .enumerate()
        .map(|(i, h)| {
            let (e, d) = (at(events, h), at(delivered, h));
            let scale = |n: u64| n * 100 / max;
            Bar {
                x: i * 20 + 2,
                label: chrono::DateTime::from_timestamp(h * 3600, 0)
                    .map(|t| t.format("%H:00 UTC").to_string())
                    .unwrap_or_default(),
                events: e,
                delivered: d,
                ev_y: 110 - scale(e),
                ev_h: scale(e),
                dl_y: 110 - scale(d),
                dl_h: scale(d),
            }
        })
        .collect()
}

pub async fn dashboard(ctx: web::Data<AppContext>, who: Who, session: Session) -> HttpResponse {
    let scope = ctx.store.scope(who.tenant);
    let since = chrono::Utc::now() - chrono::Duration::hours(24);
    let loaded = async {
        Ok::<_, sethub_store::StoreError>((
            scope.streams().list().await?,
            scope.receivers().list().await?,
            scope.api_keys().list().await?,
            scope.deliveries().count_by_stream_and_state().await?,
            scope.events().count_by_hour(since).await?,
            scope.deliveries().delivered_by_hour(since).await?,
        ))
    }
    .await;
    let (streams, receivers, keys, counts, events_h, delivered_h) = match loaded {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "console: the store cannot answer");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "sethub is unavailable",
                "The database did not answer. Try again in a moment.",
            );
        }
    };
    // The first API key is shown once, right after sign-up.
    let first_key = session
        .remove_as::<String>("first_key")
        .and_then(Result::ok);
    let count = |s: StreamStatus| streams.iter().filter(|x| x.status == s).count();
    // Deliveries in `state`, of the streams `keep` accepts.
    let total = |state: DeliveryState, keep: &dyn Fn(&Stream) -> bool| -> u64 {
        counts
            .iter()
            .filter(|(id, s, _)| *s == state && streams.iter().any(|x| x.id == *id && keep(x)))
            .map(|(_, _, n)| n)
            .sum()
    };
    let (ok, dead) = (
        total(DeliveryState::Delivered, &|_| true),
        total(DeliveryState::Dead, &|_| true),
    );
    let success_rate = if ok + dead == 0 {
        "no deliveries yet".to_owned()
    } else {
        format!("{:.1} %", ok as f64 * 100.0 / (ok + dead) as f64)
    };
    let poll_backlog = total(DeliveryState::Queued, &|s| {
        s.delivery_method == sethub_domain::DeliveryMethod::Poll
    });
    // Disabled streams, and those whose latest push failed or that hold dead letters.
    let dead: std::collections::HashSet<sethub_domain::StreamId> = counts
        .iter()
        .filter(|(_, st, n)| *st == DeliveryState::Dead && *n > 0)
        .map(|(id, _, _)| *id)
        .collect();
    let ids: Vec<_> = streams.iter().map(|s| s.id).collect();
    let warn = match sethub_app::deliveries::failing_streams(&ctx, who.tenant, &ids, &dead).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "console: the store cannot answer");
            return super::unavailable();
        }
    };
    let failing = streams
        .iter()
        .filter(|s| s.status == StreamStatus::Disabled || warn.contains(&s.id))
        .map(|s| {
            (
                s.id.to_string(),
                s.description.clone().unwrap_or_else(|| s.id.to_string()),
            )
        })
        .collect();
    let now_hour = chrono::Utc::now().timestamp() / 3600;
    page(
        StatusCode::OK,
        &DashboardPage {
            issuer: sethub_app::admin::issuer(&ctx, &who.slug),
            ingest_url: ctx.url(&format!("/t/{}/events", who.slug)),
            who,
            active: "dashboard",
            first_key,
            streams: streams.len(),
            enabled: count(StreamStatus::Enabled),
            paused: count(StreamStatus::Paused),
            disabled: count(StreamStatus::Disabled),
            receivers: receivers.len(),
            active_keys: keys.iter().filter(|k| k.revoked_at.is_none()).count(),
            chart_width: 24 * 20 + 4,
            bars: bars(&events_h, &delivered_h, now_hour),
            events_24h: events_h.iter().map(|(_, n)| n).sum(),
            delivered_24h: delivered_h.iter().map(|(_, n)| n).sum(),
            success_rate,
            poll_backlog,
            failing,
        },
    )
}
