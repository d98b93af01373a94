//! Event vocabularies: the known event types (SSF, CAEP 1.0, RISC 1.0, SCIM events draft -16,
//! OpenID back-channel logout) with their fields, and validation of event payloads.

mod caep;
mod risc;
mod scim;
mod ssf;
mod validate;

use serde::Serialize;

pub use ssf::{STREAM_UPDATED, VERIFICATION};
pub use validate::{
    EventError, Validated, check_subject, is_event_type_uri, validate_event, validate_events,
};

/// The specification family an event type comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Vocabulary {
    /// OpenID SSF 1.0's own events (verification, stream-updated).
    Ssf,
    /// OpenID CAEP 1.0.
    Caep,
    /// OpenID RISC 1.0.
    Risc,
    /// SCIM events (draft-ietf-scim-events-16).
    Scim,
    /// OpenID Connect Back-Channel Logout 1.0 (a Logout Token, not an SSF SET).
    OidcLogout,
}

impl Vocabulary {
    /// Fields every event type of the vocabulary may carry (CAEP's common claims).
    pub fn common_fields(self) -> &'static [Field] {
        match self {
            Self::Caep => caep::COMMON,
            _ => &[],
        }
    }
}

/// Whether a field must, should, may or must not be present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Required,
    Recommended,
    Optional,
    /// Must not be present (e.g. `data` on a SCIM `:notice` event).
    Forbidden,
}

/// The JSON type and value rules of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "values", rename_all = "snake_case")]
pub enum FieldKind {
    /// A non-empty string.
    String,
    /// A JSON number (seconds since the epoch for timestamps).
    Number,
    /// Any JSON object.
    Object,
    /// A JSON object with at least one member.
    NonEmptyObject,
    /// An array of strings.
    StringArray,
    /// One of these strings exactly (a closed list).
    OneOf(&'static [&'static str]),
    /// A non-empty string; these values are defined, others may be agreed between parties.
    OpenEnum(&'static [&'static str]),
    /// A language-tag map (`{"en": "…"}`) with at least one string member; a plain string is
    /// tolerated (pre-2025 drafts).
    LanguageMap,
    /// Any JSON value.
    Any,
}

/// One field of an event payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    pub name: &'static str,
    pub presence: Presence,
    pub kind: FieldKind,
    pub description: &'static str,
}

/// A known event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EventType {
    /// The event type URI, as emitted.
    pub uri: &'static str,
    /// A short human name ("Session Revoked").
    pub name: &'static str,
    pub vocabulary: Vocabulary,
    pub description: &'static str,
    /// The fields specific to this type (see also [`Vocabulary::common_fields`]).
    pub fields: &'static [Field],
    /// Older URIs of the same type, accepted on input.
    pub legacy_uris: &'static [&'static str],
    /// The subject formats allowed for this type, when the spec restricts them.
    pub subject_formats: Option<&'static [&'static str]>,
    /// Deprecated by its spec (still accepted).
    pub deprecated: bool,
    /// An example payload (JSON text) that validates.
    pub example: &'static str,
}

impl EventType {
    /// The type's own fields and its vocabulary's common fields.
    pub fn all_fields(&self) -> impl Iterator<Item = &'static Field> {
        self.fields.iter().chain(self.vocabulary.common_fields())
    }

    /// The example payload, parsed.
    pub fn example_payload(&self) -> serde_json::Value {
        serde_json::from_str(self.example).unwrap_or_default()
    }
}

/// The registry of known event types.
#[derive(Debug)]
pub struct Registry {
    groups: [&'static [EventType]; 5],
}

static REGISTRY: Registry = Registry {
    groups: [
        ssf::TYPES,
        caep::TYPES,
        risc::TYPES,
        scim::TYPES,
        ssf::OIDC_TYPES,
    ],
};

/// The registry of every known event type.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

impl Registry {
    /// Every known event type, SSF first, then CAEP, RISC, SCIM and back-channel logout.
    pub fn iter(&self) -> impl Iterator<Item = &'static EventType> {
        self.groups.into_iter().flatten()
    }

    /// The URIs of every known type (what a transmitter advertises as `events_supported`).
    pub fn uris(&self) -> impl Iterator<Item = &'static str> {
        self.iter().map(|t| t.uri)
    }

    /// The type with this URI, or one of its legacy URIs.
    pub fn get(&self, uri: &str) -> Option<&'static EventType> {
        self.iter()
            .find(|t| t.uri == uri || t.legacy_uris.contains(&uri))
    }
}
