//! NUL (U+0000) in a request: PostgreSQL stores it in neither `text` nor `jsonb`, and no value
//! sethub accepts holds one. Every surface refuses it where it parses its input, before
//! anything is looked up or written, with a 400 in its own shape naming the member; these find
//! it. (Binary values travel base64url-encoded, so none of them is touched.)

use actix_web::HttpRequest;
use serde_json::{Map, Value};

/// What every refusal says about the member it names.
pub const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// A member name as it can be shown: without its NULs.
fn shown(name: &str) -> String {
    name.replace('\0', "")
}

/// Where the first NUL of `v` is, in a string or a member name at any depth: the path of its
/// member (`sub_id.emails[1]`), or `""` when `v` itself is the string.
pub fn in_json(v: &Value) -> Option<String> {
    // Every request passes here and almost none holds a NUL: look without naming first, so
    // the common case allocates nothing.
    has_nul(v).then(|| walk(v, "")).flatten()
}

/// [`in_json`] of a JSON object's members.
pub fn in_members(members: &Map<String, Value>) -> Option<String> {
    members
        .iter()
        .any(|(k, x)| k.contains('\0') || has_nul(x))
        .then(|| walk_members(members, ""))
        .flatten()
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, x)| k.contains('\0') || has_nul(x)),
        _ => false,
    }
}

fn walk(v: &Value, at: &str) -> Option<String> {
    match v {
        Value::String(s) if s.contains('\0') => Some(at.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| walk(x, &format!("{at}[{i}]"))),
        Value::Object(m) => walk_members(m, at),
        _ => None,
    }
}

fn walk_members(members: &Map<String, Value>, at: &str) -> Option<String> {
    members.iter().find_map(|(k, x)| {
        let name = shown(k);
        let here = if at.is_empty() {
            name
        } else {
            format!("{at}.{name}")
        };
        if k.contains('\0') {
            Some(here)
        } else {
            walk(x, &here)
        }
    })
}

/// The first field of `application/x-www-form-urlencoded` text (a query string or a form
/// body) whose name or value holds a NUL, by its name.
pub fn in_urlencoded(raw: &[u8]) -> Option<String> {
    let fields: Vec<_> = url::form_urlencoded::parse(raw).collect();
    in_fields(fields.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
}

/// The first of these (name, value) fields whose name or value holds a NUL, by its name.
pub fn in_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    fields
        .into_iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| shown(k))
}

/// The first path parameter of the matched route holding a NUL (`%00`), by its name; `path`
/// when the NUL is in a part of the path no parameter of the route (yet) covers.
pub fn in_path(req: &HttpRequest) -> Option<String> {
    let params = req.match_info();
    if let Some((name, _)) = params.iter().find(|(_, v)| v.contains('\0')) {
        return Some(shown(name));
    }
    // The matched path is percent-decoded (all but `%`, `/` and `+`), so `%00` is a NUL here.
    params.as_str().contains('\0').then(|| "path".to_owned())
}

/// [`in_path`], then the query string's [`in_urlencoded`].
pub fn in_target(req: &HttpRequest) -> Option<String> {
    in_path(req).or_else(|| in_urlencoded(req.query_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::json;

    use super::*;

    #[test]
    fn json_nul_is_found_by_the_path_of_its_member() {
        assert_eq!(
            in_json(&json!({"a": "x", "b": {"c": [1, "y\u{0}"]}})).as_deref(),
            Some("b.c[1]")
        );
        assert_eq!(in_json(&json!({"a\u{0}b": 1})).as_deref(), Some("ab"));
        assert_eq!(in_json(&json!("\u{0}")).as_deref(), Some(""));
        assert_eq!(in_json(&json!({"a": ["x", {"b": null}], "c": 1.5})), None);
    }

    #[test]
    fn urlencoded_nul_is_found_by_the_field_name() {
        assert_eq!(in_urlencoded(b"a=1&b=x%00y").as_deref(), Some("b"));
        assert_eq!(in_urlencoded(b"a%00b=1").as_deref(), Some("ab"));
        assert_eq!(in_urlencoded(b"a=%2500&b=+"), None);
    }

    #[test]
    fn path_nul_is_found_by_the_parameter_or_as_the_path() {
        let req = TestRequest::with_uri("/t/x%00y/ssf/stream?stream_id=a%00").to_http_request();
        assert_eq!(in_path(&req).as_deref(), Some("path"));
        assert_eq!(in_target(&req).as_deref(), Some("path"));
        let req = TestRequest::with_uri("/t/x/ssf/stream?stream_id=a%00").to_http_request();
        assert_eq!(in_target(&req).as_deref(), Some("stream_id"));
        let req = TestRequest::with_uri("/t/x%2500/ssf/stream?a=%2500").to_http_request();
        assert_eq!(in_target(&req), None);
        let req = TestRequest::with_uri("/t/x%00y")
            .param("slug", "x\u{0}y")
            .to_http_request();
        assert_eq!(in_path(&req).as_deref(), Some("slug"));
    }
}
