//! Names of the queues and exchanges, shared by both implementations.

use std::fmt;

/// How often a message may be returned to its queue (nacked with requeue, dropped unsettled,
/// or held by a consumer that died) before it is dead-lettered instead: a poison message must
/// not loop forever. RabbitMQ's `x-delivery-limit`.
pub const DEFAULT_DELIVERY_LIMIT: u32 = 10;

/// The work queues a service can consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// `{prefix}.fanout.events`: [`crate::Message::EventAccepted`], ingest → fanout.
    Events,
    /// `{prefix}.fanout.control`: stream changes and verification requests, manage → fanout.
    Control,
}

impl QueueKind {
    pub const ALL: [QueueKind; 2] = [QueueKind::Events, QueueKind::Control];
}

impl fmt::Display for QueueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Events => "events",
            Self::Control => "control",
        })
    }
}

/// The broker object names under one prefix (`sethub` by default; tests use a random one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The exchange messages of `kind` are published to: `{prefix}.events` / `{prefix}.control`.
    pub fn exchange(&self, kind: QueueKind) -> String {
        format!("{}.{kind}", self.prefix)
    }

    /// The queue fanout consumes: `{prefix}.fanout.events` / `{prefix}.fanout.control`.
    pub fn queue(&self, kind: QueueKind) -> String {
        format!("{}.fanout.{kind}", self.prefix)
    }

    /// The dead-letter exchange: `{prefix}.dlx`.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }

    /// The queue every dead letter lands in: `{prefix}.dead`.
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let t = Topology::new("sethub");
        assert_eq!(t.exchange(QueueKind::Events), "sethub.events");
        assert_eq!(t.exchange(QueueKind::Control), "sethub.control");
        assert_eq!(t.queue(QueueKind::Events), "sethub.fanout.events");
        assert_eq!(t.queue(QueueKind::Control), "sethub.fanout.control");
        assert_eq!(t.dead_letter_exchange(), "sethub.dlx");
        assert_eq!(t.dead_queue(), "sethub.dead");
    }
}
