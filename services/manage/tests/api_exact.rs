//! The tenant API accepts what its OpenAPI document says it accepts, and refuses the rest with
//! a 400 naming the member (schemathesis checks the same from outside with every check; these
//! pin the cases it found).

#![allow(clippy::unwrap_used)]

mod api_support;

use actix_web::test::TestRequest;
use api_support::{Hub, assert_problem, call, send};
use serde_json::json;

const NOWHERE: &str = "/api/v1/streams/str_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f";

#[tokio::test]
async fn nul_characters_whitespace_bodies_and_huge_delays_are_refused_naming_the_member() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("exact").await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());

    // Whitespace is not JSON (an empty body is `{}`).
    let req = TestRequest::post()
        .uri("/api/v1/api-keys")
        .insert_header(("Authorization", format!("Bearer {}", t.api_key)))
        .insert_header(("Content-Type", "application/json"))
        .set_payload("\t");
    assert_problem(&send(&app, req).await, 400, "invalid_request", Some("body"));

    // NUL, in a body member (at any depth) or a query parameter: a 400, not a 503 from the
    // database.
    let r = call(
        &app,
        "POST",
        "/api/v1/receivers",
        key,
        Some(json!({"name": "a\u{0}b"})),
    )
    .await;
    assert_problem(&r, 400, "invalid_request", Some("name"));
    assert!(
        r.body["detail"].as_str().unwrap().contains("NUL"),
        "{}",
        r.body
    );
    let r = call(&app, "GET", "/api/v1/audit-log?target=x%00y", key, None).await;
    assert_problem(&r, 400, "invalid_request", Some("target"));

    // A delay too large to store and read back.
    let huge = json!({"retry": {"initial_secs": 5, "factor": 2, "max_delay_secs": 1.7976931348623157e308,
        "max_age_secs": 3600, "jitter": 0.1}});
    let r = call(
        &app,
        "PUT",
        "/api/v1/tenant/delivery-settings",
        key,
        Some(huge),
    )
    .await;
    assert_problem(&r, 400, "invalid_request", Some("retry.max_delay_secs"));
    let r = call(&app, "GET", "/api/v1/tenant/delivery-settings", key, None).await;
    assert_eq!(r.status, 200, "nothing was stored: {}", r.body);
}

#[tokio::test]
async fn values_the_schema_allows_are_accepted() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("exact").await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());

    // A cap below the first delay caps every delay.
    let capped = json!({"retry": {"initial_secs": 5, "factor": 3, "max_delay_secs": 1.5,
        "max_age_secs": 3600, "jitter": 0.2}});
    let r = call(
        &app,
        "PUT",
        "/api/v1/tenant/delivery-settings",
        key,
        Some(capped),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(&app, "GET", "/api/v1/tenant/delivery-settings", key, None).await;
    assert_eq!(r.body["retry"]["max_delay_secs"], 1.5, "{}", r.body);

    // An integer member takes `2048.0` (JSON Schema's `integer`); a key size alone means RS256.
    let r = call(
        &app,
        "POST",
        "/api/v1/signing-keys/rotate",
        key,
        Some(json!({"rsa_bits": 2048.0})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(&app, "GET", "/api/v1/signing-keys", key, None).await;
    let keys = r.body["keys"].as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["state"] == "next" && k["alg"] == "RS256" && k["rsa_bits"] == 2048),
        "{}",
        r.body
    );
    let r = call(
        &app,
        "POST",
        "/api/v1/signing-keys/rotate",
        key,
        Some(json!({"alg": "ES256", "rsa_bits": 3072})),
    )
    .await;
    assert_problem(&r, 400, "invalid_request", Some("rsa_bits"));

    // Empty ranges (an end at or before the start) are valid: they match nothing. The stream
    // does not exist, so a body that passes validation gets 404.
    for body in [
        json!({"from": "2000-01-01T00:00:00Z", "to": "2000-01-01T00:00:00Z"}),
        json!({"from": "2000-01-02T00:00:00Z", "to": "2000-01-01T00:00:00Z"}),
        json!({"from_event_id": "evt_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f",
               "to_event_id": "evt_0094f0c3a1b27c6e9d1f2a3b4c5d6e7f"}),
    ] {
        let r = call(
            &app,
            "POST",
            &format!("{NOWHERE}/replay"),
            key,
            Some(body.clone()),
        )
        .await;
        assert_problem(&r, 404, "not_found", None);
        let r = call(
            &app,
            "POST",
            &format!("{NOWHERE}/redrive"),
            key,
            Some(body.clone()),
        )
        .await;
        let want = if body.get("from").is_some() { 404 } else { 400 };
        assert_eq!(r.status.as_u16(), want, "{body}: {}", r.body);
    }
}
