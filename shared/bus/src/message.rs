//! What travels on the bus: a tagged, versioned [`Message`] inside an [`Envelope`] that names
//! its tenant.
//!
//! The wire form is JSON. Every variant carries its version in its tag (`event_accepted.v1`),
//! so a changed shape gets a new tag and old and new consumers can run side by side. A payload
//! that does not decode (an unknown tag, a missing field) is dead-lettered by the subscriber,
//! never retried forever: see [`crate::Subscription::next`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sethub_domain::{EventId, StreamId, TenantId};
use uuid::Uuid;

use crate::QueueKind;

/// One message with what every message needs: an id (consumers dedupe on it, because
/// delivery is at-least-once), its tenant and when it was published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique per publish (UUID v7). A redelivery carries the same id.
    pub id: Uuid,
    /// The tenant the message belongs to; consumers scope everything they do to it.
    pub tenant_id: TenantId,
    pub published_at: DateTime<Utc>,
    pub message: Message,
    /// The W3C `traceparent` of the span that published it, when tracing is on. RabbitMQ
    /// carries it as the message's `traceparent` header only (the consumer copies it back);
    /// the in-process bus keeps it in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Envelope {
    /// A new envelope with a fresh id, stamped now.
    pub fn new(tenant_id: TenantId, message: Message) -> Self {
        Self {
            id: Uuid::now_v7(),
            tenant_id,
            published_at: Utc::now(),
            message,
            traceparent: None,
        }
    }

    /// This envelope, carrying a span's `traceparent` (none: unchanged).
    pub fn traced(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }

    /// The JSON bytes published on the broker.
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parses the JSON bytes of a delivery.
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Every message the services exchange. Add a variant (or a `.v2` of one) rather than change
/// the shape of an existing one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// ingest → fanout: the event is stored durably and must be fanned out to the streams.
    /// (Superseded by `events_accepted.v1`; still consumed, by reading the event from the
    /// store.)
    #[serde(rename = "event_accepted.v1")]
    EventAccepted { event_id: EventId },
    /// ingest → fanout: events stored durably (one publish request, or one batch), carried
    /// whole so that fan-out needs no read to make their SETs.
    #[serde(rename = "events_accepted.v1")]
    EventsAccepted { events: Vec<AcceptedEvent> },
    /// manage → fanout: a stream's configuration changed (reload it, drop caches).
    #[serde(rename = "stream_changed.v1")]
    StreamChanged {
        stream_id: StreamId,
        change: StreamChange,
    },
    /// manage → fanout: a stream was enabled, paused or disabled (SSF stream status).
    #[serde(rename = "stream_status_changed.v1")]
    StreamStatusChanged {
        stream_id: StreamId,
        status: String,
        reason: Option<String>,
        /// The tenant (not the receiver) made the change: the receiver must be told with a
        /// stream-updated SET (SSF §6). Absent in older messages: false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        notify: bool,
    },
    /// manage → fanout: dead deliveries of the stream were put back to pending (redrive);
    /// push them now.
    #[serde(rename = "deliveries_redriven.v1")]
    DeliveriesRedriven { stream_id: StreamId },
    /// manage → fanout: the receiver asked for a verification event (SSF verification).
    #[serde(rename = "verification_requested.v1")]
    VerificationRequested {
        stream_id: StreamId,
        state: Option<String>,
    },
}

/// An accepted event as fan-out needs it (the stored row has the same values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedEvent {
    pub event_id: EventId,
    /// When ingest stored it.
    pub received_at: DateTime<Utc>,
    /// The subject (`sub_id`), as validated by ingest.
    pub sub_id: Option<serde_json::Value>,
    /// The `events` claim as published: event type URI → payload.
    pub events: serde_json::Map<String, serde_json::Value>,
    /// Time of the event, seconds since the epoch.
    pub toe: Option<i64>,
    /// The tenant's streams version when the event was stored: fan-out's cached streams of
    /// this version or newer include every stream change made before the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams_version: Option<i64>,
    /// The `txn` its SETs carry when it is not the event id: an upstream SET's own `txn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<String>,
    /// Published again: a repeat of an idempotency key whose first publish was not
    /// confirmed. That first message may have reached the broker all the same (its confirm
    /// lost in a broker crash), so fan-out may have pushed the event's SETs already: it
    /// stores the deliveries first and pushes only those still pending, as for a redelivered
    /// message. Absent in older messages: false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maybe_announced: bool,
}

