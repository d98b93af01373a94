//! Repositories: what the services may do with the data, returning plain structs.

pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod deliveries;
pub(crate) mod events;
pub(crate) mod members;
pub(crate) mod receivers;
pub(crate) mod signing_keys;
pub(crate) mod streams;
pub(crate) mod team;
pub(crate) mod tenants;
pub(crate) mod upstreams;
pub(crate) mod usage;

pub use api_keys::{ApiKey, ApiKeys, NewApiKey};
pub use audit::{Audit, AuditEntry, NewAuditEntry};
pub use deliveries::{
    Attempt, Change, Deliveries, Delivery, DeliveryKind, DeliveryState, NewDelivery, Update,
};
pub use deliveries::{DueCursor, DueDeliveries, DuePage, FirstDelivered, MAX_REDRIVE};
pub use deliveries::{FailureStreak, QUEUE_COUNT_CAP, Queue};
pub use deliveries::{HealthFacts, HourOutcomes, LogFilter, LogSearch, MAX_LOG_PAGE};
pub use events::{
    EventFilter, EventSource, Events, InsertOutcome, InsertedBatch, KeylessInsert, NewEvent,
    StoredEvent,
};
pub use members::{Invite, Member, Members, NewMember, Role, SsoConfig};
pub use receivers::{NewReceiver, Receiver, Receivers};
pub use signing_keys::{NewSigningKey, SigningKeyRecord, SigningKeyState, SigningKeys};
pub use streams::{Stream, StreamFields, StreamSubject, Streams};
pub use team::{OpenInvite, TeamChange, TeamError};
pub use tenants::{Tenant, Tenants};
pub use upstreams::{NewUpstream, Subscription, SubscriptionStatus, Upstream, Upstreams};
pub use usage::Usage;

use chrono::{DateTime, SubsecRound, Utc};

/// Now, to the microsecond: PostgreSQL keeps microseconds, so a value read back equals the
/// value written on both backends.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The same truncation for times the callers give.
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}
