//! A tenant's SSF streams (SSF 1.0 §4) and the subjects added to or removed from them (§7).
//!
//! Every lookup a receiver makes goes through [`Streams::get_for_receiver`] /
//! [`Streams::list_for_receiver`], which filter by the receiver as well as the tenant, so a
//! receiver can never reach another receiver's stream (the API answers 404).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use sethub_domain::{
    DeliveryMethod, Quota, Quotas, ReceiverId, StatusActor, StreamId, StreamStatus, TenantId,
};

use crate::entities::stream_subjects as ss;
use crate::entities::streams as s;
use crate::error::{DbResultExt, StoreError};
use crate::repos::now;
use crate::scope::Ctx;

/// A stream as stored. `authorization_sealed` is the push `Authorization` header sealed under
/// a master key; it is opened only to push.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub id: StreamId,
    pub tenant_id: TenantId,
    pub receiver_id: ReceiverId,
    pub aud: Vec<String>,
    pub delivery_method: DeliveryMethod,
    pub endpoint_url: Option<String>,
    pub authorization_sealed: Option<Vec<u8>>,
    pub events_requested: Option<Vec<String>>,
    pub events_delivered: Vec<String>,
    pub description: Option<String>,
    pub status: StreamStatus,
    pub status_reason: Option<String>,
    /// Who set the current status.
    pub status_set_by: StatusActor,
    pub min_verification_interval: i32,
    pub inactivity_timeout: Option<i32>,
    pub last_verification_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Per-stream delivery settings set by the tenant (JSON of
    /// `sethub_domain::delivery::DeliverySettings`).
    pub delivery_settings: Option<Value>,
}

/// What the receiver and the transmitter decided for a stream; written whole on create and on
/// every update (PATCH and PUT both end as a full new configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamFields {
    pub aud: Vec<String>,
    pub delivery_method: DeliveryMethod,
    pub endpoint_url: Option<String>,
    pub authorization_sealed: Option<Vec<u8>>,
    pub events_requested: Option<Vec<String>>,
    pub events_delivered: Vec<String>,
    pub description: Option<String>,
    pub min_verification_interval: i32,
    pub inactivity_timeout: Option<i32>,
}

impl Stream {
    /// The configurable part, to be changed and written back with [`Streams::update`].
    pub fn fields(&self) -> StreamFields {
        StreamFields {
            aud: self.aud.clone(),
            delivery_method: self.delivery_method,
            endpoint_url: self.endpoint_url.clone(),
            authorization_sealed: self.authorization_sealed.clone(),
            events_requested: self.events_requested.clone(),
            events_delivered: self.events_delivered.clone(),
            description: self.description.clone(),
            min_verification_interval: self.min_verification_interval,
            inactivity_timeout: self.inactivity_timeout,
        }
    }
}

/// A subject row of a stream: `added` false means removed (remembered for `default_subjects`).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSubject {
    pub stream_id: StreamId,
    pub subject_key: String,
    pub subject: Value,
    pub added: bool,
    pub verified: bool,
    pub updated_at: DateTime<Utc>,
}

fn strings(v: Value) -> Vec<String> {
    serde_json::from_value(v).unwrap_or_default()
}

impl TryFrom<s::Model> for Stream {
    type Error = StoreError;

    fn try_from(m: s::Model) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Config(format!("stream {}: stored {what} is invalid", m.id));
        Ok(Self {
            id: StreamId::from_uuid(m.id),
            tenant_id: TenantId::from_uuid(m.tenant_id),
            receiver_id: ReceiverId::from_uuid(m.receiver_id),
            aud: strings(m.aud.clone()),
            delivery_method: m
                .delivery_method
                .parse()
                .map_err(|_| corrupt("delivery method"))?,
            endpoint_url: m.endpoint_url.clone(),
            authorization_sealed: m.authorization_sealed.clone(),
            events_requested: m.events_requested.clone().map(strings),
            events_delivered: strings(m.events_delivered.clone()),
            description: m.description.clone(),
            status: m.status.parse().map_err(|_| corrupt("status"))?,
            status_reason: m.status_reason.clone(),
            status_set_by: m
                .status_set_by
                .parse()
                .map_err(|_| corrupt("status setter"))?,
            min_verification_interval: m.min_verification_interval,
            inactivity_timeout: m.inactivity_timeout,
            last_verification_at: m.last_verification_at,
            last_activity_at: m.last_activity_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
            delivery_settings: m.delivery_settings.clone(),
        })
    }
}

/// Streams of one tenant.
pub struct Streams<'a> {
    ctx: Ctx<'a>,
}

