//! [`TestProvider`]: a small OpenID provider for the single sign-on tests, on a free port of
//! 127.0.0.1: discovery, JWKS, an authorization endpoint that signs the person in at once
//! (answering with a redirect carrying the code) and a token endpoint that checks the code
//! and the PKCE verifier and returns an ES256 ID token. Knobs make it misbehave: another
//! `nonce` or `iss` in the ID token.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
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
}

struct Grant {
    nonce: String,
    challenge: String,
    client_id: String,
}

struct State {
    issuer: String,
    key: SigningKey,
    knobs: Mutex<Knobs>,
    grants: Mutex<HashMap<String, Grant>>,
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

async fn token(s: web::Data<State>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let bad = |why: &str| {
        HttpResponse::BadRequest().json(json!({"error": "invalid_grant", "error_description": why}))
    };
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = s.grants.lock().ok().and_then(|mut g| g.remove(&code)) else {
        return bad("unknown or used code");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    if b64(digest.as_ref()) != grant.challenge {
        return bad("the PKCE verifier does not match the challenge");
    }
    let knobs = s.knobs.lock().map(|k| k.clone()).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": knobs.wrong_issuer.clone().unwrap_or_else(|| s.issuer.clone()),
        "sub": format!("user-{}", knobs.email),
        "aud": grant.client_id,
        "iat": now,
        "exp": now + 300,
        "nonce": knobs.wrong_nonce.clone().unwrap_or(grant.nonce),
        "email": knobs.email,
        "email_verified": knobs.email_verified,
    });
    let id_token = match sign_jws(&s.key, Some("JWT"), claims.to_string().as_bytes()) {
        Ok(t) => t,
        Err(e) => return HttpResponse::InternalServerError().body(e.to_string()),
    };
    HttpResponse::Ok().json(json!({
        "access_token": uuid::Uuid::new_v4().simple().to_string(),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
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
