//! A tenant's API keys (publishing credentials). The caller makes the key and its hash; only
//! the hash reaches the database.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use sethub_domain::{ApiKeyId, TenantId};

use crate::entities::api_keys as k;
use crate::error::{DbResultExt, StoreError};
use crate::repos::{micros, now};
use crate::scope::Ctx;

/// A new API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub name: String,
    /// The displayable start of the key (e.g. `sh_live_ab12`), never enough to use it.
    pub prefix: String,
    /// A hash of the whole key (SHA-256 hex is fine for a high-entropy key); unique.
    pub secret_hash: String,
    pub scopes: Vec<String>,
}

/// An API key, without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

impl From<k::Model> for ApiKey {
    fn from(m: k::Model) -> Self {
        Self {
            id: ApiKeyId::from_uuid(m.id),
            tenant_id: TenantId::from_uuid(m.tenant_id),
            name: m.name,
            prefix: m.prefix,
            // Written by `create` only, always an array of strings; anything else reads as none.
            scopes: serde_json::from_value(m.scopes).unwrap_or_default(),
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// API keys of one tenant (from a [`crate::TenantScope`] or [`crate::TenantTx`]).
pub struct ApiKeys<'a> {
    ctx: Ctx<'a>,
}

impl<'a> ApiKeys<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    pub async fn create(&self, new: NewApiKey) -> Result<ApiKey, StoreError> {
        let g = self.ctx.begin().await?;
        let model = k::ActiveModel {
            id: Set(ApiKeyId::new().as_uuid()),
            tenant_id: Set(self.ctx.tid()),
            name: Set(new.name),
            prefix: Set(new.prefix),
            secret_hash: Set(new.secret_hash),
            scopes: Set(serde_json::Value::from(new.scopes)),
            created_at: Set(now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(g.tx())
        .await
        .map_err(|e| StoreError::on_write(e, || "an API key with this hash".to_owned()))?;
        g.finish().await?;
        Ok(model.into())
    }

    /// The key with this id (revoked or not).
    pub async fn get(&self, id: ApiKeyId) -> Result<ApiKey, StoreError> {
        let g = self.ctx.begin().await?;
        let row = k::Entity::find()
            .filter(k::Column::TenantId.eq(self.ctx.tid()))
            .filter(k::Column::Id.eq(id.as_uuid()))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// The unrevoked key of this tenant with this hash, if any.
    pub async fn find_active_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<ApiKey>, StoreError> {
        let g = self.ctx.begin().await?;
        let row = k::Entity::find()
            .filter(k::Column::TenantId.eq(self.ctx.tid()))
            .filter(k::Column::SecretHash.eq(secret_hash))
            .filter(k::Column::RevokedAt.is_null())
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(row.map(Into::into))
    }

    /// All keys, revoked ones included, oldest first.
    pub async fn list(&self) -> Result<Vec<ApiKey>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = k::Entity::find()
            .filter(k::Column::TenantId.eq(self.ctx.tid()))
            .order_by_asc(k::Column::CreatedAt)
            .order_by_asc(k::Column::Id)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Revokes the key (from now on `find_active_by_hash` misses it). Revoking a revoked key
    /// keeps its first revocation time.
    pub async fn revoke(&self, id: ApiKeyId) -> Result<ApiKey, StoreError> {
        let g = self.ctx.begin().await?;
        k::Entity::update_many()
            .col_expr(k::Column::RevokedAt, Expr::value(now()))
            .filter(k::Column::TenantId.eq(self.ctx.tid()))
            .filter(k::Column::Id.eq(id.as_uuid()))
            .filter(k::Column::RevokedAt.is_null())
            .exec(g.tx())
            .await
            .db()?;
        let row = k::Entity::find()
            .filter(k::Column::TenantId.eq(self.ctx.tid()))
            .filter(k::Column::Id.eq(id.as_uuid()))
            .one(g.tx())
            .await
            .db()?;
        let key = row.map(ApiKey::from).ok_or(StoreError::NotFound)?;
        g.finish().await?;
        Ok(key)
    }

    /// Records a use of the key at `at`.
    pub async fn touch_last_used(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        let res = k::Entity::update_many()
            .col_expr(k::Column::LastUsedAt, Expr::value(micros(at)))
            .filter(k::Column::TenantId.eq(self.ctx.tid()))
            .filter(k::Column::Id.eq(id.as_uuid()))
            .exec(g.tx())
            .await
            .db()?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        g.finish().await
    }
}
