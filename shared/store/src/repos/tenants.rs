//! The global tenant registry. Tenants are not tenant-owned rows: a service finds the tenant by
//! the slug in its route before it can scope anything.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use sethub_domain::TenantId;

use crate::entities::tenants as t;
use crate::error::{DbResultExt, StoreError};
use crate::repos::now;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    /// Unique; the issuer is `{public_url}/t/{slug}`. Validated by the caller.
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The tenant's delivery settings (JSON of `sethub_domain::delivery::DeliverySettings`).
    pub delivery_settings: Option<serde_json::Value>,
    /// The operator's quota overrides (JSON of `sethub_domain::QuotaOverrides`), if any.
    pub quotas: Option<serde_json::Value>,
    /// The interoperability profile switched on (`caep-interop`), if any.
    pub profile: Option<String>,
    /// When its owner closed it (`None`: open). A closed tenant is read-only until it is
    /// reopened or deleted.
    pub closed_at: Option<DateTime<Utc>>,
    /// When a closed tenant is deleted with everything it owns.
    pub purge_after: Option<DateTime<Utc>>,
}

impl From<t::Model> for Tenant {
    fn from(m: t::Model) -> Self {
        Self {
            id: TenantId::from_uuid(m.id),
            slug: m.slug,
            name: m.name,
            created_at: m.created_at,
            delivery_settings: m.delivery_settings,
            quotas: m.quotas,
            profile: m.profile,
            closed_at: m.closed_at,
            purge_after: m.purge_after,
        }
    }
}

