//! Group commit for single publishes: requests that arrive while earlier ones are being
//! stored and published wait a moment and then go together, in one database transaction and
//! one bus message per tenant. Under load that turns hundreds of transactions and broker
//! confirms per second into a few dozen; with one request at a time it adds nothing (a
//! request alone is committed at once).
//!
//! Each request still gets its own answer, and the same one it would get alone: idempotency
//! keys, conflicts and failures are per event ([`crate::accept::accept_many`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use sethub_app::AppContext;
use sethub_domain::TenantId;
use sethub_http::ApiError;
use tokio::sync::{mpsc, oneshot};

use crate::accept::{Accepted, accept_many};
use crate::request::PublishRequest;

/// Most requests committed together.
const MAX_GROUP: usize = 500;

struct Pending {
    tenant: TenantId,
    request: PublishRequest,
    key: Option<String>,
    reply: oneshot::Sender<Result<Accepted, ApiError>>,
    /// The request's trace: a group's bus message continues its first request's.
    traceparent: Option<String>,
}

/// The committer of one worker; its task starts with the first request.
#[derive(Default)]
pub struct Committer {
    tx: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl Committer {
    /// Stores and publishes one event with whatever else is waiting.
    pub async fn accept(
        &self,
        ctx: &AppContext,
        tenant: TenantId,
        request: PublishRequest,
        key: Option<String>,
    ) -> Result<Accepted, ApiError> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(ctx.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        tx.send(Pending {
            tenant,
            request,
            key,
            reply,
            traceparent: sethub_telemetry::trace::current_traceparent(),
        })
        .map_err(|_| ApiError::unavailable("the ingest committer has stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::unavailable("the ingest committer dropped the request"))?
    }
}

async fn run(ctx: AppContext, mut rx: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let mut by_tenant: HashMap<TenantId, Vec<Pending>> = HashMap::new();
        for p in group {
            by_tenant.entry(p.tenant).or_default().push(p);
        }
        let commits = by_tenant.into_iter().map(|(tenant, pending)| {
            let ctx = &ctx;
            async move {
                let traceparent = pending.first().and_then(|p| p.traceparent.clone());
                let mut replies = Vec::with_capacity(pending.len());
                let mut requests = Vec::with_capacity(pending.len());
                for p in pending {
                    replies.push(p.reply);
                    requests.push((p.request, p.key));
                }
                let results = sethub_telemetry::trace::within(
                    traceparent,
                    accept_many(ctx, tenant, requests),
                )
                .await;
                for (reply, result) in replies.into_iter().zip(results) {
                    // The client may have gone: its event is stored and published anyway.
                    let _ = reply.send(result);
                }
            }
        });
        futures_util::future::join_all(commits).await;
    }
}
