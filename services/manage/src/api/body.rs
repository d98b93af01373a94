//! Request bodies of the REST API: read with a size limit (413), parsed as a JSON object (400
//! naming the syntax problem), then field by field into typed requests (400 naming the field).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sethub_http::{ApiError, ErrorCode, nul};

/// The largest body the REST API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request body type: built from the fields of a JSON object.
pub trait FromFields: Sized {
    /// Whether an empty body is refused (400 naming `body`) instead of read as `{}`: for
    /// replacements, where `{}` means "clear" and must be said.
    const BODY_REQUIRED: bool = false;

    fn from_fields(fields: &mut Fields) -> Result<Self, ApiError>;
}

/// The members of a JSON body, taken one by one; members left over are refused.
#[derive(Debug)]
pub struct Fields(Map<String, Value>);

impl Fields {
    /// Parses `T` from these members (a web form's, say), refusing any left over: the rules
    /// and messages of the JSON API.
    pub fn parse<T: FromFields>(map: Map<String, Value>) -> Result<T, ApiError> {
        let mut f = Fields(map);
        let t = T::from_fields(&mut f)?;
        f.finish()?;
        Ok(t)
    }

    /// The member `name`, if present and not `null`, as a `T` (400 naming it otherwise).
    pub fn optional<T: DeserializeOwned>(&mut self, name: &str) -> Result<Option<T>, ApiError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| ApiError::invalid(name, format!("`{name}`: {e}"))),
        }
    }

    /// Whether the member `name` is present (even as `null`).
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The member `name`, which must be present.
    pub fn required<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, ApiError> {
        self.optional(name)?
            .ok_or_else(|| ApiError::invalid(name, format!("`{name}` is required")))
    }

    fn finish(self) -> Result<(), ApiError> {
        match self.0.keys().next() {
            Some(k) => Err(ApiError::invalid(k.clone(), format!("unknown field `{k}`"))),
            None => Ok(()),
        }
    }
}

/// A JSON request body parsed into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`] (by `Content-Length` or as it streams).
async fn read_limited(req: &HttpRequest, mut payload: Payload) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::invalid("body", format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The request's query string as `T`; a parameter holding a NUL is refused, naming it.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    let raw = req.query_string();
    if let Some(name) = nul::in_urlencoded(raw.as_bytes()) {
        return Err(ApiError::invalid(name, nul::NUL_REFUSED));
    }
    web::Query::<T>::from_query(raw)
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::invalid("query", e.to_string()))
}

/// Writes numbers with no fraction as integers, recursively: JSON (and JSON Schema's
/// `integer`) does not tell `3072.0` from `3072`, and an integer member must take either.
fn integral_numbers(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let int = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15);
            // Within ±9e15 a whole f64 is an exact i64.
            #[allow(clippy::cast_possible_truncation)]
            if let Some(f) = int {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(m) => m.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// Parses a body: an empty body reads as `{}`, unless `T` requires one. Anything else must be
/// a JSON object (whitespace alone is not JSON).
pub fn parse<T: FromFields>(content_type: Option<&str>, body: &[u8]) -> Result<T, ApiError> {
    let object = if body.is_empty() {
        if T::BODY_REQUIRED {
            return Err(ApiError::invalid(
                "body",
                "a JSON object is required (send `{}` to clear every member)",
            ));
        }
        Map::new()
    } else {
        let is_json = content_type.is_some_and(|ct| {
            let mime = ct.split(';').next().unwrap_or_default().trim();
            mime.eq_ignore_ascii_case("application/json")
        });
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be `Content-Type: application/json`",
            ));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(mut m)) => {
                if let Some(at) = nul::in_members(&m) {
                    return Err(ApiError::invalid(at, nul::NUL_REFUSED));
                }
                m.values_mut().for_each(integral_numbers);
                m
            }
            Ok(_) => return Err(ApiError::invalid("body", "the body must be a JSON object")),
            Err(e) => {
                return Err(ApiError::invalid(
                    "body",
                    format!("the body is not valid JSON: {e}"),
                ));
            }
        }
    };
    let mut fields = Fields(object);
    let value = T::from_fields(&mut fields)?;
    fields.finish()?;
    Ok(value)
}

impl<T: FromFields + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let body = read_limited(&req, payload).await?;
            let ct = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            parse(ct, &body).map(JsonBody)
        })
    }
}

/// `web::Data<AppContext>` or a 500 (a wiring mistake, never a client's).
pub fn context(req: &HttpRequest) -> Result<web::Data<sethub_app::AppContext>, ApiError> {
    req.app_data::<web::Data<sethub_app::AppContext>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("AppContext is not registered"))
}
