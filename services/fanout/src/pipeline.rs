//! Fan-out of accepted events: for each `event_accepted` message, match the tenant's streams,
//! sign one SET per matching stream, store the deliveries, and only then acknowledge the
//! message. Then the push deliveries go to the dispatcher.
//!
//! Matching (SSF §7.4 as digested in spec/ssf.md): a stream gets the event when it is
//! `enabled` (or `paused`: then the SET is held), the event's types meet its
//! `events_delivered` (the SET carries only those), and the event's subject is not one the
//! receiver removed (sethub's `default_subjects` is `ALL`).

use std::sync::Arc;

use chrono::Utc;
use sethub_bus::{AcceptedEvent, Delivery, Message, QueueKind};
use sethub_domain::{DeliveryId, DeliveryMethod, EventId, StreamStatus, TenantId};
use sethub_store::{DeliveryKind, DeliveryState, NewDelivery, StoreError};
use tokio::sync::Semaphore;

use crate::dispatch::Job;
use crate::engine::{Engine, WorkError, with_retries};
use crate::sets;

/// Consumes the events queue until the bus closes.
pub async fn run(engine: Arc<Engine>) {
    let prefetch = engine.ctx.config.bus.prefetch;
    let Some(mut sub) = engine.subscribe(QueueKind::Events, prefetch).await else {
        return;
    };
    // A message holds up to a hundred events; making and storing their SETs is work for the
    // database more than for this process, so a few at a time keep it busy while bounding
    // the memory a burst takes (the rest waits in RabbitMQ, prefetched).
    let concurrency = engine.ctx.config.push.fanout_concurrency;
    let permits = Arc::new(Semaphore::new(usize::from(prefetch).min(concurrency)));
    let max_backlog = engine.ctx.config.push.max_backlog;
    while let Some(delivery) = sub.next().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        // After the permit: at most `concurrency` messages are being fanned out past a
        // look at the backlog (their SETs are what the backlog can overshoot by).
        engine.dispatcher.wait_for_room(max_backlog).await;
        let engine = engine.clone();
        tokio::spawn(async move {
            handle(&engine, delivery).await;
            drop(permit);
        });
    }
    tracing::info!("the events queue closed; fan-out stops consuming");
}

async fn handle(engine: &Arc<Engine>, delivery: Delivery) {
    let envelope = delivery.message().clone();
    engine.observe_lag("events", envelope.published_at);
    let tenant = envelope.tenant_id;
    let redelivered = delivery.redelivered();
    let result = match envelope.message {
        Message::EventsAccepted { events } => {
            with_retries("fan-out of events", || {
                fan_out(engine, tenant, &events, redelivered)
            })
            .await
        }
        Message::EventAccepted { event_id } => {
            with_retries("fan-out of an event", || async {
                let event = load(engine, tenant, event_id).await?;
                fan_out(engine, tenant, std::slice::from_ref(&event), redelivered).await
            })
            .await
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
        Ok(jobs) => {
            for job in jobs {
                engine.dispatcher.submit(job, false);
            }
            "fanned_out"
        }
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

/// Makes and stores the events' deliveries (one transaction); returns the push jobs due now.
pub async fn fan_out(
    engine: &Engine,
    tenant: TenantId,
    events: &[AcceptedEvent],
    redelivered: bool,
) -> Result<Vec<Job>, WorkError> {
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
            let state = match (stream.status, stream.delivery_method) {
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
    let wanted = new.len() as u64;
    let scope = engine.ctx.store.scope(tenant);
    let inserted = scope.deliveries().insert_many(&new).await?;
    // Wake the long polls of the poll streams that got a SET.
    let mut polled: Vec<_> = new
        .iter()
        .filter(|d| d.state == DeliveryState::Queued)
        .map(|d| d.stream_id)
        .collect();
    polled.sort_unstable();
    polled.dedup();
    for stream in polled {
        crate::poll::notify(&engine.ctx, tenant, stream).await;
    }
    let inserted_all = inserted == wanted && !redelivered;
    if inserted_all {
        return Ok(new
            .into_iter()
            .filter(|d| d.state == DeliveryState::Pending)
            .map(|d| Job {
                tenant,
                id: d.id,
                stream: d.stream_id,
                event: d.event_id,
                kind: d.kind,
                token: d.set_token.into(),
                attempts: 0,
                first_attempt_at: None,
                accepted_at: d
                    .event_id
                    .and_then(|e| accepted_at.get(&e).copied())
                    .unwrap_or_else(Utc::now),
                resigned: false,
                ordered: false,
            })
            .collect());
    }
    // A redelivery: some deliveries were stored before. Push whatever is still pending (the
    // dispatcher ignores those this process already works on).
    let ids: Vec<EventId> = events.iter().map(|e| e.event_id).collect();
    Ok(scope
        .deliveries()
        .for_events(&ids)
        .await?
        .into_iter()
        .filter(|d| d.state == DeliveryState::Pending)
        .map(|d| {
            let at = d.event_id.and_then(|e| accepted_at.get(&e).copied());
            Job::from_stored(d, at)
        })
        .collect())
}
