//! Keeps the query planner's statistics current: every `database.analyze_interval_secs`, the
//! tables whose rows changed by more than 1,000 plus 5 % of their live rows since their last
//! analysis are analysed (`Store::analyze_stale`; one fan-out process at a time does it).
//!
//! PostgreSQL's autovacuum analyses such tables by itself — when it is on. Without it (it is
//! off on some CI machines, and lags behind a table filled in seconds), the planner keeps
//! planning a full poll queue or a grown deliveries table as the empty table it was at its last
//! analysis, and a drain that reads an index page at a time reads the table instead. Vacuum is
//! not something the services can lend themselves: PostgreSQL runs it only outside a
//! transaction, as the owner, so with autovacuum off this warns once at start.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;

/// Changes a table takes before it is analysed again, beyond its fraction.
const MIN_CHANGES: u64 = 1_000;
/// The share of a table's live rows that must have changed since its last analysis.
const FRACTION: f64 = 0.05;

pub async fn run(engine: Arc<Engine>) {
    let every = engine.ctx.config.database.analyze_interval_secs;
    let store = &engine.ctx.store;
    match store.autovacuum().await {
        Ok(Some(false)) => tracing::warn!(
            "PostgreSQL's autovacuum is off: updated and deleted rows are never reclaimed and \
             the hub slows as they accumulate; set `autovacuum = on` in postgresql.conf (fan-out \
             still refreshes planner statistics every `database.analyze_interval_secs`)"
        ),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "cannot read the autovacuum setting"),
    }
    if every == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.analyze_stale(MIN_CHANGES, FRACTION).await {
            Ok(tables) if !tables.is_empty() => {
                tracing::info!(?tables, "refreshed the planner's statistics");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot refresh planner statistics; trying again later")
            }
        }
    }
}
