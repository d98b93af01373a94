//! Closing the organisation through the tenant API (`sethub_app::closing`) over real
//! PostgreSQL and SQLite: the slug as a confirmation, a closed tenant read-only (the API
//! writes nothing, the SSF API creates no stream and says its streams are disabled and why),
//! both changes audited, and reopening undoing it.

use serde_json::json;
use sethub_app::admin::CreatedTenant;

use super::{audit, key_actor, poll_stream, ssf_get};
use crate::api_support::{Hub, assert_problem, call, receiver, ssf};

#[actix_web::test]
async fn closing_through_the_api_wants_the_slug_leaves_the_tenant_read_only_and_reopening_undoes_it_on_postgres()
 {
    closing_through_the_api_wants_the_slug_leaves_the_tenant_read_only_and_reopening_undoes_it(
        Hub::postgres().await,
    )
    .await;
}

#[actix_web::test]
async fn closing_through_the_api_wants_the_slug_leaves_the_tenant_read_only_and_reopening_undoes_it_on_sqlite()
 {
    closing_through_the_api_wants_the_slug_leaves_the_tenant_read_only_and_reopening_undoes_it(
        Hub::sqlite().await,
    )
    .await;
}

/// `POST /api/v1/tenant/close` with `confirm`.
async fn close<S>(app: &S, t: &CreatedTenant, confirm: &str) -> crate::api_support::Reply
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let body = json!({ "confirm": confirm });
    call(
        app,
        "POST",
        "/api/v1/tenant/close",
        Some(&t.api_key),
        Some(body),
    )
    .await
}

async fn closing_through_the_api_wants_the_slug_leaves_the_tenant_read_only_and_reopening_undoes_it(
    hub: Hub,
) {
    let t = hub.tenant("leaving").await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());
    let (_, token) = receiver(&app, &t).await;
    let stream = poll_stream(&app, &t, &token, "kept").await;
    let actor = key_actor(&app, &t).await;

    // No confirmation, or the wrong one: a 400 naming `confirm`, and nothing closes.
    let r = call(&app, "POST", "/api/v1/tenant/close", key, Some(json!({}))).await;
    assert_problem(&r, 400, "invalid_request", Some("confirm"));
    let r = close(&app, &t, "someone-else").await;
    assert_problem(&r, 400, "invalid_request", Some("confirm"));
    let r = call(&app, "GET", "/api/v1/tenant", key, None).await;
    assert!(r.body["closed_at"].is_null(), "{}", r.body);

    let r = close(&app, &t, &t.slug).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["streams_disabled"], 1);
    let closed_at: chrono::DateTime<chrono::Utc> = r.body["tenant"]["closed_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let purge_after: chrono::DateTime<chrono::Utc> = r.body["tenant"]["purge_after"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let grace = i64::try_from(hub.ctx.config.closing.grace_secs).unwrap();
    assert!(((purge_after - closed_at).num_seconds() - grace).abs() <= 1);

    // Read-only: reads answer, writes are refused naming the reason; the receiver's stream is
    // disabled with the reason, and it can create no other.
    let r = call(&app, "GET", "/api/v1/receivers", key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        &app,
        "POST",
        "/api/v1/receivers",
        key,
        Some(json!({"name": "late"})),
    )
    .await;
    assert_problem(&r, 403, "forbidden", None);
    assert!(
        r.body["detail"].as_str().unwrap().contains("is closed"),
        "{}",
        r.body
    );
    let r = ssf_get(&app, &t, &token, &format!("status?stream_id={stream}")).await;
    assert_eq!(r.body["status"], "disabled", "{}", r.body);
    assert_eq!(r.body["reason"], sethub_app::closing::CLOSED_REASON);
    let r = ssf(
        &app,
        &t,
        &token,
        "POST",
        "stream",
        json!({"events_requested": [super::SESSION_REVOKED]}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["error"], "access_denied");
    // The receiver cannot enable it itself.
    let r = ssf(
        &app,
        &t,
        &token,
        "POST",
        "status",
        json!({"stream_id": stream, "status": "enabled"}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Closing again keeps the deletion time.
    let r = close(&app, &t, &t.slug).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["streams_disabled"], 0);
    assert_eq!(
        r.body["tenant"]["purge_after"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        purge_after
    );

    // Reopening: writes work again and the stream is enabled; twice is the same as once.
    for _ in 0..2 {
        let r = call(&app, "POST", "/api/v1/tenant/reopen", key, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["closed_at"].is_null() && r.body["purge_after"].is_null());
    }
    let r = ssf_get(&app, &t, &token, &format!("status?stream_id={stream}")).await;
    assert_eq!(r.body["status"], "enabled", "{}", r.body);
    let r = call(
        &app,
        "POST",
        "/api/v1/receivers",
        key,
        Some(json!({"name": "back"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let tenant = t.tenant_id.to_string();
    assert_eq!(
        audit(&app, &t, &tenant).await,
        vec![
            ("tenant.close".to_owned(), actor.clone()),
            ("tenant.reopen".to_owned(), actor),
        ]
    );
}
