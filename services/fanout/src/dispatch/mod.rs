//! Push dispatch: per-stream lanes, per-tenant and per-endpoint caps, circuit breakers, and a
//! timer for short waits. It decides *when* a SET is pushed; *how* is a [`Pusher`]'s (the
//! HTTP push worker, `push::worker`, in the service; a fake in the tests), so this module
//! knows nothing of the engine, the store or the recorder.
//!
//! - Each stream has a **lane** with two queues, first attempts and retries, served
//!   alternately when both have work, so a burst of retries never starves new SETs and new
//!   SETs never starve retries. A lane's task runs while it has work and exits when idle. An
//!   **ordered** job (held SETs released, a redrive) holds its lane until its attempt is
//!   over, so each subject's SETs arrive in order.
//! - **Tenants are served fairly.** A tenant has at most `push.max_in_flight_per_tenant`
//!   pushes in flight, so one tenant's backlog can never take every slot of an endpoint its
//!   receivers share with other tenants' receivers; each lane waits for one slot at a time
//!   and the slots are handed out first come first served, so the lanes that wait take turns.
//!   A tenant holds at most `push.max_backlog_per_tenant` deliveries in memory: a first
//!   attempt past that is **overflowed**, parked in the database due at once (its token is
//!   dropped) and claimed back by the retry scheduler as the tenant's room frees up, so one
//!   tenant's burst never fills the process's backlog (`push.max_backlog`), which would stop
//!   every tenant's new events. The retry scheduler and the sweep claim at most a tenant's
//!   room ([`Dispatcher::room_for`]).
//! - Each endpoint (`scheme://host:port`) has a **semaphore** capping the requests in flight
//!   to it (`push.max_in_flight_per_endpoint`), and each (tenant, endpoint) a **circuit
//!   breaker** (`breaker.rs`): after `push.breaker_failures` consecutive failures it opens
//!   for `push.breaker_cooldown_ms`; SETs due meanwhile wait without an attempt, as long as a
//!   failed attempt would have made them wait and at least until the probe. A slow or dead
//!   receiver thus holds only its own lanes; the others keep their pace.
//! - The **timer** holds short waits (an open breaker, a spent rate limit) until they are
//!   due (a heap and one sleeping task): at most `push.max_backlog` of them, none longer than
//!   `push.max_wait_in_memory_ms`. Longer waits, and every retry after a failed attempt, wait
//!   in the database ([`Pusher::park`]; `retries.rs`).
//! - Every delivery this process works on is **owned** (`ownership.rs`) from dispatch to its
//!   final outcome or until it is parked, so the recovery sweep never dispatches it twice.
//!   How many are owned is `sethub_push_in_memory` (and its peak
//!   `sethub_push_in_memory_peak`): at most `2 × push.max_backlog` plus the deliveries of the
//!   event messages being fanned out when the backlog filled.

mod breaker;
mod job;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sethub_domain::{DeliveryId, StreamId, TenantId};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

pub use breaker::{Breaker, Gate};
use job::Overflowed;
pub use job::{BoxFuture, FollowUp, Job, Limits, Prepared, Pusher, Ready, Sent};

use crate::metrics::FanoutMetrics;
use crate::ownership::Ownership;

#[derive(Default)]
struct LaneQueues {
    fresh: VecDeque<Job>,
    retry: VecDeque<Job>,
    running: bool,
    prefer_retry: bool,
}

impl LaneQueues {
    fn pop(&mut self) -> Option<Job> {
        let job = if self.prefer_retry {
            self.retry.pop_front().or_else(|| self.fresh.pop_front())
        } else {
            self.fresh.pop_front().or_else(|| self.retry.pop_front())
        };
        self.prefer_retry = !self.prefer_retry;
        job
    }
}

#[derive(Default)]
struct Lane {
    queues: Mutex<LaneQueues>,
}

