//! Errors of the SSF stream operations and their one mapping to responses, shared by the
//! stream API (manage) and the poll endpoint (fan-out). SSF defines status codes only (§5); we add a small JSON body
//! (`error`, `error_description`) that names the problem for people, `WWW-Authenticate` on 401
//! and 403 (RFC 6750 §3), and `Retry-After` on 429.
//!
//! A quota refusal is a 400 (`error: "quota_exceeded"`, `quota` naming the limit, `limit` its
//! value): SSF §5.1 lists 400 for create and for subject changes, and a limit that only the
//! operator can raise is not a rate (429 would invite retrying). A receiver changing the
//! status of a stream its tenant or sethub disabled gets 403 (listed for status updates) with
//! the reason.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use sethub_domain::{Quota, StatusActor};
use sethub_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SsfError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("the access token lacks the `{0}` scope")]
    InsufficientScope(&'static str),
    #[error("not found")]
    NotFound,
    #[error("verification was requested too soon; retry in {0} s")]
    TooSoon(u64),
    #[error("quota {quota} reached: {}", quota.describe(*limit))]
    QuotaExceeded { quota: Quota, limit: u32 },
    #[error("{}", locked_message(*by, reason.as_deref()))]
    StatusLocked {
        by: StatusActor,
        reason: Option<String>,
    },
    /// The transmitter's organisation is closed (`crate::closing`): nothing new is made.
    #[error(
        "the transmitter's organisation `{0}` is closed: no stream can be created or changed, \
         and its streams are disabled"
    )]
    Closed(String),
    /// The database could not answer (503; the cause is logged, not shown).
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn locked_message(by: StatusActor, reason: Option<&str>) -> String {
    let who = match by {
        StatusActor::Sethub => "sethub (deliveries kept failing)",
        StatusActor::Tenant => "its tenant",
        StatusActor::Receiver => "its receiver",
    };
    let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
    format!("the stream was disabled by {who}{why}; only the tenant can enable it again")
}

impl SsfError {
    pub fn bad(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::BadRequest(format!("{field}: {problem}"))
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    /// The member at fault and the problem, when the request was refused for one member.
    pub fn field(&self) -> Option<(&str, &str)> {
        match self {
            Self::BadRequest(msg) => msg.split_once(": "),
            _ => None,
        }
    }
}

impl From<StoreError> for SsfError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::QuotaExceeded { quota, limit } => Self::QuotaExceeded { quota, limit },
            StoreError::StatusLocked { by, reason } => Self::StatusLocked { by, reason },
            e @ StoreError::Database(_) => Self::Unavailable(e.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl ResponseError for SsfError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::TooSoon(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::QuotaExceeded { .. } => StatusCode::BAD_REQUEST,
            Self::StatusLocked { .. } | Self::Closed(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header(("Cache-Control", "no-store"));
        let (code, description) = match self {
            Self::BadRequest(d) => ("invalid_request", d.clone()),
            Self::Unauthorized(d) => {
                resp.insert_header((
                    "WWW-Authenticate",
                    format!(
                        "Bearer error=\"invalid_token\", error_description=\"{}\"",
                        d.replace('"', "'")
                    ),
                ));
                ("invalid_token", d.clone())
            }
            Self::InsufficientScope(scope) => {
                resp.insert_header((
                    "WWW-Authenticate",
                    format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
                ));
                ("insufficient_scope", self.to_string())
            }
            Self::NotFound => ("not_found", "no such stream for this receiver".to_owned()),
            Self::TooSoon(secs) => {
                resp.insert_header(("Retry-After", secs.to_string()));
                ("too_many_requests", self.to_string())
            }
            Self::QuotaExceeded { quota, limit } => {
                return resp.json(json!({
                    "error": "quota_exceeded",
                    "error_description": self.to_string(),
                    "quota": quota,
                    "limit": limit,
                }));
            }
            Self::StatusLocked { .. } | Self::Closed(_) => ("access_denied", self.to_string()),
            Self::Unavailable(cause) => {
                tracing::warn!(error = %cause, "SSF request: the store cannot answer");
                resp.insert_header(("Retry-After", "5"));
                ("temporarily_unavailable", "try again shortly".to_owned())
            }
            Self::Internal(cause) => {
                tracing::error!(error = %cause, "SSF request failed");
                (
                    "server_error",
                    "internal error; it has been logged".to_owned(),
                )
            }
        };
        resp.json(json!({"error": code, "error_description": description}))
    }
}
