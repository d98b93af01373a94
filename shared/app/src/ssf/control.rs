//! The other stream operations: status (SSF §6), subjects (§7) and verification (§8), for a
//! receiver; and a status change made by the stream's tenant (its REST API and console),
//! which the receiver is told of with a stream-updated SET, and a deletion by the tenant.

use serde_json::json;
use sethub_bus::{Message, StreamChange};
use sethub_domain::subject::Subject;
use sethub_domain::{StatusActor, StreamId, StreamStatus, TenantId};
use sethub_store::{NewAuditEntry, Stream};

use super::auth::ReceiverCaller;
use super::error::SsfError;
use super::streams::publish;
use crate::AppContext;

/// Longest `state` echoed back in a verification SET.
pub const MAX_STATE: usize = 1024;
/// Longest status `reason` kept.
pub const MAX_REASON: usize = 500;

/// A receiver's status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub stream_id: StreamId,
    pub status: StreamStatus,
    /// Kept to its first [`MAX_REASON`] characters.
    pub reason: Option<String>,
}

/// A subject added to, or removed from, a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectChange {
    pub stream_id: StreamId,
    pub subject: Subject,
    /// SSF §7.1: absent means verified.
    pub verified: bool,
    /// `true`: add; `false`: remove.
    pub added: bool,
}

/// A verification request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    pub stream_id: StreamId,
    /// Echoed in the verification SET; at most [`MAX_STATE`] bytes.
    pub state: Option<String>,
}

/// The status of one of the caller's streams; reading counts as activity.
pub async fn read_status(
    ctx: &AppContext,
    caller: &ReceiverCaller,
    id: StreamId,
) -> Result<Stream, SsfError> {
    super::streams::read(ctx, caller, id).await
}

/// Changes the status of one of the caller's streams. A receiver's own change needs no
/// stream-updated SET (only transmitter-initiated ones do). A stream its tenant or sethub
/// disabled stays so: [`SsfError::StatusLocked`].
pub async fn set_status(
    ctx: &AppContext,
    caller: &ReceiverCaller,
    change: StatusUpdate,
) -> Result<Stream, SsfError> {
    let id = change.stream_id;
    let reason = change
        .reason
        .map(|r| r.chars().take(MAX_REASON).collect::<String>());
    let streams = ctx.store.scope(caller.tenant.id).streams();
    streams.get_for_receiver(id, caller.receiver_id).await?;
    let (_, after) = streams
        .set_status(id, change.status, reason.clone(), StatusActor::Receiver)
        .await?;
    let message = Message::StreamStatusChanged {
        stream_id: id,
        status: change.status.as_str().to_owned(),
        reason,
        notify: false,
    };
    publish(ctx, caller.tenant.id, message).await;
    Ok(after)
}

/// Changes a stream's status as its tenant. When anything changed, the receiver is told with
/// a stream-updated SET carrying the new status and the reason (SSF §6), and held SETs of a
/// stream enabled again are released; that message must reach the bus, so its failure is an
/// error ([`SsfError::Unavailable`]).
pub async fn set_status_as_tenant(
    ctx: &AppContext,
    tenant: TenantId,
    id: StreamId,
    status: StreamStatus,
    reason: Option<String>,
) -> Result<Stream, SsfError> {
    let (before, after) = ctx
        .store
        .scope(tenant)
        .streams()
        .set_status(id, status, reason.clone(), StatusActor::Tenant)
        .await?;
    if before.status != after.status || before.status_reason != after.status_reason {
        let message = Message::StreamStatusChanged {
            stream_id: id,
            status: after.status.as_str().to_owned(),
            reason,
            notify: true,
        };
        ctx.bus
            .publish(sethub_bus::Envelope::new(tenant, message))
            .await
            .map_err(|e| SsfError::Unavailable(e.to_string()))?;
    }
    Ok(after)
}

/// Deletes a stream as its tenant (the console, the tenant API): the same deletion as the
/// receiver's own (SSF §5.5, [`super::streams::delete`]), recorded in the tenant's audit log
/// as `actor` (`member:…`, `api_key:…`) in the same transaction. Returns the deleted stream.
/// Its receiver is not told: nothing can be sent on a stream that no longer exists.
pub async fn delete_as_tenant(
    ctx: &AppContext,
    tenant: TenantId,
    id: StreamId,
    actor: String,
) -> Result<Stream, SsfError> {
    let tx = ctx.store.scope(tenant).begin().await?;
    let stream = tx.streams().get(id).await?;
    tx.streams().delete(id).await?;
    tx.audit()
        .record(NewAuditEntry {
            actor,
            action: "stream.delete".into(),
            target: Some(id.to_string()),
            details: json!({
                "name": crate::streams::name_of(&stream),
                "receiver_id": stream.receiver_id.to_string(),
                "delivery_method": stream.delivery_method.as_str(),
            }),
        })
        .await?;
    tx.commit().await?;
    let message = Message::StreamChanged {
        stream_id: id,
        change: StreamChange::Deleted,
    };
    publish(ctx, tenant, message).await;
    Ok(stream)
}

/// Adds or removes a subject of one of the caller's streams, within the tenant's quota of
/// subjects per stream. The subject is stored under its canonical key, so the data plane
/// matches it exactly as subjects.md says.
pub async fn change_subject(
    ctx: &AppContext,
    caller: &ReceiverCaller,
    change: SubjectChange,
) -> Result<(), SsfError> {
    let id = change.stream_id;
    let quotas = crate::quotas::of_tenant(ctx, &caller.tenant);
    let streams = ctx.store.scope(caller.tenant.id).streams();
    streams.get_for_receiver(id, caller.receiver_id).await?;
    streams
        .put_subject_within(
            id,
            &change.subject.canonical_key(),
            change.subject.to_json(),
            (change.added, change.verified),
            quotas.subjects_per_stream,
        )
        .await?;
    streams.touch_activity(id).await?;
    let message = Message::StreamChanged {
        stream_id: id,
        change: StreamChange::SubjectsChanged,
    };
    publish(ctx, caller.tenant.id, message).await;
    Ok(())
}

/// Asks for a verification SET on one of the caller's streams (SSF §8). Requests closer
/// together than the stream's `min_verification_interval` get [`SsfError::TooSoon`].
pub async fn verify(
    ctx: &AppContext,
    caller: &ReceiverCaller,
    req: VerifyRequest,
) -> Result<(), SsfError> {
    let id = req.stream_id;
    if req.state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        return Err(SsfError::bad(
            "state",
            format!("longer than {MAX_STATE} bytes"),
        ));
    }
    let streams = ctx.store.scope(caller.tenant.id).streams();
    let stream = streams.get_for_receiver(id, caller.receiver_id).await?;
    if !streams
        .try_record_verification(id, chrono::Utc::now())
        .await?
    {
        let wait = stream
            .last_verification_at
            .map(|last| {
                let next =
                    last + chrono::Duration::seconds(i64::from(stream.min_verification_interval));
                next.signed_duration_since(chrono::Utc::now())
                    .num_seconds()
                    .max(1)
            })
            .unwrap_or(1);
        return Err(SsfError::TooSoon(wait.unsigned_abs()));
    }
    ctx.bus
        .publish(sethub_bus::Envelope::new(
            caller.tenant.id,
            Message::VerificationRequested {
                stream_id: id,
                state: req.state,
            },
        ))
        .await
        .map_err(SsfError::internal)?;
    Ok(())
}
