//! The event shards on RabbitMQ (`SETHUB_TEST_AMQP_URL`): each tenant's events go to one
//! queue, chosen by its id; a subscription to the events takes every shard; a queue bound
//! by a version from before the shards stops taking every shard's messages; and a shard
//! queue beyond the setting (left by a larger one) is still drained. The in-process bus has
//! one events queue, which the contract suite covers.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed assertion with a location

mod common;

use std::collections::{HashMap, HashSet};

use common::{Harness, assert_nothing_delivered, event_accepted, next, rabbit_config};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sethub_bus::{Bus, QueueKind, RabbitConfig, Topology};
use sethub_domain::TenantId;
use uuid::Uuid;

fn with_shards(shards: u16) -> RabbitConfig {
    let mut config = rabbit_config();
    config.event_shards = shards;
    config
}

/// A tenant whose events go to `shard` of `topology`.
fn tenant_in(topology: &Topology, shard: u16) -> TenantId {
    std::iter::repeat_with(TenantId::new)
        .find(|t| topology.shard_of(*t) == shard)
        .unwrap()
}

/// A channel of a connection of the test's own, in confirm mode (what an older version, or
/// an operator, would do to the broker).
async fn raw_channel(config: &RabbitConfig) -> (Connection, lapin::Channel) {
    let connection = Connection::connect(&config.url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions { nowait: false })
        .await
        .unwrap();
    (connection, channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenants_events_go_to_its_shard_and_a_subscription_to_the_events_takes_them_all() {
    let h = Harness::rabbit_with(with_shards(4)).await;
    let topology = h.rabbit_bus().topology().clone();
    assert_eq!(h.bus().event_shards().await.unwrap(), vec![0, 1, 2, 3]);

    // Forty tenants, two events each: every shard gets some.
    let mut sent: HashMap<Uuid, TenantId> = HashMap::new();
    for _ in 0..40 {
        let tenant = TenantId::new();
        for _ in 0..2 {
            let envelope = event_accepted(tenant);
            sent.insert(envelope.id, tenant);
            h.bus().publish(envelope).await.unwrap();
        }
    }
    let mut received = HashSet::new();
    for shard in 0..4 {
        let mut sub = h.bus().subscribe_event_shard(shard, 100).await.unwrap();
        assert_eq!(sub.queue(), topology.event_queue(shard));
        let expected = sent
            .values()
            .filter(|t| topology.shard_of(**t) == shard)
            .count();
        assert!(expected > 0, "shard {shard} got no tenant of forty");
        for _ in 0..expected {
            let delivery = next(&mut sub).await;
            let tenant = delivery.message().tenant_id;
            assert_eq!(
                topology.shard_of(tenant),
                shard,
                "on another tenant's shard"
            );
            assert!(received.insert(delivery.message().id), "delivered twice");
            delivery.ack().await.unwrap();
        }
        assert_nothing_delivered(&mut sub).await;
    }
    assert_eq!(received.len(), sent.len());

    // One subscription to the events takes every shard's, each once.
    let again: HashSet<Uuid> = {
        let mut ids = HashSet::new();
        for shard in 0..4 {
            let envelope = event_accepted(tenant_in(&topology, shard));
            ids.insert(envelope.id);
            h.bus().publish(envelope).await.unwrap();
        }
        ids
    };
    let mut all = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
    let mut got = HashSet::new();
    for _ in 0..4 {
        let delivery = next(&mut all).await;
        assert!(got.insert(delivery.message().id), "delivered twice");
        delivery.ack().await.unwrap();
    }
    assert_eq!(got, again);
    assert_nothing_delivered(&mut all).await;
    drop(all);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_queue_of_a_version_before_the_shards_takes_only_shard_0_and_its_old_keys() {
    let config = with_shards(4);
    let first = Harness::rabbit_with(config.clone()).await;
    let topology = first.rabbit_bus().topology().clone();
    let exchange = topology.exchange(QueueKind::Events);
    // What the version before the shards left: its one events queue (now shard 0) bound to
    // every key.
    let (connection, channel) = raw_channel(&config).await;
    channel
        .queue_bind(
            topology.event_queue(0).as_str().into(),
            exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    first.bus().close().await;

    // The new version connects (declaring its topology) and publishes for a shard-1 tenant.
    let h = Harness::rabbit_with(config.clone()).await;
    let sharded = event_accepted(tenant_in(&topology, 1));
    h.bus().publish(sharded.clone()).await.unwrap();
    // An old ingest, still running in a rolling upgrade, publishes with its type as key.
    let old = event_accepted(tenant_in(&topology, 3));
    let confirm = channel
        .basic_publish(
            exchange.as_str().into(),
            "events_accepted.v1".into(),
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            &old.encode().unwrap(),
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(
        matches!(confirm, lapin::Confirmation::Ack(None)),
        "the old key routes nowhere: {confirm:?}"
    );
    let _ = connection.close(200, "done".into()).await;

    let mut zero = h.bus().subscribe_event_shard(0, 10).await.unwrap();
    let delivery = next(&mut zero).await;
    assert_eq!(delivery.message(), &old, "the old key lands in shard 0");
    delivery.ack().await.unwrap();
    assert_nothing_delivered(&mut zero).await;
    let mut one = h.bus().subscribe_event_shard(1, 10).await.unwrap();
    let delivery = next(&mut one).await;
    assert_eq!(delivery.message(), &sharded);
    delivery.ack().await.unwrap();
    assert_nothing_delivered(&mut one).await;
    drop((zero, one));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_queue_beyond_a_lowered_setting_is_still_consumed() {
    let wide = Harness::rabbit_with(with_shards(4)).await;
    let topology = wide.rabbit_bus().topology().clone();
    let stranded = event_accepted(tenant_in(&topology, 3));
    wide.bus().publish(stranded.clone()).await.unwrap();

    // The setting goes down to 2: shard 3's queue still holds a message.
    let mut narrow_config = with_shards(4);
    narrow_config.prefix = topology.prefix().to_owned();
    narrow_config.event_shards = 2;
    let narrow = sethub_bus::RabbitBus::connect_with(narrow_config)
        .await
        .unwrap();
    let shards = narrow.event_shards().await.unwrap();
    assert_eq!(
        shards,
        vec![0, 1, 2, 3],
        "shards 2 and 3 exist, so they are drained"
    );
    let mut all = narrow.subscribe(QueueKind::Events, 10).await.unwrap();
    let delivery = next(&mut all).await;
    assert_eq!(delivery.message(), &stranded);
    delivery.ack().await.unwrap();
    drop(all);
    narrow.close().await;
    wide.finish().await;
}
