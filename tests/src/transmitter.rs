//! [`TestTransmitter`]: an upstream SET transmitter for the tests of `POST /t/{slug}/sets`.
//! It signs SETs with keys of its own and publishes its JWKS at `/jwks.json` on a free port of
//! 127.0.0.1 (an actix-web server on its own worker thread), counting the fetches so a test
//! can see sethub's JWKS cache at work.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use sethub_jose::{Alg, SigningKey, sign_jws};

struct Shared {
    /// Published keys (public JWKs).
    published: Mutex<Vec<Value>>,
    fetches: AtomicU64,
}

/// A SET transmitter with a JWKS endpoint; stops serving when dropped.
pub struct TestTransmitter {
    pub issuer: String,
    key: Mutex<SigningKey>,
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    server: ServerHandle,
}

impl TestTransmitter {
    /// A transmitter with one ES256 key, published.
    pub async fn start(issuer: &str) -> Self {
        let key = SigningKey::generate(Alg::Es256)
            .unwrap_or_else(|e| panic!("cannot make the transmitter's key: {e}"));
        let shared = Arc::new(Shared {
            published: Mutex::new(vec![key.public_jwk().to_json()]),
            fetches: AtomicU64::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind the test transmitter: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the test transmitter has no address: {e}"));
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route(
                "/jwks.json",
                web::get().to(|s: web::Data<Shared>| async move {
                    s.fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = s.published.lock().map(|k| k.clone()).unwrap_or_default();
                    HttpResponse::Ok()
                        .content_type("application/jwk-set+json")
                        .json(json!({ "keys": keys }))
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .unwrap_or_else(|e| panic!("the test transmitter cannot listen: {e}"))
        .run();
        let handle = server.handle();
        tokio::spawn(async move {
            let _ = server.await;
        });
        Self {
            issuer: issuer.to_owned(),
            key: Mutex::new(key),
            shared,
            addr,
            server: handle,
        }
    }

    /// Where its JWKS is published.
    pub fn jwks_url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    /// Its JWKS (the published keys), for registering it inline.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.shared.published.lock().map(|k| k.clone()).unwrap_or_default() })
    }

    /// How many times its JWKS was fetched.
    pub fn fetches(&self) -> u64 {
        self.shared.fetches.load(Ordering::SeqCst)
    }

    /// Signs with a new key from now on, publishing it beside the old one.
    pub fn rotate(&self) {
        let key = SigningKey::generate(Alg::Es256)
            .unwrap_or_else(|e| panic!("cannot make the transmitter's key: {e}"));
        if let Ok(mut p) = self.shared.published.lock() {
            p.push(key.public_jwk().to_json());
        }
        if let Ok(mut k) = self.key.lock() {
            *k = key;
        }
    }

    /// Signs `claims` as a SET (`typ` given, `None` leaves it out) with its current key.
    pub fn sign(&self, claims: &Value, typ: Option<&str>) -> String {
        let key = self
            .key
            .lock()
            .unwrap_or_else(|e| panic!("the transmitter's key lock is poisoned: {e}"));
        sign_jws(&key, typ, claims.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("cannot sign: {e}"))
    }

    /// A session-revoked SET about `email`, from this issuer to `aud`.
    pub fn claims(&self, aud: &str, jti: &str, txn: &str, email: &str) -> Value {
        json!({
            "iss": self.issuer,
            "aud": aud,
            "jti": jti,
            "iat": chrono_now(),
            "txn": txn,
            "sub_id": {"format": "email", "email": email},
            "events": {
                crate::setup::SESSION_REVOKED: {"event_timestamp": chrono_now()}
            }
        })
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

impl Drop for TestTransmitter {
    fn drop(&mut self) {
        let h = self.server.clone();
        drop(tokio::spawn(async move { h.stop(false).await }));
    }
}
