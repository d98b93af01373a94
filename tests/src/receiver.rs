//! A real RFC 8935 push receiver for end-to-end tests and the load generator.
//!
//! [`TestReceiver`] is an actix-web server on `127.0.0.1` (a free port) that takes SETs by
//! `POST` on any path; each distinct path is one stream's endpoint (`/s/a`, `/s/b`, …, built
//! with [`TestReceiver::url`]). For every request it:
//!
//! 1. requires `Content-Type: application/secevent+jwt` (anything else is an invalid SET,
//!    answered `400 invalid_request`);
//! 2. validates the body with [`sethub_jose::validate_set`] against the tenant's JWKS, fetched
//!    from `jwks_url` on first use and cached; a SET signed with a `kid` the cache does not
//!    know makes it fetch the JWKS again, once, before refusing (`400 invalid_key`). The
//!    issuer must be the expected one; any audience is accepted and recorded. A refused SET
//!    is answered with the RFC 8935 error body and counted as invalid with its reason;
//! 3. answers a valid SET as the path's [`Behave`] says (default [`Behave::Accept`]: `202`).
//!
//! Every request is recorded as an [`Attempt`] (arrival time, status answered, `jti`/`txn`
//! when readable, the `Authorization` header); only SETs answered `202` are *received*
//! ([`ReceivedSet`]). Waiting ([`TestReceiver::wait_for_count`] and friends) is woken by each
//! recorded request through a `tokio::sync::watch` channel, never by a timer; the deadline is
//! the only timer.
//!
//! [`TestReceiver::stop`] closes the listener (pushes then get "connection refused") and
//! [`TestReceiver::start_again`] listens on the same port again; records and behaviours
//! survive both.
//!
//! The server runs on actix-web's own worker threads (each with its own single-threaded
//! runtime), so it works from any tokio runtime, `#[tokio::test]` included; its task is
//! spawned on the caller's runtime and stops when the receiver is dropped.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use serde_json::{Value, json};
use sethub_jose::{Expectations, Jwks, SetError, ValidatedSet, validate_set};
use tokio::sync::watch;

/// The media type of a pushed SET (RFC 8935 §2).
pub const SET_CONTENT_TYPE: &str = "application/secevent+jwt";

/// How the receiver answers a valid SET on one path.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Behave {
    /// `202 Accepted`, empty body: the SET is received.
    #[default]
    Accept,
    /// This status with an empty body (e.g. `503`); the SET is not received.
    Status(u16),
    /// An RFC 8935 §2.3 error: `status` with `Content-Type: application/json`,
    /// `Content-Language: en` and `{"err", "description"}`; the SET is not received.
    Err {
        status: u16,
        err: String,
        description: String,
    },
    /// This status with an empty body to the first request carrying each `jti` (the SET is
    /// not received), then as [`Behave::Accept`]: every SET fails once and is retried.
    FirstAttemptStatus(u16),
    /// `429 Too Many Requests` with `Retry-After: retry_after_secs`; not received.
    TooMany { retry_after_secs: u64 },
    /// Waits this long, then `202`: the SET is received (its arrival time is when the request
    /// came in, not when it was answered).
    Delay(Duration),
}

impl Behave {
    /// The RFC 8935 error `err` with `status` 400.
    pub fn err(err: &str, description: &str) -> Self {
        Self::Err {
            status: 400,
            err: err.to_owned(),
            description: description.to_owned(),
        }
    }
}

/// A SET the receiver answered `202`.
#[derive(Clone, Debug)]
pub struct ReceivedSet {
    pub jti: String,
    pub txn: Option<String>,
    pub iss: String,
    /// The `aud` values (empty when the SET had none).
    pub aud: Vec<String>,
    /// The `kid` of the JOSE header.
    pub kid: Option<String>,
    /// `sub_id` as JSON.
    pub sub_id: Value,
    /// `events` as JSON (event type URI → payload).
    pub events: Value,
    /// The `Authorization` header it came with.
    pub authorization: Option<String>,
    /// When the request arrived.
    pub arrived: Instant,
    /// The compact SET as sent.
    pub token: String,
}

