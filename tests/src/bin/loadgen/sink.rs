//! The suite's push receiver: an actix-web server on 127.0.0.1 that answers every SET at
//! once — `202` with an empty body, or a fixed failure status (the noisy tenant's `503`) —
//! without verifying signatures (that is a receiver's cost, not sethub's).
//!
//! Each push stream has its own path, `/p/{stream}`. The publishers put a mark in each
//! event's payload (`loadgen_run`, `loadgen_seq`, `loadgen_sent_us`: the run, the event's
//! sequence number in it and its intended send time in µs since the epoch); the receiver
//! decodes the SET's claims (base64 and JSON, nothing else), and for the run being measured
//! counts each (stream, sequence) pair once, keeping the publish → receipt latency of its first
//! arrival; later copies are duplicates. SETs of another run (a late copy) and SETs without a
//! mark (preloaded deliveries pushed by the retry scheduler) are counted apart.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context;
use base64::Engine;
use serde::Deserialize;
use tokio::sync::Notify;

/// Microseconds since the epoch, now.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What one run got at the receiver.
#[derive(Debug, Default)]
pub(crate) struct RunRecord {
    pub(crate) run: u32,
    /// Streams `first..first + count` belong to the run's tenant.
    first: u32,
    count: u32,
    /// (stream, seq) → copies received.
    seen: HashMap<(u32, u32), u32>,
    /// Publish → receipt of each pair's first copy, µs.
    pub(crate) latencies_us: Vec<u64>,
    pub(crate) first_arrival_us: Option<u64>,
    pub(crate) last_arrival_us: Option<u64>,
    pub(crate) duplicates: usize,
    /// SETs of this run on a path that is not one of its tenant's streams.
    pub(crate) wrong_path: usize,
    /// Pairs to wait for, once the publishers know how many events were accepted.
    target: Option<usize>,
}

impl RunRecord {
    pub(crate) fn pairs(&self) -> usize {
        self.seen.len()
    }

    /// Sequences of `accepted` (by index) × the run's streams that never arrived.
    pub(crate) fn missing(&self, accepted: &[bool]) -> usize {
        let mut missing = 0;
        for (seq, ok) in accepted.iter().enumerate() {
            if !ok {
                continue;
            }
            for stream in self.first..self.first + self.count {
                if !self.seen.contains_key(&(stream, seq as u32)) {
                    missing += 1;
                }
            }
        }
        missing
    }
}

#[derive(Default)]
struct State {
    current: Option<RunRecord>,
    /// SETs of another run than the current one.
    other_run: u64,
    /// SETs without a loadgen mark (or that could not be decoded).
    unmarked: u64,
}

struct Inner {
    status: StatusCode,
    state: Mutex<State>,
    requests: AtomicU64,
    /// Woken when the current run reaches its target.
    done: Notify,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    events: HashMap<String, Mark>,
}

#[derive(Deserialize)]
struct Mark {
    loadgen_run: Option<u32>,
    loadgen_seq: Option<u32>,
    loadgen_sent_us: Option<u64>,
}

/// (run, seq, intended send time) from a compact SET's payload, unverified.
fn read_mark(body: &[u8]) -> Option<(u32, u32, u64)> {
    let mut parts = body.split(|b| *b == b'.');
    let _header = parts.next()?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts.next()?)
        .ok()?;
    let claims: Claims = serde_json::from_slice(&payload).ok()?;
    let mark = claims.events.into_values().next()?;
    Some((mark.loadgen_run?, mark.loadgen_seq?, mark.loadgen_sent_us?))
}

async fn take(req: HttpRequest, body: web::Bytes, inner: web::Data<Inner>) -> HttpResponse {
    let arrived = now_us();
    inner.requests.fetch_add(1, Ordering::Relaxed);
    if inner.status != StatusCode::ACCEPTED {
        return HttpResponse::build(inner.status).finish();
    }
    let stream = req
        .path()
        .strip_prefix("/p/")
        .and_then(|s| s.parse::<u32>().ok());
    let mark = read_mark(&body);
    let mut reached = false;
    {
        let mut state = inner.state();
        match (mark, stream) {
            (Some((run, seq, sent)), Some(stream)) => {
                let current = state.current.as_mut().filter(|r| r.run == run);
                if let Some(rec) = current {
                    if stream < rec.first || stream >= rec.first + rec.count {
                        rec.wrong_path += 1;
                    } else {
                        let n = rec.seen.entry((stream, seq)).or_insert(0);
                        *n += 1;
                        if *n == 1 {
                            rec.latencies_us.push(arrived.saturating_sub(sent));
                            rec.first_arrival_us.get_or_insert(arrived);
                            rec.last_arrival_us = Some(arrived);
                            reached = rec.target == Some(rec.seen.len());
                        } else {
                            rec.duplicates += 1;
                        }
                    }
                } else {
                    state.other_run += 1;
                }
            }
            _ => state.unmarked += 1,
        }
    }
    if reached {
        inner.done.notify_one();
    }
    HttpResponse::Accepted().finish()
}

