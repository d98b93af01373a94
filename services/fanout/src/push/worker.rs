//! The HTTP push worker: the [`Pusher`] the dispatcher is given. It looks a job's stream up
//! ([`Pusher::prepare`]), makes one attempt and acts on the answer (RFC 8935; the decision
//! itself is [`super::outcome::classify`]): records it, parks a retry in the database, re-signs
//! once, or disables the stream. It holds the engine's [`Core`], not the dispatcher: what the
//! dispatcher must do next (push a re-signed SET again, take on a stream-updated SET) it is
//! told in a [`FollowUp`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sethub_domain::{DeliveryId, StreamStatus, TenantId};
use sethub_egress::FetchError;
use sethub_store::{Attempt, Change, DeliveryKind, DeliveryState, NewDelivery, Update};
use tokio::time::Instant;

use super::outcome::{Outcome, PushResponse, classify};
use crate::cache::StreamView;
use crate::dispatch::{BoxFuture, FollowUp, Job, Prepared, Pusher, Ready, Sent};
use crate::engine::Core;
use crate::ownership::Ownership;
use crate::recorder::Record;
use sethub_telemetry::trace::Span;

/// Pushes over HTTP through the egress gate.
pub struct HttpPusher {
    core: Arc<Core>,
    ownership: Ownership,
}

impl HttpPusher {
    pub fn new(core: Arc<Core>, ownership: Ownership) -> Self {
        Self { core, ownership }
    }
}

impl Pusher for HttpPusher {
    fn prepare<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Prepared> {
        Box::pin(prepare(&self.core, &self.ownership, job))
    }

    fn park(&self, tenant: TenantId, id: DeliveryId, due: DateTime<Utc>) -> BoxFuture<'_, ()> {
        let change = Change::Reschedule {
            next_attempt_at: due,
        };
        // The dispatcher parks a job pushed before its row was committed only once it is.
        Box::pin(crate::retries::park(
            &self.core, tenant, id, None, change, None,
        ))
    }
}

/// Looks the job's stream up and decides whether it can be pushed now.
async fn prepare(core: &Arc<Core>, ownership: &Ownership, job: &Job) -> Prepared {
    let streams = match core.streams_recent(job.tenant).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, stream = %job.stream, "cannot load the stream; retrying shortly");
            return Prepared::Later(Instant::now() + Duration::from_secs(2));
        }
    };
    let Some(view) = streams.get(job.stream).cloned() else {
        // Deleted: its deliveries went with it.
        ownership.release(job.id);
        return Prepared::Done;
    };
    let exempt = job.kind == DeliveryKind::StreamUpdated;
    let change = match view.status() {
        StreamStatus::Enabled => None,
        _ if exempt => None,
        StreamStatus::Paused => Some(Change::Held),
        StreamStatus::Disabled => Some(Change::Dropped {
            reason: "the stream is disabled".into(),
        }),
    };
    if let Some(change) = change {
        let label = if change == Change::Held {
            "held"
        } else {
            "dropped"
        };
        core.metrics.deliveries.with_label_values(&[label]).inc();
        finish(core, job, change, None).await;
        return Prepared::Done;
    }
    let (Some(_), Some(origin)) = (&view.stream.endpoint_url, &view.origin) else {
        finish(
            core,
            job,
            Change::Dead {
                status: None,
                error: "the stream has no push endpoint".into(),
            },
            None,
        )
        .await;
        return Prepared::Done;
    };
    if let Some(at) = rate_limited(core, job, &view).await {
        core.metrics
            .deliveries
            .with_label_values(&["rate_limited"])
            .inc();
        return Prepared::Later(at);
    }
    let age = job
        .first_attempt_at
        .and_then(|f| (Utc::now() - f).to_std().ok())
        .unwrap_or_default();
    let backoff = view
        .schedule
        .next_delay(job.attempts + 1, age, rand::random(), None);
    let endpoint = origin.clone();
    let core = core.clone();
    Prepared::Go(Ready {
        endpoint,
        backoff,
        push: Box::new(move |job| -> BoxFuture<'static, Sent> {
            Box::pin(attempt(core, job, view))
        }),
    })
}

