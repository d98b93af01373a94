use std::time::Duration;

/// Errors of the state store. Backend failures are one variant: state is rebuildable, so the
/// caller only needs to know it could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The backend did not answer, refused, or failed (Redis down, timeout, script error).
    #[error("state backend unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The backend did not answer within the configured timeout.
    #[error("state backend timed out after {0:?}")]
    Timeout(Duration),
    /// A stored value is not what the operation expects (e.g. `incr` on a non-integer).
    #[error("value at `{key}` is not {expected}")]
    WrongType { key: String, expected: &'static str },
    /// A caller error: bad limit, cost above burst, bad prefix.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl From<::redis::RedisError> for StateError {
    fn from(err: ::redis::RedisError) -> Self {
        Self::Unavailable(Box::new(err))
    }
}
