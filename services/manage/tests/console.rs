//! The web console, server side: every form's validation (errors beside their fields, the
//! typed values kept, nothing created), CSRF refusal, sessions, roles enforced by the server,
//! sign-in rate limiting and tenant isolation. Over PostgreSQL, in-process.

#![allow(clippy::unwrap_used)]

mod api_support;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, web};
use api_support::{Hub, unique};
use sethub_store::{NewMember, Role};

/// A browser's view of the console: one cookie jar (the session cookie).
struct Browser<S> {
    app: S,
    cookies: std::collections::BTreeMap<String, String>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    html: String,
}

impl Page {
    /// The value of the first hidden `csrf` input.
    fn csrf(&self) -> String {
        let at = self.html.find("name=\"csrf\" value=\"").unwrap() + 19;
        self.html[at..at + self.html[at..].find('"').unwrap()].to_owned()
    }

    /// The error shown beside field `name`, if any.
    fn error(&self, name: &str) -> Option<String> {
        let marker = format!("id=\"{name}-error\">");
        let at = self.html.find(&marker)? + marker.len();
        Some(self.html[at..at + self.html[at..].find('<')?].to_owned())
    }
}

impl<S> Browser<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    async fn send(&mut self, mut req: TestRequest) -> Page {
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.insert_header(("Cookie", jar.join("; ")));
        }
        let resp = test::call_service(&self.app, req.to_request()).await;
        for c in resp.response().cookies() {
            if c.value().is_empty() {
                self.cookies.remove(c.name());
            } else {
                self.cookies
                    .insert(c.name().to_owned(), c.value().to_owned());
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get("Location")
            .map(|l| l.to_str().unwrap().to_owned());
        let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
        Page {
            status,
            location,
            html,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(TestRequest::get().uri(path)).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(TestRequest::post().uri(path).set_form(form))
            .await
    }
}

async fn browser(
    hub: &Hub,
) -> Browser<impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>>
{
    let settings = sethub_manage::web::ConsoleSettings::new(&hub.ctx).unwrap();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(hub.ctx.clone()))
            .configure(sethub_manage::routes_with_console(settings)),
    )
    .await;
    Browser {
        app,
        cookies: Default::default(),
    }
}

const PASSWORD: &str = "correct horse battery";

