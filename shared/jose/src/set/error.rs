//! Why a SET was refused, and the RFC 8935 error code each reason maps to.

use std::fmt;

use serde::Serialize;
use sethub_domain::events::EventError;
use sethub_domain::subject::SubjectError;

use crate::Alg;

/// An RFC 8935 §2.4 / IANA "Security Event Token Error Codes" code (plus SSF's `invalid_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrCode {
    InvalidRequest,
    InvalidKey,
    InvalidIssuer,
    InvalidAudience,
    AuthenticationFailed,
    AccessDenied,
    InvalidState,
}

impl ErrCode {
    /// The code as sent in `err`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidKey => "invalid_key",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidAudience => "invalid_audience",
            Self::AuthenticationFailed => "authentication_failed",
            Self::AccessDenied => "access_denied",
            Self::InvalidState => "invalid_state",
        }
    }
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a SET was refused. [`SetError::err_code`] gives the RFC 8935 code and
/// [`SetError::description`] (the `Display` text) a human explanation in English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    #[error("the SET is {len} bytes long; at most {max} are accepted")]
    TooLarge { len: usize, max: usize },
    #[error("the SET cannot be parsed: {0}")]
    Malformed(String),
    #[error("unsecured SETs (`alg: none`) are not accepted")]
    Unsecured,
    #[error("the signing algorithm `{0}` is not accepted (accepted: ES256, EdDSA, RS256)")]
    AlgorithmNotAccepted(String),
    #[error("the JOSE header `typ` must be `secevent+jwt`, found {}", .0.as_deref().map_or("none".to_owned(), |t| format!("`{t}`")))]
    WrongType(Option<String>),
    #[error("{}", match .0 { Some(kid) => format!("no key with kid `{kid}` is known for this issuer"), None => "no key of the issuer fits the SET's algorithm".to_owned() })]
    UnknownKey(Option<String>),
    #[error("the key `{kid}` cannot verify {alg} signatures")]
    KeyAlgorithmMismatch { kid: String, alg: Alg },
    #[error("the signature does not verify with the issuer's key")]
    BadSignature,
    #[error("{0}")]
    InvalidClaims(String),
    #[error("the subject is invalid: {0}")]
    InvalidSubject(SubjectError),
    #[error("the event is invalid: {0}")]
    InvalidEvent(EventError),
    #[error("SETs from issuer `{found}` are not accepted here")]
    InvalidIssuer { found: String },
    #[error("the SET's audience {found} does not name this recipient")]
    InvalidAudience { found: String },
    #[error("the transmitter could not be authenticated: {0}")]
    AuthenticationFailed(String),
    #[error("the transmitter may not deliver this SET here: {0}")]
    AccessDenied(String),
    #[error("the verification state does not match the one requested")]
    InvalidState,
}

impl SetError {
    /// The RFC 8935 error code.
    pub fn err_code(&self) -> ErrCode {
        match self {
            Self::TooLarge { .. }
            | Self::Malformed(_)
            | Self::Unsecured
            | Self::WrongType(_)
            | Self::InvalidClaims(_)
            | Self::InvalidSubject(_)
            | Self::InvalidEvent(_) => ErrCode::InvalidRequest,
            Self::AlgorithmNotAccepted(_)
            | Self::UnknownKey(_)
            | Self::KeyAlgorithmMismatch { .. }
            | Self::BadSignature => ErrCode::InvalidKey,
            Self::InvalidIssuer { .. } => ErrCode::InvalidIssuer,
            Self::InvalidAudience { .. } => ErrCode::InvalidAudience,
            Self::AuthenticationFailed(_) => ErrCode::AuthenticationFailed,
            Self::AccessDenied(_) => ErrCode::AccessDenied,
            Self::InvalidState => ErrCode::InvalidState,
        }
    }

    /// A human-readable description (English), for the `description` member.
    pub fn description(&self) -> String {
        self.to_string()
    }

    /// The RFC 8935 §2.3 error body: `{"err": …, "description": …}`.
    pub fn to_push_error(&self) -> serde_json::Value {
        serde_json::json!({ "err": self.err_code().as_str(), "description": self.description() })
    }
}
