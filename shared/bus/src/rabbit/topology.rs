//! The RabbitMQ topology, declared field by field. Declaring is idempotent; it runs at every
//! (re)connection so a broker that lost its definitions gets them back.

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};

use crate::{BusError, QueueKind, Topology};

/// Binding key that matches every routing key on a topic exchange.
const EVERYTHING: &str = "#";
/// The routing keys of publishers from before the event shards (a message's type, two
/// words: `events_accepted.v1`), still running during a rolling upgrade: shard 0 takes them.
/// Sharded keys have three words (`s3.events_accepted.v1`) and never match it.
const UNSHARDED: &str = "*.*";

pub(crate) async fn declare(
    channel: &Channel,
    names: &Topology,
    delivery_limit: u32,
) -> lapin::Result<()> {
    let durable_exchange = ExchangeDeclareOptions {
        // Never check-only: create it when missing.
        passive: false,
        // Survives a broker restart, so publishers never hit a missing exchange.
        durable: true,
        // Exists without bindings too: consumers come and go, the exchange stays.
        auto_delete: false,
        // Publishers publish to it directly.
        internal: false,
        nowait: false,
    };
    let durable_queue = QueueDeclareOptions {
        passive: false,
        // Survives a broker restart (quorum queues must be durable anyway).
        durable: true,
        // Shared by every instance of the consuming service: competing consumers.
        exclusive: false,
        // Messages wait for a consumer to come back; an empty queue is not garbage.
        auto_delete: false,
        nowait: false,
    };

    // The dead-letter exchange is a fanout: every dead letter, whatever its routing key,
    // lands in the one dead queue an operator inspects (and replays after a fix).
    let dlx = names.dead_letter_exchange();
    channel
        .exchange_declare(
            dlx.as_str().into(),
            ExchangeKind::Fanout,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    let mut dead_args = FieldTable::default();
    // Replicated, fsync'ed log: dead letters are kept as safely as live messages. No
    // dead-letter exchange and no delivery limit of its own: it is the end of the line.
    dead_args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    let dead = names.dead_queue();
    channel
        .queue_declare(dead.as_str().into(), durable_queue, dead_args)
        .await?;
    channel
        .queue_bind(
            dead.as_str().into(),
            dlx.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    for kind in QueueKind::ALL {
        // Topic exchanges, routed by message type (`stream_changed.v1`) or, for events, by
        // shard and type (`s3.events_accepted.v1`).
        let exchange = names.exchange(kind);
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                durable_exchange,
                FieldTable::default(),
            )
            .await?;

        let mut args = FieldTable::default();
        // Quorum queue: messages are replicated and written to disk before the publisher
        // confirm, so a confirmed message survives a broker restart; redelivery is tracked.
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        // Dead-lettered messages (rejected without requeue, or past the limit) go to the DLX
        // instead of being dropped.
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dlx.as_str().into()),
        );
        // A message returned to the queue more often than this is a poison message: it is
        // dead-lettered instead of looping forever. Changing the value requires deleting
        // the queue (RabbitMQ refuses a redeclaration with other arguments).
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(i64::from(delivery_limit)),
        );
        let bindings: Vec<(String, Vec<String>)> = match kind {
            QueueKind::Control => vec![(names.queue(kind), vec![EVERYTHING.to_owned()])],
            QueueKind::Events => (0..names.event_shards())
                .map(|shard| {
                    let mut keys = vec![format!("s{shard}.#")];
                    if shard == 0 {
                        keys.push(UNSHARDED.to_owned());
                    }
                    (names.event_queue(shard), keys)
                })
                .collect(),
        };
        for (queue, keys) in bindings {
            channel
                .queue_declare(queue.as_str().into(), durable_queue, args.clone())
                .await?;
            for key in keys {
                channel
                    .queue_bind(
                        queue.as_str().into(),
                        exchange.as_str().into(),
                        key.as_str().into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
        if kind == QueueKind::Events {
            // Before the shards, the one events queue (now shard 0) took every key (`#`):
            // left in place it would take every shard's messages too. Unbinding a binding
            // that is not there is not an error.
            channel
                .queue_unbind(
                    names.event_queue(0).as_str().into(),
                    exchange.as_str().into(),
                    EVERYTHING.into(),
                    FieldTable::default(),
                )
                .await?;
        }
    }
    Ok(())
}

/// Whether `queue` exists (a passive declaration, on a channel of its own: the broker closes
/// the channel when the queue is missing).
pub(crate) async fn exists(connection: &Connection, queue: &str) -> Result<bool, BusError> {
    let channel = connection.create_channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    match channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
    {
        Ok(_) => {
            let _ = channel.close(200, "checked".into()).await;
            Ok(true)
        }
        Err(_) if connection.status().connected() => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Deletes every queue and exchange under the prefix, messages included. For tests and
/// decommissioning; never called by the services.
pub(crate) async fn delete(channel: &Channel, names: &Topology) -> lapin::Result<()> {
    let mut queues = names.event_queues();
    queues.push(names.queue(QueueKind::Control));
    queues.push(names.dead_queue());
    for queue in queues {
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    let mut exchanges: Vec<String> = QueueKind::ALL.iter().map(|k| names.exchange(*k)).collect();
    exchanges.push(names.dead_letter_exchange());
    for exchange in exchanges {
        channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await?;
    }
    Ok(())
}
