//! Setting up a tenant, a receiver and its streams against running `sethub` processes, the
//! way an operator and a receiver would (README walkthrough):
//!
//! - the operator runs the admin CLI: [`create_tenant`] (`sethub tenant create`),
//!   [`create_receiver`] (`sethub receiver create`). The CLI takes the issuer from
//!   `server.public_url`, so `env` must carry the same `SETHUB_SERVER__PUBLIC_URL` as the
//!   running processes ([`Hub`] puts it there);
//! - the receiver gets an access token ([`token`]: client credentials, `client_secret_basic`,
//!   no `scope`, so all scopes), discovers the transmitter ([`metadata`]) and creates push
//!   streams ([`create_push_stream`]) and subjects ([`add_subject`]);
//! - the tenant publishes events with its API key ([`publish`], [`publish_batch`], or a
//!   [`Publisher`] that keeps its connections for load).
//!
//! [`Hub`] starts the hub itself: `sethub all` ([`Hub::start_all`]) or the three services as
//! separate processes ([`Hub::start_split`]), all with one public URL (the manage service's),
//! chosen before they start so the issuer, the JWKS URL and the SETs' `iss` agree.
//!
//! Functions return `anyhow::Result` with the status and body of any unexpected answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use crate::SethubProcess;

/// CAEP session revoked, the event type the harness publishes by default.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// RFC 8935 push, as SSF names it.
pub const PUSH_METHOD: &str = "urn:ietf:rfc:8935";

/// A tenant as `sethub tenant create` prints it.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub tenant_id: String,
    pub slug: String,
    pub issuer: String,
    /// Scopes `events:publish` and `admin`.
    pub api_key: String,
}

/// A receiver's client credentials as `sethub receiver create` prints them.
#[derive(Clone, Debug)]
pub struct ReceiverCreds {
    pub receiver_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub token_endpoint: String,
}

/// A stream as the configuration endpoint answered its creation.
#[derive(Clone, Debug)]
pub struct Stream {
    pub stream_id: String,
    /// The whole stream configuration.
    pub config: Value,
}

/// The shell block between the walkthrough markers of README.md (run as written by the
/// walkthrough tests, directly and behind the router).
pub fn readme_walkthrough() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let block = readme
        .split("<!-- walkthrough:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- walkthrough:end -->").next())
        .expect("README.md has the walkthrough markers");
    block
        .trim()
        .trim_start_matches("```sh")
        .trim_end_matches("```")
        .to_owned()
}

/// Runs the README walkthrough with bash in `dir` against the hub at `hub` (its public URL),
/// with the `sethub` binary `bin` on the `PATH` as the admin CLI; returns its standard
/// output, or the whole story when it fails.
pub async fn run_readme_walkthrough(
    bin: &Path,
    env: &BTreeMap<String, String>,
    hub: &str,
    dir: &Path,
) -> Result<String, String> {
    let script = format!("set -euo pipefail\n{}", readme_walkthrough());
    let bin_dir = bin.parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .envs(env)
        .env("SETHUB_SERVER__PUBLIC_URL", hub)
        .env("HUB", hub)
        .env("PUSH_URL", "http://127.0.0.1:9/events")
        .env("PATH", path)
        .output()
        .await
        .map_err(|e| format!("cannot run bash: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && stdout.trim_end().ends_with("walkthrough complete") {
        Ok(stdout)
    } else {
        Err(format!(
            "the walkthrough failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        ))
    }
}

/// A free TCP port on 127.0.0.1 (bound and released: another process could take it in
/// between, which on a test machine does not happen in practice).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// The `sethub` binary for tests of this crate, which cannot depend on it: `SETHUB_BIN`, else
/// the newest of `sethub` in the target directory (the profile directory of the running
/// executable, then `$CARGO_TARGET_DIR/{debug,release}`). `None` when there is none.
pub fn find_sethub_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("SETHUB_BIN") {
        return Some(PathBuf::from(bin));
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/deps/<test> or target/<profile>/<bin>
        for dir in exe.ancestors().skip(1).take(2) {
            candidates.push(dir.join("sethub"));
        }
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        let target = PathBuf::from(target);
        candidates.push(target.join("debug/sethub"));
        candidates.push(target.join("release/sethub"));
    }
    candidates
        .into_iter()
        .filter_map(|p| {
            let modified = std::fs::metadata(&p).ok()?.modified().ok()?;
            p.is_file().then_some((modified, p))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, p)| p)
}

/// Runs an admin command of `bin` with `env` (on top of an environment without `SETHUB_*`)
/// and parses the JSON it prints.
pub async fn run_cli(
    bin: &Path,
    env: &BTreeMap<String, String>,
    args: &[&str],
) -> anyhow::Result<Value> {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("SETHUB_") && !k.starts_with("SETHUB_TEST"))
    {
        cmd.env_remove(k);
    }
    cmd.envs(env);
    let out = cmd
        .output()
        .await
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "`sethub {}` failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            stdout.trim()
        );
    }
    serde_json::from_str(&stdout)
        .with_context(|| format!("`sethub {}` printed no JSON: {stdout}", args.join(" ")))
}

