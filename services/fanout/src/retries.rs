//! Deliveries that wait go to the database, not to memory, and come back a page at a time.
//!
//! - **Parking**: a retry after a failed attempt, and a wait longer than
//!   `push.max_wait_in_memory_ms` (an open breaker, a spent rate limit), is recorded with its
//!   due time (`next_attempt_at`) and the process lets the delivery go once that is written.
//!   However many SETs a failing receiver has, they cost this process no memory while they
//!   wait.
//! - **The scheduler** knows, per tenant, when its earliest parked delivery is due (from its
//!   own parking, and from the recovery sweep's look at every tenant, which finds what other
//!   processes parked). When that time comes it claims the tenant's due parked deliveries a
//!   page at a time (at most as many as the dispatcher has room for, for that tenant) and
//!   dispatches them. This is also how a tenant's *overflow* comes back: first attempts past
//!   its share of the backlog that the dispatcher parked due at once (`dispatch`).
//! - **Claims** (`sethub_store`'s `claim.rs`) lease each delivery to one process for
//!   `push.orphan_after_secs`, so two fan-out processes never push the same one; a process
//!   that dies leaves its leases to end, and the deliveries are claimed again.
//! - [`push_pages`] is also how the recovery sweep, the release of held SETs and a redrive
//!   take their deliveries: a page at a time, oldest first, as room frees up.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sethub_domain::{DeliveryId, TenantId};
use sethub_store::{Attempt, Change, DueDeliveries, StoreError, Update};

use crate::dispatch::Job;
use crate::engine::{Core, Engine};
use crate::recorder::Record;

/// Most deliveries claimed at once.
pub const PAGE: usize = 500;

/// The least time between two looks at one tenant's parked deliveries.
const MIN_SPACING: Duration = Duration::from_millis(50);

/// Records an outcome that leaves the delivery waiting (a retry, or a wait without an
/// attempt: `Change::Retry` or `Change::Reschedule`), lets it go once written, and tells the
/// scheduler when it is due.
pub async fn park(
    engine: &Core,
    tenant: TenantId,
    id: DeliveryId,
    mut change: Change,
    attempt: Option<Attempt>,
) {
    // Due strictly after it is written: that is what marks it parked (scheduled).
    let now = Utc::now();
    let at = match &mut change {
        Change::Retry {
            next_attempt_at, ..
        }
        | Change::Reschedule { next_attempt_at } => {
            *next_attempt_at = (*next_attempt_at).max(now + chrono::Duration::milliseconds(1));
            *next_attempt_at
        }
        _ => now,
    };
    engine
        .recorder
        .record(Record {
            tenant,
            update: Update {
                id,
                at: now,
                attempted: attempt.is_some(),
                change,
            },
            attempt,
            release: true,
        })
        .await;
    engine.metrics.parked.inc();
    engine.scheduler.note(tenant, at);
}

/// Runs the scheduler: claims and dispatches each tenant's parked deliveries when due.
pub async fn run(engine: Arc<Engine>) {
    loop {
        let now = Utc::now();
        let (ready, next) = engine.scheduler.take_due(now);
        for tenant in ready {
            if let Err(e) = take(&engine, tenant).await {
                tracing::warn!(%tenant, error = %e, "cannot take due retries; trying again shortly");
                engine
                    .scheduler
                    .note(tenant, Utc::now() + chrono::Duration::seconds(1));
            }
        }
        let wait = next
            .and_then(|at| (at - Utc::now()).to_std().ok())
            .unwrap_or(Duration::ZERO);
        let notified = engine.scheduler.wake.notified();
        if next.is_none() {
            notified.await;
        } else {
            // Wait for the next tenant to be due, or for a sooner one to be noted.
            let _ = tokio::time::timeout(wait.max(MIN_SPACING / 5), notified).await;
        }
    }
}

/// One page of the tenant's due parked deliveries; then notes when the next is due.
async fn take(engine: &Engine, tenant: TenantId) -> Result<(), StoreError> {
    let due = DueDeliveries {
        before: Utc::now(),
        stream: None,
        scheduled_only: true,
    };
    if push_pages(engine, tenant, &due, Paging::OnePage).await?.1 == PagingEnd::More {
        // Noted as due again now; no need to look for the next.
        return Ok(());
    }
    if let Some(at) = engine
        .ctx
        .store
        .scope(tenant)
        .deliveries()
        .next_scheduled()
        .await?
    {
        let spaced = Utc::now() + chrono::Duration::from_std(MIN_SPACING).unwrap_or_default();
        engine.scheduler.note(tenant, at.max(spaced));
    }
    Ok(())
}

/// Whether [`push_pages`] saw the last due delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingEnd {
    Done,
    /// It stopped with more due (no room, or one page only).
    More,
}

/// How far [`push_pages`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// One page, if there is room now (the scheduler: other tenants get their turn).
    OnePage,
    /// Pages while there is room, then stop (the recovery sweep).
    WhileRoom,
    /// Every page, oldest first, each pushed in order; waits for room between pages (held
    /// SETs released, a redrive).
    AllInOrder,
}

/// Claims the tenant's deliveries that `due` selects, a page at a time by id, and dispatches
/// them; returns how many were claimed and whether more are due. Deliveries this process
/// already holds are skipped.
pub async fn push_pages(
    engine: &Engine,
    tenant: TenantId,
    due: &DueDeliveries,
    paging: Paging,
) -> Result<(usize, PagingEnd), StoreError> {
    let push = &engine.ctx.config.push;
    let lease = chrono::Duration::seconds(i64::try_from(push.orphan_after_secs).unwrap_or(60));
    let deliveries = engine.ctx.store.scope(tenant).deliveries();
    let mut after = None;
    let mut taken = 0;
    loop {
        if paging == Paging::AllInOrder {
            engine.dispatcher.wait_for_tenant_room(tenant).await;
        }
        let _admission = engine.scheduler.admission.lock().await;
        // The tenant's room: its share of the backlog, so one tenant's due retries never
        // take the room of another's first attempts.
        let room = engine.dispatcher.room_for(tenant);
        if room == 0 {
            // The scheduler looks again shortly; the sweep comes back.
            if paging == Paging::OnePage {
                let soon = chrono::Duration::from_std(MIN_SPACING).unwrap_or_default();
                engine.scheduler.note(tenant, Utc::now() + soon);
            }
            return Ok((taken, PagingEnd::More));
        }
        let limit = room.min(PAGE);
        let ids = deliveries
            .due_page(due, after, u64::try_from(limit).unwrap_or(u64::MAX))
            .await?;
        let Some(last) = ids.last().copied() else {
            return Ok((taken, PagingEnd::Done));
        };
        after = Some(last);
        let full = ids.len() == limit;
        let free: Vec<_> = ids
            .into_iter()
            .filter(|id| !engine.dispatcher.owns(*id))
            .collect();
        let claimed = deliveries.claim(&free, due, Utc::now() + lease).await?;
        for d in claimed {
            let mut job = Job::from_stored(d, None);
            job.ordered = paging == Paging::AllInOrder;
            if engine.dispatcher.submit(job, true) {
                taken += 1;
            }
        }
        if !full {
            return Ok((taken, PagingEnd::Done));
        }
        if paging == Paging::OnePage {
            // More are due: come back at once.
            engine.scheduler.note(tenant, Utc::now());
            return Ok((taken, PagingEnd::More));
        }
    }
}