/// A running receiver; stops when dropped.
pub(crate) struct Sink {
    inner: Arc<Inner>,
    addr: std::net::SocketAddr,
    handle: ServerHandle,
}

impl Sink {
    /// Starts a receiver answering `status` (202: accept and record) on `workers` threads.
    pub(crate) fn start(status: u16, workers: usize) -> anyhow::Result<Sink> {
        let inner = Arc::new(Inner {
            status: StatusCode::from_u16(status).context("receiver status")?,
            state: Mutex::new(State::default()),
            requests: AtomicU64::new(0),
            done: Notify::new(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the receiver")?;
        let addr = listener.local_addr().context("the receiver's address")?;
        let data = web::Data::from(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1024 * 1024))
                .default_service(web::to(take))
        })
        .workers(workers.max(1))
        .backlog(4096)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .context("the receiver cannot listen")?
        .run();
        let handle = server.handle();
        tokio::spawn(async move {
            if let Err(e) = server.await {
                crate::say(&format!("receiver stopped: {e}"));
            }
        });
        Ok(Sink {
            inner,
            addr,
            handle,
        })
    }

    /// The push endpoint of stream number `stream`.
    pub(crate) fn url(&self, stream: u32) -> String {
        format!("http://{}/p/{stream}", self.addr)
    }

    /// Starts recording run `run`, whose tenant's streams are `first..first + count`; the
    /// previous run's record is dropped.
    pub(crate) fn begin(&self, run: u32, first: u32, count: u32) {
        self.inner.state().current = Some(RunRecord {
            run,
            first,
            count,
            ..RunRecord::default()
        });
    }

    /// Sets how many pairs complete the current run; true when they are already there.
    pub(crate) fn set_target(&self, pairs: usize) -> bool {
        let mut state = self.inner.state();
        match state.current.as_mut() {
            Some(rec) => {
                rec.target = Some(pairs);
                rec.seen.len() >= pairs
            }
            None => true,
        }
    }

    /// Waits until the current run reaches its target (see [`Sink::set_target`]). A wake-up
    /// left over from an earlier run is checked and ignored.
    pub(crate) async fn reached(&self) {
        loop {
            self.inner.done.notified().await;
            let state = self.inner.state();
            if state
                .current
                .as_ref()
                .is_some_and(|r| r.target.is_some_and(|t| r.seen.len() >= t))
            {
                return;
            }
        }
    }

    /// (pairs, duplicates, last arrival) of the current run so far.
    pub(crate) fn progress(&self) -> (usize, usize, Option<u64>) {
        self.inner
            .state()
            .current
            .as_ref()
            .map_or((0, 0, None), |r| {
                (r.pairs(), r.duplicates, r.last_arrival_us)
            })
    }

    /// Ends the current run and hands over its record.
    pub(crate) fn end(&self) -> RunRecord {
        self.inner.state().current.take().unwrap_or_default()
    }

    /// (SETs of other runs, SETs without a mark) so far.
    pub(crate) fn strays(&self) -> (u64, u64) {
        let state = self.inner.state();
        (state.other_run, state.unmarked)
    }

    /// Requests answered so far, whatever the answer.
    pub(crate) fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_read_from_the_sets_event_payload() {
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let payload = r#"{"iss":"x","events":{"https://e/t":{"event_timestamp":1,
            "loadgen_run":3,"loadgen_seq":17,"loadgen_sent_us":1700000000000000}}}"#;
        let token = format!("{}.{}.sig", b64(r#"{"alg":"ES256"}"#), b64(payload));
        assert_eq!(
            read_mark(token.as_bytes()),
            Some((3, 17, 1_700_000_000_000_000))
        );
        let unmarked = format!("{}.{}.sig", b64("{}"), b64(r#"{"events":{"u":{}}}"#));
        assert_eq!(read_mark(unmarked.as_bytes()), None);
        assert_eq!(read_mark(b"garbage"), None);
    }

    #[test]
    fn missing_pairs_are_the_accepted_sequences_not_seen_on_every_stream() {
        let mut rec = RunRecord {
            first: 5,
            count: 2,
            ..RunRecord::default()
        };
        rec.seen.insert((5, 0), 1);
        rec.seen.insert((6, 0), 2);
        rec.seen.insert((5, 1), 1);
        assert_eq!(rec.missing(&[true, true, false]), 1);
        assert_eq!(rec.pairs(), 3);
    }
}
