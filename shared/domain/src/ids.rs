//! Typed, prefixed identifiers (`tnt_…`, `str_…`, `rcv_…`, `evt_…`).
//!
//! Every id is a UUID (v7, so ids sort by creation time) shown with a short prefix that says
//! what it names, so logs and API payloads read well and an id of one kind can never be
//! passed where another is expected. The database stores the bare UUID.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The error for a string that is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id: expected `{prefix}_` followed by 32 hex digits")]
pub struct IdParseError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// The prefix shown before the UUID.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id (UUID v7: time-ordered).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps a UUID read from storage.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The bare UUID, as stored.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.simple())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let err = || IdParseError { kind: $kind, prefix: $prefix, value: s.to_owned() };
                let rest = s
                    .strip_prefix($prefix)
                    .and_then(|r| r.strip_prefix('_'))
                    .ok_or_else(err)?;
                if rest.len() != 32 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(err());
                }
                Uuid::parse_str(rest).map(Self).map_err(|_| err())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// A tenant: an identity provider or SaaS product that publishes events.
    TenantId, "tnt", "tenant"
);
typed_id!(
    /// A receiver organisation of a tenant (holds OAuth client credentials).
    ReceiverId, "rcv", "receiver"
);
typed_id!(
    /// An SSF stream of a receiver.
    StreamId, "str", "stream"
);
typed_id!(
    /// An accepted event (the `txn` of every SET made from it).
    EventId, "evt", "event"
);
typed_id!(
    /// An API key of a tenant (the id, never the secret).
    ApiKeyId, "key", "API key"
);
typed_id!(
    /// A signing key of a tenant.
    SigningKeyId, "sig", "signing key"
);
typed_id!(
    /// One delivery obligation: a SET for one (event, stream).
    DeliveryId, "dlv", "delivery"
);
typed_id!(
    /// An upstream SET transmitter a tenant accepts SETs from.
    UpstreamId, "ups", "upstream transmitter"
);
typed_id!(
    /// A member of a tenant's console (a person who signs in).
    MemberId, "mbr", "member"
);
typed_id!(
    /// An entry of a tenant's audit log.
    AuditId, "aud", "audit entry"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_round_trips_through_its_prefixed_text_form() {
        let id = TenantId::new();
        let text = id.to_string();
        assert!(text.starts_with("tnt_"));
        assert_eq!(text.len(), 4 + 32);
        assert_eq!(text.parse::<TenantId>(), Ok(id));
    }

    #[test]
    fn an_id_of_another_kind_is_refused_with_the_expected_prefix_named() {
        let stream = StreamId::new().to_string();
        let err = stream.parse::<TenantId>().unwrap_err();
        assert_eq!(err.prefix, "tnt");
        assert!(err.to_string().contains("tenant id"));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "tnt_",
            "tnt_xyz",
            "tnt-0190a0b0c0d0e0f00000000000000000",
            "TNT_0190a0b0c0d0e0f00000000000000000",
        ] {
            assert!(bad.parse::<TenantId>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn ids_serialize_as_prefixed_strings() {
        let id = EventId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: EventId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
    }
}
