//! Recording that events without an `Idempotency-Key` were published
//! (`events.published_at`), in batches: a publish request hands its event ids to the marker
//! and answers at once; the marker writes the ids of many requests in one statement per
//! tenant.
//!
//! The mark decides whether a repeat of an `Idempotency-Key` publishes its event again; an
//! event without a key cannot be repeated, so its mark only records what happened and may
//! be late (or lost, if this process dies). Events with a key are marked before the answer.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use sethub_app::AppContext;
use sethub_domain::{EventId, TenantId};
use tokio::sync::mpsc;

const LINGER: Duration = Duration::from_millis(10);
const BATCH: usize = 2000;

/// The sending side; the writing task starts with the first mark (on the runtime of the
/// worker that owns this marker).
#[derive(Default)]
pub struct Marker {
    tx: OnceLock<mpsc::UnboundedSender<(TenantId, Vec<EventId>)>>,
}

impl Marker {
    /// Queues the marks of `events`.
    pub fn mark(&self, ctx: &AppContext, tenant: TenantId, events: Vec<EventId>) {
        if events.is_empty() {
            return;
        }
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(ctx.clone(), rx));
            tx
        });
        if tx.send((tenant, events)).is_err() {
            tracing::warn!("the publish marker has stopped; marks are lost (harmless)");
        }
    }
}

async fn run(ctx: AppContext, mut rx: mpsc::UnboundedReceiver<(TenantId, Vec<EventId>)>) {
    loop {
        let Some(first) = rx.recv().await else { return };
        let mut by_tenant: HashMap<TenantId, Vec<EventId>> = HashMap::new();
        let mut n = first.1.len();
        by_tenant.entry(first.0).or_default().extend(first.1);
        let deadline = tokio::time::Instant::now() + LINGER;
        while n < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((tenant, ids))) => {
                    n += ids.len();
                    by_tenant.entry(tenant).or_default().extend(ids);
                }
                Ok(None) | Err(_) => break,
            }
        }
        for (tenant, ids) in by_tenant {
            if let Err(e) = ctx
                .store
                .scope(tenant)
                .events()
                .mark_published_many(&ids)
                .await
            {
                tracing::warn!(%tenant, events = ids.len(), error = %e,
                    "published but not recorded (a repeat would publish again; harmless)");
            }
        }
    }
}
