//! The SSF control plane over PostgreSQL: metadata, token endpoint and every stream
//! management endpoint with the status codes SSF 1.0 names.

#![allow(clippy::unwrap_used)]

#[path = "ssf_api/nul.rs"]
mod nul;
mod ssf_support;

use actix_web::http::StatusCode;
use actix_web::test;
use base64::Engine;
use serde_json::{Value, json};
use sethub_bus::{Message, QueueKind};
use ssf_support::{Hub, Rx};

const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

async fn call<S>(
    app: &S,
    req: test::TestRequest,
) -> (StatusCode, actix_web::http::header::HeaderMap, Vec<u8>)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = test::read_body(resp).await.to_vec();
    (status, headers, body)
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

async fn token<S>(app: &S, slug: &str, rx: &Rx, scope: Option<&str>) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", rx.client_id.as_str()),
        ("client_secret", rx.secret.as_str()),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let (status, _, body) = call(
        app,
        test::TestRequest::post()
            .uri(&format!("/t/{slug}/oauth/token"))
            .set_form(&form),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    json_of(&body)["access_token"].as_str().unwrap().to_owned()
}

/// A token request form, the status it must get and its RFC 6749 `error`.
type TokenCase<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);

fn bearer(req: test::TestRequest, token: &str) -> test::TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

