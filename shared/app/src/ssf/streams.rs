//! The stream configuration operations (SSF §5) as typed functions: create, read, list,
//! update (PATCH), replace (PUT) and delete. The SSF API's handlers, the portal and fan-out's
//! poll endpoint call them with a [`ReceiverCaller`] and structs; a receiver only ever reaches
//! its own streams, anything else is [`SsfError::NotFound`]. Every change is published on the
//! bus for fan-out.

use serde_json::json;
use sethub_bus::{Envelope, Message, StreamChange};
use sethub_domain::{DeliveryMethod, StreamId, TenantId, events};
use sethub_jose::keyring::MasterKeyring;
use sethub_store::{Stream, StreamFields, Tenant};

use super::auth::ReceiverCaller;
use super::error::SsfError;
use super::wire::{self, DeliveryOut, DeliveryRequest, Method, Patch, StreamConfig, StreamRequest};
use crate::AppContext;

/// Default `min_verification_interval` of new streams, in seconds.
pub const MIN_VERIFICATION_INTERVAL: i32 = 30;

/// Members a receiver may not send when creating a stream: those the transmitter supplies
/// (SSF §4) but `status`, as there is nothing yet they could be equal to.
fn not_on_create(name: &str) -> bool {
    wire::CREATE_REFUSED.contains(&name)
}

/// A stream to create: what the receiver may choose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewStream {
    /// `None`: a poll stream (SSF §5.2).
    pub delivery: Option<DeliveryRequest>,
    /// `None`: every supported event type.
    pub events_requested: Option<Vec<String>>,
    pub description: Option<String>,
}

impl NewStream {
    /// The create request of the SSF API: no `stream_id`, and none of the members the
    /// transmitter supplies (400 naming the first one sent).
    pub fn from_request(req: StreamRequest) -> Result<Self, SsfError> {
        if req.stream_id.is_some() {
            return Err(SsfError::bad(
                "stream_id",
                "is assigned by the transmitter; omit it when creating a stream",
            ));
        }
        if let Some((name, _)) = req
            .transmitter_supplied
            .iter()
            .find(|(name, _)| not_on_create(name))
        {
            return Err(SsfError::bad(
                name,
                "is supplied by the transmitter; omit it when creating a stream",
            ));
        }
        Ok(Self {
            delivery: req.delivery.into_value(),
            events_requested: req.events_requested.into_value(),
            description: req.description.into_value(),
        })
    }
}

/// Event types this hub can put on a stream: every known type except SSF's own control
/// events, which are sent on every stream anyway (SSF §4).
pub fn events_supported() -> Vec<String> {
    events::registry()
        .uris()
        .filter(|u| *u != events::VERIFICATION && *u != events::STREAM_UPDATED)
        .map(str::to_owned)
        .collect()
}

/// The issuer of a tenant: `{public_url}/t/{slug}` (no trailing slash, no query).
pub fn issuer(ctx: &AppContext, slug: &str) -> String {
    ctx.url(&format!("/t/{slug}"))
}

/// The configuration object of a stream, as its receiver sees it.
pub fn to_config(ctx: &AppContext, tenant: &Tenant, s: &Stream) -> StreamConfig {
    let aud = if s.aud.len() == 1 {
        json!(s.aud[0])
    } else {
        json!(s.aud)
    };
    StreamConfig {
        stream_id: s.id.to_string(),
        iss: issuer(ctx, &tenant.slug),
        aud,
        delivery: DeliveryOut {
            method: match s.delivery_method {
                DeliveryMethod::Push => Method::Push,
                DeliveryMethod::Poll => Method::Poll,
            },
            endpoint_url: s.endpoint_url.clone().unwrap_or_default(),
        },
        events_supported: events_supported(),
        events_requested: s.events_requested.clone(),
        events_delivered: s.events_delivered.clone(),
        min_verification_interval: u32::try_from(s.min_verification_interval).unwrap_or(0),
        inactivity_timeout: s.inactivity_timeout.and_then(|t| u32::try_from(t).ok()),
        description: s.description.clone(),
    }
}

fn sealing(ctx: &AppContext) -> Result<MasterKeyring, SsfError> {
    crate::streams::keyring(ctx).map_err(SsfError::internal)
}

fn poll_url(ctx: &AppContext, tenant: &Tenant, id: StreamId) -> String {
    ctx.url(&format!("/t/{}/ssf/poll/{id}", tenant.slug))
}

