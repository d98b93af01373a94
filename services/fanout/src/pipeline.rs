//! Fan-out of accepted events: for each `event_accepted` message, match the tenant's streams,
//! sign one SET per matching stream, and store the deliveries; only then acknowledge the
//! message. A fresh message's push SETs go to the dispatcher as soon as they are signed,
//! beside the transaction that stores them (`stored.rs` says why that loses nothing); a
//! redelivered message's are stored first, and only what is still pending is pushed.
//!
//! Matching (SSF §7.4 as digested in spec/ssf.md): a stream gets the event when it is
//! `enabled` (or `paused`: then the SET is held), the event's types meet its
//! `events_delivered` (the SET carries only those), and the event's subject is not one the
//! receiver removed (sethub's `default_subjects` is `ALL`).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sethub_bus::{AcceptedEvent, Delivery, Message, Subscription};
use sethub_domain::{DeliveryId, DeliveryMethod, EventId, StreamStatus, TenantId};
use sethub_store::{DeliveryKind, DeliveryState, FirstDelivered, NewDelivery, StoreError};
use tokio::sync::Semaphore;

use sethub_telemetry::trace::{self, Span};

use crate::dispatch::Job;
use crate::engine::{Engine, WorkError, with_retries};
use crate::sets;

/// Consumes the events queues (one per shard, see `bus.event_shards`) until the bus closes.
///
/// Each shard has its own consumer loop, and the loops share the process's permits (a fair,
/// first-come-first-served semaphore, each loop waiting for one at a time): a tenant flooding
/// its shard takes one turn in every round of waiting loops, so the tenants of the other
/// shards wait for at most one of its messages, not behind all of them in one queue.
pub async fn run(engine: Arc<Engine>) {
    // A message holds up to a hundred events; making and storing their SETs is work for the
    // database more than for this process, so a few at a time keep it busy while bounding
    // the memory a burst takes (the rest waits in RabbitMQ, prefetched).
    let concurrency = engine.ctx.config.push.fanout_concurrency;
    let width = usize::from(engine.ctx.config.bus.prefetch)
        .min(concurrency)
        .max(1);
    // Each shard may use every permit alone (one busy tenant gets the whole process), with
    // as many again prefetched so the next message is at hand when a permit frees up.
    let prefetch = u16::try_from(2 * width).unwrap_or(u16::MAX);
    let Some(subscriptions) = engine.subscribe_event_shards(prefetch).await else {
        return;
    };
    let permits = Arc::new(Semaphore::new(width));
    let mut loops = tokio::task::JoinSet::new();
    for sub in subscriptions {
        loops.spawn(consume(engine.clone(), sub, permits.clone()));
    }
    let mut subscriptions = Vec::new();
    while let Some(ended) = loops.join_next().await {
        match ended {
            Ok(sub) => subscriptions.push(sub),
            Err(e) => tracing::error!(error = %e, "an events consumer loop failed"),
        }
    }
    // Shutting down (or the bus closed): the messages being fanned out finish and are
    // acknowledged on their consumers' channels, so they stay open until then (the caller
    // bounds the wait; a message still unsettled at the deadline goes back with the bus).
    // Then the consumers go, and what they were sent and did not take goes back to the queues.
    let all = u32::try_from(width).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
    drop(subscriptions);
    tracing::info!("fan-out stopped consuming the events queues");
}

/// One shard's consumer loop; gives its subscription back when it stops taking messages.
async fn consume(
    engine: Arc<Engine>,
    mut sub: Subscription,
    permits: Arc<Semaphore>,
) -> Subscription {
    let max_backlog = engine.ctx.config.push.max_backlog;
    let shutdown = engine.ctx.shutdown.clone();
    while let Some(delivery) = shutdown.unless_stopping(sub.next()).await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        // After the permit: at most `concurrency` messages are being fanned out past a
        // look at the backlog (their SETs are what the backlog can overshoot by).
        engine.dispatcher.wait_for_room(max_backlog).await;
        if shutdown.has_begun() {
            // Taken while waiting for room, and not started: hand it back to the queue.
            if let Err(e) = delivery.nack_requeue().await {
                tracing::warn!(error = %e, "cannot hand a message back; the broker will");
            }
            break;
        }
        let engine = engine.clone();
        tokio::spawn(async move {
            handle(&engine, delivery).await;
            drop(permit);
        });
    }
    sub
}

/// The event's trace goes on here: a span under the `traceparent` the message's headers
/// carried, which the push jobs it makes take on (`Job::trace`).
async fn handle(engine: &Arc<Engine>, delivery: Delivery) {
    let span = Span::from_traceparent("fanout.events", delivery.message().traceparent.as_deref());
    span.set("sethub.tenant", || delivery.message().tenant_id.to_string());
    trace::within(span.traceparent(), handle_message(engine, delivery)).await;
}

