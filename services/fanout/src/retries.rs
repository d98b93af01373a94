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
//!   take their deliveries: a page at a time as room frees up; a release or a redrive in
//!   publication order, each SET pushed (and, after a failed attempt, retried) before the
//!   next ([`hold_in_order`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sethub_domain::{DeliveryId, TenantId};
use sethub_store::{Attempt, Change, DueDeliveries, StoreError, Update};

use crate::dispatch::Job;
use crate::engine::{Core, Engine};
use crate::recorder::Record;
use crate::stored::StoredGate;

/// Most deliveries claimed at once.
pub const PAGE: usize = 500;

/// Most deliveries of a stream pushed in order claimed at once: they are pushed one at a
/// time, and the next page is claimed only once this one is done, so a failing receiver's
/// lane holds at most this many in memory while its first SET waits to be retried.
pub const ORDERED_PAGE: usize = 100;

/// The least time between two looks at one tenant's parked deliveries.
const MIN_SPACING: Duration = Duration::from_millis(50);

/// Records an outcome that leaves the delivery waiting (a retry, or a wait without an
/// attempt: `Change::Retry` or `Change::Reschedule`), lets it go once written, and tells the
/// scheduler when it is due.
///
/// An *ordered* job (a released or redriven SET, pushed in publication order) is not parked
/// but held: see [`hold_in_order`]. `stored`: the job was pushed before its row was committed
/// (the outcome waits for the commit).
pub async fn park(
    engine: &Core,
    tenant: TenantId,
    id: DeliveryId,
    stored: Option<StoredGate>,
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
            stored,
        })
        .await;
    engine.metrics.parked.inc();
    engine.scheduler.note(tenant, at);
}

/// An ordered job that must wait (a retry after a failed attempt): its outcome and attempt
/// are recorded, but the process keeps it and its lane tries it again when due, before any
/// SET behind it, so a stream's released SETs stay in publication order across a 503. The
/// row's due time is pushed a lease (`push.orphan_after_secs`) past that, so no other process
/// claims it meanwhile; if this one dies, the row is due again after the lease. Returns the
/// job and when its lane should try it again.
pub async fn hold_in_order(
    engine: &Core,
    job: &Job,
    mut change: Change,
    attempt: Option<Attempt>,
) -> (tokio::time::Instant, Job) {
    let now = Utc::now();
    let lease = chrono::Duration::seconds(
        i64::try_from(engine.ctx.config.push.orphan_after_secs).unwrap_or(60),
    );
    let at = match &mut change {
        Change::Retry {
            next_attempt_at, ..
        }
        | Change::Reschedule { next_attempt_at } => {
            let at = (*next_attempt_at).max(now);
            *next_attempt_at = at + lease;
            at
        }
        _ => now,
    };
    let mut again = job.clone();
    if attempt.is_some() {
        again.attempts += 1;
        again.first_attempt_at.get_or_insert(now);
    }
    let wait = (at - now).to_std().unwrap_or_default();
    engine
        .recorder
        .record(Record {
            tenant: job.tenant,
            update: Update {
                id: job.id,
                at: now,
                attempted: attempt.is_some(),
                change,
            },
            attempt,
            release: false,
            stored: job.stored.clone(),
        })
        .await;
    (tokio::time::Instant::now() + wait, again)
}

