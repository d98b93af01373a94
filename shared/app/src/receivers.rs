//! A receiver as its tenant manages it (the console's receiver page): whether its people
//! joined the portal or its invitation is pending, its streams, re-issuing its invitation
//! (the earlier link stops working) and disabling or enabling it.
//!
//! A disabled receiver's client credentials get no token, its access tokens are refused at
//! the next request (the receiver row is read per request) and its portal people are signed
//! out at their next page and cannot sign in. Its streams keep their status: disabling one
//! is the way to stop its SETs.

use chrono::{DateTime, Utc};
use sethub_domain::{ReceiverId, TenantId};
use sethub_store::{Invite, Member, OpenInvite, Receiver, Role, StoreError, Stream};

use crate::AppContext;
use crate::admin::AdminError;
use crate::team::Actor;

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

/// Issues a new portal invitation for the receiver and withdraws every earlier open one in
/// the same transaction; returns the token for the link (only its hash is stored).
pub async fn reissue_invite(
    ctx: &AppContext,
    tenant: TenantId,
    actor: Actor,
    id: ReceiverId,
) -> Result<String, AdminError> {
    let scope = ctx.store.scope(tenant);
    scope.receivers().get(id).await.map_err(not_found)?;
    let token = crate::admin::random_token()?;
    scope
        .members()
        .reissue_receiver_invite(
            &crate::team::token_hash(&token),
            &Invite {
                role: Role::Receiver,
                receiver_id: Some(id),
                expires_at: Utc::now() + crate::team::invite_lifetime(ctx),
                email: None,
            },
        )
        .await?;
    tracing::info!(%tenant, receiver = %id, by = %actor.member, "receiver invitation re-issued");
    Ok(token)
}

/// Disables the receiver (`true`) or enables it again; returns it as it is now.
pub async fn set_disabled(
    ctx: &AppContext,
    tenant: TenantId,
    actor: Actor,
    id: ReceiverId,
    disabled: bool,
) -> Result<Receiver, AdminError> {
    let r = ctx
        .store
        .scope(tenant)
        .receivers()
        .set_disabled(id, disabled)
        .await
        .map_err(not_found)?;
    tracing::info!(%tenant, receiver = %id, by = %actor.member, disabled, "receiver status changed");
    Ok(r)
}
