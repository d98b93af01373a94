//! Which deliveries this process works on: each is **owned** from its dispatch to its final
//! outcome, or until it is parked in the database, so the recovery sweep and the retry
//! scheduler never take it twice. The dispatcher takes ownership ([`Ownership::claim`]); the
//! recorder gives it back once the outcome is written ([`Ownership::release`]), not before.
//!
//! Counted per tenant too, so the dispatcher can bound what one tenant holds in memory
//! (`push.max_backlog_per_tenant`). A delivery being parked (its job dropped, its wait being
//! written) stays owned but no longer counts as work. Built first and shared by the dispatcher and the
//! recorder, neither of which knows the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sethub_domain::{DeliveryId, TenantId};
use tokio::sync::Notify;

#[derive(Default)]
struct Owned {
    /// Each owned delivery's tenant, and whether it is only being parked (its job is gone:
    /// the id waits for its outcome to be written).
    ids: HashMap<DeliveryId, (TenantId, bool)>,
    /// Deliveries each tenant has to push (not those being parked).
    per_tenant: HashMap<TenantId, usize>,
    parking: usize,
}

impl Owned {
    fn forget(&mut self, tenant: TenantId) {
        if let Some(n) = self.per_tenant.get_mut(&tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_tenant.remove(&tenant);
            }
        }
    }
}

struct Inner {
    owned: Mutex<Owned>,
    /// Signalled when a delivery is released (room for more work).
    room: Notify,
    /// `push_in_memory` and `push_in_memory_peak`.
    gauges: Option<(prometheus::IntGauge, prometheus::IntGauge)>,
}

/// The owned deliveries. Cheap to clone (shared).
#[derive(Clone)]
pub struct Ownership {
    inner: Arc<Inner>,
}

impl Ownership {
    /// Publishes how many deliveries are owned on `in_memory` and the most ever on `peak`.
    pub fn new(gauges: Option<(prometheus::IntGauge, prometheus::IntGauge)>) -> Self {
        Self {
            inner: Arc::new(Inner {
                owned: Mutex::default(),
                room: Notify::new(),
                gauges,
            }),
        }
    }

    fn gauge(&self, owned: usize) {
        if let Some((now, peak)) = &self.inner.gauges {
            let n = i64::try_from(owned).unwrap_or(i64::MAX);
            now.set(n);
            if n > peak.get() {
                peak.set(n);
            }
        }
    }

    /// Takes the delivery on; `false` if it is owned already.
    pub fn claim(&self, id: DeliveryId, tenant: TenantId) -> bool {
        let Ok(mut o) = self.inner.owned.lock() else {
            return false;
        };
        if o.ids.contains_key(&id) {
            return false;
        }
        o.ids.insert(id, (tenant, false));
        *o.per_tenant.entry(tenant).or_default() += 1;
        self.gauge(o.ids.len() - o.parking);
        true
    }

    /// The delivery is being parked: still owned until that is written, but no longer work
    /// to do here (not counted by [`Ownership::len`] and [`Ownership::of_tenant`]).
    pub fn parking(&self, id: DeliveryId) {
        let Ok(mut o) = self.inner.owned.lock() else {
            return;
        };
        if let Some((tenant, parking)) = o.ids.get_mut(&id)
            && !*parking
        {
            *parking = true;
            let tenant = *tenant;
            o.parking += 1;
            o.forget(tenant);
            self.gauge(o.ids.len() - o.parking);
        }
        drop(o);
        self.inner.room.notify_waiters();
    }

    /// The delivery reached its final outcome here, or was handed back to the store.
    pub fn release(&self, id: DeliveryId) {
        if let Ok(mut o) = self.inner.owned.lock() {
            match o.ids.remove(&id) {
                Some((_, true)) => o.parking -= 1,
                Some((tenant, false)) => o.forget(tenant),
                None => {}
            }
            self.gauge(o.ids.len() - o.parking);
        }
        self.inner.room.notify_waiters();
    }

    /// Whether this process works on the delivery.
    pub fn owns(&self, id: DeliveryId) -> bool {
        self.inner
            .owned
            .lock()
            .is_ok_and(|o| o.ids.contains_key(&id))
    }

    /// How many owned deliveries are work to do here (queued, in flight, waiting in the
    /// timer or for their outcome to be written; not those being parked). This is what
    /// `sethub_push_in_memory` shows: a delivery being parked holds only its id.
    pub fn len(&self) -> usize {
        self.inner
            .owned
            .lock()
            .map_or(0, |o| o.ids.len() - o.parking)
    }

    /// The owned deliveries that are work to do here (not those being parked: their wait
    /// is being written), by tenant: what [`crate::renew`] keeps claimed.
    pub fn held(&self) -> HashMap<TenantId, Vec<DeliveryId>> {
        let mut out: HashMap<TenantId, Vec<DeliveryId>> = HashMap::new();
        if let Ok(o) = self.inner.owned.lock() {
            for (id, (tenant, parking)) in &o.ids {
                if !*parking {
                    out.entry(*tenant).or_default().push(*id);
                }
            }
        }
        out
    }

    /// How many of those are the tenant's.
    pub fn of_tenant(&self, tenant: TenantId) -> usize {
        self.inner
            .owned
            .lock()
            .map_or(0, |o| o.per_tenant.get(&tenant).copied().unwrap_or(0))
    }

    /// Wakes whoever waits for a release (the dispatcher is stopping).
    pub fn wake(&self) {
        self.inner.room.notify_waiters();
    }

    /// Resolves at the next release (create it before looking at the counts).
    pub fn released(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.room.notified()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_counted_per_tenant_and_claimed_once() {
        let o = Ownership::new(None);
        let (a, b) = (TenantId::new(), TenantId::new());
        let (x, y, z) = (DeliveryId::new(), DeliveryId::new(), DeliveryId::new());
        assert!(o.claim(x, a));
        assert!(!o.claim(x, a), "a second claim of one delivery");
        assert!(o.claim(y, a));
        assert!(o.claim(z, b));
        assert_eq!((o.len(), o.of_tenant(a), o.of_tenant(b)), (3, 2, 1));
        o.release(x);
        o.release(x);
        assert_eq!((o.len(), o.of_tenant(a)), (2, 1));
        assert!(!o.owns(x) && o.owns(y));
        o.parking(y);
        o.parking(y);
        assert_eq!(
            (o.len(), o.of_tenant(a)),
            (1, 0),
            "being parked: no longer work"
        );
        assert!(o.owns(y), "still owned until written");
        assert_eq!(
            o.held(),
            HashMap::from([(b, vec![z])]),
            "held: the work to do, not what is being parked"
        );
        assert!(!o.claim(y, a));
        o.release(y);
        assert_eq!(o.len(), 1);
    }
}