fn text(v: &Value, key: &str) -> anyhow::Result<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no string `{key}` in {v}"))
}

/// `sethub tenant create --slug SLUG`: the tenant, its first signing key and API key.
pub async fn create_tenant(
    bin: &Path,
    env: &BTreeMap<String, String>,
    slug: &str,
) -> anyhow::Result<Tenant> {
    let v = run_cli(bin, env, &["tenant", "create", "--slug", slug]).await?;
    Ok(Tenant {
        tenant_id: text(&v, "tenant_id")?,
        slug: text(&v, "slug")?,
        issuer: text(&v, "issuer")?,
        api_key: text(&v, "api_key")?,
    })
}

/// `sethub receiver create --tenant SLUG --name NAME`: client credentials.
pub async fn create_receiver(
    bin: &Path,
    env: &BTreeMap<String, String>,
    slug: &str,
    name: &str,
) -> anyhow::Result<ReceiverCreds> {
    let v = run_cli(
        bin,
        env,
        &["receiver", "create", "--tenant", slug, "--name", name],
    )
    .await?;
    Ok(ReceiverCreds {
        receiver_id: text(&v, "receiver_id")?,
        client_id: text(&v, "client_id")?,
        client_secret: text(&v, "client_secret")?,
        token_endpoint: text(&v, "token_endpoint")?,
    })
}

fn client() -> anyhow::Result<reqwest::Client> {
    crate::init_crypto();
    reqwest::Client::builder()
        .build()
        .context("cannot build an HTTP client")
}