#[actix_web::test]
async fn the_metadata_names_every_endpoint_under_the_tenants_issuer() {
    let hub = Hub::new(true).await;
    let (tenant, slug) = hub.tenant("meta").await;
    let app = hub.app().await;
    let (status, _, body) = call(
        &app,
        test::TestRequest::get().uri(&format!("/.well-known/ssf-configuration/t/{slug}")),
    )
    .await;
    assert_eq!(status, 200);
    let m = json_of(&body);
    let issuer = format!("https://hub.example.com/t/{slug}");
    assert_eq!(m["issuer"], issuer);
    assert_eq!(m["spec_version"], "1_0");
    assert_eq!(m["jwks_uri"], format!("{issuer}/jwks.json"));
    assert_eq!(
        m["delivery_methods_supported"],
        json!(["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"])
    );
    for (field, path) in [
        ("configuration_endpoint", "/ssf/stream"),
        ("status_endpoint", "/ssf/status"),
        ("add_subject_endpoint", "/ssf/subjects:add"),
        ("remove_subject_endpoint", "/ssf/subjects:remove"),
        ("verification_endpoint", "/ssf/verify"),
    ] {
        assert_eq!(m[field], format!("{issuer}{path}"), "{field}");
    }
    assert_eq!(
        m["authorization_schemes"],
        json!([{"spec_urn": "urn:ietf:rfc:6749"}])
    );
    assert_eq!(m["default_subjects"], "ALL");
    let (status, _, _) = call(
        &app,
        test::TestRequest::get().uri("/.well-known/ssf-configuration/t/no-such-tenant"),
    )
    .await;
    assert_eq!(status, 404);

    // The JWKS at jwks_uri publishes the tenant's active key, and nothing private.
    let (status, headers, body) = call(
        &app,
        test::TestRequest::get().uri(&format!("/t/{slug}/jwks.json")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("Content-Type").unwrap(),
        "application/jwk-set+json"
    );
    let jwks = json_of(&body);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let active = sethub_app::keys::active_signing_key(&hub.ctx, tenant)
        .await
        .unwrap();
    assert_eq!(keys[0]["kid"], active.kid());
    assert!(keys[0].get("d").is_none());
    let (status, _, _) = call(
        &app,
        test::TestRequest::get().uri("/t/no-such-tenant/jwks.json"),
    )
    .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn the_token_endpoint_follows_rfc6749_for_both_client_authentication_methods() {
    let hub = Hub::new(true).await;
    let (tenant, slug) = hub.tenant("tok").await;
    let rx = hub.receiver(tenant, "rx").await;
    let app = hub.app().await;
    let uri = format!("/t/{slug}/oauth/token");

    // client_secret_post
    let t = token(&app, &slug, &rx, None).await;
    assert!(t.starts_with("sat1."));

    // client_secret_basic
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", rx.client_id, rx.secret));
    let (status, headers, body) = call(
        &app,
        test::TestRequest::post()
            .uri(&uri)
            .insert_header(("Authorization", format!("Basic {basic}")))
            .set_form([("grant_type", "client_credentials"), ("scope", "ssf.read")]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("Cache-Control").unwrap(), "no-store");
    let b = json_of(&body);
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["scope"], "ssf.read");
    assert!(b["expires_in"].as_i64().unwrap() <= 3600);

    // Errors, each in the RFC 6749 shape.
    let cases: Vec<TokenCase> = vec![
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &rx.client_id),
                ("client_secret", "wrong"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", &rx.secret),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", &rx.client_id),
                ("client_secret", &rx.secret),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("client_id", &rx.client_id), ("client_secret", &rx.secret)],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &rx.client_id),
                ("client_secret", &rx.secret),
                ("scope", "root"),
            ],
            400,
            "invalid_scope",
        ),
    ];
    for (form, want_status, want_error) in cases {
        let (status, headers, body) =
            call(&app, test::TestRequest::post().uri(&uri).set_form(&form)).await;
        assert_eq!(status.as_u16(), want_status, "{form:?}");
        assert_eq!(json_of(&body)["error"], want_error, "{form:?}");
        if want_status == 401 {
            assert!(headers.contains_key("WWW-Authenticate"));
        }
    }

    // A receiver of another tenant cannot get a token here.
    let (other, _) = hub.tenant("other").await;
    let foreign = hub.receiver(other, "rx").await;
    let (status, _, _) = call(
        &app,
        test::TestRequest::post().uri(&uri).set_form([
            ("grant_type", "client_credentials"),
            ("client_id", foreign.client_id.as_str()),
            ("client_secret", foreign.secret.as_str()),
        ]),
    )
    .await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn the_stream_api_refuses_missing_bad_and_foreign_tokens_before_reading_the_body() {
    let hub = Hub::new(true).await;
    let (ta, slug_a) = hub.tenant("a").await;
    let (tb, slug_b) = hub.tenant("b").await;
    let rx_a = hub.receiver(ta, "rx").await;
    let _ = hub.receiver(tb, "rx").await;
    let app = hub.app().await;
    let uri = format!("/t/{slug_b}/ssf/stream");
    // No token, with a body that is not even JSON: 401, not 400.
    let (status, headers, _) = call(
        &app,
        test::TestRequest::post().uri(&uri).set_payload("{not json"),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        headers
            .get("WWW-Authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    // Garbage and tampered tokens.
    for bad in ["garbage", "sat1.t1.e30.AAAA"] {
        let (status, _, _) = call(&app, bearer(test::TestRequest::get().uri(&uri), bad)).await;
        assert_eq!(status, 401, "{bad}");
    }
    // Tenant A's token at tenant B's issuer.
    let ta_token = token(&app, &slug_a, &rx_a, None).await;
    let (status, _, _) = call(&app, bearer(test::TestRequest::get().uri(&uri), &ta_token)).await;
    assert_eq!(status, 401);
    // A read-only token cannot create.
    let ro = token(&app, &slug_a, &rx_a, Some("ssf.read")).await;
    let (status, headers, _) = call(
        &app,
        bearer(
            test::TestRequest::post().uri(&format!("/t/{slug_a}/ssf/stream")),
            &ro,
        )
        .set_json(json!({})),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        headers
            .get("WWW-Authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let (status, _, _) = call(
        &app,
        bearer(
            test::TestRequest::get().uri(&format!("/t/{slug_a}/ssf/stream")),
            &ro,
        ),
    )
    .await;
    assert_eq!(status, 200, "reading needs only ssf.read");
}

#[actix_web::test]
async fn a_receiver_creates_reads_updates_replaces_and_deletes_its_streams() {
    let hub = Hub::new(true).await;
    let (tenant, slug) = hub.tenant("crud").await;
    let rx = hub.receiver(tenant, "rx").await;
    let other = hub.receiver(tenant, "other").await;
    let app = hub.app().await;
    let t = token(&app, &slug, &rx, None).await;
    let uri = format!("/t/{slug}/ssf/stream");
    let issuer = format!("https://hub.example.com/t/{slug}");
    let session_revoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

    // Create a push stream.
    let (status, headers, body) = call(
        &app,
        bearer(test::TestRequest::post().uri(&uri), &t).set_json(json!({
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:9/events", "authorization_header": "Bearer rx-secret"},
            "events_requested": [session_revoked, "urn:example:not-supported"],
            "description": "push stream"
        })),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers.get("Cache-Control").unwrap(), "no-store");
    let push = json_of(&body);
    assert_eq!(push["iss"], issuer);
    assert_eq!(
        push["delivery"],
        json!({"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:9/events"})
    );
    assert_eq!(
        push["events_delivered"],
        json!([session_revoked]),
        "unsupported types are not delivered"
    );
    assert!(
        push["events_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == session_revoked)
    );
    assert!(
        push.get("authorization_header").is_none(),
        "the header is write-only"
    );
    assert!(!String::from_utf8_lossy(&body).contains("rx-secret"));
    let push_id = push["stream_id"].as_str().unwrap().to_owned();

    // Create with no delivery: poll, with an endpoint the transmitter assigns.
    let (status, _, body) = call(
        &app,
        bearer(test::TestRequest::post().uri(&uri), &t).set_json(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    let poll = json_of(&body);
    let poll_id = poll["stream_id"].as_str().unwrap().to_owned();
    assert_eq!(poll["delivery"]["method"], "urn:ietf:rfc:8936");
    assert_eq!(
        poll["delivery"]["endpoint_url"],
        format!("{issuer}/ssf/poll/{poll_id}")
    );
    assert_eq!(
        poll["events_delivered"], poll["events_supported"],
        "no events_requested means every supported type"
    );

    // Read one, and all as an array in creation order.
    let (status, _, body) = call(
        &app,
        bearer(
            test::TestRequest::get().uri(&format!("{uri}?stream_id={push_id}")),
            &t,
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body), push);
    let (_, _, body) = call(&app, bearer(test::TestRequest::get().uri(&uri), &t)).await;
    let all = json_of(&body);
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[0]["stream_id"], push_id.as_str());

    // Another receiver of the same tenant sees none of them.
    let t_other = token(&app, &slug, &other, None).await;
    let (_, _, body) = call(&app, bearer(test::TestRequest::get().uri(&uri), &t_other)).await;
    assert_eq!(json_of(&body), json!([]));
    let (status, _, _) = call(
        &app,
        bearer(
            test::TestRequest::get().uri(&format!("{uri}?stream_id={push_id}")),
            &t_other,
        ),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &app,
        bearer(
            test::TestRequest::delete().uri(&format!("{uri}?stream_id={push_id}")),
            &t_other,
        ),
    )
    .await;
    assert_eq!(status, 404);

    // Unknown or malformed ids are 404.
    for id in ["str_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "nope"] {
        let (status, _, _) = call(
            &app,
            bearer(
                test::TestRequest::get().uri(&format!("{uri}?stream_id={id}")),
                &t,
            ),
        )
        .await;
        assert_eq!(status, 404, "{id}");
    }

    // PATCH changes only what it names; an echoed transmitter field must match.
    let (status, _, body) = call(
        &app,
        bearer(test::TestRequest::patch().uri(&uri), &t)
            .set_json(json!({"stream_id": push_id, "description": "renamed", "iss": issuer})),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let patched = json_of(&body);
    assert_eq!(patched["description"], "renamed");
    assert_eq!(patched["events_requested"], push["events_requested"]);
    let (status, _, _) = call(
        &app,
        bearer(test::TestRequest::patch().uri(&uri), &t)
            .set_json(json!({"stream_id": push_id, "iss": "https://evil.example.com"})),
    )
    .await;
    assert_eq!(
        status, 400,
        "a transmitter-supplied field that differs is refused"
    );
    let (status, _, _) = call(
        &app,
        bearer(test::TestRequest::patch().uri(&uri), &t).set_json(json!({"description": "x"})),
    )
    .await;
    assert_eq!(status, 400, "stream_id is required");

    // PUT replaces: absent receiver fields are removed; no delivery is refused.
    let (status, _, _) = call(
        &app,
        bearer(test::TestRequest::put().uri(&uri), &t).set_json(json!({"stream_id": push_id})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, body) = call(
        &app,
        bearer(test::TestRequest::put().uri(&uri), &t).set_json(json!({"stream_id": push_id, "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:9/other"}})),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let replaced = json_of(&body);
    assert!(replaced.get("description").is_none());
    assert!(replaced.get("events_requested").is_none());
    assert_eq!(
        replaced["delivery"]["endpoint_url"],
        "http://127.0.0.1:9/other"
    );

    // Delete, then it is gone.
    let (status, _, body) = call(
        &app,
        bearer(
            test::TestRequest::delete().uri(&format!("{uri}?stream_id={push_id}")),
            &t,
        ),
    )
    .await;
    assert_eq!(status, 204);
    assert!(body.is_empty());
    let (status, _, _) = call(
        &app,
        bearer(
            test::TestRequest::get().uri(&format!("{uri}?stream_id={push_id}")),
            &t,
        ),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &app,
        bearer(
            test::TestRequest::delete().uri(&format!("{uri}?stream_id={push_id}")),
            &t,
        ),
    )
    .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn bad_stream_requests_get_400_and_store_nothing() {
    let hub = Hub::new(false).await;
    let (tenant, slug) = hub.tenant("bad").await;
    let rx = hub.receiver(tenant, "rx").await;
    let app = hub.app().await;
    let t = token(&app, &slug, &rx, None).await;
    let uri = format!("/t/{slug}/ssf/stream");
    let cases = [
        json!({"delivery": {"method": "urn:example:carrier-pigeon"}}),
        json!({"delivery": {"method": "urn:ietf:rfc:8935"}}),
        json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "not a url"}}),
        // The SSRF guard: loopback and metadata addresses are refused when not allowed.
        json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:8080/events"}}),
        json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://169.254.169.254/latest"}}),
        json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://localhost/events"}}),
        json!({"events_requested": "all"}),
        json!({"stream_id": "str_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa"}),
        json!([1, 2]),
    ];
    for body in cases {
        let (status, _, resp) = call(
            &app,
            bearer(test::TestRequest::post().uri(&uri), &t).set_json(&body),
        )
        .await;
        assert_eq!(status, 400, "{body}: {}", String::from_utf8_lossy(&resp));
        assert_eq!(json_of(&resp)["error"], "invalid_request");
    }
    // The transmitter's own members on create: 400 naming the member, even when the value is
    // the one the transmitter would choose.
    for (member, value) in [
        ("iss", json!(format!("http://hub.test/t/{slug}"))),
        ("aud", json!(rx.client_id)),
        ("events_supported", json!([SESSION_REVOKED])),
        ("events_delivered", json!([SESSION_REVOKED])),
        ("min_verification_interval", json!(30)),
        ("inactivity_timeout", json!(3600)),
    ] {
        let mut body = json!({"events_requested": [SESSION_REVOKED]});
        body[member] = value;
        let (status, _, resp) = call(
            &app,
            bearer(test::TestRequest::post().uri(&uri), &t).set_json(&body),
        )
        .await;
        assert_eq!(status, 400, "{body}: {}", String::from_utf8_lossy(&resp));
        let resp = json_of(&resp);
        assert_eq!(resp["error"], "invalid_request");
        assert!(
            resp["error_description"]
                .as_str()
                .unwrap()
                .starts_with(member),
            "{resp}"
        );
    }
    let (status, _, _) = call(
        &app,
        bearer(test::TestRequest::post().uri(&uri), &t).set_payload("{oops"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = call(
        &app,
        bearer(test::TestRequest::post().uri(&uri), &t).set_payload(vec![b' '; 70 * 1024]),
    )
    .await;
    assert_eq!(status, 400);
    let (_, _, body) = call(&app, bearer(test::TestRequest::get().uri(&uri), &t)).await;
    assert_eq!(json_of(&body), json!([]), "nothing was stored");
}

#[actix_web::test]
async fn status_subjects_and_verification_follow_ssf() {
    let hub = Hub::new(true).await;
    let (tenant, slug) = hub.tenant("ops").await;
    let rx = hub.receiver(tenant, "rx").await;
    let app = hub.app().await;
    let t = token(&app, &slug, &rx, None).await;
    let (_, _, body) = call(
        &app,
        bearer(
            test::TestRequest::post().uri(&format!("/t/{slug}/ssf/stream")),
            &t,
        )
        .set_json(json!({})),
    )
    .await;
    let id = json_of(&body)["stream_id"].as_str().unwrap().to_owned();

    // Status: read, pause with a reason, enable; bad values refused.
    let status_uri = format!("/t/{slug}/ssf/status");
    let (status, _, body) = call(
        &app,
        bearer(
            test::TestRequest::get().uri(&format!("{status_uri}?stream_id={id}")),
            &t,
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        json_of(&body),
        json!({"stream_id": id, "status": "enabled"})
    );
    let (status, _, body) = call(
        &app,
        bearer(test::TestRequest::post().uri(&status_uri), &t)
            .set_json(json!({"stream_id": id, "status": "paused", "reason": "maintenance"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        json_of(&body),
        json!({"stream_id": id, "status": "paused", "reason": "maintenance"})
    );
    let (_, _, body) = call(
        &app,
        bearer(test::TestRequest::post().uri(&status_uri), &t)
            .set_json(json!({"stream_id": id, "status": "enabled"})),
    )
    .await;
    assert_eq!(
        json_of(&body),
        json!({"stream_id": id, "status": "enabled"})
    );
    let (status, _, _) = call(
        &app,
        bearer(test::TestRequest::post().uri(&status_uri), &t)
            .set_json(json!({"stream_id": id, "status": "asleep"})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = call(&app, bearer(test::TestRequest::get().uri(&status_uri), &t)).await;
    assert_eq!(status, 400, "stream_id is required");

    // Subjects: add → 200 empty, remove → 204; a bad subject is 400 naming the member.
    let subject = json!({"format": "email", "email": "user@example.com"});
    let (status, _, body) = call(
        &app,
        bearer(
            test::TestRequest::post().uri(&format!("/t/{slug}/ssf/subjects:add")),
            &t,
        )
        .set_json(json!({"stream_id": id, "subject": subject, "verified": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.is_empty());
    let (status, _, _) = call(
        &app,
        bearer(
            test::TestRequest::post().uri(&format!("/t/{slug}/ssf/subjects:remove")),
            &t,
        )
        .set_json(json!({"stream_id": id, "subject": subject})),
    )
    .await;
    assert_eq!(status, 204);
    let stored = hub
        .ctx
        .store
        .scope(tenant)
        .streams()
        .subjects(id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].added);
    let (status, _, body) = call(
        &app,
        bearer(
            test::TestRequest::post().uri(&format!("/t/{slug}/ssf/subjects:add")),
            &t,
        )
        .set_json(json!({"stream_id": id, "subject": {"format": "email"}})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        json_of(&body)["error_description"]
            .as_str()
            .unwrap()
            .contains("subject.email"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    // Verification: 204, a control message carrying the state; too soon again → 429.
    let mut control = hub.ctx.bus.subscribe(QueueKind::Control, 16).await.unwrap();
    let verify_uri = format!("/t/{slug}/ssf/verify");
    let (status, _, body) = call(
        &app,
        bearer(test::TestRequest::post().uri(&verify_uri), &t)
            .set_json(json!({"stream_id": id, "state": "VGhpcyBpcyBhbiBleGFtcGxl"})),
    )
    .await;
    assert_eq!(status, 204);
    assert!(body.is_empty());
    let verification = loop {
        let d = control.next().await.unwrap();
        let m = d.message().message.clone();
        d.ack().await.unwrap();
        if let Message::VerificationRequested { stream_id, state } = m {
            break (stream_id, state);
        }
    };
    assert_eq!(verification.0.to_string(), id);
    assert_eq!(verification.1.as_deref(), Some("VGhpcyBpcyBhbiBleGFtcGxl"));
    let (status, headers, _) = call(
        &app,
        bearer(test::TestRequest::post().uri(&verify_uri), &t).set_json(json!({"stream_id": id})),
    )
    .await;
    assert_eq!(status, 429);
    let retry: u64 = headers
        .get("Retry-After")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry));
    let (status, _, _) = call(
        &app,
        bearer(test::TestRequest::post().uri(&verify_uri), &t)
            .set_json(json!({"stream_id": "str_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa"})),
    )
    .await;
    assert_eq!(status, 404);
}
