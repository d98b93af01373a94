//! A tenant's receivers (organisations holding OAuth client credentials for its streams).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use sethub_domain::{Quota, ReceiverId, TenantId};

use crate::entities::receivers as r;
use crate::error::{DbResultExt, StoreError};
use crate::repos::now;
use crate::scope::Ctx;

/// A new receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceiver {
    pub name: String,
    /// Unique across tenants.
    pub client_id: String,
    /// A password hash (PHC string) of the client secret.
    pub client_secret_hash: String,
}

/// A stored receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    pub id: ReceiverId,
    pub tenant_id: TenantId,
    pub name: String,
    pub client_id: String,
    pub client_secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<r::Model> for Receiver {
    fn from(m: r::Model) -> Self {
        Self {
            id: ReceiverId::from_uuid(m.id),
            tenant_id: TenantId::from_uuid(m.tenant_id),
            name: m.name,
            client_id: m.client_id,
            client_secret_hash: m.client_secret_hash,
            created_at: m.created_at,
            disabled_at: m.disabled_at,
        }
    }
}

/// Receivers of one tenant.
pub struct Receivers<'a> {
    ctx: Ctx<'a>,
}

impl<'a> Receivers<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    /// Creates a receiver; a taken `client_id` is a `Conflict`.
    pub async fn create(&self, new: NewReceiver) -> Result<Receiver, StoreError> {
        let g = self.ctx.begin().await?;
        let client_id = new.client_id.clone();
        let model = r::ActiveModel {
            id: Set(ReceiverId::new().as_uuid()),
            tenant_id: Set(self.ctx.tid()),
            name: Set(new.name),
            client_id: Set(new.client_id),
            client_secret_hash: Set(new.client_secret_hash),
            created_at: Set(now()),
            disabled_at: Set(None),
        }
        .insert(g.tx())
        .await
        .map_err(|e| StoreError::on_write(e, || format!("client id `{client_id}`")))?;
        g.finish().await?;
        Ok(model.into())
    }

    /// Creates a receiver unless the tenant has `max` already (`QuotaExceeded`, nothing
    /// written). The tenant row is locked while counting, so concurrent creates queue and the
    /// limit holds.
    pub async fn create_within(&self, new: NewReceiver, max: u32) -> Result<Receiver, StoreError> {
        let g = self.ctx.begin().await?;
        g.lock_row("tenants", self.ctx.tid()).await?;
        let have = r::Entity::find()
            .filter(r::Column::TenantId.eq(self.ctx.tid()))
            .count(g.tx())
            .await
            .db()?;
        if have >= u64::from(max) {
            return Err(StoreError::QuotaExceeded {
                quota: Quota::ReceiversPerTenant,
                limit: max,
            });
        }
        let created = Receivers::new(self.ctx.with_tx(g.tx())).create(new).await?;
        g.finish().await?;
        Ok(created)
    }

    pub async fn get(&self, id: ReceiverId) -> Result<Receiver, StoreError> {
        let g = self.ctx.begin().await?;
        let row = r::Entity::find()
            .filter(r::Column::TenantId.eq(self.ctx.tid()))
            .filter(r::Column::Id.eq(id.as_uuid()))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// The receiver of this tenant with this client id (the token endpoint lives under
    /// `/t/{slug}/`, so the tenant is known before the client is looked up).
    pub async fn find_by_client_id(&self, client_id: &str) -> Result<Option<Receiver>, StoreError> {
        let g = self.ctx.begin().await?;
        let row = r::Entity::find()
            .filter(r::Column::TenantId.eq(self.ctx.tid()))
            .filter(r::Column::ClientId.eq(client_id))
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(row.map(Into::into))
    }

    /// All receivers, oldest first.
    pub async fn list(&self) -> Result<Vec<Receiver>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = r::Entity::find()
            .filter(r::Column::TenantId.eq(self.ctx.tid()))
            .order_by_asc(r::Column::CreatedAt)
            .order_by_asc(r::Column::Id)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Replaces the hash of a receiver's client secret (a rotation: the old secret stops
    /// working at once).
    pub async fn set_secret_hash(&self, id: ReceiverId, hash: &str) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        let n = r::Entity::update_many()
            .filter(r::Column::TenantId.eq(self.ctx.tid()))
            .filter(r::Column::Id.eq(id.as_uuid()))
            .col_expr(
                r::Column::ClientSecretHash,
                sea_orm::sea_query::Expr::value(hash),
            )
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

    /// Disables a receiver (`true`: its credentials, tokens and portal stop working) or
    /// enables it again; returns it as it is now. Disabling a disabled receiver keeps the
    /// first time. Bumps the tenant's streams version in the same transaction: fan-out holds
    /// a disabled receiver's SETs, so its view of the streams must be reloaded.
    pub async fn set_disabled(
        &self,
        id: ReceiverId,
        disabled: bool,
    ) -> Result<Receiver, StoreError> {
        let g = self.ctx.begin().await?;
        let value = if disabled {
            sea_orm::sea_query::ExprTrait::if_null(
                sea_orm::sea_query::Expr::col(r::Column::DisabledAt),
                now(),
            )
        } else {
            sea_orm::sea_query::Expr::value(None::<DateTime<Utc>>)
        };
        let n = r::Entity::update_many()
            .filter(r::Column::TenantId.eq(self.ctx.tid()))
            .filter(r::Column::Id.eq(id.as_uuid()))
            .col_expr(r::Column::DisabledAt, value)
            .exec(g.tx())
            .await
            .db()?
            .rows_affected;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        crate::repos::streams::Streams::new(self.ctx.with_tx(g.tx()))
            .bump(&g)
            .await?;
        let got = Receivers::new(self.ctx.with_tx(g.tx())).get(id).await?;
        g.finish().await?;
        Ok(got)
    }
}
