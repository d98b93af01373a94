//! Validating event payloads against the registry, with errors naming the field.

use serde_json::Value;

use super::{EventType, FieldKind, Presence, registry};
use crate::subject::Subject;

/// An event that breaks its type's definition; `path` names the field
/// (`events.<uri>.<field>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct EventError {
    pub path: String,
    pub problem: String,
}

fn err(path: String, problem: impl Into<String>) -> EventError {
    EventError {
        path,
        problem: problem.into(),
    }
}

/// What validation found out about an event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validated {
    /// A known type whose payload conforms.
    Known(&'static EventType),
    /// An unknown type (an absolute URI): passed through unvalidated.
    Unknown,
}

/// Validates one event: the type must be an absolute URI; a known type's payload must have its
/// required fields, none of its forbidden ones, and the right types and values. Unknown
/// fields are ignored (SSF); unknown types pass through.
pub fn validate_event(uri: &str, payload: &Value) -> Result<Validated, EventError> {
    let base = || format!("events.{uri}");
    let event_type = registry().get(uri);
    if event_type.is_none() && !is_event_type_uri(uri) {
        return Err(err(base(), "the event type must be an absolute URI"));
    }
    let obj = payload
        .as_object()
        .ok_or_else(|| err(base(), "the event payload must be a JSON object"))?;
    let Some(event_type) = event_type else {
        return Ok(Validated::Unknown);
    };
    for field in event_type.all_fields() {
        let path = || format!("{}.{}", base(), field.name);
        match (obj.get(field.name), field.presence) {
            (None, Presence::Required) => return Err(err(path(), "required field is missing")),
            (Some(_), Presence::Forbidden) => {
                return Err(err(
                    path(),
                    format!("not allowed in a `{}` event", event_type.uri),
                ));
            }
            (Some(value), _) => check_kind(value, field.kind).map_err(|p| err(path(), p))?,
            (None, _) => {}
        }
    }
    Ok(Validated::Known(event_type))
}

/// Whether `uri` can name an event type: an absolute URI (URL or URN).
pub fn is_event_type_uri(uri: &str) -> bool {
    url::Url::parse(uri).is_ok()
}

/// Validates a whole `events` claim: a non-empty object of event type URI → payload.
pub fn validate_events(events: &Value) -> Result<Vec<Validated>, EventError> {
    let obj = events
        .as_object()
        .ok_or_else(|| err("events".into(), "must be a JSON object"))?;
    if obj.is_empty() {
        return Err(err("events".into(), "must contain at least one event"));
    }
    obj.iter()
        .map(|(uri, payload)| validate_event(uri, payload))
        .collect()
}

/// Checks the subject format rules of a known type (SSF's stream events are about an `opaque`
/// stream id; RISC identifier events are about an email or phone number).
pub fn check_subject(uri: &str, subject: &Subject) -> Result<(), EventError> {
    let Some(allowed) = registry().get(uri).and_then(|t| t.subject_formats) else {
        return Ok(());
    };
    if allowed.contains(&subject.format()) {
        return Ok(());
    }
    Err(err(
        "sub_id.format".into(),
        format!(
            "`{uri}` events need a subject of format {}, not `{}`",
            allowed.join(" or "),
            subject.format()
        ),
    ))
}

fn check_kind(value: &Value, kind: FieldKind) -> Result<(), String> {
    let non_empty_string = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Ok(()),
        Value::String(_) => Err("must not be empty".to_owned()),
        _ => Err("must be a string".to_owned()),
    };
    match kind {
        FieldKind::Any => Ok(()),
        FieldKind::String | FieldKind::OpenEnum(_) => non_empty_string(value),
        FieldKind::Number => match value {
            Value::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0) => Ok(()),
            Value::Number(_) => Err("must not be negative".into()),
            _ => Err("must be a number (seconds since the epoch)".into()),
        },
        FieldKind::Object => value
            .is_object()
            .then_some(())
            .ok_or_else(|| "must be a JSON object".into()),
        FieldKind::NonEmptyObject => match value.as_object() {
            Some(o) if !o.is_empty() => Ok(()),
            Some(_) => Err("must have at least one member".into()),
            None => Err("must be a JSON object".into()),
        },
        FieldKind::StringArray => match value.as_array() {
            Some(items) if items.iter().all(Value::is_string) => Ok(()),
            _ => Err("must be an array of strings".into()),
        },
        FieldKind::OneOf(allowed) => match value.as_str() {
            Some(s) if allowed.contains(&s) => Ok(()),
            Some(s) => Err(format!("`{s}` is not one of {}", allowed.join(", "))),
            None => Err(format!("must be a string, one of {}", allowed.join(", "))),
        },
        FieldKind::LanguageMap => match value {
            Value::Object(o) if !o.is_empty() && o.values().all(Value::is_string) => Ok(()),
            Value::Object(o) if o.is_empty() => Err("must have at least one language entry".into()),
            Value::Object(_) => Err("every entry must be a string".into()),
            Value::String(s) if !s.is_empty() => Ok(()),
            _ => Err("must be an object of language tag to message".into()),
        },
    }
}