/// Sends `req` and returns the status and JSON body (`Null` for an empty one).
async fn send(req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<(u16, Value)> {
    let resp = req.send().await.with_context(|| what.to_owned())?;
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .with_context(|| format!("{what}: reading the body"))?;
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    Ok((status, value))
}

fn expect(what: &str, (status, body): (u16, Value), ok: &[u16]) -> anyhow::Result<Value> {
    if ok.contains(&status) {
        Ok(body)
    } else {
        bail!("{what}: HTTP {status}: {body}")
    }
}

/// An access token for the receiver (client credentials, `client_secret_basic`, no `scope`:
/// `ssf.manage ssf.read ssf.poll`).
pub async fn token(creds: &ReceiverCreds) -> anyhow::Result<String> {
    let req = client()?
        .post(&creds.token_endpoint)
        .basic_auth(&creds.client_id, Some(&creds.client_secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials");
    let what = format!("POST {}", creds.token_endpoint);
    let body = expect(&what, send(req, &what).await?, &[200])?;
    text(&body, "access_token")
}

/// A tenant API call (`{manage}/api/v1{path}`) with an API key: the status and JSON body
/// (`Null` for none).
pub async fn tenant_api(
    manage_base_url: &str,
    api_key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .unwrap()
        .request(method, format!("{manage_base_url}/api/v1{path}"))
        .bearer_auth(api_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    send(req, path).await.unwrap()
}

/// The transmitter metadata `GET {manage}/.well-known/ssf-configuration/t/{slug}`.
pub async fn metadata(manage_base_url: &str, slug: &str) -> anyhow::Result<Value> {
    let url = format!("{manage_base_url}/.well-known/ssf-configuration/t/{slug}");
    let what = format!("GET {url}");
    expect(&what, send(client()?.get(&url), &what).await?, &[200])
}

/// Creates a push stream to `endpoint_url` through the metadata's `configuration_endpoint`
/// (SSF §8.1.1): `{"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url",
/// "authorization_header"?}, "events_requested"}`; 201 expected.
pub async fn create_push_stream(
    manage_base_url: &str,
    slug: &str,
    token: &str,
    endpoint_url: &str,
    authorization_header: Option<&str>,
    events_requested: &[&str],
) -> anyhow::Result<Stream> {
    let meta = metadata(manage_base_url, slug).await?;
    let endpoint = text(&meta, "configuration_endpoint")?;
    let mut delivery = json!({ "method": PUSH_METHOD, "endpoint_url": endpoint_url });
    if let Some(auth) = authorization_header {
        delivery["authorization_header"] = Value::from(auth);
    }
    let body = json!({ "delivery": delivery, "events_requested": events_requested });
    let req = client()?.post(&endpoint).bearer_auth(token).json(&body);
    let what = format!("POST {endpoint}");
    let config = expect(&what, send(req, &what).await?, &[201])?;
    Ok(Stream {
        stream_id: text(&config, "stream_id")?,
        config,
    })
}

/// Adds `subject` to the stream through the metadata's `add_subject_endpoint`; 200 expected.
pub async fn add_subject(
    manage_base_url: &str,
    slug: &str,
    token: &str,
    stream_id: &str,
    subject: &Value,
) -> anyhow::Result<()> {
    let meta = metadata(manage_base_url, slug).await?;
    let endpoint = text(&meta, "add_subject_endpoint")?;
    let body = json!({ "stream_id": stream_id, "subject": subject });
    let req = client()?.post(&endpoint).bearer_auth(token).json(&body);
    let what = format!("POST {endpoint}");
    expect(&what, send(req, &what).await?, &[200]).map(|_| ())
}

/// A publish request for a CAEP session-revoked event about `email`.
pub fn session_revoked(email: &str) -> Value {
    json!({
        "sub_id": {"format": "email", "email": email},
        "events": {SESSION_REVOKED: {"event_timestamp": 1_700_000_000}},
    })
}

/// A refused publish: the status (`None` when no answer came) and the body.
#[derive(Clone, Debug)]
pub struct PublishError {
    pub status: Option<u16>,
    pub body: Value,
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "HTTP {s}: {}", self.body),
            None => write!(f, "no answer: {}", self.body),
        }
    }
}

impl std::error::Error for PublishError {}

/// One item of a batch answer: the event id, or the item's refusal.
pub type BatchItem = Result<String, PublishError>;

/// A tenant's publisher: one HTTP client (keeping its connections) for many publishes.
#[derive(Clone)]
pub struct Publisher {
    http: reqwest::Client,
    events_url: String,
    batch_url: String,
    api_key: String,
}

impl Publisher {
    /// Publishes to `{ingest_base_url}/t/{slug}/events[:batch]` with `api_key`.
    pub fn new(ingest_base_url: &str, slug: &str, api_key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: client()?,
            events_url: format!("{ingest_base_url}/t/{slug}/events"),
            batch_url: format!("{ingest_base_url}/t/{slug}/events:batch"),
            api_key: api_key.to_owned(),
        })
    }

    async fn post(&self, url: &str, body: &Value) -> Result<(u16, Value), PublishError> {
        let req = self.http.post(url).bearer_auth(&self.api_key).json(body);
        send(req, url).await.map_err(|e| PublishError {
            status: None,
            body: Value::String(format!("{e:#}")),
        })
    }

    /// `POST …/events`: the event id of a `202 {"event_id"}`.
    pub async fn publish(&self, body: &Value) -> Result<String, PublishError> {
        let (status, body) = self.post(&self.events_url, body).await?;
        match (status, body.get("event_id").and_then(Value::as_str)) {
            (202, Some(id)) => Ok(id.to_owned()),
            _ => Err(PublishError {
                status: Some(status),
                body,
            }),
        }
    }

    /// `POST …/events:batch` with `{"events": events}`: each item's event id or refusal, in
    /// order; `Err` when the whole batch was refused.
    pub async fn publish_batch(&self, events: &[Value]) -> Result<Vec<BatchItem>, PublishError> {
        let (status, body) = self
            .post(&self.batch_url, &json!({ "events": events }))
            .await?;
        let results = match (status, body.get("results").and_then(Value::as_array)) {
            (200, Some(results)) => results,
            _ => {
                return Err(PublishError {
                    status: Some(status),
                    body,
                });
            }
        };
        Ok(results
            .iter()
            .map(|item| {
                let status = item.get("status").and_then(Value::as_u64);
                match (status, item.get("event_id").and_then(Value::as_str)) {
                    (Some(202), Some(id)) => Ok(id.to_owned()),
                    _ => Err(PublishError {
                        status: status.and_then(|s| u16::try_from(s).ok()),
                        body: item.get("error").cloned().unwrap_or_else(|| item.clone()),
                    }),
                }
            })
            .collect())
    }
}

