//! A tenant's console members: email (stored lower-cased), an argon2id password hash (none
//! for a member who only signs in with SSO), and a role.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use sethub_domain::{MemberId, ReceiverId, TenantId};

use crate::entities::invites as i;
use crate::entities::members as m;
use crate::entities::sso_configs as s;
use crate::error::{DbResultExt, StoreError};
use crate::repos::now;
use crate::scope::Ctx;

/// What a member may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Everything, including the team.
    Owner,
    /// Everything but the team's owners.
    Admin,
    /// Reads; changes nothing.
    Viewer,
    /// A user of one receiver's portal (not of the console).
    Receiver,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Viewer => "viewer",
            Self::Receiver => "receiver",
        }
    }

    /// Whether the role may change the tenant's configuration.
    pub fn can_write(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "viewer" => Ok(Self::Viewer),
            "receiver" => Ok(Self::Receiver),
            other => Err(format!(
                "unknown role `{other}` (owner, admin, viewer, receiver)"
            )),
        }
    }
}

/// A member to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub email: String,
    pub password_hash: Option<String>,
    pub role: Role,
    /// The receiver of a portal user (role `receiver`).
    pub receiver_id: Option<ReceiverId>,
}

/// A member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: MemberId,
    pub tenant_id: TenantId,
    pub email: String,
    pub password_hash: Option<String>,
    pub role: Role,
    pub receiver_id: Option<ReceiverId>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl TryFrom<m::Model> for Member {
    type Error = StoreError;

    fn try_from(r: m::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: MemberId::from_uuid(r.id),
            tenant_id: TenantId::from_uuid(r.tenant_id),
            email: r.email,
            password_hash: r.password_hash,
            role: r.role.parse().map_err(StoreError::Config)?,
            receiver_id: r.receiver_id.map(ReceiverId::from_uuid),
            created_at: r.created_at,
            last_login_at: r.last_login_at,
        })
    }
}

/// The members of one tenant.
pub struct Members<'a> {
    pub(super) ctx: Ctx<'a>,
}

impl<'a> Members<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    /// Adds a member; an email already in the tenant is a `Conflict`.
    pub async fn create(&self, new: NewMember) -> Result<Member, StoreError> {
        let member = Member {
            id: MemberId::new(),
            tenant_id: self.ctx.tenant(),
            email: new.email.to_lowercase(),
            password_hash: new.password_hash,
            role: new.role,
            receiver_id: new.receiver_id,
            created_at: now(),
            last_login_at: None,
        };
        let g = self.ctx.begin().await?;
        let email = member.email.clone();
        m::Entity::insert(m::ActiveModel {
            id: Set(member.id.as_uuid()),
            tenant_id: Set(self.ctx.tid()),
            email: Set(member.email.clone()),
            password_hash: Set(member.password_hash.clone()),
            role: Set(member.role.as_str().to_owned()),
            receiver_id: Set(member.receiver_id.map(|r| r.as_uuid())),
            created_at: Set(member.created_at),
            last_login_at: Set(None),
        })
        .exec_without_returning(g.tx())
        .await
        .map_err(|e| StoreError::on_write(e, || format!("member `{email}`")))?;
        g.finish().await?;
        Ok(member)
    }

    /// The member with this email (any case).
    pub async fn by_email(&self, email: &str) -> Result<Member, StoreError> {
        let g = self.ctx.begin().await?;
        let row = m::Entity::find()
            .filter(m::Column::TenantId.eq(self.ctx.tid()))
            .filter(m::Column::Email.eq(email.to_lowercase()))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    pub async fn get(&self, id: MemberId) -> Result<Member, StoreError> {
        let g = self.ctx.begin().await?;
        let row = m::Entity::find()
            .filter(m::Column::TenantId.eq(self.ctx.tid()))
            .filter(m::Column::Id.eq(id.as_uuid()))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// All members, oldest first.
    pub async fn list(&self) -> Result<Vec<Member>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = m::Entity::find()
            .filter(m::Column::TenantId.eq(self.ctx.tid()))
            .order_by_asc(m::Column::CreatedAt)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Records a sign-in.
    pub async fn touch_login(&self, id: MemberId) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        m::Entity::update_many()
            .filter(m::Column::TenantId.eq(self.ctx.tid()))
            .filter(m::Column::Id.eq(id.as_uuid()))
            .col_expr(m::Column::LastLoginAt, Expr::value(now()))
            .exec(g.tx())
            .await
            .db()?;
        g.finish().await
    }
}

/// An invite: who the person becomes (a role, and for a portal user its receiver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub role: Role,
    pub receiver_id: Option<ReceiverId>,
    pub expires_at: DateTime<Utc>,
    /// The only address that may accept it (lower-cased; `None`: any).
    pub email: Option<String>,
}

