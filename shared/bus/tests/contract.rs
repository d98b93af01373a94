//! The bus contract, run against the in-process bus and against RabbitMQ
//! (`SETHUB_TEST_AMQP_URL`, default `amqp://guest:guest@127.0.0.1:5672/%2f`).
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed assertion with a location

mod common;

use std::collections::HashSet;

use common::{
    DELIVERY_LIMIT, Harness, assert_nothing_delivered, event_accepted, next, next_dead,
    stream_changed,
};
use sethub_bus::{BusError, QueueKind};
use sethub_domain::TenantId;
use uuid::Uuid;

/// Generates one `#[tokio::test]` per case and backend: `in_process::<case>`, `rabbitmq::<case>`.
macro_rules! contract_suite {
    ($($case:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let harness = crate::Harness::in_process().await;
                    crate::cases::$case(&harness).await;
                    harness.finish().await;
                }
            )*
        }
        mod rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let harness = crate::Harness::rabbit().await;
                    crate::cases::$case(&harness).await;
                    harness.finish().await;
                }
            )*
        }
    };
}

contract_suite!(
    a_published_message_is_delivered_as_it_was_sent,
    a_traced_message_is_delivered_with_its_traceparent,
    messages_of_two_tenants_are_delivered_with_their_tenant,
    events_and_control_messages_travel_on_their_own_queues,
    prefetch_bounds_the_unsettled_deliveries_of_a_consumer,
    an_acked_message_is_not_delivered_again,
    a_nacked_message_is_delivered_again,
    a_dropped_unsettled_delivery_is_delivered_again,
    an_unsettled_message_goes_to_another_consumer_when_its_consumer_dies,
    competing_consumers_each_get_distinct_messages_and_together_get_all,
    an_undecodable_message_is_dead_lettered_and_the_next_one_is_delivered,
    a_message_dead_lettered_by_its_consumer_lands_in_the_dead_letter_queue,
    a_message_returned_more_often_than_the_delivery_limit_is_dead_lettered,
    a_prefetch_of_zero_is_refused,
    a_closed_bus_ends_its_subscriptions_and_refuses_to_publish,
);

mod cases {
    use super::*;

    pub async fn a_published_message_is_delivered_as_it_was_sent(h: &Harness) {
        let sent = event_accepted(TenantId::new());
        h.bus().publish(sent.clone()).await.unwrap();

        let mut sub = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        let delivery = next(&mut sub).await;
        assert_eq!(delivery.message(), &sent);
        assert!(!delivery.redelivered());
        delivery.ack().await.unwrap();
    }

    pub async fn a_traced_message_is_delivered_with_its_traceparent(h: &Harness) {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let sent = event_accepted(TenantId::new()).traced(Some(tp.to_owned()));
        h.bus().publish(sent.clone()).await.unwrap();

        let mut sub = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        let delivery = next(&mut sub).await;
        assert_eq!(delivery.message(), &sent);
        delivery.ack().await.unwrap();
    }

    pub async fn messages_of_two_tenants_are_delivered_with_their_tenant(h: &Harness) {
        let (a, b) = (TenantId::new(), TenantId::new());
        let sent = [event_accepted(a), event_accepted(b), event_accepted(a)];
        for envelope in &sent {
            h.bus().publish(envelope.clone()).await.unwrap();
        }
        // Each with its tenant, each once, and in order per tenant; two tenants' events may
        // travel on different event shards, which keep no order between them.
        let mut sub = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        let mut got = Vec::new();
        for _ in &sent {
            let delivery = next(&mut sub).await;
            got.push(delivery.message().clone());
            delivery.ack().await.unwrap();
        }
        for tenant in [a, b] {
            let of = |list: &[sethub_bus::Envelope]| -> Vec<Uuid> {
                list.iter()
                    .filter(|e| e.tenant_id == tenant)
                    .map(|e| e.id)
                    .collect()
            };
            assert_eq!(of(&got), of(&sent), "tenant {tenant}: each once, in order");
        }
        assert_nothing_delivered(&mut sub).await;
    }

