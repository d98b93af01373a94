//! Poll subscriptions (`sethub upstream subscribe --delivery poll`): the process serving
//! ingest long-polls each tenant's poll streams at their transmitters (RFC 8936,
//! `returnImmediately: false`, at most 100 SETs each), hands every SET to the same
//! [`super::intake`] a pushed SET takes, and acknowledges on its next poll what was accepted
//! (`ack`) or refused (`setErrs` with the RFC 8935 code); a SET that could not be handled for
//! now (`503`, `429`) is neither, so the transmitter hands it out again.
//!
//! With several ingest processes, one at a time polls each stream: the holder of its lease in
//! the state store (`PollLease`, renewed while it polls; another process takes it over within
//! 15 s of the holder dying). The others only look, every 5 s, whether it is free.
//!
//! Each poll stream has a task of its own, so a long poll open at one transmitter never holds
//! up another's; a supervisor looks every second for poll subscriptions without a task (one
//! query across tenants) and starts one, and a task ends when its subscription is removed or
//! stops being a poll subscription. A task polls again at once after SETs and after a long
//! poll the transmitter held to its end; after an empty answer or a failure it waits until
//! `ingest.upstream_poll_idle_secs` after the poll began, so a transmitter that ignores
//! `returnImmediately: false` (answers at once, empty) is polled at that pace, never in a
//! loop. A long poll left unanswered for `ingest.upstream_long_poll_secs` (the transmitter
//! waits longer) times out and the next one is made. The tasks live as long as the runtime:
//! at shutdown an open long poll is dropped with them (what it would have handed out is
//! handed out again by the transmitter, unacknowledged).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::web;
use serde_json::{Map, Value, json};
use sethub_app::AppContext;
use sethub_app::upstream_rx;
use sethub_domain::{TenantId, UpstreamId};
use sethub_state::{Key, KeyKind};
use sethub_store::{StoreError, Upstream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::jwks::JwksCache;
use crate::metrics::Counter;

/// How often the supervisor looks for poll subscriptions without a task.
const SCAN: Duration = Duration::from_secs(1);

/// What is owed to a transmitter at the next poll.
#[derive(Default)]
struct Owed {
    ack: Vec<String>,
    errs: Map<String, Value>,
}

/// Starts polling (for as long as the runtime runs).
pub fn spawn(ctx: AppContext) {
    tokio::spawn(async move {
        let cache = JwksCache::shared();
        let counter = Arc::new(Counter::default());
        let mut tasks: HashMap<UpstreamId, JoinHandle<()>> = HashMap::new();
        loop {
            tasks.retain(|_, task| !task.is_finished());
            for (tenant, id) in poll_subscriptions(&ctx).await {
                if tasks.contains_key(&id) {
                    continue;
                }
                let task = tokio::spawn(poll_stream(
                    ctx.clone(),
                    cache.clone(),
                    counter.clone(),
                    tenant,
                    id,
                ));
                tasks.insert(id, task);
            }
            tokio::time::sleep(SCAN).await;
        }
    });
}

/// Every poll subscription, across tenants (none when the store cannot be read now).
async fn poll_subscriptions(ctx: &AppContext) -> Vec<(TenantId, UpstreamId)> {
    let Ok(tenants) = ctx.store.tenants_with_upstreams().await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for tenant in tenants {
        let Ok(ups) = ctx.store.scope(tenant).upstreams().list().await else {
            continue;
        };
        out.extend(ups.into_iter().filter(is_poll).map(|up| (tenant, up.id)));
    }
    out
}

fn is_poll(up: &Upstream) -> bool {
    up.subscription
        .as_ref()
        .is_some_and(|s| s.delivery == "poll")
}

/// Long-polls one stream until its subscription is gone (re-read before every poll, so a
/// stream the checker made again is polled at its new endpoint), while this process holds the
/// stream's poll lease.
async fn poll_stream(
    ctx: AppContext,
    cache: web::Data<JwksCache>,
    counter: Arc<Counter>,
    tenant: TenantId,
    id: UpstreamId,
) {
    let idle = Duration::from_secs(ctx.config.ingest.upstream_poll_idle_secs);
    let lease = PollLease::new(&ctx, id);
    let mut due = Owed::default();
    loop {
        let began = Instant::now();
        let up = match ctx.store.scope(tenant).upstreams().get(id).await {
            Ok(up) if is_poll(&up) => up,
            Ok(_) | Err(StoreError::NotFound) => return,
            Err(e) => {
                tracing::warn!(upstream = %id, error = %e, "upstream poll: cannot read the subscription");
                tokio::time::sleep_until(began + idle).await;
                continue;
            }
        };
        if !lease.hold(&ctx).await {
            // Another ingest process polls it. What this one owed it cannot give any more:
            // the transmitter hands those SETs out again, and intake knows their `jti`s.
            due = Owed::default();
            tokio::time::sleep(LEASE_RENEW).await;
            continue;
        }
        let round = poll_round(&ctx, &cache, &counter, tenant, &up, &mut due);
        if lease.renewing(&ctx, round).await == Round::Idle {
            tokio::time::sleep_until(began + idle).await;
        }
    }
}

/// What a poll round ended with.
#[derive(Debug, PartialEq, Eq)]
enum Round {
    /// SETs handled, or a long poll held to its end: poll again at once.
    Again,
    /// An empty answer or a failure: wait until `upstream_poll_idle_secs` after it began.
    Idle,
}

/// One poll of `up` and the handling of the SETs it brought; `due` is what it owed and, after
/// it, what the next poll owes.
async fn poll_round(
    ctx: &AppContext,
    cache: &web::Data<JwksCache>,
    counter: &Arc<Counter>,
    tenant: TenantId,
    up: &Upstream,
    due: &mut Owed,
) -> Round {
    let id = up.id;
    let sets = match upstream_rx::poll_once(ctx, up, &due.ack, &due.errs).await {
        Ok(sets) => sets,
        Err(e) if e.is_poll_timeout() => {
            // Held past our wait (so the idle time has passed): the next poll at once, what
            // was owed owed again.
            tracing::debug!(upstream = %id, "upstream long poll reached its timeout");
            return Round::Idle;
        }
        Err(e) => {
            tracing::warn!(upstream = %id, error = %e, "upstream poll failed");
            // Not acknowledged: owed again at the next poll.
            return Round::Idle;
        }
    };
    // Delivered with this poll.
    *due = Owed::default();
    if sets.is_empty() {
        return Round::Idle;
    }
    let slug = match ctx.store.tenants().get(tenant).await {
        Ok(t) => t.slug,
        Err(e) => {
            // Nothing handled, nothing acknowledged: the transmitter hands them out again.
            tracing::warn!(upstream = %id, error = %e, "upstream poll: cannot read the tenant");
            return Round::Idle;
        }
    };
    for (jti, set) in sets {
        let answer = super::intake(ctx, cache, counter, &slug, set.trim()).await;
        match answer.status().as_u16() {
            202 => due.ack.push(jti),
            400 => {
                let body = answer
                    .into_body()
                    .try_into_bytes()
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .unwrap_or_else(|| json!({"err": "invalid_request"}));
                due.errs.insert(jti, body);
            }
            _ => {}
        }
    }
    Round::Again
}

/// How long a poll lease lasts without renewal: how soon another ingest process takes over
/// the polling of a stream whose poller died.
const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often the holder renews it (and how often the others look whether it is free).
const LEASE_RENEW: Duration = Duration::from_secs(5);

/// The lease on polling one upstream stream, in the state store: with several ingest
/// processes, one at a time long-polls each transmitter (two would split its SETs between
/// them and double its open requests). Renewed while polling; a holder that dies loses it
/// after [`LEASE_TTL`] and another process takes it.
struct PollLease {
    key: Key,
    /// This task's token.
    owner: String,
}

impl PollLease {
    fn new(ctx: &AppContext, id: UpstreamId) -> Self {
        Self {
            key: Key::global(
                &ctx.key_prefix,
                KeyKind::Lease,
                &format!("upstream-poll:{id}"),
            ),
            owner: uuid::Uuid::now_v7().to_string(),
        }
    }

    /// Takes or renews the lease; whether this task holds it. When the state store does not
    /// answer it polls anyway: polled twice, a transmitter hands each SET to one poll and
    /// intake drops a repeated `jti`; never polled, its SETs wait.
    async fn hold(&self, ctx: &AppContext) -> bool {
        match ctx.state.lease(&self.key, &self.owner, LEASE_TTL).await {
            Ok(held) => held,
            Err(e) => {
                tracing::debug!(error = %e, "cannot reach the upstream poll lease; polling");
                true
            }
        }
    }

    /// Runs `work` (a poll held open up to `ingest.upstream_long_poll_secs`, then its SETs'
    /// intake) while renewing the lease every [`LEASE_RENEW`].
    async fn renewing<F: std::future::Future>(&self, ctx: &AppContext, work: F) -> F::Output {
        tokio::pin!(work);
        let mut tick = tokio::time::interval_at(Instant::now() + LEASE_RENEW, LEASE_RENEW);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = tick.tick() => {
                    if !self.hold(ctx).await {
                        tracing::warn!(key = %self.key, "upstream poll lease taken over mid-poll");
                    }
                }
            }
        }
    }
}