/// Signs up a new organisation; returns its slug and the first API key shown.
async fn sign_up<S>(b: &mut Browser<S>, email: &str) -> (String, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let csrf = b.get("/console/signup").await.csrf();
    let slug = unique("acme");
    let p = b
        .post(
            "/console/signup",
            &[
                ("csrf", &csrf),
                ("organisation", "Acme"),
                ("slug", &slug),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert_eq!(p.location.as_deref(), Some("/console/dashboard"));
    let dash = b.get("/console/dashboard").await;
    assert_eq!(dash.status, StatusCode::OK);
    let at = dash.html.find("id=\"new-key\">").unwrap() + 13;
    let key = dash.html[at..at + dash.html[at..].find('<').unwrap()].to_owned();
    assert!(key.starts_with("sh_"), "{key}");
    (slug, key)
}

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
    let tenant = hub
        .ctx
        .store
        .tenants()
        .find_by_slug(&slug)
        .await
        .unwrap()
        .unwrap();
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
    let p = b
        .post(
            &format!("/console/api-keys/{}/revoke", key.id),
            &[("csrf", &csrf)],
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
    let tenant = hub
        .ctx
        .store
        .tenants()
        .find_by_slug(&slug)
        .await
        .unwrap()
        .unwrap();
    hub.ctx
        .store
        .scope(tenant.id)
        .members()
        .create(NewMember {
            email: "viewer@example.com".into(),
            password_hash: Some(sethub_app::console::hash_password(PASSWORD).unwrap()),
            role: Role::Viewer,
            receiver_id: None,
        })
        .await
        .unwrap();
    let mut viewer = browser(&hub).await;
    let csrf = viewer.get("/console/login").await.csrf();
    let p = viewer
        .post(
            "/console/login",
            &[
                ("csrf", &csrf),
                ("slug", &slug),
                ("email", "Viewer@Example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
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

/// The path and query of a URL (the console's callback, reached in-process).
fn path_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap_or_default())
}

#[tokio::test]
async fn single_sign_on_signs_a_member_in_and_refuses_a_wrong_nonce_issuer_state_or_email() {
    use sethub_tests::oidc::{Knobs, TestProvider};
    sethub_tests::init_crypto();
    let hub = Hub::postgres_reaching_localhost().await;
    let good = Knobs {
        email: "ann@example.com".into(),
        email_verified: true,
        ..Knobs::default()
    };
    let op = TestProvider::start(good.clone()).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    // Settings: bad values are refused by field; then SSO is saved.
    let csrf = owner.get("/console/settings").await.csrf();
    let p = owner
        .post(
            "/console/settings/sso",
            &[("csrf", &csrf), ("issuer", "not a url"), ("client_id", "")],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.error("issuer").is_some() && p.error("client_id").is_some());
    let p = owner
        .post(
            "/console/settings/sso",
            &[
                ("csrf", &csrf),
                ("issuer", &op.issuer()),
                ("client_id", "sethub-test"),
                ("client_secret", "s3cret"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);

    // A fresh browser signs in through the provider.
    let sign_in = |knobs: Knobs| {
        op.set(knobs);
        async {
            let mut b = browser(&hub).await;
            let csrf = b.get("/console/login").await.csrf();
            let p = b
                .post("/console/sso/start", &[("csrf", &csrf), ("slug", &slug)])
                .await;
            assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
            let auth = p.location.unwrap();
            assert!(auth.starts_with(&op.issuer()), "{auth}");
            for must in [
                "code_challenge=",
                "code_challenge_method=S256",
                "nonce=",
                "state=",
                "scope=openid",
            ] {
                assert!(auth.contains(must), "{must} in {auth}");
            }
            let back = op.authorize(&auth).await;
            let answer = b.get(&path_of(&back)).await;
            (b, answer, back)
        }
    };
    let (mut b, answer, back) = sign_in(good.clone()).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
    assert_eq!(answer.location.as_deref(), Some("/console/dashboard"));
    assert!(
        b.get("/console/dashboard")
            .await
            .html
            .contains("ann@example.com")
    );
    // The same answer again (a replay) signs nobody in.
    let mut other = browser(&hub).await;
    other.get("/console/login").await;
    assert_eq!(
        other.get(&path_of(&back)).await.status,
        StatusCode::UNAUTHORIZED
    );

    for (what, knobs, says) in [
        (
            "a wrong nonce",
            Knobs {
                wrong_nonce: Some("not-the-nonce".into()),
                ..good.clone()
            },
            "nonce",
        ),
        (
            "a wrong issuer",
            Knobs {
                wrong_issuer: Some("https://evil.example".into()),
                ..good.clone()
            },
            "ssuer",
        ),
        (
            "an unverified email",
            Knobs {
                email_verified: false,
                ..good.clone()
            },
            "verified email",
        ),
        (
            "an email with no member",
            Knobs {
                email: "mallory@example.com".into(),
                ..good.clone()
            },
            "no member",
        ),
    ] {
        let (mut b, answer, _) = sign_in(knobs).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            answer.html
        );
        assert!(
            answer.html.to_lowercase().contains(says),
            "{what}: {}",
            answer.html
        );
        assert_eq!(
            b.get("/console/dashboard").await.location.as_deref(),
            Some("/console/login"),
            "{what}: not signed in"
        );
    }
    // A tampered state is refused before the code is used.
    op.set(good);
    let mut b = browser(&hub).await;
    let csrf = b.get("/console/login").await.csrf();
    let p = b
        .post("/console/sso/start", &[("csrf", &csrf), ("slug", &slug)])
        .await;
    let back = op.authorize(&p.location.unwrap()).await;
    let tampered = path_of(&back).replace("state=", "state=x");
    let answer = b.get(&tampered).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.html.contains("state"));
}

#[tokio::test]
async fn signing_keys_are_rotated_by_owners_and_not_by_viewers() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let page = b.get("/console/signing-keys").await;
    assert_eq!(page.html.matches("class=\"key-active\"").count(), 1);
    let p = b
        .post(
            "/console/signing-keys/rotate",
            &[("csrf", &page.csrf()), ("mode", "now")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let after = b.get("/console/signing-keys").await;
    assert!(
        after.html.contains("Done: the active key is"),
        "{}",
        after.html
    );
    assert_eq!(after.html.matches("class=\"key-active\"").count(), 1);
    assert_eq!(after.html.matches("class=\"key-retiring\"").count(), 1);
    // A viewer's rotation is refused.
    let tenant = hub
        .ctx
        .store
        .tenants()
        .find_by_slug(&slug)
        .await
        .unwrap()
        .unwrap();
    hub.ctx
        .store
        .scope(tenant.id)
        .members()
        .create(NewMember {
            email: "v@example.com".into(),
            password_hash: Some(sethub_app::console::hash_password(PASSWORD).unwrap()),
            role: Role::Viewer,
            receiver_id: None,
        })
        .await
        .unwrap();
    let mut v = browser(&hub).await;
    let csrf = v.get("/console/login").await.csrf();
    v.post(
        "/console/login",
        &[
            ("csrf", &csrf),
            ("slug", &slug),
            ("email", "v@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let csrf = v.get("/console/signing-keys").await.csrf();
    let p = v
        .post(
            "/console/signing-keys/rotate",
            &[("csrf", &csrf), ("mode", "now")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let keys = sethub_app::keys::overview(&hub.ctx, tenant.id, chrono::Utc::now())
        .await
        .unwrap()
        .0;
    assert_eq!(keys.len(), 2, "no third key");
}

/// An owner invites a receiver; its user joins the portal. Returns the portal browser and the
/// tenant's slug.
async fn portal_user<S>(hub: &Hub, owner: &mut Browser<S>, portal: &mut Browser<S>)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let csrf = owner.get("/console/receivers").await.csrf();
    let p = owner
        .post("/console/receivers", &[("csrf", &csrf), ("name", "Beta")])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let page = owner.get("/console/receivers").await;
    let at = page.html.find("id=\"invite-link\">").unwrap() + 17;
    let link = &page.html[at..at + page.html[at..].find('<').unwrap()];
    let path = url::Url::parse(link).unwrap().path().to_owned();
    let _ = hub;
    let join = portal.get(&path).await;
    assert_eq!(join.status, StatusCode::OK, "{}", join.html);
    // Bad values are refused beside their fields; the link still works after.
    let p = portal
        .post(
            &path,
            &[
                ("csrf", &join.csrf()),
                ("email", "nope"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.error("email").is_some() && p.error("password").is_some());
    let p = portal
        .post(
            &path,
            &[
                ("csrf", &join.csrf()),
                ("email", "rx@beta.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    // The link works once.
    assert_eq!(portal.get(&path).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_portal_creates_streams_through_the_ssf_rules_and_shows_only_its_own() {
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut portal = browser(&hub).await;
    portal_user(&hub, &mut owner, &mut portal).await;
    let page = portal.get("/portal").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("No streams yet"));
    let csrf = page.csrf();
    let revoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
    // No event type; then a push URL the SSF API refuses (not https): errors beside fields.
    let p = portal
        .post(
            "/portal/streams",
            &[
                ("csrf", &csrf),
                ("method", "push"),
                ("endpoint_url", "https://rx.example.com/e"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.error("events").is_some());
    let p = portal
        .post(
            "/portal/streams",
            &[
                ("csrf", &csrf),
                ("method", "push"),
                ("endpoint_url", "ftp://x"),
                ("event", revoked),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST, "{}", p.html);
    assert!(p.error("endpoint_url").is_some(), "{}", p.html);
    assert!(p.html.contains("value=\"ftp://x\""), "kept");
    // A poll stream.
    let p = portal
        .post(
            "/portal/streams",
            &[
                ("csrf", &csrf),
                ("method", "poll"),
                ("event", revoked),
                ("description", "mine"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let stream_page = portal.get(p.location.as_deref().unwrap()).await;
    assert!(stream_page.html.contains("/ssf/poll/str_"));
    // Pause it through the SSF status handler.
    let id = p.location.unwrap().rsplit('/').next().unwrap().to_owned();
    let p = portal
        .post(
            &format!("/portal/streams/{id}/status"),
            &[("csrf", &csrf), ("status", "paused")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(
        portal
            .get(&format!("/portal/streams/{id}"))
            .await
            .html
            .contains("id=\"status\">paused")
    );
    // Another tenant's stream is not found; so is a stream of another receiver of this tenant.
    let other = hub.tenant("other").await;
    let rx = sethub_app::admin::create_receiver(&hub.ctx, other.tenant_id, &"x".parse().unwrap())
        .await
        .unwrap();
    let theirs = sethub_domain::StreamId::new();
    hub.ctx
        .store
        .scope(other.tenant_id)
        .streams()
        .create(
            theirs,
            rx.receiver_id,
            sethub_store::StreamFields {
                aud: vec!["x".into()],
                delivery_method: sethub_domain::DeliveryMethod::Poll,
                endpoint_url: None,
                authorization_sealed: None,
                events_requested: None,
                events_delivered: vec![revoked.into()],
                description: None,
                min_verification_interval: 30,
                inactivity_timeout: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        portal
            .get(&format!("/portal/streams/{theirs}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let p = portal
        .post(
            &format!("/portal/streams/{theirs}/status"),
            &[("csrf", &csrf), ("status", "disabled")],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let s = hub
        .ctx
        .store
        .scope(other.tenant_id)
        .streams()
        .get(theirs)
        .await
        .unwrap();
    assert_eq!(s.status, sethub_domain::StreamStatus::Enabled, "unchanged");
    // A portal user cannot use the console.
    assert_eq!(
        portal.get("/console/dashboard").await.location.as_deref(),
        Some("/console/login")
    );
    let _ = slug;
}

#[tokio::test]
async fn the_set_decoder_shows_a_set_and_whether_it_verifies() {
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut portal = browser(&hub).await;
    portal_user(&hub, &mut owner, &mut portal).await;
    let tenant = hub
        .ctx
        .store
        .tenants()
        .find_by_slug(&slug)
        .await
        .unwrap()
        .unwrap();
    let key = sethub_app::keys::active_signing_key(&hub.ctx, tenant.id)
        .await
        .unwrap();
    let claims = sethub_jose::SetClaims::new(
        sethub_app::admin::issuer(&hub.ctx, &slug),
        sethub_domain::subject::Subject::for_stream("str_x".to_owned()),
    )
    .audience("rcv".to_owned())
    .event(
        "https://schemas.openid.net/secevent/ssf/event-type/verification",
        serde_json::json!({}),
    );
    let token = sethub_jose::sign_set(&key, &claims).unwrap();
    let csrf = portal.get("/portal/decoder").await.csrf();
    let p = portal
        .post("/portal/decoder", &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("Verifies: signed by"), "{}", p.html);
    assert!(p.html.contains("secevent+jwt"), "the header is shown");
    // One changed character of the signature: shown, but it does not verify.
    let mut bad = token.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    let p = portal
        .post("/portal/decoder", &[("csrf", &csrf), ("token", &bad)])
        .await;
    assert!(p.html.contains("Does not verify"), "{}", p.html);
    let p = portal
        .post("/portal/decoder", &[("csrf", &csrf), ("token", "garbage")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.error("token").is_some());
}

#[tokio::test]
async fn a_streams_dead_letters_are_listed_and_redriven_from_the_console_with_an_audit_entry() {
    use sethub_store::{Change, DeliveryKind, DeliveryState, NewDelivery, Update};
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let tenant = hub
        .ctx
        .store
        .tenants()
        .find_by_slug(&slug)
        .await
        .unwrap()
        .unwrap();
    let rx = sethub_app::admin::create_receiver(&hub.ctx, tenant.id, &"Beta".parse().unwrap())
        .await
        .unwrap();
    let scope = hub.ctx.store.scope(tenant.id);
    let id = sethub_domain::StreamId::new();
    scope
        .streams()
        .create(
            id,
            rx.receiver_id,
            sethub_store::StreamFields {
                aud: vec!["rcv".into()],
                delivery_method: sethub_domain::DeliveryMethod::Push,
                endpoint_url: Some("https://rx.example.com/e".into()),
                authorization_sealed: None,
                events_requested: None,
                events_delivered: vec!["https://example.com/e".into()],
                description: None,
                min_verification_interval: 30,
                inactivity_timeout: None,
            },
        )
        .await
        .unwrap();
    let new: Vec<NewDelivery> = (0..2)
        .map(|_| NewDelivery {
            id: sethub_domain::DeliveryId::new(),
            stream_id: id,
            event_id: Some(sethub_domain::EventId::new()),
            kind: DeliveryKind::Event,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            set_token: "a.b.c".into(),
            state: DeliveryState::Pending,
            next_attempt_at: Some(chrono::Utc::now()),
        })
        .collect();
    let d = scope.deliveries();
    d.insert_many(&new).await.unwrap();
    let dead: Vec<Update> = new
        .iter()
        .map(|n| Update {
            id: n.id,
            at: chrono::Utc::now(),
            attempted: true,
            change: Change::Dead {
                status: Some(503),
                error: "gave up after 3 attempts".into(),
            },
        })
        .collect();
    d.apply(&dead, &[]).await.unwrap();
    let list = b.get("/console/streams").await;
    assert!(list.html.contains("2 dead"), "{}", list.html);
    let page = b.get(&format!("/console/streams/{id}")).await;
    assert_eq!(page.html.matches("class=\"dead\"").count(), 2);
    assert!(page.html.contains("gave up after 3 attempts"));
    let p = b
        .post(
            &format!("/console/streams/{id}/redrive"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let after = b.get(&format!("/console/streams/{id}")).await;
    assert!(
        after.html.contains("2 dead deliveries redriven."),
        "{}",
        after.html
    );
    assert!(after.html.contains("Nothing is dead-lettered"));
    for n in &new {
        assert_eq!(d.get(n.id).await.unwrap().state, DeliveryState::Pending);
    }
    let log = scope
        .audit()
        .list(Some(&id.to_string()), None, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert!(log[0].actor.starts_with("member:mbr_"), "{}", log[0].actor);
    // Another tenant's stream is not found.
    let other = hub.tenant("other").await;
    let _ = other;
    let p = b
        .get(&format!(
            "/console/streams/{}",
            sethub_domain::StreamId::new()
        ))
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_portal_user_rotates_its_client_secret_and_removes_and_adds_subjects() {
    use base64::Engine as _;
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    // Keep the receiver's first secret, from the invite page.
    let csrf = owner.get("/console/receivers").await.csrf();
    owner
        .post("/console/receivers", &[("csrf", &csrf), ("name", "Gamma")])
        .await;
    let page = owner.get("/console/receivers").await;
    let grab = |id: &str| {
        let m = format!("id=\"{id}\">");
        let at = page.html.find(&m).unwrap() + m.len();
        page.html[at..at + page.html[at..].find('<').unwrap()].to_owned()
    };
    let (client_id, first_secret, link) = (
        grab("client-id"),
        grab("client-secret"),
        grab("invite-link"),
    );
    let mut portal = browser(&hub).await;
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    let join = portal.get(&path).await;
    portal
        .post(
            &path,
            &[
                ("csrf", &join.csrf()),
                ("email", "g@gamma.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let token_status = |secret: String| {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
        TestRequest::post()
            .uri(&format!("/t/{slug}/oauth/token"))
            .insert_header(("Authorization", format!("Basic {basic}")))
            .set_form([("grant_type", "client_credentials")])
    };
    assert_eq!(
        portal.send(token_status(first_secret.clone())).await.status,
        StatusCode::OK
    );
    let page = portal.get("/portal/credentials").await;
    assert!(page.html.contains(&client_id));
    let p = portal
        .post("/portal/credentials/rotate", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let shown = portal.get("/portal/credentials").await;
    let at = shown.html.find("id=\"client-secret\">").unwrap() + 19;
    let new_secret = shown.html[at..at + shown.html[at..].find('<').unwrap()].to_owned();
    assert_ne!(new_secret, first_secret);
    assert_eq!(
        portal.send(token_status(first_secret)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        portal.send(token_status(new_secret)).await.status,
        StatusCode::OK
    );

    // Subjects: remove one, add it back, through the SSF handlers.
    let revoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
    let csrf = portal.get("/portal").await.csrf();
    let p = portal
        .post(
            "/portal/streams",
            &[("csrf", &csrf), ("method", "poll"), ("event", revoked)],
        )
        .await;
    let stream = p.location.unwrap();
    let id: sethub_domain::StreamId = stream.rsplit('/').next().unwrap().parse().unwrap();
    let subjects = format!("{stream}/subjects");
    portal
        .post(
            &subjects,
            &[
                ("csrf", &csrf),
                ("email", "Bob@Example.com"),
                ("action", "remove"),
            ],
        )
        .await;
    let tenant = hub
        .ctx
        .store
        .tenants()
        .find_by_slug(&slug)
        .await
        .unwrap()
        .unwrap();
    let stored = hub
        .ctx
        .store
        .scope(tenant.id)
        .streams()
        .subjects(id)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].added);
    let page = portal.get(&stream).await;
    assert!(page.html.contains("no longer sent"), "{}", page.html);
    portal
        .post(
            &subjects,
            &[
                ("csrf", &csrf),
                ("email", "bob@example.com"),
                ("action", "add"),
            ],
        )
        .await;
    let stored = hub
        .ctx
        .store
        .scope(tenant.id)
        .streams()
        .subjects(id)
        .await
        .unwrap();
    assert!(stored[0].added);
    // A malformed subject is refused with the API's message, and changes nothing.
    portal
        .post(
            &subjects,
            &[
                ("csrf", &csrf),
                ("email", "not an email"),
                ("action", "remove"),
            ],
        )
        .await;
    assert!(portal.get(&stream).await.html.contains("Not changed"));
    assert_eq!(
        hub.ctx
            .store
            .scope(tenant.id)
            .streams()
            .subjects(id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn upstream_transmitters_are_registered_and_removed_from_the_console_with_the_apis_rules() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let page = b.get("/console/upstreams").await;
    assert!(page.html.contains(&format!("/t/{slug}/sets")));
    let csrf = page.csrf();
    let key = sethub_jose::SigningKey::generate(sethub_jose::Alg::Es256).unwrap();
    let jwks = serde_json::json!({ "keys": [key.public_jwk().to_json()] }).to_string();
    for (form, field) in [
        (
            vec![("issuer", ""), ("audience", "a"), ("jwks", jwks.as_str())],
            "issuer",
        ),
        (
            vec![("issuer", "https://idp.example"), ("audience", "a")],
            "jwks_url",
        ),
        (
            vec![
                ("issuer", "https://idp.example"),
                ("audience", "a"),
                ("jwks", "{nope"),
            ],
            "jwks",
        ),
        (
            vec![
                ("issuer", "https://idp.example"),
                ("audience", "a"),
                ("jwks_url", "https://idp.example/jwks"),
                ("jwks", jwks.as_str()),
            ],
            "jwks",
        ),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let p = b.post("/console/upstreams", &form).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(p.error(field).is_some(), "{field}: {}", p.html);
    }
    let good = [
        ("csrf", csrf.as_str()),
        ("issuer", "https://idp.example"),
        ("audience", "https://hub.example"),
        ("jwks", jwks.as_str()),
    ];
    assert_eq!(
        b.post("/console/upstreams", &good).await.status,
        StatusCode::SEE_OTHER
    );
    let again = b.post("/console/upstreams", &good).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again
            .error("issuer")
            .unwrap()
            .contains("registered already")
    );
    let tenant = hub
        .ctx
        .store
        .tenants()
        .find_by_slug(&slug)
        .await
        .unwrap()
        .unwrap();
    let scope = hub.ctx.store.scope(tenant.id);
    let ups = scope.upstreams().list().await.unwrap();
    assert_eq!(ups.len(), 1);
    let p = b
        .post(
            &format!("/console/upstreams/{}/delete", ups[0].id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(scope.upstreams().list().await.unwrap().is_empty());
    let log = scope.audit().list(None, None, 10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["upstream.delete", "upstream.create"]);
    assert!(log.iter().all(|e| e.actor.starts_with("member:")));
}

#[tokio::test]
async fn the_retry_schedule_form_checks_each_number_by_the_apis_rules_and_saves() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let tenant = hub
        .ctx
        .store
        .tenants()
        .find_by_slug(&slug)
        .await
        .unwrap()
        .unwrap();
    let page = b.get("/console/settings").await;
    assert!(page.html.contains("/console/sso/callback"));
    let csrf = page.csrf();
    let form = |initial: &'static str, factor: &'static str| {
        vec![
            ("initial_secs", initial),
            ("factor", factor),
            ("max_delay_secs", "60"),
            ("max_age_secs", "3600"),
            ("jitter", "0.1"),
        ]
    };
    for (fields, bad) in [
        (form("abc", "2"), "initial_secs"),
        (form("1", "11"), "factor"),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &csrf));
        let p = b.post("/console/settings/retry", &fields).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(p.error(bad).is_some(), "{bad}: {}", p.html);
        assert!(
            p.html.contains("value=\"abc\"") || bad != "initial_secs",
            "kept"
        );
    }
    let stored = || async {
        hub.ctx
            .store
            .tenants()
            .get(tenant.id)
            .await
            .unwrap()
            .delivery_settings
    };
    assert!(stored().await.is_none(), "nothing saved");
    let mut fields = form("2", "3");
    fields.push(("csrf", &csrf));
    assert_eq!(
        b.post("/console/settings/retry", &fields).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(stored().await.unwrap()["retry"]["initial_secs"], 2.0);
    let empty = [
        ("csrf", csrf.as_str()),
        ("initial_secs", ""),
        ("factor", ""),
        ("max_delay_secs", ""),
        ("max_age_secs", ""),
        ("jitter", ""),
    ];
    assert_eq!(
        b.post("/console/settings/retry", &empty).await.status,
        StatusCode::SEE_OTHER
    );
    assert!(stored().await.is_none(), "cleared: the operator's defaults");
}
