//! A tenant's signing keys. The store keeps what `sethub-jose` made: the public JWK and the
//! private key sealed with a master key; it never sees a private key in clear.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use sethub_domain::{SigningKeyId, TenantId};

use crate::entities::signing_keys as s;
use crate::error::{DbResultExt, StoreError};
use crate::repos::{micros, now};
use crate::scope::Ctx;

/// Where a key is in its life. Published in JWKS: `next`, `active` and `retiring` (so
/// receivers can verify SETs signed shortly before a rotation); signing uses `active` only (at
/// most one per tenant, a unique index holds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningKeyState {
    Next,
    Active,
    Retiring,
    Retired,
}

impl SigningKeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }
}

impl fmt::Display for SigningKeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningKeyState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next" => Ok(Self::Next),
            "active" => Ok(Self::Active),
            "retiring" => Ok(Self::Retiring),
            "retired" => Ok(Self::Retired),
            other => Err(StoreError::Config(format!(
                "unknown signing key state `{other}`"
            ))),
        }
    }
}

/// A new signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSigningKey {
    /// Unique within the tenant (an RFC 7638 thumbprint).
    pub kid: String,
    pub alg: String,
    pub state: SigningKeyState,
    pub public_jwk: serde_json::Value,
    /// The private key sealed with the master key `master_key_id`.
    pub sealed_private: Vec<u8>,
    pub master_key_id: String,
}

/// A stored signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub id: SigningKeyId,
    pub tenant_id: TenantId,
    pub kid: String,
    pub alg: String,
    pub state: SigningKeyState,
    pub public_jwk: serde_json::Value,
    pub sealed_private: Vec<u8>,
    pub master_key_id: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retiring_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl TryFrom<s::Model> for SigningKeyRecord {
    type Error = StoreError;

    fn try_from(m: s::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: SigningKeyId::from_uuid(m.id),
            tenant_id: TenantId::from_uuid(m.tenant_id),
            kid: m.kid,
            alg: m.alg,
            // A CHECK constraint keeps the column to the four values.
            state: m.state.parse()?,
            public_jwk: m.public_jwk,
            sealed_private: m.sealed_private,
            master_key_id: m.master_key_id,
            created_at: m.created_at,
            activated_at: m.activated_at,
            retiring_at: m.retiring_at,
            retired_at: m.retired_at,
        })
    }
}

/// Signing keys of one tenant.
pub struct SigningKeys<'a> {
    ctx: Ctx<'a>,
}

impl<'a> SigningKeys<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    /// Stores a key. A key inserted `active` gets `activated_at` now; a second active key or a
    /// repeated `kid` is a `Conflict`.
    pub async fn insert(&self, new: NewSigningKey) -> Result<SigningKeyRecord, StoreError> {
        let g = self.ctx.begin().await?;
        let at = now();
        let kid = new.kid.clone();
        let model = s::ActiveModel {
            id: Set(SigningKeyId::new().as_uuid()),
            tenant_id: Set(self.ctx.tid()),
            kid: Set(new.kid),
            alg: Set(new.alg),
            state: Set(new.state.as_str().to_owned()),
            public_jwk: Set(new.public_jwk),
            sealed_private: Set(new.sealed_private),
            master_key_id: Set(new.master_key_id),
            created_at: Set(at),
            activated_at: Set((new.state == SigningKeyState::Active).then_some(at)),
            retiring_at: Set((new.state == SigningKeyState::Retiring).then_some(at)),
            retired_at: Set((new.state == SigningKeyState::Retired).then_some(at)),
        }
        .insert(g.tx())
        .await
        .map_err(|e| {
            StoreError::on_write(e, || format!("signing key `{kid}` or another active key"))
        })?;
        g.finish().await?;
        model.try_into()
    }

    pub async fn get(&self, id: SigningKeyId) -> Result<SigningKeyRecord, StoreError> {
        let g = self.ctx.begin().await?;
        let row = s::Entity::find()
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .filter(s::Column::Id.eq(id.as_uuid()))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// All keys, oldest first.
    pub async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = s::Entity::find()
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .order_by_asc(s::Column::CreatedAt)
            .order_by_asc(s::Column::Id)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The active key, if the tenant has one.
    pub async fn active(&self) -> Result<Option<SigningKeyRecord>, StoreError> {
        let g = self.ctx.begin().await?;
        let row = s::Entity::find()
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .filter(s::Column::State.eq(SigningKeyState::Active.as_str()))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Moves a key to `state` and stamps the matching time (`activated_at`, `retiring_at` or
    /// `retired_at`) with `at`; other timestamps are kept. Activating while another key is
    /// active is a `Conflict`: retire that one first, in the same transaction.
    pub async fn set_state(
        &self,
        id: SigningKeyId,
        state: SigningKeyState,
        at: DateTime<Utc>,
    ) -> Result<SigningKeyRecord, StoreError> {
        let g = self.ctx.begin().await?;
        let mut update =
            s::Entity::update_many().col_expr(s::Column::State, Expr::value(state.as_str()));
        let stamp: SimpleExpr = Expr::value(micros(at));
        update = match state {
            SigningKeyState::Next => update,
            SigningKeyState::Active => update.col_expr(s::Column::ActivatedAt, stamp),
            SigningKeyState::Retiring => update.col_expr(s::Column::RetiringAt, stamp),
            SigningKeyState::Retired => update.col_expr(s::Column::RetiredAt, stamp),
        };
        let res = update
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .filter(s::Column::Id.eq(id.as_uuid()))
            .exec(g.tx())
            .await
            .map_err(|e| StoreError::on_write(e, || "another active signing key".to_owned()))?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        let row = s::Entity::find()
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .filter(s::Column::Id.eq(id.as_uuid()))
            .one(g.tx())
            .await
            .db()?;
        let record = row.ok_or(StoreError::NotFound)?.try_into()?;
        g.finish().await?;
        Ok(record)
    }
}
