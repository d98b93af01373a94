//! Keeps this process's claim on the deliveries it holds in memory alive. A delivery being
//! pushed, waiting in the dispatcher's timer or queued in its lane behind a slow receiver is
//! still `pending` in the store; without this, once overdue by `push.orphan_after_secs` (or
//! once its claim's lease ends) another fan-out process's recovery sweep or retry scheduler
//! would take it and push it a second time while its owner is alive and working on it.
//!
//! Every quarter of `push.orphan_after_secs` it renews what it holds, one statement per
//! tenant holding deliveries (per 500 of them), and the statement writes only the rows within
//! half that time of being taken (`Deliveries::renew`): a delivery pushed within it, the
//! common case, is never written. When the process dies the renewals stop, and its
//! deliveries are taken over within `push.orphan_after_secs` plus a sweep interval, as before.

use std::time::Duration;

use chrono::Utc;
use sethub_app::AppContext;

use crate::ownership::Ownership;

/// How often the claims are renewed, and how near its end a claim is renewed: a quarter and
/// half of `orphan_after`.
pub fn periods(orphan_after: Duration) -> (Duration, chrono::Duration) {
    let every = (orphan_after / 4).max(Duration::from_millis(100));
    let margin = chrono::Duration::from_std(orphan_after / 2).unwrap_or(chrono::Duration::zero());
    (every, margin)
}

pub async fn run(ctx: AppContext, ownership: Ownership) {
    let (every, margin) = periods(Duration::from_secs(ctx.config.push.orphan_after_secs));
    loop {
        // A periodic task, not a wait for a condition.
        tokio::time::sleep(every).await;
        let now = Utc::now();
        for (tenant, ids) in ownership.held() {
            match ctx
                .store
                .scope(tenant)
                .deliveries()
                .renew(&ids, now - margin, now + margin)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::debug!(%tenant, deliveries = n, "renewed claims held in memory"),
                Err(e) => tracing::warn!(%tenant, error = %e,
                    "cannot renew the claims of deliveries held in memory; another fan-out may push them too"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_renewed_well_before_another_process_may_take_them() {
        let (every, margin) = periods(Duration::from_secs(60));
        assert_eq!(every, Duration::from_secs(15));
        assert_eq!(margin, chrono::Duration::seconds(30));
        // A row renewed once it is `margin` old is at most `margin + every` old (45 s) when
        // the next renewal comes: never the 60 s that makes it overdue.
        assert!(
            margin + chrono::Duration::from_std(every).unwrap() < chrono::Duration::seconds(60)
        );
        let (every, _) = periods(Duration::ZERO);
        assert_eq!(every, Duration::from_millis(100), "never a busy loop");
    }
}
