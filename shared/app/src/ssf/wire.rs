//! The SSF stream configuration on the wire (SSF 1.0 §4–§5): parsing request bodies into
//! what the receiver asked for, with the spec's distinctions between a field that is absent,
//! `null`, or present; and the configuration object sent back.
//!
//! Choices where SSF is silent (documented in the README's SSF section):
//! - `events_requested` absent on create means "every supported event type".
//! - `delivery` absent on create means poll (SSF §5.2 MUST).
//! - PUT without `delivery` is refused (400): deleting the delivery method leaves nothing to
//!   deliver with.
//! - `authorization_header` is write-only: it is stored sealed and never returned.
//! - Unknown top-level members are ignored (receivers and transmitters MUST ignore what they
//!   do not understand); members of the wrong JSON type are a 400 naming the member.

use serde::Serialize;
use serde_json::{Map, Value};
use sethub_domain::StreamId;

use super::error::SsfError;

/// Largest JSON body accepted by the management endpoints.
pub const MAX_BODY: usize = 64 * 1024;

/// Parses a management request body as JSON, at most [`MAX_BODY`] bytes, holding no NUL (400
/// naming the member).
pub fn parse_json(body: &[u8]) -> Result<Value, SsfError> {
    if body.len() > MAX_BODY {
        return Err(SsfError::bad(
            "body",
            format!("larger than {MAX_BODY} bytes"),
        ));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| SsfError::bad("body", format!("not valid JSON ({e})")))?;
    match sethub_http::nul::in_json(&v) {
        Some(at) if at.is_empty() => Err(SsfError::bad("body", sethub_http::nul::NUL_REFUSED)),
        Some(at) => Err(SsfError::bad(&at, sethub_http::nul::NUL_REFUSED)),
        None => Ok(v),
    }
}

/// A status, subject or verification body: a JSON object whose `stream_id` names a stream
/// (SSF §6–§8).
pub struct StreamBody {
    pub obj: Map<String, Value>,
    pub raw_id: String,
    pub id: StreamId,
}

/// Parses a status, subject or verification body. A malformed `stream_id` names no stream of
/// the receiver: 404, like an unknown one.
pub fn stream_body(raw: &[u8]) -> Result<StreamBody, SsfError> {
    let v = parse_json(raw)?;
    let Value::Object(obj) = v else {
        return Err(SsfError::bad("body", "must be a JSON object"));
    };
    let raw_id = obj
        .get("stream_id")
        .and_then(Value::as_str)
        .ok_or_else(|| SsfError::bad("stream_id", "is required and must be a string"))?
        .to_owned();
    let id = parse_stream_id(Some(&raw_id))?.ok_or(SsfError::NotFound)?;
    Ok(StreamBody { obj, raw_id, id })
}

/// A `stream_id` given or not; a malformed one names no stream of this receiver: 404, like
/// an unknown one.
pub fn parse_stream_id(raw: Option<&str>) -> Result<Option<StreamId>, SsfError> {
    match raw {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| SsfError::NotFound),
    }
}

pub const PUSH_URN: &str = "urn:ietf:rfc:8935";
pub const POLL_URN: &str = "urn:ietf:rfc:8936";
/// Pre-2023 drafts' method URIs, accepted on input and answered with the final URNs.
const LEGACY_PUSH: &str = "https://schemas.openid.net/secevent/risc/delivery-method/push";
const LEGACY_POLL: &str = "https://schemas.openid.net/secevent/risc/delivery-method/poll";

/// Longest `description` kept (SSF: the transmitter MAY truncate).
pub const MAX_DESCRIPTION: usize = 1000;
/// Most `events_requested` entries accepted.
pub const MAX_EVENTS_REQUESTED: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    #[serde(rename = "urn:ietf:rfc:8935")]
    Push,
    #[serde(rename = "urn:ietf:rfc:8936")]
    Poll,
}

impl Method {
    pub fn urn(self) -> &'static str {
        match self {
            Self::Push => PUSH_URN,
            Self::Poll => POLL_URN,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            PUSH_URN | LEGACY_PUSH => Some(Self::Push),
            POLL_URN | LEGACY_POLL => Some(Self::Poll),
            _ => None,
        }
    }
}

/// The receiver's `delivery` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRequest {
    pub method: Method,
    /// Push: where to POST (required). Poll: ignored (the transmitter assigns it), but if
    /// given it must equal the current one on PATCH/PUT.
    pub endpoint_url: Option<String>,
    /// Push: the complete `Authorization` header value to send.
    pub authorization_header: Option<String>,
}