/// When the stream has a delivery rate limit and it is spent: the instant to try again.
/// Charged in the state store (one bucket per stream, shared by every fan-out process);
/// when the store cannot answer, the push goes ahead (fail open, like ingest's limit).
async fn rate_limited(core: &Core, job: &Job, view: &StreamView) -> Option<Instant> {
    let rate = view.max_rate_per_second?;
    let limit = sethub_state::Limit {
        rate_per_sec: rate,
        burst: u32::try_from(rate.ceil() as u64).unwrap_or(u32::MAX).max(1),
    };
    let key = sethub_state::Key::stream(
        &core.ctx.key_prefix,
        job.tenant,
        job.stream,
        sethub_state::KeyKind::RateLimit,
        "push",
    );
    match core.ctx.state.rate_limit(&key, limit, 1).await {
        Ok(d) if d.allowed => None,
        Ok(d) => Some(Instant::now() + d.retry_after.max(Duration::from_millis(1))),
        Err(e) => {
            tracing::warn!(stream = %job.stream, error = %e, "delivery rate limit unknown; pushing");
            None
        }
    }
}

/// Records a final outcome and gives the delivery up.
async fn finish(engine: &Core, job: &Job, change: Change, attempt: Option<Attempt>) {
    record(engine, job, change, attempt, true).await;
}

/// Hands an outcome to the recorder; `release` when it is final.
async fn record(engine: &Core, job: &Job, change: Change, attempt: Option<Attempt>, release: bool) {
    engine
        .recorder
        .record(Record {
            tenant: job.tenant,
            update: Update {
                id: job.id,
                at: Utc::now(),
                attempted: attempt.is_some(),
                change,
            },
            attempt,
            release,
            stored: job.stored.clone(),
        })
        .await;
}

struct Answer {
    status: Option<u16>,
    outcome: Outcome,
    excerpt: Option<String>,
    error: Option<String>,
}

async fn send(engine: &Core, job: &Job, view: &StreamView) -> Answer {
    let url = view.stream.endpoint_url.as_deref().unwrap_or_default();
    let mut req = engine
        .client
        .post(url)
        .header("Content-Type", "application/secevent+jwt")
        .header("Accept", "application/json")
        .body(job.token.as_bytes().to_vec());
    if let Some(auth) = &view.authorization {
        req = req.header("Authorization", auth);
    }
    // Through the egress gate: the URL and the address are checked on every attempt, no
    // redirect is followed and only the start of the answer is read.
    match req.send_truncating().await {
        Ok(answer) => {
            let status = answer.status.as_u16();
            let outcome = classify(&PushResponse {
                status,
                retry_after: answer.header("retry-after"),
                content_type: answer.header("content-type"),
                body: &answer.body,
            });
            let keep = engine
                .ctx
                .config
                .push
                .response_excerpt_bytes
                .min(answer.body.len());
            let excerpt =
                (keep > 0).then(|| String::from_utf8_lossy(&answer.body[..keep]).into_owned());
            Answer {
                status: Some(status),
                outcome,
                excerpt,
                error: None,
            }
        }
        Err(e) => {
            let detail = match &e {
                FetchError::Refused(_) => format!("push endpoint refused: {e}"),
                _ => e.to_string(),
            };
            Answer {
                status: None,
                outcome: Outcome::Retry {
                    reason: detail.clone(),
                    not_before: None,
                },
                excerpt: None,
                error: Some(detail),
            }
        }
    }
}

/// Pushes the job's SET once; acting on the answer is left to [`Sent::settle`].
async fn attempt(engine: Arc<Core>, job: Job, view: Arc<StreamView>) -> Sent {
    let attempted_at = Utc::now();
    let started = std::time::Instant::now();
    let span = Span::from_traceparent("fanout.push", job.trace.as_deref());
    span.set("sethub.stream", || job.stream.to_string());
    span.set("sethub.attempt", || i64::from(job.attempts) + 1);
    engine.metrics.in_flight.inc();
    let answer = send(&engine, &job, &view).await;
    if let Some(status) = answer.status {
        span.set("http.response.status_code", || i64::from(status));
    }
    if let Some(error) = answer.error.as_ref().filter(|_| span.is_recording()) {
        span.fail(error.clone());
    }
    span.end();
    engine.metrics.in_flight.dec();
    let latency = started.elapsed();
    engine
        .metrics
        .attempt_seconds
        .observe(latency.as_secs_f64());
    // A network error, a timeout or a 5xx (not a 429 or 503 saying when to come back).
    let failed =
        matches!(&answer.outcome, Outcome::Retry { not_before, .. } if not_before.is_none());
    Sent {
        failed,
        settle: Box::pin(settle(engine, job, view, answer, attempted_at, latency)),
    }
}

