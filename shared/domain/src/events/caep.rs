//! CAEP 1.0 event types (`spec/events.md` §1).

use super::FieldKind::{LanguageMap, NonEmptyObject, Number, OneOf, OpenEnum, String, StringArray};
use super::Presence::{Optional, Recommended, Required};
use super::{EventType, Field, Vocabulary};

/// CAEP's credential types (open: parties may agree on others).
pub(super) const CREDENTIAL_TYPES: &[&str] = &[
    "password",
    "pin",
    "x509",
    "fido2-platform",
    "fido2-roaming",
    "fido-u2f",
    "verifiable-credential",
    "phone-voice",
    "phone-sms",
    "app",
];

const LEVELS: &[&str] = &["LOW", "MEDIUM", "HIGH"];
const COMPLIANCE: &[&str] = &["compliant", "not-compliant"];

/// The optional claims every CAEP event may carry.
pub(super) const COMMON: &[Field] = &[
    Field {
        name: "event_timestamp",
        presence: Optional,
        kind: Number,
        description: "When the event happened, in seconds since the epoch (UTC).",
    },
    Field {
        name: "initiating_entity",
        presence: Optional,
        kind: OneOf(&["admin", "user", "policy", "system"]),
        description: "Who or what initiated the event.",
    },
    Field {
        name: "reason_admin",
        presence: Optional,
        kind: LanguageMap,
        description: "Message for administrators and logs, keyed by language tag.",
    },
    Field {
        name: "reason_user",
        presence: Optional,
        kind: LanguageMap,
        description: "Message for the end user, keyed by language tag.",
    },
];

macro_rules! caep {
    ($suffix:literal, $name:literal, $desc:literal, $fields:expr, $example:literal) => {
        EventType {
            uri: concat!(
                "https://schemas.openid.net/secevent/caep/event-type/",
                $suffix
            ),
            name: $name,
            vocabulary: Vocabulary::Caep,
            description: $desc,
            fields: $fields,
            legacy_uris: &[],
            subject_formats: None,
            deprecated: false,
            example: $example,
        }
    };
}

const fn f(
    name: &'static str,
    presence: super::Presence,
    kind: super::FieldKind,
    d: &'static str,
) -> Field {
    Field {
        name,
        presence,
        kind,
        description: d,
    }
}

pub(super) const TYPES: &[EventType] = &[
    caep!(
        "session-revoked",
        "Session Revoked",
        "One or more sessions of the subject were revoked.",
        &[],
        r#"{"initiating_entity":"policy","reason_admin":{"en":"Landspeed Policy Violation: C076E82F"},"event_timestamp":1615304991}"#
    ),
    caep!(
        "token-claims-change",
        "Token Claims Change",
        "Claims in a token about the subject changed.",
        &[f(
            "claims",
            Required,
            NonEmptyObject,
            "The changed claims with their new values."
        )],
        r#"{"claims":{"role":"ro-admin"},"event_timestamp":1615304991}"#
    ),
    caep!(
        "credential-change",
        "Credential Change",
        "A credential of the subject was created, revoked, updated or deleted.",
        &[
            f(
                "credential_type",
                Required,
                OpenEnum(CREDENTIAL_TYPES),
                "The type of credential."
            ),
            f(
                "change_type",
                Required,
                OneOf(&["create", "revoke", "update", "delete"]),
                "What happened to it."
            ),
            f(
                "friendly_name",
                Optional,
                String,
                "A name the user gave the credential."
            ),
            f(
                "x509_issuer",
                Optional,
                String,
                "Issuer of an X.509 certificate."
            ),
            f(
                "x509_serial",
                Optional,
                String,
                "Serial number of an X.509 certificate."
            ),
            f(
                "fido2_aaguid",
                Optional,
                String,
                "AAGUID of a FIDO2 authenticator."
            ),
        ],
        r#"{"credential_type":"fido2-roaming","change_type":"create","friendly_name":"Jane's USB authenticator","initiating_entity":"user","event_timestamp":1615304991}"#
    ),
    caep!(
        "assurance-level-change",
        "Assurance Level Change",
        "The authentication assurance level of the subject changed.",
        &[
            f(
                "namespace",
                Required,
                OpenEnum(&[
                    "RFC8176",
                    "RFC6711",
                    "ISO-IEC-29115",
                    "NIST-IAL",
                    "NIST-AAL",
                    "NIST-FAL"
                ]),
                "The namespace of the levels.",
            ),
            f("current_level", Required, String, "The level now."),
            f(
                "previous_level",
                Optional,
                String,
                "The level before (absent: unknown)."
            ),
            f(
                "change_direction",
                Optional,
                OneOf(&["increase", "decrease"]),
                "Whether it went up or down."
            ),
        ],
        r#"{"namespace":"NIST-AAL","current_level":"nist-aal2","previous_level":"nist-aal1","change_direction":"increase","event_timestamp":1615304991}"#
    ),
    caep!(
        "device-compliance-change",
        "Device Compliance Change",
        "A device's compliance with policy changed.",
        &[
            f(
                "previous_status",
                Required,
                OneOf(COMPLIANCE),
                "Compliance before the change."
            ),
            f(
                "current_status",
                Required,
                OneOf(COMPLIANCE),
                "Compliance now."
            ),
        ],
        r#"{"previous_status":"compliant","current_status":"not-compliant","initiating_entity":"policy","event_timestamp":1615304991}"#
    ),
    caep!(
        "session-established",
        "Session Established",
        "A session was established for the subject.",
        &[
            f("fp_ua", Optional, String, "Fingerprint of the user agent."),
            f(
                "acr",
                Optional,
                String,
                "Authentication context class, as in an ID Token."
            ),
            f(
                "amr",
                Optional,
                StringArray,
                "Authentication methods, as in an ID Token."
            ),
            f(
                "ext_id",
                Optional,
                String,
                "External (federated) session id."
            ),
        ],
        r#"{"fp_ua":"abb0b6e7da81a42233f8f2b1a8ddb1b9a4c81611","acr":"AAL2","amr":["otp"],"event_timestamp":1615304991}"#
    ),
    caep!(
        "session-presented",
        "Session Presented",
        "A session of the subject was seen.",
        &[
            f("fp_ua", Optional, String, "Fingerprint of the user agent."),
            f(
                "ext_id",
                Optional,
                String,
                "External (federated) session id."
            ),
        ],
        r#"{"fp_ua":"abb0b6e7da81a42233f8f2b1a8ddb1b9a4c81611","ext_id":"12345","event_timestamp":1615304991}"#
    ),
    caep!(
        "risk-level-change",
        "Risk Level Change",
        "The risk level of a principal changed.",
        &[
            f(
                "principal",
                Required,
                OpenEnum(&["USER", "DEVICE", "SESSION", "TENANT", "ORG_UNIT", "GROUP"]),
                "The principal whose risk changed.",
            ),
            f(
                "current_level",
                Required,
                OneOf(LEVELS),
                "The risk level now."
            ),
            f("risk_reason", Recommended, String, "Why the level changed."),
            f(
                "previous_level",
                Optional,
                OneOf(LEVELS),
                "The risk level before (absent: unknown)."
            ),
        ],
        r#"{"principal":"USER","current_level":"HIGH","previous_level":"LOW","risk_reason":"PASSWORD_FOUND_IN_DATA_BREACH","event_timestamp":1615304991}"#
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_caep_uri_uses_the_caep_base() {
        assert!(super::TYPES.iter().all(|t| {
            t.uri
                .starts_with("https://schemas.openid.net/secevent/caep/event-type/")
        }));
    }
}
