//! The canonical form of a subject: normalized values, sorted members, one stable string.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{MatchPolicy, Subject, SubjectId};

pub(super) fn key(subject: &Subject, policy: &MatchPolicy) -> String {
    to_string(&normalized_subject(subject, policy))
}

pub(super) fn lookup_keys(subject: &Subject, policy: &MatchPolicy) -> Vec<String> {
    let mut keys = Vec::new();
    match subject {
        Subject::Simple(id) => leaf_keys(id, policy, &mut keys),
        Subject::Complex(c) => {
            keys.push(key(subject, policy));
            for (_, id) in c.members() {
                leaf_keys(id, policy, &mut keys);
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

fn leaf_keys(id: &SubjectId, policy: &MatchPolicy, keys: &mut Vec<String>) {
    match id {
        SubjectId::Aliases { identifiers } => {
            for inner in identifiers {
                leaf_keys(inner, policy, keys);
            }
        }
        SubjectId::IpAddresses { ip_addresses } if ip_addresses.len() > 1 => {
            for ip in ip_addresses {
                let one = SubjectId::IpAddresses {
                    ip_addresses: vec![ip.clone()],
                };
                keys.push(to_string(&normalized(&one, policy)));
            }
        }
        _ => keys.push(to_string(&normalized(id, policy))),
    }
}

fn to_string(value: &Value) -> String {
    // Serializing a Value cannot fail (string keys only); fall back to Display anyway.
    serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
}

fn normalized_subject(subject: &Subject, policy: &MatchPolicy) -> Value {
    match subject {
        Subject::Simple(id) => normalized(id, policy),
        Subject::Complex(c) => {
            let mut m = BTreeMap::new();
            m.insert("format".to_owned(), Value::from("complex"));
            for (name, id) in c.members() {
                m.insert(name.to_owned(), normalized(id, policy));
            }
            sorted_object(m)
        }
    }
}

/// The normalized JSON of a simple identifier, members sorted.
pub(super) fn normalized(id: &SubjectId, policy: &MatchPolicy) -> Value {
    let norm = policy.normalize_values;
    let mut m = BTreeMap::new();
    m.insert("format".to_owned(), Value::from(id.format()));
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    match id {
        SubjectId::Account { uri } | SubjectId::Uri { uri } => {
            put(
                "uri",
                Value::from(if norm { lower_scheme(uri) } else { uri.clone() }),
            );
        }
        SubjectId::Did { url } => {
            put(
                "url",
                Value::from(if norm { lower_scheme(url) } else { url.clone() }),
            );
        }
        SubjectId::Email { email } => put("email", Value::from(email_form(email, policy))),
        SubjectId::PhoneNumber { phone_number } => {
            let v = if norm {
                phone_digits(phone_number)
            } else {
                phone_number.clone()
            };
            put("phone_number", Value::from(v));
        }
        SubjectId::IpAddresses { ip_addresses } => {
            let list = if norm {
                canonical_ips(ip_addresses)
            } else {
                ip_addresses.clone()
            };
            put(
                "ip-addresses",
                Value::Array(list.into_iter().map(Value::from).collect()),
            );
        }
        SubjectId::Aliases { identifiers } => {
            let mut items: Vec<Value> = identifiers.iter().map(|i| normalized(i, policy)).collect();
            if norm {
                items.sort_by_key(to_string);
                items.dedup();
            }
            put("identifiers", Value::Array(items));
        }
        SubjectId::Other { members, .. } => {
            for (k, v) in members {
                put(k, deep_sorted(v));
            }
        }
        _ => {
            if let Value::Object(obj) = id.to_json() {
                for (k, v) in obj {
                    put(&k, v);
                }
            }
        }
    }
    sorted_object(m)
}

fn sorted_object(m: BTreeMap<String, Value>) -> Value {
    Value::Object(m.into_iter().collect::<Map<String, Value>>())
}

fn deep_sorted(v: &Value) -> Value {
    match v {
        Value::Object(obj) => {
            let m: BTreeMap<String, Value> = obj
                .iter()
                .map(|(k, v)| (k.clone(), deep_sorted(v)))
                .collect();
            sorted_object(m)
        }
        Value::Array(items) => Value::Array(items.iter().map(deep_sorted).collect()),
        other => other.clone(),
    }
}

fn lower_scheme(uri: &str) -> String {
    match uri.split_once(':') {
        Some((scheme, rest)) => format!("{}:{rest}", scheme.to_ascii_lowercase()),
        None => uri.to_owned(),
    }
}

/// Domain in ASCII lowercase when normalizing; local part folded only when the policy says so.
fn email_form(email: &str, policy: &MatchPolicy) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let local = if policy.email_local_part_case_insensitive {
                local.to_lowercase()
            } else {
                local.to_owned()
            };
            let domain = if policy.normalize_values {
                domain.to_ascii_lowercase()
            } else {
                domain.to_owned()
            };
            format!("{local}@{domain}")
        }
        None => email.to_owned(),
    }
}

fn phone_digits(phone: &str) -> String {
    phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect()
}

/// Addresses in canonical text form (`2001:db8::…`), sorted, without duplicates.
pub(super) fn canonical_ips(ips: &[String]) -> Vec<String> {
    let mut out: Vec<String> = ips
        .iter()
        .map(|s| {
            s.parse::<IpAddr>()
                .map(|ip| ip.to_string())
                .unwrap_or_else(|_| s.clone())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
