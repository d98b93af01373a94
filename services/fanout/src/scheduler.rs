//! When each tenant's earliest parked delivery is due, as far as this process knows: noted
//! by whoever parks one (`retries::park`) or sees one (the recovery sweep), read by the
//! retry scheduler's loop (`retries::run`).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sethub_domain::TenantId;
use tokio::sync::Notify;

/// When each tenant's earliest parked delivery is due, as far as this process knows.
#[derive(Default)]
pub struct Scheduler {
    due: Mutex<HashMap<TenantId, DateTime<Utc>>>,
    pub(crate) wake: Notify,
    /// Held from a look at the dispatcher's room to the submission of what it claimed, so
    /// two claimers (the scheduler, the sweep, a release) never both fill the same room.
    pub(crate) admission: tokio::sync::Mutex<()>,
}

impl Scheduler {
    /// The tenant has a parked delivery due at `at`.
    pub fn note(&self, tenant: TenantId, at: DateTime<Utc>) {
        let Ok(mut due) = self.due.lock() else { return };
        let sooner = due.get(&tenant).is_none_or(|known| at < *known);
        if sooner {
            due.insert(tenant, at);
            drop(due);
            self.wake.notify_one();
        }
    }

    /// Takes the tenants due by `now`; returns them and when the next one is due.
    pub(crate) fn take_due(&self, now: DateTime<Utc>) -> (Vec<TenantId>, Option<DateTime<Utc>>) {
        let Ok(mut due) = self.due.lock() else {
            return (Vec::new(), None);
        };
        let ready: Vec<TenantId> = due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in &ready {
            due.remove(t);
        }
        (ready, due.values().min().copied())
    }
}
