//! [`TestProvider`]: a small OpenID provider for the single sign-on tests, on a free port of
//! 127.0.0.1: discovery, JWKS, an authorization endpoint that signs the person in at once
//! (answering with a redirect carrying the code) and a token endpoint that checks the code,
//! the PKCE verifier, the `redirect_uri` of the authorization request and the client's
//! secret ([`CLIENT_SECRET`], HTTP Basic or in the form, as RFC 6749 §2.3.1 allows), and
//! returns an ES256 ID token. Knobs make it misbehave: another `nonce`, `iss` or `aud` in
//! the ID token, an expired one, or a signature that does not verify.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use serde_json::{Value, json};
use sethub_jose::{Alg, SigningKey, sign_jws};

/// How the provider behaves.
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    /// The email the person signs in with, and whether the provider says it is verified.
    pub email: String,
    pub email_verified: bool,
    /// Put this `nonce` in the ID token instead of the one asked for.
    pub wrong_nonce: Option<String>,
    /// Put this `iss` in the ID token instead of the provider's own.
    pub wrong_issuer: Option<String>,
    /// Put this `aud` in the ID token instead of the client's id.
    pub wrong_audience: Option<String>,
    /// Send an ID token that expired five minutes ago.
    pub expired: bool,
    /// Send an ID token whose signature does not verify with the provider's key.
    pub bad_signature: bool,
}

/// The client secret the provider expects of every client.
pub const CLIENT_SECRET: &str = "s3cret";

struct Grant {
    nonce: String,
    challenge: String,
    client_id: String,
    redirect_uri: String,
}

struct State {
    issuer: String,
    key: SigningKey,
    knobs: Mutex<Knobs>,
    grants: Mutex<HashMap<String, Grant>>,
    /// Every client secret presented at the token endpoint ("" when none).
    secrets_seen: Mutex<Vec<String>>,
    /// Discovery documents served.
    discoveries: AtomicUsize,
}

/// A running provider; stops when dropped.
pub struct TestProvider {
    state: Arc<State>,
    server: ServerHandle,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn discovery(s: web::Data<State>) -> HttpResponse {
    s.discoveries.fetch_add(1, Ordering::SeqCst);
    let i = &s.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["openid", "email"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
}

async fn jwks(s: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "keys": [s.key.public_jwk().to_json()] }))
}

async fn authorize(s: web::Data<State>, q: web::Query<HashMap<String, String>>) -> HttpResponse {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let code = uuid::Uuid::new_v4().simple().to_string();
    if let Ok(mut g) = s.grants.lock() {
        g.insert(
            code.clone(),
            Grant {
                nonce: get("nonce"),
                challenge: get("code_challenge"),
                client_id: get("client_id"),
                redirect_uri: get("redirect_uri"),
            },
        );
    }
    let mut to = url::Url::parse(&get("redirect_uri"))
        .unwrap_or_else(|_| url::Url::parse("http://invalid/").unwrap_or_else(|e| panic!("{e}")));
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"));
    HttpResponse::Found()
        .insert_header(("Location", to.to_string()))
        .finish()
}

/// The client id and secret of a token request: HTTP Basic (each part form-urlencoded,
/// RFC 6749 §2.3.1) or `client_id` / `client_secret` in the body.
fn client_credentials(
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    let basic = req
        .headers()
        .get("Authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((id, secret)) => (decode(id), decode(secret)),
        None => (
            form.get("client_id").cloned(),
            form.get("client_secret").cloned(),
        ),
    }
}

