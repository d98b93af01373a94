//! The request log (one tracing span per request, as `tracing-actix-web` makes it) without
//! the secrets some URLs carry: invite tokens in the path (`/console/t/{slug}/join/{token}`,
//! `/portal/t/{slug}/invite/{token}`) and OAuth values in the query (`code`, `state`, ...).

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// What a redacted part of a URL becomes in the log.
pub const REDACTED: &str = "[redacted]";

/// Route parameters whose value is a secret (the segment is never logged).
const SECRET_PARAMS: [&str; 1] = ["{token}"];

/// Query parameters whose value is a secret.
const SECRET_QUERY: [&str; 7] = [
    "code",
    "state",
    "token",
    "id_token",
    "access_token",
    "client_secret",
    "password",
];

/// The request target as logged: `path` with every segment matched by a secret route
/// parameter of `pattern` replaced, and the values of secret query parameters replaced.
/// Without a matched pattern, the segment after `join` or `invite` under `/t/` is replaced.
pub fn redact_target(pattern: Option<&str>, path: &str, query: Option<&str>) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let secret: Vec<bool> = match pattern {
        Some(p) if p.split('/').count() == segments.len() => {
            p.split('/').map(|s| SECRET_PARAMS.contains(&s)).collect()
        }
        _ => {
            let under_tenant = segments.get(2) == Some(&"t");
            (0..segments.len())
                .map(|i| {
                    under_tenant
                        && i > 0
                        && matches!(segments.get(i - 1), Some(&("join" | "invite")))
                })
                .collect()
        }
    };
    let mut out: String = segments
        .iter()
        .zip(secret)
        .map(|(s, secret)| if secret { REDACTED } else { s })
        .collect::<Vec<_>>()
        .join("/");
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if SECRET_QUERY.contains(&name) => format!("{name}={REDACTED}"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// The root span of a request: the fields of `tracing-actix-web`'s default one, with the
/// target redacted.
pub struct RedactedRootSpan;

impl RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern();
        let target = redact_target(
            route.as_deref(),
            request.uri().path(),
            request.uri().query(),
        );
        let request_id = request.extensions().get::<RequestId>().copied();
        let connection = request.connection_info();
        let user_agent = request
            .headers()
            .get("User-Agent")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route.as_deref().unwrap_or("default"),
            http.scheme = %connection.scheme(),
            http.host = %connection.host(),
            http.client_ip = %connection.realip_remote_addr().unwrap_or(""),
            http.user_agent = %user_agent,
            http.target = %target,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id.map(|id| id.to_string()).unwrap_or_default(),
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_token_in_a_matched_route_is_redacted() {
        let logged = redact_target(
            Some("/console/t/{slug}/join/{token}"),
            "/console/t/acme/join/s3cr3t-token",
            None,
        );
        assert_eq!(logged, "/console/t/acme/join/[redacted]");
    }

    #[test]
    fn an_invite_token_without_a_matched_route_is_redacted() {
        let logged = redact_target(None, "/portal/t/acme/invite/s3cr3t/extra", Some("x=1"));
        assert_eq!(logged, "/portal/t/acme/invite/[redacted]/extra?x=1");
    }

    #[test]
    fn oauth_values_in_the_query_are_redacted_and_other_parameters_kept() {
        let logged = redact_target(
            Some("/console/sso/callback"),
            "/console/sso/callback",
            Some("code=abc&state=def&hours=4"),
        );
        assert_eq!(
            logged,
            "/console/sso/callback?code=[redacted]&state=[redacted]&hours=4"
        );
    }

    #[test]
    fn an_ordinary_path_is_logged_as_it_is() {
        let logged = redact_target(
            Some("/console/streams/{id}"),
            "/console/streams/str_1",
            None,
        );
        assert_eq!(logged, "/console/streams/str_1");
    }
}
