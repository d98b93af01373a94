//! A tenant's upstream SET transmitters: the issuers whose SETs `POST /t/{slug}/sets`
//! accepts, with the audience they must name and where their keys are (a JWKS URL, fetched
//! and cached by ingest, or a JWKS given inline).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use sethub_domain::{TenantId, UpstreamId};

use crate::entities::upstream_transmitters as u;
use crate::error::{DbResultExt, StoreError};
use crate::repos::now;
use crate::scope::Ctx;

/// A transmitter to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUpstream {
    pub issuer: String,
    pub audience: String,
    /// Exactly one of `jwks_url` and `jwks`.
    pub jwks_url: Option<String>,
    pub jwks: Option<serde_json::Value>,
}

/// A registered transmitter.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub id: UpstreamId,
    pub tenant_id: TenantId,
    pub issuer: String,
    pub audience: String,
    pub jwks_url: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

impl From<u::Model> for Upstream {
    fn from(m: u::Model) -> Self {
        Self {
            id: UpstreamId::from_uuid(m.id),
            tenant_id: TenantId::from_uuid(m.tenant_id),
            issuer: m.issuer,
            audience: m.audience,
            jwks_url: m.jwks_url,
            jwks: m.jwks,
            created_at: m.created_at,
        }
    }
}

/// The upstream transmitters of one tenant.
pub struct Upstreams<'a> {
    ctx: Ctx<'a>,
}

impl<'a> Upstreams<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    /// Registers a transmitter; an issuer registered before is a `Conflict`.
    pub async fn create(&self, new: NewUpstream) -> Result<Upstream, StoreError> {
        let up = Upstream {
            id: UpstreamId::new(),
            tenant_id: self.ctx.tenant(),
            issuer: new.issuer,
            audience: new.audience,
            jwks_url: new.jwks_url,
            jwks: new.jwks,
            created_at: now(),
        };
        let g = self.ctx.begin().await?;
        let issuer = up.issuer.clone();
        u::Entity::insert(u::ActiveModel {
            id: Set(up.id.as_uuid()),
            tenant_id: Set(self.ctx.tid()),
            issuer: Set(up.issuer.clone()),
            audience: Set(up.audience.clone()),
            jwks_url: Set(up.jwks_url.clone()),
            jwks: Set(up.jwks.clone()),
            created_at: Set(up.created_at),
        })
        .exec_without_returning(g.tx())
        .await
        .map_err(|e| StoreError::on_write(e, || format!("upstream issuer `{issuer}`")))?;
        g.finish().await?;
        Ok(up)
    }

    /// All of the tenant's transmitters, oldest first.
    pub async fn list(&self) -> Result<Vec<Upstream>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = u::Entity::find()
            .filter(u::Column::TenantId.eq(self.ctx.tid()))
            .order_by_asc(u::Column::CreatedAt)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One transmitter.
    pub async fn get(&self, id: UpstreamId) -> Result<Upstream, StoreError> {
        let g = self.ctx.begin().await?;
        let row = u::Entity::find()
            .filter(u::Column::TenantId.eq(self.ctx.tid()))
            .filter(u::Column::Id.eq(id.as_uuid()))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// The transmitter registered for `issuer`.
    pub async fn by_issuer(&self, issuer: &str) -> Result<Upstream, StoreError> {
        let g = self.ctx.begin().await?;
        let row = u::Entity::find()
            .filter(u::Column::TenantId.eq(self.ctx.tid()))
            .filter(u::Column::Issuer.eq(issuer))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// Removes a transmitter (its SETs are refused from now on).
    pub async fn delete(&self, id: UpstreamId) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        let n = u::Entity::delete_many()
            .filter(u::Column::TenantId.eq(self.ctx.tid()))
            .filter(u::Column::Id.eq(id.as_uuid()))
            .exec(g.tx())
            .await
            .db()?
            .rows_affected;
        g.finish().await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
