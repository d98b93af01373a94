//! A stream's health over the last 24 hours, as the console's and the portal's stream pages
//! show it: the success rate and its hourly sparkline, the last error in words, the next
//! retry, the dead letters, and whether the stream is failing (its latest push failed).
//!
//! The circuit breaker of an endpoint lives in each fan-out process's memory, so the pages
//! cannot know it; a failing stream whose SETs wait says when the next attempt is due instead.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use sethub_domain::{StreamId, TenantId};
use sethub_store::{HourOutcomes, StoreError};

use super::words;
use crate::AppContext;

/// Hours the health view covers.
pub const HOURS: i64 = 24;
/// The sparkline's size in SVG units.
const WIDTH: i64 = 240;
const HEIGHT: i64 = 40;

/// One hour of the sparkline: where its point is and what its tooltip says.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub x: i64,
    pub y: i64,
    /// "14:00 UTC: 98 % of 50 pushes taken", or "no pushes".
    pub title: String,
    /// Some pushes of the hour failed.
    pub failed: bool,
    /// The hour had pushes.
    pub active: bool,
}

/// An hourly success-rate sparkline, drawn by the template as an inline SVG.
#[derive(Debug, Clone, PartialEq)]
pub struct Sparkline {
    pub width: i64,
    pub height: i64,
    /// `x,y` pairs of the hours with pushes, oldest first (a `<polyline>`).
    pub points: String,
    pub slots: Vec<Slot>,
}

/// What the health view says of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamHealth {
    /// Pushes taken, and failed, in the last 24 h.
    pub delivered: u64,
    pub failed: u64,
    /// "97.5 %", or "no pushes in the last 24 hours".
    pub success_rate: String,
    pub sparkline: Sparkline,
    /// The latest push failed: what went wrong, in words.
    pub failing: Option<String>,
    /// The latest failure of the window, in words, and when.
    pub last_error: Option<(String, DateTime<Utc>)>,
    /// When the soonest waiting SET is tried next.
    pub next_retry: Option<DateTime<Utc>>,
    pub dead: u64,
}

impl StreamHealth {
    /// Whether the stream lists and the dashboard warn of it.
    pub fn warn(&self) -> bool {
        self.failing.is_some() || self.dead > 0
    }
}

fn sparkline(hours: &[HourOutcomes], now: DateTime<Utc>) -> Sparkline {
    let last = now.timestamp().div_euclid(3600);
    let first = last - (HOURS - 1);
    let step = WIDTH / (HOURS - 1);
    let mut slots = Vec::with_capacity(HOURS as usize);
    let mut points = Vec::new();
    for i in 0..HOURS {
        let hour = first + i;
        let x = i * step;
        let at = DateTime::<Utc>::from_timestamp(hour * 3600, 0)
            .map(|t| t.format("%H:00 UTC").to_string())
            .unwrap_or_default();
        let h = hours.iter().find(|h| h.hour == hour);
        let total = h.map_or(0, |h| h.delivered + h.failed);
        let slot = match h {
            Some(h) if total > 0 => {
                let rate = h.delivered as f64 / total as f64;
                // 2 units of margin so the line is never cut at the edges.
                let y = 2 + ((1.0 - rate) * (HEIGHT - 4) as f64).round() as i64;
                points.push(format!("{x},{y}"));
                Slot {
                    x,
                    y,
                    title: format!("{at}: {} % of {total} pushes taken", (rate * 100.0).round()),
                    failed: h.failed > 0,
                    active: true,
                }
            }
            _ => Slot {
                x,
                y: HEIGHT - 2,
                title: format!("{at}: no pushes"),
                failed: false,
                active: false,
            },
        };
        slots.push(slot);
    }
    Sparkline {
        width: WIDTH,
        height: HEIGHT,
        points: points.join(" "),
        slots,
    }
}

/// The success rate as people read it.
fn rate(delivered: u64, failed: u64) -> String {
    let total = delivered + failed;
    if total == 0 {
        return "no pushes in the last 24 hours".into();
    }
    let pct = delivered as f64 * 100.0 / total as f64;
    let shown = format!("{pct:.1}");
    format!("{} %", shown.trim_end_matches(".0"))
}

/// The health of one stream of `tenant` over the last 24 hours.
pub async fn stream_health(
    ctx: &AppContext,
    tenant: TenantId,
    stream: StreamId,
) -> Result<StreamHealth, StoreError> {
    let now = Utc::now();
    let since =
        DateTime::<Utc>::from_timestamp((now.timestamp().div_euclid(3600) - (HOURS - 1)) * 3600, 0)
            .unwrap_or(now - Duration::hours(HOURS));
    let facts = ctx
        .store
        .scope(tenant)
        .deliveries()
        .health(stream, since)
        .await?;
    let delivered = facts.hours.iter().map(|h| h.delivered).sum();
    let failed = facts.hours.iter().map(|h| h.failed).sum();
    Ok(StreamHealth {
        delivered,
        failed,
        success_rate: rate(delivered, failed),
        sparkline: sparkline(&facts.hours, now),
        failing: words::failing(facts.latest.as_ref()),
        last_error: facts.last_failure.map(|a| {
            let said = words::outcome(a.status, a.error.as_deref());
            (
                if said.is_empty() { a.outcome } else { said },
                a.attempted_at,
            )
        }),
        next_retry: facts.next_attempt_at,
        dead: facts.dead,
    })
}

/// Which of the tenant's `streams` warn in a list: the latest push failed, or dead letters
/// wait (`dead`: the streams with any). One indexed look per stream at its newest attempt.
pub async fn failing_streams(
    ctx: &AppContext,
    tenant: TenantId,
    streams: &[StreamId],
    dead: &HashSet<StreamId>,
) -> Result<HashSet<StreamId>, StoreError> {
    let deliveries = ctx.store.scope(tenant).deliveries();
    let mut out = HashSet::new();
    for id in streams {
        if dead.contains(id) {
            out.insert(*id);
            continue;
        }
        let latest = deliveries.attempts_for_stream(*id, 1).await?;
        if words::failing(latest.first()).is_some() {
            out.insert(*id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sparkline_has_a_point_per_hour_with_pushes_and_a_tooltip_for_every_hour() {
        let now = Utc::now();
        let last = now.timestamp().div_euclid(3600);
        let hours = [
            HourOutcomes {
                hour: last - 2,
                delivered: 3,
                failed: 1,
            },
            HourOutcomes {
                hour: last,
                delivered: 0,
                failed: 2,
            },
        ];
        let s = sparkline(&hours, now);
        assert_eq!(s.slots.len(), 24);
        assert_eq!(s.points.split(' ').count(), 2);
        assert!(
            s.slots[21].title.ends_with("75 % of 4 pushes taken"),
            "{:?}",
            s.slots[21]
        );
        assert!(s.slots[23].failed && s.slots[23].y == HEIGHT - 2);
        assert!(s.slots[0].title.ends_with("no pushes"));
        assert_eq!(rate(3, 1), "75 %");
        assert_eq!(rate(199, 1), "99.5 %");
        assert_eq!(rate(0, 0), "no pushes in the last 24 hours");
    }
}
