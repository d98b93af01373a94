//! Reading `Authorization: Bearer <token>` (RFC 6750 §2.1) once, for every authenticating
//! extractor; each maps the failure to its own error shape.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

/// Why a request carries no usable bearer token; the text is safe to show the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("an `Authorization: Bearer <token>` header is required")]
    Missing,
    #[error("the Authorization header is not readable text")]
    Unreadable,
    #[error("the Authorization scheme must be Bearer")]
    WrongScheme,
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, token trimmed).
pub fn bearer_token(req: &HttpRequest) -> Result<&str, BearerError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or(BearerError::Missing)?;
    let header = header.to_str().map_err(|_| BearerError::Unreadable)?;
    match header.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(BearerError::WrongScheme),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_token_is_read_whatever_the_scheme_case_and_anything_else_is_named() {
        let req = TestRequest::default()
            .insert_header(("Authorization", "bearer  abc "))
            .to_http_request();
        assert_eq!(bearer_token(&req), Ok("abc"));
        let req = TestRequest::default().to_http_request();
        assert_eq!(bearer_token(&req), Err(BearerError::Missing));
        for bad in ["Basic abc", "Bearer", "Bearer   ", "abc"] {
            let req = TestRequest::default()
                .insert_header(("Authorization", bad))
                .to_http_request();
            assert_eq!(bearer_token(&req), Err(BearerError::WrongScheme), "{bad}");
        }
    }
}