/// A field of a PATCH: left alone, set, or (for nullable fields) removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    /// The value given, if any (`null` and absent alike are none).
    pub fn into_value(self) -> Option<T> {
        match self {
            Self::Value(v) => Some(v),
            Self::Absent | Self::Null => None,
        }
    }
}

/// What a create, PATCH or PUT body says, checked for types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamRequest {
    pub stream_id: Option<String>,
    pub delivery: Patch<DeliveryRequest>,
    pub events_requested: Patch<Vec<String>>,
    pub description: Patch<String>,
    /// Transmitter-supplied members the receiver echoed; on PATCH/PUT they must equal the
    /// current values (SSF §5.4), compared as JSON.
    pub transmitter_supplied: Vec<(&'static str, Value)>,
}

/// A 400 with the member at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct BadRequest {
    pub field: String,
    pub problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> BadRequest {
    BadRequest {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// Members the transmitter supplies (SSF §4).
pub const TRANSMITTER_SUPPLIED: [&str; 7] = [
    "iss",
    "aud",
    "events_supported",
    "events_delivered",
    "min_verification_interval",
    "inactivity_timeout",
    "status",
];

/// Transmitter-supplied members a create request must not carry (a 400 naming the member).
pub const CREATE_REFUSED: [&str; 6] = [
    "iss",
    "aud",
    "events_supported",
    "events_delivered",
    "min_verification_interval",
    "inactivity_timeout",
];

/// Parses a request body (already known to be JSON).
pub fn parse_stream_request(body: &Value) -> Result<StreamRequest, BadRequest> {
    let obj = body
        .as_object()
        .ok_or_else(|| bad("body", "must be a JSON object"))?;
    let mut req = StreamRequest {
        stream_id: match obj.get("stream_id") {
            None => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return Err(bad("stream_id", "must be a non-empty string")),
        },
        ..StreamRequest::default()
    };
    req.delivery = match obj.get("delivery") {
        None => Patch::Absent,
        Some(Value::Null) => Patch::Null,
        Some(Value::Object(d)) => Patch::Value(parse_delivery(d)?),
        Some(_) => return Err(bad("delivery", "must be an object")),
    };
    req.events_requested = match obj.get("events_requested") {
        None => Patch::Absent,
        Some(Value::Null) => Patch::Null,
        Some(Value::Array(items)) => {
            if items.len() > MAX_EVENTS_REQUESTED {
                return Err(bad(
                    "events_requested",
                    format!("at most {MAX_EVENTS_REQUESTED} entries"),
                ));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) if !s.is_empty() && s.len() <= 512 => {
                        if !out.contains(s) {
                            out.push(s.clone());
                        }
                    }
                    _ => {
                        return Err(bad(
                            &format!("events_requested[{i}]"),
                            "must be an event type URI string",
                        ));
                    }
                }
            }
            Patch::Value(out)
        }
        Some(_) => {
            return Err(bad(
                "events_requested",
                "must be an array of event type URIs",
            ));
        }
    };
    req.description = match obj.get("description") {
        None => Patch::Absent,
        Some(Value::Null) => Patch::Null,
        Some(Value::String(s)) => Patch::Value(s.chars().take(MAX_DESCRIPTION).collect()),
        Some(_) => return Err(bad("description", "must be a string")),
    };
    for name in TRANSMITTER_SUPPLIED {
        if let Some(v) = obj.get(name) {
            req.transmitter_supplied.push((name, v.clone()));
        }
    }
    Ok(req)
}

fn parse_delivery(d: &Map<String, Value>) -> Result<DeliveryRequest, BadRequest> {
    // Legacy drafts' examples used `delivery_method` and `url`.
    let method = d
        .get("method")
        .or_else(|| d.get("delivery_method"))
        .ok_or_else(|| bad("delivery.method", "is required"))?;
    let method = method
        .as_str()
        .ok_or_else(|| bad("delivery.method", "must be a string"))?;
    let method = Method::parse(method).ok_or_else(|| {
        bad(
            "delivery.method",
            format!("`{method}` is not supported; use {PUSH_URN} or {POLL_URN}"),
        )
    })?;
    let endpoint_url = match d.get("endpoint_url").or_else(|| d.get("url")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("delivery.endpoint_url", "must be a string")),
    };
    let authorization_header = match d.get("authorization_header") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if s.is_empty() || s.len() > 4096 || s.chars().any(|c| c.is_control()) {
                return Err(bad(
                    "delivery.authorization_header",
                    "must be a non-empty header value without control characters (at most 4096 bytes)",
                ));
            }
            Some(s.clone())
        }
        Some(_) => return Err(bad("delivery.authorization_header", "must be a string")),
    };
    if method == Method::Push && endpoint_url.is_none() {
        return Err(bad(
            "delivery.endpoint_url",
            "is required for push delivery (urn:ietf:rfc:8935)",
        ));
    }
    if method == Method::Poll && authorization_header.is_some() {
        return Err(bad(
            "delivery.authorization_header",
            "applies to push delivery only",
        ));
    }
    Ok(DeliveryRequest {
        method,
        endpoint_url,
        authorization_header,
    })
}

