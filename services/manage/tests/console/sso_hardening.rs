//! Single sign-on under attack (bad ID tokens are in `sso.rs`): a provider that checks the
//! client, a replayed answer, a secret that must not follow a new issuer, and the number of
//! starts per tenant (over PostgreSQL and Redis, against the test OpenID provider).

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use sethub_tests::oidc::{CLIENT_SECRET, Knobs, TestProvider};

use crate::api_support::Hub;
use crate::support::*;

async fn hub() -> Hub {
    sethub_tests::init_crypto();
    Hub::postgres_and_redis_with(|c| {
        c.push.allow_private_targets = true;
        c.push.allow_http = true;
    })
    .await
}

fn ann() -> Knobs {
    Knobs {
        email: "ann@example.com".into(),
        email_verified: true,
        ..Knobs::default()
    }
}

/// Saves the console's single sign-on settings; returns the page.
async fn save_sso<S>(b: &mut Browser<S>, issuer: &str, client_id: &str, secret: &str) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let csrf = b.get("/console/settings").await.csrf();
    b.post(
        "/console/settings/sso",
        &[
            ("csrf", &csrf),
            ("issuer", issuer),
            ("client_id", client_id),
            ("client_secret", secret),
        ],
    )
    .await
}

/// Starts a console sign-in with single sign-on for `slug` in `b`; returns the page.
async fn start<S>(b: &mut Browser<S>, slug: &str) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let csrf = b.get("/console/login").await.csrf();
    b.post("/console/sso/start", &[("csrf", &csrf), ("slug", slug)])
        .await
}

/// A fresh browser through the whole round trip: its answer from sethub's callback.
async fn round_trip(hub: &Hub, op: &TestProvider, slug: &str) -> (Page, bool) {
    let mut b = browser(hub).await;
    let p = start(&mut b, slug).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let back = op.authorize(&p.provider_url()).await;
    let answer = b.get(&path_of(&back)).await;
    let signed_in = b.get("/console/dashboard").await.status == StatusCode::OK;
    (answer, signed_in)
}

#[tokio::test]
async fn the_test_provider_checks_the_client_secret_and_the_redirect_uri() {
    let hub = hub().await;
    let op = TestProvider::start(ann()).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    // sethub with a wrong secret is refused at the token endpoint: nobody signs in.
    save_sso(&mut owner, &op.issuer(), "sethub-test", "not-the-secret").await;
    let (answer, signed_in) = round_trip(&hub, &op, &slug).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{}", answer.html);
    assert!(!signed_in);
    assert_eq!(op.secrets_seen(), ["not-the-secret"]);
    // Asked directly: another redirect_uri than the authorization request's is refused, and
    // so is a wrong secret.
    save_sso(&mut owner, &op.issuer(), "sethub-test", CLIENT_SECRET).await;
    for (client, redirect, status) in [
        (
            ("sethub-test", CLIENT_SECRET),
            "https://evil.example/cb",
            400,
        ),
        (("sethub-test", "guess"), "", 401),
    ] {
        let mut b = browser(&hub).await;
        let p = start(&mut b, &slug).await;
        let back = op.authorize(&p.provider_url()).await;
        let back = url::Url::parse(&back).unwrap();
        let code = back
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let redirect = if redirect.is_empty() {
            hub.ctx.url("/console/sso/callback")
        } else {
            redirect.to_owned()
        };
        let (got, body) = op
            .token_request(
                Some(client),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect),
                    ("code_verifier", "x"),
                ],
            )
            .await;
        assert_eq!(got, status, "{body}");
    }
}

#[tokio::test]
async fn a_replayed_sign_in_answer_is_refused_in_the_same_browser_and_with_its_copied_cookies() {
    let hub = hub().await;
    let op = TestProvider::start(ann()).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    save_sso(&mut owner, &op.issuer(), "sethub-test", CLIENT_SECRET).await;
    let mut b = browser(&hub).await;
    let p = start(&mut b, &slug).await;
    let back = path_of(&op.authorize(&p.provider_url()).await);
    let before = b.cookies();
    let answer = b.get(&back).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
    // The same answer again in the same browser.
    let again = b.get(&back).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.html);
    // With the cookies as they were before the answer (a copied session): refused before
    // the provider is asked (the state is used up), and nobody is signed in.
    let mut copy = browser(&hub).await;
    copy.set_cookies(before);
    let replay = copy.get(&back).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.html);
    assert!(replay.html.contains("state"), "{}", replay.html);
    assert_eq!(
        copy.get("/console/dashboard").await.location.as_deref(),
        Some("/console/login")
    );
}

