//! The event retention (`push.event_retention_days`): stored events older than the window
//! are deleted once no delivery row names them any more.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Events;
use crate::entities::events as e;
use crate::error::{DbResultExt, StoreError};
use crate::repos::micros;

/// An event still named by a delivery row of its tenant, in any state (pending, held,
/// queued, dead, or delivered and not yet pruned): a redrive, a replay or the delivery log
/// may still read it. Looked up through the tenant's streams, so each probe is one read of
/// the unique index of deliveries by `(stream_id, event_id, …)`.
const NEEDED: &str = "EXISTS (SELECT 1 FROM streams s JOIN deliveries d \
     ON d.stream_id = s.id AND d.event_id = events.id WHERE s.tenant_id = events.tenant_id)";

impl Events<'_> {
    /// Deletes events received before `before` that no delivery row names, oldest first, at
    /// most `batch` a statement (each its own transaction, so a large backlog never holds one
    /// long one); returns how many.
    pub async fn prune(&self, before: DateTime<Utc>, batch: u64) -> Result<u64, StoreError> {
        let batch = Ord::max(batch, 1);
        let mut total = 0;
        loop {
            let g = self.ctx.begin().await?;
            let ids: Vec<uuid::Uuid> = e::Entity::find()
                .select_only()
                .column(e::Column::Id)
                .filter(e::Column::TenantId.eq(self.ctx.tid()))
                .filter(e::Column::ReceivedAt.lt(micros(before)))
                .filter(Expr::cust(NEEDED).not())
                .order_by_asc(e::Column::ReceivedAt)
                .limit(batch)
                .into_tuple()
                .all(g.tx())
                .await
                .db()?;
            let taken = u64::try_from(ids.len()).unwrap_or(u64::MAX);
            if !ids.is_empty() {
                total += e::Entity::delete_many()
                    .filter(e::Column::TenantId.eq(self.ctx.tid()))
                    .filter(e::Column::Id.is_in(ids))
                    // Named by a delivery made since the read (a replay): kept.
                    .filter(Expr::cust(NEEDED).not())
                    .exec(g.tx())
                    .await
                    .db()?
                    .rows_affected;
            }
            g.finish().await?;
            if taken < batch {
                return Ok(total);
            }
        }
    }
}
