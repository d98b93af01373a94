//! [`SsfTransmitter`]: a small SSF 1.0 transmitter written for the tests (not sethub), for
//! sethub as a *receiver* of upstream transmitters. It serves its metadata at
//! `/.well-known/ssf-configuration/idp` (issuer `http://127.0.0.1:{port}/idp`: the path
//! insertion form), an RFC 8414 document with its token endpoint (client credentials, HTTP
//! Basic), the stream API (create, read, delete, status, verify) and its JWKS; it pushes SETs
//! (RFC 8935) to its push streams and queues them for its poll streams (RFC 8936, at
//! `/ssf/poll/{stream_id}`, keeping every `ack` and `setErrs`), a verification SET when asked
//! for one. Its poll endpoint honours `returnImmediately: false` by waiting for a SET up to
//! 30 s (or answers at once, or waits longer: [`SsfTransmitter::set_long_poll`]) and counts
//! the polls it gets ([`SsfTransmitter::polls`]). It checks what its
//! receiver sends it and keeps every violation in [`SsfTransmitter::problems`]: a stream API
//! call without a valid bearer token, transmitter-supplied members on create. It signs ES256
//! or, started with [`SsfTransmitter::start_signing`], RS256 or EdDSA;
//! [`SsfTransmitter::restart`] stops it and serves again on the same address having forgotten
//! its streams, queued SETs and tokens, as a transmitter restarted without its state.

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::{ServerHandle, Service as _};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use serde_json::{Value, json};
use sethub_jose::{Alg, SigningKey, sign_jws};

const PUSH: &str = "urn:ietf:rfc:8935";
const POLL: &str = "urn:ietf:rfc:8936";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const STREAM_UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";
/// What this transmitter can send.
const SUPPORTED: &[&str] = &[
    crate::setup::SESSION_REVOKED,
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
];
/// Members only a transmitter may set (SSF §4); a create request must not carry them.
const TRANSMITTER_SUPPLIED: &[&str] = &[
    "stream_id",
    "iss",
    "aud",
    "events_supported",
    "events_delivered",
    "min_verification_interval",
    "inactivity_timeout",
];

struct Shared {
    issuer: String,
    base: String,
    client_id: String,
    client_secret: String,
    key: SigningKey,
    tokens: Mutex<HashSet<String>>,
    streams: Mutex<BTreeMap<String, Value>>,
    create_bodies: Mutex<Vec<Value>>,
    problems: Mutex<Vec<String>>,
    /// `(stream_id, status)` of every push made.
    pushes: Mutex<Vec<(String, u16)>>,
    /// Poll streams' SETs not yet acknowledged: stream → jti → SET.
    queues: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    acked: Mutex<Vec<String>>,
    set_errs: Mutex<Vec<(String, Value)>>,
    next: AtomicU64,
    long_poll: Mutex<LongPoll>,
    /// The `returnImmediately` member of every poll request, in order.
    polls: Mutex<Vec<Value>>,
    /// Poll requests being answered now (a long poll counts while it waits), and the most
    /// ever at once.
    open_polls: Mutex<(usize, usize)>,
    /// Woken whenever a SET is queued for a poll stream.
    queued: tokio::sync::Notify,
    /// Every HTTP request it got.
    requests: AtomicU64,
}

