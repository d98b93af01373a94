//! The receiver page, server side: the server decides who may re-issue an invitation or
//! disable a receiver, disabling asks first, and another tenant's receiver is not found.

use actix_web::http::StatusCode;

use crate::api_support::Hub;
use crate::support::*;

#[tokio::test]
async fn a_receiver_is_disabled_only_by_a_writer_after_a_yes_and_never_across_tenants() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    let rx = sethub_app::admin::create_receiver(&hub.ctx, tenant.id, &"Beta".parse().unwrap())
        .await
        .unwrap();
    let page_path = format!("/console/receivers/{}", rx.receiver_id);
    let status_path = format!("{page_path}/status");
    let disabled = || async {
        hub.ctx
            .store
            .scope(tenant.id)
            .receivers()
            .get(rx.receiver_id)
            .await
            .unwrap()
            .disabled_at
            .is_some()
    };
    let page = b.get(&page_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html.contains("no invitation link is open"),
        "{}",
        page.html
    );
    let csrf = page.csrf();

    // A viewer sees the page without its buttons, and the server refuses its changes.
    let mut v = signed_in_viewer(&hub, &slug, "v@example.com").await;
    let seen = v.get(&page_path).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(!seen.html.contains("id=\"disable-receiver\""));
    let vcsrf = seen.csrf();
    for (path, form) in [
        (
            status_path.clone(),
            vec![
                ("csrf", vcsrf.as_str()),
                ("state", "disabled"),
                ("confirmed", "yes"),
            ],
        ),
        (
            format!("{page_path}/invite"),
            vec![("csrf", vcsrf.as_str())],
        ),
    ] {
        assert_eq!(
            v.post(&path, &form).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert!(!disabled().await);
    assert!(
        sethub_app::team::open_invites(&hub.ctx, tenant.id, Some(rx.receiver_id))
            .await
            .unwrap()
            .is_empty(),
        "no invitation made by a viewer"
    );

    // The owner: asked first, then disabled, then enabled again.
    let asked = b
        .post(&status_path, &[("csrf", &csrf), ("state", "disabled")])
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.html.contains("Disable the receiver Beta?"));
    assert!(!disabled().await, "not disabled without a yes");
    let p = b
        .post(
            &status_path,
            &[("csrf", &csrf), ("state", "disabled"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(disabled().await);
    assert!(b.get(&page_path).await.html.contains("Beta is disabled."));
    let p = b
        .post(&status_path, &[("csrf", &csrf), ("state", "enabled")])
        .await;
    assert_eq!(
        p.status,
        StatusCode::SEE_OTHER,
        "enabling needs no confirmation"
    );
    assert!(!disabled().await);
    // Both changes are in the audit log, by the member who made them.
    let log = hub
        .ctx
        .store
        .scope(tenant.id)
        .audit()
        .list(Some(&rx.receiver_id.to_string()), None, 10)
        .await
        .unwrap();
    let actions: Vec<&str> = log.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["receiver.disable", "receiver.enable"]);
    assert!(
        log.iter().all(|e| e.actor.starts_with("member:mbr_")),
        "{log:?}"
    );

    // Another tenant's owner cannot see nor change this receiver.
    let mut other = browser(&hub).await;
    sign_up(&mut other, "eve@example.com").await;
    let theirs = other.get(&page_path).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let ocsrf = other.get("/console/receivers").await.csrf();
    let form = [
        ("csrf", ocsrf.as_str()),
        ("state", "disabled"),
        ("confirmed", "yes"),
    ];
    assert_eq!(
        other.post(&status_path, &form).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .post(&format!("{page_path}/invite"), &[("csrf", &ocsrf)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(!disabled().await);
}