#[tokio::test]
async fn changing_the_sso_issuer_or_client_id_without_the_secret_drops_the_saved_secret() {
    let hub = hub().await;
    let first = TestProvider::start(ann()).await;
    let second = TestProvider::start(ann()).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    let sealed = || async {
        hub.ctx
            .store
            .scope(tenant.id)
            .members()
            .sso(None)
            .await
            .unwrap()
            .unwrap()
            .client_secret_sealed
    };
    save_sso(&mut owner, &first.issuer(), "sethub-test", CLIENT_SECRET).await;
    // The same provider saved again without a secret keeps it.
    let p = save_sso(&mut owner, &first.issuer(), "sethub-test", "").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(sealed().await.is_some());
    assert!(round_trip(&hub, &first, &slug).await.1);
    // Another issuer without a secret: the old secret is dropped and never sent there.
    let p = save_sso(&mut owner, &second.issuer(), "sethub-test", "").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(sealed().await.is_none(), "the secret did not follow");
    let (answer, signed_in) = round_trip(&hub, &second, &slug).await;
    assert!(!signed_in, "{}", answer.html);
    assert_eq!(
        second.secrets_seen(),
        [""],
        "no secret reached the new issuer"
    );
    // Given again, it works there.
    save_sso(&mut owner, &second.issuer(), "sethub-test", CLIENT_SECRET).await;
    assert!(round_trip(&hub, &second, &slug).await.1);
    // Another client id at the same issuer needs its secret too.
    save_sso(&mut owner, &second.issuer(), "another-client", "").await;
    assert!(sealed().await.is_none());
    // The settings form says so.
    let page = owner.get("/console/settings").await;
    assert!(
        page.html
            .contains("a new issuer or client id needs it again")
    );
}

#[tokio::test]
async fn sso_starts_per_tenant_are_limited_per_minute_without_asking_the_provider() {
    let hub = hub().await;
    let op = TestProvider::start(ann()).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    save_sso(&mut owner, &op.issuer(), "sethub-test", CLIENT_SECRET).await;
    // A receiver's portal of the same tenant, with single sign-on too.
    let mut portal = browser(&hub).await;
    portal_user(&hub, &mut owner, &mut portal).await;
    let page = portal.get("/portal/credentials").await;
    let at = page.html.find("id=\"client-id\">").unwrap() + 15;
    let client_id = page.html[at..at + page.html[at..].find('<').unwrap()].to_owned();
    let p = portal
        .post(
            "/portal/sso/settings",
            &[
                ("csrf", &page.csrf()),
                ("issuer", &op.issuer()),
                ("sso_client_id", "beta-portal"),
                ("client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let n = hub.ctx.config.signin.sso_starts_per_tenant_per_minute;
    assert_eq!(n, 30, "the documented default");
    // `n` at once (a token comes back every 60/n s, so a slow run may see one more).
    let mut b = browser(&hub).await;
    let mut admitted = 0;
    let p = loop {
        let p = start(&mut b, &slug).await;
        if p.status != StatusCode::OK {
            break p;
        }
        admitted += 1;
        assert!(admitted <= 2 * n, "never refused");
    };
    assert!(admitted >= n, "{admitted} admitted");
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    assert!(
        p.html.contains("Too many single sign-on attempts"),
        "{}",
        p.html
    );
    assert!(p.headers.contains_key("Retry-After"));
    let asked = op.discoveries();
    assert_eq!(asked, admitted as usize, "one discovery per admitted start");
    // The portals of the tenant share its allowance.
    let csrf = b.get("/portal/login").await.csrf();
    let p = b
        .post(
            "/portal/sso/start",
            &[("csrf", &csrf), ("slug", &slug), ("client_id", &client_id)],
        )
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    assert_eq!(op.discoveries(), asked, "the provider was not asked");
    // Another tenant is not held up.
    let mut other = browser(&hub).await;
    let (other_slug, _) = sign_up(&mut other, "bob@example.com").await;
    save_sso(&mut other, &op.issuer(), "sethub-test", CLIENT_SECRET).await;
    let p = start(&mut browser(&hub).await, &other_slug).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
}

#[tokio::test]
async fn the_operator_overrides_one_tenants_sso_start_limit_and_no_other() {
    let hub = hub().await;
    let op = TestProvider::start(ann()).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    save_sso(&mut owner, &op.issuer(), "sethub-test", CLIENT_SECRET).await;
    let mut other = browser(&hub).await;
    let (other_slug, _) = sign_up(&mut other, "bob@example.com").await;
    save_sso(&mut other, &op.issuer(), "sethub-test", CLIENT_SECRET).await;
    let lower = sethub_domain::QuotaOverrides {
        sso_starts_per_minute: Some(2),
        ..sethub_domain::QuotaOverrides::default()
    };
    let report = sethub_app::quotas::set_overrides(&hub.ctx, &slug, &lower, false)
        .await
        .unwrap();
    assert_eq!(report.effective.sso_starts_per_minute, 2);
    // Two at once, then refused without asking the provider (a token comes back only every
    // 30 s at this rate).
    let mut b = browser(&hub).await;
    for _ in 0..2 {
        let p = start(&mut b, &slug).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    }
    let asked = op.discoveries();
    let p = start(&mut b, &slug).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    assert_eq!(op.discoveries(), asked, "the provider was not asked");
    // The other tenant keeps the configured default (30): its third start is admitted.
    let mut c = browser(&hub).await;
    for _ in 0..3 {
        let p = start(&mut c, &other_slug).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    }
}