/// Publishes one event (`POST {ingest}/t/{slug}/events`, Bearer `api_key`): its event id.
pub async fn publish(
    ingest_base_url: &str,
    slug: &str,
    api_key: &str,
    body: &Value,
) -> anyhow::Result<String> {
    let publisher = Publisher::new(ingest_base_url, slug, api_key)?;
    Ok(publisher.publish(body).await?)
}

/// Publishes a batch (`POST {ingest}/t/{slug}/events:batch`): each item's id or refusal.
pub async fn publish_batch(
    ingest_base_url: &str,
    slug: &str,
    api_key: &str,
    events: &[Value],
) -> anyhow::Result<Vec<BatchItem>> {
    let publisher = Publisher::new(ingest_base_url, slug, api_key)?;
    Ok(publisher.publish_batch(events).await?)
}

/// Running hub processes sharing one public URL.
pub struct Hub {
    /// The environment the processes got, `SETHUB_SERVER__PUBLIC_URL` included: pass it to
    /// the admin CLI.
    pub env: BTreeMap<String, String>,
    pub public_url: String,
    pub ingest_url: String,
    pub manage_url: String,
    /// `(role, process)`: `all`, or `manage`, `ingest`, `fanout`.
    pub processes: Vec<(String, SethubProcess)>,
}

impl Hub {
    /// `sethub all` on a port chosen first, so its public URL is known before it starts.
    pub async fn start_all(
        bin: &Path,
        env: &BTreeMap<String, String>,
        cwd: &Path,
    ) -> anyhow::Result<Hub> {
        let port = free_port();
        let public_url = format!("http://127.0.0.1:{port}");
        let mut env = env.clone();
        env.insert("SETHUB_SERVER__PUBLIC_URL".into(), public_url.clone());
        let mut listen_env = env.clone();
        listen_env.insert("SETHUB_SERVER__LISTEN".into(), format!("127.0.0.1:{port}"));
        let all = SethubProcess::start(bin, &["all"], &listen_env, cwd)
            .await
            .map_err(|f| anyhow!("`sethub all` did not start: {f:?}"))?;
        Ok(Hub {
            env,
            ingest_url: all.base_url.clone(),
            manage_url: all.base_url.clone(),
            public_url,
            processes: vec![("all".to_owned(), all)],
        })
    }

    /// `sethub manage` on a port chosen first (its URL is the public URL of all three), then
    /// `sethub ingest` and `sethub fanout` on free ports. Manage starts alone first, so the
    /// three never migrate the database at the same time.
    pub async fn start_split(
        bin: &Path,
        env: &BTreeMap<String, String>,
        cwd: &Path,
    ) -> anyhow::Result<Hub> {
        Self::start_services(bin, env, cwd, &["ingest", "fanout"]).await
    }