/// Runs the scheduler: claims and dispatches each tenant's parked deliveries when due.
pub async fn run(engine: Arc<Engine>) {
    loop {
        let now = Utc::now();
        let (ready, next) = engine.scheduler.take_due(now);
        if !ready.is_empty() {
            // Claim pages worth their round trips: with the backlog nearly full, wait until a
            // share of it is free rather than claim a few deliveries at a time.
            let max = engine.ctx.config.push.max_backlog;
            let share = (max / 4).clamp(1, PAGE);
            engine.dispatcher.wait_for_room(max - share + 1).await;
        }
        for tenant in ready {
            // Paced by its own breakers: a tenant whose every endpoint is failing gets its
            // SETs claimed when a probe can go, not at every step of their schedules.
            if let Some(at) = engine.dispatcher.tenant_blocked_until(tenant) {
                let wait = at.saturating_duration_since(tokio::time::Instant::now());
                let wait = chrono::Duration::from_std(wait).unwrap_or_default();
                engine.scheduler.note(tenant, Utc::now() + wait);
                continue;
            }
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

/// Claims the tenant's deliveries that `due` selects, a page at a time in due order (or in
/// publication order, [`Paging::AllInOrder`]), and dispatches
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
    // Where the next page starts: in due order, or in publication order.
    let mut after = None;
    let mut after_in_order = None;
    let mut taken = 0;
    // A stream pushed in order keeps its rows not yet claimed from looking overdue to any
    // recovery sweep (which would push them out of order), as long as this goes on.
    let keep_fresh = match (paging, due.stream) {
        (Paging::AllInOrder, Some(stream)) => Some(stream),
        _ => None,
    };
    let refresh_every = Duration::from_secs(push.orphan_after_secs.max(1)) / 3;
    // The last SET of the page pushed in order before: the next page waits for it.
    let mut previous: Option<DeliveryId> = None;
    loop {
        if paging == Paging::AllInOrder {
            loop {
                if let Some(stream) = keep_fresh {
                    deliveries.refresh_unscheduled(stream).await?;
                }
                let ready = async {
                    if let Some(id) = previous {
                        engine.dispatcher.wait_released(id).await;
                    }
                    engine.dispatcher.wait_for_tenant_room(tenant).await;
                };
                if tokio::time::timeout(refresh_every, ready).await.is_ok() {
                    break;
                }
            }
        }
        let _admission = engine.scheduler.admission.lock().await;
        // The tenant's room: its share of the backlog, so one tenant's due retries never
        // take the room of another's first attempts.
        let room = engine.dispatcher.room_for(tenant);
        if room == 0 {
            // Pushing in order goes on until the last page: wait for room again.
            if paging == Paging::AllInOrder {
                continue;
            }
            // The scheduler looks again shortly; the sweep comes back.
            if paging == Paging::OnePage {
                let soon = chrono::Duration::from_std(MIN_SPACING).unwrap_or_default();
                engine.scheduler.note(tenant, Utc::now() + soon);
            }
            return Ok((taken, PagingEnd::More));
        }
        let limit = room.min(if paging == Paging::AllInOrder {
            ORDERED_PAGE
        } else {
            PAGE
        });
        let page_limit = u64::try_from(limit).unwrap_or(u64::MAX);
        // Rows kept fresh are due as of their last refresh.
        let page_due = DueDeliveries {
            before: if keep_fresh.is_some() {
                Utc::now()
            } else {
                due.before
            },
            ..*due
        };
        let due = &page_due;
        let ids = if paging == Paging::AllInOrder {
            let ids = deliveries
                .due_page_in_order(due, after_in_order, page_limit)
                .await?;
            after_in_order = ids.last().copied().or(after_in_order);
            ids
        } else {
            let page = deliveries.due_page(due, after, page_limit).await?;
            after = page.last.or(after);
            page.ids
        };
        if ids.is_empty() {
            return Ok((taken, PagingEnd::Done));
        }
        let full = ids.len() == limit;
        let free: Vec<_> = ids
            .into_iter()
            .filter(|id| !engine.dispatcher.owns(*id))
            .collect();
        let mut claimed = deliveries.claim(&free, due, Utc::now() + lease).await?;
        if paging == Paging::AllInOrder {
            // Claims come back by id: put them in the page's (publication) order.
            let place: HashMap<DeliveryId, usize> =
                free.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            claimed.sort_by_key(|d| place.get(&d.id).copied().unwrap_or(usize::MAX));
        }
        previous = claimed.last().map(|d| d.id).or(previous);
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
