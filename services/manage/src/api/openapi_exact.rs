//! The generated OpenAPI document, corrected to say exactly what the server does where the
//! handlers' annotations cannot:
//!
//! - Error responses are `application/problem+json` (RFC 9457), as served, not
//!   `application/json`: every response whose schema is `Problem` is moved to that type.
//! - Request bodies refuse members they do not name (400 naming the member): their schemas
//!   say `additionalProperties: false`.
//! - A `POST` body whose schema requires no member may be left out (the server reads an
//!   empty body as `{}`), except a replay's, which must name a range; a `PUT` body is always
//!   required (an empty one is a 400).
//! - Free text (a string with no pattern, format or enum) holds no NUL (U+0000): the server
//!   refuses it with a 400 naming the member or parameter.
//! - Rules between members ([`cross_member_rules`]): a key size only for RS256, a
//!   transmitter's keys by URL or inline (one of the two), a replay's range named by at least
//!   one bound.

use serde_json::{Value, json};

const PROBLEM_REF: &str = "#/components/schemas/Problem";
const PROBLEM_TYPE: &str = "application/problem+json";
/// `POST` routes whose body the server requires although no single member is.
const BODY_REQUIRED_POSTS: [&str; 1] = ["/api/v1/streams/{id}/replay"];

/// The document as served (see the module documentation), as JSON: utoipa's types have no
/// room for the cross-member rules. A document that cannot be converted (never, for
/// utoipa's own output) is an empty object.
pub fn as_served(doc: utoipa::openapi::OpenApi) -> Value {
    let Ok(mut value) = serde_json::to_value(&doc) else {
        return Value::Object(serde_json::Map::new());
    };
    let schemas = value
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or(Value::Null);
    let mut bodies = Vec::new();
    if let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                problem_responses(op);
                let always = method != "post" || BODY_REQUIRED_POSTS.contains(&path.as_str());
                optional_body(always, op, &schemas);
                if let Some(r) = op
                    .pointer("/requestBody/content/application~1json/schema/$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    bodies.push(r.to_owned());
                }
            }
        }
    }
    // The objects inside a body refuse unknown members too.
    let mut i = 0;
    while i < bodies.len() {
        let nested = schemas.get(&bodies[i]).map(refs_in).unwrap_or_default();
        bodies.extend(
            nested
                .into_iter()
                .filter(|n| !bodies.contains(n))
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    for (name, rules) in cross_member_rules() {
        if let Some(schema) = value
            .pointer_mut(&format!("/components/schemas/{name}"))
            .and_then(Value::as_object_mut)
        {
            merge(schema, rules);
        }
    }
    no_nul_in_free_text(&mut value);
    for name in bodies {
        if let Some(schema) = value
            .pointer_mut(&format!("/components/schemas/{name}"))
            .and_then(Value::as_object_mut)
            .filter(|s| s.get("type").and_then(Value::as_str) == Some("object"))
        {
            schema.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
    }
    value
}

/// Gives every free-text string schema (no `pattern`, `format` or `enum`) in the document a
/// pattern that refuses NUL.
fn no_nul_in_free_text(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let is_string = match m.get("type") {
                Some(Value::String(t)) => t == "string",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                _ => false,
            };
            let free = ["pattern", "format", "enum"]
                .iter()
                .all(|k| !m.contains_key(*k));
            if is_string && free {
                m.insert("pattern".to_owned(), json!("^[^\\u0000]*$"));
            }
            m.values_mut().for_each(no_nul_in_free_text);
        }
        Value::Array(items) => items.iter_mut().for_each(no_nul_in_free_text),
        _ => {}
    }
}

/// Merges `extra` into `schema`: objects member by member, anything else replaced.
fn merge(schema: &mut serde_json::Map<String, Value>, extra: Value) {
    let Value::Object(extra) = extra else {
        return;
    };
    for (k, v) in extra {
        match (schema.get_mut(&k), v) {
            (Some(Value::Object(inner)), v @ Value::Object(_)) => merge(inner, v),
            (_, v) => {
                schema.insert(k, v);
            }
        }
    }
}

/// A member given a value (present and not `null`) of JSON type `ty`.
fn given(member: &str, ty: &str) -> Value {
    json!({"required": [member], "properties": {member: {"type": ty}}})
}

