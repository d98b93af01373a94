//! Push dispatch: per-stream lanes, per-endpoint concurrency caps and circuit breakers, and
//! a timer for retries.
//!
//! - Each stream has a **lane** with two queues, first attempts and retries, served
//!   alternately when both have work, so a burst of retries never starves new SETs and new
//!   SETs never starve retries. A lane's task runs while it has work and exits when idle.
//! - Each endpoint (`scheme://host:port`) has a **semaphore** capping the requests in flight
//!   to it (`push.max_in_flight_per_endpoint`) and a **circuit breaker**: after
//!   `push.breaker_failures` consecutive failures it opens for `push.breaker_cooldown_ms`;
//!   SETs due meanwhile wait for it without an attempt, then one probe decides. A slow or
//!   dead receiver thus holds only its own lanes; the others keep their pace.
//! - The **timer** holds short waits (an open breaker, a spent rate limit) until they are
//!   due (a heap and one sleeping task): at most `push.max_backlog` of them, none longer than
//!   `push.max_wait_in_memory_ms`. Longer waits, and every retry after a failed attempt, wait
//!   in the database (`retries.rs`).
//! - Every delivery this process works on is **owned** (a set of ids) from dispatch to its
//!   final outcome or until it is parked in the database, so the recovery sweep never
//!   dispatches it twice. How many are owned is `sethub_push_in_memory` (and its peak
//!   `sethub_push_in_memory_peak`): at most `2 × push.max_backlog` plus the deliveries of the
//!   event messages being fanned out when the backlog filled.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sethub_domain::{DeliveryId, EventId, StreamId, TenantId};
use sethub_store::DeliveryKind;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

use crate::engine::Engine;

/// One SET to push.
#[derive(Debug, Clone)]
pub struct Job {
    pub tenant: TenantId,
    pub id: DeliveryId,
    pub stream: StreamId,
    pub event: Option<EventId>,
    pub kind: DeliveryKind,
    pub token: Arc<str>,
    /// Attempts made so far.
    pub attempts: u32,
    pub first_attempt_at: Option<DateTime<Utc>>,
    /// When the event was accepted (the start of the end-to-end latency).
    pub accepted_at: DateTime<Utc>,
    pub resigned: bool,
    /// Pushed only once the lane's previous ordered job has had its attempt (held SETs
    /// released in publish order, so each subject's SETs arrive in order).
    pub ordered: bool,
    /// Pushed before its delivery row is committed: its outcome waits for the commit
    /// (`stored.rs`). `None` for a job of a stored delivery.
    pub stored: Option<crate::stored::StoredGate>,
    /// The W3C `traceparent` of the fan-out span that made it (tracing on, fresh events
    /// only): each push attempt is a span in the event's trace.
    pub trace: Option<String>,
}

impl Job {
    /// The job of a stored delivery (found by a sweep, a redelivery or a release of held
    /// SETs); `accepted_at` is when its event was accepted, if known.
    pub fn from_stored(d: sethub_store::Delivery, accepted_at: Option<DateTime<Utc>>) -> Self {
        Self {
            tenant: d.tenant_id,
            id: d.id,
            stream: d.stream_id,
            event: d.event_id,
            kind: d.kind,
            token: d.set_token.into(),
            attempts: d.attempts,
            first_attempt_at: d.first_attempt_at,
            accepted_at: accepted_at.unwrap_or(d.created_at),
            resigned: d.resigned,
            ordered: false,
            stored: None,
            trace: None,
        }
    }
}

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

/// An endpoint's concurrency cap and circuit breaker.
pub struct Endpoint {
    permits: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// What the breaker says about an attempt now.
pub enum Gate {
    Pass,
    /// Open: come back at this instant.
    WaitUntil(Instant),
}

impl Endpoint {
    fn gate(&self) -> Gate {
        let Ok(mut b) = self.breaker.lock() else {
            return Gate::Pass;
        };
        match b.open_until {
            Some(until) if Instant::now() < until => Gate::WaitUntil(until),
            Some(until) => {
                // Half open: one probe at a time.
                if b.probing {
                    Gate::WaitUntil(until + Duration::from_millis(500))
                } else {
                    b.probing = true;
                    Gate::Pass
                }
            }
            None => Gate::Pass,
        }
    }

    /// A request reached the receiver and it answered in a way that is not a failure.
    pub fn success(&self) {
        if let Ok(mut b) = self.breaker.lock() {
            *b = Breaker::default();
        }
    }