    pub async fn events_and_control_messages_travel_on_their_own_queues(h: &Harness) {
        let tenant = TenantId::new();
        let (event, control) = (event_accepted(tenant), stream_changed(tenant));
        h.bus().publish(control.clone()).await.unwrap();
        h.bus().publish(event.clone()).await.unwrap();

        let mut events = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        let mut controls = h.bus().subscribe(QueueKind::Control, 10).await.unwrap();
        let delivery = next(&mut events).await;
        assert_eq!(delivery.message(), &event);
        delivery.ack().await.unwrap();
        let delivery = next(&mut controls).await;
        assert_eq!(delivery.message(), &control);
        delivery.ack().await.unwrap();
        assert_nothing_delivered(&mut events).await;
    }

    pub async fn prefetch_bounds_the_unsettled_deliveries_of_a_consumer(h: &Harness) {
        let tenant = TenantId::new();
        let sent: Vec<_> = (0..3).map(|_| event_accepted(tenant)).collect();
        for envelope in &sent {
            h.bus().publish(envelope.clone()).await.unwrap();
        }
        let mut sub = h.bus().subscribe(QueueKind::Events, 2).await.unwrap();
        let first = next(&mut sub).await;
        let second = next(&mut sub).await;
        assert_nothing_delivered(&mut sub).await;

        first.ack().await.unwrap();
        let third = next(&mut sub).await;
        let ids: HashSet<Uuid> = [&second, &third].iter().map(|d| d.message().id).collect();
        assert_eq!(ids, sent[1..].iter().map(|e| e.id).collect());
        second.ack().await.unwrap();
        third.ack().await.unwrap();
    }

    pub async fn an_acked_message_is_not_delivered_again(h: &Harness) {
        let sent = event_accepted(TenantId::new());
        h.bus().publish(sent.clone()).await.unwrap();
        let mut sub = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        next(&mut sub).await.ack().await.unwrap();
        drop(sub);

        // Not to this consumer's successor either.
        let mut sub = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        assert_nothing_delivered(&mut sub).await;
    }

    pub async fn a_nacked_message_is_delivered_again(h: &Harness) {
        let sent = event_accepted(TenantId::new());
        h.bus().publish(sent.clone()).await.unwrap();
        let mut sub = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        next(&mut sub).await.nack_requeue().await.unwrap();

        let again = next(&mut sub).await;
        assert_eq!(again.message(), &sent);
        assert!(again.redelivered());
        again.ack().await.unwrap();
        assert_nothing_delivered(&mut sub).await;
    }

    pub async fn a_dropped_unsettled_delivery_is_delivered_again(h: &Harness) {
        let sent = event_accepted(TenantId::new());
        h.bus().publish(sent.clone()).await.unwrap();
        let mut sub = h.bus().subscribe(QueueKind::Events, 1).await.unwrap();
        drop(next(&mut sub).await);

        let again = next(&mut sub).await;
        assert_eq!(again.message(), &sent);
        assert!(again.redelivered());
        again.ack().await.unwrap();
    }

    pub async fn an_unsettled_message_goes_to_another_consumer_when_its_consumer_dies(h: &Harness) {
        let sent = event_accepted(TenantId::new());
        h.bus().publish(sent.clone()).await.unwrap();
        let mut dying = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        let held = next(&mut dying).await;
        let mut survivor = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        assert_nothing_delivered(&mut survivor).await;

        // The consumer dies holding the delivery (a crashed process never settles it).
        drop(dying);
        let again = next(&mut survivor).await;
        assert_eq!(again.message(), &sent);
        assert!(again.redelivered());
        again.ack().await.unwrap();

        // The dead consumer's delivery can no longer be settled, and that is not a crash.
        assert!(matches!(held.ack().await, Err(BusError::DeliveryLost)));
        assert_nothing_delivered(&mut survivor).await;
    }

