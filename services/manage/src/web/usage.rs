//! `GET /console/usage`: events accepted and SETs delivered per day over the last 30 days, in
//! total and per stream, and each quota's use against its limit (`sethub_app::usage`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::usage::{self, QuotaUse, Usage};
use sethub_domain::Quota;

use super::session::Who;
use super::{page, unavailable};

struct DayRow {
    date: String,
    label: String,
    events: u64,
    delivered: u64,
}

struct StreamRow {
    id: String,
    name: String,
    receiver: String,
    total: u64,
    /// Days with deliveries, newest first: (date, label, count).
    days: Vec<(String, String, u64)>,
}

struct QuotaRow {
    name: &'static str,
    label: &'static str,
    /// "3 of 500", or how the limit is checked when nothing stands to count.
    used: String,
    limit: u32,
    /// The share used, for the meter.
    percent: Option<u64>,
    at: String,
}

#[derive(Template)]
#[template(path = "usage.html")]
struct UsagePage {
    who: Who,
    active: &'static str,
    days_covered: usize,
    first_day: String,
    last_day: String,
    events_total: u64,
    delivered_total: u64,
    days: Vec<DayRow>,
    streams: Vec<StreamRow>,
    quotas: Vec<QuotaRow>,
}

fn label(q: Quota) -> &'static str {
    match q {
        Quota::StreamsPerTenant => "Streams",
        Quota::ReceiversPerTenant => "Receivers",
        Quota::StreamsPerReceiver => "Streams of one receiver",
        Quota::SubjectsPerStream => "Subjects of one stream",
        Quota::SubjectListItems => "Items in a list inside a subject",
        Quota::SsoStartsPerMinute => "Single sign-on starts per minute",
    }
}

fn quota_row(q: &QuotaUse) -> QuotaRow {
    let used = match (q.used, q.quota) {
        (Some(n), _) => format!("{n} of {}", q.limit),
        (None, Quota::SubjectListItems) => "checked on each subject".to_owned(),
        (None, _) => "checked each minute".to_owned(),
    };
    QuotaRow {
        name: q.quota.as_str(),
        label: label(q.quota),
        used,
        limit: q.limit,
        percent: q.percent(),
        at: q
            .at
            .clone()
            .map(|a| format!("most: {a}"))
            .unwrap_or_default(),
    }
}

fn day_label(d: chrono::NaiveDate) -> String {
    d.format("%a %-d %b %Y").to_string()
}

fn view(who: Who, u: Usage) -> UsagePage {
    let iso = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let streams = u
        .streams
        .iter()
        .map(|s| StreamRow {
            id: s.id.to_string(),
            name: s.name.clone(),
            receiver: s.receiver.clone(),
            total: s.total,
            days: u
                .days
                .iter()
                .zip(&s.delivered)
                .rev()
                .filter(|(_, n)| **n > 0)
                .map(|(d, n)| (iso(d.date), day_label(d.date), *n))
                .collect(),
        })
        .collect();
    UsagePage {
        who,
        active: "usage",
        days_covered: u.days.len(),
        first_day: u
            .days
            .first()
            .map(|d| day_label(d.date))
            .unwrap_or_default(),
        last_day: u.days.last().map(|d| day_label(d.date)).unwrap_or_default(),
        events_total: u.events_total,
        delivered_total: u.delivered_total,
        days: u
            .days
            .iter()
            .rev()
            .map(|d| DayRow {
                date: iso(d.date),
                label: day_label(d.date),
                events: d.events,
                delivered: d.delivered,
            })
            .collect(),
        streams,
        quotas: u.quotas.iter().map(quota_row).collect(),
    }
}

/// `GET /console/usage`.
pub async fn show(ctx: web::Data<AppContext>, who: Who) -> HttpResponse {
    match usage::of_tenant(&ctx, who.tenant, chrono::Utc::now(), usage::Days::DEFAULT).await {
        Ok(u) => page(StatusCode::OK, &view(who, u)),
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot read the usage");
            unavailable()
        }
    }
}
