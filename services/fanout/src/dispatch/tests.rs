//! The dispatcher's scheduling with a fake pusher: no backend, tokio's paused clock (a
//! `sleep` here advances the paused clock through every timer due meanwhile, in order).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sethub_domain::{DeliveryId, StreamId, TenantId};
use sethub_store::DeliveryKind;
use tokio::time::{Instant, sleep};

use super::*;

/// What the fake saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// The lane took the job (its pop order).
    Prepared(DeliveryId),
    Started(DeliveryId),
    Ended(DeliveryId),
}

#[derive(Default)]
struct State {
    seen: Mutex<Vec<(Instant, Seen)>>,
    /// The first `prepare` of these jobs says "not before".
    later: Mutex<HashMap<DeliveryId, Instant>>,
    /// How long each push takes (default 10 ms).
    takes: Mutex<HashMap<DeliveryId, Duration>>,
    /// Whether each attempt fails, in order (then: succeeds).
    fails: Mutex<VecDeque<bool>>,
    /// Tenants whose every attempt fails.
    failing: Mutex<Vec<TenantId>>,
    parked: Mutex<Vec<(DeliveryId, DateTime<Utc>)>>,
    in_flight: Mutex<HashMap<TenantId, usize>>,
    most_in_flight: Mutex<HashMap<TenantId, usize>>,
    most_in_flight_total: AtomicUsize,
}

impl State {
    fn note(&self, seen: Seen) {
        self.seen.lock().unwrap().push((Instant::now(), seen));
    }

    fn events(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn started(&self) -> Vec<DeliveryId> {
        self.events()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Started(id) => Some(id),
                _ => None,
            })
            .collect()
    }

    fn ended(&self) -> Vec<DeliveryId> {
        self.events()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Ended(id) => Some(id),
                _ => None,
            })
            .collect()
    }

    fn started_at(&self, id: DeliveryId) -> Option<Instant> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .find(|(_, s)| *s == Seen::Started(id))
            .map(|(at, _)| *at)
    }

    fn most(&self, tenant: TenantId) -> usize {
        self.most_in_flight
            .lock()
            .unwrap()
            .get(&tenant)
            .copied()
            .unwrap_or(0)
    }
}

/// A pusher that records what it is asked and answers as scripted. Like the real one, it
/// lets a delivery go once its outcome is settled or it is parked.
struct Fake {
    state: Arc<State>,
    ownership: Ownership,
}

const ENDPOINT: &str = "http://receiver.test:443";

impl Pusher for Fake {
    fn prepare<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Prepared> {
        Box::pin(async move {
            self.state.note(Seen::Prepared(job.id));
            if let Some(at) = self.state.later.lock().unwrap().remove(&job.id) {
                return Prepared::Later(at);
            }
            let state = self.state.clone();
            let ownership = self.ownership.clone();
            Prepared::Go(Ready {
                endpoint: ENDPOINT.to_owned(),
                backoff: None,
                push: Box::new(move |job| -> BoxFuture<'static, Sent> {
                    Box::pin(async move {
                        let takes = state.takes.lock().unwrap().get(&job.id).copied();
                        {
                            let mut in_flight = state.in_flight.lock().unwrap();
                            let n = in_flight.entry(job.tenant).or_default();
                            *n += 1;
                            let mut most = state.most_in_flight.lock().unwrap();
                            let m = most.entry(job.tenant).or_default();
                            *m = (*m).max(*n);
                            let total: usize = in_flight.values().sum();
                            state
                                .most_in_flight_total
                                .fetch_max(total, Ordering::Relaxed);
                        }
                        state.note(Seen::Started(job.id));
                        sleep(takes.unwrap_or(Duration::from_millis(10))).await;
                        state.note(Seen::Ended(job.id));
                        *state
                            .in_flight
                            .lock()
                            .unwrap()
                            .entry(job.tenant)
                            .or_default() -= 1;
                        let failed = state.failing.lock().unwrap().contains(&job.tenant)
                            || state.fails.lock().unwrap().pop_front().unwrap_or(false);
                        Sent {
                            failed,
                            settle: Box::pin(async move {
                                ownership.release(job.id);
                                FollowUp::default()
                            }),
                        }
                    })
                }),
            })
        })
    }

    fn park(&self, _tenant: TenantId, id: DeliveryId, due: DateTime<Utc>) -> BoxFuture<'_, ()> {
        self.state.parked.lock().unwrap().push((id, due));
        self.ownership.release(id);
        Box::pin(async {})
    }
}

