//! A stream's delivery log as the pages filter it: by state, by time window, and by one
//! search box that takes a `jti`, an event id (`evt_…`) or the start of a subject's value.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use sethub_domain::{DeliveryId, EventId, StreamId, TenantId};
use sethub_store::{Delivery, DeliveryState, LogFilter, LogSearch, MAX_LOG_PAGE, StoreError};

use crate::AppContext;

/// The time windows a log can be narrowed to: (query value, label, length).
pub const WINDOWS: [(&str, &str, i64); 4] = [
    ("1h", "last hour", 1),
    ("24h", "last 24 hours", 24),
    ("7d", "last 7 days", 24 * 7),
    ("30d", "last 30 days", 24 * 30),
];

/// A log page's query, parsed once from the page's query string (`state`, `window`, `q`,
/// `before`); what the form shows again keeps the values as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    /// As typed (empty: all).
    pub state: String,
    pub window: String,
    pub q: String,
    pub filter: LogFilter,
}

impl LogQuery {
    /// Reads the query string; an unknown state or window filters nothing.
    pub fn parse(query: &HashMap<String, String>) -> Self {
        let get = |k: &str| {
            query
                .get(k)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let (state, window, q) = (get("state"), get("window"), get("q"));
        let mut filter = LogFilter {
            state: state.parse::<DeliveryState>().ok(),
            before: get("before").parse::<DeliveryId>().ok(),
            ..Default::default()
        };
        if let Some((_, _, hours)) = WINDOWS.iter().find(|(v, _, _)| *v == window) {
            filter.from = Some(Utc::now() - Duration::hours(*hours));
        }
        filter.search = search(&q);
        Self {
            state: if filter.state.is_some() {
                state
            } else {
                String::new()
            },
            window: if filter.from.is_some() {
                window
            } else {
                String::new()
            },
            q,
            filter,
        }
    }

    /// The query string of the next page after `last`, keeping the filters.
    pub fn next_page(&self, last: DeliveryId) -> String {
        let mut parts = vec![("before", last.to_string())];
        for (k, v) in [
            ("state", &self.state),
            ("window", &self.window),
            ("q", &self.q),
        ] {
            if !v.is_empty() {
                parts.push((k, v.clone()));
            }
        }
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        parts
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Whether any filter is set (the empty log then says "nothing matches", not "none yet").
    pub fn filtered(&self) -> bool {
        self.filter.state.is_some() || self.filter.from.is_some() || self.filter.search.is_some()
    }

    /// One page of `stream`'s log (newest first) and the query string of the next page when
    /// there may be more.
    pub async fn page(
        &self,
        ctx: &AppContext,
        tenant: TenantId,
        stream: StreamId,
        size: u64,
    ) -> Result<(Vec<Delivery>, Option<String>), StoreError> {
        let size = Ord::min(size, MAX_LOG_PAGE);
        let rows = ctx
            .store
            .scope(tenant)
            .deliveries()
            .log_page(stream, &self.filter, size)
            .await?;
        let next = (rows.len() as u64 == size)
            .then(|| rows.last().map(|d| self.next_page(d.id)))
            .flatten();
        Ok((rows, next))
    }
}

/// What a search box's text looks for: an event id, a `jti` (32 hex digits, or a UUID), else
/// the start of a subject's value.
fn search(q: &str) -> Option<LogSearch> {
    if q.is_empty() {
        return None;
    }
    if let Ok(id) = q.parse::<EventId>() {
        return Some(LogSearch::Event(id));
    }
    let hex = q.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if hex && (q.len() == 32 || q.len() == 36) {
        return Some(LogSearch::Jti(q.to_owned()));
    }
    Some(LogSearch::SubjectPrefix(q.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_read_as_an_event_id_a_jti_or_a_subject_prefix() {
        let id = EventId::new();
        assert_eq!(search(&id.to_string()), Some(LogSearch::Event(id)));
        let jti = "0123456789abcdef0123456789abcdef";
        assert_eq!(search(jti), Some(LogSearch::Jti(jti.into())));
        assert_eq!(
            search("ann@"),
            Some(LogSearch::SubjectPrefix("ann@".into()))
        );
        assert_eq!(search(""), None);
        let q: HashMap<String, String> = [("state", "dead"), ("window", "24h"), ("q", "ann")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let parsed = LogQuery::parse(&q);
        assert_eq!(parsed.filter.state, Some(DeliveryState::Dead));
        assert!(parsed.filter.from.is_some() && parsed.filtered());
        let last = DeliveryId::new();
        assert_eq!(
            parsed.next_page(last),
            format!("before={last}&state=dead&window=24h&q=ann")
        );
    }
}