/// Turns the requested delivery into stored fields: checks a push endpoint against the SSRF
/// guard (after DNS resolution), seals its authorization header, assigns a poll endpoint.
async fn delivery_fields(
    ctx: &AppContext,
    tenant: &Tenant,
    id: StreamId,
    d: &DeliveryRequest,
    current: Option<&Stream>,
) -> Result<(DeliveryMethod, Option<String>, Option<Vec<u8>>), SsfError> {
    match d.method {
        Method::Push => {
            let raw = d.endpoint_url.as_deref().unwrap_or_default();
            let url = crate::egress::policy(ctx)
                .check_url_resolving(raw)
                .await
                .map_err(|e| SsfError::bad("delivery.endpoint_url", e))?;
            let sealed = match &d.authorization_header {
                Some(h) => Some(
                    sealing(ctx)?
                        .seal(
                            &crate::streams::authorization_seal_context(tenant.id, id),
                            h.as_bytes(),
                        )
                        .map_err(SsfError::internal)?
                        .to_string()
                        .into_bytes(),
                ),
                // No new header: keep the stored one (PATCH semantics) only for the same push
                // endpoint. A new endpoint drops it: the receiver's secret must not follow
                // its stream to another destination.
                None => current
                    .filter(|c| {
                        c.delivery_method == DeliveryMethod::Push
                            && c.endpoint_url.as_deref() == Some(url.as_str())
                    })
                    .and_then(|c| c.authorization_sealed.clone()),
            };
            Ok((DeliveryMethod::Push, Some(url.to_string()), sealed))
        }
        Method::Poll => {
            let assigned = poll_url(ctx, tenant, id);
            if let Some(given) = d.endpoint_url.as_deref()
                && current.is_some()
                && given != assigned
            {
                return Err(SsfError::bad(
                    "delivery.endpoint_url",
                    "a poll endpoint is assigned by the transmitter and cannot be changed",
                ));
            }
            Ok((DeliveryMethod::Poll, Some(assigned), None))
        }
    }
}

/// Tells fan-out about a committed change. A failure is logged: fan-out re-reads streams
/// from the database on every event anyway.
pub(crate) async fn publish(ctx: &AppContext, tenant: TenantId, message: Message) {
    if let Err(e) = ctx.bus.publish(Envelope::new(tenant, message)).await {
        tracing::warn!(error = %e, "could not publish a stream change");
    }
}

/// Tells fan-out that one of the caller's streams changed.
async fn changed(ctx: &AppContext, caller: &ReceiverCaller, id: StreamId, change: StreamChange) {
    let message = Message::StreamChanged {
        stream_id: id,
        change,
    };
    publish(ctx, caller.tenant.id, message).await;
}

/// Creates a stream for the caller (SSF §5.1), within the tenant's quotas.
pub async fn create(
    ctx: &AppContext,
    caller: &ReceiverCaller,
    new: NewStream,
) -> Result<Stream, SsfError> {
    if caller.tenant.closed_at.is_some() {
        return Err(SsfError::Closed(caller.tenant.slug.clone()));
    }
    let id = StreamId::new();
    let delivery = new.delivery.unwrap_or(DeliveryRequest {
        method: Method::Poll,
        endpoint_url: None,
        authorization_header: None,
    });
    let (method, endpoint, sealed) =
        delivery_fields(ctx, &caller.tenant, id, &delivery, None).await?;
    // `aud` is the receiver's client id: the value it knows from its credentials.
    let client_id = ctx
        .store
        .scope(caller.tenant.id)
        .receivers()
        .get(caller.receiver_id)
        .await?
        .client_id;
    let fields = StreamFields {
        aud: vec![client_id],
        delivery_method: method,
        endpoint_url: endpoint,
        authorization_sealed: sealed,
        events_delivered: wire::events_delivered(
            new.events_requested.as_deref(),
            &events_supported(),
        ),
        events_requested: new.events_requested,
        description: new.description,
        min_verification_interval: MIN_VERIFICATION_INTERVAL,
        inactivity_timeout: None,
    };
    let quotas = crate::quotas::of_tenant(ctx, &caller.tenant);
    let stream = ctx
        .store
        .scope(caller.tenant.id)
        .streams()
        .create_within(id, caller.receiver_id, fields, &quotas)
        .await?;
    changed(ctx, caller, id, StreamChange::Created).await;
    Ok(stream)
}

/// One of the caller's streams (SSF §5.2); reading counts as activity.
pub async fn read(
    ctx: &AppContext,
    caller: &ReceiverCaller,
    id: StreamId,
) -> Result<Stream, SsfError> {
    let streams = ctx.store.scope(caller.tenant.id).streams();
    let s = streams.get_for_receiver(id, caller.receiver_id).await?;
    streams.touch_activity(id).await?;
    Ok(s)
}

