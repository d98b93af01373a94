//! A tenant's usage, as a SaaS customer checks it before the invoice: events accepted and SETs
//! delivered per UTC day over the last [`Days`] (30 unless asked), in total and per stream,
//! and each quota's use against its limit. The console's usage page and the tenant API's
//! `GET /api/v1/usage` show it; the store reads each figure with one indexed query
//! (`sethub_store::Usage`).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sethub_domain::{Quota, StreamId, TenantId};
use sethub_store::StoreError;

use crate::AppContext;

/// How many UTC days a usage report covers, today included: 1 to [`Days::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(i64);

impl Days {
    /// What the console shows and the API answers without `days`.
    pub const DEFAULT: Days = Days(30);
    /// The longest window.
    pub const MAX: i64 = 90;

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Days {
    type Error = String;

    fn try_from(n: i64) -> Result<Self, String> {
        if (1..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!(
                "must be a whole number of days from 1 to {}",
                Self::MAX
            ))
        }
    }
}

/// One UTC day of the tenant's traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub events: u64,
    pub delivered: u64,
}

/// One stream's delivered SETs over the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUsage {
    pub id: StreamId,
    pub name: String,
    pub receiver: String,
    /// Per day, aligned with [`Usage::days`].
    pub delivered: Vec<u64>,
    pub total: u64,
}

/// One quota: its limit and, where it counts something that exists, how much is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaUse {
    pub quota: Quota,
    pub limit: u32,
    /// `None` for limits checked per request (list items, sign-in starts per minute).
    pub used: Option<u64>,
    /// Where the highest use is, for per-receiver and per-stream limits ("Beta Corp").
    pub at: Option<String>,
}

impl QuotaUse {
    /// The share of the limit used, in whole percent (rounded up, so any use shows).
    pub fn percent(&self) -> Option<u64> {
        let used = self.used?;
        let limit = u64::from(self.limit.max(1));
        Some((used * 100).div_ceil(limit).min(100))
    }
}

/// What the usage page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The last [`Days`] UTC days, oldest first, today last.
    pub days: Vec<Day>,
    /// Every stream, by name.
    pub streams: Vec<StreamUsage>,
    pub quotas: Vec<QuotaUse>,
    pub events_total: u64,
    pub delivered_total: u64,
}

fn date_of(day: i64) -> NaiveDate {
    DateTime::from_timestamp(day * 86_400, 0)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// The tenant's usage over the `days` UTC days up to `now`.
pub async fn of_tenant(
    ctx: &AppContext,
    tenant: TenantId,
    now: DateTime<Utc>,
    days: Days,
) -> Result<Usage, StoreError> {
    let today = now.timestamp().div_euclid(86_400);
    let first = today - (days.get() - 1);
    let since = DateTime::from_timestamp(first * 86_400, 0)
        .unwrap_or_else(|| now - Duration::days(days.get()));
    let scope = ctx.store.scope(tenant);
    let limits = crate::quotas::for_tenant(ctx, tenant).await?;
    let streams = scope.streams().list().await?;
    let receivers = scope.receivers().list().await?;
    let usage = scope.usage();
    let events = usage.events_by_day(since).await?;
    let delivered = usage.delivered_by_stream_and_day(since).await?;
    let subjects = usage.subjects_by_stream().await?;

    let mut days: Vec<Day> = (first..=today)
        .map(|d| Day {
            date: date_of(d),
            events: 0,
            delivered: 0,
        })
        .collect();
    let n_days = days.len();
    let index = |day: i64| usize::try_from(day - first).ok().filter(|i| *i < n_days);
    for (d, n) in &events {
        if let Some(i) = index(*d) {
            days[i].events += n;
        }
    }
    let receiver_name = |id| {
        receivers
            .iter()
            .find(|r| r.id == id)
            .map_or_else(String::new, |r| r.name.clone())
    };
    let mut per_stream: Vec<StreamUsage> = streams
        .iter()
        .map(|s| StreamUsage {
            id: s.id,
            name: crate::streams::name_of(s),
            receiver: receiver_name(s.receiver_id),
            delivered: vec![0; days.len()],
            total: 0,
        })
        .collect();
    for (s, d, n) in &delivered {
        let Some(i) = index(*d) else { continue };
        days[i].delivered += n;
        if let Some(row) = per_stream.iter_mut().find(|r| r.id == *s) {
            row.delivered[i] += n;
            row.total += n;
        }
    }
    per_stream.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));

    // The busiest receiver (by streams) and stream (by subjects), for the per-item limits.
    let busiest_receiver = receivers
        .iter()
        .map(|r| {
            let n = streams.iter().filter(|s| s.receiver_id == r.id).count() as u64;
            (n, r.name.clone())
        })
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let busiest_stream = subjects
        .iter()
        .filter_map(|(id, n)| {
            let s = streams.iter().find(|s| s.id == *id)?;
            Some((*n, crate::streams::name_of(s)))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let quotas = Quota::ALL
        .into_iter()
        .map(|quota| {
            let (used, at) = match quota {
                Quota::StreamsPerTenant => (Some(streams.len() as u64), None),
                Quota::ReceiversPerTenant => (Some(receivers.len() as u64), None),
                Quota::StreamsPerReceiver => busiest_receiver
                    .clone()
                    .map_or((Some(0), None), |(n, name)| (Some(n), Some(name))),
                Quota::SubjectsPerStream => busiest_stream
                    .clone()
                    .map_or((Some(0), None), |(n, name)| (Some(n), Some(name))),
                Quota::SubjectListItems | Quota::SsoStartsPerMinute => (None, None),
            };
            QuotaUse {
                quota,
                limit: limits.get(quota),
                used,
                at,
            }
        })
        .collect();
    Ok(Usage {
        events_total: days.iter().map(|d| d.events).sum(),
        delivered_total: days.iter().map(|d| d.delivered).sum(),
        days,
        streams: per_stream,
        quotas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_share_rounds_up_so_any_use_shows() {
        let q = |used, limit| QuotaUse {
            quota: Quota::StreamsPerTenant,
            limit,
            used,
            at: None,
        };
        assert_eq!(q(Some(1), 500).percent(), Some(1));
        assert_eq!(q(Some(0), 500).percent(), Some(0));
        assert_eq!(q(Some(10), 10).percent(), Some(100));
        assert_eq!(q(None, 30).percent(), None);
    }

    #[test]
    fn a_window_is_one_to_ninety_days() {
        assert_eq!(Days::try_from(1).map(Days::get), Ok(1));
        assert_eq!(Days::try_from(90).map(Days::get), Ok(90));
        assert!(Days::try_from(0).is_err());
        assert!(Days::try_from(91).is_err());
        assert!(Days::try_from(-3).is_err());
    }

    #[test]
    fn days_since_the_epoch_are_utc_dates() {
        assert_eq!(date_of(0), NaiveDate::from_ymd_opt(1970, 1, 1).unwrap());
        assert_eq!(
            date_of(20_429),
            NaiveDate::from_ymd_opt(2025, 12, 7).unwrap()
        );
    }
}
