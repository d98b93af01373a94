//! The test receiver against SETs signed here with sethub_jose: a valid SET is accepted and
//! recorded, a tampered or foreign one is counted invalid with its RFC 8935 error, the JWKS
//! is cached and fetched again once for an unknown `kid`, each `Behave` answers what it
//! says, waits are woken by arrivals (not timers), and a stopped receiver refuses
//! connections until it listens again on the same port.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use sethub_domain::subject::{Subject, SubjectId};
use sethub_jose::{Alg, Jwks, SetClaims, SigningKey, sign_set};
use sethub_tests::receiver::SET_CONTENT_TYPE;
use sethub_tests::{Behave, TestReceiver, init_crypto};

const ISSUER: &str = "https://hub.example.test/t/acme";
const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// A tiny JWKS host whose document can be replaced.
struct JwksHost {
    doc: Arc<Mutex<Value>>,
    url: String,
    handle: ServerHandle,
}

impl JwksHost {
    async fn start(keys: &[&SigningKey]) -> Self {
        let doc = Arc::new(Mutex::new(jwks(keys)));
        let served = doc.clone();
        let server = HttpServer::new(move || {
            let served = served.clone();
            App::new().route(
                "/jwks.json",
                web::get().to(move || {
                    let body = served.lock().unwrap().clone();
                    async move { HttpResponse::Ok().json(body) }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let url = format!("http://{}/jwks.json", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { doc, url, handle }
    }

    fn publish(&self, keys: &[&SigningKey]) {
        *self.doc.lock().unwrap() = jwks(keys);
    }
}

impl Drop for JwksHost {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn jwks(keys: &[&SigningKey]) -> Value {
    Jwks::new(keys.iter().map(|k| k.public_jwk().clone()).collect()).to_json()
}

fn set(key: &SigningKey, txn: &str, email: &str) -> String {
    let claims = SetClaims::new(
        ISSUER,
        Subject::Simple(SubjectId::Email {
            email: email.to_owned(),
        }),
    )
    .audience("cid_receiver_a")
    .txn(txn)
    .event(SESSION_REVOKED, json!({"event_timestamp": 1_700_000_000}));
    sign_set(key, &claims).unwrap()
}

/// POSTs `body` as a pushed SET: status, headers, body.
async fn push(
    url: &str,
    content_type: &str,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("Content-Type", content_type)
        .header("Accept", "application/json")
        .header("Authorization", "Bearer receiver-secret")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

async fn setup() -> (SigningKey, JwksHost, TestReceiver) {
    init_crypto();
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let host = JwksHost::start(&[&key]).await;
    let receiver = TestReceiver::start(host.url.clone(), ISSUER.to_owned()).await;
    (key, host, receiver)
}

#[tokio::test]
async fn a_valid_set_is_accepted_and_recorded_with_its_claims() {
    let (key, _host, receiver) = setup().await;
    let token = set(&key, "evt_1", "u1@example.com");
    let before = Instant::now();
    let (status, _, body) = push(&receiver.url("/s/a"), SET_CONTENT_TYPE, &token).await;
    assert_eq!(status, 202, "{body}");
    assert!(body.is_empty(), "202 has an empty body: {body}");

    let got = receiver.received("/s/a");
    assert_eq!(got.len(), 1);
    let s = &got[0];
    assert_eq!(s.txn.as_deref(), Some("evt_1"));
    assert_eq!(s.iss, ISSUER);
    assert_eq!(s.aud, ["cid_receiver_a"]);
    assert_eq!(s.kid.as_deref(), Some(key.kid()));
    assert_eq!(
        s.sub_id,
        json!({"format": "email", "email": "u1@example.com"})
    );
    assert_eq!(s.event_types(), [SESSION_REVOKED]);
    assert_eq!(s.events[SESSION_REVOKED]["event_timestamp"], 1_700_000_000);
    assert_eq!(s.authorization.as_deref(), Some("Bearer receiver-secret"));
    assert!(s.arrived >= before);
    assert_eq!(s.token, token);
    assert_eq!(receiver.count("/s/a"), 1);
    assert_eq!(receiver.count("/s/b"), 0, "paths are separate streams");
    assert_eq!(receiver.total_received(), 1);
    assert_eq!(receiver.attempts("/s/a")[0].status, 202);
    assert_eq!(receiver.invalid_count("/s/a"), 0);

    // A second SET of the same event (a retransmission) counts as a duplicate by txn.
    let again = set(&key, "evt_1", "u1@example.com");
    assert_eq!(
        push(&receiver.url("/s/a"), SET_CONTENT_TYPE, &again)
            .await
            .0,
        202
    );
    let other = set(&key, "evt_2", "u2@example.com");
    assert_eq!(
        push(&receiver.url("/s/a"), SET_CONTENT_TYPE, &other)
            .await
            .0,
        202
    );
    let by_txn = receiver.count_by_txn("/s/a");
    assert_eq!(by_txn["evt_1"], 2);
    assert_eq!(by_txn["evt_2"], 1);
    assert_eq!(receiver.jwks_fetches(), 1, "the JWKS is cached");
}

#[tokio::test]
async fn tampered_foreign_and_mislabelled_sets_are_counted_invalid_with_rfc8935_errors() {
    let (key, _host, receiver) = setup().await;
    let url = receiver.url("/s/a");

    // Tampered: another payload under the original signature.
    let token = set(&key, "evt_1", "u1@example.com");
    let other = set(&key, "evt_666", "u1@example.com");
    let parts: Vec<&str> = token.split('.').collect();
    let other_payload = other.split('.').nth(1).unwrap();
    let tampered = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
    let (status, headers, body) = push(&url, SET_CONTENT_TYPE, &tampered).await;
    assert_eq!(status, 400);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["content-language"], "en");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["err"], "invalid_key", "{body}");
    assert!(body["description"].as_str().unwrap().contains("signature"));

    // Signed by a key the issuer never published: one refetch, then invalid_key.
    let stranger = SigningKey::generate(Alg::Es256).unwrap();
    let (status, _, body) = push(&url, SET_CONTENT_TYPE, &set(&stranger, "evt_2", "a@b.c")).await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid_key"), "{body}");

    // Another issuer.
    let claims = SetClaims::new(
        "https://evil.example/t/acme",
        Subject::Simple(SubjectId::Email {
            email: "u1@example.com".into(),
        }),
    )
    .event(SESSION_REVOKED, json!({"event_timestamp": 1}));
    let (status, _, body) = push(&url, SET_CONTENT_TYPE, &sign_set(&key, &claims).unwrap()).await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid_issuer"), "{body}");

    // Not labelled as a SET.
    let (status, _, body) = push(&url, "application/json", &token).await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid_request"), "{body}");
    // Not a JWS at all.
    let (status, _, _) = push(&url, SET_CONTENT_TYPE, "hello").await;
    assert_eq!(status, 400);

    assert_eq!(receiver.count("/s/a"), 0, "nothing invalid is received");
    assert_eq!(receiver.invalid_count("/s/a"), 5);
    assert_eq!(receiver.total_invalid(), 5);
    let reasons: Vec<String> = receiver
        .invalid("/s/a")
        .iter()
        .map(|i| i.err.clone())
        .collect();
    assert_eq!(
        reasons,
        [
            "invalid_key",
            "invalid_key",
            "invalid_issuer",
            "invalid_request",
            "invalid_request"
        ]
    );
    let attempts = receiver.attempts("/s/a");
    assert_eq!(attempts.len(), 5);
    assert!(
        attempts
            .iter()
            .all(|a| a.status == 400 && a.invalid.is_some())
    );
    assert_eq!(
        attempts[0].txn.as_deref(),
        Some("evt_666"),
        "the attempt names what it claimed to be"
    );
    assert_eq!(
        receiver.jwks_fetches(),
        2,
        "fetched once, and once more for the unknown kid"
    );
}

#[tokio::test]
async fn a_new_kid_makes_the_receiver_fetch_the_jwks_again_once() {
    let (key, host, receiver) = setup().await;
    let url = receiver.url("/s/a");
    assert_eq!(
        push(&url, SET_CONTENT_TYPE, &set(&key, "e1", "a@b.c"))
            .await
            .0,
        202
    );
    assert_eq!(receiver.jwks_fetches(), 1);

    // The issuer rotates: the next key is published and signs.
    let next = SigningKey::generate(Alg::Es256).unwrap();
    host.publish(&[&key, &next]);
    assert_eq!(
        push(&url, SET_CONTENT_TYPE, &set(&next, "e2", "a@b.c"))
            .await
            .0,
        202
    );
    assert_eq!(receiver.jwks_fetches(), 2);
    assert_eq!(
        push(&url, SET_CONTENT_TYPE, &set(&next, "e3", "a@b.c"))
            .await
            .0,
        202
    );
    assert_eq!(
        push(&url, SET_CONTENT_TYPE, &set(&key, "e4", "a@b.c"))
            .await
            .0,
        202
    );
    assert_eq!(receiver.jwks_fetches(), 2, "both keys are cached now");
    assert_eq!(receiver.count("/s/a"), 4);
}

#[tokio::test]
async fn each_behaviour_answers_what_it_says_and_only_202_counts_as_received() {
    let (key, _host, receiver) = setup().await;
    let url = receiver.url("/s/b");

    receiver.behave("/s/b", Behave::Status(503));
    let (status, _, body) = push(&url, SET_CONTENT_TYPE, &set(&key, "e1", "a@b.c")).await;
    assert_eq!((status, body.as_str()), (503, ""));

    receiver.behave("/s/b", Behave::err("invalid_audience", "not for us"));
    let (status, headers, body) = push(&url, SET_CONTENT_TYPE, &set(&key, "e2", "a@b.c")).await;
    assert_eq!(status, 400);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"err": "invalid_audience", "description": "not for us"})
    );

    receiver.behave(
        "/s/b",
        Behave::TooMany {
            retry_after_secs: 7,
        },
    );
    let (status, headers, _) = push(&url, SET_CONTENT_TYPE, &set(&key, "e3", "a@b.c")).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");

    receiver.behave("/s/b", Behave::Delay(Duration::from_millis(300)));
    let sent = Instant::now();
    let (status, _, _) = push(&url, SET_CONTENT_TYPE, &set(&key, "e4", "a@b.c")).await;
    assert_eq!(status, 202);
    assert!(
        sent.elapsed() >= Duration::from_millis(300),
        "answered after the delay"
    );

    receiver.behave("/s/b", Behave::Accept);
    let (status, _, _) = push(&url, SET_CONTENT_TYPE, &set(&key, "e5", "a@b.c")).await;
    assert_eq!(status, 202);

    let attempts = receiver.attempts("/s/b");
    let statuses: Vec<u16> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [503, 400, 429, 202, 202]);
    let txns: Vec<&str> = attempts.iter().map(|a| a.txn.as_deref().unwrap()).collect();
    assert_eq!(txns, ["e1", "e2", "e3", "e4", "e5"]);
    assert!(attempts.windows(2).all(|w| w[0].arrived <= w[1].arrived));
    let received: Vec<String> = receiver
        .received("/s/b")
        .into_iter()
        .map(|s| s.txn.unwrap())
        .collect();
    assert_eq!(received, ["e4", "e5"]);
    assert_eq!(
        receiver.invalid_count("/s/b"),
        0,
        "refused by behaviour, not invalid"
    );
}

#[tokio::test]
async fn waiting_is_woken_by_arrivals_not_by_a_timer() {
    let (key, _host, receiver) = setup().await;
    let url = receiver.url("/s/w");
    let token = set(&key, "e1", "a@b.c");

    let waiter = receiver.wait_for_count("/s/w", 1, Duration::from_secs(60));
    let driver = async {
        // Another wait times out: 400 ms pass without any arrival.
        let err = receiver
            .wait_for_count("/s/none", 2, Duration::from_millis(400))
            .await
            .unwrap_err();
        assert!(
            err.contains("/s/none") && err.contains("received 0") && err.contains("at least 2"),
            "{err}"
        );
        // Each waiter checked its condition once on entry and not once since.
        assert_eq!(receiver.wait_checks(), 2);
        assert_eq!(push(&url, SET_CONTENT_TYPE, &token).await.0, 202);
    };
    let (waited, ()) = tokio::join!(waiter, driver);
    waited.unwrap();
    assert_eq!(
        receiver.wait_checks(),
        3,
        "the arrival woke the waiter exactly once"
    );

    receiver.wait_for_total(1, Duration::ZERO).await.unwrap();
    receiver
        .wait_for_attempts("/s/w", 1, Duration::ZERO)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_stopped_receiver_refuses_connections_and_listens_again_on_the_same_port() {
    let (key, _host, mut receiver) = setup().await;
    let url = receiver.url("/s/a");
    assert_eq!(
        push(&url, SET_CONTENT_TYPE, &set(&key, "e1", "a@b.c"))
            .await
            .0,
        202
    );

    receiver.stop().await;
    assert!(!receiver.is_running());
    let err = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", SET_CONTENT_TYPE)
        .body(set(&key, "e2", "a@b.c"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "connection refused: {err:?}");

    receiver.start_again().await;
    assert_eq!(receiver.url("/s/a"), url, "same port");
    assert_eq!(
        push(&url, SET_CONTENT_TYPE, &set(&key, "e3", "a@b.c"))
            .await
            .0,
        202
    );
    let txns: Vec<String> = receiver
        .received("/s/a")
        .into_iter()
        .map(|s| s.txn.unwrap())
        .collect();
    assert_eq!(txns, ["e1", "e3"], "records survive a stop");
}
