//! Security Event Tokens (RFC 8417) under the SSF 1.0 profile: building and signing, and
//! validating incoming SETs with RFC 8935 error codes.

mod claims;
mod error;
mod validate;

pub use claims::{Audience, SetClaims, sign_set};
pub use error::{ErrCode, SetError};
pub use validate::{Expectations, ValidatedSet, validate_set};

/// The JOSE `typ` of a SET (RFC 8417 §2.3, required by SSF).
pub const SET_TYP: &str = "secevent+jwt";
