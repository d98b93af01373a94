//! The CAEP interoperability profile (`spec/ssf.md` §3, §8, §9, `events.md`), switched on per
//! tenant: its transmitter requirements walked one by one over the real backends.

use serde_json::{Value, json};
use sethub_tests::setup::{SESSION_REVOKED, run_cli};

use super::hub::*;

const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const STREAM_UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

fn revoked_without_reason() -> Value {
    json!({
        "sub_id": {"format": "email", "email": "jdoe@example.com"},
        "events": {SESSION_REVOKED: {"initiating_entity": "policy"}},
    })
}

fn change(reason: Option<&str>) -> Value {
    let mut event = json!({"credential_type": "password", "change_type": "update"});
    if let Some(r) = reason {
        event["reason_admin"] = json!({"en": r});
    }
    json!({
        "sub_id": {"format": "email", "email": "jdoe@example.com"},
        "events": {CREDENTIAL_CHANGE: event},
    })
}

/// Publishing refused with a 400 naming `events.<type>.reason_admin`.
async fn assert_reason_required(h: &Hub, t: &TenantRx, body: &Value, ty: &str) {
    let e = t.publish(h, body).await.unwrap_err();
    assert_eq!(e.status, Some(400), "{e}");
    assert_eq!(e.body["field"], format!("events.{ty}.reason_admin"), "{e}");
}