/// The stream configuration object as sent to receivers (SSF §4).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StreamConfig {
    pub stream_id: String,
    pub iss: String,
    pub aud: Value,
    pub delivery: DeliveryOut,
    pub events_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_requested: Option<Vec<String>>,
    pub events_delivered: Vec<String>,
    pub min_verification_interval: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactivity_timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeliveryOut {
    pub method: Method,
    pub endpoint_url: String,
}

/// `events_delivered` (SSF §4 [derived]): the requested types we support, in the order the
/// receiver asked; absent `events_requested` means every supported type.
pub fn events_delivered(requested: Option<&[String]>, supported: &[String]) -> Vec<String> {
    match requested {
        None => supported.to_vec(),
        Some(req) => req
            .iter()
            .filter(|e| supported.contains(e))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_spec_create_example_parses() {
        let body = json!({
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "https://receiver.example.com/events"},
            "events_requested": ["urn:example:secevent:events:type_2", "urn:example:secevent:events:type_3"],
            "description": "Stream for Receiver A"
        });
        let req = parse_stream_request(&body).unwrap();
        assert_eq!(req.stream_id, None);
        let Patch::Value(d) = &req.delivery else {
            panic!()
        };
        assert_eq!(d.method, Method::Push);
        assert_eq!(
            d.endpoint_url.as_deref(),
            Some("https://receiver.example.com/events")
        );
        assert!(req.transmitter_supplied.is_empty());
    }

    #[test]
    fn absent_null_and_present_are_told_apart() {
        let req = parse_stream_request(&json!({"stream_id": "s", "description": null})).unwrap();
        assert_eq!(req.description, Patch::Null);
        assert_eq!(req.events_requested, Patch::Absent);
        assert_eq!(req.delivery, Patch::Absent);
    }

    #[test]
    fn wrong_types_name_the_member() {
        for (body, field) in [
            (json!([]), "body"),
            (json!({"delivery": "push"}), "delivery"),
            (json!({"delivery": {}}), "delivery.method"),
            (
                json!({"delivery": {"method": "urn:example:smoke-signals"}}),
                "delivery.method",
            ),
            (
                json!({"delivery": {"method": "urn:ietf:rfc:8935"}}),
                "delivery.endpoint_url",
            ),
            (json!({"events_requested": "x"}), "events_requested"),
            (json!({"events_requested": [1]}), "events_requested[0]"),
            (json!({"description": 5}), "description"),
            (json!({"stream_id": 5}), "stream_id"),
            (
                json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "https://x", "authorization_header": "a\nb"}}),
                "delivery.authorization_header",
            ),
        ] {
            assert_eq!(
                parse_stream_request(&body).unwrap_err().field,
                field,
                "{body}"
            );
        }
    }

    #[test]
    fn legacy_method_uris_are_understood() {
        let req = parse_stream_request(&json!({"delivery": {"method": LEGACY_POLL}})).unwrap();
        assert!(matches!(
            req.delivery,
            Patch::Value(DeliveryRequest {
                method: Method::Poll,
                ..
            })
        ));
    }

    #[test]
    fn transmitter_supplied_members_are_collected_for_comparison() {
        let req = parse_stream_request(&json!({"stream_id": "s", "iss": "https://x", "aud": "a"}))
            .unwrap();
        let names: Vec<&str> = req.transmitter_supplied.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["iss", "aud"]);
    }

    #[test]
    fn events_delivered_is_the_supported_part_of_the_request() {
        let supported = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(
            events_delivered(Some(&["b".into(), "x".into(), "a".into()]), &supported),
            ["b", "a"]
        );
        assert_eq!(events_delivered(None, &supported), supported);
        assert!(events_delivered(Some(&[]), &supported).is_empty());
    }
}
