//! A receiver as its tenant manages it (the console's receiver page and the tenant API):
//! whether its people joined the portal or its invitation is pending, its streams,
//! re-issuing its invitation (the earlier link stops working) and disabling or enabling it.
//! Every change is recorded in the tenant's audit log in the transaction that makes it.
//!
//! A disabled receiver's client credentials get no token, its access tokens are refused at
//! the next request (the receiver row is read per request) and its portal people are signed
//! out at their next page and cannot sign in. Its streams keep the status they have, but
//! deliver nothing: fan-out holds their SETs as it holds a paused stream's (SSF §6: a
//! transmitter-initiated pause, announced with a stream-updated SET `paused` to each enabled
//! stream), and enabling the receiver releases them in order, announced with `enabled`.

use chrono::{DateTime, Utc};
use serde_json::json;
use sethub_bus::{Envelope, Message};
use sethub_domain::{ReceiverId, StreamStatus, TenantId};
use sethub_store::{Invite, Member, NewAuditEntry, OpenInvite, Receiver, Role, StoreError, Stream};

use crate::AppContext;
use crate::admin::AdminError;

/// The reason a disabled receiver's streams are told in their stream-updated SET.
pub const DISABLED_REASON: &str = "the transmitter disabled this receiver";

/// Where a receiver stands with its portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// At least one of its people has joined.
    Joined,
    /// Nobody has joined; an invitation link is open until this time.
    Pending(DateTime<Utc>),
    /// Nobody has joined and no link is open (it expired, or the receiver was made with the
    /// CLI or the API): issue one.
    NoInvitation,
}

/// What the receiver page shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub receiver: Receiver,
    /// Its portal people.
    pub people: Vec<Member>,
    /// Its open invitation, if any (the newest).
    pub invite: Option<OpenInvite>,
    /// Its streams, by name.
    pub streams: Vec<Stream>,
}

impl Overview {
    pub fn joined(&self) -> Joined {
        match (self.people.is_empty(), &self.invite) {
            (false, _) => Joined::Joined,
            (true, Some(i)) => Joined::Pending(i.expires_at),
            (true, None) => Joined::NoInvitation,
        }
    }
}

fn not_found(e: StoreError) -> AdminError {
    match e {
        StoreError::NotFound => AdminError::NotFound("receiver with this id".into()),
        e => AdminError::Store(e),
    }
}

/// One receiver of the tenant with its people, open invitation and streams (another
/// tenant's receiver is not found).
pub async fn overview(
    ctx: &AppContext,
    tenant: TenantId,
    id: ReceiverId,
) -> Result<Overview, AdminError> {
    let scope = ctx.store.scope(tenant);
    let receiver = scope.receivers().get(id).await.map_err(not_found)?;
    let people = scope
        .members()
        .list()
        .await?
        .into_iter()
        .filter(|m| m.role == Role::Receiver && m.receiver_id == Some(id))
        .collect();
    let invite = scope
        .members()
        .open_invites(Some(id))
        .await?
        .into_iter()
        .next();
    let mut streams = scope.streams().list_for_receiver(id).await?;
    streams.sort_by_key(crate::streams::name_of);
    Ok(Overview {
        receiver,
        people,
        invite,
        streams,
    })
}

/// A portal invitation just issued: the link is shown once (only its token's hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Where the receiver's people join: `{public_url}/portal/t/{slug}/invite/{token}`.
    pub link: String,
    pub expires_at: DateTime<Utc>,
}

/// The portal link of an invitation token of the tenant `slug`.
pub fn invitation_link(ctx: &AppContext, slug: &str, token: &str) -> String {
    ctx.url(&format!("/portal/t/{slug}/invite/{token}"))
}

/// Issues a new portal invitation for the receiver and withdraws every earlier open one,
/// recorded in the audit log as `actor` (`member:…`, `api_key:…`), in one transaction.
pub async fn reissue_invite(
    ctx: &AppContext,
    tenant: TenantId,
    actor: String,
    id: ReceiverId,
) -> Result<Invitation, AdminError> {
    let slug = ctx.store.tenants().get(tenant).await?.slug;
    let token = crate::admin::random_token()?;
    let expires_at = Utc::now() + crate::team::invite_lifetime(ctx);
    let tx = ctx.store.scope(tenant).begin().await?;
    tx.receivers().get(id).await.map_err(not_found)?;
    tx.members()
        .reissue_receiver_invite(
            &crate::team::token_hash(&token),
            &Invite {
                role: Role::Receiver,
                receiver_id: Some(id),
                expires_at,
                email: None,
            },
        )
        .await?;
    tx.audit()
        .record(NewAuditEntry {
            actor: actor.clone(),
            action: "receiver.invite".into(),
            target: Some(id.to_string()),
            details: json!({ "expires_at": expires_at }),
        })
        .await?;
    tx.commit().await?;
    tracing::info!(%tenant, receiver = %id, by = %actor, "receiver invitation re-issued");
    Ok(Invitation {
        link: invitation_link(ctx, &slug, &token),
        expires_at,
    })
}

/// Disables the receiver (`true`) or enables it again, recorded in the audit log as `actor`
/// in the same transaction; returns it as it is now.
///
/// Then fan-out is told, for each of its streams whose own status is `enabled`: a disable
/// that changed anything announces `paused` ([`DISABLED_REASON`]) with a stream-updated SET
/// (its SETs are held from the commit on); an enable announces `enabled` when it changed
/// anything and releases the held SETs in any case, so repeating an enable that met a bus
/// failure ([`AdminError::Bus`]) finishes it.
pub async fn set_disabled(
    ctx: &AppContext,
    tenant: TenantId,
    actor: String,
    id: ReceiverId,
    disabled: bool,
) -> Result<Receiver, AdminError> {
    let tx = ctx.store.scope(tenant).begin().await?;
    let before = tx.receivers().get(id).await.map_err(not_found)?;
    let after = tx.receivers().set_disabled(id, disabled).await?;
    let changed = before.disabled_at.is_some() != disabled;
    if changed {
        tx.audit()
            .record(NewAuditEntry {
                actor: actor.clone(),
                action: if disabled {
                    "receiver.disable"
                } else {
                    "receiver.enable"
                }
                .into(),
                target: Some(id.to_string()),
                details: json!({ "name": after.name }),
            })
            .await?;
    }
    let streams = tx.streams().list_for_receiver(id).await?;
    tx.commit().await?;
    tracing::info!(%tenant, receiver = %id, by = %actor, disabled, changed, "receiver status set");
    if disabled && !changed {
        return Ok(after);
    }
    for stream in streams.iter().filter(|s| s.status == StreamStatus::Enabled) {
        let message = Message::StreamStatusChanged {
            stream_id: stream.id,
            status: if disabled {
                StreamStatus::Paused
            } else {
                StreamStatus::Enabled
            }
            .as_str()
            .to_owned(),
            reason: disabled.then(|| DISABLED_REASON.to_owned()),
            notify: changed,
        };
        ctx.bus.publish(Envelope::new(tenant, message)).await?;
    }
    Ok(after)
}
