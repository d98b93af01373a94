//! The recovery sweep: pending deliveries that no process is working on (their fan-out
//! process died, or an outcome was lost) are found in the store and dispatched again.
//!
//! At start and then every `push.sweep_interval_secs` it takes the pending deliveries
//! overdue by more than `push.orphan_after_secs` (not sooner at start: with replicas, a
//! delivery merely due may be in a live process's memory), a page at a time while the dispatcher has room, each claimed (so
//! two sweeping processes never take the same one). A live fan-out process holding a
//! delivery in memory longer than that (pushing to a slow receiver, queued in a lane behind
//! one) keeps renewing its claim (`renew.rs`), so the sweep finds it overdue only once that
//! process has died.
//!
//! What is due is found with one query across tenants (`Store::pending_due`, served by the
//! partial index of pending deliveries by due time), and only the tenants it returns are
//! visited: an idle tenant costs nothing. Every replica sweeps (the claims keep them apart);
//! the periodic jobs run in one replica at a time, the holder of a lease in the state store
//! (renewed each pass, taken over by another replica once it runs out): telling the retry
//! scheduler when each tenant's earliest parked delivery is due (those another process
//! parked, or this one before a restart), counting the dead letters and the poll backlog
//! (metrics; the other replicas report 0, so `max()` over replicas reads true), pruning the
//! delivery log, delivered SETs and old events (`push.event_retention_days`, once no
//! delivery row names them), deleting the closed organisations whose grace period is over
//! (`sethub_app::closing::purge_due`: their rows and state-store keys), and applying the poll
//! queues' retention (`poll.retention_max_age_secs`,
//! `poll.retention_max_sets`: the oldest SETs beyond either are dropped, counted in
//! `sethub_poll_dropped_total` and logged).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use sethub_state::{Key, KeyKind};
use sethub_store::DueDeliveries;

use crate::engine::Engine;
use crate::retries::{Paging, push_pages};

pub async fn run(engine: Arc<Engine>) {
    let push = engine.ctx.config.push.clone();
    let interval = Duration::from_secs(push.sweep_interval_secs);
    let grace = chrono::Duration::seconds(i64::try_from(push.orphan_after_secs).unwrap_or(60));
    let retention = Retention {
        attempts: chrono::Duration::days(i64::from(push.attempt_retention_days)),
        delivered: chrono::Duration::days(i64::from(push.delivered_retention_days)),
        events: chrono::Duration::days(i64::from(push.event_retention_days)),
    };
    let lease = Lease::new(&engine, interval);
    let mut last_prune = None::<tokio::time::Instant>;
    loop {
        let leader = lease.hold(&engine).await;
        // Also at start: a delivery due but not yet overdue may be in the memory of another
        // fan-out process that is alive (replicas, a rolling restart); taking it now would
        // push it twice.
        match sweep(&engine, grace, leader.then_some(interval)).await {
            Ok(n) if n > 0 => {
                engine.metrics.swept.inc_by(n as u64);
                tracing::info!(
                    deliveries = n,
                    "recovery sweep took over pending deliveries"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "recovery sweep failed; trying again later"),
        }
        if leader {
            if let Err(e) = poll_queues(&engine).await {
                tracing::warn!(error = %e, "poll queue retention failed; trying again later");
            }
            match engine.ctx.store.count_dead().await {
                Ok(n) => engine
                    .metrics
                    .dead_letters
                    .set(i64::try_from(n).unwrap_or(i64::MAX)),
                Err(e) => tracing::warn!(error = %e, "cannot count dead letters"),
            }
            match sethub_app::closing::purge_due(&engine.ctx, Utc::now()).await {
                Ok(purged) if !purged.is_empty() => {
                    engine.metrics.tenants_purged.inc_by(purged.len() as u64);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e,
                    "deleting closed organisations failed; trying again at the next pass"),
            }
            if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                last_prune = Some(tokio::time::Instant::now());
                if let Err(e) = prune(&engine, &retention).await {
                    tracing::warn!(error = %e, "pruning the delivery log, delivered SETs and events failed");
                }
            }
        } else {
            // Another replica counts: this one's gauges must not keep a stale count.
            engine.metrics.dead_letters.set(0);
            engine.metrics.poll_backlog.set(0);
            engine.metrics.poll_oldest_age_seconds.set(0);
            last_prune = None;
        }
        // A periodic task, not a wait for a condition.
        tokio::time::sleep(interval).await;
    }
}

/// The lease on fan-out's periodic jobs: one replica at a time holds it.
struct Lease {
    key: Key,
    /// This process's token.
    owner: String,
    /// Three passes: a holder that misses two still holds it; one that stopped loses it.
    ttl: Duration,
}

impl Lease {
    fn new(engine: &Engine, interval: Duration) -> Self {
        Self {
            key: Key::global(&engine.ctx.key_prefix, KeyKind::Lease, "fanout-periodic"),
            owner: uuid::Uuid::now_v7().to_string(),
            ttl: (interval * 3).max(Duration::from_secs(3)),
        }
    }

