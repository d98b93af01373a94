//! Writes push outcomes to the store in batches: state changes and delivery log rows of many
//! attempts go in one transaction per tenant, so the log costs a few statements per batch
//! rather than per SET. A batch that cannot be written is retried until it is (the database
//! is down): meanwhile the bounded channel slows the push workers down.
//!
//! An outcome that is lost because this process dies before its batch is written only
//! leaves the delivery pending: it is pushed again after a restart (at least once).
//!
//! It knows only the [`Ownership`] handle (whose deliveries it gives back once written), not
//! the dispatcher.

use std::collections::HashMap;
use std::time::Duration;

use sethub_app::AppContext;
use sethub_domain::TenantId;
use sethub_store::{Attempt, StoreError, Update};
use tokio::sync::mpsc;

use crate::ownership::Ownership;

/// Most outcomes in one batch, and the longest an outcome waits for its batch.
const BATCH: usize = 1000;
const LINGER: Duration = Duration::from_millis(5);

/// One outcome to record.
#[derive(Debug)]
pub struct Record {
    pub tenant: TenantId,
    pub update: Update,
    pub attempt: Option<Attempt>,
    /// The outcome is final: once it is written, this process stops owning the delivery
    /// (not before, or the recovery sweep could find it still pending and push it again).
    pub release: bool,
    /// The job was pushed before its delivery row was committed: the outcome is written
    /// only once it is (and dropped if the row was never stored).
    pub stored: Option<crate::stored::StoredGate>,
}

/// The sending side. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
}

impl Recorder {
    /// A recorder and the task that writes its batches.
    pub fn new(
        ctx: AppContext,
        ownership: Ownership,
    ) -> (Self, impl std::future::Future<Output = ()>) {
        let (tx, rx) = mpsc::channel(20_000);
        (Self { tx }, run(ctx, ownership, rx))
    }

    /// Queues an outcome (waits when the writer is behind).
    pub async fn record(&self, mut record: Record) {
        if let Some(gate) = record.stored.clone() {
            // A first delivery made before its row was stored is stored with the row.
            match gate.offer(record) {
                None => return,
                Some(r) => record = r,
            }
            // Held here, not in the writer, so one slow commit never stalls other outcomes.
            gate.stored().await;
        }
        if self.tx.send(record).await.is_err() {
            tracing::warn!("the outcome recorder has stopped; an outcome is not recorded");
        }
    }
}

async fn run(ctx: AppContext, ownership: Ownership, mut rx: mpsc::Receiver<Record>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        let Some(first) = rx.recv().await else { return };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => batch.push(r),
                Ok(None) | Err(_) => break,
            }
        }
        let released: Vec<_> = batch
            .iter()
            .filter(|r| r.release)
            .map(|r| r.update.id)
            .collect();
        write(&ctx, &mut batch).await;
        for id in released {
            ownership.release(id);
        }
    }
}

async fn write(ctx: &AppContext, batch: &mut Vec<Record>) {
    let mut by_tenant: HashMap<TenantId, (Vec<Update>, Vec<Attempt>)> = HashMap::new();
    for r in batch.drain(..) {
        // Never stored (the fan-out was given up): nothing to record. (Resolved already:
        // `record` waited for it.)
        if let Some(gate) = &r.stored
            && !gate.stored().await
        {
            continue;
        }
        let entry = by_tenant.entry(r.tenant).or_default();
        entry.0.push(r.update);
        if let Some(a) = r.attempt {
            entry.1.push(a);
        }
    }
    for (tenant, (updates, attempts)) in by_tenant {
        let mut delay = Duration::from_millis(100);
        loop {
            match ctx
                .store
                .scope(tenant)
                .deliveries()
                .apply(&updates, &attempts)
                .await
            {
                Ok(()) => break,
                // A stream (and its deliveries) was deleted meanwhile: record the others
                // stream by stream.
                Err(StoreError::NotFound) => {
                    write_per_stream(ctx, tenant, &updates, &attempts).await;
                    break;
                }
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, retry_in = ?delay,
                        "cannot record push outcomes; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

async fn write_per_stream(
    ctx: &AppContext,
    tenant: TenantId,
    updates: &[Update],
    attempts: &[Attempt],
) {
    let mut streams: Vec<_> = attempts.iter().map(|a| a.stream_id).collect();
    streams.sort_unstable();
    streams.dedup();
    let deliveries = ctx.store.scope(tenant).deliveries();
    for stream in streams {
        let a: Vec<Attempt> = attempts
            .iter()
            .filter(|a| a.stream_id == stream)
            .cloned()
            .collect();
        let ids: Vec<_> = a.iter().map(|a| a.delivery_id).collect();
        let u: Vec<Update> = updates
            .iter()
            .filter(|u| ids.contains(&u.id))
            .cloned()
            .collect();
        if let Err(e) = deliveries.apply(&u, &a).await {
            tracing::debug!(%tenant, %stream, error = %e, "outcomes not recorded (stream deleted?)");
        }
    }
    let attempted: Vec<_> = attempts.iter().map(|a| a.delivery_id).collect();
    let rest: Vec<Update> = updates
        .iter()
        .filter(|u| !attempted.contains(&u.id))
        .cloned()
        .collect();
    if let Err(e) = deliveries.apply(&rest, &[]).await {
        tracing::debug!(%tenant, error = %e, "outcomes not recorded");
    }
}
