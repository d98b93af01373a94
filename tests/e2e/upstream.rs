//! Upstream SETs end to end: a tenant registers a test transmitter, which pushes SETs to
//! `POST /t/{slug}/sets` (RFC 8935); good ones are fanned out re-signed under the tenant's
//! issuer with their `txn` kept, and every bad one gets its RFC 8935 answer and is fanned out
//! never, a repeat never twice. The real `sethub` binary as three processes over PostgreSQL,
//! RabbitMQ and Redis.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

mod world;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sethub_jose::Alg;
use sethub_tests::setup::{self, SESSION_REVOKED};
use sethub_tests::ssf_transmitter::{LongPoll, SsfTransmitter};
use sethub_tests::transmitter::TestTransmitter;
use sethub_tests::wait_until;
use world::*;

/// Pushes a SET to the tenant's upstream endpoint: the status and the JSON body (if any).
async fn push(w: &World, slug: &str, token: &str, content_type: &str) -> (u16, Value, String) {
    let resp = reqwest::Client::new()
        .post(format!("{}/t/{slug}/sets", w.hub.ingest_url))
        .header("Content-Type", content_type)
        .header("Accept", "application/json")
        .body(token.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

const SECEVENT: &str = "application/secevent+jwt";

fn audience(w: &World) -> String {
    format!("https://hub.example/{}", w.tenant.slug)
}

#[tokio::test]
async fn upstream_sets_are_verified_deduplicated_and_fanned_out_re_signed() {
    let w = World::split().await;
    w.stream("/s/up", &[SESSION_REVOKED]).await;
    let tx = TestTransmitter::start("https://idp.upstream.example").await;

    // Registration: bad bodies are refused by field and register nothing.
    for (body, field) in [
        (
            json!({"audience": "a", "jwks_url": tx.jwks_url()}),
            "issuer",
        ),
        (json!({"issuer": tx.issuer, "audience": "a"}), "jwks_url"),
        (
            json!({"issuer": tx.issuer, "audience": "a", "jwks_url": tx.jwks_url(), "jwks": tx.jwks()}),
            "jwks",
        ),
        (
            json!({"issuer": tx.issuer, "audience": "a", "jwks": {"keys": "no"}}),
            "jwks",
        ),
        (
            json!({"issuer": tx.issuer, "audience": "a", "jwks_url": "ftp://x/jwks"}),
            "jwks_url",
        ),
    ] {
        let (status, problem) = w
            .api(reqwest::Method::POST, "/upstream-transmitters", Some(body))
            .await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (_, list) = w
        .api(reqwest::Method::GET, "/upstream-transmitters", None)
        .await;
    assert_eq!(list, json!([]));
    let register =
        json!({"issuer": tx.issuer, "audience": audience(&w), "jwks_url": tx.jwks_url()});
    let (status, up) = w
        .api(
            reqwest::Method::POST,
            "/upstream-transmitters",
            Some(register.clone()),
        )
        .await;
    assert_eq!(status, 201, "{up}");
    assert!(up["upstream_id"].as_str().unwrap().starts_with("ups_"));
    let (status, _) = w
        .api(
            reqwest::Method::POST,
            "/upstream-transmitters",
            Some(register),
        )
        .await;
    assert_eq!(status, 409);

    // A good SET: 202 with an empty body, then delivered downstream re-signed.
    let good = tx.sign(
        &tx.claims(&audience(&w), "up-1", "upstream-txn-1", "ann@example.com"),
        Some("secevent+jwt"),
    );
    let (status, _, text) = push(&w, &w.tenant.slug, &good, SECEVENT).await;
    assert_eq!((status, text.as_str()), (202, ""));
    w.receiver.wait_for_count("/s/up", 1, LONG).await.unwrap();
    let got = w.receiver.received("/s/up");
    let set = &got[0];
    assert_eq!(
        set.iss, w.tenant.issuer,
        "re-signed under the tenant's issuer"
    );
    assert_eq!(set.txn.as_deref(), Some("upstream-txn-1"), "txn kept");
    assert_ne!(set.jti, "up-1", "a jti of the hub's own");
    assert_eq!(
        set.sub_id,
        json!({"format": "email", "email": "ann@example.com"})
    );
    assert_eq!(set.event_types(), vec![SESSION_REVOKED.to_owned()]);
    assert_eq!(tx.fetches(), 1, "the JWKS was fetched once");

    // The same SET again: the same answer, not fanned out again.
    let (status, _, text) = push(&w, &w.tenant.slug, &good, SECEVENT).await;
    assert_eq!((status, text.as_str()), (202, ""));

    // Each bad SET gets its RFC 8935 answer.
    let stranger = TestTransmitter::start("https://idp.upstream.example").await;
    let unknown_issuer = TestTransmitter::start("https://other.example").await;
    let claims = |jti: &str| tx.claims(&audience(&w), jti, jti, "bob@example.com");
    let mut wrong_aud = claims("bad-aud");
    wrong_aud["aud"] = json!("https://someone-else.example");
    let cases = [
        (
            "signed with a key the transmitter never published",
            stranger.sign(&claims("bad-key"), Some("secevent+jwt")),
            SECEVENT,
            "invalid_key",
        ),
        (
            "from an issuer nobody registered",
            unknown_issuer.sign(
                &unknown_issuer.claims(&audience(&w), "bad-iss", "x", "bob@example.com"),
                Some("secevent+jwt"),
            ),
            SECEVENT,
            "invalid_issuer",
        ),
        (
            "for another audience",
            tx.sign(&wrong_aud, Some("secevent+jwt")),
            SECEVENT,
            "invalid_audience",
        ),
        (
            "without a typ",
            tx.sign(&claims("no-typ"), None),
            SECEVENT,
            "invalid_request",
        ),
        (
            "sent as JSON",
            tx.sign(&claims("as-json"), Some("secevent+jwt")),
            "application/json",
            "invalid_request",
        ),
        (
            "not a JWS",
            "garbage".to_owned(),
            SECEVENT,
            "invalid_request",
        ),
    ];
    for (what, token, content_type, err) in &cases {
        let (status, body, _) = push(&w, &w.tenant.slug, token, content_type).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["err"], *err, "{what}: {body}");
        assert!(body["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // Made-up key ids do not make the hub hammer the transmitter's JWKS (once per interval).
    assert!(tx.fetches() <= 2, "fetched {} times", tx.fetches());

    // Another tenant does not accept this tenant's transmitter.
    let other = format!("o{}", sethub_tests::random_suffix());
    setup::create_tenant(Path::new(BIN), &w.hub.env, &other)
        .await
        .unwrap();
    let (status, body, _) = push(&w, &other, &good, SECEVENT).await;
    assert_eq!(
        (status, body["err"].as_str()),
        (400, Some("invalid_issuer"))
    );

    // Nothing was fanned out twice or from a bad SET: a published event arriving after them
    // all comes second and last.
    let ids = publish_all(&w.hub.ingest_url, &w.tenant, 1, "after").await;
    wait_until("the marker event to arrive", LONG, || async {
        w.receiver
            .received("/s/up")
            .iter()
            .any(|s| s.txn.as_deref() == Some(ids[0].as_str()))
            .then_some(())
    })
    .await;
    let txns: Vec<_> = w
        .receiver
        .received("/s/up")
        .into_iter()
        .map(|s| s.txn.unwrap_or_default())
        .collect();
    assert_eq!(txns, vec!["upstream-txn-1".to_owned(), ids[0].clone()]);

    // The audit log names who registered the transmitter.
    let (_, log) = w.api(reqwest::Method::GET, "/audit-log", None).await;
    let entry = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "upstream.create")
        .unwrap();
    assert!(
        entry["actor"].as_str().unwrap().starts_with("api_key:key_"),
        "{entry}"
    );
    assert_eq!(entry["target"], up["upstream_id"]);
}

#[tokio::test]
async fn a_rotated_upstream_key_is_fetched_and_an_inline_jwks_works_without_fetching() {
    let w = World::split_with(&[("SETHUB_INGEST__UPSTREAM_JWKS_REFETCH_SECS", "0")]).await;
    w.stream("/s/up", &[SESSION_REVOKED]).await;
    let by_url = TestTransmitter::start("https://rotating.example").await;
    let inline = TestTransmitter::start("https://inline.example").await;
    for body in [
        json!({"issuer": by_url.issuer, "audience": audience(&w), "jwks_url": by_url.jwks_url()}),
        json!({"issuer": inline.issuer, "audience": audience(&w), "jwks": inline.jwks()}),
    ] {
        let (status, up) = w
            .api(reqwest::Method::POST, "/upstream-transmitters", Some(body))
            .await;
        assert_eq!(status, 201, "{up}");
    }
    let send = |t: &TestTransmitter, jti: &str| {
        t.sign(
            &t.claims(&audience(&w), jti, jti, "carol@example.com"),
            Some("secevent+jwt"),
        )
    };
    assert_eq!(
        push(&w, &w.tenant.slug, &send(&by_url, "r-1"), SECEVENT)
            .await
            .0,
        202
    );
    by_url.rotate();
    assert_eq!(
        push(&w, &w.tenant.slug, &send(&by_url, "r-2"), SECEVENT)
            .await
            .0,
        202
    );
    assert_eq!(
        by_url.fetches(),
        2,
        "the unknown kid fetched the JWKS again"
    );
    assert_eq!(
        push(&w, &w.tenant.slug, &send(&inline, "i-1"), SECEVENT)
            .await
            .0,
        202
    );
    assert_eq!(inline.fetches(), 0);
    w.receiver.wait_for_count("/s/up", 3, LONG).await.unwrap();
    let got = w.receiver.received("/s/up");
    let mut txns: Vec<_> = got.into_iter().map(|s| s.txn.unwrap()).collect();
    txns.sort();
    assert_eq!(txns, vec!["i-1", "r-1", "r-2"]);
    // Removing the transmitter refuses its SETs from then on.
    let (_, list) = w
        .api(reqwest::Method::GET, "/upstream-transmitters", None)
        .await;
    let id = list[1]["upstream_id"].as_str().unwrap();
    let (status, _) = w
        .api(
            reqwest::Method::DELETE,
            &format!("/upstream-transmitters/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body, _) = push(&w, &w.tenant.slug, &send(&inline, "i-2"), SECEVENT).await;
    assert_eq!(
        (status, body["err"].as_str()),
        (400, Some("invalid_issuer"))
    );
}

#[tokio::test]
async fn an_upstream_set_whose_subject_list_passes_the_tenants_quota_is_refused_naming_it() {
    let w = World::split().await;
    let up = TestTransmitter::start("https://lists.example").await;
    let body = json!({"issuer": up.issuer, "audience": audience(&w), "jwks": up.jwks()});
    let (status, created) = w
        .api(reqwest::Method::POST, "/upstream-transmitters", Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let with_ips = |jti: &str, n: usize| {
        let mut claims = up.claims(&audience(&w), jti, jti, "dan@example.com");
        let ips: Vec<String> = (0..n).map(|i| format!("192.0.2.{i}")).collect();
        claims["sub_id"] = json!({"format": "ip-addresses", "ip-addresses": ips});
        up.sign(&claims, Some("secevent+jwt"))
    };
    let (status, body, _) = push(&w, &w.tenant.slug, &with_ips("l-1", 21), SECEVENT).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["err"], "invalid_request");
    let said = body["description"].as_str().unwrap();
    assert!(said.contains("sub_id.ip-addresses: has 21 items"), "{said}");
    let (status, body, _) = push(&w, &w.tenant.slug, &with_ips("l-2", 20), SECEVENT).await;
    assert_eq!(status, 202, "{body}");
}

/// `sethub upstream subscribe|list|remove` with the given arguments after the subcommand.
async fn upstream_cli(w: &World, args: &[&str]) -> anyhow::Result<Value> {
    let mut all = vec!["upstream"];
    all.extend_from_slice(args);
    setup::run_cli(Path::new(BIN), &w.hub.env, &all).await
}

async fn upstream_list(w: &World) -> Value {
    upstream_cli(w, &["list", "--tenant", &w.tenant.slug])
        .await
        .unwrap()
}

#[tokio::test]
async fn a_tenant_subscribed_to_an_upstream_ssf_transmitter_republishes_its_events_once_re_signed()
{
    subscription_flow(World::all_production().await).await;
}

/// The same over the embedded default (SQLite, in-process bus, in-memory state).
#[tokio::test]
async fn an_embedded_hub_subscribed_to_an_upstream_ssf_transmitter_republishes_its_events() {
    subscription_flow(World::embedded().await).await;
}

/// Upstream transmitters signing RS256, ES256 and EdDSA: one tenant subscribes to each (by
/// push), and each one's SET is verified against its JWKS and re-published, re-signed by the
/// tenant with the upstream `txn` kept.
#[tokio::test]
async fn upstream_ssf_transmitters_signing_with_each_algorithm_are_received_and_republished() {
    let w = World::all_production().await;
    w.stream("/s/rx", &[SESSION_REVOKED]).await;
    let mut txs = Vec::new();
    for alg in [Alg::Rs256, Alg::Es256, Alg::EdDsa] {
        let tx = SsfTransmitter::start_signing("sethub-algs", "algs-secret", alg).await;
        let made = subscribe_cli(&w, &tx, "sethub-algs", "algs-secret", "push").await;
        assert_eq!(made["status"], "enabled", "{alg:?}: {made}");
        txs.push((alg, tx));
    }
    // Each transmitter's verification SET (signed with its algorithm) is checked.
    wait_until("every verification to be recorded", LONG, || async {
        let list = upstream_list(&w).await;
        list.as_array()
            .unwrap()
            .iter()
            .all(|u| {
                u["status"]["last_verification_at"].is_string()
                    && u["status"]["last_error"].is_null()
            })
            .then_some(())
    })
    .await;
    for (alg, tx) in &txs {
        let stream = tx.streams().remove(0);
        let set = tx.session_revoked(&stream, "ann@example.com", &format!("alg-{alg:?}"));
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                set.split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], json!(alg), "the upstream signs {alg:?}");
        assert_eq!(tx.push(&stream, &set).await, 202, "{alg:?}");
        assert_eq!(tx.problems(), Vec::<String>::new(), "{alg:?}");
    }
    w.receiver.wait_for_count("/s/rx", 3, LONG).await.unwrap();
    assert_eq!(received_txns(&w), ["alg-EdDsa", "alg-Es256", "alg-Rs256"]);
}

async fn subscription_flow(w: World) {
    w.stream("/s/rx", &[SESSION_REVOKED]).await;
    let mut tx = SsfTransmitter::start("sethub-at-idp", "idp-secret").await;
    let slug = w.tenant.slug.clone();
    let subscribe = |secret: &'static str| {
        let (slug, issuer) = (slug.clone(), tx.issuer.clone());
        let w = &w;
        async move {
            upstream_cli(
                w,
                &[
                    "subscribe",
                    "--tenant",
                    &slug,
                    "--issuer",
                    &issuer,
                    "--client-id",
                    "sethub-at-idp",
                    "--client-secret",
                    secret,
                ],
            )
            .await
        }
    };

    // Wrong credentials are refused at the token endpoint; nothing is made or registered.
    let err = subscribe("wrong").await.unwrap_err().to_string();
    assert!(err.contains("token endpoint answered HTTP 401"), "{err}");
    assert_eq!(upstream_list(&w).await, json!([]));
    assert!(tx.streams().is_empty());

    let made = subscribe("idp-secret").await.unwrap();
    let upstream_id = made["upstream_id"].as_str().unwrap().to_owned();
    assert!(upstream_id.starts_with("ups_"), "{made}");
    assert_eq!(made["status"], "enabled", "{made}");
    let streams = tx.streams();
    assert_eq!(streams.len(), 1);
    let stream = &streams[0];
    assert_eq!(made["stream_id"], stream["stream_id"]);
    // The create request: receiver-supplied members only, push to the tenant's intake, the
    // event types the tenant's streams deliver.
    let body = &tx.create_bodies()[0];
    assert_eq!(
        body["delivery"],
        json!({"method": "urn:ietf:rfc:8935",
               "endpoint_url": format!("{}/t/{slug}/sets", w.hub.public_url)})
    );
    assert_eq!(body["events_requested"], json!([SESSION_REVOKED]));
    // A second subscription to the same issuer is refused and makes no stream.
    let err = subscribe("idp-secret").await.unwrap_err().to_string();
    assert!(err.contains("registered already"), "{err}");
    assert_eq!(tx.streams().len(), 1);

    // The verification SET asked for arrives, is checked against the state sent, recorded,
    // and not re-published.
    let status = wait_until("the verification to be recorded", LONG, || async {
        let list = upstream_list(&w).await;
        let s = list[0]["status"].clone();
        s["last_verification_at"].is_string().then_some(s)
    })
    .await;
    assert_eq!(status["state"], "enabled");
    assert!(status["last_error"].is_null(), "{status}");
    // The tenant API shows the same.
    let (code, api) = w
        .api(reqwest::Method::GET, "/upstream-transmitters", None)
        .await;
    assert_eq!(code, 200, "{api}");
    let sub = &api[0]["subscription"];
    assert_eq!(sub["delivery"], "push", "{api}");
    assert_eq!(sub["stream_id"], stream["stream_id"], "{api}");
    assert_eq!(sub["last_verification_at"], status["last_verification_at"]);

    // An event raised upstream reaches the tenant's receiver re-signed, once.
    let first = tx.session_revoked(stream, "ann@example.com", "idp-txn-1");
    assert_eq!(tx.push(stream, &first).await, 202);
    assert_eq!(tx.push(stream, &first).await, 202, "a repeat is accepted");
    let second = tx.session_revoked(stream, "bob@example.com", "idp-txn-2");
    assert_eq!(tx.push(stream, &second).await, 202);
    w.receiver.wait_for_count("/s/rx", 2, LONG).await.unwrap();
    let got = w.receiver.received("/s/rx");
    let txns: Vec<_> = got
        .iter()
        .map(|s| s.txn.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        txns.iter().filter(|t| *t == "idp-txn-1").count(),
        1,
        "{txns:?}"
    );
    assert_eq!(
        txns.iter().filter(|t| *t == "idp-txn-2").count(),
        1,
        "{txns:?}"
    );
    for set in &got {
        assert_eq!(
            set.iss, w.tenant.issuer,
            "re-signed under the tenant's issuer"
        );
        assert_eq!(set.event_types(), vec![SESSION_REVOKED.to_owned()]);
    }
    assert!(
        upstream_list(&w).await[0]["status"]["last_set_at"].is_string(),
        "the last SET is recorded"
    );

    // A stream-updated SET is followed (the state recorded), not re-published.
    let paused = tx.stream_updated(stream, "paused");
    assert_eq!(tx.push(stream, &paused).await, 202);
    assert_eq!(upstream_list(&w).await[0]["status"]["state"], "paused");

    // The transmitter goes down: the failed check is the last error, in the CLI's list and
    // the tenant API.
    tx.stop().await;
    let down = wait_until("the unreachable transmitter to be noted", LONG, || async {
        let s = upstream_list(&w).await[0]["status"].clone();
        s["last_error"].is_string().then_some(s)
    })
    .await;
    let (_, api) = w
        .api(reqwest::Method::GET, "/upstream-transmitters", None)
        .await;
    assert!(
        api[0]["subscription"]["last_error"].is_string(),
        "{down} / {api}"
    );
    // It restarts without its state (the stream and the tokens it issued are lost): sethub
    // gets a new token, makes the stream again (same delivery, same event types), verifies
    // it, clears the error, and the new stream's events arrive.
    tx.restart().await;
    let stream = wait_until("the stream to be made again", LONG, || async {
        tx.streams().into_iter().next()
    })
    .await;
    assert_ne!(stream["stream_id"], streams[0]["stream_id"]);
    assert_eq!(tx.create_bodies().last(), tx.create_bodies().first());
    let status = wait_until("the new stream's verification", LONG, || async {
        let list = upstream_list(&w).await;
        (list[0]["stream_id"] == stream["stream_id"]
            && list[0]["status"]["last_verification_at"] != status["last_verification_at"])
            .then(|| list[0]["status"].clone())
    })
    .await;
    assert!(status["last_error"].is_null(), "{status}");
    assert_eq!(status["state"], "enabled", "the new stream is enabled");
    let after = tx.session_revoked(&stream, "dee@example.com", "idp-txn-4");
    assert_eq!(tx.push(&stream, &after).await, 202);
    w.receiver.wait_for_count("/s/rx", 3, LONG).await.unwrap();
    let got = w.receiver.received("/s/rx");
    assert_eq!(got.len(), 3, "only the three events were re-published");
    assert!(
        got.iter()
            .all(|s| s.event_types() == vec![SESSION_REVOKED.to_owned()])
    );
    // Verification (SSF §8): one sent unprompted (no state) is taken; one whose state is not
    // the one sethub asked for is refused with invalid_state and noted as the last error.
    let unprompted = tx.verification(&stream, None);
    assert_eq!(tx.push(&stream, &unprompted).await, 202);
    assert!(upstream_list(&w).await[0]["status"]["last_error"].is_null());
    let forged = tx.verification(&stream, Some("not-what-sethub-sent"));
    let (status, refused, _) = push(&w, &slug, &forged, SECEVENT).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["err"], "invalid_state", "{refused}");
    let noted = upstream_list(&w).await[0]["status"]["last_error"].clone();
    assert!(
        noted.as_str().is_some_and(|e| e.contains("state")),
        "{noted}"
    );
    assert_eq!(
        w.receiver.received("/s/rx").len(),
        3,
        "verification SETs are not re-published"
    );
    let upstream_id = upstream_list(&w).await[0]["upstream_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Removal deletes the stream at the transmitter; its SETs are refused afterwards.
    let removed = upstream_cli(&w, &["remove", "--tenant", &slug, "--id", &upstream_id])
        .await
        .unwrap();
    assert_eq!(removed["remote_stream_deleted"], true, "{removed}");
    assert!(tx.streams().is_empty());
    assert_eq!(upstream_list(&w).await, json!([]));
    let late = tx.session_revoked(&stream, "cy@example.com", "idp-txn-3");
    assert_eq!(tx.push(&stream, &late).await, 400);

    // Every stream API call carried the bearer token; no transmitter-supplied member sent.
    assert_eq!(tx.problems(), Vec::<String>::new());
}

#[tokio::test]
async fn a_poll_subscription_polls_the_upstream_and_acknowledges_every_set() {
    poll_flow(World::all_production().await).await;
}

/// The same over the embedded default.
#[tokio::test]
async fn an_embedded_hub_polls_an_upstream_and_acknowledges_every_set() {
    poll_flow(World::embedded().await).await;
}

async fn poll_flow(w: World) {
    w.stream("/s/rx", &[SESSION_REVOKED]).await;
    let mut tx = SsfTransmitter::start("sethub-poller", "poll-secret").await;
    let made = subscribe_by_poll(&w, &tx).await;
    let stream = tx.streams().remove(0);
    assert_eq!(made["stream_id"], stream["stream_id"]);
    assert_eq!(
        tx.create_bodies()[0]["delivery"],
        json!({"method": "urn:ietf:rfc:8936"})
    );
    // The verification SET is polled, checked and acknowledged.
    wait_until("the polled verification to be recorded", LONG, || async {
        let list = upstream_list(&w).await;
        list[0]["status"]["last_verification_at"]
            .is_string()
            .then_some(())
    })
    .await;

    let good = [
        tx.session_revoked(&stream, "ann@example.com", "poll-txn-1"),
        tx.session_revoked(&stream, "bob@example.com", "poll-txn-2"),
    ];
    for set in &good {
        assert_eq!(tx.push(&stream, set).await, 202);
    }
    // A SET for another audience is refused with its RFC 8935 code in `setErrs`.
    let mut other = stream.clone();
    other["aud"] = json!("someone-else");
    let bad = tx.session_revoked(&other, "cy@example.com", "poll-txn-3");
    tx.push(&stream, &bad).await;
    // A verification SET whose state sethub never sent: `invalid_state` in `setErrs`.
    let wrong_state = tx.verification(&stream, Some("not-what-sethub-sent"));
    tx.push(&stream, &wrong_state).await;
    w.receiver.wait_for_count("/s/rx", 2, LONG).await.unwrap();
    let id = stream["stream_id"].as_str().unwrap().to_owned();
    wait_until("every SET to be settled", LONG, || async {
        (tx.queued(&id) == 0).then_some(())
    })
    .await;
    let acked = tx.acked();
    for set in &good {
        let jti = SsfTransmitter::jti(set);
        assert_eq!(
            acked.iter().filter(|j| **j == jti).count(),
            1,
            "{jti} in {acked:?}"
        );
    }
    let mut errs = tx.set_errs();
    errs.sort_by_key(|(jti, _)| jti.clone());
    let mut want = [
        (SsfTransmitter::jti(&bad), "invalid_audience"),
        (SsfTransmitter::jti(&wrong_state), "invalid_state"),
    ];
    want.sort();
    assert_eq!(errs.len(), 2, "{errs:?}");
    for ((jti, err), (want_jti, want_err)) in errs.iter().zip(&want) {
        assert_eq!(jti, want_jti, "{errs:?}");
        assert_eq!(err["err"], *want_err, "{errs:?}");
    }
    assert_eq!(received_txns(&w), ["poll-txn-1", "poll-txn-2"]);

    // The transmitter restarts without its state (the stream, its queue and the tokens it
    // issued are lost): sethub makes the poll stream again, polls its new endpoint, and the
    // new stream's SET arrives once; nothing before the restart comes again.
    tx.restart().await;
    let renewed = wait_until("the poll stream to be made again", LONG, || async {
        tx.streams().into_iter().next()
    })
    .await;
    assert_ne!(renewed["stream_id"], stream["stream_id"]);
    assert_eq!(
        tx.create_bodies().last().unwrap()["delivery"],
        json!({"method": "urn:ietf:rfc:8936"})
    );
    let new_id = renewed["stream_id"].as_str().unwrap().to_owned();
    wait_until("the new stream's verification", LONG, || async {
        let list = upstream_list(&w).await;
        (list[0]["stream_id"] == renewed["stream_id"]
            && list[0]["status"]["last_error"].is_null()
            && tx.queued(&new_id) == 0)
            .then_some(())
    })
    .await;
    let after = tx.session_revoked(&renewed, "dee@example.com", "poll-txn-4");
    assert_eq!(tx.push(&renewed, &after).await, 202);
    w.receiver.wait_for_count("/s/rx", 3, LONG).await.unwrap();
    wait_until("the new SET to be acknowledged", LONG, || async {
        (tx.queued(&new_id) == 0).then_some(())
    })
    .await;
    let acked = tx.acked();
    assert_eq!(
        acked
            .iter()
            .filter(|j| **j == SsfTransmitter::jti(&after))
            .count(),
        1,
        "{acked:?}"
    );
    assert_eq!(
        received_txns(&w),
        ["poll-txn-1", "poll-txn-2", "poll-txn-4"]
    );
    assert_eq!(tx.problems(), Vec::<String>::new());
}

/// The `txn`s of the SETs the tenant's receiver got at `/s/rx`, sorted; each SET must be
/// signed under the tenant's issuer (re-signed by sethub).
fn received_txns(w: &World) -> Vec<String> {
    let got = w.receiver.received("/s/rx");
    assert!(
        got.iter().all(|s| s.iss == w.tenant.issuer),
        "re-signed under the tenant's issuer"
    );
    let mut txns: Vec<_> = got
        .iter()
        .map(|s| s.txn.clone().unwrap_or_default())
        .collect();
    txns.sort();
    txns
}

/// `sethub upstream subscribe --delivery {delivery}` of the tenant of `w` to `tx`: its JSON.
async fn subscribe_cli(
    w: &World,
    tx: &SsfTransmitter,
    client_id: &str,
    secret: &str,
    delivery: &str,
) -> Value {
    upstream_cli(
        w,
        &[
            "subscribe",
            "--tenant",
            &w.tenant.slug,
            "--issuer",
            &tx.issuer,
            "--client-id",
            client_id,
            "--client-secret",
            secret,
            "--delivery",
            delivery,
        ],
    )
    .await
    .unwrap()
}

/// `sethub upstream subscribe --delivery poll` of the tenant of `w` to `tx`: its JSON.
async fn subscribe_by_poll(w: &World, tx: &SsfTransmitter) -> Value {
    subscribe_cli(w, tx, "sethub-poller", "poll-secret", "poll").await
}

/// Subscribes the tenant of `w` to `tx` by poll; the transmitter's stream, once the
/// verification SET was polled, checked and acknowledged.
async fn poll_subscription(w: &World, tx: &SsfTransmitter) -> Value {
    subscribe_by_poll(w, tx).await;
    let stream = tx.streams().remove(0);
    let id = stream["stream_id"].as_str().unwrap().to_owned();
    wait_until(
        "the polled verification to be acknowledged",
        LONG,
        || async {
            let list = upstream_list(w).await;
            (list[0]["status"]["last_verification_at"].is_string() && tx.queued(&id) == 0)
                .then_some(())
        },
    )
    .await;
    stream
}

/// How many polls `tx` gets over `window` (a measurement: the window is the point).
async fn polls_over(tx: &SsfTransmitter, window: Duration) -> usize {
    let before = tx.polls().len();
    tokio::time::sleep(window).await;
    tx.polls().len() - before
}

/// With the poll interval a minute, a SET published upstream reaches the tenant's receiver in
/// a few seconds: only the long poll open at the transmitter explains it. An idle upstream
/// then costs that one open request, and SIGTERM mid-long-poll stops ingest promptly.
#[tokio::test]
async fn a_long_poll_brings_an_upstream_set_at_once_and_an_idle_upstream_costs_one_open_request() {
    let mut w = World::split_with(&[
        ("SETHUB_INGEST__UPSTREAM_POLL_IDLE_SECS", "60"),
        ("SETHUB_SERVER__DRAIN_SECS", "1"),
        ("SETHUB_SERVER__SHUTDOWN_SECS", "5"),
    ])
    .await;
    w.stream("/s/rx", &[SESSION_REVOKED]).await;
    let tx = SsfTransmitter::start("sethub-poller", "poll-secret").await;
    // It holds a long poll 30 s (sethub waits up to 35 s).
    tx.set_long_poll(LongPoll::Wait(Duration::from_secs(30)));
    let stream = poll_subscription(&w, &tx).await;
    let id = stream["stream_id"].as_str().unwrap().to_owned();

    // The poll that acknowledged the verification SET is open now, waiting.
    let sent = Instant::now();
    let set = tx.session_revoked(&stream, "ann@example.com", "long-poll-txn");
    assert_eq!(tx.push(&stream, &set).await, 202);
    w.receiver
        .wait_for_count("/s/rx", 1, Duration::from_secs(10))
        .await
        .unwrap();
    let took = sent.elapsed();
    eprintln!("a SET published upstream arrived downstream after {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "{took:?}: well under the 60 s poll interval"
    );
    assert_eq!(
        w.receiver.received("/s/rx")[0].txn.as_deref(),
        Some("long-poll-txn")
    );
    wait_until("the SET to be acknowledged", LONG, || async {
        (tx.queued(&id) == 0).then_some(())
    })
    .await;
    assert!(tx.acked().contains(&SsfTransmitter::jti(&set)));

    // Idle: the one long poll stays open; nothing more is asked.
    assert_eq!(polls_over(&tx, Duration::from_secs(3)).await, 0);
    let polls = tx.polls();
    assert!(
        polls.iter().all(|r| *r == json!(false)),
        "every poll is a long poll: {polls:?}"
    );
    assert_eq!(tx.problems(), Vec::<String>::new());

    // SIGTERM while the long poll is open: ingest exits cleanly within its shutdown budget,
    // not after the 30 s the transmitter would hold the poll.
    let sigterm = Instant::now();
    let ingest = w.process("ingest");
    ingest.send_sigterm();
    assert_eq!(ingest.wait_exit(Duration::from_secs(10)).await, Some(0));
    eprintln!("ingest exited {:?} after SIGTERM", sigterm.elapsed());
}

/// A transmitter that ignores `returnImmediately: false` (answers at once, empty) is polled
/// once per `ingest.upstream_poll_idle_secs`, and one that holds a long poll past
/// `ingest.upstream_long_poll_secs` once per timeout: neither makes a loop, and a SET still
/// gets through.
#[tokio::test]
async fn an_upstream_that_answers_long_polls_at_once_or_holds_them_too_long_is_not_polled_in_a_loop()
 {
    let w = World::split_with(&[
        ("SETHUB_INGEST__UPSTREAM_POLL_IDLE_SECS", "2"),
        ("SETHUB_INGEST__UPSTREAM_LONG_POLL_SECS", "1"),
    ])
    .await;
    w.stream("/s/rx", &[SESSION_REVOKED]).await;
    let tx = SsfTransmitter::start("sethub-poller", "poll-secret").await;
    tx.set_long_poll(LongPoll::Ignore);
    let stream = poll_subscription(&w, &tx).await;

    // Answered at once, empty: one poll per 2 s (a window of 6 s sees 3, perhaps 4).
    let quick = polls_over(&tx, Duration::from_secs(6)).await;
    eprintln!("{quick} polls in 6 s of an upstream ignoring long polls");
    assert!((2..=4).contains(&quick), "{quick} polls in 6 s");

    // Held for a minute, past sethub's 1 s: each poll times out, then the next (still no
    // sooner than 2 s after the last began).
    tx.set_long_poll(LongPoll::Wait(Duration::from_secs(60)));
    let held = polls_over(&tx, Duration::from_secs(6)).await;
    eprintln!("{held} polls in 6 s of an upstream holding long polls past the timeout");
    assert!((2..=4).contains(&held), "{held} polls in 6 s");

    // The polls still work: a SET published now is handed to one and arrives.
    let set = tx.session_revoked(&stream, "bob@example.com", "held-txn");
    assert_eq!(tx.push(&stream, &set).await, 202);
    w.receiver.wait_for_count("/s/rx", 1, LONG).await.unwrap();
    let polls = tx.polls();
    assert!(polls.iter().all(|r| *r == json!(false)), "{polls:?}");
    assert_eq!(tx.problems(), Vec::<String>::new());
}

/// With two ingest processes, one at a time long-polls an upstream stream (the holder of its
/// lease in Redis): the transmitter never has two polls open for it. When either process is
/// SIGKILLed, whichever it was, a SET published upstream still arrives, once, within the
/// lease's 15 s and a 5 s look (the survivor takes over the polling if the dead one held it).
#[tokio::test]
async fn with_two_ingest_processes_one_polls_each_upstream_and_the_other_takes_over_when_it_dies() {
    let mut w = World::split_services(&[], &["ingest", "ingest", "fanout"]).await;
    w.stream("/s/rx", &[SESSION_REVOKED]).await;
    let tx = SsfTransmitter::start("sethub-poller", "poll-secret").await;
    tx.set_long_poll(LongPoll::Wait(Duration::from_secs(20)));
    let stream = poll_subscription(&w, &tx).await;
    // Both processes run their poll supervisor; over three lease renewals, one poll is open.
    let opened = tx.polls().len();
    tokio::time::sleep(Duration::from_secs(16)).await;
    assert_eq!(
        tx.max_open_polls(),
        1,
        "one ingest polls the upstream at a time"
    );
    eprintln!("{} polls in 16 s", tx.polls().len() - opened);

    let ingests: Vec<usize> = (0..w.hub.processes.len())
        .filter(|i| w.hub.processes[*i].0 == "ingest")
        .collect();
    assert_eq!(ingests.len(), 2);
    for (round, &victim) in ingests.iter().enumerate() {
        w.hub.processes[victim].1.kill().await;
        let killed_at = Instant::now();
        let txn = format!("after-kill-{round}");
        let set = tx.session_revoked(&stream, &format!("u{round}@example.com"), &txn);
        assert_eq!(tx.push(&stream, &set).await, 202);
        w.receiver
            .wait_for_count("/s/rx", round + 1, LONG)
            .await
            .unwrap();
        let took = killed_at.elapsed();
        eprintln!("round {round}: a SET published upstream arrived {took:?} after the kill");
        assert!(took < Duration::from_secs(30), "{took:?}");
        let arrived = w.receiver.count_by_txn("/s/rx");
        assert_eq!(arrived.get(&txn), Some(&1), "{arrived:?}");
        // The killed process comes back before the other is killed.
        let again = w.hub.processes[victim].1.start_again().await;
        w.hub.processes[victim].1 = again;
    }
    assert_eq!(tx.problems(), Vec::<String>::new());
}
