//! A stream's health over the last 24 hours, as the console's and the portal's stream pages
//! show it: the success rate and its hourly sparkline, the last error in words, the next
//! retry, the dead letters, and whether the stream is failing (its latest push failed).
//!
//! The circuit breaker of an endpoint lives in each fan-out process's memory; the view reads
//! what it is made of instead: the stream's push attempts that failed in a row at the
//! endpoint (stored per attempt), against `push.breaker_failures` and
//! `push.breaker_cooldown_ms` — "Paused sending: 5 failures in a row; next try in 30 s". A
//! poll stream shows its queue instead: SETs waiting, the age of the oldest one not
//! acknowledged, and when its receiver last polled (`polled`).

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use sethub_domain::{DeliveryMethod, StreamId, TenantId};
use sethub_store::{FailureStreak, HourOutcomes, QUEUE_COUNT_CAP, Queue, StoreError, Stream};

use super::{polled, words};
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
    /// A push stream: its endpoint's breaker in words.
    pub breaker: Option<Breaker>,
    /// A poll stream: its queue and its receiver's polls.
    pub poll: Option<PollHealth>,
}

/// A push endpoint's circuit breaker, as the stream's attempts show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Breaker {
    /// "Paused sending: 5 failures in a row; next try in 30 s", "2 failures in a row
    /// (sending pauses after 5)" or "Sending: the latest push was taken".
    pub words: String,
    /// Sending is paused (a warning).
    pub open: bool,
}

/// A poll stream's queue and its receiver's polls, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct PollHealth {
    /// "3 SETs", "none", "at least 10000 SETs".
    pub queued: String,
    /// "4 min" (the oldest SET not acknowledged), or `None` when nothing waits.
    pub oldest_age: Option<String>,
    /// "2026-12-07 19:40:00 UTC (3 min ago)", or "not in the last 30 days".
    pub last_polled: String,
    /// SETs wait and the receiver has not polled for [`POLL_SILENCE`] (a warning, in words).
    pub warning: Option<String>,
}

/// How long a receiver may leave waiting SETs unpolled before its stream warns.
pub const POLL_SILENCE: Duration = Duration::hours(1);

impl StreamHealth {
    /// Whether the stream lists and the dashboard warn of it.
    pub fn warn(&self) -> bool {
        self.failing.is_some() || self.dead > 0
    }
}