struct Inner {
    pusher: Arc<dyn Pusher>,
    ownership: Ownership,
    metrics: FanoutMetrics,
    limits: Limits,
    lanes: Mutex<HashMap<StreamId, Arc<Lane>>>,
    /// Owned deliveries waiting in the timer.
    scheduled: AtomicUsize,
    endpoints: Mutex<HashMap<String, Arc<Semaphore>>>,
    tenants: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
    breakers: Mutex<HashMap<(TenantId, String), Arc<Breaker>>>,
    timer: mpsc::UnboundedSender<(Instant, Job)>,
    overflow: mpsc::UnboundedSender<Overflowed>,
    /// Shutting down: no new push attempt starts ([`Dispatcher::stop_starting`]).
    stopping: AtomicBool,
    /// Deliveries whose push attempt started, until this process lets them go (their outcome
    /// written, or parked) or holds them again in their lane.
    started: Mutex<HashSet<DeliveryId>>,
}

/// The dispatcher. Cheap to clone (shared).
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

/// The receiving ends of the dispatcher's background work (see [`Dispatcher::run`]).
pub struct Background {
    timer: mpsc::UnboundedReceiver<(Instant, Job)>,
    overflow: mpsc::UnboundedReceiver<Overflowed>,
}

/// The next whole second after `wait` from now: parked waits are rounded up to it, so those
/// of many SETs are written in a few statements (one per instant).
fn due_after(wait: Duration) -> DateTime<Utc> {
    let due = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
    chrono::DurationRound::duration_trunc(due, chrono::Duration::seconds(1))
        .map_or(due, |s| s + chrono::Duration::seconds(1))
}

impl Dispatcher {
    /// A dispatcher pushing with `pusher`, owning through `ownership`; run its background
    /// work with [`Dispatcher::run`].
    pub fn new(
        limits: Limits,
        pusher: Arc<dyn Pusher>,
        ownership: Ownership,
        metrics: FanoutMetrics,
    ) -> (Self, Background) {
        let (timer, timer_rx) = mpsc::unbounded_channel();
        let (overflow, overflow_rx) = mpsc::unbounded_channel();
        let inner = Inner {
            pusher,
            ownership,
            metrics,
            limits,
            lanes: Mutex::default(),
            scheduled: AtomicUsize::new(0),
            endpoints: Mutex::default(),
            tenants: Mutex::default(),
            breakers: Mutex::default(),
            timer,
            overflow,
            stopping: AtomicBool::new(false),
            started: Mutex::default(),
        };
        let background = Background {
            timer: timer_rx,
            overflow: overflow_rx,
        };
        (
            Self {
                inner: Arc::new(inner),
            },
            background,
        )
    }

    /// Runs the timer and the overflow (until the dispatcher is dropped).
    pub async fn run(self, background: Background) {
        let Background { timer, overflow } = background;
        tokio::join!(self.clone().run_timer(timer), self.run_overflow(overflow));
    }

    /// Whether this process is working on the delivery.
    pub fn owns(&self, id: DeliveryId) -> bool {
        self.inner.ownership.owns(id)
    }

    /// The delivery reached its final outcome here, or was handed back to the store (the
    /// pipeline's written-once outcomes, stored with their rows).
    pub fn release(&self, id: DeliveryId) {
        self.inner.ownership.release(id);
    }

    /// Shutting down: no new push attempt starts; the deliveries not started stay pending in
    /// the store (another process's recovery sweep takes them), while the attempts already
    /// started finish and record their outcomes ([`Dispatcher::unsettled_attempts`]).
    pub fn stop_starting(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.ownership.wake();
    }

    fn stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// Push attempts started and not yet settled (outcome written, or parked).
    pub fn unsettled_attempts(&self) -> usize {
        let Ok(mut started) = self.inner.started.lock() else {
            return 0;
        };
        started.retain(|id| self.inner.ownership.owns(*id));
        started.len()
    }

    /// Waits until `count(self)` is 0 or `until`. A release wakes the wait; a delivery moving
    /// to the retry timer does not, so the wait is also cut every 100 ms.
    pub async fn settle(&self, until: Instant, count: impl Fn(&Self) -> usize) {
        loop {
            let released = self.inner.ownership.released();
            if count(self) == 0 || Instant::now() >= until {
                return;
            }
            let cut = (Instant::now() + Duration::from_millis(100)).min(until);
            let _ = tokio::time::timeout_at(cut, released).await;
        }
    }

