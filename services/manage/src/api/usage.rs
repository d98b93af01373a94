//! `GET /api/v1/usage`: the tenant's usage per UTC day (events accepted, SETs delivered, in
//! total and per stream) and each quota's use against its limit, as the console's usage page
//! shows it (`sethub_app::usage`).

use actix_web::{HttpRequest, get, web::Json};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sethub_app::usage::{self, Days, QuotaUse, StreamUsage, Usage};
use sethub_http::ApiError;
use utoipa::{IntoParams, ToSchema};

use crate::api::Problem;
use crate::api::auth::AdminKey;
use crate::api::body::{context, query};
use crate::api::streams::store_error;

/// The window of a usage report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many UTC days, today included (default 30, at most 90).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 90)]
    pub days: Option<String>,
}

impl UsageQuery {
    fn days(&self) -> Result<Days, ApiError> {
        let Some(raw) = self.days.as_deref() else {
            return Ok(Days::DEFAULT);
        };
        raw.parse::<i64>()
            .map_err(|_| format!("must be a whole number of days from 1 to {}", Days::MAX))
            .and_then(Days::try_from)
            .map_err(|e| ApiError::invalid("days", e))
    }
}

/// One UTC day of the tenant's traffic.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDay {
    #[schema(example = "2026-12-07")]
    pub date: NaiveDate,
    /// Events accepted (published or received from an upstream transmitter).
    pub events: u64,
    /// SETs delivered, over every stream.
    pub delivered: u64,
}

/// One stream's delivered SETs over the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamUsageView {
    #[schema(example = "str_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f")]
    pub stream_id: String,
    /// Its description, else its id.
    pub name: String,
    /// Its receiver's name.
    pub receiver: String,
    /// SETs delivered per day, aligned with `days`.
    pub delivered: Vec<u64>,
    pub total: u64,
}

/// One quota: its limit and, where it counts something that exists, how much is used.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaUseView {
    /// `streams_per_receiver`, `receivers_per_tenant`, `streams_per_tenant`,
    /// `subjects_per_stream`, `subject_list_items`, `sso_starts_per_minute`.
    #[schema(example = "streams_per_tenant")]
    pub quota: String,
    pub limit: u32,
    /// How much is used; null for limits checked on each request (list items, sign-in
    /// starts per minute).
    pub used: Option<u64>,
    /// For the per-receiver and per-stream limits: the receiver or stream using the most.
    pub at: Option<String>,
}

/// The tenant's usage over the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    /// The first day of the window (UTC).
    pub from: NaiveDate,
    /// The last day of the window: today (UTC).
    pub to: NaiveDate,
    pub events_total: u64,
    pub delivered_total: u64,
    /// Every day of the window, oldest first.
    pub days: Vec<UsageDay>,
    /// Every stream, by name.
    pub streams: Vec<StreamUsageView>,
    pub quotas: Vec<QuotaUseView>,
}

impl From<StreamUsage> for StreamUsageView {
    fn from(s: StreamUsage) -> Self {
        Self {
            stream_id: s.id.to_string(),
            name: s.name,
            receiver: s.receiver,
            delivered: s.delivered,
            total: s.total,
        }
    }
}

impl From<QuotaUse> for QuotaUseView {
    fn from(q: QuotaUse) -> Self {
        Self {
            quota: q.quota.as_str().to_owned(),
            limit: q.limit,
            used: q.used,
            at: q.at,
        }
    }
}

impl From<Usage> for UsageView {
    fn from(u: Usage) -> Self {
        Self {
            from: u.days.first().map(|d| d.date).unwrap_or_default(),
            to: u.days.last().map(|d| d.date).unwrap_or_default(),
            events_total: u.events_total,
            delivered_total: u.delivered_total,
            days: u
                .days
                .into_iter()
                .map(|d| UsageDay {
                    date: d.date,
                    events: d.events,
                    delivered: d.delivered,
                })
                .collect(),
            streams: u.streams.into_iter().map(Into::into).collect(),
            quotas: u.quotas.into_iter().map(Into::into).collect(),
        }
    }
}

/// Events accepted and SETs delivered per UTC day, in total and per stream, and each quota's
/// use against its limit.
#[utoipa::path(
    tag = "usage",
    params(UsageQuery),
    responses(
        (status = 200, description = "The usage over the window", body = UsageView),
        (status = 400, description = "Invalid query (`days` out of range)", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/usage")]
pub async fn get_usage(req: HttpRequest, caller: AdminKey) -> Result<Json<UsageView>, ApiError> {
    let ctx = context(&req)?;
    let q: UsageQuery = query(&req)?;
    let days = q.days()?;
    let u = usage::of_tenant(&ctx, caller.tenant, chrono::Utc::now(), days)
        .await
        .map_err(store_error)?;
    Ok(Json(u.into()))
}
