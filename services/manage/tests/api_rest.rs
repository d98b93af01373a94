//! The tenant REST API at /api/v1 over real PostgreSQL (and SQLite for the main flow):
//! every route, authentication and authorisation, body errors, tenant isolation, and the
//! OpenAPI document matching the routes.

#![allow(clippy::unwrap_used)]

mod api_support;
mod quotas;
mod tenant_ops;

use std::collections::BTreeSet;

use actix_web::test::TestRequest;
use api_support::{Hub, assert_problem, call, send};
use serde_json::json;

async fn every_route_works_for_an_admin_key(hub: Hub) {
    let t = hub.tenant("acme").await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());

    let r = call(&app, "GET", "/api/v1/tenant", key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["tenant_id"], t.tenant_id.to_string());
    assert_eq!(r.body["slug"], t.slug);
    assert_eq!(r.body["name"], "acme");
    assert_eq!(
        r.body["issuer"],
        format!("https://hub.example.com/t/{}", t.slug)
    );
    assert_eq!(
        r.body["metadata_url"],
        format!(
            "https://hub.example.com/.well-known/ssf-configuration/t/{}",
            t.slug
        )
    );

    let r = call(
        &app,
        "POST",
        "/api/v1/receivers",
        key,
        Some(json!({"name": "SIEM"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let receiver_id = r.body["receiver_id"].as_str().unwrap().to_owned();
    let client_id = r.body["client_id"].as_str().unwrap().to_owned();
    let secret = r.body["client_secret"].as_str().unwrap().to_owned();
    assert!(receiver_id.starts_with("rcv_"));
    assert_eq!(secret.len(), 43);
    assert_eq!(
        r.body["token_endpoint"],
        format!("https://hub.example.com/t/{}/oauth/token", t.slug)
    );

    // The printed credentials work at the tenant's token endpoint.
    let token = send(
        &app,
        TestRequest::post()
            .uri(&format!("/t/{}/oauth/token", t.slug))
            .set_form([
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", secret.as_str()),
            ]),
    )
    .await;
    assert_eq!(token.status, 200, "{}", token.body);

    let r = call(&app, "GET", "/api/v1/receivers", key, None).await;
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["receiver_id"], receiver_id);
    assert!(list[0].get("client_secret").is_none(), "{}", r.body);

    let r = call(
        &app,
        "GET",
        &format!("/api/v1/receivers/{receiver_id}"),
        key,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "SIEM");
    assert_eq!(r.body["client_id"], client_id);

    let r = call(
        &app,
        "POST",
        "/api/v1/api-keys",
        key,
        Some(json!({"name": "publisher", "scopes": ["events:publish"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["scopes"], json!(["events:publish"]));
    let new_id = r.body["api_key_id"].as_str().unwrap().to_owned();
    let new_key = r.body["api_key"].as_str().unwrap().to_owned();
    assert!(new_key.starts_with(&format!("sh_{}_", t.tenant_id.as_uuid().simple())));

    let r = call(&app, "GET", "/api/v1/api-keys", key, None).await;
    assert_eq!(r.status, 200);
    let keys = r.body.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["scopes"], json!(["events:publish", "admin"]));
    assert!(
        !r.body.to_string().contains(&new_key),
        "keys are never listed"
    );

    let r = call(
        &app,
        "DELETE",
        &format!("/api/v1/api-keys/{new_id}"),
        key,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let r = call(&app, "GET", "/api/v1/api-keys", key, None).await;
    assert!(r.body[1]["revoked_at"].is_string(), "{}", r.body);

    let r = call(&app, "GET", "/api/v1/signing-keys", key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first_kid = r.body["keys"][0]["kid"].as_str().unwrap().to_owned();
    assert_eq!(r.body["keys"][0]["state"], "active");
    assert_eq!(r.body["keys"][0]["alg"], "ES256");
    assert_eq!(r.body["jwks"]["keys"][0]["kid"], first_kid);
    assert!(r.body["jwks"]["keys"][0].get("d").is_none());

    let r = call(&app, "POST", "/api/v1/signing-keys/rotate", key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["action"], "published_next");
    assert_eq!(r.body["active_kid"], first_kid);
    let next = r.body["next_kid"].as_str().unwrap().to_owned();

    let r = call(
        &app,
        "POST",
        "/api/v1/signing-keys/rotate",
        key,
        Some(json!({"force": true})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["action"], "promoted");
    assert_eq!(r.body["active_kid"], next);
    assert_eq!(r.body["retiring_kids"], json!([first_kid]));

    let r = call(&app, "GET", "/api/v1/signing-keys", key, None).await;
    let published: BTreeSet<&str> = r.body["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        published,
        BTreeSet::from([first_kid.as_str(), next.as_str()])
    );
}

#[actix_web::test]
async fn every_route_works_for_an_admin_key_on_postgres() {
    every_route_works_for_an_admin_key(Hub::postgres().await).await;
}

#[actix_web::test]
async fn every_route_works_for_an_admin_key_on_sqlite() {
    every_route_works_for_an_admin_key(Hub::sqlite().await).await;
}

#[actix_web::test]
async fn a_missing_malformed_revoked_or_forged_key_gets_401() {
    let hub = Hub::postgres().await;
    let a = hub.tenant("alpha").await;
    let b = hub.tenant("beta").await;
    let app = hub.app().await;

    let r = call(&app, "GET", "/api/v1/tenant", None, None).await;
    assert_problem(&r, 401, "unauthorized", None);
    assert!(r.body["detail"].as_str().unwrap().contains("Authorization"));

    let r = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tenant")
            .insert_header(("Authorization", format!("Basic {}", a.api_key))),
    )
    .await;
    assert_problem(&r, 401, "unauthorized", None);

    let r = call(&app, "GET", "/api/v1/tenant", Some("sh_nonsense"), None).await;
    assert_problem(&r, 401, "unauthorized", None);

    // Tenant A's secret under tenant B's id: looked up in B's scope, where it does not exist.
    let forged = a.api_key.replace(
        &a.tenant_id.as_uuid().simple().to_string(),
        &b.tenant_id.as_uuid().simple().to_string(),
    );
    let r = call(&app, "GET", "/api/v1/tenant", Some(&forged), None).await;
    assert_problem(&r, 401, "unauthorized", None);

    let created = call(
        &app,
        "POST",
        "/api/v1/api-keys",
        Some(&a.api_key),
        Some(json!({"scopes": ["admin"]})),
    )
    .await;
    let (id, key) = (
        created.body["api_key_id"].as_str().unwrap(),
        created.body["api_key"].as_str().unwrap(),
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/tenant", Some(key), None)
            .await
            .status,
        200
    );
    let r = call(
        &app,
        "DELETE",
        &format!("/api/v1/api-keys/{id}"),
        Some(&a.api_key),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let r = call(&app, "GET", "/api/v1/tenant", Some(key), None).await;
    assert_problem(&r, 401, "unauthorized", None);
}

#[actix_web::test]
async fn a_key_without_the_admin_scope_gets_403() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("gamma").await;
    let app = hub.app().await;
    let created = call(
        &app,
        "POST",
        "/api/v1/api-keys",
        Some(&t.api_key),
        Some(json!({"name": "publisher"})),
    )
    .await;
    assert_eq!(created.body["scopes"], json!(["events:publish"]));
    let publisher = created.body["api_key"].as_str().unwrap();
    let (rx, token) = api_support::receiver(&app, &t).await;
    let r = api_support::ssf(&app, &t, &token, "POST", "stream", json!({})).await;
    let stream = r.body["stream_id"].as_str().unwrap();
    for (method, path) in [
        ("GET", "/api/v1/tenant".to_owned()),
        ("GET", "/api/v1/receivers".to_owned()),
        ("POST", "/api/v1/signing-keys/rotate".to_owned()),
        ("GET", "/api/v1/usage".to_owned()),
        ("POST", format!("/api/v1/receivers/{rx}/disable")),
        ("POST", format!("/api/v1/receivers/{rx}/invitation")),
        ("DELETE", format!("/api/v1/streams/{stream}")),
    ] {
        let r = call(&app, method, &path, Some(publisher), None).await;
        assert_problem(&r, 403, "forbidden", None);
    }
    // Nothing was changed.
    let r = call(
        &app,
        "GET",
        &format!("/api/v1/receivers/{rx}"),
        Some(&t.api_key),
        None,
    )
    .await;
    assert_eq!(r.body["disabled_at"], serde_json::Value::Null);
    assert_eq!(r.body["portal"]["state"], "no_invitation");
    assert_eq!(r.body["streams"][0]["stream_id"], stream);
}

#[actix_web::test]
async fn bad_bodies_get_400_naming_the_field_and_big_ones_413() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("delta").await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": 3}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "ok", "colour": "red"}), "colour"),
        (json!(["name"]), "body"),
    ] {
        let r = call(&app, "POST", "/api/v1/receivers", key, Some(body.clone())).await;
        assert_problem(&r, 400, "invalid_request", Some(field));
        assert!(
            r.body["detail"].as_str().unwrap().contains(field) || field == "body",
            "{body}: {}",
            r.body
        );
    }
    let r = call(
        &app,
        "POST",
        "/api/v1/api-keys",
        key,
        Some(json!({"scopes": ["root"]})),
    )
    .await;
    assert_problem(&r, 400, "invalid_request", Some("scopes"));
    let r = call(
        &app,
        "POST",
        "/api/v1/api-keys",
        key,
        Some(json!({"scopes": []})),
    )
    .await;
    assert_problem(&r, 400, "invalid_request", Some("scopes"));
    let r = call(
        &app,
        "POST",
        "/api/v1/signing-keys/rotate",
        key,
        Some(json!({"force": "yes"})),
    )
    .await;
    assert_problem(&r, 400, "invalid_request", Some("force"));

    // An empty PUT of the tenant's delivery settings is refused and changes nothing; `{}`
    // clears them.
    let retry = json!({"retry": {"initial_secs": 2.0, "factor": 2.0, "max_delay_secs": 60.0,
                                 "max_age_secs": 3600.0, "jitter": 0.1}});
    let path = "/api/v1/tenant/delivery-settings";
    let r = call(&app, "PUT", path, key, Some(retry.clone())).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    let r = call(&app, "PUT", path, key, None).await;
    assert_problem(&r, 400, "invalid_request", Some("body"));
    assert_eq!(call(&app, "GET", path, key, None).await.body, retry);
    let r = call(&app, "PUT", path, key, Some(json!({}))).await;
    assert_eq!((r.status.as_u16(), r.body), (200, json!({})));

    let bad_json = TestRequest::post()
        .uri("/api/v1/receivers")
        .insert_header(("Authorization", format!("Bearer {}", t.api_key)))
        .insert_header(("Content-Type", "application/json"))
        .set_payload("{\"name\": ");
    let r = send(&app, bad_json).await;
    assert_problem(&r, 400, "invalid_request", Some("body"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{}",
        r.body
    );

    let big = json!({"name": "x".repeat(70 * 1024)});
    let r = call(&app, "POST", "/api/v1/receivers", key, Some(big)).await;
    assert_problem(&r, 413, "payload_too_large", None);

    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/receivers")
            .insert_header(("Authorization", format!("Bearer {}", t.api_key)))
            .insert_header(("Content-Type", "text/plain"))
            .set_payload("name=x"),
    )
    .await;
    assert_problem(&r, 415, "unsupported_media_type", None);
    assert!(
        call(&app, "GET", "/api/v1/receivers", key, None)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[actix_web::test]
async fn a_key_of_tenant_a_never_sees_tenant_b_receivers_or_keys() {
    let hub = Hub::postgres().await;
    let a = hub.tenant("ay").await;
    let b = hub.tenant("bee").await;
    let app = hub.app().await;
    let rb = call(
        &app,
        "POST",
        "/api/v1/receivers",
        Some(&b.api_key),
        Some(json!({"name": "B's"})),
    )
    .await;
    let b_receiver = rb.body["receiver_id"].as_str().unwrap();
    let b_keys = call(&app, "GET", "/api/v1/api-keys", Some(&b.api_key), None).await;
    let b_key_id = b_keys.body[0]["api_key_id"].as_str().unwrap();

    let r = call(
        &app,
        "GET",
        &format!("/api/v1/receivers/{b_receiver}"),
        Some(&a.api_key),
        None,
    )
    .await;
    assert_problem(&r, 404, "not_found", None);
    let r = call(&app, "GET", "/api/v1/receivers", Some(&a.api_key), None).await;
    assert_eq!(r.body, json!([]));
    let r = call(
        &app,
        "DELETE",
        &format!("/api/v1/api-keys/{b_key_id}"),
        Some(&a.api_key),
        None,
    )
    .await;
    assert_problem(&r, 404, "not_found", None);
    assert_eq!(
        call(&app, "GET", "/api/v1/tenant", Some(&b.api_key), None)
            .await
            .status,
        200
    );
    let r = call(
        &app,
        "GET",
        "/api/v1/receivers/rcv_nothex",
        Some(&a.api_key),
        None,
    )
    .await;
    assert_problem(&r, 404, "not_found", None);
}

#[actix_web::test]
async fn the_openapi_document_lists_exactly_the_served_routes() {
    let hub = Hub::sqlite().await;
    let app = hub.app().await;
    let r = call(&app, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in r.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let expected: BTreeSet<String> = [
        "GET /api/v1/tenant",
        "PUT /api/v1/tenant/profile",
        "POST /api/v1/tenant/close",
        "POST /api/v1/tenant/reopen",
        "POST /api/v1/receivers",
        "GET /api/v1/receivers",
        "GET /api/v1/receivers/{id}",
        "POST /api/v1/receivers/{id}/disable",
        "POST /api/v1/receivers/{id}/enable",
        "POST /api/v1/receivers/{id}/invitation",
        "POST /api/v1/api-keys",
        "GET /api/v1/api-keys",
        "DELETE /api/v1/api-keys/{id}",
        "GET /api/v1/signing-keys",
        "POST /api/v1/signing-keys/rotate",
        "GET /api/v1/streams",
        "GET /api/v1/streams/{id}",
        "DELETE /api/v1/streams/{id}",
        "POST /api/v1/streams/{id}/status",
        "GET /api/v1/streams/{id}/deliveries",
        "GET /api/v1/streams/{id}/attempts",
        "GET /api/v1/deliveries/{id}",
        "POST /api/v1/streams/{id}/redrive",
        "POST /api/v1/streams/{id}/replay",
        "GET /api/v1/audit-log",
        "POST /api/v1/upstream-transmitters",
        "GET /api/v1/upstream-transmitters",
        "DELETE /api/v1/upstream-transmitters/{id}",
        "GET /api/v1/tenant/delivery-settings",
        "PUT /api/v1/tenant/delivery-settings",
        "PUT /api/v1/streams/{id}/delivery-settings",
        "GET /api/v1/usage",
        "GET /api/v1/openapi.json",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(documented, expected);
    assert!(r.body["components"]["securitySchemes"]["api_key"].is_object());
    assert!(r.body["components"]["schemas"]["Problem"].is_object());
    // Every documented route answers (401 without a key, not 404), apart from the document.
    for route in &expected {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{id}", "rcv_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f");
        let r = call(&app, method, &path, None, None).await;
        let want = if path.ends_with("openapi.json") {
            200
        } else {
            401
        };
        assert_eq!(r.status.as_u16(), want, "{route}: {}", r.body);
    }
    let r = call(&app, "GET", "/api/v1/nope", None, None).await;
    assert_problem(&r, 404, "not_found", None);
    // A documented path with another method: 405 naming the allowed ones.
    for (method, path, allow) in [
        ("DELETE", "/api/v1/tenant", "GET"),
        ("TRACE", "/api/v1/receivers", "GET, POST"),
        (
            "PATCH",
            "/api/v1/streams/str_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f",
            "DELETE, GET",
        ),
    ] {
        let r = call(&app, method, path, None, None).await;
        assert_problem(&r, 405, "method_not_allowed", None);
        let mut got: Vec<&str> = r.header("allow").unwrap().split(", ").collect();
        got.sort_unstable();
        assert_eq!(got.join(", "), allow, "{method} {path}");
    }
}