/// What happened to a stream, for [`Message::StreamChanged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamChange {
    Created,
    Updated,
    Deleted,
    /// Subjects were added to or removed from the stream.
    SubjectsChanged,
}

impl Message {
    /// The tag of the variant on the wire; also the routing key and the AMQP `type` property.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::EventAccepted { .. } => "event_accepted.v1",
            Self::EventsAccepted { .. } => "events_accepted.v1",
            Self::StreamChanged { .. } => "stream_changed.v1",
            Self::StreamStatusChanged { .. } => "stream_status_changed.v1",
            Self::VerificationRequested { .. } => "verification_requested.v1",
            Self::DeliveriesRedriven { .. } => "deliveries_redriven.v1",
        }
    }

    /// The queue (and, on RabbitMQ, the exchange) that carries this message. Events and
    /// control messages travel apart so a backlog of events never delays a control message.
    pub fn queue_kind(&self) -> QueueKind {
        match self {
            Self::EventAccepted { .. } | Self::EventsAccepted { .. } => QueueKind::Events,
            Self::StreamChanged { .. }
            | Self::StreamStatusChanged { .. }
            | Self::VerificationRequested { .. }
            | Self::DeliveriesRedriven { .. } => QueueKind::Control,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Message> {
        let stream_id = StreamId::new();
        vec![
            Message::EventAccepted {
                event_id: EventId::new(),
            },
            Message::EventsAccepted {
                events: vec![AcceptedEvent {
                    event_id: EventId::new(),
                    received_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                    sub_id: Some(serde_json::json!({"format": "email", "email": "a@example.com"})),
                    events: serde_json::Map::new(),
                    toe: Some(1_700_000_000),
                    streams_version: Some(3),
                    txn: Some("upstream-1".into()),
                    maybe_announced: true,
                }],
            },
            Message::StreamChanged {
                stream_id,
                change: StreamChange::SubjectsChanged,
            },
            Message::StreamStatusChanged {
                stream_id,
                status: "paused".into(),
                reason: Some("maintenance".into()),
                notify: true,
            },
            Message::VerificationRequested {
                stream_id,
                state: None,
            },
            Message::DeliveriesRedriven { stream_id },
        ]
    }

    #[test]
    fn every_message_round_trips_and_its_type_name_is_its_wire_tag() {
        for message in all() {
            let envelope = Envelope::new(TenantId::new(), message);
            let bytes = envelope.encode().unwrap();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(json["message"]["type"], envelope.message.type_name());
            assert_eq!(Envelope::decode(&bytes).unwrap(), envelope);
        }
    }

    #[test]
    fn the_wire_form_is_stable() {
        let event_id: EventId = "evt_0190a5b2c3d47e8f9a0b1c2d3e4f5a6b".parse().unwrap();
        let tenant_id: TenantId = "tnt_0190a5b2c3d47e8f9a0b1c2d3e4f5a6c".parse().unwrap();
        let envelope = Envelope {
            id: Uuid::nil(),
            tenant_id,
            published_at: DateTime::from_timestamp(0, 0).unwrap(),
            message: Message::EventAccepted { event_id },
            traceparent: None,
        };
        assert_eq!(
            String::from_utf8(envelope.encode().unwrap()).unwrap(),
            r#"{"id":"00000000-0000-0000-0000-000000000000","tenant_id":"tnt_0190a5b2c3d47e8f9a0b1c2d3e4f5a6c","published_at":"1970-01-01T00:00:00Z","message":{"type":"event_accepted.v1","event_id":"evt_0190a5b2c3d47e8f9a0b1c2d3e4f5a6b"}}"#
        );
    }

    #[test]
    fn an_unknown_message_type_does_not_decode() {
        let bytes = br#"{"id":"00000000-0000-0000-0000-000000000000","tenant_id":"tnt_0190a5b2c3d47e8f9a0b1c2d3e4f5a6c","published_at":"1970-01-01T00:00:00Z","message":{"type":"event_accepted.v9","event_id":"evt_0190a5b2c3d47e8f9a0b1c2d3e4f5a6b"}}"#;
        assert!(Envelope::decode(bytes).is_err());
    }
}
