//! A tenant's audit log: who asked for what (a redrive, a replay, an upstream transmitter
//! registered or removed). Write an entry in the transaction that makes the change
//! ([`crate::TenantTx::audit`]), so the log never claims what did not happen nor misses
//! what did.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sethub_domain::{AuditId, TenantId};

use crate::entities::audit_log as l;
use crate::error::{DbResultExt, StoreError};
use crate::repos::now;
use crate::scope::Ctx;

/// What to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// Who asked, as `kind:id` (`api_key:key_…`, `user:…`).
    pub actor: String,
    /// What was done: `deliveries.redrive`, `events.replay`, `upstream.create`, ...
    pub action: String,
    /// What it was done to (a stream id, an upstream transmitter id).
    pub target: Option<String>,
    /// The request and its result.
    pub details: serde_json::Value,
}

/// A recorded entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: AuditId,
    pub tenant_id: TenantId,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

impl From<l::Model> for AuditEntry {
    fn from(m: l::Model) -> Self {
        Self {
            id: AuditId::from_uuid(m.id),
            tenant_id: TenantId::from_uuid(m.tenant_id),
            at: m.at,
            actor: m.actor,
            action: m.action,
            target: m.target,
            details: m.details,
        }
    }
}

/// The audit log of one tenant.
pub struct Audit<'a> {
    ctx: Ctx<'a>,
}

impl<'a> Audit<'a> {
    pub(crate) fn new(ctx: Ctx<'a>) -> Self {
        Self { ctx }
    }

    /// Records an entry.
    pub async fn record(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let e = AuditEntry {
            id: AuditId::new(),
            tenant_id: self.ctx.tenant(),
            at: now(),
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            details: entry.details,
        };
        let g = self.ctx.begin().await?;
        l::Entity::insert(l::ActiveModel {
            id: Set(e.id.as_uuid()),
            tenant_id: Set(self.ctx.tid()),
            at: Set(e.at),
            actor: Set(e.actor.clone()),
            action: Set(e.action.clone()),
            target: Set(e.target.clone()),
            details: Set(e.details.clone()),
        })
        .exec_without_returning(g.tx())
        .await
        .db()?;
        g.finish().await?;
        Ok(e)
    }

    /// The newest entries first, at most `limit`, older than `before` when given; only those
    /// about `target` when given.
    pub async fn list(
        &self,
        target: Option<&str>,
        before: Option<AuditId>,
        limit: u64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let g = self.ctx.begin().await?;
        let mut q = l::Entity::find().filter(l::Column::TenantId.eq(self.ctx.tid()));
        if let Some(t) = target {
            q = q.filter(l::Column::Target.eq(t));
        }
        if let Some(b) = before {
            q = q.filter(l::Column::Id.lt(b.as_uuid()));
        }
        let rows = q
            .order_by_desc(l::Column::Id)
            .limit(limit)
            .all(g.tx())
            .await
            .db()?;
        g.finish().await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