fn limits() -> Limits {
    Limits {
        max_in_flight_per_endpoint: 32,
        max_in_flight_per_tenant: 16,
        max_backlog: 1000,
        max_backlog_per_tenant: 1000,
        max_wait_in_memory: Duration::from_secs(2),
        breaker_failures: 20,
        breaker_cooldown: Duration::from_secs(10),
    }
}

struct Harness {
    dispatcher: Dispatcher,
    state: Arc<State>,
    ownership: Ownership,
    metrics: FanoutMetrics,
}

fn harness(limits: Limits) -> Harness {
    let state = Arc::new(State::default());
    let ownership = Ownership::new(None);
    let metrics = FanoutMetrics::new(&sethub_telemetry::Metrics::new().unwrap());
    let pusher = Arc::new(Fake {
        state: state.clone(),
        ownership: ownership.clone(),
    });
    let (dispatcher, background) =
        Dispatcher::new(limits, pusher, ownership.clone(), metrics.clone());
    tokio::spawn(dispatcher.clone().run(background));
    Harness {
        dispatcher,
        state,
        ownership,
        metrics,
    }
}

fn job(tenant: TenantId, stream: StreamId) -> Job {
    Job {
        tenant,
        id: DeliveryId::new(),
        stream,
        event: None,
        kind: DeliveryKind::Event,
        token: Arc::from("header.claims.signature"),
        attempts: 0,
        first_attempt_at: None,
        accepted_at: Utc::now(),
        resigned: false,
        ordered: false,
        stored: None,
        trace: None,
    }
}

#[tokio::test(start_paused = true)]
async fn first_attempts_and_retries_take_turns_in_a_lane() {
    let h = harness(limits());
    let (tenant, stream) = (TenantId::new(), StreamId::new());
    let fresh: Vec<Job> = (0..3).map(|_| job(tenant, stream)).collect();
    let retries: Vec<Job> = (0..3).map(|_| job(tenant, stream)).collect();
    // All queued before the lane's task first runs.
    for j in &retries {
        assert!(h.dispatcher.submit(j.clone(), true));
    }
    for j in &fresh {
        assert!(h.dispatcher.submit(j.clone(), false));
    }
    sleep(Duration::from_millis(100)).await;
    let taken: Vec<DeliveryId> = h
        .state
        .events()
        .into_iter()
        .filter_map(|s| match s {
            Seen::Prepared(id) => Some(id),
            _ => None,
        })
        .collect();
    let want = vec![
        fresh[0].id,
        retries[0].id,
        fresh[1].id,
        retries[1].id,
        fresh[2].id,
        retries[2].id,
    ];
    assert_eq!(taken, want, "first attempts and retries alternate");
    assert_eq!(h.ownership.len(), 0, "every one settled");
}

#[tokio::test(start_paused = true)]
async fn ordered_jobs_are_pushed_one_at_a_time_in_order() {
    let h = harness(limits());
    let (tenant, stream) = (TenantId::new(), StreamId::new());
    let jobs: Vec<Job> = (0..3)
        .map(|_| Job {
            ordered: true,
            stored: None,
            ..job(tenant, stream)
        })
        .collect();
    // The first takes longest: unordered, the others would overtake it.
    for (j, ms) in jobs.iter().zip([300, 20, 10]) {
        h.state
            .takes
            .lock()
            .unwrap()
            .insert(j.id, Duration::from_millis(ms));
    }
    for j in &jobs {
        h.dispatcher.submit(j.clone(), true);
    }
    sleep(Duration::from_secs(1)).await;
    let ids: Vec<DeliveryId> = jobs.iter().map(|j| j.id).collect();
    assert_eq!(h.state.ended(), ids, "finished in submission order");
    assert_eq!(h.state.most(tenant), 1, "one at a time");
    assert!(
        h.state.started_at(ids[1]).unwrap()
            >= h.state.started_at(ids[0]).unwrap() + Duration::from_millis(300)
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_endpoint_opens_its_breaker_and_one_probe_at_a_time_decides() {
    let h = harness(Limits {
        breaker_failures: 2,
        breaker_cooldown: Duration::from_secs(1),
        max_wait_in_memory: Duration::from_secs(10),
        ..limits()
    });
    // The first three attempts fail (the two that open it, then the first probe).
    h.state.fails.lock().unwrap().extend([true, true, true]);
    let t0 = Instant::now();
    let tenant = TenantId::new();
    let submit = || {
        let j = job(tenant, StreamId::new());
        h.dispatcher.submit(j.clone(), false);
        j.id
    };
    let pushes = |h: &Harness| h.state.started().len();
    submit();
    submit();
    sleep(Duration::from_millis(50)).await;
    assert_eq!(pushes(&h), 2);
    // Open until 10 ms (the failures' answers) + 1 s: nothing goes meanwhile.
    for _ in 0..3 {
        submit();
    }
    sleep(Duration::from_millis(50)).await;
    assert_eq!(pushes(&h), 2, "an open breaker lets nothing through");
    let held = h
        .metrics
        .deliveries
        .with_label_values(&["breaker_open"])
        .get();
    assert_eq!(held, 3);
    sleep_until(t0 + Duration::from_millis(1015)).await;
    assert_eq!(pushes(&h), 3, "half open: exactly one probe");
    // The probe failed at 1.02 s: open again until 2.02 s.
    sleep_until(t0 + Duration::from_millis(2000)).await;
    assert_eq!(pushes(&h), 3, "a failed probe opens it again");
    sleep_until(t0 + Duration::from_millis(2025)).await;
    assert_eq!(pushes(&h), 4, "the next probe, alone");
    // It succeeded at 2.03 s: closed; the last SET goes at its next look (2.52 s).
    sleep_until(t0 + Duration::from_millis(2600)).await;
    assert_eq!(pushes(&h), 5);
    submit();
    sleep(Duration::from_millis(5)).await;
    assert_eq!(pushes(&h), 6, "closed: a new SET goes at once");
    sleep(Duration::from_millis(10)).await;
    assert_eq!(h.ownership.len(), 0, "every one settled");
}

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at).await;
}

