//! RISC 1.0 event types (`spec/events.md` §2).

use super::FieldKind::{LanguageMap, Number, OneOf, OpenEnum, String};
use super::Presence::{Optional, Required};
use super::{EventType, Field, Vocabulary};

/// RISC says "email or phone"; `phone` is normalized to `phone_number` on input.
const EMAIL_OR_PHONE: &[&str] = &["email", "phone_number"];

macro_rules! risc {
    ($suffix:literal, $name:literal, $desc:literal, $fields:expr, $example:literal) => {
        risc!($suffix, $name, $desc, $fields, $example, None, false)
    };
    ($suffix:literal, $name:literal, $desc:literal, $fields:expr, $example:literal, $subjects:expr, $deprecated:expr) => {
        EventType {
            uri: concat!(
                "https://schemas.openid.net/secevent/risc/event-type/",
                $suffix
            ),
            name: $name,
            vocabulary: Vocabulary::Risc,
            description: $desc,
            fields: $fields,
            legacy_uris: &[],
            subject_formats: $subjects,
            deprecated: $deprecated,
            example: $example,
        }
    };
}

pub(super) const TYPES: &[EventType] = &[
    risc!(
        "account-credential-change-required",
        "Account Credential Change Required",
        "The account was forced to change a credential.",
        &[],
        "{}"
    ),
    risc!(
        "account-purged",
        "Account Purged",
        "The account was permanently deleted.",
        &[],
        "{}"
    ),
    risc!(
        "account-disabled",
        "Account Disabled",
        "The account was disabled (it may be re-enabled later).",
        &[Field {
            name: "reason",
            presence: Optional,
            kind: OneOf(&["hijacking", "bulk-account"]),
            description: "Why the account was disabled.",
        }],
        r#"{"reason":"hijacking"}"#
    ),
    risc!(
        "account-enabled",
        "Account Enabled",
        "The account was enabled.",
        &[],
        "{}"
    ),
    risc!(
        "identifier-changed",
        "Identifier Changed",
        "The identifier in the subject (the old value) was changed by its authority.",
        &[Field {
            name: "new-value",
            presence: Optional,
            kind: String,
            description: "The new identifier.",
        }],
        r#"{"new-value":"john.roe@example.com"}"#,
        Some(EMAIL_OR_PHONE),
        false
    ),
    risc!(
        "identifier-recycled",
        "Identifier Recycled",
        "The identifier in the subject now belongs to someone else.",
        &[],
        "{}",
        Some(EMAIL_OR_PHONE),
        false
    ),
    risc!(
        "credential-compromise",
        "Credential Compromise",
        "A credential of the subject was found compromised.",
        &[
            Field {
                name: "credential_type",
                presence: Required,
                kind: OpenEnum(super::caep::CREDENTIAL_TYPES),
                description: "The type of credential (CAEP's list).",
            },
            Field {
                name: "event_timestamp",
                presence: Optional,
                kind: Number,
                description: "When the transmitter discovered it, in seconds since the epoch.",
            },
            Field {
                name: "reason_admin",
                presence: Optional,
                kind: LanguageMap,
                description: "Message for administrators and logs.",
            },
            Field {
                name: "reason_user",
                presence: Optional,
                kind: LanguageMap,
                description: "Message for the end user.",
            },
        ],
        r#"{"credential_type":"password"}"#
    ),
    risc!(
        "opt-in",
        "Opt In",
        "The account opted in to RISC.",
        &[],
        "{}"
    ),
    risc!(
        "opt-out-initiated",
        "Opt Out Initiated",
        "The account started opting out (grace period).",
        &[],
        "{}"
    ),
    risc!(
        "opt-out-cancelled",
        "Opt Out Cancelled",
        "The opt-out was cancelled.",
        &[],
        "{}"
    ),
    risc!(
        "opt-out-effective",
        "Opt Out Effective",
        "The opt-out took effect.",
        &[],
        "{}"
    ),
    risc!(
        "recovery-activated",
        "Recovery Activated",
        "A recovery flow started.",
        &[],
        "{}"
    ),
    risc!(
        "recovery-information-changed",
        "Recovery Information Changed",
        "Recovery information (e.g. a recovery email) changed.",
        &[],
        "{}"
    ),
    risc!(
        "sessions-revoked",
        "Sessions Revoked",
        "All sessions of the account were revoked (deprecated: use CAEP session-revoked).",
        &[],
        "{}",
        None,
        true
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_risc_uri_uses_the_risc_base() {
        assert!(super::TYPES.iter().all(|t| {
            t.uri
                .starts_with("https://schemas.openid.net/secevent/risc/event-type/")
        }));
    }
}