    /// Waits until this process no longer owns `id` (its outcome is written, or it is
    /// parked).
    pub async fn wait_released(&self, id: DeliveryId) {
        loop {
            let released = self.inner.ownership.released();
            if !self.owns(id) {
                return;
            }
            released.await;
        }
    }

    /// How many deliveries this process has to push now (queued or in flight; not those
    /// waiting in the timer, so a failing receiver's waits never stop new work for the
    /// others).
    pub fn backlog(&self) -> usize {
        self.inner
            .ownership
            .len()
            .saturating_sub(self.inner.scheduled.load(Ordering::Relaxed))
    }

    /// How many more deliveries of the tenant this process may take on now: the room left
    /// in the backlog, and in the tenant's share of it.
    pub fn room_for(&self, tenant: TenantId) -> usize {
        let limits = &self.inner.limits;
        let all = limits.max_backlog.saturating_sub(self.backlog());
        let own = limits
            .max_backlog_per_tenant
            .saturating_sub(self.inner.ownership.of_tenant(tenant));
        all.min(own)
    }

    /// When every circuit breaker of the tenant is open (or probing): the soonest one lets an
    /// attempt through. Its due parked SETs need not be claimed before then: each would meet
    /// an open breaker and be parked again without an attempt (a claim and a park per SET
    /// every step of its retry schedule, which is how a failing tenant's retries took the
    /// database and fan-out from everyone). `None` when the tenant has a breaker that lets
    /// attempts through, or none yet.
    pub fn tenant_blocked_until(&self, tenant: TenantId) -> Option<Instant> {
        let breakers = self.inner.breakers.lock().ok()?;
        let mut soonest: Option<Instant> = None;
        for ((t, _), breaker) in breakers.iter() {
            if *t != tenant {
                continue;
            }
            let until = breaker.blocked_until()?;
            soonest = Some(soonest.map_or(until, |s| s.min(until)));
        }
        soonest
    }

    /// Waits until this process holds fewer than `limit` deliveries: fan-out takes no new
    /// work from the bus meanwhile, so a burst waits in RabbitMQ rather than in memory.
    pub async fn wait_for_room(&self, limit: usize) {
        loop {
            let released = self.inner.ownership.released();
            if self.backlog() < limit {
                return;
            }
            released.await;
        }
    }

    /// Waits until the tenant may take on another delivery ([`Dispatcher::room_for`]).
    pub async fn wait_for_tenant_room(&self, tenant: TenantId) {
        loop {
            let released = self.inner.ownership.released();
            if self.room_for(tenant) > 0 {
                return;
            }
            released.await;
        }
    }

    /// Takes on a delivery due now (a first attempt, or one claimed from the store); ignored
    /// (`false`) if this process already owns it. Past the tenant's share of the backlog an
    /// unordered job is overflowed: parked in the database, due at once, for the retry
    /// scheduler to claim when the tenant has room.
    pub fn submit(&self, mut job: Job, retry_class: bool) -> bool {
        if !self.inner.ownership.claim(job.id, job.tenant) {
            return false;
        }
        let over =
            self.inner.ownership.of_tenant(job.tenant) > self.inner.limits.max_backlog_per_tenant;
        if over && !job.ordered {
            self.inner
                .metrics
                .deliveries
                .with_label_values(&["overflow"])
                .inc();
            // Only the ids wait for their parking; the tokens are dropped now.
            self.inner.ownership.parking(job.id);
            if let Some(gate) = &mut job.stored {
                gate.pass();
            }
            if self
                .inner
                .overflow
                .send((job.tenant, job.id, job.stored))
                .is_err()
            {
                tracing::warn!("the dispatcher's overflow has stopped");
            }
            return true;
        }
        self.enqueue(job, retry_class);
        true
    }

    /// Puts an owned delivery back in its lane now (a re-signed SET, a due wait).
    pub fn requeue(&self, job: Job) {
        self.enqueue(job, true);
    }

