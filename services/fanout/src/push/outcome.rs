//! What a push attempt's answer means for the SET and the stream (RFC 8935 §2.2–2.4).
//!
//! Decided here, once, as a pure function of the response, so that the worker only acts:
//! `202` delivered; other `2xx` delivered but non-standard; network errors, timeouts, `408`
//! and `5xx` retried; `429` retried no earlier than `Retry-After`; `400` with an RFC 8935
//! `err` decides between re-signing, dead-lettering this one SET, or disabling the stream.

use std::time::Duration;

/// The most we wait because a receiver's `Retry-After` said so.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The decision for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `202 Accepted`: done.
    Delivered,
    /// Another `2xx`: the receiver took it, but not as RFC 8935 says; counted separately.
    DeliveredNonStandard { status: u16 },
    /// A recoverable failure: try again later (`not_before` from `Retry-After`, if any).
    Retry {
        reason: String,
        not_before: Option<Duration>,
    },
    /// `jws_signature_failed`: sign the SET again with the tenant's current key, once.
    Resign { description: String },
    /// The SET itself is refused (`invalid_request`, `invalid_state`, `413`): dead-letter
    /// it; the stream keeps flowing.
    RejectSet { err: String, description: String },
    /// The stream cannot deliver (bad key, issuer, audience, credentials, permission, gone):
    /// disable it with this reason and tell the receiver with a `stream-updated` SET.
    DisableStream { reason: String },
}

/// A push response reduced to what the decision needs.
#[derive(Debug, Clone, Default)]
pub struct PushResponse<'a> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// An RFC 8935 error body: `{"err": "...", "description": "..."}`.
#[derive(Debug, serde::Deserialize)]
struct ErrorBody {
    err: String,
    #[serde(default)]
    description: String,
}

/// Decides what a response means.
pub fn classify(resp: &PushResponse<'_>) -> Outcome {
    match resp.status {
        202 => Outcome::Delivered,
        200..=299 => Outcome::DeliveredNonStandard {
            status: resp.status,
        },
        408 | 500..=599 => Outcome::Retry {
            reason: format!("receiver answered HTTP {}", resp.status),
            not_before: resp.retry_after.and_then(parse_retry_after),
        },
        429 => Outcome::Retry {
            reason: "receiver answered 429 Too Many Requests".to_owned(),
            not_before: Some(
                resp.retry_after
                    .and_then(parse_retry_after)
                    .unwrap_or(Duration::from_secs(1)),
            ),
        },
        400 => classify_400(resp),
        413 => Outcome::RejectSet {
            err: "payload_too_large".to_owned(),
            description: "receiver answered 413".to_owned(),
        },
        300..=399 => Outcome::DisableStream {
            reason: format!(
                "push endpoint answered a redirect (HTTP {}); redirects are not followed",
                resp.status
            ),
        },
        401 => Outcome::DisableStream {
            reason: "push endpoint answered 401: the authorization header was refused".to_owned(),
        },
        403 => Outcome::DisableStream {
            reason: "push endpoint answered 403: delivery is not allowed".to_owned(),
        },
        404 | 410 => Outcome::DisableStream {
            reason: format!("push endpoint not found (HTTP {})", resp.status),
        },
        status => Outcome::DisableStream {
            reason: format!("push endpoint answered HTTP {status}"),
        },
    }
}

fn classify_400(resp: &PushResponse<'_>) -> Outcome {
    let body: Option<ErrorBody> = serde_json::from_slice(resp.body).ok();
    let Some(ErrorBody { err, description }) = body else {
        return Outcome::DisableStream {
            reason: "push endpoint answered 400 without an RFC 8935 error body".to_owned(),
        };
    };
    let description: String = description.chars().take(500).collect();
    match err.as_str() {
        "jws_signature_failed" => Outcome::Resign { description },
        "invalid_request" | "invalid_state" => Outcome::RejectSet { err, description },
        "invalid_key"
        | "invalid_issuer"
        | "invalid_audience"
        | "authentication_failed"
        | "access_denied" => Outcome::DisableStream {
            reason: reason(&err, &description),
        },
        _ => Outcome::DisableStream {
            reason: reason(&err, &description),
        },
    }
}

