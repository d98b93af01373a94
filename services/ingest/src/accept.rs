//! Accepting a valid event: store it, publish `event_accepted` with a broker confirm, record
//! the publish. Only then is it accepted (`202`): a `202` means durable in PostgreSQL *and* on
//! the bus. Events without an idempotency key (most publishes) are committed and announced
//! at the same time ([`accept_keyless`]); keyed ones are stored first, so a repeat is known
//! before anything is announced.
//!
//! A repeat under the same idempotency key returns the first event. If that event was stored
//! but its publish failed (the first client got a 503), the repeat publishes it, so a retry
//! after a 503 never leaves an event stored and unannounced. Two concurrent repeats of an
//! unpublished event may both publish it: delivery is at-least-once and fanout dedupes on the
//! event id.

use sethub_app::AppContext;
use sethub_app::events::accepted_event;
use sethub_bus::{AcceptedEvent, Envelope, Message};
use sethub_domain::{EventId, TenantId};
use sethub_http::{ApiError, ErrorCode};
use sethub_store::{EventSource, InsertOutcome, NewEvent, StoreError};
use sethub_telemetry::trace::current_traceparent;

use crate::metrics::Outcome;
use crate::request::PublishRequest;

/// What became of an accepted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub event_id: EventId,
    pub outcome: Outcome,
}

/// Stores (or finds, by `idempotency_key`) and publishes the event.
pub async fn accept(
    ctx: &AppContext,
    tenant: TenantId,
    request: PublishRequest,
    idempotency_key: Option<String>,
) -> Result<Accepted, ApiError> {
    accept_many(ctx, tenant, vec![(request, idempotency_key)])
        .await
        .pop()
        .unwrap_or_else(|| Err(ApiError::internal("an accepted batch lost an item")))
}

/// Most events in one bus message.
const EVENTS_PER_MESSAGE: usize = 100;

/// Stores several events in one transaction, publishes the new (and the stored but
/// unpublished) ones in one `events_accepted` message per hundred with a broker confirm, and
/// records that they were published. One answer per event, in order.
pub async fn accept_many(
    ctx: &AppContext,
    tenant: TenantId,
    requests: Vec<(PublishRequest, Option<String>)>,
) -> Vec<Result<Accepted, ApiError>> {
    let new: Vec<NewEvent> = requests
        .into_iter()
        .map(|(request, idempotency_key)| NewEvent {
            id: EventId::new(),
            event_types: vec![request.event_type],
            sub_id: Some(request.subject.to_json()),
            payload: request.body,
            txn: request.txn,
            toe: request.toe,
            source: EventSource::Api,
            idempotency_key,
        })
        .collect();
    accept_events(ctx, tenant, new).await
}