async fn token(
    s: web::Data<State>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let bad = |why: &str| {
        HttpResponse::BadRequest().json(json!({"error": "invalid_grant", "error_description": why}))
    };
    let (client_id, secret) = client_credentials(&req, &form);
    if let Ok(mut seen) = s.secrets_seen.lock() {
        seen.push(secret.clone().unwrap_or_default());
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = s.grants.lock().ok().and_then(|mut g| g.remove(&code)) else {
        return bad("unknown or used code");
    };
    if client_id.as_deref() != Some(grant.client_id.as_str())
        || secret.as_deref() != Some(CLIENT_SECRET)
    {
        return HttpResponse::Unauthorized().json(json!({
            "error": "invalid_client",
            "error_description": "client authentication failed",
        }));
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return bad("redirect_uri is not the one of the authorization request");
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    if b64(digest.as_ref()) != grant.challenge {
        return bad("the PKCE verifier does not match the challenge");
    }
    let knobs = s.knobs.lock().map(|k| k.clone()).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let iat = if knobs.expired { now - 900 } else { now };
    let claims = json!({
        "iss": knobs.wrong_issuer.clone().unwrap_or_else(|| s.issuer.clone()),
        "sub": format!("user-{}", knobs.email),
        "aud": knobs.wrong_audience.clone().unwrap_or(grant.client_id),
        "iat": iat,
        "exp": iat + 600,
        "nonce": knobs.wrong_nonce.clone().unwrap_or(grant.nonce),
        "email": knobs.email,
        "email_verified": knobs.email_verified,
    });
    let mut id_token = match sign_jws(&s.key, Some("JWT"), claims.to_string().as_bytes()) {
        Ok(t) => t,
        Err(e) => return HttpResponse::InternalServerError().body(e.to_string()),
    };
    if knobs.bad_signature {
        id_token = tamper_signature(&id_token);
    }
    HttpResponse::Ok().json(json!({
        "access_token": uuid::Uuid::new_v4().simple().to_string(),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
}

/// The same JWS with one bit of its signature flipped.
fn tamper_signature(jws: &str) -> String {
    let (signed, sig) = jws.rsplit_once('.').unwrap_or((jws, ""));
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap_or_default();
    if let Some(b) = sig.first_mut() {
        *b ^= 1;
    }
    format!("{signed}.{}", b64(&sig))
}

impl TestProvider {
    pub async fn start(knobs: Knobs) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind the test provider: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the test provider has no address: {e}"));
        let state = Arc::new(State {
            issuer: format!("http://{addr}"),
            key: SigningKey::generate(Alg::Es256).unwrap_or_else(|e| panic!("key: {e}")),
            knobs: Mutex::new(knobs),
            grants: Mutex::default(),
            secrets_seen: Mutex::default(),
            discoveries: AtomicUsize::new(0),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/jwks", web::get().to(jwks))
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .unwrap_or_else(|e| panic!("the test provider cannot listen: {e}"))
        .run();
        let handle = server.handle();
        tokio::spawn(async move {
            let _ = server.await;
        });
        Self {
            state,
            server: handle,
        }
    }

    /// The provider's issuer URL.
    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    /// How many discovery documents it served (each single sign-on start fetches one).
    pub fn discoveries(&self) -> usize {
        self.state.discoveries.load(Ordering::SeqCst)
    }

    /// Sends a token request as a client would (HTTP Basic with `client`, when given): the
    /// status and the JSON answer. For checking the provider's own checks.
    pub async fn token_request(
        &self,
        client: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .post(format!("{}/token", self.state.issuer))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = client {
            req = req.basic_auth(id, Some(secret));
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot reach the provider: {e}"));
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Every client secret presented at the token endpoint so far ("" for none).
    pub fn secrets_seen(&self) -> Vec<String> {
        self.state
            .secrets_seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Changes how it behaves from now on.
    pub fn set(&self, knobs: Knobs) {
        if let Ok(mut k) = self.state.knobs.lock() {
            *k = knobs;
        }
    }

    /// Follows an authorization URL as a browser would: returns the redirect it answers.
    pub async fn authorize(&self, url: &str) -> String {
        let resp = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot reach the provider: {e}"));
        resp.headers()
            .get("Location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let h = self.server.clone();
        drop(tokio::spawn(async move { h.stop(false).await }));
    }
}

/// The claims of an unverified JWT (for assertions).
pub fn claims(jwt: &str) -> Value {
    jwt.split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}