/// One of the caller's streams, without counting as activity (the portal's pages).
pub async fn get(
    ctx: &AppContext,
    caller: &ReceiverCaller,
    id: StreamId,
) -> Result<Stream, SsfError> {
    Ok(ctx
        .store
        .scope(caller.tenant.id)
        .streams()
        .get_for_receiver(id, caller.receiver_id)
        .await?)
}

/// Every stream of the caller, oldest first.
pub async fn list(ctx: &AppContext, caller: &ReceiverCaller) -> Result<Vec<Stream>, SsfError> {
    Ok(ctx
        .store
        .scope(caller.tenant.id)
        .streams()
        .list_for_receiver(caller.receiver_id)
        .await?)
}

/// The caller's poll stream `id` (fan-out's poll endpoint); a push stream is not found.
pub async fn poll_stream(
    ctx: &AppContext,
    caller: &ReceiverCaller,
    id: StreamId,
) -> Result<Stream, SsfError> {
    let s = get(ctx, caller, id).await?;
    if s.delivery_method == DeliveryMethod::Poll {
        Ok(s)
    } else {
        Err(SsfError::NotFound)
    }
}

/// SSF §5.4: transmitter-supplied members may be sent but must equal the current values.
fn check_transmitter_supplied(req: &StreamRequest, current: &StreamConfig) -> Result<(), SsfError> {
    let now = serde_json::to_value(current).map_err(SsfError::internal)?;
    for (name, value) in &req.transmitter_supplied {
        let same = match now.get(*name) {
            Some(cur) => cur == value || (*name == "aud" && json!([cur]) == *value),
            None => value.is_null(),
        };
        if !same {
            return Err(SsfError::bad(
                name,
                "is supplied by the transmitter and differs from the stream's value",
            ));
        }
    }
    Ok(())
}

/// Whether a change replaces the configuration (PUT) or patches it (PATCH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Update,
    Replace,
}

/// Updates (PATCH, SSF §5.3) or replaces (PUT, §5.4) the stream `req.stream_id` names.
pub async fn change(
    ctx: &AppContext,
    caller: &ReceiverCaller,
    req: StreamRequest,
    kind: ChangeKind,
) -> Result<Stream, SsfError> {
    let replace = kind == ChangeKind::Replace;
    let raw_id = req
        .stream_id
        .as_deref()
        .ok_or_else(|| SsfError::bad("stream_id", "is required"))?;
    let id = wire::parse_stream_id(Some(raw_id))?.ok_or(SsfError::NotFound)?;
    let streams = ctx.store.scope(caller.tenant.id).streams();
    let current = streams.get_for_receiver(id, caller.receiver_id).await?;
    check_transmitter_supplied(&req, &to_config(ctx, &caller.tenant, &current))?;
    let mut f = current.fields();
    match (&req.delivery, replace) {
        (Patch::Value(d), _) => {
            let (m, e, s) = delivery_fields(ctx, &caller.tenant, id, d, Some(&current)).await?;
            (f.delivery_method, f.endpoint_url, f.authorization_sealed) = (m, e, s);
        }
        (Patch::Null, _) | (Patch::Absent, true) => {
            return Err(SsfError::bad(
                "delivery",
                "is required; a stream cannot be left without a delivery method",
            ));
        }
        (Patch::Absent, false) => {}
    }
    match (req.events_requested, replace) {
        (Patch::Value(v), _) => f.events_requested = Some(v),
        (Patch::Null, _) | (Patch::Absent, true) => f.events_requested = None,
        (Patch::Absent, false) => {}
    }
    match (req.description, replace) {
        (Patch::Value(d), _) => f.description = Some(d),
        (Patch::Null, _) | (Patch::Absent, true) => f.description = None,
        (Patch::Absent, false) => {}
    }
    f.events_delivered = wire::events_delivered(f.events_requested.as_deref(), &events_supported());
    let updated = streams.update(id, f).await?;
    changed(ctx, caller, id, StreamChange::Updated).await;
    Ok(updated)
}

/// Deletes one of the caller's streams (SSF §5.5).
pub async fn delete(
    ctx: &AppContext,
    caller: &ReceiverCaller,
    id: StreamId,
) -> Result<(), SsfError> {
    let streams = ctx.store.scope(caller.tenant.id).streams();
    streams.get_for_receiver(id, caller.receiver_id).await?;
    streams.delete(id).await?;
    changed(ctx, caller, id, StreamChange::Deleted).await;
    Ok(())
}