#[tokio::test]
async fn a_tenant_on_the_caep_interop_profile_meets_each_transmitter_requirement() {
    let h = Hub::start(&[]).await;
    let python = python();
    // Sign-up under the profile: RS256 with a 2048-bit key unless told otherwise; another
    // algorithm is refused.
    let t = TenantRx::create(&h, &["--profile", "caep-interop"], "RS256-2048").await;
    assert_eq!(t.created["profile"], "caep-interop");
    let es256 = ["--profile", "caep-interop", "--alg", "ES256"];
    let mut args = vec!["tenant", "create", "--slug", "x-caep-es"];
    args.extend(es256);
    cli_refuses(&h, &args, "RS256").await;
    let (_, tenant) = t.api(&h, reqwest::Method::GET, "/tenant", None).await;
    assert_eq!(tenant["profile"], "caep-interop", "{tenant}");

    // Metadata: spec_version, both delivery methods, jwks_uri, configuration, status and
    // verification endpoints, and OAuth 2.0 among the authorization schemes.
    let meta = t.metadata(&h).await;
    assert!(meta["spec_version"].as_str().unwrap() >= "1_0", "{meta}");
    assert_eq!(meta["issuer"], t.tenant.issuer);
    for m in ["urn:ietf:rfc:8935", POLL_METHOD] {
        assert!(
            meta["delivery_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(m))
        );
    }
    for e in [
        "jwks_uri",
        "configuration_endpoint",
        "status_endpoint",
        "verification_endpoint",
    ] {
        assert!(
            meta[e].as_str().unwrap().starts_with(&t.tenant.issuer),
            "{e}: {meta}"
        );
    }
    assert!(
        meta["authorization_schemes"]
            .as_array()
            .unwrap()
            .contains(&json!({"spec_urn": "urn:ietf:rfc:6749"}))
    );
    // SSF §3.1: a multi-valued member with no element is omitted.
    for (name, value) in meta.as_object().unwrap() {
        assert!(
            value.as_array().is_none_or(|a| !a.is_empty()),
            "{name} is an empty array: {meta}"
        );
    }

    // Authorization: bearer tokens in the header only; none, or one in the query, is a 401
    // with WWW-Authenticate (RFC 6750 §3.1); a read-only token cannot create (403
    // insufficient_scope).
    let config_url = meta["configuration_endpoint"].as_str().unwrap();
    let http = reqwest::Client::new();
    for resp in [
        http.get(config_url).send().await.unwrap(),
        http.get(format!("{config_url}?access_token={}", t.token))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(resp.status().as_u16(), 401);
        assert!(
            resp.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
    let read_only: Value = http
        .post(&t.creds.token_endpoint)
        .basic_auth(&t.creds.client_id, Some(&t.creds.client_secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=ssf.read")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        read_only["expires_in"].as_u64().unwrap() <= 3600,
        "{read_only}"
    );
    let resp = http
        .post(config_url)
        .bearer_auth(read_only["access_token"].as_str().unwrap())
        .json(&json!({"delivery": {"method": POLL_METHOD}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );

    // Stream creation (POST): the transmitter's members (SSF §4), `aud` the client id.
    let stream = PollStream::create(&h, &t).await;
    let config = &stream.config;
    assert_eq!(config["iss"], t.tenant.issuer, "{config}");
    assert_eq!(stream.aud, t.creds.client_id, "{config}");
    assert_eq!(config["delivery"]["method"], POLL_METHOD, "{config}");
    let delivered = config["events_delivered"].as_array().unwrap();
    assert!(!delivered.is_empty(), "{config}");
    for e in delivered {
        assert!(
            config["events_requested"].as_array().unwrap().contains(e),
            "events_delivered within events_requested: {config}"
        );
    }
    // Status read and update (GET, POST).
    let status_url = meta["status_endpoint"].as_str().unwrap();
    let resp = http
        .get(format!("{status_url}?stream_id={}", stream.stream_id))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let status: Value = resp.json().await.unwrap();
    assert_eq!(status["status"], "enabled", "{status}");
    let resp = http
        .post(status_url)
        .bearer_auth(&t.token)
        .json(&json!({"stream_id": stream.stream_id, "status": "enabled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // Verification: 204, and a verification SET echoing the state.
    let resp = http
        .post(meta["verification_endpoint"].as_str().unwrap())
        .bearer_auth(&t.token)
        .json(&json!({"stream_id": stream.stream_id, "state": "caep-walk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let verification = stream.next_set(&t.token).await;
    assert!(
        claims(&verification)["txn"].is_string(),
        "SSF §1: txn on every SET"
    );
    assert_eq!(
        claims(&verification)["events"][VERIFICATION]["state"],
        "caep-walk"
    );

    // reason_admin: required and non-empty on session-revoked and credential-change, alone
    // and in a batch; nothing is stored on a refusal.
    assert_reason_required(&h, &t, &revoked_without_reason(), SESSION_REVOKED).await;
    let mut empty = revoked_without_reason();
    empty["events"][SESSION_REVOKED]["reason_admin"] = json!({});
    assert_reason_required(&h, &t, &empty, SESSION_REVOKED).await;
    assert_reason_required(&h, &t, &change(None), CREDENTIAL_CHANGE).await;
    let batch = sethub_tests::setup::publish_batch(
        &h.hub.ingest_url,
        &t.tenant.slug,
        &t.tenant.api_key,
        &[change(None), change(Some("password reset by the helpdesk"))],
    )
    .await
    .unwrap();
    let refused = batch[0].as_ref().unwrap_err();
    assert_eq!(refused.status, Some(400));
    assert_eq!(
        refused.body["field"],
        format!("events.{CREDENTIAL_CHANGE}.reason_admin")
    );
    assert!(batch[1].is_ok(), "{:?}", batch[1]);
    let changed = stream.next_set(&t.token).await;
    assert_eq!(
        claims(&changed)["events"][CREDENTIAL_CHANGE]["reason_admin"]["en"],
        "password reset by the helpdesk"
    );
    t.publish(&h, &revoked_with_reason()).await.unwrap();
    let revoked = stream.next_set(&t.token).await;

    // A status change the transmitter makes (the tenant pauses the stream, then enables it)
    // is announced by a stream-updated SET before it takes effect (SSF §6), each with a `txn`
    // of its own (SSF §1).
    let mut notices = Vec::new();
    for (status, reason) in [("paused", Some("maintenance")), ("enabled", None)] {
        let mut body = json!({"status": status});
        if let Some(r) = reason {
            body["reason"] = json!(r);
        }
        let (code, view) = t
            .api(
                &h,
                reqwest::Method::POST,
                &format!("/streams/{}/status", stream.stream_id),
                Some(body),
            )
            .await;
        assert_eq!(code, 200, "{view}");
        let notice = stream.next_set(&t.token).await;
        let c = claims(&notice);
        assert_eq!(c["events"][STREAM_UPDATED]["status"], status, "{c}");
        assert_eq!(
            c["sub_id"],
            json!({"format": "opaque", "id": stream.stream_id}),
            "{c}"
        );
        notices.push(notice);
    }
    let txns: std::collections::HashSet<String> = [&verification, &changed, &revoked]
        .into_iter()
        .chain(&notices)
        .map(|set| claims(set)["txn"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(txns.len(), 5, "a txn per cause: {txns:?}");

    // Every SET: RS256 with the 2048-bit key, one event, typ secevent+jwt.
    for set in [&verification, &changed, &revoked]
        .into_iter()
        .chain(&notices)
    {
        assert_eq!(header(set)["alg"], "RS256");
        assert_eq!(header(set)["typ"], "secevent+jwt");
        assert_eq!(claims(set)["events"].as_object().unwrap().len(), 1);
    }

    // Delete (SSF §5.6): 204, then the stream is not found.
    let one = format!("{config_url}?stream_id={}", stream.stream_id);
    let resp = http
        .delete(&one)
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let resp = http.get(&one).bearer_auth(&t.token).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    // The profile forbids rotating away from RS256 (API and CLI), allows RS256-3072.
    let (status, problem) = t
        .api(
            &h,
            reqwest::Method::POST,
            "/signing-keys/rotate",
            Some(json!({"alg": "ES256"})),
        )
        .await;
    assert_eq!(
        (status, problem["field"].clone()),
        (409, json!("alg")),
        "{problem}"
    );
    let slug = t.tenant.slug.as_str();
    cli_refuses(
        &h,
        &["key", "rotate", "--tenant", slug, "--alg", "EdDSA"],
        "RS256",
    )
    .await;
    assert_eq!(jwks_ktys(&h, slug).await, ["RSA"]);
    let (status, body) = t
        .api(
            &h,
            reqwest::Method::POST,
            "/signing-keys/rotate",
            Some(json!({"alg": "RS256", "rsa_bits": 3072})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, keys) = t.api(&h, reqwest::Method::GET, "/signing-keys", None).await;
    let mut bits: Vec<u64> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["rsa_bits"].as_u64().unwrap())
        .collect();
    bits.sort_unstable();
    assert_eq!(bits, [2048, 3072], "{keys}");
    assert_eq!(jwks_ktys(&h, slug).await, ["RSA", "RSA"]);

    // A tenant without the profile publishes without reason_admin; switched on through the
    // API it is rotated to RS256 at once (the EC key kept through the overlap) and the rule
    // applies from then on.
    let plain = TenantRx::create(&h, &[], "ES256").await;
    let plain_stream = PollStream::create(&h, &plain).await;
    plain.publish(&h, &revoked_without_reason()).await.unwrap();
    let before = plain_stream.next_set(&plain.token).await;
    let (status, body) = plain
        .api(
            &h,
            reqwest::Method::PUT,
            "/tenant/profile",
            Some(json!({"profile": "caep-interop"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant"]["profile"], "caep-interop");
    assert!(body["rotated_to_kid"].is_string(), "{body}");
    assert_eq!(jwks_ktys(&h, &plain.tenant.slug).await, ["EC", "RSA"]);
    assert_reason_required(&h, &plain, &revoked_without_reason(), SESSION_REVOKED).await;
    let after = set_signed_with(&h, &plain, &plain_stream, "RS256", "ES256").await;
    let (status, problem) = plain
        .api(
            &h,
            reqwest::Method::PUT,
            "/tenant/profile",
            Some(json!({"profile": "nope"})),
        )
        .await;
    assert_eq!((status, problem["field"].clone()), (400, json!("profile")));
    let (status, problem) = plain
        .api(&h, reqwest::Method::PUT, "/tenant/profile", Some(json!({})))
        .await;
    assert_eq!((status, problem["field"].clone()), (400, json!("profile")));

    // The admin CLI switches the profile too: on (rotating an ES256 tenant to RS256 at once,
    // the EC key kept through the overlap), an unknown name refused, off.
    let cli = TenantRx::create(&h, &[], "ES256").await;
    let cli_slug = cli.tenant.slug.as_str();
    let on = run_cli(
        BIN.as_ref(),
        &h.env,
        &[
            "tenant",
            "profile",
            "--tenant",
            cli_slug,
            "--profile",
            "caep-interop",
        ],
    )
    .await
    .unwrap();
    assert_eq!(on["tenant"]["profile"], "caep-interop", "{on}");
    assert!(on["rotation"].is_object(), "{on}");
    assert_eq!(jwks_ktys(&h, cli_slug).await, ["EC", "RSA"]);
    cli_refuses(
        &h,
        &[
            "tenant",
            "profile",
            "--tenant",
            cli_slug,
            "--profile",
            "fapi",
        ],
        "fapi",
    )
    .await;
    let off = run_cli(
        BIN.as_ref(),
        &h.env,
        &[
            "tenant",
            "profile",
            "--tenant",
            cli_slug,
            "--profile",
            "none",
        ],
    )
    .await
    .unwrap();
    assert!(off["tenant"]["profile"].is_null(), "{off}");
    assert!(off["rotation"].is_null(), "{off}");
    let (_, tenant) = cli.api(&h, reqwest::Method::GET, "/tenant", None).await;
    assert!(tenant["profile"].is_null(), "{tenant}");

    // PyJWT and jwcrypto verify every SET from the metadata URL and the stream's audience.
    if let Some(python) = python {
        let out = verify_with_python(
            &python,
            &[
                json!({"metadata_url": t.metadata_url(&h), "client_id": t.creds.client_id,
                       "sets": [{"token": verification, "alg": "RS256", "bits": 2048},
                                {"token": changed, "alg": "RS256", "bits": 2048},
                                {"token": revoked, "alg": "RS256", "bits": 2048},
                                {"token": notices[0], "alg": "RS256", "bits": 2048},
                                {"token": notices[1], "alg": "RS256", "bits": 2048}]}),
                json!({"metadata_url": plain.metadata_url(&h), "client_id": plain.creds.client_id,
                       "sets": [{"token": before, "alg": "ES256"},
                                {"token": after, "alg": "RS256", "bits": 2048}]}),
            ],
        )
        .await;
        assert_eq!(
            out.matches("verified by PyJWT and jwcrypto").count(),
            7,
            "{out}"
        );
    }
}
