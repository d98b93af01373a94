//! What the tenant API serves from the console's service layer (issue 16) over real
//! PostgreSQL and SQLite: the usage report over a chosen window, a receiver's portal state, disabling,
//! enabling and re-inviting it, and deleting a stream; each change in the audit log, another
//! tenant's ids a 404, a bad `days` a 400 naming it.

use actix_web::test::TestRequest;
use chrono::{NaiveDate, Utc};
use serde_json::{Value, json};
use sethub_app::admin::CreatedTenant;
use sethub_domain::{EventId, ReceiverId, StreamId};
use sethub_store::{
    Change, DeliveryKind, DeliveryState, EventSource, NewDelivery, NewEvent, Update,
};

use crate::api_support::{Hub, assert_problem, call, receiver, send, ssf};

mod closing;

const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// A poll stream of the receiver holding `token`, with a description; its id.
async fn poll_stream<S>(app: &S, t: &CreatedTenant, token: &str, description: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let r = ssf(
        app,
        t,
        token,
        "POST",
        "stream",
        json!({"events_requested": [SESSION_REVOKED], "description": description}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["stream_id"].as_str().unwrap().to_owned()
}

/// `GET /t/{slug}/ssf/{path}` with the receiver's token.
async fn ssf_get<S>(
    app: &S,
    t: &CreatedTenant,
    token: &str,
    path: &str,
) -> crate::api_support::Reply
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    send(
        app,
        TestRequest::get()
            .uri(&format!("/t/{}/ssf/{path}", t.slug))
            .insert_header(("Authorization", format!("Bearer {token}"))),
    )
    .await
}

/// Stores `n` accepted events for the tenant.
async fn accept_events(hub: &Hub, t: &CreatedTenant, n: usize) {
    for _ in 0..n {
        hub.ctx
            .store
            .scope(t.tenant_id)
            .events()
            .insert(NewEvent {
                id: EventId::new(),
                event_types: vec![SESSION_REVOKED.to_owned()],
                sub_id: Some(json!({"format": "email", "email": "ann@example.com"})),
                payload: json!({"events": {SESSION_REVOKED: {}}}),
                txn: None,
                toe: None,
                source: EventSource::Api,
                idempotency_key: None,
            })
            .await
            .unwrap();
    }
}

/// Stores `n` SETs on the stream and marks them delivered now.
async fn deliver(hub: &Hub, t: &CreatedTenant, stream: &str, n: usize) {
    let stream: StreamId = stream.parse().unwrap();
    let new: Vec<NewDelivery> = (0..n)
        .map(|_| NewDelivery {
            id: sethub_domain::DeliveryId::new(),
            stream_id: stream,
            event_id: Some(EventId::new()),
            kind: DeliveryKind::Event,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            set_token: "a.b.c".into(),
            state: DeliveryState::Pending,
            next_attempt_at: Some(Utc::now()),
        })
        .collect();
    let deliveries = hub.ctx.store.scope(t.tenant_id).deliveries();
    deliveries.insert_many(&new).await.unwrap();
    let updates: Vec<Update> = new
        .iter()
        .map(|d| Update {
            id: d.id,
            at: Utc::now(),
            attempted: true,
            change: Change::Delivered { status: 202 },
        })
        .collect();
    deliveries.apply(&updates, &[]).await.unwrap();
}

fn quota<'a>(usage: &'a Value, name: &str) -> &'a Value {
    usage["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["quota"] == name)
        .unwrap_or_else(|| panic!("no quota {name}: {usage}"))
}

#[actix_web::test]
async fn usage_counts_each_day_and_stream_over_the_window_asked_and_refuses_days_out_of_range_on_postgres()
 {
    usage_counts_each_day_and_stream_over_the_window_asked_and_refuses_days_out_of_range(
        Hub::postgres().await,
    )
    .await;
}

#[actix_web::test]
async fn usage_counts_each_day_and_stream_over_the_window_asked_and_refuses_days_out_of_range_on_sqlite()
 {
    usage_counts_each_day_and_stream_over_the_window_asked_and_refuses_days_out_of_range(
        Hub::sqlite().await,
    )
    .await;
}