/// What the server checks across members, as JSON Schema, by component schema.
fn cross_member_rules() -> [(&'static str, Value); 4] {
    [
        // The derive cannot put a pattern on a list's items.
        (
            "RedriveRequest",
            json!({"properties": {"delivery_ids": {
                "maxItems": 1000,
                "items": {"type": "string", "pattern": "^dlv_[0-9a-fA-F]{32}$"},
            }}}),
        ),
        // `rsa_bits` sizes an RSA key: with another `alg` it is a 400.
        (
            "Rotate",
            json!({
                "if": given("rsa_bits", "integer"),
                "then": {"properties": {"alg": {"enum": ["RS256", null]}}},
            }),
        ),
        // The transmitter's keys: `jwks_url` or `jwks`, exactly one; a JWKS holds keys.
        (
            "UpstreamRequest",
            json!({
                "oneOf": [given("jwks_url", "string"), given("jwks", "object")],
                "properties": {"jwks": {
                    "required": ["keys"],
                    "properties": {"keys": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["kty"],
                            "properties": {"kty": {"enum": ["EC", "OKP", "RSA"]}},
                        },
                    }},
                }},
            }),
        ),
        // A replay names at least one bound of its range.
        (
            "ReplayRequest",
            json!({
                "anyOf": [
                    given("from", "string"),
                    given("to", "string"),
                    given("from_event_id", "string"),
                    given("to_event_id", "string"),
                ],
            }),
        ),
    ]
}

/// The component schemas `schema` refers to (at any depth).
fn refs_in(schema: &Value) -> Vec<String> {
    match schema {
        Value::Object(m) => m
            .iter()
            .flat_map(|(k, v)| match (k.as_str(), v.as_str()) {
                ("$ref", Some(r)) => r
                    .strip_prefix("#/components/schemas/")
                    .map(str::to_owned)
                    .into_iter()
                    .collect(),
                _ => refs_in(v),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(refs_in).collect(),
        _ => Vec::new(),
    }
}

fn problem_responses(op: &mut Value) {
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        let is_problem = content
            .get("application/json")
            .and_then(|c| c.pointer("/schema/$ref"))
            .and_then(Value::as_str)
            == Some(PROBLEM_REF);
        if let (true, Some(media)) = (is_problem, content.remove("application/json")) {
            content.insert(PROBLEM_TYPE.to_owned(), media);
        }
    }
}

fn optional_body(always: bool, op: &mut Value, schemas: &Value) {
    let Some(body) = op.get_mut("requestBody").and_then(Value::as_object_mut) else {
        return;
    };
    let schema = body
        .get("content")
        .and_then(|c| c.get("application/json"))
        .and_then(|c| c.get("schema"));
    let resolved = match schema.and_then(|s| s.get("$ref")).and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/components/schemas/")
            .and_then(|name| schemas.get(name)),
        None => schema,
    };
    let requires_members = resolved
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    let required = always || requires_members;
    body.insert("required".to_owned(), Value::Bool(required));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn problems_are_problem_json_and_only_posts_without_required_members_have_optional_bodies() {
        let doc = crate::api::openapi();
        let paths = doc["paths"].as_object().unwrap();
        let mut problems = 0;
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    let content = response["content"].as_object();
                    if status.starts_with('4') {
                        let content = content.unwrap_or_else(|| panic!("{method} {path} {status}"));
                        assert!(
                            content.contains_key(PROBLEM_TYPE),
                            "{method} {path} {status}"
                        );
                        assert!(!content.contains_key("application/json"));
                        problems += 1;
                    }
                }
                if let Some(body) = op.get("requestBody") {
                    let optional = [
                        "/api/v1/api-keys",
                        "/api/v1/signing-keys/rotate",
                        "/api/v1/streams/{id}/redrive",
                    ];
                    let want = !(method == "post" && optional.contains(&path.as_str()));
                    assert_eq!(body["required"], want, "{method} {path}");
                }
            }
        }
        assert!(problems > 40, "{problems}");
        for body in [
            "CreateApiKey",
            "Rotate",
            "SetProfile",
            "DeliverySettingsDoc",
        ] {
            assert_eq!(
                doc["components"]["schemas"][body]["additionalProperties"], false,
                "{body}"
            );
        }
    }
}