impl ReceivedSet {
    /// The event type URIs of the SET.
    pub fn event_types(&self) -> Vec<String> {
        self.events
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// One request, whatever it was answered.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub arrived: Instant,
    /// The HTTP status answered.
    pub status: u16,
    /// `jti` and `txn`, when the body was a SET whose payload could be read (even if invalid).
    pub jti: Option<String>,
    pub txn: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// Why the SET was refused, when it was invalid.
    pub invalid: Option<String>,
}

/// A request refused as not a valid SET.
#[derive(Clone, Debug)]
pub struct InvalidSet {
    pub arrived: Instant,
    /// The RFC 8935 `err` answered.
    pub err: String,
    /// Why, in words.
    pub reason: String,
    /// The body as sent (lossy UTF-8).
    pub body: String,
}

#[derive(Default)]
struct PathState {
    behave: Behave,
    received: Vec<ReceivedSet>,
    attempts: Vec<Attempt>,
    /// The `jti`s of `attempts`, so a request asks "tried before?" in constant time: a scan
    /// of every attempt under the lock made each request cost more than the last (50,000
    /// SETs of the recovery test took their push attempts from 4 ms to over 700 ms each).
    tried: HashSet<String>,
    invalid: Vec<InvalidSet>,
}

impl PathState {
    fn record(&mut self, attempt: Attempt) {
        if let Some(jti) = &attempt.jti {
            self.tried.insert(jti.clone());
        }
        self.attempts.push(attempt);
    }
}

#[derive(Default)]
struct JwksCache {
    jwks: Option<Arc<Jwks>>,
    /// Incremented on each successful fetch.
    generation: u64,
}

/// What the handlers share.
struct Inner {
    jwks_url: String,
    issuer: String,
    verify: bool,
    http: reqwest::Client,
    jwks: tokio::sync::Mutex<JwksCache>,
    jwks_fetches: AtomicU64,
    paths: Mutex<HashMap<String, PathState>>,
    /// Bumped after every recorded request; waiters watch it.
    changes: watch::Sender<u64>,
    /// How many times a waiter evaluated its condition (see [`TestReceiver::wait_checks`]).
    wait_checks: AtomicU64,
}

impl Inner {
    fn paths(&self) -> MutexGuard<'_, HashMap<String, PathState>> {
        // A panicking test thread must not hide the records from the others.
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The cached JWKS, fetched if there is none or if the cached one is the generation
    /// `stale` (the caller found it lacking a key). Concurrent refetches are coalesced.
    async fn jwks(&self, stale: Option<u64>) -> Result<(Arc<Jwks>, u64), String> {
        let mut cache = self.jwks.lock().await;
        if let Some(jwks) = &cache.jwks
            && stale.is_none_or(|g| cache.generation > g)
        {
            return Ok((jwks.clone(), cache.generation));
        }
        self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .map_err(|e| format!("cannot fetch the JWKS from {}: {e}", self.jwks_url))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("cannot read the JWKS from {}: {e}", self.jwks_url))?;
        if !status.is_success() {
            return Err(format!(
                "the JWKS at {} answered {status}: {}",
                self.jwks_url,
                String::from_utf8_lossy(&body)
            ));
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the JWKS at {} is not JSON: {e}", self.jwks_url))?;
        let jwks = Arc::new(
            Jwks::from_json(&value)
                .map_err(|e| format!("the JWKS at {} is unusable: {e}", self.jwks_url))?,
        );
        cache.jwks = Some(jwks.clone());
        cache.generation += 1;
        Ok((jwks, cache.generation))
    }