async fn usage_counts_each_day_and_stream_over_the_window_asked_and_refuses_days_out_of_range(
    hub: Hub,
) {
    let t = hub.tenant("usage").await;
    let other = hub.tenant("other").await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());
    let (_, token) = receiver(&app, &t).await;
    let stream = poll_stream(&app, &t, &token, "beta poll").await;
    accept_events(&hub, &t, 3).await;
    accept_events(&hub, &other, 1).await;
    deliver(&hub, &t, &stream, 2).await;
    let today = Utc::now().date_naive();

    let r = call(&app, "GET", "/api/v1/usage", key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let u = &r.body;
    let days = u["days"].as_array().unwrap();
    assert_eq!(days.len(), 30, "30 days unless asked");
    assert_eq!(u["to"], today.to_string());
    assert_eq!(u["from"], (today - chrono::Duration::days(29)).to_string());
    assert_eq!(
        days[29],
        json!({"date": today.to_string(), "events": 3, "delivered": 2})
    );
    assert!(
        days[..29]
            .iter()
            .all(|d| d["events"] == 0 && d["delivered"] == 0),
        "{u}"
    );
    assert_eq!(
        (u["events_total"].as_u64(), u["delivered_total"].as_u64()),
        (Some(3), Some(2))
    );
    let streams = u["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{u}");
    assert_eq!(streams[0]["stream_id"], stream);
    assert_eq!(streams[0]["name"], "beta poll");
    assert_eq!(streams[0]["receiver"], "rx");
    assert_eq!(streams[0]["total"], 2);
    let per_day = streams[0]["delivered"].as_array().unwrap();
    assert_eq!((per_day.len(), &per_day[29]), (30, &json!(2)));
    assert_eq!(quota(u, "streams_per_tenant")["used"], 1);
    assert_eq!(quota(u, "receivers_per_tenant")["used"], 1);
    assert_eq!(quota(u, "streams_per_receiver")["at"], "rx");
    assert_eq!(quota(u, "subject_list_items")["used"], Value::Null);
    assert_eq!(u["quotas"].as_array().unwrap().len(), 6);

    // A window of its own: one day is today alone.
    let r = call(&app, "GET", "/api/v1/usage?days=1", key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["days"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["from"], r.body["to"]);
    assert_eq!(r.body["streams"][0]["delivered"], json!([2]));
    let r = call(&app, "GET", "/api/v1/usage?days=90", key, None).await;
    assert_eq!(r.body["days"].as_array().unwrap().len(), 90);
    let first: NaiveDate = r.body["from"].as_str().unwrap().parse().unwrap();
    assert_eq!(today - first, chrono::Duration::days(89));

    for bad in ["0", "91", "-1", "seven", "2.5", ""] {
        let r = call(&app, "GET", &format!("/api/v1/usage?days={bad}"), key, None).await;
        assert_problem(&r, 400, "invalid_request", Some("days"));
    }

    // The other tenant sees its own figures only.
    let r = call(&app, "GET", "/api/v1/usage", Some(&other.api_key), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.body["events_total"].as_u64(),
            r.body["delivered_total"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(r.body["streams"], json!([]));
    assert_eq!(quota(&r.body, "streams_per_tenant")["used"], 0);
}

/// The audit entries about `target`, oldest first, as (action, actor).
async fn audit<S>(app: &S, t: &CreatedTenant, target: &str) -> Vec<(String, String)>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let r = call(
        app,
        "GET",
        &format!("/api/v1/audit-log?target={target}"),
        Some(&t.api_key),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut entries: Vec<(String, String)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    entries.reverse();
    entries
}

/// The tenant's admin API key as the audit log names it.
async fn key_actor<S>(app: &S, t: &CreatedTenant) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let r = call(app, "GET", "/api/v1/api-keys", Some(&t.api_key), None).await;
    format!("api_key:{}", r.body[0]["api_key_id"].as_str().unwrap())
}

#[actix_web::test]
async fn a_receiver_is_read_with_its_portal_state_reinvited_disabled_and_enabled_and_audited_on_postgres()
 {
    a_receiver_is_read_with_its_portal_state_reinvited_disabled_and_enabled_and_audited(
        Hub::postgres().await,
    )
    .await;
}

#[actix_web::test]
async fn a_receiver_is_read_with_its_portal_state_reinvited_disabled_and_enabled_and_audited_on_sqlite()
 {
    a_receiver_is_read_with_its_portal_state_reinvited_disabled_and_enabled_and_audited(
        Hub::sqlite().await,
    )
    .await;
}

async fn a_receiver_is_read_with_its_portal_state_reinvited_disabled_and_enabled_and_audited(
    hub: Hub,
) {
    let t = hub.tenant("rcv").await;
    let other = hub.tenant("other").await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());
    let actor = key_actor(&app, &t).await;
    let (rx, token) = receiver(&app, &t).await;
    let stream = poll_stream(&app, &t, &token, "siem poll").await;
    let (theirs, their_token) = receiver(&app, &other).await;

    let r = call(&app, "GET", &format!("/api/v1/receivers/{rx}"), key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["portal"],
        json!({"state": "no_invitation", "people": 0, "invitation_expires_at": null})
    );
    assert_eq!(
        r.body["streams"],
        json!([{"stream_id": stream, "name": "siem poll", "status": "enabled"}])
    );
    assert_eq!(r.body["disabled_at"], Value::Null);
    // The list stays short: no portal state nor streams there.
    let r = call(&app, "GET", "/api/v1/receivers", key, None).await;
    assert!(
        r.body[0].get("portal").is_none() && r.body[0].get("streams").is_none(),
        "{}",
        r.body
    );

    // An invitation: its link is shown once; a second one replaces it.
    let r = call(
        &app,
        "POST",
        &format!("/api/v1/receivers/{rx}/invitation"),
        key,
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["receiver_id"], rx);
    let prefix = format!("https://hub.example.com/portal/t/{}/invite/", t.slug);
    let first = r.body["invitation_url"].as_str().unwrap().to_owned();
    assert!(first.starts_with(&prefix), "{first}");
    let expires: chrono::DateTime<Utc> = r.body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(
        expires > Utc::now() + chrono::Duration::hours(71),
        "{expires}"
    );
    let r = call(&app, "GET", &format!("/api/v1/receivers/{rx}"), key, None).await;
    assert_eq!(r.body["portal"]["state"], "pending");
    let shown: chrono::DateTime<Utc> = r.body["portal"]["invitation_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(shown.timestamp(), expires.timestamp());
    let r = call(
        &app,
        "POST",
        &format!("/api/v1/receivers/{rx}/invitation"),
        key,
        None,
    )
    .await;
    let second = r.body["invitation_url"].as_str().unwrap().to_owned();
    assert!(second.starts_with(&prefix) && second != first);
    let rx_id: ReceiverId = rx.parse().unwrap();
    let open = hub
        .ctx
        .store
        .scope(t.tenant_id)
        .members()
        .open_invites(Some(rx_id))
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "the earlier link stops working");

    // Disabled: no token, the tokens it holds refused; a second disable changes nothing.
    let r = call(
        &app,
        "POST",
        &format!("/api/v1/receivers/{rx}/disable"),
        key,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let since = r.body["disabled_at"].as_str().unwrap().to_owned();
    let read = ssf_get(&app, &t, &token, &format!("stream?stream_id={stream}")).await;
    assert_eq!(read.status, 401, "{}", read.body);
    let r = call(
        &app,
        "POST",
        &format!("/api/v1/receivers/{rx}/disable"),
        key,
        None,
    )
    .await;
    assert_eq!(r.body["disabled_at"], since, "the first time is kept");
    let r = call(&app, "GET", &format!("/api/v1/receivers/{rx}"), key, None).await;
    assert_eq!(r.body["disabled_at"], since);
    assert_eq!(
        r.body["streams"][0]["status"], "enabled",
        "the stream keeps its status"
    );

    // Enabled again: the token works again.
    let r = call(
        &app,
        "POST",
        &format!("/api/v1/receivers/{rx}/enable"),
        key,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["disabled_at"], Value::Null);
    let read = ssf_get(&app, &t, &token, &format!("stream?stream_id={stream}")).await;
    assert_eq!(read.status, 200, "{}", read.body);

    let want: Vec<(String, String)> = [
        "receiver.invite",
        "receiver.invite",
        "receiver.disable",
        "receiver.enable",
    ]
    .into_iter()
    .map(|a| (a.to_owned(), actor.clone()))
    .collect();
    assert_eq!(audit(&app, &t, &rx).await, want);

    // Another tenant's receiver, an unknown one and a malformed id: 404, and nothing changed.
    for id in [
        theirs.as_str(),
        "rcv_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f",
        "rcv_nothex",
    ] {
        for (method, path) in [
            ("GET", format!("/api/v1/receivers/{id}")),
            ("POST", format!("/api/v1/receivers/{id}/disable")),
            ("POST", format!("/api/v1/receivers/{id}/enable")),
            ("POST", format!("/api/v1/receivers/{id}/invitation")),
        ] {
            let r = call(&app, method, &path, key, None).await;
            assert_problem(&r, 404, "not_found", None);
        }
    }
    let r = call(
        &app,
        "GET",
        &format!("/api/v1/receivers/{theirs}"),
        Some(&other.api_key),
        None,
    )
    .await;
    assert_eq!(r.body["disabled_at"], Value::Null);
    assert_eq!(r.body["portal"]["state"], "no_invitation");
    let still = ssf_get(&app, &other, &their_token, "stream").await;
    assert_eq!(still.status, 200, "{}", still.body);
    assert_eq!(audit(&app, &other, &theirs).await, vec![]);
}

#[actix_web::test]
async fn a_tenant_deletes_its_stream_audited_and_never_another_tenants_on_postgres() {
    a_tenant_deletes_its_stream_audited_and_never_another_tenants(Hub::postgres().await).await;
}

#[actix_web::test]
async fn a_tenant_deletes_its_stream_audited_and_never_another_tenants_on_sqlite() {
    a_tenant_deletes_its_stream_audited_and_never_another_tenants(Hub::sqlite().await).await;
}

async fn a_tenant_deletes_its_stream_audited_and_never_another_tenants(hub: Hub) {
    let t = hub.tenant("del").await;
    let other = hub.tenant("other").await;
    let app = hub.app().await;
    let key = Some(t.api_key.as_str());
    let actor = key_actor(&app, &t).await;
    let (_, token) = receiver(&app, &t).await;
    let gone = poll_stream(&app, &t, &token, "to delete").await;
    let kept = poll_stream(&app, &t, &token, "kept").await;
    let (_, their_token) = receiver(&app, &other).await;
    let theirs = poll_stream(&app, &other, &their_token, "theirs").await;

    for id in [
        theirs.as_str(),
        "str_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f",
        "str_nothex",
    ] {
        let r = call(&app, "DELETE", &format!("/api/v1/streams/{id}"), key, None).await;
        assert_problem(&r, 404, "not_found", None);
    }
    let r = call(
        &app,
        "GET",
        &format!("/api/v1/streams/{theirs}"),
        Some(&other.api_key),
        None,
    )
    .await;
    assert_eq!(
        r.status, 200,
        "another tenant's stream is untouched: {}",
        r.body
    );

    let r = call(
        &app,
        "DELETE",
        &format!("/api/v1/streams/{gone}"),
        key,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(r.body, Value::Null);
    let r = call(&app, "GET", &format!("/api/v1/streams/{gone}"), key, None).await;
    assert_problem(&r, 404, "not_found", None);
    let r = call(
        &app,
        "DELETE",
        &format!("/api/v1/streams/{gone}"),
        key,
        None,
    )
    .await;
    assert_problem(&r, 404, "not_found", None);
    let r = call(&app, "GET", "/api/v1/streams", key, None).await;
    let ids: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stream_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![kept.as_str()]);
    // Its receiver finds it gone too.
    let r = ssf_get(&app, &t, &token, &format!("stream?stream_id={gone}")).await;
    assert_eq!(r.status, 404, "{}", r.body);

    assert_eq!(
        audit(&app, &t, &gone).await,
        vec![("stream.delete".to_owned(), actor)]
    );
    let r = call(
        &app,
        "GET",
        &format!("/api/v1/audit-log?target={gone}"),
        key,
        None,
    )
    .await;
    assert_eq!(r.body[0]["details"]["name"], "to delete");
    assert_eq!(r.body[0]["details"]["delivery_method"], "poll");
    assert_eq!(audit(&app, &t, &kept).await, vec![]);
}
