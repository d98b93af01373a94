//! Reading a publish request's body: `Content-Type: application/json` (415 otherwise), at most
//! `ingest.max_body_bytes` by `Content-Length` and as it streams (413), a JSON object (400).

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde_json::{Map, Value};
use sethub_http::{ApiError, ErrorCode};

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is larger than {limit} bytes"),
    )
}

/// Refuses a body that is not declared as JSON (checked before reading it).
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be `Content-Type: application/json`",
        ))
    }
}

/// Reads the body, refusing more than `limit` bytes (by `Content-Length` before reading, and
/// by what actually arrives: a missing or lying `Content-Length` does not get past).
pub async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let capacity = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit));
    let mut body = Vec::with_capacity(capacity.min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::invalid("body", format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses the bytes as a JSON object (400 naming the syntax problem otherwise).
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid("body", "the body must be a JSON object")),
        Err(e) => Err(ApiError::invalid(
            "body",
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

/// Content type, size and syntax, in that order: the body as a JSON object.
pub async fn read_object(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Map<String, Value>, ApiError> {
    require_json(req)?;
    let bytes = read_limited(req, payload, limit).await?;
    json_object(&bytes)
}