async fn handle_message(engine: &Arc<Engine>, delivery: Delivery) {
    let envelope = delivery.message().clone();
    engine.observe_lag("events", envelope.published_at);
    let tenant = envelope.tenant_id;
    let redelivered = delivery.redelivered();
    let result = match envelope.message {
        Message::EventsAccepted { events } => {
            fan_out_message(engine, tenant, &events, redelivered).await
        }
        Message::EventAccepted { event_id } => {
            match with_retries("loading an announced event", || {
                load(engine, tenant, event_id)
            })
            .await
            {
                Ok(event) => {
                    fan_out_message(engine, tenant, std::slice::from_ref(&event), redelivered).await
                }
                Err(e) => Err(e),
            }
        }
        other => {
            tracing::warn!(
                kind = other.type_name(),
                "unexpected message on the events queue; dead-lettering it"
            );
            if let Err(e) = delivery.dead_letter().await {
                tracing::warn!(error = %e, "cannot dead-letter");
            }
            return;
        }
    };
    let outcome = match result {
        Ok(()) => "fanned_out",
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "events not fanned out");
            "skipped"
        }
    };
    engine.metrics.events.with_label_values(&[outcome]).inc();
    if let Err(e) = delivery.ack().await {
        // The deliveries are stored: the redelivery finds them and adds nothing.
        tracing::warn!(error = %e, "cannot acknowledge an events message");
    }
}

