//! The `fanout` service: consumes accepted events, matches streams, signs one SET per stream,
//! stores the deliveries and pushes them with retries (RFC 8935); acts on the control
//! messages of `manage` (verification, stream-updated). Its routes are mounted by
//! `sethub fanout` (alone) or `sethub all`; its background work is started by [`start`].
//!
//! How the pieces fit: `pipeline` (events queue) and `control` (control queue) make
//! deliveries and hand push ones to `dispatch` (lanes, per-tenant and per-endpoint caps,
//! breakers, the timer of short waits), which decides when each is pushed and asks a
//! [`dispatch::Pusher`] to push it: `push::worker`'s HTTP pusher makes one attempt and reports
//! the outcome to `recorder`, which writes outcomes and the delivery log in batches; `retries`
//! keeps waiting deliveries in the database and brings them back when due; `sweep` recovers
//! pending deliveries nobody works on, and `renew` keeps this process's claims on what it holds
//! in memory alive so no other process's sweep takes them.
//!
//! The modules import each other without a cycle. [`start`] builds, in order:
//!
//! 1. the **ownership** handle (`ownership`: which deliveries this process works on);
//! 2. the **recorder**, given the ownership (it lets a delivery go once its outcome is
//!    written);
//! 3. the engine's **core** (`engine::Core`: context, stream cache, recorder, retry
//!    scheduler, metrics, push client);
//! 4. the **pusher** (`push::worker::HttpPusher`), given the core and the ownership;
//! 5. the **dispatcher**, given the pusher as a trait object and the ownership;
//! 6. the **engine** (the core and the dispatcher), given to the consumers, the retry
//!    scheduler and the sweep.
//!
//! `dispatch` imports only `ownership` and `metrics`, so its scheduling is tested in-crate
//! with a fake pusher (`dispatch/tests.rs`), without a backend.

mod cache;
mod control;
mod dispatch;
mod engine;
pub mod metrics;
mod ownership;
mod pipeline;
pub mod poll;
pub mod push;
mod recorder;
mod renew;
mod retries;
pub mod retry;
mod scheduler;
mod stats;
mod stored;
use sethub_app::sets;
mod sweep;

use std::sync::Arc;

use actix_web::web;
use anyhow::Context;
use sethub_app::AppContext;

/// Registers this service's routes (the RFC 8936 poll endpoint). The health routes are
/// mounted by the server itself.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(poll::Waiting::default()))
        .route("/t/{slug}/ssf/poll/{stream_id}", web::post().to(poll::poll));
}

/// The background work of a running fan-out service; stopped when dropped, or gracefully
/// by [`Running::shutdown`].
pub struct Running {
    engine: Arc<engine::Engine>,
    /// The consumers of the events and control queues: they stop at the shutdown signal.
    consumers: Vec<tokio::task::JoinHandle<()>>,
    /// What takes work from the store (the retry scheduler, the recovery sweep).
    takers: Vec<tokio::task::JoinHandle<()>>,
    /// The dispatcher's timer, the recorder and the renewal of claims: they run until the end.
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in self
            .consumers
            .iter()
            .chain(&self.takers)
            .chain(&self.workers)
        {
            t.abort();
        }
    }
}

impl Running {
    /// Stops gracefully by `deadline`, once the process's shutdown has begun
    /// (`AppContext::shutdown`, which stops the consumers): takes no more work from the
    /// store, lets the bus messages being fanned out finish (a message still unsettled at
    /// the deadline goes back to its queue when the bus closes), and lets the pushes queued
    /// or in flight finish and their outcomes be written. What is left at the deadline stays
    /// pending in the store, for another process's recovery sweep.
    pub async fn shutdown(mut self, deadline: tokio::time::Instant) {
        for t in self.takers.drain(..) {
            t.abort();
        }
        for c in self.consumers.drain(..) {
            let _ = tokio::time::timeout_at(deadline, c).await;
        }
        let dispatcher = &self.engine.dispatcher;
        // Queued pushes go on until there is just time left for one more attempt to end;
        // then none starts, and those started finish and record their outcomes.
        let now = tokio::time::Instant::now();
        let attempt =
            std::time::Duration::from_millis(self.engine.ctx.config.push.request_timeout_ms + 500);
        let stop_starting = deadline - attempt.min(deadline.saturating_duration_since(now) / 3);
        dispatcher
            .settle(stop_starting, dispatch::Dispatcher::backlog)
            .await;
        dispatcher.stop_starting();
        dispatcher
            .settle(deadline, dispatch::Dispatcher::unsettled_attempts)
            .await;
        let (left, cut) = (dispatcher.backlog(), dispatcher.unsettled_attempts());
        if left > 0 {
            tracing::warn!(
                deliveries = left,
                attempts_cut = cut,
                "shutdown deadline: deliveries left pending for the recovery sweep"
            );
        } else {
            tracing::info!("fan-out finished its pushes");
        }
    }
}

/// Starts fan-out's consumers, dispatcher, recorder and recovery sweep on the current tokio
/// runtime.
pub fn start(ctx: AppContext) -> anyhow::Result<Running> {
    let push = &ctx.config.push;
    let ring =
        sethub_app::streams::keyring(&ctx).context("the master keys (secrets.master_keys)")?;
    let client = sethub_app::egress::client(&ctx, sethub_app::egress::Purpose::Push)
        .context("cannot build the push HTTP client")?;
    let metrics = metrics::FanoutMetrics::new(&ctx.metrics);
    let ownership = ownership::Ownership::new(Some((
        metrics.in_memory.clone(),
        metrics.in_memory_peak.clone(),
    )));
    let (recorder, recorder_task) = recorder::Recorder::new(ctx.clone(), ownership.clone());
    let renewal = renew::run(ctx.clone(), ownership.clone());
    let limits = dispatch::Limits::from(push);
    let core = Arc::new(engine::Core {
        metrics: metrics.clone(),
        ring,
        cache: cache::StreamCache::default(),
        recorder,
        client,
        signing_keys: Default::default(),
        scheduler: Default::default(),
        ctx,
    });
    let pusher = Arc::new(push::worker::HttpPusher::new(
        core.clone(),
        ownership.clone(),
    ));
    let (dispatcher, background) = dispatch::Dispatcher::new(limits, pusher, ownership, metrics);
    let engine = Arc::new(engine::Engine {
        core,
        dispatcher: dispatcher.clone(),
    });
    Ok(Running {
        workers: vec![
            tokio::spawn(recorder_task),
            tokio::spawn(renewal),
            tokio::spawn(dispatcher.run(background)),
        ],
        consumers: vec![
            tokio::spawn(pipeline::run(engine.clone())),
            tokio::spawn(control::run(engine.clone())),
        ],
        takers: vec![
            tokio::spawn(retries::run(engine.clone())),
            tokio::spawn(stats::run(engine.clone())),
            tokio::spawn(sweep::run(engine.clone())),
        ],
        engine,
    })
}