fn reason(err: &str, description: &str) -> String {
    let err: String = err
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    if description.is_empty() {
        err
    } else {
        format!("{err}: {description}")
    }
}

/// `Retry-After` as delay-seconds (RFC 9110 §10.2.3), clamped to [1 s, 1 h]. The HTTP-date
/// form is read too; a date in the past means "now" (1 s).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).clamp(Duration::from_secs(1), MAX_RETRY_AFTER));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when
        .signed_duration_since(chrono::Utc::now())
        .num_seconds()
        .max(1);
    Some(Duration::from_secs(delta.unsigned_abs()).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Outcome {
        classify(&PushResponse {
            status,
            body: body.as_bytes(),
            ..Default::default()
        })
    }

    #[test]
    fn accepted_is_delivered_and_other_success_codes_are_counted_apart() {
        assert_eq!(resp(202, ""), Outcome::Delivered);
        assert_eq!(resp(200, ""), Outcome::DeliveredNonStandard { status: 200 });
        assert_eq!(resp(204, ""), Outcome::DeliveredNonStandard { status: 204 });
    }

    #[test]
    fn server_errors_and_timeouts_are_retried() {
        assert!(matches!(resp(500, ""), Outcome::Retry { .. }));
        assert!(matches!(resp(503, ""), Outcome::Retry { .. }));
        assert!(matches!(resp(408, ""), Outcome::Retry { .. }));
    }

    #[test]
    fn too_many_requests_waits_for_retry_after_clamped() {
        let r = |v| {
            classify(&PushResponse {
                status: 429,
                retry_after: Some(v),
                ..Default::default()
            })
        };
        assert_eq!(
            r("2"),
            Outcome::Retry {
                reason: "receiver answered 429 Too Many Requests".into(),
                not_before: Some(Duration::from_secs(2))
            }
        );
        assert!(
            matches!(r("999999"), Outcome::Retry { not_before: Some(d), .. } if d == MAX_RETRY_AFTER)
        );
        assert!(
            matches!(r("0"), Outcome::Retry { not_before: Some(d), .. } if d == Duration::from_secs(1))
        );
        assert!(
            matches!(r("garbage"), Outcome::Retry { not_before: Some(d), .. } if d == Duration::from_secs(1))
        );
    }

    #[test]
    fn rfc8935_error_codes_choose_resign_reject_or_disable() {
        assert!(matches!(
            resp(
                400,
                r#"{"err":"jws_signature_failed","description":"bad sig"}"#
            ),
            Outcome::Resign { .. }
        ));
        assert!(matches!(
            resp(400, r#"{"err":"invalid_request","description":"x"}"#),
            Outcome::RejectSet { .. }
        ));
        assert!(matches!(
            resp(400, r#"{"err":"invalid_state","description":"x"}"#),
            Outcome::RejectSet { .. }
        ));
        for err in [
            "invalid_key",
            "invalid_issuer",
            "invalid_audience",
            "authentication_failed",
            "access_denied",
            "something_new",
        ] {
            match resp(
                400,
                &format!(r#"{{"err":"{err}","description":"Key 1 revoked"}}"#),
            ) {
                Outcome::DisableStream { reason } => {
                    assert_eq!(reason, format!("{err}: Key 1 revoked"))
                }
                other => panic!("{err}: {other:?}"),
            }
        }
        assert!(matches!(
            resp(400, "not json"),
            Outcome::DisableStream { .. }
        ));
    }

    #[test]
    fn other_client_errors_disable_the_stream() {
        for status in [301, 401, 403, 404, 410, 405] {
            assert!(
                matches!(resp(status, ""), Outcome::DisableStream { .. }),
                "{status}"
            );
        }
        assert!(matches!(resp(413, ""), Outcome::RejectSet { .. }));
    }
}
