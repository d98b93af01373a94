//! The SSF stream operations as one service layer: typed functions called with structs by
//! the SSF stream API (manage), the portal, the console, the tenant REST API and fan-out's
//! poll endpoint; the one receiver-authentication extractor and the one SSF error mapping
//! both services use. No surface calls another surface's handlers.

pub mod auth;
pub mod control;
pub mod error;
pub mod streams;
pub mod wire;

pub use auth::{ALL_SCOPES, Receiver, ReceiverCaller, SCOPE_MANAGE, SCOPE_POLL, SCOPE_READ};
pub use error::SsfError;
