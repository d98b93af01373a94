//! What the dispatcher works with: the [`Job`] (one SET to push), its [`Limits`], and the
//! [`Pusher`] it asks to push (the HTTP push worker in the service, a fake in the tests),
//! with what a pusher answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sethub_domain::{DeliveryId, EventId, StreamId, TenantId};
use sethub_store::DeliveryKind;
use tokio::time::Instant;

/// A boxed future, as the [`Pusher`] returns them (the trait is used as an object).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How SETs are pushed: what the dispatcher asks of the push worker.
pub trait Pusher: Send + Sync + 'static {
    /// Looks the job's stream up and says whether it can be pushed now: where to
    /// ([`Ready`]), not at all (settled without an attempt: stream gone, paused, disabled;
    /// the pusher recorded it), or not before an instant (its rate limit is spent, the
    /// database cannot tell).
    fn prepare<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Prepared>;

    /// Hands an owned delivery to the database, due at `due` without an attempt; this
    /// process lets it go once that is written.
    fn park(&self, tenant: TenantId, id: DeliveryId, due: DateTime<Utc>) -> BoxFuture<'_, ()>;
}

/// What [`Pusher::prepare`] found.
pub enum Prepared {
    Go(Ready),
    Done,
    Later(Instant),
}

/// A job ready to be pushed.
pub struct Ready {
    /// `scheme://host:port`: the unit of concurrency caps and breakers.
    pub endpoint: String,
    /// How long a failed attempt would make this job wait (its retry schedule); `None` if
    /// it would not be retried.
    pub backoff: Option<Duration>,
    /// The attempt itself, made once a slot is free.
    pub push: PushOnce,
}

/// One attempt: the request, answered with [`Sent`].
pub type PushOnce = Box<dyn FnOnce(Job) -> BoxFuture<'static, Sent> + Send>;

/// An attempt's answer: whether the endpoint failed (for its breaker), and the rest of the
/// work (recording the outcome, parking a retry), done once the slots are given back.
pub struct Sent {
    pub failed: bool,
    pub settle: BoxFuture<'static, FollowUp>,
}

/// What the dispatcher does after an attempt.
#[derive(Default)]
pub struct FollowUp {
    /// The same (owned) delivery, to push again now: a re-signed SET.
    pub again: Option<Job>,
    /// A new delivery to take on: the stream-updated SET of a stream the receiver refused.
    pub new: Option<Job>,
    /// An ordered job (a released or redriven SET) that must be tried again: its lane waits
    /// until this instant and pushes it before anything behind it (`retries::hold_in_order`),
    /// so a stream's released SETs stay in publication order across a failed attempt.
    pub in_order: Option<(Instant, Job)>,
}

/// A first attempt past its tenant's share, to park: tenant, delivery, and the gate of a
/// job pushed before its row was committed.
pub(super) type Overflowed = (TenantId, DeliveryId, Option<crate::stored::StoredGate>);

/// The dispatcher's limits (from `push.*`).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_in_flight_per_endpoint: usize,
    pub max_in_flight_per_tenant: usize,
    pub max_backlog: usize,
    pub max_backlog_per_tenant: usize,
    pub max_wait_in_memory: Duration,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
}

impl From<&sethub_config::PushConfig> for Limits {
    fn from(push: &sethub_config::PushConfig) -> Self {
        Self {
            max_in_flight_per_endpoint: push.max_in_flight_per_endpoint.max(1),
            max_in_flight_per_tenant: push.max_in_flight_per_tenant.max(1),
            max_backlog: push.max_backlog,
            max_backlog_per_tenant: push.max_backlog_per_tenant.min(push.max_backlog).max(1),
            max_wait_in_memory: Duration::from_millis(push.max_wait_in_memory_ms),
            breaker_failures: push.breaker_failures,
            breaker_cooldown: Duration::from_millis(push.breaker_cooldown_ms),
        }
    }
}

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
