//! JOSE for sethub, written on ring: compact JWS (ES256, EdDSA, RS256), JWK/JWKS, Security
//! Event Tokens (build, sign, validate with RFC 8935 error codes), signing-key rotation and
//! sealing of private keys at rest. See `shared/stack.md` ("JOSE decision") for why by hand.

mod alg;
mod b64;
mod jwk;
mod jws;
mod key;
pub mod keyring;
pub mod keyset;
mod set;
mod spec;
mod strict_json;

pub use alg::Alg;
pub use jwk::{Jwk, JwkError, Jwks};
pub use jws::{JwsHeader, sign_jws};
pub use key::{KeyError, SigningKey};
pub use set::{
    Audience, ErrCode, Expectations, SET_TYP, SetClaims, SetError, ValidatedSet, sign_set,
    validate_set,
};
pub use spec::{KeySpec, RSA_BITS, SpecError};