    /// Validates a SET; an unknown `kid` refetches the JWKS once.
    async fn validate(&self, token: &str) -> Result<ValidatedSet, Refusal> {
        let exp = Expectations::new(self.issuer.clone(), "").any_audience();
        let (jwks, generation) = self.jwks(None).await.map_err(Refusal::Jwks)?;
        match validate_set(token, &jwks, &exp) {
            Err(SetError::UnknownKey(Some(_))) => {
                let (jwks, _) = self.jwks(Some(generation)).await.map_err(Refusal::Jwks)?;
                validate_set(token, &jwks, &exp).map_err(Refusal::Set)
            }
            other => other.map_err(Refusal::Set),
        }
    }
}

/// Why a request was not taken as a valid SET.
enum Refusal {
    /// An RFC 8935 error (`err`, description).
    Set(SetError),
    /// Not a SET request at all (content type, encoding): `invalid_request`.
    Request(String),
    /// The JWKS could not be had: answered 503, counted invalid.
    Jwks(String),
}

/// The claims recorded for a SET, from a validated one or (verification off) read as is.
struct Claims {
    jti: String,
    txn: Option<String>,
    iss: String,
    aud: Vec<String>,
    kid: Option<String>,
    sub_id: Value,
    events: Value,
}

impl From<ValidatedSet> for Claims {
    fn from(set: ValidatedSet) -> Self {
        Self {
            jti: set.jti,
            txn: set.txn,
            iss: set.iss,
            aud: set.aud.map(|a| a.values().to_vec()).unwrap_or_default(),
            kid: set.header.kid,
            sub_id: set.sub_id.to_json(),
            events: Value::Object(set.events),
        }
    }
}

fn b64_json(part: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The header and payload of a compact JWS, read without verifying anything.
fn read_unverified(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.trim().split('.');
    let header = b64_json(parts.next()?)?;
    let payload = b64_json(parts.next()?)?;
    Some((header, payload))
}

fn claims_unverified(token: &str) -> Result<Claims, String> {
    let (header, payload) = read_unverified(token).ok_or("not a compact JWS with JSON parts")?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let aud = match payload.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Claims {
        jti: text(&payload, "jti").ok_or("no `jti`")?,
        txn: text(&payload, "txn"),
        iss: text(&payload, "iss").ok_or("no `iss`")?,
        aud,
        kid: text(&header, "kid"),
        sub_id: payload.get("sub_id").cloned().unwrap_or(Value::Null),
        events: payload.get("events").cloned().unwrap_or(Value::Null),
    })
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn error_response(status: u16, err: &str, description: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .content_type("application/json")
        .insert_header(("Content-Language", "en"))
        .json(json!({ "err": err, "description": description }))
}

async fn handle(req: HttpRequest, body: web::Bytes, inner: web::Data<Inner>) -> HttpResponse {
    let arrived = Instant::now();
    let path = req.path().to_owned();
    let authorization = header(&req, "authorization");
    let content_type = header(&req, "content-type");
    let mut attempt = Attempt {
        arrived,
        status: 0,
        jti: None,
        txn: None,
        authorization: authorization.clone(),
        content_type: content_type.clone(),
        invalid: None,
    };
    if req.method() != actix_web::http::Method::POST {
        attempt.status = 405;
        inner.paths().entry(path).or_default().record(attempt);
        inner.notify();
        return HttpResponse::MethodNotAllowed()
            .insert_header(("Allow", "POST"))
            .finish();
    }
    let token = String::from_utf8_lossy(&body).into_owned();
    if let Some((_, payload)) = read_unverified(&token) {
        let text = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_owned);
        attempt.jti = text("jti");
        attempt.txn = text("txn");
    }

    let media_type = content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    let verdict: Result<Claims, Refusal> = if media_type.as_deref() != Some(SET_CONTENT_TYPE) {
        Err(Refusal::Request(format!(
            "Content-Type must be {SET_CONTENT_TYPE}, found {}",
            content_type.as_deref().unwrap_or("none")
        )))
    } else if std::str::from_utf8(&body).is_err() {
        Err(Refusal::Request("the body is not UTF-8".to_owned()))
    } else if inner.verify {
        inner.validate(&token).await.map(Claims::from)
    } else {
        claims_unverified(&token).map_err(Refusal::Request)
    };

    let claims = match verdict {
        Ok(claims) => claims,
        Err(refusal) => {
            let (status, err, reason) = match refusal {
                Refusal::Set(e) => (400, e.err_code().as_str().to_owned(), e.description()),
                Refusal::Request(why) => (400, "invalid_request".to_owned(), why),
                Refusal::Jwks(why) => (503, "temporarily_unavailable".to_owned(), why),
            };
            attempt.status = status;
            attempt.invalid = Some(reason.clone());
            {
                let mut paths = inner.paths();
                let state = paths.entry(path).or_default();
                state.record(attempt);
                state.invalid.push(InvalidSet {
                    arrived,
                    err: err.clone(),
                    reason: reason.clone(),
                    body: token,
                });
            }
            inner.notify();
            return if status == 503 {
                HttpResponse::ServiceUnavailable()
                    .insert_header(("Retry-After", "1"))
                    .finish()
            } else {
                error_response(status, &err, &reason)
            };
        }
    };

    let (behave, tried_before) = {
        let mut paths = inner.paths();
        let state = paths.entry(path.clone()).or_default();
        (state.behave.clone(), state.tried.contains(&claims.jti))
    };
    let (response, received) = match &behave {
        Behave::Accept => (HttpResponse::Accepted().finish(), true),
        Behave::FirstAttemptStatus(_) if tried_before => (HttpResponse::Accepted().finish(), true),
        Behave::FirstAttemptStatus(s) => (
            HttpResponse::build(
                StatusCode::from_u16(*s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            )
            .finish(),
            false,
        ),
        Behave::Delay(d) => {
            tokio::time::sleep(*d).await;
            (HttpResponse::Accepted().finish(), true)
        }
        Behave::Status(s) => (
            HttpResponse::build(
                StatusCode::from_u16(*s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            )
            .finish(),
            false,
        ),
        Behave::Err {
            status,
            err,
            description,
        } => (error_response(*status, err, description), false),
        Behave::TooMany { retry_after_secs } => (
            HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", retry_after_secs.to_string()))
                .finish(),
            false,
        ),
    };
    attempt.status = response.status().as_u16();
    {
        let mut paths = inner.paths();
        let state = paths.entry(path).or_default();
        state.record(attempt);
        if received {
            state.received.push(ReceivedSet {
                jti: claims.jti,
                txn: claims.txn,
                iss: claims.iss,
                aud: claims.aud,
                kid: claims.kid,
                sub_id: claims.sub_id,
                events: claims.events,
                authorization,
                arrived,
                token,
            });
        }
    }
    inner.notify();
    response
}

/// Options of a [`TestReceiver`]; start it with [`ReceiverBuilder::start`].
pub struct ReceiverBuilder {
    jwks_url: String,
    issuer: String,
    verify: bool,
    workers: usize,
}

impl ReceiverBuilder {
    /// Whether to verify SETs (default true). Off, SETs are only decoded: for measuring
    /// without the receiver's verification cost, never for correctness tests.
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// actix-web worker threads (default 2).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn start(self) -> TestReceiver {
        let http = reqwest::Client::builder()
            // JWKS fetches are rare and come from different worker runtimes: no pooling,
            // so no connection outlives the runtime that opened it.
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|e| panic!("cannot build the receiver's HTTP client: {e}"));
        let inner = Arc::new(Inner {
            jwks_url: self.jwks_url,
            issuer: self.issuer,
            verify: self.verify,
            http,
            jwks: tokio::sync::Mutex::new(JwksCache::default()),
            jwks_fetches: AtomicU64::new(0),
            paths: Mutex::new(HashMap::new()),
            changes: watch::Sender::new(0),
            wait_checks: AtomicU64::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind the test receiver: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the test receiver has no address: {e}"));
        let mut receiver = TestReceiver {
            inner,
            addr,
            workers: self.workers,
            server: None,
        };
        receiver.serve(listener);
        receiver
    }
}

/// A running push receiver; see the module documentation. Stops serving when dropped.
pub struct TestReceiver {
    inner: Arc<Inner>,
    addr: SocketAddr,
    workers: usize,
    server: Option<(ServerHandle, tokio::task::JoinHandle<()>)>,
}

impl TestReceiver {
    /// A verifying receiver of SETs from `issuer`, signed with keys of the JWKS at
    /// `jwks_url`, on a free port of 127.0.0.1.
    pub async fn start(jwks_url: String, issuer: String) -> TestReceiver {
        Self::builder(jwks_url, issuer).start().await
    }

    /// A receiver with options.
    pub fn builder(jwks_url: String, issuer: String) -> ReceiverBuilder {
        ReceiverBuilder {
            jwks_url,
            issuer,
            verify: true,
            workers: 2,
        }
    }

    fn serve(&mut self, listener: TcpListener) {
        let data = web::Data::from(self.inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(self.workers)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .unwrap_or_else(|e| panic!("the test receiver cannot listen: {e}"))
        .run();
        let handle = server.handle();
        let task = tokio::spawn(async move {
            if let Err(e) = server.await {
                eprintln!("[test receiver] server error: {e}");
            }
        });
        self.server = Some((handle, task));
    }

    /// The address it listens on (kept across [`TestReceiver::stop`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`: the endpoint of the stream that pushes to `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The issuer it expects.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Sets how valid SETs on `path` are answered from now on.
    pub fn behave(&self, path: &str, behave: Behave) {
        self.inner
            .paths()
            .entry(path.to_owned())
            .or_default()
            .behave = behave;
    }

    /// The SETs answered `202` on `path`, in arrival order.
    pub fn received(&self, path: &str) -> Vec<ReceivedSet> {
        self.inner
            .paths()
            .get(path)
            .map(|s| s.received.clone())
            .unwrap_or_default()
    }

    /// How many SETs `path` answered `202` (duplicates included).
    pub fn count(&self, path: &str) -> usize {
        self.inner.paths().get(path).map_or(0, |s| s.received.len())
    }

    /// How many SETs all paths answered `202`.
    pub fn total_received(&self) -> usize {
        self.inner.paths().values().map(|s| s.received.len()).sum()
    }

    /// Every request on `path`, whatever it was answered, in arrival order.
    pub fn attempts(&self, path: &str) -> Vec<Attempt> {
        self.inner
            .paths()
            .get(path)
            .map(|s| s.attempts.clone())
            .unwrap_or_default()
    }

    /// How many requests `path` got, whatever they were answered (no copy of them).
    pub fn attempt_count(&self, path: &str) -> usize {
        self.inner.paths().get(path).map_or(0, |s| s.attempts.len())
    }

    /// How many distinct `txn`s `path` received (no copy of them): every event's SET arrived
    /// when this is the number of events.
    pub fn distinct_txns(&self, path: &str) -> usize {
        self.inner.paths().get(path).map_or(0, |s| {
            s.received
                .iter()
                .map(|r| r.txn.as_deref().unwrap_or_default())
                .collect::<HashSet<&str>>()
                .len()
        })
    }

    /// The requests on `path` refused as invalid SETs.
    pub fn invalid(&self, path: &str) -> Vec<InvalidSet> {
        self.inner
            .paths()
            .get(path)
            .map(|s| s.invalid.clone())
            .unwrap_or_default()
    }

    /// How many invalid SETs `path` got.
    pub fn invalid_count(&self, path: &str) -> usize {
        self.inner.paths().get(path).map_or(0, |s| s.invalid.len())
    }

    /// How many invalid SETs all paths got.
    pub fn total_invalid(&self) -> usize {
        self.inner.paths().values().map(|s| s.invalid.len()).sum()
    }

    /// Received SETs on `path` per `txn` (a count above 1 is a duplicate delivery of one
    /// event; SETs without `txn` are counted under `""`).
    pub fn count_by_txn(&self, path: &str) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        if let Some(state) = self.inner.paths().get(path) {
            for set in &state.received {
                *counts
                    .entry(set.txn.clone().unwrap_or_default())
                    .or_insert(0) += 1;
            }
        }
        counts
    }

    /// Every path that got a request or a behaviour, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.inner.paths().keys().cloned().collect();
        paths.sort();
        paths
    }

    /// Applies `f` to every received SET of every path (path, SET), without cloning them.
    pub fn for_each_received(&self, mut f: impl FnMut(&str, &ReceivedSet)) {
        for (path, state) in self.inner.paths().iter() {
            for set in &state.received {
                f(path, set);
            }
        }
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.jwks_fetches.load(Ordering::Relaxed)
    }

    /// How many times the `wait_for_*` methods evaluated their condition: once on entry and
    /// once per recorded request, never on a timer. Tests use it to prove exactly that.
    pub fn wait_checks(&self) -> u64 {
        self.inner.wait_checks.load(Ordering::Relaxed)
    }

    /// A channel that changes on every recorded request (for callers with their own
    /// conditions; mark it seen before checking, then await `changed()`).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Waits until `condition` holds, re-checking it only when a request is recorded. At the
    /// deadline the error is the condition's last explanation of why it did not hold.
    async fn wait(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&Self) -> Result<(), String>,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.changes();
        loop {
            changes.borrow_and_update();
            self.inner.wait_checks.fetch_add(1, Ordering::Relaxed);
            let last = match condition(self) {
                Ok(()) => return Ok(()),
                Err(last) => last,
            };
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `inner`, which we hold: it cannot close.
                Ok(Err(_)) | Err(_) => return Err(format!("after {timeout:?}: {last}")),
            }
        }
    }

