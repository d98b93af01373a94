//! Graceful shutdown on SIGTERM or Ctrl-C, within `server.shutdown_secs`:
//! 1. `/readyz` answers 503 `draining` for `server.drain_secs`, while requests are still
//!    served, so a load balancer stops sending new ones;
//! 2. the shutdown signal: fan-out's consumers stop taking bus messages (what they were sent
//!    and did not take goes back to the queue), waiting long polls are answered, the
//!    listener closes and requests in flight finish;
//! 3. fan-out's pushes in flight or queued finish and their outcomes are written, until the
//!    deadline; what is left stays pending for another process's recovery sweep;
//! 4. the bus connection closes, which hands every unsettled message back to its queue.

use std::time::Duration;

use actix_web::dev::ServerHandle;
use sethub_app::AppContext;
use tokio::time::Instant;

/// The stop signals, listened for from start-up on (a SIGTERM before the server runs is
/// not lost, and never kills the process outright).
pub struct Signals {
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn install() -> Self {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGTERM"))
            .ok();
        Self { term }
    }

    /// Returns when SIGTERM or SIGINT arrives.
    pub async fn recv(&mut self) {
        let term = async {
            match self.term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = term => {}
            r = tokio::signal::ctrl_c() => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// Runs the steps above; returns by the deadline.
pub async fn graceful(
    ctx: &AppContext,
    http: ServerHandle,
    fanout: Option<sethub_fanout::Running>,
) {
    let started = Instant::now();
    let cfg = &ctx.config.server;
    // Keep a little of the allowance for closing the bus and exiting.
    let deadline = started + Duration::from_secs(cfg.shutdown_secs)
        - Duration::from_millis(500).min(Duration::from_secs(cfg.shutdown_secs) / 4);
    tracing::info!(
        drain_secs = cfg.drain_secs,
        shutdown_secs = cfg.shutdown_secs,
        "shutting down: readiness answers 503"
    );
    ctx.readiness.drain();
    // The drain period is a fixed span the operator chose (load balancers see the 503
    // meanwhile), not a wait standing in for a condition.
    tokio::time::sleep_until((started + Duration::from_secs(cfg.drain_secs)).min(deadline)).await;
    ctx.shutdown.begin();
    let stop_http = http.stop(true);
    let finish = async {
        if let Some(f) = fanout {
            f.shutdown(deadline).await;
        }
    };
    if tokio::time::timeout_at(deadline, async { tokio::join!(stop_http, finish) })
        .await
        .is_err()
    {
        tracing::warn!("shutdown deadline reached with work in flight; it is handed back");
    }
    let close_by = (Instant::now() + Duration::from_secs(1))
        .min(started + Duration::from_secs(cfg.shutdown_secs));
    let _ = tokio::time::timeout_at(close_by, ctx.bus.close()).await;
    tracing::info!(
        took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "shut down"
    );
}
