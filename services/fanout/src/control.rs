//! Control messages from `manage`: verification requests (sign and deliver a verification
//! SET), status changes (release held SETs on `enabled`; a stream-updated SET when the tenant
//! made the change) and stream changes (drop the cached streams).

use std::sync::Arc;

use chrono::Utc;
use sethub_bus::{Delivery, Message, QueueKind};
use sethub_domain::{DeliveryId, DeliveryMethod, StreamId, StreamStatus, TenantId};
use sethub_store::{DeliveryKind, DeliveryState, DueDeliveries, NewDelivery, StoreError};

use crate::dispatch::Job;
use crate::engine::{Engine, WorkError, with_retries};
use crate::retries::Paging;
use crate::sets::{self, SignedSet};

/// Consumes the control queue until the bus closes. Messages are handled one at a time, in
/// order.
pub async fn run(engine: Arc<Engine>) {
    let Some(mut sub) = engine.subscribe(QueueKind::Control, 16).await else {
        return;
    };
    let shutdown = engine.ctx.shutdown.clone();
    while let Some(delivery) = shutdown.unless_stopping(sub.next()).await {
        handle(&engine, delivery).await;
    }
    tracing::info!("fan-out stopped consuming the control queue");
}

async fn handle(engine: &Arc<Engine>, delivery: Delivery) {
    let envelope = delivery.message().clone();
    engine.observe_lag("control", envelope.published_at);
    let tenant = envelope.tenant_id;
    engine.cache.invalidate(tenant);
    let result = with_retries("a control message", || {
        let message = envelope.message.clone();
        async move {
            match message {
                Message::VerificationRequested { stream_id, state } => {
                    verification(engine, tenant, stream_id, state.as_deref()).await
                }
                Message::StreamStatusChanged {
                    stream_id,
                    status,
                    reason,
                    notify,
                } => status_changed(engine, tenant, stream_id, &status, reason, notify).await,
                Message::DeliveriesRedriven { stream_id } => {
                    redriven(engine, tenant, stream_id).await
                }
                Message::StreamChanged { .. }
                | Message::EventAccepted { .. }
                | Message::EventsAccepted { .. } => Ok(()),
            }
        }
    })
    .await;
    if let Err(e) = result {
        tracing::warn!(%tenant, kind = envelope.message.type_name(), error = %e,
            "control message not acted on");
    }
    if let Err(e) = delivery.ack().await {
        tracing::warn!(error = %e, "cannot acknowledge a control message");
    }
}

/// Stores a stream-level SET for the stream (held while paused, queued for poll) and
/// dispatches it when it can be pushed now.
async fn store_stream_set(
    engine: &Engine,
    tenant: TenantId,
    stream_id: StreamId,
    status: StreamStatus,
    method: DeliveryMethod,
    kind: DeliveryKind,
    signed: SignedSet,
) -> Result<(), WorkError> {
    let exempt = kind == DeliveryKind::StreamUpdated;
    let state = match (status, method) {
        (StreamStatus::Disabled, _) if !exempt => return Ok(()),
        (StreamStatus::Paused, _) if !exempt => DeliveryState::Held,
        (_, DeliveryMethod::Poll) => DeliveryState::Queued,
        (_, DeliveryMethod::Push) => DeliveryState::Pending,
    };
    let id = DeliveryId::new();
    engine
        .ctx
        .store
        .scope(tenant)
        .deliveries()
        .insert_many(&[NewDelivery {
            id,
            stream_id,
            event_id: None,
            kind,
            jti: signed.jti,
            set_token: signed.token.clone(),
            state,
            next_attempt_at: (state == DeliveryState::Pending).then(Utc::now),
        }])
        .await?;
    engine
        .metrics
        .signed
        .with_label_values(&[kind.as_str()])
        .inc();
    if state == DeliveryState::Queued {
        crate::poll::notify(&engine.ctx, tenant, stream_id).await;
    }
    if state == DeliveryState::Pending {
        engine.dispatcher.submit(
            Job {
                tenant,
                id,
                stream: stream_id,
                event: None,
                kind,
                token: signed.token.into(),
                attempts: 0,
                first_attempt_at: None,
                accepted_at: Utc::now(),
                resigned: false,
                ordered: false,
                stored: None,
                trace: None,
            },
            false,
        );
    }
    Ok(())
}

