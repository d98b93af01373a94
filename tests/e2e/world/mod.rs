//! What the data-plane end-to-end tests share: a hub with one tenant, one receiver
//! organisation and a verifying test receiver ([`World`]), fast failure settings, reliable
//! publishing and the checks on what arrived.

#![allow(dead_code)]

pub mod ui;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sethub_tests::backends::Production;
use sethub_tests::receiver::TestReceiver;
use sethub_tests::setup::{
    self, Hub, ReceiverCreds, SESSION_REVOKED, Tenant, create_push_stream, session_revoked,
};
use sethub_tests::{init_crypto, random_suffix};

pub const BIN: &str = env!("CARGO_BIN_EXE_sethub");

/// The `sethub` binary the hub runs: [`BIN`], or `SETHUB_E2E_BIN` when set (a measurement of
/// another build, e.g. main's, with this harness).
pub fn bin() -> PathBuf {
    std::env::var_os("SETHUB_E2E_BIN").map_or_else(|| PathBuf::from(BIN), PathBuf::from)
}
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
pub const STREAM_UPDATED: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";
pub const LONG: Duration = Duration::from_secs(120);

/// Settings that make failures quick to observe: a short retry schedule and recovery sweep.
pub fn fast_env(mut env: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for (k, v) in [
        ("SETHUB_PUSH__RETRY__INITIAL_SECS", "0.2"),
        ("SETHUB_PUSH__RETRY__FACTOR", "2"),
        ("SETHUB_PUSH__RETRY__MAX_DELAY_SECS", "1"),
        ("SETHUB_PUSH__RETRY__MAX_AGE_SECS", "600"),
        ("SETHUB_PUSH__ORPHAN_AFTER_SECS", "3"),
        ("SETHUB_PUSH__SWEEP_INTERVAL_SECS", "1"),
        ("SETHUB_PUSH__BREAKER_COOLDOWN_MS", "300"),
        ("SETHUB_POLL__VISIBILITY_TIMEOUT_SECS", "1"),
        ("SETHUB_POLL__DEFAULT_WAIT_SECS", "2"),
        ("SETHUB_INGEST__RATE_PER_SECOND", "100000"),
        ("SETHUB_INGEST__BURST", "100000"),
        ("SETHUB_INGEST__UPSTREAM_CHECK_SECS", "1"),
    ] {
        env.insert(k.into(), v.into());
    }
    env
}

/// A hub, one tenant with one receiver organisation, and a test receiver.
pub struct World {
    pub hub: Hub,
    pub tenant: Tenant,
    pub creds: ReceiverCreds,
    pub token: String,
    pub receiver: TestReceiver,
    /// The nginx router in front of the processes ([`World::routed`]).
    pub router: Option<sethub_tests::router::Router>,
    _prod: Option<Production>,
    dir: PathBuf,
}

impl World {
    pub async fn split() -> Self {
        Self::split_with(&[]).await
    }

    /// [`World::split`] with more settings.
    pub async fn split_with(extra: &[(&str, &str)]) -> Self {
        Self::split_services(extra, &["ingest", "fanout"]).await
    }

    /// [`World::split_with`] running `services` (after `manage`) as processes of their own,
    /// e.g. two `fanout` processes.
    pub async fn split_services(extra: &[(&str, &str)], services: &[&str]) -> Self {
        Self::split_services_on(Production::new().await, extra, services).await
    }

    /// [`World::split_services`] over backends made (and perhaps changed) by the caller.
    pub async fn split_services_on(
        prod: Production,
        extra: &[(&str, &str)],
        services: &[&str],
    ) -> Self {
        let mut env = fast_env(prod.env());
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        Self::start(env, Some(prod), Some(services)).await
    }

    /// `sethub all` over the production backends: one origin serves every route, as behind
    /// the router of a real deployment (so `/t/{slug}/sets` is at the public URL).
    pub async fn all_production() -> Self {
        Self::all_production_with(&[]).await
    }

    /// [`World::all_production`] with more settings.
    pub async fn all_production_with(extra: &[(&str, &str)]) -> Self {
        let prod = Production::new().await;
        let mut env = fast_env(prod.env());
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        Self::start(env, Some(prod), None).await
    }