/// A span of time as people read it: "45 s", "12 min", "3 h", "2 d".
pub fn span_words(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// The breaker in words: opened at `threshold` failures in a row for `cooldown` after the
/// last; the next try is when both it and the soonest waiting SET allow.
fn breaker_words(
    streak: &FailureStreak,
    threshold: u32,
    cooldown: Duration,
    next_retry: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Breaker {
    let n = streak.failures;
    let in_a_row = if n == 1 {
        "1 failure in a row".to_owned()
    } else {
        format!("{n} failures in a row")
    };
    let open_until = streak
        .last_at
        .filter(|_| n >= threshold)
        .map(|at| at + cooldown);
    match open_until {
        Some(until) => {
            let next = next_retry.map_or(until, |r| r.max(until));
            let when = if next > now {
                format!("next try in {}", span_words(next - now))
            } else {
                "the next push tests the endpoint".to_owned()
            };
            Breaker {
                words: format!("Paused sending: {in_a_row}; {when}"),
                open: true,
            }
        }
        None if n > 0 => Breaker {
            words: format!("Sending: {in_a_row} (sending pauses after {threshold})"),
            open: false,
        },
        None => Breaker {
            words: "Sending: no failure since the latest push taken".to_owned(),
            open: false,
        },
    }
}

/// A poll stream's queue and polls in words.
fn poll_words(queue: &Queue, last_polled: Option<DateTime<Utc>>, now: DateTime<Utc>) -> PollHealth {
    let queued = match queue.pending {
        0 => "none".to_owned(),
        1 => "1 SET".to_owned(),
        n if n > QUEUE_COUNT_CAP => format!("at least {QUEUE_COUNT_CAP} SETs"),
        n => format!("{n} SETs"),
    };
    let silent = last_polled.is_none_or(|t| now - t > POLL_SILENCE);
    let warning = (queue.pending > 0 && silent).then(|| match last_polled {
        Some(t) => format!(
            "SETs wait and the receiver has not polled for {}",
            span_words(now - t)
        ),
        None => "SETs wait and the receiver has not polled in the last 30 days".to_owned(),
    });
    PollHealth {
        queued,
        oldest_age: queue
            .oldest
            .filter(|_| queue.pending > 0)
            .map(|t| span_words(now - t)),
        last_polled: match last_polled {
            Some(t) => format!(
                "{} ({} ago)",
                t.format("%Y-%m-%d %H:%M:%S UTC"),
                span_words(now - t)
            ),
            None => "not in the last 30 days".to_owned(),
        },
        warning,
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
    of: &Stream,
) -> Result<StreamHealth, StoreError> {
    let stream = of.id;
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
    let deliveries = ctx.store.scope(tenant).deliveries();
    let (breaker, poll) = match of.delivery_method {
        DeliveryMethod::Push => {
            let push = &ctx.config.push;
            let streak = deliveries
                .failure_streak(stream, u64::from(push.breaker_failures))
                .await?;
            let cooldown =
                Duration::milliseconds(i64::try_from(push.breaker_cooldown_ms).unwrap_or(i64::MAX));
            let b = breaker_words(
                &streak,
                push.breaker_failures,
                cooldown,
                facts.next_attempt_at,
                now,
            );
            (Some(b), None)
        }
        DeliveryMethod::Poll => {
            let queue = deliveries.queue(stream).await?;
            let last = polled::last(ctx, tenant, stream).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, %stream, "the time of the last poll could not be read");
                None
            });
            (None, Some(poll_words(&queue, last, now)))
        }
    };
    Ok(StreamHealth {
        breaker,
        poll,
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

    #[test]
    fn the_breaker_reads_paused_with_its_next_try_only_after_its_run_of_failures() {
        let now = Utc::now();
        let cooldown = Duration::seconds(30);
        let streak = |failures, ago| FailureStreak {
            failures,
            last_at: Some(now - Duration::seconds(ago)),
        };
        let open = breaker_words(&streak(5, 0), 5, cooldown, None, now);
        assert!(open.open);
        assert_eq!(
            open.words,
            "Paused sending: 5 failures in a row; next try in 30 s"
        );
        // A waiting SET due later than the cooldown's end is the next try.
        let later = breaker_words(
            &streak(5, 0),
            5,
            cooldown,
            Some(now + Duration::minutes(4)),
            now,
        );
        assert_eq!(
            later.words,
            "Paused sending: 5 failures in a row; next try in 4 min"
        );
        let probing = breaker_words(&streak(5, 40), 5, cooldown, None, now);
        assert_eq!(
            probing.words,
            "Paused sending: 5 failures in a row; the next push tests the endpoint"
        );
        let closed = breaker_words(&streak(1, 0), 5, cooldown, None, now);
        assert!(!closed.open);
        assert_eq!(
            closed.words,
            "Sending: 1 failure in a row (sending pauses after 5)"
        );
        let fine = breaker_words(
            &FailureStreak {
                failures: 0,
                last_at: None,
            },
            5,
            cooldown,
            None,
            now,
        );
        assert!(!fine.open);
    }

    #[test]
    fn a_poll_queue_warns_only_when_sets_wait_and_nobody_polled_for_an_hour() {
        let now = Utc::now();
        let queue = |pending, age| Queue {
            pending,
            oldest: Some(now - Duration::seconds(age)),
        };
        let quiet = poll_words(&queue(3, 300), Some(now - Duration::hours(2)), now);
        assert_eq!(quiet.queued, "3 SETs");
        assert_eq!(quiet.oldest_age.as_deref(), Some("5 min"));
        assert_eq!(
            quiet.warning.as_deref(),
            Some("SETs wait and the receiver has not polled for 2 h")
        );
        let polling = poll_words(&queue(1, 10), Some(now - Duration::seconds(20)), now);
        assert_eq!(polling.queued, "1 SET");
        assert!(polling.warning.is_none());
        assert!(
            polling.last_polled.ends_with("(20 s ago)"),
            "{}",
            polling.last_polled
        );
        let empty = poll_words(
            &Queue {
                pending: 0,
                oldest: None,
            },
            None,
            now,
        );
        assert_eq!(empty.queued, "none");
        assert!(empty.oldest_age.is_none() && empty.warning.is_none());
        assert_eq!(empty.last_polled, "not in the last 30 days");
        let long = poll_words(&queue(QUEUE_COUNT_CAP + 1, 60), None, now);
        assert_eq!(long.queued, "at least 10000 SETs");
        assert_eq!(span_words(Duration::days(3)), "3 d");
    }
}