/// [`accept_many`] for events already made: published ones or upstream SETs.
pub async fn accept_events(
    ctx: &AppContext,
    tenant: TenantId,
    new: Vec<NewEvent>,
) -> Vec<Result<Accepted, ApiError>> {
    let n = new.len();
    if new.iter().all(|e| e.idempotency_key.is_none()) {
        return accept_keyless(ctx, tenant, new).await;
    }
    let bodies: Vec<_> = new.iter().map(|e| e.payload.clone()).collect();
    let events = ctx.store.scope(tenant).events();
    // `Idempotency-Key`s (and upstream `jti`s) are remembered for the configured window.
    let window_secs = i64::try_from(ctx.config.ingest.idempotency_window_secs).unwrap_or(i64::MAX);
    let window = chrono::Duration::try_seconds(window_secs).unwrap_or(chrono::Duration::MAX);
    let (outcomes, streams_version) = match events.insert_many_within(new, Some(window)).await {
        Ok(b) => (b.outcomes, b.streams_version),
        Err(e) => return all_failed(n, &e),
    };
    // What each event needs: published now (new, or stored but never published) or not.
    let mut results: Vec<Result<Accepted, ApiError>> = Vec::with_capacity(n);
    let mut to_publish = Vec::new();
    // Stored before and never confirmed published: their first message may be on the bus.
    let mut repeats = std::collections::HashSet::new();
    for (i, (outcome, body)) in outcomes.iter().zip(&bodies).enumerate() {
        let result = match outcome {
            InsertOutcome::Inserted(event) => {
                to_publish.push((i, event));
                Ok(Accepted {
                    event_id: event.id,
                    outcome: Outcome::Accepted,
                })
            }
            InsertOutcome::Duplicate(event) if event.payload != *body => Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "this Idempotency-Key was first used with a different body (event `{}`); \
                     use a new key for a new event",
                    event.id
                ),
            )),
            InsertOutcome::Duplicate(event) if event.published_at.is_none() => {
                // The same key twice in one group: publish the event once.
                if !to_publish.iter().any(|(_, e)| e.id == event.id) {
                    to_publish.push((i, event));
                    repeats.insert(event.id);
                }
                Ok(Accepted {
                    event_id: event.id,
                    outcome: Outcome::Republished,
                })
            }
            InsertOutcome::Duplicate(event) => Ok(Accepted {
                event_id: event.id,
                outcome: Outcome::Duplicate,
            }),
        };
        results.push(result);
    }
    let keyed_ids: std::collections::HashSet<EventId> = to_publish
        .iter()
        .filter(|(_, e)| e.idempotency_key.is_some())
        .map(|(_, e)| e.id)
        .collect();
    let mut published = Vec::new();
    for chunk in to_publish.chunks(EVENTS_PER_MESSAGE) {
        let message = Message::EventsAccepted {
            events: chunk
                .iter()
                .map(|(_, e)| AcceptedEvent {
                    maybe_announced: repeats.contains(&e.id),
                    ..accepted_event(e, Some(streams_version))
                })
                .collect(),
        };
        match ctx
            .bus
            .publish(Envelope::new(tenant, message).traced(current_traceparent()))
            .await
        {
            Ok(()) => published.extend(chunk.iter().map(|(_, e)| e.id)),
            Err(e) => {
                let msg = e.to_string();
                for (i, _) in chunk {
                    results[*i] = Err(ApiError::unavailable(msg.clone()));
                }
            }
        }
    }
    // The mark decides whether a repeat of an `Idempotency-Key` publishes again, so events
    // with a key are marked before the answer (a repeat must publish nothing new). Events
    // without one can never be repeated: nothing reads their mark, so none is written (it
    // cost a transaction and a dead row version per event).
    let keyed: Vec<_> = published
        .into_iter()
        .filter(|id| keyed_ids.contains(id))
        .collect();
    if !keyed.is_empty()
        && let Err(e) = events.mark_published_many(&keyed).await
    {
        tracing::warn!(tenant = %tenant, error = %e, "published but not recorded");
    }
    results
}

/// The same answer for every event of a request whose store failed.
fn all_failed(n: usize, e: &StoreError) -> Vec<Result<Accepted, ApiError>> {
    let unavailable = matches!(e, StoreError::Database(_));
    let msg = e.to_string();
    (0..n)
        .map(|_| {
            Err(if unavailable {
                ApiError::unavailable(msg.clone())
            } else {
                ApiError::internal(msg.clone())
            })
        })
        .collect()
}

/// Events without an idempotency key (most publishes): they can never be duplicates, so
/// their rows are written and committed *while* their announcement waits for the broker's
/// confirm, instead of before it. The answer still waits for both: a `202` means durable in
/// the database and on the bus, as on the keyed path.
///
/// If the commit fails after the broker confirmed, the client gets a 503 for an event that
/// will be delivered (fan-out needs only the message): at least once, never lost. If the
/// broker fails, the row stays with `published_at` NULL, as on the keyed path.
async fn accept_keyless(
    ctx: &AppContext,
    tenant: TenantId,
    new: Vec<NewEvent>,
) -> Vec<Result<Accepted, ApiError>> {
    let n = new.len();
    let events = ctx.store.scope(tenant).events();
    let pending = match events.begin_keyless(new).await {
        Ok(p) => p,
        Err(e) => return all_failed(n, &e),
    };
    let version = pending.streams_version();
    let messages: Vec<Message> = pending
        .events()
        .chunks(EVENTS_PER_MESSAGE)
        .map(|chunk| Message::EventsAccepted {
            events: chunk
                .iter()
                .map(|e| accepted_event(e, Some(version)))
                .collect(),
        })
        .collect();
    let ids: Vec<EventId> = pending.events().iter().map(|e| e.id).collect();
    let announce = async {
        let mut outcomes = Vec::with_capacity(messages.len());
        for message in messages {
            outcomes.push(
                ctx.bus
                    .publish(Envelope::new(tenant, message).traced(current_traceparent()))
                    .await,
            );
        }
        outcomes
    };
    let (committed, announced) = tokio::join!(pending.commit(), announce);
    if let Err(e) = committed {
        return all_failed(n, &e);
    }
    let mut results = Vec::with_capacity(n);
    for (chunk, announced) in ids.chunks(EVENTS_PER_MESSAGE).zip(announced) {
        for id in chunk {
            results.push(match &announced {
                Ok(()) => Ok(Accepted {
                    event_id: *id,
                    outcome: Outcome::Accepted,
                }),
                Err(e) => Err(ApiError::unavailable(e.to_string())),
            });
        }
    }
    results
}