impl Members<'_> {
    /// Records an invite under the hash of its token (the token itself is never stored).
    pub async fn invite(&self, token_hash: &str, invite: &Invite) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        i::Entity::insert(i::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            tenant_id: Set(self.ctx.tid()),
            token_hash: Set(token_hash.to_owned()),
            role: Set(invite.role.as_str().to_owned()),
            receiver_id: Set(invite.receiver_id.map(|r| r.as_uuid())),
            created_at: Set(now()),
            expires_at: Set(invite.expires_at),
            used_at: Set(None),
            email: Set(invite.email.as_ref().map(|e| e.to_lowercase())),
        })
        .exec_without_returning(g.tx())
        .await
        .db()?;
        g.finish().await
    }

    /// The open (unused, unexpired) invite with this token hash.
    pub async fn open_invite(&self, token_hash: &str) -> Result<Invite, StoreError> {
        let g = self.ctx.begin().await?;
        let row = i::Entity::find()
            .filter(i::Column::TenantId.eq(self.ctx.tid()))
            .filter(i::Column::TokenHash.eq(token_hash))
            .filter(i::Column::UsedAt.is_null())
            .filter(i::Column::ExpiresAt.gt(now()))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        let r = row.ok_or(StoreError::NotFound)?;
        Ok(Invite {
            role: r.role.parse().map_err(StoreError::Config)?,
            receiver_id: r.receiver_id.map(ReceiverId::from_uuid),
            expires_at: r.expires_at,
            email: r.email,
        })
    }

    /// Accepts an open invite: the member is created and the invite used up, together (two
    /// people racing for one link: one wins, the other gets `NotFound`). An invite bound to
    /// an email is `NotFound` for any other address.
    pub async fn accept_invite(
        &self,
        token_hash: &str,
        email: &str,
        password_hash: Option<String>,
    ) -> Result<Member, StoreError> {
        let g = self.ctx.begin().await?;
        let t = now();
        let row = i::Entity::find()
            .filter(i::Column::TenantId.eq(self.ctx.tid()))
            .filter(i::Column::TokenHash.eq(token_hash))
            .filter(i::Column::UsedAt.is_null())
            .filter(i::Column::ExpiresAt.gt(t))
            .filter(
                Condition::any()
                    .add(i::Column::Email.is_null())
                    .add(i::Column::Email.eq(email.to_lowercase())),
            )
            .one(g.tx())
            .await
            .db()?
            .ok_or(StoreError::NotFound)?;
        let used = i::Entity::update_many()
            .filter(i::Column::TenantId.eq(self.ctx.tid()))
            .filter(i::Column::Id.eq(row.id))
            .filter(i::Column::UsedAt.is_null())
            .col_expr(i::Column::UsedAt, Expr::value(t))
            .exec(g.tx())
            .await
            .db()?
            .rows_affected;
        if used == 0 {
            return Err(StoreError::NotFound);
        }
        let member = Members::new(self.ctx.with_tx(g.tx()))
            .create(NewMember {
                email: email.to_owned(),
                password_hash,
                role: row.role.parse().map_err(StoreError::Config)?,
                receiver_id: row.receiver_id.map(ReceiverId::from_uuid),
            })
            .await?;
        g.finish().await?;
        Ok(member)
    }
}

/// A tenant's single sign-on: its OpenID provider and sethub's client there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoConfig {
    pub issuer: String,
    pub client_id: String,
    /// The client secret, sealed with the master key (`None`: a public client, PKCE only).
    pub client_secret_sealed: Option<String>,
}

impl Members<'_> {
    /// The single sign-on of the tenant's console (`receiver` `None`) or of one receiver's
    /// portal users, if configured.
    pub async fn sso(&self, receiver: Option<ReceiverId>) -> Result<Option<SsoConfig>, StoreError> {
        let g = self.ctx.begin().await?;
        let row = s::Entity::find()
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .filter(match receiver {
                Some(r) => s::Column::ReceiverId.eq(r.as_uuid()),
                None => s::Column::ReceiverId.is_null(),
            })
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(row.map(|r| SsoConfig {
            issuer: r.issuer,
            client_id: r.client_id,
            client_secret_sealed: r.client_secret_sealed,
        }))
    }

    /// Sets (or, with `None`, removes) the single sign-on of the console (`receiver` `None`)
    /// or of one receiver's portal.
    pub async fn set_sso(
        &self,
        receiver: Option<ReceiverId>,
        config: Option<&SsoConfig>,
    ) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        s::Entity::delete_many()
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .filter(match receiver {
                Some(r) => s::Column::ReceiverId.eq(r.as_uuid()),
                None => s::Column::ReceiverId.is_null(),
            })
            .exec(g.tx())
            .await
            .db()?;
        if let Some(c) = config {
            s::Entity::insert(s::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                tenant_id: Set(self.ctx.tid()),
                issuer: Set(c.issuer.clone()),
                client_id: Set(c.client_id.clone()),
                client_secret_sealed: Set(c.client_secret_sealed.clone()),
                receiver_id: Set(receiver.map(|r| r.as_uuid())),
                updated_at: Set(now()),
            })
            .exec_without_returning(g.tx())
            .await
            .db()?;
        }
        g.finish().await
    }
}
