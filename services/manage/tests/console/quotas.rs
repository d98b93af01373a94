//! Quotas and stream ownership in the console and the portal: a reached quota is said beside
//! the form (or on the stream's page) and nothing is created; a receiver cannot enable a
//! stream its tenant disabled.

use actix_web::http::StatusCode;
use sethub_domain::{QuotaOverrides, StatusActor, StreamId, StreamStatus};

use crate::api_support::Hub;
use crate::support::{browser, portal_user, sign_up, tenant_of};

#[actix_web::test]
async fn the_console_and_the_portal_say_a_quota_is_reached_and_create_nothing() {
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut portal = browser(&hub).await;
    portal_user(&hub, &mut owner, &mut portal).await;
    let tenant = tenant_of(&hub, &slug).await;
    let limits = QuotaOverrides {
        receivers_per_tenant: Some(1),
        streams_per_receiver: Some(1),
        subjects_per_stream: Some(1),
        ..QuotaOverrides::default()
    };
    sethub_app::quotas::set_overrides(&hub.ctx, &slug, &limits, false)
        .await
        .unwrap();

    // The console: a second receiver is refused beside the name field.
    let csrf = owner.get("/console/receivers").await.csrf();
    let p = owner
        .post("/console/receivers", &[("csrf", &csrf), ("name", "Gamma")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
    let said = p.error("name").unwrap_or_else(|| panic!("{}", p.html));
    assert!(said.contains("receivers_per_tenant"), "{said}");
    assert!(p.html.contains("value=\"Gamma\""), "the typed name is kept");
    let scope = hub.ctx.store.scope(tenant.id);
    assert_eq!(scope.receivers().list().await.unwrap().len(), 1);

    // The portal: the second stream is refused with the quota named.
    let csrf = portal.get("/portal").await.csrf();
    let revoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
    let form = [
        ("csrf", csrf.as_str()),
        ("method", "poll"),
        ("event", revoked),
    ];
    let p = portal.post("/portal/streams", &form).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let stream_path = p.location.unwrap();
    let p = portal.post("/portal/streams", &form).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST, "{}", p.html);
    assert!(p.html.contains("streams_per_receiver"), "{}", p.html);
    assert_eq!(scope.streams().list().await.unwrap().len(), 1);

    // A second subject is refused; the stream's page says why.
    let subjects = format!("{stream_path}/subjects");
    for (email, said) in [
        ("a@example.com", "is sent again"),
        ("b@example.com", "subjects_per_stream"),
    ] {
        let p = portal
            .post(
                &subjects,
                &[
                    ("csrf", &csrf),
                    ("format", "email"),
                    ("value", email),
                    ("action", "add"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
        let page = portal.get(&stream_path).await;
        assert!(page.html.contains(said), "{said}: {}", page.html);
    }
    let id: StreamId = stream_path.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(scope.streams().subjects(id).await.unwrap().len(), 1);

    // Disabled by the tenant: the portal cannot enable it.
    scope
        .streams()
        .set_status(
            id,
            StreamStatus::Disabled,
            Some("under review".into()),
            StatusActor::Tenant,
        )
        .await
        .unwrap();
    let p = portal
        .post(
            &format!("{stream_path}/status"),
            &[("csrf", &csrf), ("status", "enabled")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
    assert!(
        p.html.contains("only the tenant can enable it"),
        "{}",
        p.html
    );
    assert!(p.html.contains("under review"), "{}", p.html);
    assert_eq!(
        scope.streams().get(id).await.unwrap().status,
        StreamStatus::Disabled
    );
}
