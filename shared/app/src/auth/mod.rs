//! Authentication: receivers' bearer access tokens.

pub mod receiver;
pub mod token;

pub use receiver::{AuthenticatedReceiver, ReceiverAuthError, authenticate_receiver};
pub use token::{TokenClaims, TokenError, TokenKeys};
