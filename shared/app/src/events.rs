//! Events between ingest and fan-out.

use sethub_bus::AcceptedEvent;
use sethub_store::{EventSource, StoredEvent};

/// The bus form of a stored event: what fan-out needs to make its SETs without reading the
/// store. `streams_version` is the tenant's streams version read when the event was stored
/// (`None` when it is not known, as for an event read back later). The SETs of a published
/// event carry its id as `txn`; those of an upstream SET carry that SET's `txn` (kept).
pub fn accepted_event(e: &StoredEvent, streams_version: Option<i64>) -> AcceptedEvent {
    AcceptedEvent {
        event_id: e.id,
        received_at: e.received_at,
        sub_id: e.sub_id.clone(),
        events: e
            .payload
            .get("events")
            .and_then(serde_json::Value::as_object)
            .cloned()
            .unwrap_or_default(),
        toe: e.toe.map(|t| t.timestamp()),
        streams_version,
        txn: match e.source {
            EventSource::Upstream => e.txn.clone(),
            EventSource::Api => None,
        },
        maybe_announced: false,
    }
}