async fn verification(
    engine: &Engine,
    tenant: TenantId,
    stream_id: StreamId,
    state: Option<&str>,
) -> Result<(), WorkError> {
    let streams = engine.streams_now(tenant).await?;
    let Some(view) = streams.get(stream_id) else {
        return Err(WorkError::Permanent("the stream no longer exists".into()));
    };
    let key = engine.signing_key(tenant).await?;
    let signed = sets::verification_set(&key, &engine.issuer(&streams.slug), &view.stream, state)?;
    store_stream_set(
        engine,
        tenant,
        stream_id,
        view.status(),
        view.stream.delivery_method,
        DeliveryKind::Verification,
        signed,
    )
    .await
}

async fn status_changed(
    engine: &Arc<Engine>,
    tenant: TenantId,
    stream_id: StreamId,
    status: &str,
    reason: Option<String>,
    notify: bool,
) -> Result<(), WorkError> {
    let streams = engine.streams_now(tenant).await?;
    let Some(view) = streams.get(stream_id) else {
        return Err(WorkError::Permanent("the stream no longer exists".into()));
    };
    if notify {
        let key = engine.signing_key(tenant).await?;
        let signed = sets::stream_updated_set(
            &key,
            &engine.issuer(&streams.slug),
            &view.stream,
            status,
            reason.as_deref(),
        )?;
        store_stream_set(
            engine,
            tenant,
            stream_id,
            view.status(),
            view.stream.delivery_method,
            DeliveryKind::StreamUpdated,
            signed,
        )
        .await?;
    }
    // Held SETs go out when the stream is enabled again: queued for the stream's polls, or
    // pushed in order of creation, a page at a time.
    if view.status() == StreamStatus::Enabled {
        let poll = view.stream.delivery_method == DeliveryMethod::Poll;
        let to = if poll {
            DeliveryState::Queued
        } else {
            DeliveryState::Pending
        };
        let released = match engine
            .ctx
            .store
            .scope(tenant)
            .deliveries()
            .release_held(stream_id, to)
            .await
        {
            Ok(n) => n,
            Err(StoreError::NotFound) => 0,
            Err(e) => return Err(e.into()),
        };
        if released > 0 {
            if poll {
                crate::poll::notify(&engine.ctx, tenant, stream_id).await;
            } else {
                push_stream_pages(engine, tenant, stream_id);
            }
        }
    }
    Ok(())
}

/// Pushes a stream's pending deliveries now (after a redrive put dead ones back).
async fn redriven(
    engine: &Arc<Engine>,
    tenant: TenantId,
    stream_id: StreamId,
) -> Result<(), WorkError> {
    push_stream_pages(engine, tenant, stream_id);
    Ok(())
}

/// Pushes a stream's deliveries due now, oldest first and one at a time, so each subject's
/// SETs arrive in publish order: a page at a time as the dispatcher has room (`retries.rs`),
/// in a task of its own so the control queue goes on meanwhile. If this process dies before
/// the last page, the recovery sweep takes the rest after `push.orphan_after_secs`.
fn push_stream_pages(engine: &Arc<Engine>, tenant: TenantId, stream_id: StreamId) {
    let engine = engine.clone();
    let due = DueDeliveries {
        before: Utc::now(),
        stream: Some(stream_id),
        scheduled_only: false,
    };
    tokio::spawn(async move {
        let pushed = with_retries("pushing a stream's released SETs", || async {
            Ok(
                crate::retries::push_pages(&engine, tenant, &due, Paging::AllInOrder)
                    .await?
                    .0,
            )
        })
        .await;
        match pushed {
            Ok(n) => tracing::info!(%tenant, stream = %stream_id, deliveries = n,
                "pushed a stream's released or redriven SETs"),
            Err(e) => tracing::warn!(%tenant, stream = %stream_id, error = %e,
                "cannot push a stream's released or redriven SETs"),
        }
    });
}