/// Acts on an attempt's answer.
async fn settle(
    engine: Arc<Core>,
    mut job: Job,
    view: Arc<StreamView>,
    answer: Answer,
    attempted_at: DateTime<Utc>,
    latency: Duration,
) -> FollowUp {
    let failures = job.attempts + 1;
    let first = *job.first_attempt_at.get_or_insert(attempted_at);
    let (delivery_id, stream_id) = (job.id, job.stream);
    let log = |outcome: &str, error: Option<String>| Attempt {
        delivery_id,
        stream_id,
        attempted_at,
        status: answer.status,
        latency_ms: u32::try_from(latency.as_millis()).unwrap_or(u32::MAX),
        outcome: outcome.to_owned(),
        error,
        response_excerpt: answer.excerpt.clone(),
    };
    let metric = |label: &str| engine.metrics.deliveries.with_label_values(&[label]).inc();
    match answer.outcome.clone() {
        Outcome::Delivered | Outcome::DeliveredNonStandard { .. } => {
            let status = answer.status.unwrap_or(202);
            metric(if status == 202 {
                "delivered"
            } else {
                "delivered_nonstandard"
            });
            if job.kind == DeliveryKind::Event {
                let e2e = (Utc::now() - job.accepted_at).to_std().unwrap_or_default();
                engine.metrics.end_to_end_seconds.observe(e2e.as_secs_f64());
            }
            let attempt = log("delivered", None);
            finish(&engine, &job, Change::Delivered { status }, Some(attempt)).await;
        }
        Outcome::Retry { reason, not_before } => {
            let age = (Utc::now() - first).to_std().unwrap_or_default();
            let random: f64 = rand::random();
            let delay = if job.kind == DeliveryKind::StreamUpdated
                && view.status() != StreamStatus::Enabled
            {
                // The last word to a stream being stopped: one attempt only.
                None
            } else {
                view.schedule.next_delay(failures, age, random, not_before)
            };
            match delay {
                Some(delay) => {
                    metric("retry");
                    let next = Utc::now() + delay;
                    let attempt = log("retry", answer.error.clone().or(Some(reason.clone())));
                    let change = Change::Retry {
                        next_attempt_at: next,
                        status: answer.status,
                        error: reason,
                    };
                    if job.ordered {
                        // Its lane tries it again before the SETs behind it.
                        let held =
                            crate::retries::hold_in_order(&engine, &job, change, Some(attempt))
                                .await;
                        return FollowUp {
                            in_order: Some(held),
                            ..FollowUp::default()
                        };
                    }
                    // It waits in the database, not in memory (`retries.rs`).
                    let stored = job.stored.clone();
                    crate::retries::park(
                        &engine,
                        job.tenant,
                        job.id,
                        stored,
                        change,
                        Some(attempt),
                    )
                    .await;
                }
                None => {
                    metric("dead");
                    let error = format!("gave up after {failures} attempts: {reason}");
                    let attempt = log("dead", Some(error.clone()));
                    let change = Change::Dead {
                        status: answer.status,
                        error,
                    };
                    finish(&engine, &job, change, Some(attempt)).await;
                }
            }
        }
        Outcome::Resign { description } => {
            metric("resign");
            let attempt = log("resign", None);
            return FollowUp {
                again: resign(&engine, job, &description, answer.status, attempt).await,
                ..FollowUp::default()
            };
        }
        Outcome::RejectSet { err, description } => {
            metric("dead");
            let error = format!("receiver refused the SET: {err}: {description}");
            let attempt = log("dead", Some(error.clone()));
            let change = Change::Dead {
                status: answer.status,
                error,
            };
            finish(&engine, &job, change, Some(attempt)).await;
        }
        Outcome::DisableStream { reason } => {
            metric("disabled");
            let attempt = log("disabled", Some(reason.clone()));
            let change = Change::Dead {
                status: answer.status,
                error: format!("the receiver refused the stream: {reason}"),
            };
            finish(&engine, &job, change, Some(attempt)).await;
            if job.kind != DeliveryKind::StreamUpdated {
                return FollowUp {
                    new: disable_stream(&engine, &job, &view, &reason).await,
                    ..FollowUp::default()
                };
            }
        }
    }
    FollowUp::default()
}