/// How the poll endpoint treats `returnImmediately: false` (RFC 8936 long poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongPoll {
    /// Waits up to this long for a SET, then answers (empty if none came).
    Wait(Duration),
    /// Ignores it: answers at once, as if `returnImmediately` were true.
    Ignore,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Shared {
    fn problem(&self, p: String) {
        lock(&self.problems).push(p);
    }

    /// Whether the bearer token of `req` is one this transmitter issued; if not, a problem
    /// is noted (the caller answers `401`).
    fn authorized(&self, req: &HttpRequest) -> bool {
        let token = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match token {
            Some(t) if lock(&self.tokens).contains(t) => true,
            _ => {
                self.problem(format!(
                    "{} {} without a valid bearer token",
                    req.method(),
                    req.path()
                ));
                false
            }
        }
    }

    fn sign(&self, claims: &Value) -> String {
        sign_jws(
            &self.key,
            Some("secevent+jwt"),
            claims.to_string().as_bytes(),
        )
        .unwrap_or_else(|e| panic!("cannot sign: {e}"))
    }

    fn jti(&self) -> String {
        format!("up-{}", self.next.fetch_add(1, Ordering::SeqCst))
    }

    /// Pushes `token` to `stream`'s endpoint: its status (0 when unreachable); for a poll
    /// stream queues it (202).
    async fn push(&self, stream: &Value, token: String) -> u16 {
        let id = stream["stream_id"].as_str().unwrap_or_default().to_owned();
        if stream["delivery"]["method"] == POLL {
            let jti = jti_of(&token);
            lock(&self.queues).entry(id).or_default().insert(jti, token);
            self.queued.notify_waiters();
            return 202;
        }
        let Some(url) = stream["delivery"]["endpoint_url"].as_str() else {
            return 0;
        };
        let status = reqwest::Client::new()
            .post(url)
            .header("Content-Type", "application/secevent+jwt")
            .header("Accept", "application/json")
            .body(token)
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        lock(&self.pushes).push((id, status));
        status
    }
}

/// The `jti` of a compact SET this transmitter signed.
fn jti_of(set: &str) -> String {
    let payload = set.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice::<Value>(&bytes).unwrap_or_default()["jti"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn metadata(s: web::Data<Shared>) -> HttpResponse {
    let b = &s.base;
    HttpResponse::Ok().json(json!({
        "spec_version": "1_0",
        "issuer": s.issuer,
        "jwks_uri": format!("{b}/jwks.json"),
        "delivery_methods_supported": [PUSH, POLL],
        "configuration_endpoint": format!("{b}/ssf/stream"),
        "status_endpoint": format!("{b}/ssf/status"),
        "verification_endpoint": format!("{b}/ssf/verify"),
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
    }))
}

async fn oauth_metadata(s: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "issuer": s.issuer,
        "token_endpoint": format!("{}/oauth/token", s.base),
        "grant_types_supported": ["client_credentials"],
    }))
}

async fn jwks(s: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "keys": [s.key.public_jwk().to_json()] }))
}

async fn token(s: web::Data<Shared>, req: HttpRequest, body: String) -> HttpResponse {
    let basic = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!("{}:{}", s.client_id, s.client_secret);
    if basic.as_deref() != Some(expected.as_str()) {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    if body.trim() != "grant_type=client_credentials" {
        return HttpResponse::BadRequest().json(json!({"error": "unsupported_grant_type"}));
    }
    let t = format!("at-{}", uuid::Uuid::new_v4().simple());
    lock(&s.tokens).insert(t.clone());
    HttpResponse::Ok().json(json!({"access_token": t, "token_type": "Bearer", "expires_in": 3600}))
}

fn query_stream_id(req: &HttpRequest) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "stream_id")
        .map(|(_, v)| v.into_owned())
}

