//! Events between ingest and fan-out.

use sethub_bus::AcceptedEvent;
use sethub_store::StoredEvent;

/// The bus form of a stored event: what fan-out needs to make its SETs without reading the
/// store. `streams_version` is the tenant's streams version read when the event was stored
/// (`None` when it is not known, as for an event read back later).
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
    }
}
