//! Sign-up, sign-in, CSRF, API keys and roles.

use actix_web::http::StatusCode;

use crate::api_support::{Hub, unique};
use crate::support::*;

#[tokio::test]
async fn the_sign_up_form_puts_each_error_beside_its_field_keeps_the_input_and_creates_nothing() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let csrf = b.get("/console/signup").await.csrf();
    let taken = hub.tenant("taken").await;
    for (form, field, says) in [
        (
            [
                ("organisation", ""),
                ("slug", "ok-slug-1"),
                ("email", "a@b.co"),
                ("password", PASSWORD),
            ],
            "organisation",
            "",
        ),
        (
            [
                ("organisation", "Acme"),
                ("slug", "Not A Slug"),
                ("email", "a@b.co"),
                ("password", PASSWORD),
            ],
            "slug",
            "",
        ),
        (
            [
                ("organisation", "Acme"),
                ("slug", "ok-slug-2"),
                ("email", "not-an-email"),
                ("password", PASSWORD),
            ],
            "email",
            "name@example.com",
        ),
        (
            [
                ("organisation", "Acme"),
                ("slug", "ok-slug-3"),
                ("email", "a@b.co"),
                ("password", "short"),
            ],
            "password",
            "at least 12",
        ),
        (
            [
                ("organisation", "Acme"),
                ("slug", taken.slug.as_str()),
                ("email", "a@b.co"),
                ("password", PASSWORD),
            ],
            "slug",
            "taken",
        ),
    ] {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf", &csrf));
        let p = b.post("/console/signup", &fields).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{field}");
        let error = p
            .error(field)
            .unwrap_or_else(|| panic!("no error beside {field}: {}", p.html));
        assert!(error.contains(says), "{field}: {error}");
        // What was typed is kept (never the password).
        let email = form[2].1;
        assert!(p.html.contains(&format!("value=\"{email}\"")), "{field}");
        assert!(!p.html.contains(PASSWORD));
        // Nothing was created.
        let slug = form[1].1;
        if slug != taken.slug {
            assert!(
                hub.ctx
                    .store
                    .tenants()
                    .find_by_slug(slug)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }
    // Still signed out.
    assert_eq!(
        b.get("/console/dashboard").await.location.as_deref(),
        Some("/console/login")
    );
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused_and_change_nothing() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    // No session at all.
    let slug = unique("csrf");
    let p = b
        .post(
            "/console/signup",
            &[
                ("csrf", "forged"),
                ("organisation", "A"),
                ("slug", &slug),
                ("email", "a@b.co"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.html.contains("nothing was changed"));
    assert!(
        hub.ctx
            .store
            .tenants()
            .find_by_slug(&slug)
            .await
            .unwrap()
            .is_none()
    );
    // Signed in, a forged token: no key is created, none revoked, no sign-out.
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    let keys = || async {
        sethub_app::admin::list_api_keys(&hub.ctx, tenant.id)
            .await
            .unwrap()
    };
    let before = keys().await;
    let p = b
        .post(
            "/console/api-keys",
            &[("csrf", "forged"), ("name", "x"), ("scope_publish", "on")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let first = before[0].id.to_string();
    let p = b
        .post(
            &format!("/console/api-keys/{first}/revoke"),
            &[("csrf", "")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b.post("/console/logout", &[]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(keys().await, before);
    assert_eq!(b.get("/console/dashboard").await.status, StatusCode::OK);
}

#[tokio::test]
async fn api_keys_are_created_shown_once_and_revoked_and_their_form_is_validated() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    sign_up(&mut b, "ann@example.com").await;
    // The first key was shown once.
    assert!(
        !b.get("/console/dashboard")
            .await
            .html
            .contains("id=\"new-key\"")
    );
    let page = b.get("/console/api-keys").await;
    let csrf = page.csrf();
    for (form, field) in [
        (vec![("name", ""), ("scope_publish", "on")], "name"),
        (vec![("name", "publisher")], "scopes"),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let p = b.post("/console/api-keys", &form).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(p.error(field).is_some(), "{field}: {}", p.html);
    }
    let p = b
        .post(
            "/console/api-keys",
            &[
                ("csrf", &csrf),
                ("name", "publisher"),
                ("scope_publish", "on"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let listed = b.get("/console/api-keys").await;
    assert!(
        listed.html.contains("id=\"new-key\">sh_"),
        "the new key is shown"
    );
    assert!(listed.html.contains("publisher"));
    assert!(
        !b.get("/console/api-keys")
            .await
            .html
            .contains("id=\"new-key\""),
        "once"
    );
    // Revoke it: it shows as revoked, and the key no longer authenticates.
    let at = listed.html.find("id=\"new-key\">").unwrap() + 13;
    let secret = listed.html[at..at + listed.html[at..].find('<').unwrap()].to_owned();
    let (_, key) = sethub_app::admin::authenticate_api_key(&hub.ctx, &secret)
        .await
        .unwrap();
    // Without `confirmed=yes` the server asks first and revokes nothing.
    let asked = b
        .post(
            &format!("/console/api-keys/{}/revoke", key.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.html.contains("Revoke the API key"), "{}", asked.html);
    assert!(asked.html.contains("name=\"confirmed\" value=\"yes\""));
    assert!(
        sethub_app::admin::authenticate_api_key(&hub.ctx, &secret)
            .await
            .is_ok(),
        "not revoked without a yes"
    );
    let p = b
        .post(
            &format!("/console/api-keys/{}/revoke", key.id),
            &[("csrf", &csrf), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(b.get("/console/api-keys").await.html.contains("revoked"));
    assert!(
        sethub_app::admin::authenticate_api_key(&hub.ctx, &secret)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_viewer_sees_the_keys_but_the_server_refuses_its_changes() {
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "owner@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    // Signs in with the email in another case.
    let mut viewer = signed_in_viewer(&hub, &slug, "Viewer@Example.com").await;
    let page = viewer.get("/console/api-keys").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.html.contains(">Revoke<"),
        "no revoke button for a viewer"
    );
    let keys = sethub_app::admin::list_api_keys(&hub.ctx, tenant.id)
        .await
        .unwrap();
    let csrf = page.csrf();
    let p = viewer
        .post(
            &format!("/console/api-keys/{}/revoke", keys[0].id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = viewer
        .post(
            "/console/api-keys",
            &[("csrf", &csrf), ("name", "mine"), ("scope_admin", "on")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(
        sethub_app::admin::list_api_keys(&hub.ctx, tenant.id)
            .await
            .unwrap(),
        keys
    );
}

#[tokio::test]
async fn sign_in_refuses_wrong_credentials_alike_and_limits_attempts() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let csrf = b.get("/console/dashboard").await.csrf();
    assert_eq!(
        b.post("/console/logout", &[("csrf", &csrf)]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        b.get("/console/dashboard").await.location.as_deref(),
        Some("/console/login")
    );
    let csrf = b.get("/console/login").await.csrf();
    let mut wrong = Vec::new();
    for (s, e, p) in [
        (slug.as_str(), "ann@example.com", "wrong password!!"),
        (slug.as_str(), "bob@example.com", PASSWORD),
        ("no-such-org", "ann@example.com", PASSWORD),
    ] {
        let page = b
            .post(
                "/console/login",
                &[("csrf", &csrf), ("slug", s), ("email", e), ("password", p)],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(!page.html.contains(p), "the password is not echoed");
        wrong.push(
            page.html
                .split("role=\"alert\">")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(
        wrong.iter().all(|w| w == &wrong[0]),
        "one answer for all: {wrong:?}"
    );
    // Ten attempts in a row for one account are let through, then it waits.
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        last = b
            .post(
                "/console/login",
                &[
                    ("csrf", &csrf),
                    ("slug", &slug),
                    ("email", "ann@example.com"),
                    ("password", "wrong password!!"),
                ],
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // Another account of the organisation is not held up.
    let page = b
        .post(
            "/console/login",
            &[
                ("csrf", &csrf),
                ("slug", &slug),
                ("email", "zed@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_member_of_one_tenant_cannot_touch_another_tenants_keys() {
    let hub = Hub::postgres().await;
    let other = hub.tenant("other").await;
    let (_, theirs) = sethub_app::admin::authenticate_api_key(&hub.ctx, &other.api_key)
        .await
        .unwrap();
    let mut b = browser(&hub).await;
    sign_up(&mut b, "ann@example.com").await;
    let page = b.get("/console/api-keys").await;
    assert!(!page.html.contains(&theirs.prefix), "not listed");
    let p = b
        .post(
            &format!("/console/api-keys/{}/revoke", theirs.id),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(
        sethub_app::admin::authenticate_api_key(&hub.ctx, &other.api_key)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn every_form_refuses_a_post_without_the_sessions_csrf_token() {
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut portal = browser(&hub).await;
    crate::support::portal_user(&hub, &mut owner, &mut portal).await;
    let tenant = tenant_of(&hub, &slug).await;
    let stream = sethub_domain::StreamId::new();
    let key = sethub_app::admin::list_api_keys(&hub.ctx, tenant.id)
        .await
        .unwrap()[0]
        .id;
    let scope = hub.ctx.store.scope(tenant.id);
    let member = scope
        .members()
        .by_email("ann@example.com")
        .await
        .unwrap()
        .id;
    sethub_app::team::invite_member(&hub.ctx, tenant.id, sethub_store::Role::Viewer, None)
        .await
        .unwrap();
    let invite = sethub_app::team::open_invites(&hub.ctx, tenant.id, None)
        .await
        .unwrap()[0]
        .id;
    let receiver = sethub_app::admin::list_receivers(&hub.ctx, tenant.id)
        .await
        .unwrap()[0]
        .id;
    let before = snapshot(&hub, tenant.id).await;
    let console_forms = [
        "/console/logout".to_owned(),
        "/console/logout-all".into(),
        format!("/console/team/members/{member}/remove"),
        format!("/console/team/members/{member}/role"),
        format!("/console/team/invites/{invite}/revoke"),
        "/console/api-keys".into(),
        format!("/console/api-keys/{key}/revoke"),
        "/console/receivers".into(),
        "/console/team".into(),
        "/console/settings/sso".into(),
        "/console/settings/retry".into(),
        "/console/signing-keys/rotate".into(),
        "/console/upstreams".into(),
        format!(
            "/console/upstreams/{}/delete",
            sethub_domain::UpstreamId::new()
        ),
        format!("/console/streams/{stream}/redrive"),
        format!("/console/streams/{stream}/rate"),
        format!("/console/streams/{stream}/status"),
        format!("/console/streams/{stream}/delete"),
        format!("/console/receivers/{receiver}/invite"),
        format!("/console/receivers/{receiver}/status"),
        "/console/sso/start".into(),
        "/console/login".into(),
        "/console/signup".into(),
    ];
    for path in &console_forms {
        for token in [None, Some("forged")] {
            // Confirmed, so that only the missing or forged token can refuse it.
            let mut form = vec![
                ("name", "x"),
                ("role", "viewer"),
                ("slug", slug.as_str()),
                ("state", "disabled"),
                ("status", "disabled"),
                ("confirmed", "yes"),
            ];
            if let Some(t) = token {
                form.push(("csrf", t));
            }
            let p = owner.post(path, &form).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{path} with {token:?}");
        }
    }
    let portal_forms = [
        "/portal/logout".to_owned(),
        "/portal/logout-all".into(),
        "/portal/streams".into(),
        format!("/portal/streams/{stream}/status"),
        format!("/portal/streams/{stream}/verify"),
        format!("/portal/streams/{stream}/test"),
        format!("/portal/streams/{stream}/subjects"),
        "/portal/credentials/rotate".into(),
        "/portal/sso/settings".into(),
        "/portal/sso/start".into(),
        "/portal/decoder".into(),
        "/portal/login".into(),
    ];
    for path in &portal_forms {
        let p = portal
            .post(path, &[("csrf", "forged"), ("status", "paused")])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Nothing changed, and both are still signed in.
    let after = snapshot(&hub, tenant.id).await;
    assert_eq!(after, before);
    assert_eq!(owner.get("/console/dashboard").await.status, StatusCode::OK);
    assert_eq!(portal.get("/portal").await.status, StatusCode::OK);
}

/// What a forged form could have changed: the API keys, the receivers' count, the members
/// (with their roles) and the open invites.
async fn snapshot(
    hub: &Hub,
    tenant: sethub_domain::TenantId,
) -> (
    Vec<sethub_store::ApiKey>,
    Vec<sethub_store::Receiver>,
    Vec<sethub_store::Member>,
    Vec<sethub_store::OpenInvite>,
) {
    let scope = hub.ctx.store.scope(tenant);
    (
        sethub_app::admin::list_api_keys(&hub.ctx, tenant)
            .await
            .unwrap(),
        scope.receivers().list().await.unwrap(),
        scope.members().list().await.unwrap(),
        sethub_app::team::open_invites(&hub.ctx, tenant, None)
            .await
            .unwrap(),
    )
}