#[tokio::test(start_paused = true)]
async fn one_tenants_failures_do_not_open_the_breaker_of_another_on_the_same_endpoint() {
    let h = harness(Limits {
        breaker_failures: 2,
        ..limits()
    });
    let (noisy, quiet) = (TenantId::new(), TenantId::new());
    h.state.failing.lock().unwrap().push(noisy);
    for _ in 0..4 {
        h.dispatcher.submit(job(noisy, StreamId::new()), false);
    }
    sleep(Duration::from_millis(50)).await;
    let before = h.state.started().len();
    h.dispatcher.submit(job(noisy, StreamId::new()), false);
    let q = job(quiet, StreamId::new());
    h.dispatcher.submit(q.clone(), false);
    sleep(Duration::from_millis(50)).await;
    assert!(
        h.state.ended().contains(&q.id),
        "the quiet tenant's SET went"
    );
    assert_eq!(h.state.started().len(), before + 1, "the noisy one's waits");
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_never_has_more_requests_in_flight_than_its_cap() {
    let h = harness(Limits {
        max_in_flight_per_endpoint: 2,
        ..limits()
    });
    let tenant = TenantId::new();
    for _ in 0..6 {
        let j = job(tenant, StreamId::new());
        h.state
            .takes
            .lock()
            .unwrap()
            .insert(j.id, Duration::from_millis(100));
        h.dispatcher.submit(j, false);
    }
    sleep(Duration::from_millis(250)).await;
    assert_eq!(h.state.ended().len(), 4, "two at a time, 100 ms each");
    sleep(Duration::from_millis(100)).await;
    assert_eq!(h.state.ended().len(), 6);
    assert_eq!(h.state.most_in_flight_total.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn a_tenants_backlog_takes_only_its_share_of_an_endpoint_and_others_go_at_once() {
    let h = harness(Limits {
        max_in_flight_per_endpoint: 8,
        max_in_flight_per_tenant: 3,
        ..limits()
    });
    let (noisy, quiet) = (TenantId::new(), TenantId::new());
    // Ten streams of a hundred slow SETs each, queued first.
    for _ in 0..10 {
        let stream = StreamId::new();
        for _ in 0..100 {
            let j = job(noisy, stream);
            h.state
                .takes
                .lock()
                .unwrap()
                .insert(j.id, Duration::from_millis(100));
            h.dispatcher.submit(j, false);
        }
    }
    sleep(Duration::from_millis(10)).await;
    let q = job(quiet, StreamId::new());
    let submitted = Instant::now();
    h.dispatcher.submit(q.clone(), false);
    sleep(Duration::from_millis(20)).await;
    let started = h.state.started_at(q.id).expect("the quiet SET was pushed");
    assert_eq!(started, submitted, "it waited for nothing");
    assert_eq!(
        h.state.most(noisy),
        3,
        "the noisy tenant had its cap in flight"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_in_the_timer_ends_at_its_due_time() {
    let h = harness(limits());
    let j = job(TenantId::new(), StreamId::new());
    let due = Instant::now() + Duration::from_millis(300);
    h.state.later.lock().unwrap().insert(j.id, due);
    h.dispatcher.submit(j.clone(), false);
    sleep(Duration::from_millis(299)).await;
    assert!(h.state.started().is_empty(), "not before it is due");
    assert_eq!(h.metrics.retry_scheduled.get(), 1, "waiting in the timer");
    assert!(h.state.parked.lock().unwrap().is_empty(), "not parked");
    sleep(Duration::from_millis(2)).await;
    assert_eq!(h.state.started_at(j.id), Some(due), "pushed when due");
}

#[tokio::test(start_paused = true)]
async fn a_wait_longer_than_the_memory_allows_is_parked_in_the_database() {
    let h = harness(limits());
    let j = job(TenantId::new(), StreamId::new());
    h.state
        .later
        .lock()
        .unwrap()
        .insert(j.id, Instant::now() + Duration::from_secs(5));
    let before = Utc::now();
    h.dispatcher.submit(j.clone(), false);
    sleep(Duration::from_secs(10)).await;
    assert!(h.state.started().is_empty());
    let parked = h.state.parked.lock().unwrap().clone();
    assert_eq!(parked.len(), 1);
    assert!(
        parked[0].1 >= before + chrono::Duration::seconds(5),
        "due when it said"
    );
    assert!(!h.dispatcher.owns(j.id), "let go once parked");
}

#[tokio::test(start_paused = true)]
async fn first_attempts_past_a_tenants_share_are_parked_and_leave_room_for_others() {
    let h = harness(Limits {
        max_backlog: 10,
        max_backlog_per_tenant: 4,
        ..limits()
    });
    let (noisy, quiet) = (TenantId::new(), TenantId::new());
    let stream = StreamId::new();
    for _ in 0..6 {
        let j = job(noisy, stream);
        h.state
            .takes
            .lock()
            .unwrap()
            .insert(j.id, Duration::from_secs(1));
        h.dispatcher.submit(j, false);
    }
    sleep(Duration::from_millis(10)).await;
    assert_eq!(h.state.parked.lock().unwrap().len(), 2, "two overflowed");
    assert_eq!(h.ownership.of_tenant(noisy), 4, "its share, no more");
    assert_eq!(h.dispatcher.room_for(noisy), 0);
    assert_eq!(h.dispatcher.room_for(quiet), 4);
    let q = job(quiet, StreamId::new());
    h.dispatcher.submit(q.clone(), false);
    sleep(Duration::from_millis(20)).await;
    assert!(
        h.state.ended().contains(&q.id),
        "the quiet SET went meanwhile"
    );
    // An ordered job (held SETs released in order) is never overflowed: its caller waits
    // for room instead.
    let ordered = Job {
        ordered: true,
        stored: None,
        ..job(noisy, stream)
    };
    h.dispatcher.submit(ordered.clone(), true);
    assert!(h.dispatcher.owns(ordered.id));
    assert_eq!(h.state.parked.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_tenant_whose_every_breaker_is_open_is_blocked_until_its_probe_and_no_other_is() {
    let h = harness(Limits {
        breaker_failures: 2,
        breaker_cooldown: Duration::from_secs(1),
        max_wait_in_memory: Duration::from_secs(10),
        ..limits()
    });
    let (noisy, quiet) = (TenantId::new(), TenantId::new());
    assert_eq!(
        h.dispatcher.tenant_blocked_until(noisy),
        None,
        "no breaker yet"
    );
    // Two failures (answered at 10 ms) open the noisy tenant's breaker until 1.01 s.
    h.state.fails.lock().unwrap().extend([true, true]);
    let t0 = Instant::now();
    for _ in 0..2 {
        h.dispatcher.submit(job(noisy, StreamId::new()), false);
    }
    sleep(Duration::from_millis(50)).await;
    let blocked = h.dispatcher.tenant_blocked_until(noisy);
    assert!(
        blocked.is_some_and(|at| at > t0 + Duration::from_millis(1000)),
        "open: blocked until the probe ({blocked:?})"
    );
    h.dispatcher.submit(job(quiet, StreamId::new()), false);
    sleep(Duration::from_millis(50)).await;
    assert_eq!(
        h.dispatcher.tenant_blocked_until(quiet),
        None,
        "another tenant on the same endpoint is not"
    );
    sleep_until(t0 + Duration::from_millis(1020)).await;
    assert_eq!(
        h.dispatcher.tenant_blocked_until(noisy),
        None,
        "half open: a probe may go"
    );
}