async fn create(s: web::Data<Shared>, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    if !s.authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let body = body.into_inner();
    lock(&s.create_bodies).push(body.clone());
    for m in TRANSMITTER_SUPPLIED {
        if body.get(*m).is_some() {
            s.problem(format!("create carried the transmitter-supplied `{m}`"));
            return HttpResponse::BadRequest().finish();
        }
    }
    let requested: Vec<&str> = body["events_requested"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let delivered: Vec<&str> = SUPPORTED
        .iter()
        .copied()
        .filter(|t| requested.contains(t))
        .collect();
    let id = format!("st-{}", s.next.fetch_add(1, Ordering::SeqCst));
    let mut delivery = body["delivery"].clone();
    if delivery["method"] == POLL {
        delivery["endpoint_url"] = json!(format!("{}/ssf/poll/{id}", s.base));
    }
    let stream = json!({
        "stream_id": id,
        "iss": s.issuer,
        "aud": s.client_id,
        "events_supported": SUPPORTED,
        "events_requested": requested,
        "events_delivered": delivered,
        "delivery": delivery,
        "description": body["description"],
    });
    lock(&s.streams).insert(id, stream.clone());
    HttpResponse::Created().json(stream)
}

async fn read(s: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    if !s.authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let streams = lock(&s.streams);
    match query_stream_id(&req) {
        Some(id) => match streams.get(&id) {
            Some(st) => HttpResponse::Ok().json(st),
            None => HttpResponse::NotFound().finish(),
        },
        None => HttpResponse::Ok().json(streams.values().collect::<Vec<_>>()),
    }
}

async fn delete(s: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    if !s.authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    match query_stream_id(&req).and_then(|id| lock(&s.streams).remove(&id)) {
        Some(_) => HttpResponse::NoContent().finish(),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn status(s: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    if !s.authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    match query_stream_id(&req).filter(|id| lock(&s.streams).contains_key(id)) {
        Some(id) => HttpResponse::Ok().json(json!({"stream_id": id, "status": "enabled"})),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn verify(s: web::Data<Shared>, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    if !s.authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let Some(id) = body["stream_id"].as_str() else {
        return HttpResponse::BadRequest().finish();
    };
    let Some(stream) = lock(&s.streams).get(id).cloned() else {
        return HttpResponse::NotFound().finish();
    };
    let mut event = json!({});
    if let Some(state) = body["state"].as_str() {
        event["state"] = json!(state);
    }
    let set = s.sign(&json!({
        "iss": s.issuer, "aud": stream["aud"], "jti": s.jti(), "iat": now(),
        "sub_id": {"format": "opaque", "id": id},
        "events": { VERIFICATION: event },
    }));
    // Sent after the answer, as a transmitter's verification is.
    let shared = s.into_inner();
    tokio::spawn(async move {
        shared.push(&stream, set).await;
    });
    HttpResponse::NoContent().finish()
}

async fn poll(
    s: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if !s.authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let id = path.into_inner();
    lock(&s.polls).push(body["returnImmediately"].clone());
    let _open = OpenPoll::new(&s);
    let wait = match *lock(&s.long_poll) {
        LongPoll::Wait(wait) if body["returnImmediately"] == json!(false) => wait,
        _ => Duration::ZERO,
    };
    let deadline = tokio::time::Instant::now() + wait;
    // Acknowledgements and errors first, as RFC 8936 has it.
    if let Some(queue) = lock(&s.queues).get_mut(&id) {
        for jti in body["ack"].as_array().into_iter().flatten() {
            let jti = jti.as_str().unwrap_or_default().to_owned();
            queue.remove(&jti);
            lock(&s.acked).push(jti);
        }
        for (jti, err) in body["setErrs"].as_object().into_iter().flatten() {
            queue.remove(jti);
            lock(&s.set_errs).push((jti.clone(), err.clone()));
        }
    }
    let max = body["maxEvents"]
        .as_u64()
        .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
    loop {
        let woken = s.queued.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let (sets, more) = {
            let queues = lock(&s.queues);
            match queues.get(&id) {
                None if !lock(&s.streams).contains_key(&id) => {
                    return HttpResponse::NotFound().finish();
                }
                None => (serde_json::Map::new(), false),
                Some(queue) => {
                    let sets: serde_json::Map<String, Value> = queue
                        .iter()
                        .take(max)
                        .map(|(j, set)| (j.clone(), json!(set)))
                        .collect();
                    let more = queue.len() > sets.len();
                    (sets, more)
                }
            }
        };
        if !sets.is_empty() || tokio::time::Instant::now() >= deadline {
            return HttpResponse::Ok().json(json!({"sets": sets, "moreAvailable": more}));
        }
        let _ = tokio::time::timeout_at(deadline, woken).await;
    }
}

/// One poll request being answered, counted in `open_polls` until it is dropped (answered,
/// or its connection gone).
struct OpenPoll<'a>(&'a Shared);

impl<'a> OpenPoll<'a> {
    fn new(s: &'a Shared) -> Self {
        let mut open = lock(&s.open_polls);
        open.0 += 1;
        open.1 = open.1.max(open.0);
        Self(s)
    }
}

impl Drop for OpenPoll<'_> {
    fn drop(&mut self) {
        lock(&self.0.open_polls).0 -= 1;
    }
}

/// An SSF transmitter on 127.0.0.1; stops serving when dropped.
pub struct SsfTransmitter {
    pub issuer: String,
    shared: Arc<Shared>,
    server: ServerHandle,
    addr: std::net::SocketAddr,
}

/// Serves `shared` on `listener`: the handle that stops it.
fn serve(listener: TcpListener, shared: &Arc<Shared>) -> ServerHandle {
    let data = web::Data::from(shared.clone());
    let counted = shared.clone();
    let server = HttpServer::new(move || {
        let counted = counted.clone();
        App::new()
            .app_data(data.clone())
            .wrap_fn(move |req, srv| {
                counted.requests.fetch_add(1, Ordering::SeqCst);
                srv.call(req)
            })
            .route(
                "/.well-known/ssf-configuration/idp",
                web::get().to(metadata),
            )
            .route(
                "/.well-known/oauth-authorization-server/idp",
                web::get().to(oauth_metadata),
            )
            .route("/jwks.json", web::get().to(jwks))
            .route("/oauth/token", web::post().to(token))
            .route("/ssf/stream", web::post().to(create))
            .route("/ssf/stream", web::get().to(read))
            .route("/ssf/stream", web::delete().to(delete))
            .route("/ssf/status", web::get().to(status))
            .route("/ssf/verify", web::post().to(verify))
            .route("/ssf/poll/{stream_id}", web::post().to(poll))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        let _ = server.await;
    });
    handle
}

impl SsfTransmitter {
    /// A transmitter that gives tokens to `client_id` / `client_secret` and signs ES256.
    pub async fn start(client_id: &str, client_secret: &str) -> Self {
        Self::start_signing(client_id, client_secret, Alg::Es256).await
    }

    /// [`SsfTransmitter::start`] signing its SETs with a key of `alg` (RS256: 2048 bits).
    pub async fn start_signing(client_id: &str, client_secret: &str, alg: Alg) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let shared = Arc::new(Shared {
            issuer: format!("{base}/idp"),
            base,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            key: SigningKey::generate(alg).unwrap(),
            tokens: Mutex::default(),
            streams: Mutex::default(),
            create_bodies: Mutex::default(),
            problems: Mutex::default(),
            pushes: Mutex::default(),
            queues: Mutex::default(),
            acked: Mutex::default(),
            set_errs: Mutex::default(),
            next: AtomicU64::new(1),
            long_poll: Mutex::new(LongPoll::Wait(Duration::from_secs(30))),
            polls: Mutex::default(),
            open_polls: Mutex::default(),
            queued: tokio::sync::Notify::new(),
            requests: AtomicU64::new(0),
        });
        let server = serve(listener, &shared);
        Self {
            issuer: shared.issuer.clone(),
            shared,
            server,
            addr,
        }
    }

    /// Stops serving (connections refused) until [`SsfTransmitter::restart`].
    pub async fn stop(&self) {
        self.server.stop(false).await;
    }

    /// Stops (if it serves) and starts again on the same address, as a transmitter that
    /// restarted without keeping its state: every stream, queued SET and access token it
    /// issued is forgotten (its signing key, issuer and records of what it was sent stay).
    pub async fn restart(&mut self) {
        self.server.stop(false).await;
        lock(&self.shared.streams).clear();
        lock(&self.shared.queues).clear();
        lock(&self.shared.tokens).clear();
        // The stopped server's accept thread closes its socket a moment after `stop`
        // returns: until then the address is taken.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.server = serve(listener, &self.shared);
    }

    /// How many HTTP requests it got (any path, any answer).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The streams it has.
    pub fn streams(&self) -> Vec<Value> {
        lock(&self.shared.streams).values().cloned().collect()
    }

    /// How its poll endpoint treats `returnImmediately: false` from now on.
    pub fn set_long_poll(&self, mode: LongPoll) {
        *lock(&self.shared.long_poll) = mode;
    }

    /// The `returnImmediately` member of every poll request it got, in order (`null` when
    /// absent).
    pub fn polls(&self) -> Vec<Value> {
        lock(&self.shared.polls).clone()
    }

    /// The most poll requests it ever answered at once (long polls waiting count).
    pub fn max_open_polls(&self) -> usize {
        lock(&self.shared.open_polls).1
    }

    /// Every `jti` its poll endpoint was told to acknowledge.
    pub fn acked(&self) -> Vec<String> {
        lock(&self.shared.acked).clone()
    }

    /// Every `setErrs` entry its poll endpoint got: `(jti, {"err", "description"})`.
    pub fn set_errs(&self) -> Vec<(String, Value)> {
        lock(&self.shared.set_errs).clone()
    }

    /// The SETs waiting in a poll stream's queue.
    pub fn queued(&self, stream_id: &str) -> usize {
        lock(&self.shared.queues)
            .get(stream_id)
            .map_or(0, BTreeMap::len)
    }

    /// The `jti` of a SET it signed.
    pub fn jti(set: &str) -> String {
        jti_of(set)
    }

    /// Every create request body it got.
    pub fn create_bodies(&self) -> Vec<Value> {
        lock(&self.shared.create_bodies).clone()
    }

    /// What its receiver did wrong (empty when nothing).
    pub fn problems(&self) -> Vec<String> {
        lock(&self.shared.problems).clone()
    }

    /// Every push made: `(stream_id, status)`.
    pub fn pushes(&self) -> Vec<(String, u16)> {
        lock(&self.shared.pushes).clone()
    }

    /// A session-revoked SET about `email` with `txn`, signed once (so pushing it again is a
    /// repeat of the same `jti`).
    pub fn session_revoked(&self, stream: &Value, email: &str, txn: &str) -> String {
        let s = &self.shared;
        s.sign(&json!({
            "iss": s.issuer, "aud": stream["aud"], "jti": s.jti(), "iat": now(), "txn": txn,
            "sub_id": {"format": "email", "email": email},
            "events": { crate::setup::SESSION_REVOKED: {"event_timestamp": now()} },
        }))
    }

    /// A stream-updated SET announcing `status` for `stream`.
    pub fn stream_updated(&self, stream: &Value, status: &str) -> String {
        let s = &self.shared;
        s.sign(&json!({
            "iss": s.issuer, "aud": stream["aud"], "jti": s.jti(), "iat": now(),
            "sub_id": {"format": "opaque", "id": stream["stream_id"]},
            "events": { STREAM_UPDATED: {"status": status} },
        }))
    }

    /// A verification SET for `stream` echoing `state` (none: sent unprompted).
    pub fn verification(&self, stream: &Value, state: Option<&str>) -> String {
        let s = &self.shared;
        let mut event = json!({});
        if let Some(state) = state {
            event["state"] = json!(state);
        }
        s.sign(&json!({
            "iss": s.issuer, "aud": stream["aud"], "jti": s.jti(), "iat": now(),
            "sub_id": {"format": "opaque", "id": stream["stream_id"]},
            "events": { VERIFICATION: event },
        }))
    }

    /// Pushes `set` to `stream`'s endpoint: the answer's status (for a poll stream: queues
    /// it, 202).
    pub async fn push(&self, stream: &Value, set: &str) -> u16 {
        self.shared.push(stream, set.to_owned()).await
    }
}

impl Drop for SsfTransmitter {
    fn drop(&mut self) {
        let h = self.server.clone();
        drop(tokio::spawn(async move { h.stop(false).await }));
    }
}