/// The tenant registry (see [`crate::Store::tenants`]).
#[derive(Clone, Copy)]
pub struct Tenants<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> Tenants<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Creates a tenant. A taken slug is `Conflict { what: "tenant slug `…`" }`.
    pub async fn create(&self, slug: &str, name: &str) -> Result<Tenant, StoreError> {
        self.create_with_profile(slug, name, None).await
    }

    /// [`Tenants::create`] with an interoperability profile.
    pub async fn create_with_profile(
        &self,
        slug: &str,
        name: &str,
        profile: Option<&str>,
    ) -> Result<Tenant, StoreError> {
        let model = t::ActiveModel {
            id: Set(TenantId::new().as_uuid()),
            slug: Set(slug.to_owned()),
            name: Set(name.to_owned()),
            created_at: Set(now()),
            streams_version: Set(0),
            delivery_settings: Set(None),
            quotas: Set(None),
            profile: Set(profile.map(str::to_owned)),
            closed_at: Set(None),
            purge_after: Set(None),
        }
        .insert(self.db)
        .await
        .map_err(|e| StoreError::on_write(e, || format!("tenant slug `{slug}`")))?;
        Ok(model.into())
    }

    /// The tenant with this id; `NotFound` if there is none.
    pub async fn get(&self, id: TenantId) -> Result<Tenant, StoreError> {
        t::Entity::find_by_id(id.as_uuid())
            .one(self.db)
            .await
            .db()?
            .map(Into::into)
            .ok_or(StoreError::NotFound)
    }

    /// The tenant with this slug, if any.
    pub async fn find_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        Ok(t::Entity::find()
            .filter(t::Column::Slug.eq(slug))
            .one(self.db)
            .await
            .db()?
            .map(Into::into))
    }

    /// Deletes a tenant and, by cascade, everything it owns. The delete runs under the
    /// tenant's own setting, so the cascade sees its rows whatever the policies say.
    pub async fn delete(&self, id: TenantId) -> Result<(), StoreError> {
        let tx = crate::scope::begin_scoped(self.db, id).await?;
        let res = t::Entity::delete_by_id(id.as_uuid()).exec(&tx).await.db()?;
        tx.commit().await.db()?;
        if res.rows_affected == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Replaces the tenant's delivery settings (`None` clears them).
    pub async fn set_delivery_settings(
        &self,
        id: TenantId,
        settings: Option<serde_json::Value>,
    ) -> Result<Tenant, StoreError> {
        let tx = crate::scope::begin_scoped(self.db, id).await?;
        let res = t::Entity::update_many()
            .filter(t::Column::Id.eq(id.as_uuid()))
            .col_expr(
                t::Column::DeliverySettings,
                sea_orm::sea_query::Expr::value(settings),
            )
            .col_expr(
                t::Column::StreamsVersion,
                sea_orm::sea_query::ExprTrait::add(
                    sea_orm::sea_query::Expr::col(t::Column::StreamsVersion),
                    1,
                ),
            )
            .exec(&tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        self.get(id).await
    }

    /// Replaces the tenant's quota overrides (`None` clears them). Only the operator's tools
    /// call this: no tenant-facing surface does.
    pub async fn set_quotas(
        &self,
        id: TenantId,
        quotas: Option<serde_json::Value>,
    ) -> Result<Tenant, StoreError> {
        let res = t::Entity::update_many()
            .filter(t::Column::Id.eq(id.as_uuid()))
            .col_expr(t::Column::Quotas, sea_orm::sea_query::Expr::value(quotas))
            .exec(self.db)
            .await
            .db()?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        self.get(id).await
    }

    /// Switches the tenant's interoperability profile (`None`: none).
    pub async fn set_profile(
        &self,
        id: TenantId,
        profile: Option<&str>,
    ) -> Result<Tenant, StoreError> {
        let res = t::Entity::update_many()
            .filter(t::Column::Id.eq(id.as_uuid()))
            .col_expr(
                t::Column::Profile,
                sea_orm::sea_query::Expr::value(profile.map(str::to_owned)),
            )
            .exec(self.db)
            .await
            .db()?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        self.get(id).await
    }

    /// Closes an open tenant: sets `closed_at` to now and `purge_after`. Returns the tenant
    /// and whether this call closed it (a closed tenant keeps its times); `NotFound` when
    /// there is no such tenant.
    pub async fn close(
        &self,
        id: TenantId,
        purge_after: DateTime<Utc>,
    ) -> Result<(Tenant, bool), StoreError> {
        let res = t::Entity::update_many()
            .filter(t::Column::Id.eq(id.as_uuid()))
            .filter(t::Column::ClosedAt.is_null())
            .col_expr(t::Column::ClosedAt, sea_orm::sea_query::Expr::value(now()))
            .col_expr(
                t::Column::PurgeAfter,
                sea_orm::sea_query::Expr::value(purge_after),
            )
            .exec(self.db)
            .await
            .db()?;
        Ok((self.get(id).await?, res.rows_affected > 0))
    }

    /// Reopens a closed tenant before its deletion time. Returns the tenant and whether this
    /// call reopened it (an open tenant, or one whose deletion time has passed, is left as
    /// it is).
    pub async fn reopen(&self, id: TenantId) -> Result<(Tenant, bool), StoreError> {
        let none: Option<DateTime<Utc>> = None;
        let res = t::Entity::update_many()
            .filter(t::Column::Id.eq(id.as_uuid()))
            .filter(t::Column::ClosedAt.is_not_null())
            .filter(t::Column::PurgeAfter.gt(now()))
            .col_expr(t::Column::ClosedAt, sea_orm::sea_query::Expr::value(none))
            .col_expr(t::Column::PurgeAfter, sea_orm::sea_query::Expr::value(none))
            .exec(self.db)
            .await
            .db()?;
        Ok((self.get(id).await?, res.rows_affected > 0))
    }

    /// The closed tenants whose deletion was due before `before`, soonest first, at most
    /// `limit` (through the partial index of closed tenants, migration 000078).
    pub async fn due_for_purge(
        &self,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Tenant>, StoreError> {
        let rows = t::Entity::find()
            .filter(t::Column::PurgeAfter.is_not_null())
            .filter(t::Column::PurgeAfter.lte(before))
            .order_by_asc(t::Column::PurgeAfter)
            .limit(limit)
            .all(self.db)
            .await
            .db()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// All tenants, oldest first.
    pub async fn list(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = t::Entity::find()
            .order_by_asc(t::Column::CreatedAt)
            .order_by_asc(t::Column::Id)
            .all(self.db)
            .await
            .db()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
