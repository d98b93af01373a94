//! Authentication: receivers' bearer access tokens.

pub mod token;

pub use token::{TokenClaims, TokenError, TokenKeys};
