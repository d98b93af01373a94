//! The recovery sweep: pending deliveries that no process is working on (their fan-out
//! process died, or an outcome was lost) are found in the store and dispatched again.
//!
//! At start and then every `push.sweep_interval_secs` it takes the pending deliveries
//! overdue by more than `push.orphan_after_secs` (not sooner at start: with replicas, a
//! delivery merely due may be in a live process's memory), a page at a time while the dispatcher has room, each claimed (so
//! two sweeping processes never take the same one). Another live fan-out process may still
//! be holding such a delivery in memory (a long backlog behind a slow receiver): then it is
//! pushed twice, which at-least-once delivery allows and receivers dedupe by `jti`/`txn`.
//! Each pass also tells the retry scheduler when every tenant's earliest parked delivery is
//! due (those another process parked, or this one before a restart). It also counts the dead letters (a
//! metric), prunes the delivery log, and applies the poll queues' retention
//! (`poll.retention_max_age_secs`, `poll.retention_max_sets`: the oldest SETs beyond either
//! are dropped, counted in `sethub_poll_dropped_total` and logged).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use sethub_store::DueDeliveries;

use crate::engine::Engine;
use crate::retries::{Paging, push_pages};

pub async fn run(engine: Arc<Engine>) {
    let push = engine.ctx.config.push.clone();
    let interval = Duration::from_secs(push.sweep_interval_secs);
    let grace = chrono::Duration::seconds(i64::try_from(push.orphan_after_secs).unwrap_or(60));
    let retention = chrono::Duration::days(i64::from(push.attempt_retention_days));
    let mut last_prune = None::<tokio::time::Instant>;
    loop {
        // Also at start: a delivery due but not yet overdue may be in the memory of another
        // fan-out process that is alive (replicas, a rolling restart); taking it now would
        // push it twice.
        match sweep(&engine, Utc::now() - grace).await {
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
        if let Err(e) = retain(&engine).await {
            tracing::warn!(error = %e, "poll queue retention failed; trying again later");
        }
        {
            match count_dead(&engine).await {
                Ok(n) => engine
                    .metrics
                    .dead_letters
                    .set(i64::try_from(n).unwrap_or(i64::MAX)),
                Err(e) => tracing::warn!(error = %e, "cannot count dead letters"),
            }
            if let Err(e) = count_poll_backlog(&engine).await {
                tracing::warn!(error = %e, "cannot count the poll backlog");
            }
        }
        if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            last_prune = Some(tokio::time::Instant::now());
            if let Err(e) = prune(&engine, Utc::now() - retention).await {
                tracing::warn!(error = %e, "delivery log pruning failed");
            }
        }
        // A periodic task, not a wait for a condition.
        tokio::time::sleep(interval).await;
    }
}

async fn sweep(
    engine: &Engine,
    before: chrono::DateTime<Utc>,
) -> Result<usize, sethub_store::StoreError> {
    let mut taken = 0;
    let due = DueDeliveries {
        before,
        stream: None,
        scheduled_only: false,
    };
    for tenant in engine.ctx.store.tenants().list().await? {
        // What this or another process parked: the scheduler takes it when due.
        if let Some(at) = engine
            .ctx
            .store
            .scope(tenant.id)
            .deliveries()
            .next_scheduled()
            .await?
        {
            engine.scheduler.note(tenant.id, at);
        }
        // Busy: leave the rest for the next pass.
        if engine.dispatcher.backlog() >= engine.ctx.config.push.max_backlog {
            continue;
        }
        taken += push_pages(engine, tenant.id, &due, Paging::WhileRoom)
            .await?
            .0;
    }
    Ok(taken)
}

/// Applies the poll queues' retention to every poll stream.
pub async fn retain(engine: &Engine) -> Result<(), sethub_store::StoreError> {
    let cfg = &engine.ctx.config.poll;
    // An age too large to subtract keeps everything (no cutoff).
    let cutoff = i64::try_from(cfg.retention_max_age_secs)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .and_then(|age| Utc::now().checked_sub_signed(age))
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    for tenant in engine.ctx.store.tenants().list().await? {
        let scope = engine.ctx.store.scope(tenant.id);
        for stream in scope.streams().list().await? {
            if stream.delivery_method != sethub_domain::DeliveryMethod::Poll {
                continue;
            }
            let (age, count) = scope
                .deliveries()
                .trim_queue(stream.id, cutoff, cfg.retention_max_sets)
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
                tracing::warn!(tenant = %tenant.id, stream = %stream.id, too_old = age,
                    too_many = count, "poll queue retention dropped the oldest SETs");
            }
        }
    }
    Ok(())
}

async fn prune(
    engine: &Engine,
    before: chrono::DateTime<Utc>,
) -> Result<(), sethub_store::StoreError> {
    for tenant in engine.ctx.store.tenants().list().await? {
        let n = engine
            .ctx
            .store
            .scope(tenant.id)
            .deliveries()
            .prune_attempts(before)
            .await?;
        if n > 0 {
            tracing::info!(tenant = %tenant.id, rows = n, "pruned the delivery log");
        }
    }
    Ok(())
}

async fn count_dead(engine: &Engine) -> Result<u64, sethub_store::StoreError> {
    let mut n = 0;
    for tenant in engine.ctx.store.tenants().list().await? {
        n += engine
            .ctx
            .store
            .scope(tenant.id)
            .deliveries()
            .count_in_state(sethub_store::DeliveryState::Dead)
            .await?;
    }
    Ok(n)
}

/// Sets `poll_backlog` and `poll_oldest_age_seconds` from every tenant's queued SETs.
async fn count_poll_backlog(engine: &Engine) -> Result<(), sethub_store::StoreError> {
    let (mut n, mut oldest) = (0, None::<chrono::DateTime<Utc>>);
    for tenant in engine.ctx.store.tenants().list().await? {
        let (count, first) = engine
            .ctx
            .store
            .scope(tenant.id)
            .deliveries()
            .backlog_in_state(sethub_store::DeliveryState::Queued)
            .await?;
        n += count;
        oldest = match (oldest, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let age = oldest.map_or(0, |t| (Utc::now() - t).num_seconds().max(0));
    engine
        .metrics
        .poll_backlog
        .set(i64::try_from(n).unwrap_or(i64::MAX));
    engine.metrics.poll_oldest_age_seconds.set(age);
    Ok(())
}
