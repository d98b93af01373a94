//! RabbitMQ restarts for real (`rabbitmqctl stop_app` / `start_app`, which must work for the
//! user running the tests). Names contain `restart`: `scripts/test` runs these one at a time,
//! after every other test; a lock also keeps them apart when run with the others.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed assertion with a location

mod common;

use std::future::Future;
use std::time::Duration;

use common::{DEADLINE, Harness, event_accepted, next, rabbit_config};
use sethub_bus::{Bus, BusError, QueueKind, RabbitBus};
use sethub_domain::TenantId;
use tokio::process::Command;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// One broker restart at a time, whatever the test runner's parallelism.
static BROKER: Mutex<()> = Mutex::const_new(());

/// How long the broker may take to stop or start.
const BROKER_DEADLINE: Duration = Duration::from_secs(90);

async fn rabbitmqctl(args: &[&str]) {
    let run = Command::new("rabbitmqctl").args(args).output();
    let output = tokio::time::timeout(BROKER_DEADLINE, run)
        .await
        .unwrap_or_else(|_| panic!("rabbitmqctl {args:?} took longer than {BROKER_DEADLINE:?}"))
        .expect("rabbitmqctl is installed");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `host:port` of `SETHUB_TEST_AMQP_URL`.
fn broker_address() -> String {
    let url = common::amqp_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = host.split('/').next().unwrap_or(host);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5672")
    }
}

/// Waits until `condition` holds, polling, or panics at the deadline.
async fn eventually<F, Fut>(what: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while !condition().await {
        assert!(Instant::now() < until, "{what}: not within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stop_broker() {
    rabbitmqctl(&["stop_app"]).await;
}

/// Starts the broker's application and waits until it serves AMQP again.
async fn start_broker() {
    rabbitmqctl(&["start_app"]).await;
    rabbitmqctl(&["await_startup"]).await;
    let address = broker_address();
    eventually(
        "the broker accepts connections",
        BROKER_DEADLINE,
        || async { tokio::net::TcpStream::connect(&address).await.is_ok() },
    )
    .await;
}

/// Stops and starts the broker, returning how long it was away.
async fn restart_broker() -> Duration {
    let started = Instant::now();
    stop_broker().await;
    start_broker().await;
    let took = started.elapsed();
    eprintln!("broker restart took {took:?}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_message_survives_a_broker_restart() {
    let _broker = BROKER.lock().await;
    let h = Harness::rabbit().await;
    let sent = event_accepted(TenantId::new());
    h.bus().publish(sent.clone()).await.unwrap();

    restart_broker().await;

    // A connection made after the restart: the message is on the broker, not in our memory.
    let mut config = rabbit_config();
    config.prefix = h.rabbit_bus().topology().prefix().to_owned();
    let consumer = RabbitBus::connect_with(config).await.unwrap();
    let mut sub = consumer.subscribe(QueueKind::Events, 10).await.unwrap();
    let delivery = next(&mut sub).await;
    assert_eq!(delivery.message(), &sent);
    delivery.ack().await.unwrap();
    consumer.close().await;

    // The publisher's bus reconnected by itself.
    eventually("the publisher's bus is ready", DEADLINE, || async {
        h.bus().ping().await.is_ok()
    })
    .await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_keeps_working_after_a_broker_restart() {
    let _broker = BROKER.lock().await;
    let h = Harness::rabbit().await;
    let tenant = TenantId::new();
    let mut sub = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
    let before = event_accepted(tenant);
    h.bus().publish(before.clone()).await.unwrap();
    let held = next(&mut sub).await;
    assert_eq!(held.message(), &before);

    restart_broker().await;

    let after = event_accepted(tenant);
    h.bus().publish(after.clone()).await.unwrap();
    // The delivery came on the connection the restart killed: it cannot be acked any more,
    // and that is an error to log, not a crash. The broker requeued it.
    assert!(matches!(held.ack().await, Err(BusError::DeliveryLost)));

    let mut pending = vec![before.id, after.id];
    while !pending.is_empty() {
        let delivery = next(&mut sub).await;
        let id = delivery.message().id;
        assert!(pending.contains(&id), "unexpected message {id}");
        if id == before.id {
            assert!(
                delivery.redelivered(),
                "the unacked message is a redelivery"
            );
        }
        pending.retain(|p| *p != id);
        delivery.ack().await.unwrap();
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_during_a_broker_restart_is_confirmed_once_the_broker_is_back() {
    let _broker = BROKER.lock().await;
    let h = Harness::rabbit().await;
    let sent = event_accepted(TenantId::new());

    stop_broker().await;
    let started = Instant::now();
    eventually("the bus notices the outage", DEADLINE, || async {
        h.bus().ping().await.is_err()
    })
    .await;
    let publishing = {
        let sent = sent.clone();
        let bus: &dyn Bus = h.bus();
        async move { bus.publish(sent).await }
    };
    let (published, ()) = tokio::join!(publishing, start_broker());
    published.unwrap();
    eprintln!(
        "publish confirmed {:?} after the broker stopped",
        started.elapsed()
    );

    let mut sub = h.bus().subscribe(QueueKind::Events, 10).await.unwrap();
    let delivery = next(&mut sub).await;
    assert_eq!(delivery.message(), &sent);
    delivery.ack().await.unwrap();
    h.finish().await;
}