/// An event named by an `event_accepted.v1` message, from the store.
async fn load(engine: &Engine, tenant: TenantId, id: EventId) -> Result<AcceptedEvent, WorkError> {
    match engine.ctx.store.scope(tenant).events().get(id).await {
        Ok(e) => Ok(sethub_app::events::accepted_event(&e, None)),
        Err(StoreError::NotFound) => Err(WorkError::Permanent(
            "the event is not in the store (its tenant was deleted?)".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The deliveries of some events, signed and not yet stored.
struct Made {
    new: Vec<NewDelivery>,
    accepted_at: std::collections::HashMap<EventId, chrono::DateTime<Utc>>,
}

/// Matches the events against the tenant's streams and signs one SET per matching stream.
async fn make(
    engine: &Engine,
    tenant: TenantId,
    events: &[AcceptedEvent],
) -> Result<Made, WorkError> {
    // Every event says which streams version it was stored under; a cached copy at least
    // that new needs no look at the database. (`None`: an older message; check.)
    let needed = events
        .iter()
        .map(|e| e.streams_version)
        .try_fold(0_i64, |max, v| v.map(|v| max.max(v)));
    let streams = match needed {
        Some(v) => engine.streams_at_least(tenant, v).await?,
        None => engine.streams_now(tenant).await?,
    };
    let mut key = None;
    let issuer = engine.issuer(&streams.slug);
    let mut new = Vec::new();
    let mut accepted_at = std::collections::HashMap::new();
    for event in events {
        accepted_at.insert(event.event_id, event.received_at);
        let subject = sets::event_subject(event);
        for view in &streams.streams {
            let stream = &view.stream;
            let state = match (view.status(), stream.delivery_method) {
                (StreamStatus::Disabled, _) => continue,
                (StreamStatus::Paused, _) => DeliveryState::Held,
                (StreamStatus::Enabled, DeliveryMethod::Push) => DeliveryState::Pending,
                (StreamStatus::Enabled, DeliveryMethod::Poll) => DeliveryState::Queued,
            };
            let Some(picked) = sets::delivered_events(event, stream) else {
                continue;
            };
            let Some(subject) = &subject else { continue };
            if view.removed.iter().any(|r| r.matches(subject)) {
                continue;
            }
            let key = match &key {
                Some(k) => k,
                None => key.insert(engine.signing_key(tenant).await?),
            };
            let signed = sets::event_set(key, &issuer, stream, event, subject, picked)?;
            new.push(NewDelivery {
                id: DeliveryId::new(),
                stream_id: stream.id,
                event_id: Some(event.event_id),
                kind: DeliveryKind::Event,
                jti: signed.jti,
                set_token: signed.token,
                state,
                next_attempt_at: (state == DeliveryState::Pending).then(Utc::now),
            });
        }
    }
    engine
        .metrics
        .signed
        .with_label_values(&["event"])
        .inc_by(new.len() as u64);
    Ok(Made { new, accepted_at })
}

impl Made {
    /// The push jobs of the deliveries due now.
    fn jobs(&self, tenant: TenantId, stored: Option<&crate::stored::StoredGate>) -> Vec<Job> {
        self.new
            .iter()
            .filter(|d| d.state == DeliveryState::Pending)
            .map(|d| Job {
                tenant,
                id: d.id,
                stream: d.stream_id,
                event: d.event_id,
                kind: d.kind,
                token: d.set_token.as_str().into(),
                attempts: 0,
                first_attempt_at: None,
                accepted_at: d
                    .event_id
                    .and_then(|e| self.accepted_at.get(&e).copied())
                    .unwrap_or_else(Utc::now),
                resigned: false,
                ordered: false,
                stored: stored.cloned(),
                trace: sethub_telemetry::trace::current_traceparent(),
            })
            .collect()
    }
}

/// Stores the deliveries (one statement or transaction; those in `delivered` as delivered
/// with their first attempts) and wakes the long polls of the poll streams that got a SET;
/// returns how many rows were new.
async fn store(
    engine: &Engine,
    tenant: TenantId,
    made: &Made,
    delivered: &[FirstDelivered],
) -> Result<u64, WorkError> {
    let inserted = engine
        .ctx
        .store
        .scope(tenant)
        .deliveries()
        .insert_many_delivered(&made.new, delivered)
        .await?;
    let mut polled: Vec<_> = made
        .new
        .iter()
        .filter(|d| d.state == DeliveryState::Queued)
        .map(|d| d.stream_id)
        .collect();
    polled.sort_unstable();
    polled.dedup();
    for stream in polled {
        crate::poll::notify(&engine.ctx, tenant, stream).await;
    }
    Ok(inserted)
}

/// The first deliveries the early pushes made before their rows were stored.
fn first_delivered(records: &[crate::recorder::Record]) -> Vec<FirstDelivered> {
    records
        .iter()
        .filter_map(|r| match (&r.update.change, &r.attempt) {
            (sethub_store::Change::Delivered { status }, Some(attempt)) => Some(FirstDelivered {
                id: r.update.id,
                status: *status,
                at: r.update.at,
                attempt: attempt.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The pending deliveries of events stored before (a redelivered message): whatever is
/// still pending is pushed again (the dispatcher ignores those this process works on).
async fn stored_pending(
    engine: &Engine,
    tenant: TenantId,
    events: &[AcceptedEvent],
    made: &Made,
) -> Result<Vec<Job>, WorkError> {
    let ids: Vec<EventId> = events.iter().map(|e| e.event_id).collect();
    Ok(engine
        .ctx
        .store
        .scope(tenant)
        .deliveries()
        .for_events(&ids)
        .await?
        .into_iter()
        .filter(|d| d.state == DeliveryState::Pending)
        .map(|d| {
            let at = d.event_id.and_then(|e| made.accepted_at.get(&e).copied());
            Job::from_stored(d, at)
        })
        .collect())
}

/// Fans a message's events out. A fresh message's push SETs are dispatched as soon as they
/// are signed, while their rows are stored (`stored.rs`); a redelivered one's (or one that
/// ingest announced before, see [`AcceptedEvent::maybe_announced`]) are stored first, and
/// then only what is still pending is pushed. Returns once every row is stored:
/// the message may then be acknowledged.
async fn fan_out_message(
    engine: &Engine,
    tenant: TenantId,
    events: &[AcceptedEvent],
    redelivered: bool,
) -> Result<(), String> {
    let made = with_retries("signing the SETs of events", || {
        make(engine, tenant, events)
    })
    .await?;
    let wanted = made.new.len() as u64;
    // A message seen before, or events announced before (maybe), may have been pushed
    // already: their deliveries are stored first.
    let early = !redelivered && !events.iter().any(|e| e.maybe_announced);
    let (signal, collected) = if early {
        let jobs = made.jobs(tenant, None);
        let (signal, gate) = crate::stored::gate(jobs.len());
        for mut job in jobs {
            job.stored = Some(gate.clone());
            engine.dispatcher.submit(job, false);
        }
        drop(gate);
        // A moment for the receivers' answers, so the SETs they took are written once.
        let wait = Duration::from_millis(engine.ctx.config.push.first_outcome_wait_ms);
        let collected = signal.collect(wait).await;
        tracing::debug!(
            collected = collected.len(),
            pushed = made.new.len(),
            "first outcomes before the rows are stored"
        );
        (Some(signal), collected)
    } else {
        (None, Vec::new())
    };
    let delivered = first_delivered(&collected);
    let stored = with_retries("storing the deliveries of events", || {
        store(engine, tenant, &made, &delivered)
    })
    .await;
    if let Some(signal) = signal {
        signal.done(stored.is_ok());
    }
    if matches!(stored, Ok(n) if n == wanted) {
        engine.metrics.written_once.inc_by(delivered.len() as u64);
    }
    // Their outcomes are written (or never will be: the fan-out was given up).
    for r in &collected {
        engine.dispatcher.release(r.update.id);
    }
    let inserted = stored?;
    if early && inserted == wanted {
        return Ok(());
    }
    // Some deliveries were stored before (a redelivery, or the same event announced twice):
    // push whatever of theirs is still pending.
    let jobs = with_retries("loading the pending deliveries of events", || {
        stored_pending(engine, tenant, events, &made)
    })
    .await?;
    for job in jobs {
        engine.dispatcher.submit(job, false);
    }
    Ok(())
}
