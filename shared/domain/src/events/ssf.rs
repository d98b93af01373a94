//! SSF 1.0's own event types and the OpenID Connect back-channel logout event.

use super::FieldKind::{OneOf, String};
use super::Presence::{Optional, Required};
use super::{EventType, Field, Vocabulary};

/// The verification event type.
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
/// The stream-updated event type.
pub const STREAM_UPDATED: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

pub(super) const TYPES: &[EventType] = &[
    EventType {
        uri: VERIFICATION,
        name: "Verification",
        vocabulary: Vocabulary::Ssf,
        description: "Sent on request to let a receiver check that the stream delivers.",
        fields: &[Field {
            name: "state",
            presence: Optional,
            kind: String,
            description: "The state value of the verification request, echoed.",
        }],
        legacy_uris: &["https://schemas.openid.net/secevent/sse/event-type/verification"],
        subject_formats: Some(&["opaque"]),
        deprecated: false,
        example: r#"{"state":"VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="}"#,
    },
    EventType {
        uri: STREAM_UPDATED,
        name: "Stream Updated",
        vocabulary: Vocabulary::Ssf,
        description: "The transmitter changed the stream's status.",
        fields: &[
            Field {
                name: "status",
                presence: Required,
                kind: OneOf(&["enabled", "paused", "disabled"]),
                description: "The stream's new status.",
            },
            Field {
                name: "reason",
                presence: Optional,
                kind: String,
                description: "Why the status changed.",
            },
        ],
        legacy_uris: &["https://schemas.openid.net/secevent/sse/event-type/stream-updated"],
        subject_formats: Some(&["opaque"]),
        deprecated: false,
        example: r#"{"status":"paused","reason":"Internal error"}"#,
    },
];

pub(super) const OIDC_TYPES: &[EventType] = &[EventType {
    uri: "http://schemas.openid.net/event/backchannel-logout",
    name: "Back-Channel Logout",
    vocabulary: Vocabulary::OidcLogout,
    description: "OpenID Connect Logout Token event (not an SSF SET); its payload should be {}.",
    fields: &[],
    legacy_uris: &[],
    subject_formats: None,
    deprecated: false,
    example: "{}",
}];
