//! Names of the queues and exchanges, shared by both implementations.

use std::fmt;

use sethub_domain::TenantId;

/// How often a message may be returned to its queue (nacked with requeue, dropped unsettled,
/// or held by a consumer that died) before it is dead-lettered instead: a poison message must
/// not loop forever. RabbitMQ's `x-delivery-limit`.
pub const DEFAULT_DELIVERY_LIMIT: u32 = 10;

/// How many queues the events are spread over by default (`bus.event_shards`): each tenant's
/// events go to one of them, chosen by a hash of its id, and fan-out consumes each on its own,
/// so a tenant that floods its queue delays only the tenants that share it (1 in 8 of them).
pub const DEFAULT_EVENT_SHARDS: u16 = 8;
/// The most event shards a deployment may have; fan-out also drains any shard queue up to
/// this number that exists beyond its own count (left by a larger setting).
pub const MAX_EVENT_SHARDS: u16 = 64;

/// The work queues a service can consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// The events queues, ingest → fanout ([`crate::Message::EventsAccepted`]): shard 0 is
    /// `{prefix}.fanout.events`, shard n > 0 `{prefix}.fanout.events.{n}` (see
    /// [`Topology::event_queue`]). Subscribing to it consumes every shard.
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

/// The broker object names under one prefix (`sethub` by default; tests use a random one), and
/// the number of event shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    event_shards: u16,
}

impl Topology {
    /// The names under `prefix`, with [`DEFAULT_EVENT_SHARDS`] event shards.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            event_shards: DEFAULT_EVENT_SHARDS,
        }
    }

    /// The same names with `shards` event shards (clamped to 1..=[`MAX_EVENT_SHARDS`]).
    pub fn with_event_shards(mut self, shards: u16) -> Self {
        self.event_shards = shards.clamp(1, MAX_EVENT_SHARDS);
        self
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many queues the events are spread over.
    pub fn event_shards(&self) -> u16 {
        self.event_shards
    }

    /// The exchange messages of `kind` are published to: `{prefix}.events` / `{prefix}.control`.
    pub fn exchange(&self, kind: QueueKind) -> String {
        format!("{}.{kind}", self.prefix)
    }

    /// The queue fanout consumes: `{prefix}.fanout.events` (the events' shard 0) /
    /// `{prefix}.fanout.control`.
    pub fn queue(&self, kind: QueueKind) -> String {
        format!("{}.fanout.{kind}", self.prefix)
    }

    /// The queue of event shard `shard`: shard 0 keeps the name the single events queue had
    /// (`{prefix}.fanout.events`), so a deployment that upgrades keeps its messages there.
    pub fn event_queue(&self, shard: u16) -> String {
        match shard {
            0 => self.queue(QueueKind::Events),
            n => format!("{}.{n}", self.queue(QueueKind::Events)),
        }
    }

    /// Every event shard's queue, shard 0 first.
    pub fn event_queues(&self) -> Vec<String> {
        (0..self.event_shards)
            .map(|s| self.event_queue(s))
            .collect()
    }

    /// The shard of a tenant's events: FNV-1a of its id's 16 bytes, modulo the shard count.
    /// Stable across processes, versions and platforms (every ingest must pick the same).
    pub fn shard_of(&self, tenant: TenantId) -> u16 {
        let hash = tenant
            .as_uuid()
            .as_bytes()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
        u16::try_from(hash % u64::from(self.event_shards)).unwrap_or(0)
    }

    /// The routing key of a message of `type_name` for `tenant`: events go to their shard
    /// (`s{n}.{type}`, bound as `s{n}.#`); control messages keep their type as key.
    pub fn routing_key(&self, kind: QueueKind, tenant: TenantId, type_name: &str) -> String {
        match kind {
            QueueKind::Events => format!("s{}.{type_name}", self.shard_of(tenant)),
            QueueKind::Control => type_name.to_owned(),
        }
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
        assert_eq!(t.event_queue(0), "sethub.fanout.events");
        assert_eq!(t.event_queue(7), "sethub.fanout.events.7");
        assert_eq!(t.event_queues().len(), usize::from(DEFAULT_EVENT_SHARDS));
    }

    #[test]
    fn a_tenant_keeps_its_shard_and_tenants_spread_over_all_of_them() {
        let t = Topology::new("sethub").with_event_shards(8);
        // A fixed id's shard never changes (every ingest, every version, must agree).
        let fixed: TenantId = "tnt_0190a5b2c3d47e8f9a0b1c2d3e4f5a6c".parse().unwrap();
        assert_eq!(t.shard_of(fixed), t.shard_of(fixed));
        assert_eq!(t.shard_of(fixed), 6, "the hash of a known id changed");
        let mut counts = [0_u32; 8];
        for _ in 0..8_000 {
            counts[usize::from(t.shard_of(TenantId::new()))] += 1;
        }
        // 1,000 expected each; a fair hash stays well within ±20 %.
        assert!(
            counts.iter().all(|c| (800..=1_200).contains(c)),
            "{counts:?}"
        );
        let key = t.routing_key(QueueKind::Events, fixed, "events_accepted.v1");
        assert_eq!(key, "s6.events_accepted.v1");
        let key = t.routing_key(QueueKind::Control, fixed, "stream_changed.v1");
        assert_eq!(key, "stream_changed.v1");
    }

    #[test]
    fn the_shard_count_is_kept_within_its_range() {
        assert_eq!(Topology::new("p").with_event_shards(0).event_shards(), 1);
        assert_eq!(
            Topology::new("p").with_event_shards(1000).event_shards(),
            MAX_EVENT_SHARDS
        );
        let one = Topology::new("p").with_event_shards(1);
        assert_eq!(one.shard_of(TenantId::new()), 0);
    }
}
