//! Push delivery (RFC 8935).

pub mod outcome;
pub mod worker;
