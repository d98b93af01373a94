//! Accepting a valid event: store it, publish `event_accepted` with a broker confirm, record
//! the publish. Only then is it accepted (`202`): a `202` means durable in PostgreSQL *and* on
//! the bus.
//!
//! A repeat under the same idempotency key returns the first event. If that event was stored
//! but its publish failed (the first client got a 503), the repeat publishes it, so a retry
//! after a 503 never leaves an event stored and unannounced. Two concurrent repeats of an
//! unpublished event may both publish it: delivery is at-least-once and fanout dedupes on the
//! event id.

use sethub_app::AppContext;
use sethub_bus::{Envelope, Message};
use sethub_domain::{EventId, TenantId};
use sethub_http::{ApiError, ErrorCode};
use sethub_store::{EventSource, InsertOutcome, NewEvent, StoreError};

use crate::metrics::Outcome;
use crate::request::PublishRequest;

/// What became of an accepted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub event_id: EventId,
    pub outcome: Outcome,
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        e @ StoreError::Database(_) => ApiError::unavailable(e),
        e => ApiError::internal(e),
    }
}

/// Stores (or finds, by `idempotency_key`) and publishes the event.
pub async fn accept(
    ctx: &AppContext,
    tenant: TenantId,
    request: PublishRequest,
    idempotency_key: Option<String>,
) -> Result<Accepted, ApiError> {
    let new = NewEvent {
        id: EventId::new(),
        event_types: vec![request.event_type],
        sub_id: Some(request.subject.to_json()),
        payload: request.body,
        txn: request.txn,
        toe: request.toe,
        source: EventSource::Api,
        idempotency_key,
    };
    let body = new.payload.clone();
    let events = ctx.store.scope(tenant).events();
    match events.insert(new).await.map_err(store_error)? {
        InsertOutcome::Inserted(event) => {
            publish(ctx, tenant, event.id).await?;
            Ok(Accepted {
                event_id: event.id,
                outcome: Outcome::Accepted,
            })
        }
        InsertOutcome::Duplicate(event) if event.payload != body => Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "this Idempotency-Key was first used with a different body (event `{}`); \
                 use a new key for a new event",
                event.id
            ),
        )),
        InsertOutcome::Duplicate(event) if event.published_at.is_none() => {
            publish(ctx, tenant, event.id).await?;
            Ok(Accepted {
                event_id: event.id,
                outcome: Outcome::Republished,
            })
        }
        InsertOutcome::Duplicate(event) => Ok(Accepted {
            event_id: event.id,
            outcome: Outcome::Duplicate,
        }),
    }
}

/// Publishes `event_accepted` (returns after the broker's confirm), then records it on the
/// event. A failed record is only logged: the message is durable, and at worst a repeat
/// publishes it again.
async fn publish(ctx: &AppContext, tenant: TenantId, event: EventId) -> Result<(), ApiError> {
    let envelope = Envelope::new(tenant, Message::EventAccepted { event_id: event });
    ctx.bus
        .publish(envelope)
        .await
        .map_err(ApiError::unavailable)?;
    if let Err(e) = ctx.store.scope(tenant).events().mark_published(event).await {
        tracing::warn!(tenant = %tenant, event = %event, error = %e, "published but not recorded");
    }
    Ok(())
}
