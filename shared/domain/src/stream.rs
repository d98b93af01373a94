//! Stream-level values shared by the control plane and the data plane (SSF 1.0 §2, §6).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A stream's status (SSF §6): exactly these three strings on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamStatus {
    /// Events are transmitted.
    Enabled,
    /// Events are held and sent when the stream is enabled again.
    Paused,
    /// Events are neither sent nor held.
    Disabled,
}

impl StreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Paused => "paused",
            Self::Disabled => "disabled",
        }
    }
}

impl fmt::Display for StreamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StreamStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enabled" => Ok(Self::Enabled),
            "paused" => Ok(Self::Paused),
            "disabled" => Ok(Self::Disabled),
            other => Err(format!(
                "`{other}` is not a stream status (enabled, paused, disabled)"
            )),
        }
    }
}

/// Who set a stream's current status. A stream disabled by its tenant or by sethub (fan-out,
/// after RFC 8935 errors) stays disabled until the tenant enables it: its receiver may not
/// change that status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusActor {
    /// The stream's receiver (SSF status endpoint, portal); also the status a stream starts in.
    Receiver,
    /// The tenant (REST API, console).
    Tenant,
    /// sethub itself (fan-out disabling a stream whose receiver refuses its SETs).
    Sethub,
}

impl StatusActor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receiver => "receiver",
            Self::Tenant => "tenant",
            Self::Sethub => "sethub",
        }
    }
}

impl fmt::Display for StatusActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StatusActor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "receiver" => Ok(Self::Receiver),
            "tenant" => Ok(Self::Tenant),
            "sethub" => Ok(Self::Sethub),
            other => Err(format!("`{other}` is not a status actor")),
        }
    }
}

/// How SETs reach a stream's receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMethod {
    /// RFC 8935: sethub POSTs each SET to the receiver's endpoint.
    Push,
    /// RFC 8936: the receiver polls sethub's endpoint for the stream.
    Poll,
}

impl DeliveryMethod {
    pub const PUSH_URN: &'static str = "urn:ietf:rfc:8935";
    pub const POLL_URN: &'static str = "urn:ietf:rfc:8936";

    /// The short name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Poll => "poll",
        }
    }

    /// The URN used in SSF stream configurations and metadata.
    pub fn urn(self) -> &'static str {
        match self {
            Self::Push => Self::PUSH_URN,
            Self::Poll => Self::POLL_URN,
        }
    }
}

impl FromStr for DeliveryMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "push" | Self::PUSH_URN => Ok(Self::Push),
            "poll" | Self::POLL_URN => Ok(Self::Poll),
            other => Err(format!("`{other}` is not a delivery method")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_exactly_the_three_ssf_strings() {
        for s in ["enabled", "paused", "disabled"] {
            assert_eq!(s.parse::<StreamStatus>().unwrap().as_str(), s);
        }
        assert!("Enabled".parse::<StreamStatus>().is_err());
        assert_eq!(
            serde_json::to_string(&StreamStatus::Paused).unwrap(),
            "\"paused\""
        );
    }

    #[test]
    fn delivery_methods_read_their_urns_and_short_names() {
        assert_eq!(
            "urn:ietf:rfc:8935".parse::<DeliveryMethod>(),
            Ok(DeliveryMethod::Push)
        );
        assert_eq!("poll".parse::<DeliveryMethod>(), Ok(DeliveryMethod::Poll));
        assert_eq!(DeliveryMethod::Poll.urn(), "urn:ietf:rfc:8936");
    }
}
