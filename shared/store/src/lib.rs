//! sethub's storage: the only crate that touches sea-orm.
//!
//! - [`Store`] connects (PostgreSQL or SQLite), migrates, pings; on PostgreSQL the services run
//!   as a role that owns nothing and [`migrate_as_owner`] migrates and grants as the owner.
//! - [`Store::tenants`] is the global tenant registry.
//! - [`Store::scope`] gives a [`TenantScope`], the only way to tenant-owned rows; its
//!   repositories ([`ApiKeys`], [`SigningKeys`], [`Receivers`], [`Events`], [`Streams`]) return plain
//!   structs. On PostgreSQL, row-level security isolates tenants in the database itself; the
//!   repositories filter by tenant too.
//! - With the `testing` feature, [`testing::TestDb`] gives a test a fresh database.

mod due;
mod entities;
mod error;
mod repos;
mod roles;
mod scope;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use due::{DueTenant, PollQueue};
pub use error::{DatabaseError, StoreError};
pub use repos::events::MAX_LIST as MAX_EVENTS_LISTED;
pub use repos::{
    ApiKey, ApiKeys, Attempt, Audit, AuditEntry, Change, Deliveries, Delivery, DeliveryKind,
    DeliveryState, EventFilter, EventSource, Events, InsertOutcome, InsertedBatch, Invite,
    KeylessInsert, Member, Members, NewApiKey, NewAuditEntry, NewDelivery, NewEvent, NewMember,
    NewReceiver, NewSigningKey, NewUpstream, Receiver, Receivers, Role, SigningKeyRecord,
    SigningKeyState, SigningKeys, SsoConfig, StoredEvent, Stream, StreamFields, StreamSubject,
    Streams, Subscription, SubscriptionStatus, Tenant, Tenants, Update, Upstream, Upstreams, Usage,
};
pub use repos::{DueCursor, DueDeliveries, DuePage, FirstDelivered, MAX_REDRIVE};
pub use repos::{FailureStreak, QUEUE_COUNT_CAP, Queue};
pub use repos::{HealthFacts, HourOutcomes, LogFilter, LogSearch, MAX_LOG_PAGE};
pub use repos::{OpenInvite, TeamChange, TeamError};
pub use roles::migrate_as_owner;
pub use scope::{TenantScope, TenantTx};
pub use sethub_migrations::TENANT_SETTING;
pub use store::{Backend, ConnectOptions, Store};
