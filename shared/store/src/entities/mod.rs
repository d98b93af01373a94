//! sea-orm entities: private to this crate. The public API is the repositories and their plain
//! structs, so no sea-orm type leaks into the services.
//!
//! Relations are not declared: every query is written out with its `tenant_id` filter, and no
//! query joins across entities yet.

pub(crate) mod api_keys;
pub(crate) mod audit_log;
pub(crate) mod deliveries;
pub(crate) mod delivery_attempts;
pub(crate) mod events;
pub(crate) mod invites;
pub(crate) mod members;
pub(crate) mod receivers;
pub(crate) mod signing_keys;
pub(crate) mod sso_configs;
pub(crate) mod stream_subjects;
pub(crate) mod streams;
pub(crate) mod tenants;
pub(crate) mod upstream_transmitters;