    pub async fn competing_consumers_each_get_distinct_messages_and_together_get_all(h: &Harness) {
        let tenant = TenantId::new();
        let sent: HashSet<Uuid> = {
            let mut ids = HashSet::new();
            for _ in 0..10 {
                let envelope = event_accepted(tenant);
                ids.insert(envelope.id);
                h.bus().publish(envelope).await.unwrap();
            }
            ids
        };
        // Prefetch 1: while each holds one message, the other must take the next.
        let mut a = h.bus().subscribe(QueueKind::Events, 1).await.unwrap();
        let mut b = h.bus().subscribe(QueueKind::Events, 1).await.unwrap();
        let mut received = HashSet::new();
        for _ in 0..5 {
            let (from_a, from_b) = (next(&mut a).await, next(&mut b).await);
            assert!(received.insert(from_a.message().id), "delivered twice");
            assert!(received.insert(from_b.message().id), "delivered twice");
            from_a.ack().await.unwrap();
            from_b.ack().await.unwrap();
        }
        assert_eq!(received, sent);
        assert_nothing_delivered(&mut a).await;
    }

    pub async fn an_undecodable_message_is_dead_lettered_and_the_next_one_is_delivered(
        h: &Harness,
    ) {
        let garbage = br#"{"message":{"type":"event_accepted.v9"}}"#;
        h.publish_raw(QueueKind::Events, garbage).await;
        let good = event_accepted(TenantId::new());
        h.bus().publish(good.clone()).await.unwrap();

        let mut sub = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        let delivery = next(&mut sub).await;
        assert_eq!(delivery.message(), &good);
        delivery.ack().await.unwrap();

        let mut dead = h.bus().subscribe_dead(10).await.unwrap();
        let letter = next_dead(&mut dead).await;
        assert_eq!(letter.payload(), garbage);
        assert!(letter.decode().is_err());
        letter.ack().await.unwrap();
        assert_nothing_delivered(&mut sub).await;
    }

    pub async fn a_message_dead_lettered_by_its_consumer_lands_in_the_dead_letter_queue(
        h: &Harness,
    ) {
        let sent = stream_changed(TenantId::new());
        h.bus().publish(sent.clone()).await.unwrap();
        let mut sub = h.bus().subscribe(QueueKind::Control, 10).await.unwrap();
        next(&mut sub).await.dead_letter().await.unwrap();

        let mut dead = h.bus().subscribe_dead(10).await.unwrap();
        let letter = next_dead(&mut dead).await;
        assert_eq!(letter.decode().unwrap(), sent);
        letter.ack().await.unwrap();
        assert_nothing_delivered(&mut sub).await;
    }

    pub async fn a_message_returned_more_often_than_the_delivery_limit_is_dead_lettered(
        h: &Harness,
    ) {
        let sent = event_accepted(TenantId::new());
        h.bus().publish(sent.clone()).await.unwrap();
        let mut sub = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
        // Delivered once, then once per allowed return.
        for _ in 0..=DELIVERY_LIMIT {
            let delivery = next(&mut sub).await;
            assert_eq!(delivery.message(), &sent);
            delivery.nack_requeue().await.unwrap();
        }
        let mut dead = h.bus().subscribe_dead(10).await.unwrap();
        assert_eq!(next_dead(&mut dead).await.decode().unwrap(), sent);
        assert_nothing_delivered(&mut sub).await;
    }

    pub async fn a_prefetch_of_zero_is_refused(h: &Harness) {
        let refused = h.bus().subscribe(QueueKind::Events, 0).await;
        assert!(matches!(refused, Err(BusError::InvalidPrefetch)));
    }

    pub async fn a_closed_bus_ends_its_subscriptions_and_refuses_to_publish(h: &Harness) {
        h.bus().ping().await.unwrap();
        let mut sub = h.bus().subscribe(QueueKind::Control, 10).await.unwrap();
        h.bus().close().await;

        let ended = tokio::time::timeout(common::DEADLINE, sub.next()).await;
        assert!(matches!(ended, Ok(None)), "the subscription did not end");
        let refused = h.bus().publish(event_accepted(TenantId::new())).await;
        assert!(matches!(refused, Err(BusError::Closed)), "{refused:?}");
        assert!(h.bus().ping().await.is_err());
    }
}
