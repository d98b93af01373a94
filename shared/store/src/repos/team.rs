//! Managing a tenant's team: removing a member, changing a member's role (never leaving the
//! tenant without an owner, even when two changes race), and listing and revoking open
//! invites.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use sethub_domain::{MemberId, ReceiverId};

use crate::entities::invites as i;
use crate::entities::members as m;
use crate::error::{DbResultExt, StoreError};
use crate::repos::members::{Invite, Member, Members, Role};
use crate::repos::now;

/// Why a change to the team did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// No such member (or invite) in this tenant.
    #[error("not found")]
    NotFound,
    /// The change would leave the organisation without an owner.
    #[error("the organisation's last owner cannot be removed or demoted")]
    LastOwner,
    /// The caller's rule refused the change (e.g. an admin touching an owner).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An open invite, as the team page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInvite {
    pub id: uuid::Uuid,
    pub role: Role,
    pub receiver_id: Option<ReceiverId>,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a team change does to its member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamChange {
    Remove,
    SetRole(Role),
}

impl Members<'_> {
    /// Removes a member or changes their role, in one transaction that locks the owners, so
    /// that the last owner is never removed or demoted (two owners demoting each other at
    /// once: one wins). `check` sees the member as it is now and may refuse with a reason.
    /// Returns the member as it was.
    pub async fn change(
        &self,
        id: MemberId,
        change: TeamChange,
        check: impl FnOnce(&Member) -> Result<(), String> + Send,
    ) -> Result<Member, TeamError> {
        let g = self.ctx.begin().await?;
        let owners = m::Entity::find()
            .filter(m::Column::TenantId.eq(self.ctx.tid()))
            .filter(m::Column::Role.eq(Role::Owner.as_str()))
            .lock_exclusive()
            .all(g.tx())
            .await
            .db()?;
        let row = m::Entity::find()
            .filter(m::Column::TenantId.eq(self.ctx.tid()))
            .filter(m::Column::Id.eq(id.as_uuid()))
            .lock_exclusive()
            .one(g.tx())
            .await
            .db()?
            .ok_or(TeamError::NotFound)?;
        let member = Member::try_from(row)?;
        check(&member).map_err(TeamError::Refused)?;
        let stays_owner = change == TeamChange::SetRole(Role::Owner);
        if member.role == Role::Owner && !stays_owner && owners.len() <= 1 {
            return Err(TeamError::LastOwner);
        }
        let target = m::Entity::update_many()
            .filter(m::Column::TenantId.eq(self.ctx.tid()))
            .filter(m::Column::Id.eq(id.as_uuid()));
        match change {
            TeamChange::Remove => {
                m::Entity::delete_many()
                    .filter(m::Column::TenantId.eq(self.ctx.tid()))
                    .filter(m::Column::Id.eq(id.as_uuid()))
                    .exec(g.tx())
                    .await
                    .db()?;
            }
            TeamChange::SetRole(role) => {
                target
                    .col_expr(m::Column::Role, Expr::value(role.as_str()))
                    .exec(g.tx())
                    .await
                    .db()?;
            }
        }
        g.finish().await?;
        Ok(member)
    }

    /// How many owners the tenant has.
    pub async fn owner_count(&self) -> Result<u64, StoreError> {
        let g = self.ctx.begin().await?;
        let n = m::Entity::find()
            .filter(m::Column::TenantId.eq(self.ctx.tid()))
            .filter(m::Column::Role.eq(Role::Owner.as_str()))
            .count(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(n)
    }

    /// The open (unused, unexpired) invites, newest first; `receiver` `None` lists the team's
    /// (console) invites, `Some` one receiver's portal invites.
    pub async fn open_invites(
        &self,
        receiver: Option<ReceiverId>,
    ) -> Result<Vec<OpenInvite>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = i::Entity::find()
            .filter(i::Column::TenantId.eq(self.ctx.tid()))
            .filter(i::Column::UsedAt.is_null())
            .filter(i::Column::ExpiresAt.gt(now()))
            .filter(match receiver {
                Some(r) => i::Column::ReceiverId.eq(r.as_uuid()),
                None => i::Column::ReceiverId.is_null(),
            })
            .order_by_desc(i::Column::CreatedAt)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter()
            .map(|r| {
                Ok(OpenInvite {
                    id: r.id,
                    role: r.role.parse().map_err(StoreError::Config)?,
                    receiver_id: r.receiver_id.map(ReceiverId::from_uuid),
                    email: r.email,
                    created_at: r.created_at,
                    expires_at: r.expires_at,
                })
            })
            .collect()
    }

    /// Revokes an invite (its link stops working at once); `NotFound` when it is not the
    /// tenant's or was already used or revoked.
    pub async fn revoke_invite(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        let deleted = i::Entity::delete_many()
            .filter(i::Column::TenantId.eq(self.ctx.tid()))
            .filter(i::Column::Id.eq(id))
            .filter(i::Column::UsedAt.is_null())
            .exec(g.tx())
            .await
            .db()?
            .rows_affected;
        g.finish().await?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Replaces a receiver's open portal invites with a new one, in one transaction: every
    /// earlier link of that receiver stops working as the new one starts.
    pub async fn reissue_receiver_invite(
        &self,
        token_hash: &str,
        invite: &Invite,
    ) -> Result<(), StoreError> {
        let Some(receiver) = invite.receiver_id else {
            return Err(StoreError::Config(
                "a receiver's invite names its receiver".into(),
            ));
        };
        let g = self.ctx.begin().await?;
        i::Entity::delete_many()
            .filter(i::Column::TenantId.eq(self.ctx.tid()))
            .filter(i::Column::ReceiverId.eq(receiver.as_uuid()))
            .filter(i::Column::UsedAt.is_null())
            .exec(g.tx())
            .await
            .db()?;
        Members::new(self.ctx.with_tx(g.tx()))
            .invite(token_hash, invite)
            .await?;
        g.finish().await
    }
}