    /// `sethub manage` as in [`Hub::start_split`], then each of `others` (`ingest`,
    /// `fanout`) as its own process, concurrently. Without `ingest`, `ingest_url` is the
    /// manage URL (which does not serve the publish API).
    pub async fn start_services(
        bin: &Path,
        env: &BTreeMap<String, String>,
        cwd: &Path,
        others: &[&str],
    ) -> anyhow::Result<Hub> {
        let port = free_port();
        let public_url = format!("http://127.0.0.1:{port}");
        let mut env = env.clone();
        env.insert("SETHUB_SERVER__PUBLIC_URL".into(), public_url.clone());
        let mut manage_env = env.clone();
        manage_env.insert("SETHUB_SERVER__LISTEN".into(), format!("127.0.0.1:{port}"));
        let manage = SethubProcess::start(bin, &["manage"], &manage_env, cwd)
            .await
            .map_err(|f| anyhow!("`sethub manage` did not start: {f:?}"))?;
        let started = futures_util::future::join_all(others.iter().map(|role| {
            let env = &env;
            async move {
                SethubProcess::start(bin, &[role], env, cwd)
                    .await
                    .map(|p| ((*role).to_owned(), p))
                    .map_err(|f| anyhow!("`sethub {role}` did not start: {f:?}"))
            }
        }))
        .await;
        let mut processes = vec![("manage".to_owned(), manage)];
        for p in started {
            processes.push(p?);
        }
        let url = |role: &str| {
            processes
                .iter()
                .find(|(r, _)| r == role)
                .map(|(_, p)| p.base_url.clone())
        };
        let manage_url = url("manage").unwrap_or_default();
        Ok(Hub {
            env,
            ingest_url: url("ingest").unwrap_or_else(|| manage_url.clone()),
            manage_url,
            public_url,
            processes,
        })
    }

    /// `manage`, `ingest` and `fanout` processes (`counts` of each) on ports chosen first,
    /// behind the repository's nginx router ([`crate::router`]), whose URL is the public URL
    /// and the URL of every surface. Manage processes start first, one at a time (never two
    /// migrations at once), then the rest concurrently. The processes trust the router's
    /// `X-Forwarded-For` (`server.trusted_proxies` = loopback).
    pub async fn start_routed(
        bin: &Path,
        env: &BTreeMap<String, String>,
        cwd: &Path,
        counts: crate::router::Counts,
    ) -> anyhow::Result<(Hub, crate::router::Router)> {
        let router_port = free_port();
        let public_url = format!("http://127.0.0.1:{router_port}");
        let mut env = env.clone();
        env.insert("SETHUB_SERVER__PUBLIC_URL".into(), public_url.clone());
        env.insert(
            "SETHUB_SERVER__TRUSTED_PROXIES".into(),
            "[\"127.0.0.1/32\"]".into(),
        );
        let on_port = |port: u16| {
            let mut e = env.clone();
            e.insert("SETHUB_SERVER__LISTEN".into(), format!("127.0.0.1:{port}"));
            e
        };
        let mut processes = Vec::new();
        for _ in 0..counts.manage {
            let p = SethubProcess::start(bin, &["manage"], &on_port(free_port()), cwd)
                .await
                .map_err(|f| anyhow!("`sethub manage` did not start: {f:?}"))?;
            processes.push(("manage".to_owned(), p));
        }
        let others: Vec<&str> = std::iter::repeat_n("ingest", counts.ingest)
            .chain(std::iter::repeat_n("fanout", counts.fanout))
            .collect();
        let started = futures_util::future::join_all(others.iter().map(|role| {
            let env = on_port(free_port());
            async move {
                SethubProcess::start(bin, &[role], &env, cwd)
                    .await
                    .map(|p| ((*role).to_owned(), p))
                    .map_err(|f| anyhow!("`sethub {role}` did not start: {f:?}"))
            }
        }))
        .await;
        for p in started {
            processes.push(p?);
        }
        let addrs = |role: &str| -> Vec<String> {
            processes
                .iter()
                .filter(|(r, _)| r == role)
                .map(|(_, p)| p.base_url.trim_start_matches("http://").to_owned())
                .collect()
        };
        let upstreams = crate::router::Upstreams {
            ingest: addrs("ingest"),
            fanout: addrs("fanout"),
            manage: addrs("manage"),
        };
        let router = crate::router::Router::start(router_port, &upstreams).await;
        Ok((
            Hub {
                env,
                ingest_url: public_url.clone(),
                manage_url: public_url.clone(),
                public_url,
                processes,
            },
            router,
        ))
    }

    /// The issuer of a tenant: `{public_url}/t/{slug}`.
    pub fn issuer(&self, slug: &str) -> String {
        format!("{}/t/{slug}", self.public_url)
    }

    /// The tenant's JWKS (the metadata's `jwks_uri`).
    pub fn jwks_url(&self, slug: &str) -> String {
        format!("{}/t/{slug}/jwks.json", self.public_url)
    }

    /// A process by role.
    pub fn process(&self, role: &str) -> Option<&SethubProcess> {
        self.processes
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, p)| p)
    }
}
