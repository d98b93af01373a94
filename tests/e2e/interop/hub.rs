//! What the interoperability tests share: a `sethub all` hub, tenants created with the admin
//! CLI (with signing options) and a receiver each, poll streams drained one SET at a time,
//! and the PyJWT/jwcrypto verifier.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use sethub_tests::backends::Production;
use sethub_tests::setup::{self, ReceiverCreds, SESSION_REVOKED, Tenant, run_cli};
use sethub_tests::{init_crypto, random_suffix, wait_until};

pub const BIN: &str = env!("CARGO_BIN_EXE_sethub");
pub const POLL_METHOD: &str = "urn:ietf:rfc:8936";
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
const LONG: Duration = Duration::from_secs(120);

/// A running `sethub all` over a fresh production database.
pub struct Hub {
    pub hub: setup::Hub,
    pub env: BTreeMap<String, String>,
    _prod: Production,
    dir: PathBuf,
}

impl Hub {
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        init_crypto();
        let prod = Production::new().await;
        let mut env = prod.env();
        for (k, v) in [
            ("SETHUB_POLL__VISIBILITY_TIMEOUT_SECS", "30"),
            ("SETHUB_POLL__DEFAULT_WAIT_SECS", "2"),
            ("SETHUB_INGEST__API_KEY_CACHE_SECS", "0"),
        ]
        .iter()
        .chain(extra)
        {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let dir = std::env::temp_dir().join(format!("sethub-interop-{}", random_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let hub = setup::Hub::start_all(Path::new(BIN), &env, &dir)
            .await
            .unwrap();
        Self {
            env: hub.env.clone(),
            hub,
            _prod: prod,
            dir,
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A tenant created by `sethub tenant create` with extra flags, and one receiver of it.
pub struct TenantRx {
    pub tenant: Tenant,
    pub created: Value,
    pub creds: ReceiverCreds,
    pub token: String,
}

impl TenantRx {
    /// `sethub tenant create --slug … <args>`, checking the printed `signing_alg`.
    pub async fn create(h: &Hub, args: &[&str], signing_alg: &str) -> Self {
        let slug = format!("i{}", random_suffix());
        let mut all = vec!["tenant", "create", "--slug", slug.as_str()];
        all.extend_from_slice(args);
        let created = run_cli(Path::new(BIN), &h.env, &all).await.unwrap();
        assert_eq!(created["signing_alg"], signing_alg, "{created}");
        let text = |k: &str| created[k].as_str().unwrap().to_owned();
        let tenant = Tenant {
            tenant_id: text("tenant_id"),
            slug: text("slug"),
            issuer: text("issuer"),
            api_key: text("api_key"),
        };
        let creds = setup::create_receiver(Path::new(BIN), &h.env, &slug, "rx")
            .await
            .unwrap();
        let token = setup::token(&creds).await.unwrap();
        Self {
            tenant,
            created,
            creds,
            token,
        }
    }

    pub fn metadata_url(&self, h: &Hub) -> String {
        format!(
            "{}/.well-known/ssf-configuration/t/{}",
            h.hub.public_url, self.tenant.slug
        )
    }

    pub async fn metadata(&self, h: &Hub) -> Value {
        setup::metadata(&h.hub.manage_url, &self.tenant.slug)
            .await
            .unwrap()
    }

    /// `POST {ingest}/t/{slug}/events`: the status and body.
    pub async fn publish(&self, h: &Hub, body: &Value) -> Result<String, setup::PublishError> {
        setup::Publisher::new(&h.hub.ingest_url, &self.tenant.slug, &self.tenant.api_key)
            .unwrap()
            .publish(body)
            .await
    }

    /// A tenant API call with the tenant's admin key: the status and JSON body.
    pub async fn api(
        &self,
        h: &Hub,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        setup::tenant_api(&h.hub.manage_url, &self.tenant.api_key, method, path, body).await
    }
}

/// Runs an admin command that must fail, its error mentioning `says`.
pub async fn cli_refuses(h: &Hub, args: &[&str], says: &str) {
    let err = run_cli(Path::new(BIN), &h.env, args).await.unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("sethub: error:") && err.contains(says),
        "{args:?}: {err}"
    );
}

/// A poll stream of a tenant's receiver.
pub struct PollStream {
    pub stream_id: String,
    pub endpoint: String,
    /// The stream's `aud`.
    pub aud: String,
    pub config: Value,
}

impl PollStream {
    pub async fn create(h: &Hub, t: &TenantRx) -> Self {
        Self::create_for(h, t, &[SESSION_REVOKED, CREDENTIAL_CHANGE]).await
    }

    pub async fn create_for(h: &Hub, t: &TenantRx, events: &[&str]) -> Self {
        let meta = t.metadata(h).await;
        let resp = reqwest::Client::new()
            .post(meta["configuration_endpoint"].as_str().unwrap())
            .bearer_auth(&t.token)
            .json(&json!({"delivery": {"method": POLL_METHOD}, "events_requested": events}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let config: Value = resp.json().await.unwrap();
        let aud = match &config["aud"] {
            Value::String(s) => s.clone(),
            Value::Array(a) => a[0].as_str().unwrap().to_owned(),
            other => panic!("no aud: {other}"),
        };
        Self {
            stream_id: config["stream_id"].as_str().unwrap().to_owned(),
            endpoint: config["delivery"]["endpoint_url"]
                .as_str()
                .unwrap()
                .to_owned(),
            aud,
            config,
        }
    }

    /// Polls until one SET is there, acknowledges it and returns it.
    pub async fn next_set(&self, token: &str) -> String {
        let (jti, set) = wait_until("a SET to poll", LONG, || async {
            let resp = reqwest::Client::new()
                .post(&self.endpoint)
                .bearer_auth(token)
                .json(&json!({"maxEvents": 1, "returnImmediately": false}))
                .send()
                .await
                .ok()?;
            let body: Value = resp.json().await.ok()?;
            let sets = body["sets"].as_object()?;
            let (jti, set) = sets.iter().next()?;
            Some((jti.clone(), set.as_str()?.to_owned()))
        })
        .await;
        let resp = reqwest::Client::new()
            .post(&self.endpoint)
            .bearer_auth(token)
            .json(&json!({"maxEvents": 0, "returnImmediately": true, "ack": [jti]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        set
    }
}

/// After a rotation: publishes and polls until a SET signed with `alg` arrives. Fan-out keeps
/// signing with the key it looked up for up to 5 s (`KEY_CACHE_TTL`), harmless since the old
/// key stays published; the SETs signed meanwhile must be of the old kind.
pub async fn set_signed_with(
    h: &Hub,
    t: &TenantRx,
    stream: &PollStream,
    alg: &str,
    old: &str,
) -> String {
    let deadline = std::time::Instant::now() + LONG;
    loop {
        t.publish(h, &revoked_with_reason()).await.unwrap();
        let set = stream.next_set(&t.token).await;
        let got = header(&set)["alg"].as_str().unwrap().to_owned();
        if got == alg {
            return set;
        }
        assert_eq!(got, old, "signed with neither the new nor the old key");
        assert!(
            std::time::Instant::now() < deadline,
            "no {alg} SET after the rotation"
        );
    }
}

/// A session-revoked event with a `reason_admin`.
pub fn revoked_with_reason() -> Value {
    json!({
        "sub_id": {"format": "email", "email": "jdoe@example.com"},
        "events": {SESSION_REVOKED: {
            "event_timestamp": 1_700_000_000,
            "initiating_entity": "policy",
            "reason_admin": {"en": "Landspeed policy violation"}
        }},
    })
}

fn part(token: &str, i: usize) -> Value {
    let raw = token.split('.').nth(i).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .unwrap(),
    )
    .unwrap()
}

/// The JOSE header of a compact SET, not verified.
pub fn header(token: &str) -> Value {
    part(token, 0)
}

/// The claims of a compact SET, not verified.
pub fn claims(token: &str) -> Value {
    part(token, 1)
}

/// The `kty` of each key the tenant's JWKS publishes, sorted.
pub async fn jwks_ktys(h: &Hub, slug: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(h.hub.jwks_url(slug))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ktys: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].as_str().unwrap().to_owned())
        .collect();
    ktys.sort();
    ktys
}

/// The test venv's python with PyJWT and jwcrypto (skipped without it, except under CI).
pub fn python() -> Option<PathBuf> {
    sethub_tests::python::with_modules("jwt, jwcrypto", "'pyjwt[crypto]' jwcrypto")
}

/// Runs `interop/verify_sets.py` over `cases` and returns its stdout (it must succeed).
pub async fn verify_with_python(python: &Path, cases: &[Value]) -> String {
    let file = std::env::temp_dir().join(format!("sethub-sets-{}.json", random_suffix()));
    std::fs::write(&file, serde_json::to_vec(cases).unwrap()).unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/interop/verify_sets.py");
    let out = tokio::process::Command::new(python)
        .arg(&script)
        .arg(&file)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "verify_sets.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    stdout
}