    /// A network error, timeout or 5xx.
    pub fn failure(&self, threshold: u32, cooldown: Duration) {
        if let Ok(mut b) = self.breaker.lock() {
            b.failures = b.failures.saturating_add(1);
            b.probing = false;
            if b.failures >= threshold {
                b.open_until = Some(Instant::now() + cooldown);
            }
        }
    }
}

struct Inner {
    lanes: Mutex<HashMap<StreamId, Arc<Lane>>>,
    owned: Mutex<HashSet<DeliveryId>>,
    /// Signalled when a delivery is released (room for more work).
    room: tokio::sync::Notify,
    /// Owned deliveries waiting in the retry timer.
    scheduled: std::sync::atomic::AtomicUsize,
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
    timer: mpsc::UnboundedSender<(Instant, Job)>,
    max_in_flight: usize,
    /// Most deliveries in the timer, and the longest wait there.
    max_waiting: usize,
    max_wait: Duration,
    /// `push_in_memory` and `push_in_memory_peak`, once the engine exists.
    gauges: std::sync::OnceLock<(prometheus::IntGauge, prometheus::IntGauge)>,
    /// Set once the engine exists (the engine holds the dispatcher).
    engine: Mutex<Weak<Engine>>,
    /// Shutting down: no new push attempt starts ([`Dispatcher::stop_starting`]).
    stopping: std::sync::atomic::AtomicBool,
    /// Deliveries whose push attempt started and that are not released yet.
    started: Mutex<HashSet<DeliveryId>>,
}

/// The dispatcher. Cheap to clone (shared).
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl Dispatcher {
    /// A dispatcher and its timer's receiving end (run it with [`Dispatcher::run_timer`]).
    pub fn new(
        push: &sethub_config::PushConfig,
    ) -> (Self, mpsc::UnboundedReceiver<(Instant, Job)>) {
        let (timer, rx) = mpsc::unbounded_channel();
        (
            Self {
                inner: Arc::new(Inner {
                    lanes: Mutex::default(),
                    owned: Mutex::default(),
                    room: tokio::sync::Notify::new(),
                    scheduled: std::sync::atomic::AtomicUsize::new(0),
                    endpoints: Mutex::default(),
                    timer,
                    max_in_flight: push.max_in_flight_per_endpoint,
                    max_waiting: push.max_backlog,
                    max_wait: Duration::from_millis(push.max_wait_in_memory_ms),
                    gauges: std::sync::OnceLock::new(),
                    engine: Mutex::new(Weak::new()),
                    stopping: std::sync::atomic::AtomicBool::new(false),
                    started: Mutex::default(),
                }),
            },
            rx,
        )
    }

    pub fn bind(&self, engine: &Arc<Engine>) {
        if let Ok(mut e) = self.inner.engine.lock() {
            *e = Arc::downgrade(engine);
        }
        let m = &engine.metrics;
        let _ = self
            .inner
            .gauges
            .set((m.in_memory.clone(), m.in_memory_peak.clone()));
    }

    /// Publishes how many deliveries this process holds (`owned`: the set's size).
    fn gauge(&self, owned: usize) {
        if let Some((now, peak)) = self.inner.gauges.get() {
            let n = i64::try_from(owned).unwrap_or(i64::MAX);
            now.set(n);
            if n > peak.get() {
                peak.set(n);
            }
        }
    }

    fn engine(&self) -> Option<Arc<Engine>> {
        self.inner.engine.lock().ok()?.upgrade()
    }

    /// Whether this process is working on the delivery.
    pub fn owns(&self, id: DeliveryId) -> bool {
        self.inner.owned.lock().is_ok_and(|o| o.contains(&id))
    }

    /// The delivery reached its final outcome here (or was handed back to the store).
    pub fn release(&self, id: DeliveryId) {
        if let Ok(mut o) = self.inner.owned.lock() {
            o.remove(&id);
            self.gauge(o.len());
        }
        if let Ok(mut s) = self.inner.started.lock() {
            s.remove(&id);
        }
        self.inner.room.notify_waiters();
    }

    /// Shutting down: no new push attempt starts; the deliveries not started stay pending in
    /// the store (another process's recovery sweep takes them), while the attempts already
    /// started finish and record their outcomes ([`Dispatcher::unsettled_attempts`]).
    pub fn stop_starting(&self) {
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.room.notify_waiters();
    }

    /// Push attempts started and not yet settled (outcome written, or parked).
    pub fn unsettled_attempts(&self) -> usize {
        self.inner.started.lock().map_or(0, |s| s.len())
    }

    /// Waits until `count(self)` is 0 or `until`. A release wakes the wait; a delivery moving
    /// to the retry timer does not, so the wait is also cut every 100 ms.
    pub async fn settle(&self, until: Instant, count: impl Fn(&Self) -> usize) {
        loop {
            let released = self.inner.room.notified();
            if count(self) == 0 || Instant::now() >= until {
                return;
            }
            let cut = (Instant::now() + Duration::from_millis(100)).min(until);
            let _ = tokio::time::timeout_at(cut, released).await;
        }
    }

    fn stopping(&self) -> bool {
        self.inner
            .stopping
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many deliveries this process has to push now (queued or in flight; not those
    /// waiting for a retry, so a failing receiver's retries never stop new work for the
    /// others).
    pub fn backlog(&self) -> usize {
        let owned = self.inner.owned.lock().map_or(0, |o| o.len());
        owned.saturating_sub(
            self.inner
                .scheduled
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Waits until this process holds fewer than `limit` deliveries: fan-out takes no new
    /// work from the bus meanwhile, so a burst waits in RabbitMQ rather than in memory.
    pub async fn wait_for_room(&self, limit: usize) {
        loop {
            let notified = self.inner.room.notified();
            if self.backlog() < limit {
                return;
            }
            notified.await;
        }
    }

    /// Waits until this process no longer owns `id` (its outcome is written, or it is
    /// parked).
    pub async fn wait_released(&self, id: DeliveryId) {
        loop {
            let notified = self.inner.room.notified();
            if !self.owns(id) {
                return;
            }
            notified.await;
        }
    }

    /// Takes on a delivery due now (a first attempt, or one claimed from the store); ignored
    /// (`false`) if this process already owns it.
    pub fn submit(&self, job: Job, retry_class: bool) -> bool {
        let fresh = self.inner.owned.lock().is_ok_and(|mut o| {
            let fresh = o.insert(job.id);
            self.gauge(o.len());
            fresh
        });
        if fresh {
            self.enqueue(job, retry_class);
        }
        fresh
    }

    /// An owned delivery cannot be pushed before `at`: it waits in the timer if the wait is
    /// short and the timer has room, else in the database (parked, and let go).
    async fn wait(&self, engine: &Engine, job: Job, at: Instant) {
        let short = at.saturating_duration_since(Instant::now()) <= self.inner.max_wait;
        let reserved = short
            && self
                .inner
                .scheduled
                .fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |n| (n < self.inner.max_waiting).then_some(n + 1),
                )
                .is_ok();
        if !reserved {
            // Rounded up to the second, so the waits of a failing receiver's SETs are
            // written in a few statements (one per instant).
            let wait = at.saturating_duration_since(Instant::now());
            let due = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            let due = chrono::DurationRound::duration_trunc(due, chrono::Duration::seconds(1))
                .map_or(due, |s| s + chrono::Duration::seconds(1));
            let change = sethub_store::Change::Reschedule {
                next_attempt_at: due,
            };
            crate::retries::park(engine, &job, change, None).await;
            return;
        }
        if self.inner.timer.send((at, job)).is_err() {
            tracing::warn!("the retry timer has stopped");
        }
    }

    /// Puts an owned delivery back in its lane now (a re-signed SET, a due retry).
    pub fn requeue(&self, job: Job) {
        self.enqueue(job, true);
    }

    fn enqueue(&self, job: Job, retry_class: bool) {
        let lane = {
            let Ok(mut lanes) = self.inner.lanes.lock() else {
                return;
            };
            lanes.entry(job.stream).or_default().clone()
        };
        let start = {
            let Ok(mut q) = lane.queues.lock() else {
                return;
            };
            if retry_class {
                q.retry.push_back(job.clone());
            } else {
                q.fresh.push_back(job.clone());
            }
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            let this = self.clone();
            let stream = job.stream;
            tokio::spawn(async move { this.run_lane(stream, lane).await });
        }
    }

    /// The endpoint state of an origin.
    pub fn endpoint(&self, origin: &str) -> Arc<Endpoint> {
        let Ok(mut map) = self.inner.endpoints.lock() else {
            return Arc::new(Endpoint {
                permits: Arc::new(Semaphore::new(self.inner.max_in_flight)),
                breaker: Mutex::default(),
            });
        };
        map.entry(origin.to_owned())
            .or_insert_with(|| {
                Arc::new(Endpoint {
                    permits: Arc::new(Semaphore::new(self.inner.max_in_flight)),
                    breaker: Mutex::default(),
                })
            })
            .clone()
    }

    /// An ordered job (released in publication order) that cannot go now waits in its
    /// lane and goes next, so the SETs behind it cannot overtake it; any other waits as
    /// [`Dispatcher::wait`] decides.
    async fn wait_in_lane(&self, engine: &Engine, job: Job, at: Instant, next: &mut Option<Job>) {
        if job.ordered {
            tokio::time::sleep_until(at).await;
            *next = Some(job);
        } else {
            self.wait(engine, job, at).await;
        }
    }

    async fn run_lane(self, stream: StreamId, lane: Arc<Lane>) {
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
            let Some(engine) = self.engine() else { return };
            match crate::push::worker::prepare(&engine, &job).await {
                crate::push::worker::Prepared::Go { view, endpoint } => {
                    if let Some(at) = crate::push::worker::rate_limited(&engine, &job, &view).await
                    {
                        engine
                            .metrics
                            .deliveries
                            .with_label_values(&["rate_limited"])
                            .inc();
                        self.wait_in_lane(&engine, job, at, &mut next).await;
                        continue;
                    }
                    match endpoint.gate() {
                        Gate::WaitUntil(until) => {
                            // An open breaker: the SET waits as long as a failed attempt
                            // would have made it wait (its schedule), and at least until
                            // the breaker's probe; so a failing receiver's SETs come back
                            // at the pace of their schedule, not of the breaker.
                            let age = job
                                .first_attempt_at
                                .and_then(|f| (Utc::now() - f).to_std().ok())
                                .unwrap_or_default();
                            let delay = view.schedule.next_delay(
                                job.attempts + 1,
                                age,
                                rand::random(),
                                None,
                            );
                            let at = delay.map_or(until, |d| until.max(Instant::now() + d));
                            engine
                                .metrics
                                .deliveries
                                .with_label_values(&["breaker_open"])
                                .inc();
                            self.wait_in_lane(&engine, job, at, &mut next).await;
                            continue;
                        }
                        Gate::Pass => {}
                    }
                    let permit: OwnedSemaphorePermit =
                        match endpoint.permits.clone().acquire_owned().await {
                            Ok(p) => p,
                            Err(_) => return,
                        };
                    let (ordered, id) = (job.ordered, job.id);
                    if self.stopping() {
                        // Left pending in the store, for another process.
                        return;
                    }
                    if let Ok(mut s) = self.inner.started.lock() {
                        s.insert(id);
                    }
                    let attempt = tokio::spawn(crate::push::worker::attempt(
                        engine.clone(),
                        job,
                        view,
                        endpoint,
                        permit,
                    ));
                    // An ordered job holds the lane until its attempt is over, so the next
                    // one (the same subject's next SET, perhaps) cannot overtake it; and
                    // until it is settled: one to retry comes back to the lane
                    // (`retries::hold_in_order`) and goes again when due, before the rest.
                    if ordered {
                        let _ = attempt.await;
                        if let Some((at, job)) = engine.scheduler.take_held_in_order(id) {
                            // Held to try again: its attempt is over.
                            if let Ok(mut s) = self.inner.started.lock() {
                                s.remove(&id);
                            }
                            tokio::time::sleep_until(at).await;
                            next = Some(job);
                        }
                    }
                }
                crate::push::worker::Prepared::Done => {}
                crate::push::worker::Prepared::Later(at) => {
                    self.wait_in_lane(&engine, job, at, &mut next).await;
                }
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

    /// Runs the retry timer: holds jobs until due, then puts them back in their lanes.
    pub async fn run_timer(self, mut rx: mpsc::UnboundedReceiver<(Instant, Job)>) {
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
                            self.inner
                                .scheduled
                                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                            self.requeue(job);
                        }
                    }
                }
            }
            if let Some(engine) = self.engine() {
                engine
                    .metrics
                    .retry_scheduled
                    .set(i64::try_from(jobs.len()).unwrap_or(i64::MAX));
            }
        }
    }
}
