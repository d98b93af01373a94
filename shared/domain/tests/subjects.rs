//! Subject identifiers: every vector parses, the SSF matching cases give the expected answer
//! under both the literal SSF rule and the hub's policy, and bad subjects name their member.
// Test helpers outside #[test] functions unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::{Value, json};
use sethub_domain::subject::{ComplexSubject, MatchPolicy, ParseMode, Subject, SubjectId};

fn vector(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn parse(v: &Value) -> Subject {
    Subject::parse(v, ParseMode::Receiving).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn error(v: Value, mode: ParseMode) -> String {
    Subject::parse(&v, mode).unwrap_err().to_string()
}

#[test]
fn every_rfc9493_identifier_parses_strictly_and_round_trips() {
    let v = vector("rfc9493-subject-identifiers.json");
    for id in v["identifiers"].as_array().unwrap() {
        let subject =
            Subject::parse(id, ParseMode::Issuing).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(&subject.to_json(), id);
        let required = &v["required_members"][subject.format()];
        for member in required.as_array().unwrap() {
            let mut missing = id.clone();
            missing
                .as_object_mut()
                .unwrap()
                .remove(member.as_str().unwrap());
            let err = error(missing, ParseMode::Issuing);
            assert!(
                err.contains(&format!("subject.{}", member.as_str().unwrap())),
                "{err}"
            );
        }
    }
    for example in v["jwt_examples"].as_array().unwrap() {
        if let Some(sub_id) = example.get("sub_id") {
            parse(sub_id);
        }
        if let Some(events) = example.get("events") {
            for payload in events.as_object().unwrap().values() {
                for s in payload.as_object().unwrap().values() {
                    parse(s);
                }
            }
        }
    }
}

#[test]
fn every_ssf_format_and_the_complex_example_parse() {
    let v = vector("ssf-subject-formats.json");
    for id in v["additional_formats"].as_array().unwrap() {
        let s = Subject::parse(id, ParseMode::Issuing).unwrap();
        assert_eq!(&s.to_json(), id);
        for member in v["required_members"][s.format()].as_array().unwrap() {
            let mut missing = id.clone();
            missing
                .as_object_mut()
                .unwrap()
                .remove(member.as_str().unwrap());
            assert!(Subject::parse(&missing, ParseMode::Issuing).is_err());
        }
    }
    parse(&v["simple_subject_example"]);
    let complex = parse(&v["complex_subject_example"]);
    let Subject::Complex(c) = &complex else {
        panic!("not complex")
    };
    assert_eq!(c.len(), 2);
    for name in v["complex_member_names"].as_array().unwrap() {
        let one =
            json!({"format": "complex", name.as_str().unwrap(): {"format": "opaque", "id": "x"}});
        Subject::parse(&one, ParseMode::Issuing).unwrap();
    }
}

#[test]
fn the_subjects_of_the_add_remove_vector_parse_and_the_legacy_phone_is_normalized() {
    let v = vector("ssf-subjects-add-remove.json");
    Subject::parse(&v["add"]["request"]["body"]["subject"], ParseMode::Issuing).unwrap();
    let removed = parse(&v["remove"]["request"]["body"]["subject"]);
    assert_eq!(
        removed,
        Subject::Simple(SubjectId::PhoneNumber {
            phone_number: "+12065550123".into()
        })
    );
}

#[test]
fn every_ssf_subject_matching_case_gives_the_expected_answer() {
    let v = vector("ssf-subject-matching-cases.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let event = parse(&case["event"]);
        let registered = match &case["registered"] {
            Value::Null => Subject::for_stream(case["stream_id"].as_str().unwrap()),
            r => parse(r),
        };
        let hub = case["expected_hub_recommended"].as_bool().unwrap();
        assert_eq!(registered.matches(&event), hub, "hub policy: {name}");
        if let Some(literal) = case["expected_ssf_rule"].as_bool() {
            assert_eq!(
                registered.matches_with(&event, &MatchPolicy::ssf_literal()),
                literal,
                "SSF rule: {name}"
            );
        } else {
            assert!(
                !registered.matches_with(&event, &MatchPolicy::ssf_literal()),
                "undefined by SSF: {name}"
            );
        }
    }
}

#[test]
fn invalid_subjects_are_refused_with_the_member_named() {
    let cases = [
        (json!({"email": "a@b.c"}), "subject.format"),
        (json!({"format": "email", "email": ""}), "subject.email"),
        (
            json!({"format": "email", "email": "no-at-sign"}),
            "subject.email",
        ),
        (json!({"format": "email", "email": 5}), "subject.email"),
        (
            json!({"format": "account", "uri": "mailto:a@b.c"}),
            "subject.uri",
        ),
        (json!({"format": "did", "url": "https://x"}), "subject.url"),
        (json!({"format": "uri", "uri": "not a uri"}), "subject.uri"),
        (
            json!({"format": "phone_number", "phone_number": "12065550100"}),
            "subject.phone_number",
        ),
        (
            json!({"format": "ip-addresses", "ip-addresses": ["10.0.0.1", "999.1.1.1"]}),
            "subject.ip-addresses[1]",
        ),
        (
            json!({"format": "ip-addresses", "ip-addresses": []}),
            "subject.ip-addresses",
        ),
        (
            json!({"format": "aliases", "identifiers": []}),
            "subject.identifiers",
        ),
        (
            json!({"format": "aliases", "identifiers": [{"format": "aliases", "identifiers": [{"format": "opaque", "id": "x"}]}]}),
            "subject.identifiers[0].format",
        ),
        (json!({"format": "complex"}), "subject"),
        (
            json!({"format": "complex", "user": {"format": "email"}}),
            "subject.user.email",
        ),
        (
            json!({"format": "complex", "user": {"format": "complex", "x": {}}}),
            "subject.user.format",
        ),
        (json!({"format": "complex", "user": "jdoe"}), "subject.user"),
        (json!({"format": "scim", "id": "1"}), "subject.uri"),
        (json!("email"), "subject"),
    ];
    for (value, member) in cases {
        let err = error(value.clone(), ParseMode::Receiving);
        assert!(
            err.starts_with(&format!("{member}:")),
            "{value}: `{err}` should name {member}"
        );
    }
}

#[test]
fn strict_parsing_refuses_undeclared_members_and_legacy_names_that_receiving_accepts() {
    let extra = json!({"format": "email", "email": "a@b.c", "name": "A"});
    assert!(error(extra.clone(), ParseMode::Issuing).starts_with("subject.name:"));
    assert_eq!(
        parse(&extra),
        Subject::Simple(SubjectId::Email {
            email: "a@b.c".into()
        })
    );
    let spaced = json!({"format": "phone_number", "phone_number": "+1 206 555 0123"});
    assert!(Subject::parse(&spaced, ParseMode::Issuing).is_err());
    parse(&spaced);
    let google = json!({"subject_type": "iss-sub", "iss": "https://idp.example.com/", "sub": "7375626A656374"});
    assert_eq!(parse(&google).format(), "iss_sub");
    let legacy_complex = json!({"user": {"format": "email", "email": "a@b.c"}, "tenant": {"format": "opaque", "id": "t"}});
    assert_eq!(parse(&legacy_complex).format(), "complex");
    assert_eq!(
        parse(&json!({"format": "jwt-id", "iss": "i", "jti": "j"})).format(),
        "jwt_id"
    );
}

#[test]
fn proprietary_formats_are_kept_as_sent_and_match_by_deep_equality() {
    let a = parse(
        &json!({"format": "catalog_item", "catalog_id": "c0384/winter/2354122", "n": {"b": 1, "a": 2}}),
    );
    let b = parse(
        &json!({"format": "catalog_item", "n": {"a": 2, "b": 1}, "catalog_id": "c0384/winter/2354122"}),
    );
    assert!(a.matches(&b));
    assert_eq!(a.canonical_key(), b.canonical_key());
    assert!(Subject::parse(&json!({"format": "x"}), ParseMode::Issuing).is_err());
}

#[test]
fn the_canonical_key_is_stable_across_spelling_and_member_order() {
    let a = parse(
        &json!({"format": "complex", "user": {"format": "email", "email": "JDoe@Example.COM"}, "device": {"format": "phone_number", "phone_number": "+1 206 555 0123"}}),
    );
    let b = parse(
        &json!({"device": {"phone_number": "+12065550123", "format": "phone_number"}, "format": "complex", "user": {"email": "jdoe@example.com", "format": "email"}}),
    );
    assert_eq!(a.canonical_key(), b.canonical_key());
    assert_eq!(
        a.canonical_key(),
        r#"{"device":{"format":"phone_number","phone_number":"+12065550123"},"format":"complex","user":{"email":"jdoe@example.com","format":"email"}}"#
    );
    let case_sensitive = MatchPolicy {
        email_local_part_case_insensitive: false,
        ..MatchPolicy::default()
    };
    assert_ne!(
        a.canonical_key_with(&case_sensitive),
        b.canonical_key_with(&case_sensitive)
    );
    let ips = parse(
        &json!({"format": "ip-addresses", "ip-addresses": ["2001:0db8:0000:0000:0000:8a2e:0370:7334", "10.0.0.1"]}),
    );
    assert_eq!(ips.lookup_keys().len(), 2);
    assert!(ips.lookup_keys()[1].contains("2001:db8::8a2e:370:7334"));
    let aliases = parse(
        &json!({"format": "aliases", "identifiers": [{"format": "email", "email": "a@b.c"}, {"format": "opaque", "id": "1"}]}),
    );
    assert_eq!(aliases.lookup_keys().len(), 2);
}

#[test]
fn mixed_and_single_member_complex_subjects_match_as_the_hub_policy_says() {
    let email = SubjectId::Email {
        email: "jdoe@example.com".into(),
    };
    let single = Subject::from(ComplexSubject::new().with("user", email.clone()));
    let double = Subject::from(
        ComplexSubject::new()
            .with("user", email.clone())
            .with("tenant", SubjectId::Opaque { id: "t".into() }),
    );
    let simple = Subject::from(email);
    assert!(single.matches(&simple));
    assert!(!double.matches(&simple));
    assert!(simple.matches(&double));
    assert!(!simple.matches_with(&double, &MatchPolicy::ssf_literal()));
    single.validate().unwrap();
    assert!(Subject::from(ComplexSubject::new()).validate().is_err());
}

#[test]
fn subjects_serialize_and_deserialize_with_serde() {
    let s: Subject = serde_json::from_value(json!({"format": "opaque", "id": "x"})).unwrap();
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"format": "opaque", "id": "x"})
    );
    assert!(serde_json::from_value::<Subject>(json!({"format": "opaque"})).is_err());
    let id: SubjectId =
        serde_json::from_value(json!({"format": "email", "email": "a@b.c"})).unwrap();
    assert_eq!(id.format(), "email");
}
