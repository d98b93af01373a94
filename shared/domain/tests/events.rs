//! Event vocabularies: every registered type's example validates, the CAEP reason vectors fit
//! the common claims, and bad payloads name the field.
// Test helpers outside #[test] functions unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::{Value, json};
use sethub_domain::events::{
    Validated, Vocabulary, check_subject, registry, validate_event, validate_events,
};
use sethub_domain::subject::{ParseMode, Subject};

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";

fn vector(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn the_registry_lists_every_vocabulary_and_every_example_validates() {
    let reg = registry();
    let count = |v: Vocabulary| reg.iter().filter(|t| t.vocabulary == v).count();
    assert_eq!(count(Vocabulary::Ssf), 2);
    assert_eq!(count(Vocabulary::Caep), 8);
    assert_eq!(count(Vocabulary::Risc), 14);
    assert_eq!(count(Vocabulary::Scim), 12);
    assert_eq!(count(Vocabulary::OidcLogout), 1);
    let mut uris: Vec<_> = reg.uris().collect();
    uris.sort_unstable();
    uris.dedup();
    assert_eq!(uris.len(), reg.iter().count(), "no type is listed twice");
    for t in reg.iter() {
        let example = t.example_payload();
        assert!(example.is_object(), "{}: example is not JSON", t.uri);
        assert_eq!(
            validate_event(t.uri, &example),
            Ok(Validated::Known(t)),
            "{}",
            t.uri
        );
        for legacy in t.legacy_uris {
            assert_eq!(reg.get(legacy).map(|x| x.uri), Some(t.uri));
        }
    }
    let portal =
        serde_json::to_value(reg.get(&format!("{CAEP}credential-change")).unwrap()).unwrap();
    assert_eq!(portal["fields"][1]["kind"]["values"][0], "create");
}

#[test]
fn the_caep_reason_claim_vectors_are_valid_common_claims() {
    let v = vector("caep-reason-claims.json");
    for example in v["examples"].as_array().unwrap() {
        validate_event(&format!("{CAEP}session-revoked"), example).unwrap();
    }
    for entity in v["initiating_entity_values"].as_array().unwrap() {
        validate_event(
            &format!("{CAEP}session-revoked"),
            &json!({"initiating_entity": entity}),
        )
        .unwrap();
    }
}

#[test]
fn bad_payloads_are_refused_with_the_field_named() {
    let cases = [
        ("token-claims-change", json!({}), "claims", "required"),
        (
            "token-claims-change",
            json!({"claims": {}}),
            "claims",
            "at least one",
        ),
        (
            "credential-change",
            json!({"credential_type": "password", "change_type": "rotate"}),
            "change_type",
            "`rotate`",
        ),
        (
            "device-compliance-change",
            json!({"previous_status": "compliant", "current_status": "bad"}),
            "current_status",
            "not one of",
        ),
        (
            "session-revoked",
            json!({"initiating_entity": "robot"}),
            "initiating_entity",
            "not one of",
        ),
        (
            "session-revoked",
            json!({"event_timestamp": "yesterday"}),
            "event_timestamp",
            "number",
        ),
        (
            "session-revoked",
            json!({"reason_admin": {}}),
            "reason_admin",
            "at least one",
        ),
        (
            "session-established",
            json!({"amr": "otp"}),
            "amr",
            "array of strings",
        ),
        (
            "risk-level-change",
            json!({"principal": "USER", "current_level": "low"}),
            "current_level",
            "not one of",
        ),
    ];
    for (suffix, payload, field, problem) in cases {
        let uri = format!("{CAEP}{suffix}");
        let err = validate_event(&uri, &payload).unwrap_err();
        assert_eq!(err.path, format!("events.{uri}.{field}"));
        assert!(err.to_string().contains(problem), "{err}");
    }
    let err = validate_event(
        "urn:ietf:params:scim:event:prov:create:notice",
        &json!({"attributes": ["a"], "data": {}}),
    )
    .unwrap_err();
    assert_eq!(
        err.path,
        "events.urn:ietf:params:scim:event:prov:create:notice.data"
    );
    let err = validate_event(
        "https://schemas.openid.net/secevent/ssf/event-type/stream-updated",
        &json!({"status": "on"}),
    )
    .unwrap_err();
    assert!(err.path.ends_with(".status"));
    assert!(validate_event(&format!("{CAEP}session-revoked"), &json!([])).is_err());
}

#[test]
fn unknown_event_types_pass_through_when_they_are_absolute_uris() {
    assert_eq!(
        validate_event(
            "https://example.com/events/custom",
            &json!({"anything": [1]})
        ),
        Ok(Validated::Unknown)
    );
    assert_eq!(
        validate_event("urn:example:custom", &json!({})),
        Ok(Validated::Unknown)
    );
    let err = validate_event("custom-event", &json!({})).unwrap_err();
    assert_eq!(err.path, "events.custom-event");
    assert!(validate_events(&json!({})).is_err());
    assert_eq!(
        validate_events(&json!({"urn:a:b": {}, "urn:ietf:params:scim:event:prov:delete": {}}))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn legacy_uris_and_unknown_fields_are_accepted() {
    let sse = "https://schemas.openid.net/secevent/sse/event-type/verification";
    assert!(matches!(
        validate_event(sse, &json!({"state": "x"})),
        Ok(Validated::Known(_))
    ));
    validate_event(
        &format!("{CAEP}session-revoked"),
        &json!({"unknown": true, "reason_admin": "legacy string"}),
    )
    .unwrap();
    validate_event(
        "urn:ietf:params:SCIM:event:misc:asyncResp",
        &json!({"status": "200"}),
    )
    .unwrap();
}

#[test]
fn subject_format_rules_of_stream_and_identifier_events_are_checked() {
    let opaque = Subject::for_stream("s1");
    let email = Subject::parse(
        &json!({"format": "email", "email": "a@b.c"}),
        ParseMode::Issuing,
    )
    .unwrap();
    let verification = "https://schemas.openid.net/secevent/ssf/event-type/verification";
    let changed = "https://schemas.openid.net/secevent/risc/event-type/identifier-changed";
    check_subject(verification, &opaque).unwrap();
    assert_eq!(
        check_subject(verification, &email).unwrap_err().path,
        "sub_id.format"
    );
    check_subject(changed, &email).unwrap();
    assert!(check_subject(changed, &opaque).is_err());
    check_subject("urn:unknown:type", &email).unwrap();
}
