//! sethub's domain: typed ids, subject identifiers and their matching, event vocabularies and
//! validated values. No I/O lives here.

pub mod delivery;
pub mod events;
pub mod ids;
pub mod profile;
pub mod quotas;
pub mod stream;
pub mod subject;

pub use ids::{
    ApiKeyId, AuditId, DeliveryId, EventId, IdParseError, MemberId, ReceiverId, SigningKeyId,
    StreamId, TenantId, UpstreamId,
};
pub use profile::Profile;
pub use quotas::{Quota, QuotaOverrides, Quotas};
pub use stream::{DeliveryMethod, StatusActor, StreamStatus};
