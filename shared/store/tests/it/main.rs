//! The store's tests, one binary: row-level security, the repository contract on both
//! backends, migrations up/down/up, and the role check.

// Test code may unwrap: a panic is a failed assertion with a location. (clippy.toml's
// allow-unwrap-in-tests covers `#[test]` functions only, not the helpers they call.)
#![allow(clippy::unwrap_used)]

mod contract;
mod deliveries;
mod migrations;
mod rls;
mod role;
mod streams;
mod support;