    /// An owned delivery cannot be pushed before `at`: it waits in the timer if the wait is
    /// short and the timer has room, else in the database (parked, and let go).
    async fn wait(&self, mut job: Job, at: Instant) {
        let inner = &self.inner;
        // Not answered before its row is stored: the pipeline need not wait for it.
        if let Some(gate) = &mut job.stored {
            gate.pass();
        }
        let wait = at.saturating_duration_since(Instant::now());
        let reserved = wait <= inner.limits.max_wait_in_memory
            && inner
                .scheduled
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < inner.limits.max_backlog).then_some(n + 1)
                })
                .is_ok();
        if !reserved {
            // Pushed before its row was committed: park it once the row is there.
            if let Some(gate) = &job.stored
                && !gate.stored().await
            {
                inner.ownership.release(job.id);
                return;
            }
            inner.ownership.parking(job.id);
            inner.pusher.park(job.tenant, job.id, due_after(wait)).await;
            return;
        }
        if inner.timer.send((at, job)).is_err() {
            tracing::warn!("the retry timer has stopped");
        }
    }

    fn enqueue(&self, job: Job, retry_class: bool) {
        let lane = {
            let Ok(mut lanes) = self.inner.lanes.lock() else {
                return;
            };
            lanes.entry(job.stream).or_default().clone()
        };
        let stream = job.stream;
        let start = {
            let Ok(mut q) = lane.queues.lock() else {
                return;
            };
            if retry_class {
                q.retry.push_back(job);
            } else {
                q.fresh.push_back(job);
            }
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            let this = self.clone();
            tokio::spawn(async move { this.run_lane(stream, lane).await });
        }
    }

    fn slots<K: std::hash::Hash + Eq>(
        map: &Mutex<HashMap<K, Arc<Semaphore>>>,
        key: K,
        permits: usize,
    ) -> Arc<Semaphore> {
        let Ok(mut map) = map.lock() else {
            return Arc::new(Semaphore::new(permits));
        };
        map.entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(permits)))
            .clone()
    }

    fn breaker(&self, tenant: TenantId, endpoint: &str) -> Arc<Breaker> {
        let Ok(mut map) = self.inner.breakers.lock() else {
            return Arc::default();
        };
        map.entry((tenant, endpoint.to_owned()))
            .or_default()
            .clone()
    }

    async fn run_lane(self, stream: StreamId, lane: Arc<Lane>) {
        let limits = self.inner.limits.clone();
        // An ordered job to try again before anything else in the lane.
        let mut next: Option<Job> = None;
        loop {
            let job = match next.take() {
                Some(job) => job,
                None => {
                    let Ok(mut q) = lane.queues.lock() else {
                        return;
                    };
                    match q.pop() {
                        Some(job) => job,
                        None => {
                            q.running = false;
                            break;
                        }
                    }
                }
            };
            let ready = match self.inner.pusher.prepare(&job).await {
                Prepared::Go(ready) => ready,
                Prepared::Done => continue,
                Prepared::Later(at) => {
                    self.wait_in_lane(job, at, &mut next).await;
                    continue;
                }
            };
            let breaker = self.breaker(job.tenant, &ready.endpoint);
            if let Gate::WaitUntil(until) = breaker.gate() {
                // An open breaker: the SET waits as long as a failed attempt would have made
                // it wait (its schedule), and at least until the breaker's probe; so a
                // failing receiver's SETs come back at the pace of their schedule, not of the
                // breaker.
                let at = ready
                    .backoff
                    .map_or(until, |d| until.max(Instant::now() + d));
                self.inner
                    .metrics
                    .deliveries
                    .with_label_values(&["breaker_open"])
                    .inc();
                self.wait_in_lane(job, at, &mut next).await;
                continue;
            }
            // The tenant's slot first: a lane waiting for the endpoint holds one, so no
            // tenant has more than its share of the endpoint's slots or of its waiters.
            let tenant_slots = Self::slots(
                &self.inner.tenants,
                job.tenant,
                limits.max_in_flight_per_tenant,
            );
            let Ok(tenant_slot) = tenant_slots.acquire_owned().await else {
                return;
            };
            let endpoint_slots = Self::slots(
                &self.inner.endpoints,
                ready.endpoint.clone(),
                limits.max_in_flight_per_endpoint,
            );
            let Ok(endpoint_slot) = endpoint_slots.acquire_owned().await else {
                return;
            };
            if self.stopping() {
                // Left pending in the store, for another process.
                return;
            }
            let (ordered, id) = (job.ordered, job.id);
            if let Ok(mut started) = self.inner.started.lock() {
                started.insert(id);
            }
            let this = self.clone();
            let (failures, cooldown) = (limits.breaker_failures, limits.breaker_cooldown);
            let attempt = tokio::spawn(async move {
                let sent = (ready.push)(job).await;
                drop((endpoint_slot, tenant_slot));
                if sent.failed {
                    breaker.failure(failures, cooldown);
                } else {
                    breaker.success();
                }
                let follow = sent.settle.await;
                if let Some(job) = follow.again {
                    this.requeue(job);
                }
                if let Some(job) = follow.new {
                    this.submit(job, true);
                }
                follow.in_order
            });
            // An ordered job holds the lane until its attempt is over, so the next one (the
            // same subject's next SET, perhaps) cannot overtake it; and until it is settled:
            // one to retry comes back and goes again when due, before the rest.
            if ordered && let Ok(Some((at, job))) = attempt.await {
                // Held to try again: its attempt is over.
                if let Ok(mut started) = self.inner.started.lock() {
                    started.remove(&id);
                }
                tokio::time::sleep_until(at).await;
                next = Some(job);
            }
        }
        // Forget an idle lane (a new one is made on demand), unless work arrived meanwhile.
        if let Ok(mut lanes) = self.inner.lanes.lock()
            && let Some(current) = lanes.get(&stream)
            && Arc::ptr_eq(current, &lane)
            && lane
                .queues
                .lock()
                .is_ok_and(|q| !q.running && q.fresh.is_empty() && q.retry.is_empty())
        {
            lanes.remove(&stream);
        }
    }

    /// Parks overflowed deliveries, due at once (rounded up to the second).
    async fn run_overflow(self, mut rx: mpsc::UnboundedReceiver<Overflowed>) {
        while let Some((tenant, id, stored)) = rx.recv().await {
            // Pushed before its row was committed: park it once the row is there.
            if let Some(gate) = stored
                && !gate.stored().await
            {
                self.inner.ownership.release(id);
                continue;
            }
            self.inner
                .pusher
                .park(tenant, id, due_after(Duration::ZERO))
                .await;
        }
    }

    /// An ordered job (released in publication order) that cannot go now waits in its lane
    /// and goes next, so the SETs behind it cannot overtake it; any other waits as
    /// [`Dispatcher::wait`] decides.
    async fn wait_in_lane(&self, job: Job, at: Instant, next: &mut Option<Job>) {
        if job.ordered {
            tokio::time::sleep_until(at).await;
            *next = Some(job);
        } else {
            self.wait(job, at).await;
        }
    }

    /// Runs the retry timer: holds jobs until due, then puts them back in their lanes.
    async fn run_timer(self, mut rx: mpsc::UnboundedReceiver<(Instant, Job)>) {
        let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
        let mut jobs: HashMap<u64, Job> = HashMap::new();
        let mut seq = 0u64;
        loop {
            let next = heap.peek().map(|Reverse((at, _))| *at);
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some((at, job)) => {
                        seq += 1;
                        heap.push(Reverse((at, seq)));
                        jobs.insert(seq, job);
                    }
                    None => return,
                },
                () = sleep => {
                    let now = Instant::now();
                    while let Some(Reverse((at, id))) = heap.peek().copied() {
                        if at > now {
                            break;
                        }
                        heap.pop();
                        if let Some(job) = jobs.remove(&id) {
                            self.inner.scheduled.fetch_sub(1, Ordering::Relaxed);
                            self.requeue(job);
                        }
                    }
                }
            }
            self.inner
                .metrics
                .retry_scheduled
                .set(i64::try_from(jobs.len()).unwrap_or(i64::MAX));
        }
    }
}