    /// `counts` processes of each service behind the repository's nginx router; every URL
    /// of the hub (public, ingest, manage) is the router's.
    pub async fn routed(extra: &[(&str, &str)], counts: sethub_tests::router::Counts) -> Self {
        init_crypto();
        let prod = Production::new().await;
        let mut env = fast_env(prod.env());
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let dir = std::env::temp_dir().join(format!("sethub-e2e-{}", random_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let (hub, router) = Hub::start_routed(&bin(), &env, &dir, counts).await.unwrap();
        Self::with_hub(hub, Some(router), Some(prod), dir).await
    }

    pub async fn embedded() -> Self {
        Self::embedded_with(&[]).await
    }

    /// [`World::embedded`] with more settings.
    pub async fn embedded_with(extra: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("sethub-e2e-{}", random_suffix()));
        let mut env = fast_env(BTreeMap::from([(
            "SETHUB_DATA_DIR".to_owned(),
            dir.join("data").display().to_string(),
        )]));
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        Self::start(env, None, None).await
    }

    async fn start(
        env: BTreeMap<String, String>,
        prod: Option<Production>,
        services: Option<&[&str]>,
    ) -> Self {
        init_crypto();
        let dir = std::env::temp_dir().join(format!("sethub-e2e-{}", random_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let hub = match services {
            Some(services) => Hub::start_services(&bin(), &env, &dir, services)
                .await
                .unwrap(),
            None => Hub::start_all(&bin(), &env, &dir).await.unwrap(),
        };
        Self::with_hub(hub, None, prod, dir).await
    }

    async fn with_hub(
        hub: Hub,
        router: Option<sethub_tests::router::Router>,
        prod: Option<Production>,
        dir: PathBuf,
    ) -> Self {
        let slug = format!("t{}", random_suffix());
        let tenant = setup::create_tenant(&bin(), &hub.env, &slug).await.unwrap();
        let creds = setup::create_receiver(&bin(), &hub.env, &slug, "rx")
            .await
            .unwrap();
        let token = setup::token(&creds).await.unwrap();
        let receiver = TestReceiver::start(hub.jwks_url(&slug), tenant.issuer.clone()).await;
        Self {
            hub,
            tenant,
            creds,
            token,
            receiver,
            router,
            _prod: prod,
            dir,
        }
    }

    pub async fn stream(&self, path: &str, events: &[&str]) -> String {
        create_push_stream(
            &self.hub.manage_url,
            &self.tenant.slug,
            &self.token,
            &self.receiver.url(path),
            Some(&format!("Bearer secret-for-{path}")),
            events,
        )
        .await
        .unwrap()
        .stream_id
    }

    pub fn process(&mut self, role: &str) -> &mut sethub_tests::SethubProcess {
        &mut self
            .hub
            .processes
            .iter_mut()
            .find(|(r, _)| r == role)
            .unwrap()
            .1
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        setup::tenant_api(
            &self.hub.manage_url,
            &self.tenant.api_key,
            method,
            path,
            body,
        )
        .await
    }
}

impl World {
    /// The superuser's connection URL to this hub's own database (production backends only):
    /// for fixtures the API would take too long to make.
    pub fn database_admin_url(&self) -> Option<String> {
        let name = self._prod.as_ref()?.db.database_name()?;
        let mut url = url::Url::parse(&sethub_store::testing::admin_url()).ok()?;
        url.set_path(name);
        Some(url.to_string())
    }

    /// The RabbitMQ queue and Redis key prefix of this hub (production backends only).
    pub fn backend_prefix(&self) -> Option<&str> {
        self._prod.as_ref().map(|p| p.prefix.as_str())
    }

    /// Waits until `role`'s `/metrics` has the exact line `line`.
    pub async fn wait_for_metric(&self, role: &str, line: &str) {
        let metrics = self.hub.process(role).unwrap().url("/metrics");
        sethub_tests::wait_until(&format!("{role} to report `{line}`"), LONG, || async {
            let text = reqwest::get(&metrics).await.ok()?.text().await.ok()?;
            text.lines().any(|l| l == line).then_some(())
        })
        .await;
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Publishes `n` session-revoked events in batches of 100, each batch repeated with its
/// `Idempotency-Key` until every item is accepted (a backend may be down meanwhile).
/// Returns the accepted event ids in order.
pub async fn publish_all(ingest: &str, tenant: &Tenant, n: usize, tag: &str) -> Vec<String> {
    publish_all_in(ingest, tenant, n, tag, 100).await
}

/// [`publish_all`] in batches of `batch` events (each batch is one bus message of at most
/// that many events).
pub async fn publish_all_in(
    ingest: &str,
    tenant: &Tenant,
    n: usize,
    tag: &str,
    batch: usize,
) -> Vec<String> {
    let client = reqwest::Client::new();
    let url = format!("{ingest}/t/{}/events:batch", tenant.slug);
    let mut ids = Vec::with_capacity(n);
    for (b, chunk) in (0..n).collect::<Vec<_>>().chunks(batch).enumerate() {
        let events: Vec<Value> = chunk
            .iter()
            .map(|i| session_revoked(&format!("user{}@example.com", i % 7)))
            .collect();
        let key = format!("{tag}-{b}");
        let deadline = Instant::now() + LONG;
        loop {
            let sent = client
                .post(&url)
                .bearer_auth(&tenant.api_key)
                .header("Idempotency-Key", &key)
                .json(&json!({ "events": events }))
                .send()
                .await;
            if let Ok(resp) = sent
                && resp.status().as_u16() == 200
            {
                let body: Value = resp.json().await.unwrap();
                let results = body["results"].as_array().unwrap();
                if results.iter().all(|r| r["status"] == 202) {
                    ids.extend(
                        results
                            .iter()
                            .map(|r| r["event_id"].as_str().unwrap().to_owned()),
                    );
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "batch {b} was not accepted within {LONG:?}"
            );
            // Back-off between retries of a refused publish (a backend is down).
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    ids
}

/// Runs `sql` as the superuser on the hub's database; returns what `psql` printed (unaligned,
/// tuples only).
pub fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql (PostgreSQL's client) must be installed");
    assert!(
        out.status.success(),
        "psql failed: {}\n{sql}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The value of the metric line `name` (with its labels, if any) on `metrics_url`.
pub async fn metric(metrics_url: &str, name: &str) -> Option<u64> {
    let text = reqwest::get(metrics_url).await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// Every published event arrived on `path` at least once; returns how many arrived twice
/// or more (allowed after a crash: at-least-once).
pub fn assert_all_arrived(receiver: &TestReceiver, path: &str, ids: &[String]) -> usize {
    let by_txn = receiver.count_by_txn(path);
    let missing: Vec<_> = ids.iter().filter(|id| !by_txn.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events never reached {path}, e.g. {:?}",
        missing.len(),
        ids.len(),
        missing.first()
    );
    let wanted: HashSet<&String> = ids.iter().collect();
    assert!(
        by_txn.keys().all(|t| wanted.contains(t)),
        "{path} received an event that was not published to it"
    );
    by_txn.values().filter(|n| **n > 1).count()
}

/// The claims of a compact SET, not verified.
pub fn decode_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// A poll stream of the world's receiver: its id and poll endpoint.
pub async fn poll_stream(w: &World) -> (String, String) {
    let meta = setup::metadata(&w.hub.manage_url, &w.tenant.slug)
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(meta["configuration_endpoint"].as_str().unwrap())
        .bearer_auth(&w.token)
        .json(&json!({"events_requested": [SESSION_REVOKED]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let config: Value = resp.json().await.unwrap();
    // The endpoint is on the public URL, whose `/t/*/ssf/poll/*` paths a deployment routes
    // to fan-out; without the router a fan-out process listens on its own port (`sethub
    // all` serves it at the public URL).
    let endpoint = config["delivery"]["endpoint_url"].as_str().unwrap();
    assert!(endpoint.starts_with(&w.hub.public_url), "{endpoint}");
    let stream = config["stream_id"].as_str().unwrap().to_owned();
    match w.hub.process("fanout") {
        Some(fanout) if w.router.is_none() => (
            stream,
            endpoint.replacen(&w.hub.public_url, &fanout.base_url, 1),
        ),
        _ => (stream, endpoint.to_owned()),
    }
}

pub async fn poll(w: &World, endpoint: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(endpoint)
        .bearer_auth(&w.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A receiver draining a poll stream: what it has seen, what it acknowledged and the acks it
/// owes.
#[derive(Default)]
pub struct Drain {
    /// How many times each event (`txn`) was handed out.
    pub seen: HashMap<String, usize>,
    /// Events whose acknowledgement a poll answered (settled).
    pub acked: HashSet<String>,
    /// SETs handed out again after their acknowledgement was settled: must stay 0.
    pub came_back_after_ack: usize,
    ack: Vec<(String, String)>,
}

impl Drain {
    /// Long-polls up to 100 SETs at a time, acknowledging each batch with the next request,
    /// until `want()` (0: not known yet) or `stop_at` distinct events came. Requests refused
    /// while a process or backend restarts are repeated, the acks with them.
    pub async fn until(
        &mut self,
        w: &World,
        endpoint: &str,
        stop_at: Option<usize>,
        want: impl Fn() -> usize,
    ) {
        self.until_seen(w, endpoint, |seen| {
            let wanted = want();
            stop_at.is_some_and(|n| seen.len() >= n) || (wanted > 0 && seen.len() >= wanted)
        })
        .await;
    }

    /// [`Drain::until`] every one of `txns` came (other SETs, such as a verification SET,
    /// may come beside them and do not count).
    pub async fn until_all(&mut self, w: &World, endpoint: &str, txns: &[String]) {
        self.until_seen(w, endpoint, |seen| {
            txns.iter().all(|t| seen.contains_key(t))
        })
        .await;
    }

    async fn until_seen(
        &mut self,
        w: &World,
        endpoint: &str,
        done: impl Fn(&HashMap<String, usize>) -> bool,
    ) {
        let deadline = Instant::now() + LONG;
        loop {
            if done(&self.seen) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "drained {} events in {LONG:?}",
                self.seen.len()
            );
            let jtis: Vec<&String> = self.ack.iter().map(|(jti, _)| jti).collect();
            let sent = reqwest::Client::new()
                .post(endpoint)
                .bearer_auth(&w.token)
                .json(&json!({"maxEvents": 100, "ack": jtis}))
                .send()
                .await;
            let body: Value = match sent {
                Ok(resp) if resp.status().as_u16() == 200 => resp.json().await.unwrap(),
                _ => {
                    // A retry pause while the process or backend comes back, not a wait for
                    // a condition.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            self.acked.extend(self.ack.drain(..).map(|(_, txn)| txn));
            let sets = body["sets"].as_object().unwrap();
            for (jti, token) in sets {
                if let Some(txn) = decode_claims(token.as_str().unwrap())["txn"].as_str() {
                    if self.acked.contains(txn) {
                        self.came_back_after_ack += 1;
                    }
                    *self.seen.entry(txn.to_owned()).or_default() += 1;
                    self.ack.push((jti.clone(), txn.to_owned()));
                }
            }
        }
    }

    /// Acknowledges the last batch.
    pub async fn finish(&mut self, w: &World, endpoint: &str) {
        let jtis: Vec<&String> = self.ack.iter().map(|(jti, _)| jti).collect();
        let (status, _) = poll(
            w,
            endpoint,
            json!({"maxEvents": 0, "returnImmediately": true, "ack": jtis}),
        )
        .await;
        assert_eq!(status, 200);
        self.acked.extend(self.ack.drain(..).map(|(_, txn)| txn));
    }

    /// SETs handed out more than once (each extra time counts).
    pub fn duplicates(&self) -> usize {
        self.seen.values().map(|n| n.saturating_sub(1)).sum()
    }
}

/// Sets the stream's `max_rate_per_second` through the tenant API; returns its view.
pub async fn limit_rate(w: &World, stream: &str, per_second: u32) -> Value {
    let (status, view) = w
        .api(
            reqwest::Method::PUT,
            &format!("/streams/{stream}/delivery-settings"),
            Some(serde_json::json!({ "max_rate_per_second": per_second })),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    view
}

/// How long from the first to the last SET that arrived on `path`.
pub fn arrival_span(receiver: &TestReceiver, path: &str) -> Duration {
    let got = receiver.received(path);
    let first = got.iter().map(|s| s.arrived).min().unwrap();
    let last = got.iter().map(|s| s.arrived).max().unwrap();
    last - first
}

/// Arrivals on `path` beyond the first of each event (each extra arrival counts). Every
/// repeat carries the `jti` of the first arrival, so the receiver can drop it.
pub fn duplicates(receiver: &TestReceiver, path: &str) -> usize {
    let mut jtis: HashMap<String, HashSet<String>> = HashMap::new();
    for set in receiver.received(path) {
        if let Some(txn) = set.txn {
            jtis.entry(txn).or_default().insert(set.jti);
        }
    }
    let repeats_with_new_jti: Vec<_> = jtis.iter().filter(|(_, j)| j.len() > 1).collect();
    assert!(
        repeats_with_new_jti.is_empty(),
        "an event pushed again to {path} under another jti: {:?}",
        repeats_with_new_jti.first()
    );
    receiver
        .count_by_txn(path)
        .values()
        .map(|n| n.saturating_sub(1))
        .sum()
}