    /// Waits until `path` has received at least `n` SETs (answered `202`).
    pub async fn wait_for_count(
        &self,
        path: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<(), String> {
        self.wait(timeout, |r| {
            let count = r.count(path);
            if count >= n {
                Ok(())
            } else {
                Err(format!(
                    "{path} received {count} SETs, expected at least {n} ({} attempts, {} invalid)",
                    r.attempt_count(path),
                    r.invalid_count(path)
                ))
            }
        })
        .await
    }

    /// Waits until all paths together have received at least `n` SETs.
    pub async fn wait_for_total(&self, n: usize, timeout: Duration) -> Result<(), String> {
        self.wait(timeout, |r| {
            let count = r.total_received();
            if count >= n {
                Ok(())
            } else {
                Err(format!(
                    "all paths received {count} SETs, expected at least {n} ({} invalid)",
                    r.total_invalid()
                ))
            }
        })
        .await
    }

    /// Waits until `path` has had at least `n` requests, whatever they were answered (to
    /// watch retries against a failing [`Behave`]).
    pub async fn wait_for_attempts(
        &self,
        path: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<(), String> {
        self.wait(timeout, |r| {
            let count = r.attempt_count(path);
            if count >= n {
                Ok(())
            } else {
                Err(format!(
                    "{path} had {count} requests, expected at least {n}"
                ))
            }
        })
        .await
    }

    /// Stops listening: connections to the port are refused until
    /// [`TestReceiver::start_again`]. Requests in flight get up to a second to finish; when
    /// this returns, every worker is gone and no request is answered any more.
    pub async fn stop(&mut self) {
        if let Some((handle, task)) = self.server.take() {
            handle.stop(true).await;
            let _ = task.await;
        }
    }

    /// Listens on the same port again after [`TestReceiver::stop`] (no-op when running).
    /// Records and behaviours are kept.
    pub async fn start_again(&mut self) {
        if self.server.is_some() {
            return;
        }
        // std sets SO_REUSEADDR: the port is free again once `stop` has returned.
        let listener = TcpListener::bind(self.addr)
            .unwrap_or_else(|e| panic!("cannot bind {} again: {e}", self.addr));
        self.serve(listener);
    }

    /// Whether it is listening.
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        if let Some((handle, _task)) = self.server.take() {
            // The stop command is sent when `stop` is called; the future only awaits it.
            drop(handle.stop(false));
        }
    }
}