    /// Takes or renews the lease; whether this process holds it. When the state store does
    /// not answer, the jobs run anyway: done twice they are harmless, never done they are not.
    async fn hold(&self, engine: &Engine) -> bool {
        match engine
            .ctx
            .state
            .lease(&self.key, &self.owner, self.ttl)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::debug!(error = %e, "cannot reach the periodic jobs' lease; running them");
                true
            }
        }
    }
}

/// Takes over what is overdue by `grace`, tenant by tenant among those that have any; with
/// `notes` (the lease holder), also tells the scheduler about the parked deliveries due
/// before the next pass.
async fn sweep(
    engine: &Engine,
    grace: chrono::Duration,
    notes: Option<Duration>,
) -> Result<usize, sethub_store::StoreError> {
    let now = Utc::now();
    let overdue = now - grace;
    let horizon = match notes.and_then(|n| chrono::Duration::from_std(n).ok()) {
        Some(next_pass) => now + next_pass,
        None => overdue,
    };
    let due = DueDeliveries {
        before: overdue,
        stream: None,
        scheduled_only: false,
    };
    let mut taken = 0;
    for tenant in engine.ctx.store.pending_due(horizon).await? {
        // What this or another process parked: the scheduler takes it when due.
        if notes.is_some()
            && let Some(at) = tenant.earliest_parked
        {
            engine.scheduler.note(tenant.tenant, at);
        }
        // Busy, or every breaker of the tenant is open (what it took would be parked again
        // without an attempt; the scheduler takes it when a probe can go): leave the rest
        // for the next pass.
        if tenant.earliest >= overdue
            || engine.dispatcher.backlog() >= engine.ctx.config.push.max_backlog
            || engine
                .dispatcher
                .tenant_blocked_until(tenant.tenant)
                .is_some()
        {
            continue;
        }
        taken += push_pages(engine, tenant.tenant, &due, Paging::WhileRoom)
            .await?
            .0;
    }
    Ok(taken)
}

/// Applies the poll queues' retention to the queues that need it and sets `poll_backlog` and
/// `poll_oldest_age_seconds`, from one look at every non-empty queue.
async fn poll_queues(engine: &Engine) -> Result<(), sethub_store::StoreError> {
    let cfg = &engine.ctx.config.poll;
    let now = Utc::now();
    // An age too large to subtract keeps everything (no cutoff).
    let cutoff = i64::try_from(cfg.retention_max_age_secs)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    let queues = engine.ctx.store.poll_queues().await?;
    let backlog: u64 = queues.iter().map(|q| q.queued).sum();
    let oldest = queues.iter().map(|q| q.oldest).min();
    engine
        .metrics
        .poll_backlog
        .set(i64::try_from(backlog).unwrap_or(i64::MAX));
    engine
        .metrics
        .poll_oldest_age_seconds
        .set(oldest.map_or(0, |t| (now - t).num_seconds().max(0)));
    for q in queues
        .iter()
        .filter(|q| q.oldest < cutoff || q.queued > cfg.retention_max_sets)
    {
        let (age, count) = engine
            .ctx
            .store
            .scope(q.tenant)
            .deliveries()
            .trim_queue(q.stream, cutoff, cfg.retention_max_sets)
            .await?;
        if age + count > 0 {
            engine
                .metrics
                .poll_dropped
                .with_label_values(&["age"])
                .inc_by(age);
            engine
                .metrics
                .poll_dropped
                .with_label_values(&["count"])
                .inc_by(count);
            tracing::warn!(tenant = %q.tenant, stream = %q.stream, too_old = age,
                too_many = count, "poll queue retention dropped the oldest SETs");
        }
    }
    Ok(())
}

/// How long the delivery log, delivered SETs and events are kept.
struct Retention {
    attempts: chrono::Duration,
    delivered: chrono::Duration,
    events: chrono::Duration,
}

/// Delivered SETs one statement of the delivered retention deletes at most.
const PRUNE_BATCH: u64 = 5_000;

/// Deletes delivery-log rows older than `retention.attempts`, SETs delivered longer ago than
/// `retention.delivered` and events received longer ago than `retention.events` that no
/// delivery row names, in the tenants that have any.
async fn prune(engine: &Engine, retention: &Retention) -> Result<(), sethub_store::StoreError> {
    let store = &engine.ctx.store;
    let now = Utc::now();
    let before = now - retention.attempts;
    for tenant in store.tenants_with_attempts_before(before).await? {
        let rows = store
            .scope(tenant)
            .deliveries()
            .prune_attempts(before)
            .await?;
        pruned(tenant, rows, "delivery log rows");
    }
    let before = now - retention.delivered;
    for tenant in store.tenants_with_delivered_before(before).await? {
        let deliveries = store.scope(tenant).deliveries();
        let rows = deliveries.prune_delivered(before, PRUNE_BATCH).await?;
        pruned(tenant, rows, "delivered SETs");
    }
    // After the delivered SETs: an event is pruned only once no delivery row names it.
    let before = now - retention.events;
    for tenant in store.tenants_with_events_before(before).await? {
        let rows = store
            .scope(tenant)
            .events()
            .prune(before, PRUNE_BATCH)
            .await?;
        pruned(tenant, rows, "events");
    }
    Ok(())
}

fn pruned(tenant: sethub_domain::TenantId, rows: u64, what: &'static str) {
    if rows > 0 {
        tracing::info!(%tenant, rows, what, "pruned");
    }
}
