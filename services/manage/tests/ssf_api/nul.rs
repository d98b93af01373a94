//! A NUL (U+0000) anywhere in an SSF request (PostgreSQL could store it nowhere): refused
//! where the stream API (and fan-out's poll endpoint, which shares its receiver extractor and
//! error shape) parses the request, `400 invalid_request` naming where, nothing stored or
//! changed.

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, web};
use serde_json::{Value, json};

use super::{Hub, bearer, call, json_of, token};

fn assert_refused(status: StatusCode, body: &[u8], at: &str) {
    let text = String::from_utf8_lossy(body);
    assert_eq!(status, 400, "{at}: {text}");
    let body = json_of(body);
    assert_eq!(body["error"], "invalid_request", "{at}: {body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("{at}: ")) && description.contains("NUL"),
        "{at}: {description}"
    );
}

#[actix_web::test]
async fn a_nul_in_a_member_a_query_parameter_a_form_field_or_the_path_is_a_400_naming_it() {
    let hub = Hub::new(false).await;
    let (tenant, slug) = hub.tenant("nul").await;
    let rx = hub.receiver(tenant, "rx").await;
    // One router over both services, as `sethub all` serves them.
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(hub.ctx.clone()))
            .configure(sethub_manage::routes)
            .configure(sethub_fanout::routes),
    )
    .await;
    let t = token(&app, &slug, &rx, None).await;
    let streams = format!("/t/{slug}/ssf/stream");
    let (_, _, body) = call(
        &app,
        bearer(TestRequest::post().uri(&streams), &t).set_json(json!({"description": "before"})),
    )
    .await;
    let id = json_of(&body)["stream_id"].as_str().unwrap().to_owned();
    let poll = format!("/t/{slug}/ssf/poll/{id}");
    assert!(
        json_of(&body)["delivery"]["endpoint_url"]
            .as_str()
            .unwrap()
            .ends_with(&poll),
        "a poll stream"
    );
    let stored = || async {
        let (status, _, body) = call(&app, bearer(TestRequest::get().uri(&streams), &t)).await;
        assert_eq!(status, 200);
        json_of(&body)
    };
    let before = stored().await;

    // JSON members: a string, a string in a list, a nested member, in every kind of body.
    let bodies: [(TestRequest, Value, &str); 8] = [
        (
            TestRequest::post().uri(&streams),
            json!({"description": "a\u{0}b"}),
            "description",
        ),
        (
            TestRequest::post().uri(&streams),
            json!({"events_requested": ["urn:example:a", "urn:example:\u{0}"]}),
            "events_requested[1]",
        ),
        (
            TestRequest::patch().uri(&streams),
            json!({"stream_id": id, "description": "\u{0}"}),
            "description",
        ),
        (
            TestRequest::post().uri(&format!("/t/{slug}/ssf/status")),
            json!({"stream_id": id, "status": "paused", "reason": "x\u{0}"}),
            "reason",
        ),
        (
            TestRequest::post().uri(&format!("/t/{slug}/ssf/subjects:add")),
            json!({"stream_id": id, "subject": {"format": "email", "email": "a\u{0}@example.com"}}),
            "subject.email",
        ),
        (
            TestRequest::post().uri(&format!("/t/{slug}/ssf/verify")),
            json!({"stream_id": id, "state": "\u{0}"}),
            "state",
        ),
        (
            TestRequest::post().uri(&poll),
            json!({"ack": ["j\u{0}"], "returnImmediately": true}),
            "ack[0]",
        ),
        (
            TestRequest::post().uri(&poll),
            json!({"setErrs": {"j": {"err": "invalid_key", "description": "\u{0}"}}}),
            "setErrs.j.description",
        ),
    ];
    for (req, body, at) in bodies {
        let (status, _, resp) = call(&app, bearer(req, &t).set_json(&body)).await;
        assert_refused(status, &resp, at);
    }

    // A query parameter, and the path (the tenant's slug, the poll stream's id) of an
    // authenticated request.
    for (req, at) in [
        (
            TestRequest::get().uri(&format!("{streams}?stream_id={id}%00")),
            "stream_id",
        ),
        (
            TestRequest::get().uri(&format!("/t/{slug}%00/ssf/stream")),
            "slug",
        ),
        (TestRequest::post().uri(&format!("{poll}%00")), "stream_id"),
    ] {
        let (status, _, resp) = call(&app, bearer(req, &t)).await;
        assert_refused(status, &resp, at);
    }
    // The public endpoints: the tenant in the path of the metadata, a token form's field.
    let (status, _, resp) = call(
        &app,
        TestRequest::get().uri(&format!("/.well-known/ssf-configuration/t/{slug}%00")),
    )
    .await;
    assert_refused(status, &resp, "slug");
    let (status, _, resp) = call(
        &app,
        TestRequest::post()
            .uri(&format!("/t/{slug}/oauth/token"))
            .set_form([
                ("grant_type", "client_credentials"),
                ("client_id", &format!("{}\u{0}", rx.client_id)),
                ("client_secret", rx.secret.as_str()),
            ]),
    )
    .await;
    assert_refused(status, &resp, "client_id");

    // Nothing changed: the stream as it was, enabled, with no subject.
    assert_eq!(stored().await, before);
    let (_, _, resp) = call(
        &app,
        bearer(
            TestRequest::get().uri(&format!("/t/{slug}/ssf/status?stream_id={id}")),
            &t,
        ),
    )
    .await;
    assert_eq!(json_of(&resp)["status"], "enabled");
    let subjects = hub
        .ctx
        .store
        .scope(tenant)
        .streams()
        .subjects(id.parse().unwrap())
        .await
        .unwrap();
    assert!(subjects.is_empty());
}
