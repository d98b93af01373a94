//! Lists inside subjects are bounded: by the tenant's quota where input is parsed
//! (`Subject::parse_limited`), and by a ceiling on every parse; the error names the list.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sethub_domain::subject::{MAX_LIST_ITEMS, ParseMode, Subject};

fn emails(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"format": "email", "email": format!("u{i}@example.com")}))
        .collect()
}

fn ips(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!(format!("10.0.{}.{}", i / 256, i % 256)))
        .collect()
}

fn limited(v: &Value, max: usize) -> Result<Subject, String> {
    Subject::parse_limited(v, ParseMode::Receiving, "subject", max).map_err(|e| e.to_string())
}

#[test]
fn aliases_up_to_the_limit_parse_and_one_more_is_refused_naming_the_list() {
    let ok = json!({"format": "aliases", "identifiers": emails(20)});
    assert!(limited(&ok, 20).is_ok());
    let over = json!({"format": "aliases", "identifiers": emails(21)});
    let e = limited(&over, 20).unwrap_err();
    assert!(e.starts_with("subject.identifiers: has 21 items"), "{e}");
    assert!(e.contains("at most 20"), "{e}");
}

#[test]
fn ip_address_lists_are_bounded_inside_a_complex_subject_too() {
    let over =
        json!({"format": "complex", "session": {"format": "ip-addresses", "ip-addresses": ips(6)}});
    let e = limited(&over, 5).unwrap_err();
    assert!(
        e.starts_with("subject.session.ip-addresses: has 6 items"),
        "{e}"
    );
    let top = json!({"format": "ip-addresses", "ip-addresses": ips(6)});
    assert!(
        limited(&top, 5)
            .unwrap_err()
            .starts_with("subject.ip-addresses")
    );
    assert!(limited(&top, 6).is_ok());
}

#[test]
fn any_list_of_a_proprietary_format_and_the_members_of_a_complex_subject_are_bounded() {
    let nested = json!({"format": "x-acme", "groups": {"ids": (0..4).collect::<Vec<_>>()}});
    let e = limited(&nested, 3).unwrap_err();
    assert!(
        e.starts_with("subject.x-acme.groups.ids") || e.starts_with("subject.groups.ids"),
        "{e}"
    );
    let mut complex = serde_json::Map::new();
    complex.insert("format".into(), json!("complex"));
    for i in 0..4 {
        complex.insert(format!("m{i}"), json!({"format": "opaque", "id": "x"}));
    }
    let e = limited(&Value::Object(complex), 3).unwrap_err();
    assert!(e.starts_with("subject: has 4 items"), "{e}");
}

#[test]
fn every_parse_applies_the_ceiling_even_without_a_quota() {
    let over = json!({"format": "aliases", "identifiers": emails(MAX_LIST_ITEMS + 1)});
    let e = Subject::parse(&over, ParseMode::Receiving)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("at most {MAX_LIST_ITEMS}")), "{e}");
    // A quota above the ceiling is the ceiling.
    assert!(limited(&over, MAX_LIST_ITEMS * 10).is_err());
    let at = json!({"format": "aliases", "identifiers": emails(MAX_LIST_ITEMS)});
    assert!(Subject::parse(&at, ParseMode::Issuing).is_ok());
}
