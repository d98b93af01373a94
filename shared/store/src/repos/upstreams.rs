//! A tenant's upstream SET transmitters: the issuers whose SETs `POST /t/{slug}/sets`
//! accepts, with the audience they must name and where their keys are (a JWKS URL, fetched
//! and cached by ingest, or a JWKS given inline). A transmitter sethub subscribed to as an SSF
//! receiver also carries its [`Subscription`] (what discovery found and the stream made
//! there), its client secret sealed, and a [`SubscriptionStatus`].

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
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
    /// Set when sethub subscribed to this transmitter (`sethub upstream subscribe`).
    pub subscription: Option<Subscription>,
    /// The OAuth client secret of the subscription, sealed with the master key.
    pub client_secret_sealed: Option<String>,
    /// How the subscription fares (absent without one).
    pub status: Option<SubscriptionStatus>,
}

/// What sethub found and made at an upstream SSF transmitter when it subscribed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The metadata URL derived from the issuer (path insertion).
    pub metadata_url: String,
    pub client_id: String,
    pub token_endpoint: String,
    pub configuration_endpoint: String,
    #[serde(default)]
    pub verification_endpoint: Option<String>,
    /// `push` or `poll`.
    pub delivery: String,
    /// The stream the transmitter made for sethub.
    pub stream_id: String,
    /// Where a poll stream is polled (the transmitter's `endpoint_url`).
    #[serde(default)]
    pub poll_url: Option<String>,
    /// The event types sethub asked for.
    #[serde(default)]
    pub events_requested: Vec<String>,
}

/// How a subscription fares: its stream's state and the last of each thing that happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionStatus {
    /// `enabled`, `paused`, `disabled` (as the transmitter last said) or `failed`.
    pub state: String,
    #[serde(default)]
    pub last_set_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_verification_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// The `state` of the last verification asked for (kept once its SET came, so a repeat
    /// of that SET still matches).
    #[serde(default)]
    pub verification_state: Option<String>,
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
            subscription: m.subscription.and_then(|v| serde_json::from_value(v).ok()),
            client_secret_sealed: m.client_secret,
            status: m
                .subscription_status
                .and_then(|v| serde_json::from_value(v).ok()),
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
        self.insert(UpstreamId::new(), new, None).await
    }

    /// Registers a transmitter sethub subscribed to, under the id its secret was sealed for;
    /// an issuer registered before is a `Conflict`.
    pub async fn create_subscribed(
        &self,
        id: UpstreamId,
        new: NewUpstream,
        subscription: Subscription,
        client_secret_sealed: String,
        status: SubscriptionStatus,
    ) -> Result<Upstream, StoreError> {
        self.insert(id, new, Some((subscription, client_secret_sealed, status)))
            .await
    }

    async fn insert(
        &self,
        id: UpstreamId,
        new: NewUpstream,
        sub: Option<(Subscription, String, SubscriptionStatus)>,
    ) -> Result<Upstream, StoreError> {
        let (subscription, client_secret_sealed, status) = match sub {
            Some((s, c, st)) => (Some(s), Some(c), Some(st)),
            None => (None, None, None),
        };
        let up = Upstream {
            id,
            tenant_id: self.ctx.tenant(),
            issuer: new.issuer,
            audience: new.audience,
            jwks_url: new.jwks_url,
            jwks: new.jwks,
            created_at: now(),
            subscription,
            client_secret_sealed,
            status,
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
            subscription: Set(up.subscription.as_ref().map(to_json)),
            client_secret: Set(up.client_secret_sealed.clone()),
            subscription_status: Set(up.status.as_ref().map(to_json)),
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
        found(n)
    }

    /// Replaces a subscription's status.
    pub async fn set_status(
        &self,
        id: UpstreamId,
        status: &SubscriptionStatus,
    ) -> Result<(), StoreError> {
        self.update_json(id, u::Column::SubscriptionStatus, to_json(status))
            .await
    }

    /// Replaces a subscription and the audience its SETs name (the stream made again after
    /// the transmitter lost it).
    pub async fn set_subscription(
        &self,
        id: UpstreamId,
        audience: &str,
        subscription: &Subscription,
    ) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        let n = u::Entity::update_many()
            .filter(u::Column::TenantId.eq(self.ctx.tid()))
            .filter(u::Column::Id.eq(id.as_uuid()))
            .col_expr(
                u::Column::Subscription,
                sea_orm::sea_query::Expr::value(to_json(subscription)),
            )
            .col_expr(
                u::Column::Audience,
                sea_orm::sea_query::Expr::value(audience),
            )
            .exec(g.tx())
            .await
            .db()?
            .rows_affected;
        g.finish().await?;
        found(n)
    }

    async fn update_json(
        &self,
        id: UpstreamId,
        column: u::Column,
        value: serde_json::Value,
    ) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        let n = u::Entity::update_many()
            .filter(u::Column::TenantId.eq(self.ctx.tid()))
            .filter(u::Column::Id.eq(id.as_uuid()))
            .col_expr(column, sea_orm::sea_query::Expr::value(value))
            .exec(g.tx())
            .await
            .db()?
            .rows_affected;
        g.finish().await?;
        found(n)
    }
}

/// `NotFound` when no row was touched.
fn found(rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn to_json(value: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
