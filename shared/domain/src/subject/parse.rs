//! Parsing subject identifiers from JSON, with errors that name the offending member.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{COMPLEX_MEMBERS, ComplexSubject, Subject, SubjectId};

/// How strict parsing is (`spec/subjects.md` §4: strict when issuing, tolerant when receiving).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseMode {
    /// Subjects the hub will issue SETs about (tenant input): undeclared members are refused,
    /// legacy names are not translated, phone numbers must be strict E.164.
    Issuing,
    /// Subjects received from peers: legacy names normalized (`subject_type`, `iss-sub`,
    /// `phone`, `jwt-id`, complex without `format`), unknown members ignored.
    Receiving,
}

/// A subject that breaks its format's rules; `path` names the member (`sub_id.user.email`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct SubjectError {
    pub path: String,
    pub problem: String,
}

fn err(path: &str, problem: impl Into<String>) -> SubjectError {
    SubjectError {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

fn join(path: &str, member: &str) -> String {
    format!("{path}.{member}")
}

/// Refuses a list (or a complex subject's members) longer than `max`, naming it.
fn check_len(n: usize, max: usize, path: &str) -> Result<(), SubjectError> {
    if n > max {
        return Err(err(
            path,
            format!("has {n} items; at most {max} are allowed (quota subject_list_items)"),
        ));
    }
    Ok(())
}

/// Any array inside a proprietary format's members, at any depth, longer than `max`.
fn check_arrays(v: &Value, max: usize, path: &str) -> Result<(), SubjectError> {
    match v {
        Value::Array(items) => {
            check_len(items.len(), max, path)?;
            for (i, x) in items.iter().enumerate() {
                check_arrays(x, max, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Value::Object(m) => {
            check_len(m.len(), max, path)?;
            m.iter()
                .try_for_each(|(k, x)| check_arrays(x, max, &join(path, k)))
        }
        _ => Ok(()),
    }
}

pub(super) fn parse_subject(
    value: &Value,
    mode: ParseMode,
    path: &str,
    max: usize,
) -> Result<Subject, SubjectError> {
    let obj = value
        .as_object()
        .ok_or_else(|| err(path, "must be a JSON object"))?;
    let format = format_of(obj, mode, path)?;
    if format == "complex" {
        return parse_complex(obj, mode, path, max).map(Subject::Complex);
    }
    parse_simple_with(obj, &format, mode, path, true, max).map(Subject::Simple)
}

/// The format name, with the legacy spellings normalized in `Receiving` mode.
fn format_of(
    obj: &Map<String, Value>,
    mode: ParseMode,
    path: &str,
) -> Result<String, SubjectError> {
    let raw = match (obj.get("format"), mode) {
        (Some(v), _) => v,
        (None, ParseMode::Receiving) => match obj.get("subject_type") {
            Some(v) => v,
            None if obj.keys().any(|k| COMPLEX_MEMBERS.contains(&k.as_str())) => {
                return Ok("complex".to_owned());
            }
            None => return Err(err(&join(path, "format"), "required member is missing")),
        },
        (None, ParseMode::Issuing) => {
            return Err(err(&join(path, "format"), "required member is missing"));
        }
    };
    let name = raw
        .as_str()
        .ok_or_else(|| err(&join(path, "format"), "must be a string"))?;
    if name.is_empty() {
        return Err(err(&join(path, "format"), "must not be empty"));
    }
    Ok(match (mode, name) {
        (ParseMode::Receiving, "iss-sub") => "iss_sub".to_owned(),
        (ParseMode::Receiving, "phone" | "phone-number") => "phone_number".to_owned(),
        (ParseMode::Receiving, "jwt-id") => "jwt_id".to_owned(),
        _ => name.to_owned(),
    })
}

fn parse_complex(
    obj: &Map<String, Value>,
    mode: ParseMode,
    path: &str,
    max: usize,
) -> Result<ComplexSubject, SubjectError> {
    // `format` (and a legacy `subject_type`) are not members.
    let members = obj
        .keys()
        .filter(|k| *k != "format" && *k != "subject_type")
        .count();
    check_len(members, max, path)?;
    let mut out = ComplexSubject::new();
    for (name, value) in obj {
        if name == "format" || (mode == ParseMode::Receiving && name == "subject_type") {
            continue;
        }
        let member_path = join(path, name);
        let member_obj = value
            .as_object()
            .ok_or_else(|| err(&member_path, "must be a subject identifier object"))?;
        let format = format_of(member_obj, mode, &member_path)?;
        if format == "complex" || format == "aliases" {
            return Err(err(
                &join(&member_path, "format"),
                format!("a complex subject member cannot be `{format}`"),
            ));
        }
        let id = parse_simple_with(member_obj, &format, mode, &member_path, false, max)?;
        out.members.insert(name.clone(), id);
    }
    if out.is_empty() {
        return Err(err(
            path,
            "a complex subject needs at least one member besides `format`",
        ));
    }
    Ok(out)
}

/// The members each known simple format declares.
fn declared_members(format: &str) -> Option<&'static [&'static str]> {
    Some(match format {
        "account" | "uri" => &["uri"],
        "email" => &["email"],
        "iss_sub" => &["iss", "sub"],
        "opaque" => &["id"],
        "phone_number" => &["phone_number"],
        "did" => &["url"],
        "aliases" => &["identifiers"],
        "jwt_id" => &["iss", "jti"],
        "saml_assertion_id" => &["issuer", "assertion_id"],
        "ip-addresses" => &["ip-addresses"],
        _ => return None,
    })
}

fn parse_simple_with(
    obj: &Map<String, Value>,
    format: &str,
    mode: ParseMode,
    path: &str,
    aliases_allowed: bool,
    max: usize,
) -> Result<SubjectId, SubjectError> {
    let Some(declared) = declared_members(format) else {
        return parse_other(obj, format, mode, path, max);
    };
    let undeclared = |k: &&String| *k != "format" && !declared.contains(&k.as_str());
    if mode == ParseMode::Issuing
        && let Some(extra) = obj.keys().find(undeclared)
    {
        return Err(err(
            &join(path, extra),
            format!("member not defined by the `{format}` format"),
        ));
    }
    let text = |member: &str| required_string(obj, member, path);
    let id = match format {
        "account" => {
            let uri = text("uri")?;
            let rest = strip_scheme(&uri, "acct:");
            if rest.is_none_or(|r| r.is_empty()) {
                return Err(err(&join(path, "uri"), "must be an `acct:` URI"));
            }
            SubjectId::Account { uri }
        }
        "email" => {
            let email = text("email")?;
            check_email(&email).map_err(|p| err(&join(path, "email"), p))?;
            SubjectId::Email { email }
        }
        "iss_sub" => SubjectId::IssSub {
            iss: text("iss")?,
            sub: text("sub")?,
        },
        "opaque" => SubjectId::Opaque { id: text("id")? },
        "phone_number" => {
            let phone_number = text("phone_number")?;
            check_phone(&phone_number, mode).map_err(|p| err(&join(path, "phone_number"), p))?;
            SubjectId::PhoneNumber { phone_number }
        }
        "did" => {
            let url = text("url")?;
            if strip_scheme(&url, "did:").is_none_or(|r| !r.contains(':')) {
                return Err(err(
                    &join(path, "url"),
                    "must be a DID URL (`did:<method>:<id>`)",
                ));
            }
            SubjectId::Did { url }
        }
        "uri" => {
            let uri = text("uri")?;
            if url::Url::parse(&uri).is_err() {
                return Err(err(&join(path, "uri"), "must be an absolute URI"));
            }
            SubjectId::Uri { uri }
        }
        "jwt_id" => SubjectId::JwtId {
            iss: text("iss")?,
            jti: text("jti")?,
        },
        "saml_assertion_id" => SubjectId::SamlAssertionId {
            issuer: text("issuer")?,
            assertion_id: text("assertion_id")?,
        },
        "ip-addresses" => SubjectId::IpAddresses {
            ip_addresses: parse_ips(obj, path, max)?,
        },
        "aliases" => {
            if !aliases_allowed {
                return Err(err(&join(path, "format"), "`aliases` cannot be nested"));
            }
            SubjectId::Aliases {
                identifiers: parse_aliases(obj, mode, path, max)?,
            }
        }
        _ => return parse_other(obj, format, mode, path, max),
    };
    Ok(id)
}

fn parse_aliases(
    obj: &Map<String, Value>,
    mode: ParseMode,
    path: &str,
    max: usize,
) -> Result<Vec<SubjectId>, SubjectError> {
    let member_path = join(path, "identifiers");
    let list = match obj.get("identifiers") {
        None | Some(Value::Null) => return Err(err(&member_path, "required member is missing")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(err(&member_path, "must be an array of subject identifiers")),
    };
    if list.is_empty() {
        return Err(err(&member_path, "must not be empty"));
    }
    check_len(list.len(), max, &member_path)?;
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let item_path = format!("{member_path}[{i}]");
        let item_obj = item
            .as_object()
            .ok_or_else(|| err(&item_path, "must be a JSON object"))?;
        let format = format_of(item_obj, mode, &item_path)?;
        if format == "complex" {
            return Err(err(
                &join(&item_path, "format"),
                "an alias cannot be a complex subject",
            ));
        }
        out.push(parse_simple_with(
            item_obj, &format, mode, &item_path, false, max,
        )?);
    }
    Ok(out)
}

fn parse_ips(
    obj: &Map<String, Value>,
    path: &str,
    max: usize,
) -> Result<Vec<String>, SubjectError> {
    let member_path = join(path, "ip-addresses");
    let list = match obj.get("ip-addresses") {
        None | Some(Value::Null) => return Err(err(&member_path, "required member is missing")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(err(&member_path, "must be an array of IP address strings")),
    };
    if list.is_empty() {
        return Err(err(&member_path, "must not be empty"));
    }
    check_len(list.len(), max, &member_path)?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let item_path = format!("{member_path}[{i}]");
            let s = v
                .as_str()
                .ok_or_else(|| err(&item_path, "must be a string"))?;
            s.parse::<IpAddr>()
                .map(|_| s.to_owned())
                .map_err(|_| err(&item_path, format!("`{s}` is not an IP address")))
        })
        .collect()
}

fn parse_other(
    obj: &Map<String, Value>,
    format: &str,
    mode: ParseMode,
    path: &str,
    max: usize,
) -> Result<SubjectId, SubjectError> {
    if format == "scim" {
        required_string(obj, "uri", path)?;
    }
    let members: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| *k != "format" && *k != "subject_type")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    check_len(members.len(), max, path)?;
    for (k, v) in &members {
        check_arrays(v, max, &join(path, k))?;
    }
    if members.is_empty() && mode == ParseMode::Issuing {
        return Err(err(
            path,
            format!("format `{format}` needs at least one member"),
        ));
    }
    Ok(SubjectId::Other {
        format: format.to_owned(),
        members,
    })
}

fn required_string(
    obj: &Map<String, Value>,
    member: &str,
    path: &str,
) -> Result<String, SubjectError> {
    match obj.get(member) {
        None | Some(Value::Null) => Err(err(&join(path, member), "required member is missing")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(err(&join(path, member), "must not be empty"))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(err(&join(path, member), "must be a string")),
    }
}

/// The rest of `s` after a case-insensitive scheme prefix.
fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let head = s.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &s[scheme.len()..])
}

fn check_email(email: &str) -> Result<(), &'static str> {
    let (local, domain) = email
        .rsplit_once('@')
        .ok_or("must be an email address (no `@`)")?;
    if local.is_empty() || domain.is_empty() {
        return Err("must be an email address (`local@domain`)");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace");
    }
    Ok(())
}

/// E.164: `+` then 1 to 15 digits. When receiving, the separators of SSF's own example
/// (`+1 206 555 0123`) are tolerated.
fn check_phone(phone: &str, mode: ParseMode) -> Result<(), &'static str> {
    let rest = phone
        .strip_prefix('+')
        .ok_or("must start with `+` and the country code (E.164)")?;
    let mut digits = 0;
    for c in rest.chars() {
        match c {
            '0'..='9' => digits += 1,
            ' ' | '-' | '.' | '(' | ')' if mode == ParseMode::Receiving => {}
            _ => return Err("must be `+` followed by digits only (E.164)"),
        }
    }
    if !(1..=15).contains(&digits) {
        return Err("must have between 1 and 15 digits (E.164)");
    }
    Ok(())
}