/// `jws_signature_failed`: sign the same claims again with the tenant's current key, once;
/// returns the re-signed job to push again.
async fn resign(
    engine: &Core,
    mut job: Job,
    description: &str,
    status: Option<u16>,
    attempt: Attempt,
) -> Option<Job> {
    let signed = if job.resigned {
        None
    } else {
        engine.forget_signing_key(job.tenant);
        match engine.signing_key(job.tenant).await {
            Ok(key) => crate::sets::resign(&key, &job.token).ok(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the signing key to re-sign");
                None
            }
        }
    };
    let Some(signed) = signed else {
        let error = format!("signature refused again after re-signing: {description}");
        finish(engine, &job, Change::Dead { status, error }, Some(attempt)).await;
        return None;
    };
    engine.metrics.signed.with_label_values(&["resigned"]).inc();
    let change = Change::Resigned {
        jti: signed.jti,
        set_token: signed.token.clone(),
        status,
        error: format!("jws_signature_failed: {description}"),
    };
    record(engine, &job, change, Some(attempt), false).await;
    job.token = signed.token.into();
    job.resigned = true;
    job.attempts += 1;
    Some(job)
}

/// The receiver refused the stream itself: disable it with the reason, and tell it with a
/// stream-updated SET (sent before the stream stops, SSF §6), which it returns to push.
async fn disable_stream(engine: &Core, job: &Job, view: &StreamView, reason: &str) -> Option<Job> {
    let scope = engine.ctx.store.scope(job.tenant);
    let result = async {
        let slug = engine.streams_recent(job.tenant).await?.slug.clone();
        let key = engine.signing_key(job.tenant).await?;
        let signed = crate::sets::stream_updated_set(
            &key,
            &engine.issuer(&slug),
            &view.stream,
            StreamStatus::Disabled.as_str(),
            Some(reason),
        )?;
        // Exactly one of the SETs refused at the same time disables the stream and
        // announces it; the status and the announcement commit together.
        let tx = scope.begin().await?;
        let changed = tx
            .streams()
            .disable_if_not_disabled(
                job.stream,
                &format!("disabled by sethub: the receiver answered {reason}"),
            )
            .await?;
        if !changed {
            tx.rollback().await?;
            return Ok(None);
        }
        let id = sethub_domain::DeliveryId::new();
        tx.deliveries()
            .insert_many(&[NewDelivery {
                id,
                stream_id: job.stream,
                event_id: None,
                kind: DeliveryKind::StreamUpdated,
                jti: signed.jti,
                set_token: signed.token.clone(),
                state: DeliveryState::Pending,
                next_attempt_at: Some(Utc::now()),
            }])
            .await?;
        tx.commit().await?;
        Ok::<_, crate::engine::WorkError>(Some(Job {
            tenant: job.tenant,
            id,
            stream: job.stream,
            event: None,
            kind: DeliveryKind::StreamUpdated,
            token: signed.token.into(),
            attempts: 0,
            first_attempt_at: None,
            accepted_at: Utc::now(),
            resigned: false,
            ordered: false,
            stored: None,
            trace: None,
        }))
    }
    .await;
    match result {
        Ok(Some(notice)) => {
            engine
                .metrics
                .signed
                .with_label_values(&["stream_updated"])
                .inc();
            tracing::warn!(tenant = %job.tenant, stream = %job.stream, event = ?job.event,
                %reason, "stream disabled: the receiver refused it");
            engine.cache.invalidate(job.tenant);
            Some(notice)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::error!(tenant = %job.tenant, stream = %job.stream, error = %e,
                "cannot disable the stream the receiver refused");
            None
        }
    }
}