impl<'a> Streams<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    /// [`Streams::create`] unless the receiver or the tenant has as many streams as its
    /// quotas allow (`QuotaExceeded`, nothing written). The tenant row is locked while
    /// counting, so concurrent creates queue and neither limit can be passed.
    pub async fn create_within(
        &self,
        id: StreamId,
        receiver: ReceiverId,
        f: StreamFields,
        quotas: &Quotas,
    ) -> Result<Stream, StoreError> {
        let g = self.ctx.begin().await?;
        g.lock_row("tenants", self.ctx.tid()).await?;
        let of_tenant = s::Entity::find().filter(s::Column::TenantId.eq(self.ctx.tid()));
        let checks = [
            (
                Quota::StreamsPerReceiver,
                of_tenant
                    .clone()
                    .filter(s::Column::ReceiverId.eq(receiver.as_uuid())),
            ),
            (Quota::StreamsPerTenant, of_tenant),
        ];
        for (quota, query) in checks {
            let limit = quotas.get(quota);
            if query.count(g.tx()).await.db()? >= u64::from(limit) {
                return Err(StoreError::QuotaExceeded { quota, limit });
            }
        }
        let stream = Streams::new(self.ctx.with_tx(g.tx()))
            .create(id, receiver, f)
            .await?;
        g.finish().await?;
        Ok(stream)
    }

    /// Creates an enabled stream for `receiver` (which must exist in this tenant: else
    /// `NotFound`). No quota applies: the surfaces call [`Streams::create_within`].
    pub async fn create(
        &self,
        id: StreamId,
        receiver: ReceiverId,
        f: StreamFields,
    ) -> Result<Stream, StoreError> {
        let g = self.ctx.begin().await?;
        let t = now();
        let model = s::ActiveModel {
            id: Set(id.as_uuid()),
            tenant_id: Set(self.ctx.tid()),
            receiver_id: Set(receiver.as_uuid()),
            aud: Set(serde_json::json!(f.aud)),
            delivery_method: Set(f.delivery_method.as_str().to_owned()),
            endpoint_url: Set(f.endpoint_url),
            authorization_sealed: Set(f.authorization_sealed),
            events_requested: Set(f.events_requested.map(|e| serde_json::json!(e))),
            events_delivered: Set(serde_json::json!(f.events_delivered)),
            description: Set(f.description),
            status: Set(StreamStatus::Enabled.as_str().to_owned()),
            status_reason: Set(None),
            status_set_by: Set(StatusActor::Receiver.as_str().to_owned()),
            min_verification_interval: Set(f.min_verification_interval),
            inactivity_timeout: Set(f.inactivity_timeout),
            last_verification_at: Set(None),
            last_activity_at: Set(t),
            created_at: Set(t),
            updated_at: Set(t),
            delivery_settings: Set(None),
        }
        .insert(g.tx())
        .await
        .map_err(|e| StoreError::on_write(e, || format!("stream `{id}`")))?;
        self.bump(&g).await?;
        g.finish().await?;
        model.try_into()
    }

    /// Any stream of the tenant (for the tenant's own tools and the data plane).
    pub async fn get(&self, id: StreamId) -> Result<Stream, StoreError> {
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

    /// The stream if it belongs to `receiver`; `NotFound` otherwise (never tells which).
    pub async fn get_for_receiver(
        &self,
        id: StreamId,
        receiver: ReceiverId,
    ) -> Result<Stream, StoreError> {
        let stream = self.get(id).await?;
        if stream.receiver_id == receiver {
            Ok(stream)
        } else {
            Err(StoreError::NotFound)
        }
    }

    /// The receiver's streams, oldest first.
    pub async fn list_for_receiver(&self, receiver: ReceiverId) -> Result<Vec<Stream>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = s::Entity::find()
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .filter(s::Column::ReceiverId.eq(receiver.as_uuid()))
            .order_by_asc(s::Column::CreatedAt)
            .order_by_asc(s::Column::Id)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Every stream of the tenant, oldest first (matching events to streams).
    pub async fn list(&self) -> Result<Vec<Stream>, StoreError> {
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

    /// The tenant's streams version: it changes whenever a stream or a subject of the tenant
    /// changes (fan-out reloads its cached streams when it does).
    pub async fn version(&self) -> Result<i64, StoreError> {
        let g = self.ctx.begin().await?;
        let v: Option<i64> = crate::entities::tenants::Entity::find_by_id(self.ctx.tid())
            .select_only()
            .column(crate::entities::tenants::Column::StreamsVersion)
            .into_tuple()
            .one(g.tx())
            .await
            .db()?;
        g.finish().await?;
        v.ok_or(StoreError::NotFound)
    }

    /// Moves the tenant's streams version on (in `g`'s transaction): fan-out reloads its
    /// view of the streams.
    pub(crate) async fn bump(&self, g: &crate::scope::Guard<'_>) -> Result<(), StoreError> {
        use crate::entities::tenants as t;
        t::Entity::update_many()
            .filter(t::Column::Id.eq(self.ctx.tid()))
            .col_expr(
                t::Column::StreamsVersion,
                sea_orm::sea_query::ExprTrait::add(
                    sea_orm::sea_query::Expr::col(t::Column::StreamsVersion),
                    1,
                ),
            )
            .exec(g.tx())
            .await
            .db()?;
        Ok(())
    }

    async fn find_model(
        &self,
        g: &crate::scope::Guard<'_>,
        id: StreamId,
    ) -> Result<s::Model, StoreError> {
        s::Entity::find()
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .filter(s::Column::Id.eq(id.as_uuid()))
            .one(g.tx())
            .await
            .db()?
            .ok_or(StoreError::NotFound)
    }

    /// Writes a new configuration (PATCH or PUT result); touches `updated_at` and activity.
    pub async fn update(&self, id: StreamId, f: StreamFields) -> Result<Stream, StoreError> {
        let g = self.ctx.begin().await?;
        let mut m = self.find_model(&g, id).await?.into_active_model();
        let t = now();
        m.aud = Set(serde_json::json!(f.aud));
        m.delivery_method = Set(f.delivery_method.as_str().to_owned());
        m.endpoint_url = Set(f.endpoint_url);
        m.authorization_sealed = Set(f.authorization_sealed);
        m.events_requested = Set(f.events_requested.map(|e| serde_json::json!(e)));
        m.events_delivered = Set(serde_json::json!(f.events_delivered));
        m.description = Set(f.description);
        m.min_verification_interval = Set(f.min_verification_interval);
        m.inactivity_timeout = Set(f.inactivity_timeout);
        m.updated_at = Set(t);
        m.last_activity_at = Set(t);
        let model = m.update(g.tx()).await.db()?;
        self.bump(&g).await?;
        g.finish().await?;
        model.try_into()
    }

    /// Sets the status and its reason as `by`; returns the stream before and after.
    ///
    /// A stream disabled by its tenant or by sethub keeps its status against its receiver:
    /// `by = Receiver` then gets `StatusLocked` and nothing changes. The row is locked while
    /// deciding, so a concurrent disable cannot slip between the check and the write.
    pub async fn set_status(
        &self,
        id: StreamId,
        status: StreamStatus,
        reason: Option<String>,
        by: StatusActor,
    ) -> Result<(Stream, Stream), StoreError> {
        let g = self.ctx.begin().await?;
        g.lock_row("streams", id.as_uuid()).await?;
        let before = self.find_model(&g, id).await?;
        let locked_by = before
            .status_set_by
            .parse::<StatusActor>()
            .unwrap_or(StatusActor::Receiver);
        if by == StatusActor::Receiver
            && locked_by != StatusActor::Receiver
            && before.status == StreamStatus::Disabled.as_str()
        {
            return Err(StoreError::StatusLocked {
                by: locked_by,
                reason: before.status_reason,
            });
        }
        let mut m = before.clone().into_active_model();
        let t = now();
        m.status = Set(status.as_str().to_owned());
        m.status_reason = Set(reason);
        m.status_set_by = Set(by.as_str().to_owned());
        m.updated_at = Set(t);
        m.last_activity_at = Set(t);
        let after = m.update(g.tx()).await.db()?;
        self.bump(&g).await?;
        g.finish().await?;
        Ok((before.try_into()?, after.try_into()?))
    }

    /// Replaces the stream's delivery settings (`None` clears them).
    pub async fn set_delivery_settings(
        &self,
        id: StreamId,
        settings: Option<Value>,
    ) -> Result<Stream, StoreError> {
        let g = self.ctx.begin().await?;
        let mut m = self.find_model(&g, id).await?.into_active_model();
        m.delivery_settings = Set(settings);
        m.updated_at = Set(now());
        let model = m.update(g.tx()).await.db()?;
        self.bump(&g).await?;
        g.finish().await?;
        model.try_into()
    }

    /// Disables the stream unless it is disabled already, atomically, as sethub (its receiver
    /// cannot enable it again); `true` when this call disabled it (so of several racing
    /// callers exactly one acts on the change).
    pub async fn disable_if_not_disabled(
        &self,
        id: StreamId,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let g = self.ctx.begin().await?;
        let t = now();
        let res = s::Entity::update_many()
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .filter(s::Column::Id.eq(id.as_uuid()))
            .filter(s::Column::Status.ne(StreamStatus::Disabled.as_str()))
            .col_expr(
                s::Column::Status,
                sea_orm::sea_query::Expr::value(StreamStatus::Disabled.as_str()),
            )
            .col_expr(
                s::Column::StatusReason,
                sea_orm::sea_query::Expr::value(reason.to_owned()),
            )
            .col_expr(
                s::Column::StatusSetBy,
                sea_orm::sea_query::Expr::value(StatusActor::Sethub.as_str()),
            )
            .col_expr(s::Column::UpdatedAt, sea_orm::sea_query::Expr::value(t))
            .exec(g.tx())
            .await
            .db()?;
        let changed = res.rows_affected == 1;
        if changed {
            self.bump(&g).await?;
        }
        g.finish().await?;
        Ok(changed)
    }

    /// Records a verification request at `at` unless the previous one was less than the
    /// stream's `min_verification_interval` ago; returns whether it was recorded. Atomic, so
    /// two racing requests cannot both pass.
    pub async fn try_record_verification(
        &self,
        id: StreamId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let g = self.ctx.begin().await?;
        let m = self.find_model(&g, id).await?;
        if let Some(last) = m.last_verification_at {
            let elapsed = at.signed_duration_since(last).num_seconds();
            if elapsed < i64::from(m.min_verification_interval) {
                g.finish().await?;
                return Ok(false);
            }
        }
        let mut am = m.into_active_model();
        am.last_verification_at = Set(Some(crate::repos::micros(at)));
        am.last_activity_at = Set(crate::repos::micros(at));
        am.update(g.tx()).await.db()?;
        g.finish().await?;
        Ok(true)
    }

    /// Restarts the inactivity timer (any management call or poll referencing the stream).
    pub async fn touch_activity(&self, id: StreamId) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        let mut m = self.find_model(&g, id).await?.into_active_model();
        m.last_activity_at = Set(now());
        m.update(g.tx()).await.db()?;
        g.finish().await
    }

    /// Deletes the stream and its subjects.
    pub async fn delete(&self, id: StreamId) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        let res = s::Entity::delete_many()
            .filter(s::Column::TenantId.eq(self.ctx.tid()))
            .filter(s::Column::Id.eq(id.as_uuid()))
            .exec(g.tx())
            .await
            .db()?;
        self.bump(&g).await?;
        g.finish().await?;
        if res.rows_affected == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Adds (`added = true`) or removes (`added = false`) a subject of a stream, keyed by its
    /// canonical key; the latest call wins.
    pub async fn put_subject(
        &self,
        stream: StreamId,
        key: &str,
        subject: Value,
        added: bool,
        verified: bool,
    ) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        self.find_model(&g, stream).await?;
        let model = ss::ActiveModel {
            tenant_id: Set(self.ctx.tid()),
            stream_id: Set(stream.as_uuid()),
            subject_key: Set(key.to_owned()),
            subject: Set(subject),
            added: Set(added),
            verified: Set(verified),
            updated_at: Set(now()),
        };
        ss::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([ss::Column::StreamId, ss::Column::SubjectKey])
                    .update_columns([
                        ss::Column::Subject,
                        ss::Column::Added,
                        ss::Column::Verified,
                        ss::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(g.tx())
            .await
            .db()?;
        self.bump(&g).await?;
        g.finish().await
    }

    /// [`Streams::put_subject`] unless the subject is new and the stream has `max` subject
    /// rows already (added or removed: each is a row): `QuotaExceeded`, nothing written. The
    /// stream row is locked while counting.
    pub async fn put_subject_within(
        &self,
        stream: StreamId,
        key: &str,
        subject: Value,
        (added, verified): (bool, bool),
        max: u32,
    ) -> Result<(), StoreError> {
        let g = self.ctx.begin().await?;
        g.lock_row("streams", stream.as_uuid()).await?;
        self.find_model(&g, stream).await?;
        let rows = ss::Entity::find()
            .filter(ss::Column::TenantId.eq(self.ctx.tid()))
            .filter(ss::Column::StreamId.eq(stream.as_uuid()));
        let known = rows
            .clone()
            .filter(ss::Column::SubjectKey.eq(key))
            .count(g.tx())
            .await
            .db()?
            > 0;
        if !known && rows.count(g.tx()).await.db()? >= u64::from(max) {
            return Err(StoreError::QuotaExceeded {
                quota: Quota::SubjectsPerStream,
                limit: max,
            });
        }
        Streams::new(self.ctx.with_tx(g.tx()))
            .put_subject(stream, key, subject, added, verified)
            .await?;
        g.finish().await
    }

    /// The subject rows of a stream (added and removed).
    pub async fn subjects(&self, stream: StreamId) -> Result<Vec<StreamSubject>, StoreError> {
        let g = self.ctx.begin().await?;
        let rows = ss::Entity::find()
            .filter(ss::Column::TenantId.eq(self.ctx.tid()))
            .filter(ss::Column::StreamId.eq(stream.as_uuid()))
            .order_by_asc(ss::Column::SubjectKey)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(rows
            .into_iter()
            .map(|m| StreamSubject {
                stream_id: StreamId::from_uuid(m.stream_id),
                subject_key: m.subject_key,
                subject: m.subject,
                added: m.added,
                verified: m.verified,
                updated_at: m.updated_at,
            })
            .collect())
    }
}
