//! The `Idempotency-Key` header: 1–255 visible ASCII characters, stored with the event (its
//! `(tenant, key)` is unique), so a repeat gets the first event back.
//!
//! The stored key is prefixed by where it came from, so an API key, one item of a batch and an
//! upstream SET's `jti` (which another path stores in the same column) never collide.

use actix_web::HttpRequest;
use sethub_http::ApiError;

/// The header's name.
pub const HEADER: &str = "Idempotency-Key";
/// The longest key accepted.
pub const MAX_LEN: usize = 255;

/// The publisher's key, checked; `None` when the header is absent.
pub fn from_request(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let mut values = req.headers().get_all(HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid(
            HEADER,
            format!("`{HEADER}` must be 1 to {MAX_LEN} visible ASCII characters, sent once"),
        )
    };
    if values.next().is_some() {
        return Err(bad());
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_LEN || !bytes.iter().all(u8::is_ascii_graphic) {
        return Err(bad());
    }
    value
        .to_str()
        .map(|s| Some(s.to_owned()))
        .map_err(|_| bad())
}

/// The stored key of a single publish under the publisher's `key`.
pub fn stored_key(key: &str) -> String {
    format!("api:{key}")
}

/// The stored key of item `index` of a batch published under `key`.
pub fn stored_batch_key(key: &str, index: usize) -> String {
    format!("apib:{index}:{key}")
}
