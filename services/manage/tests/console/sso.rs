//! Single sign-on against a test OpenID provider.

use actix_web::http::StatusCode;

use crate::api_support::Hub;
use crate::support::*;

#[tokio::test]
async fn single_sign_on_signs_a_member_in_and_refuses_a_bad_id_token_state_or_email() {
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
            assert_eq!(p.status, StatusCode::OK, "{}", p.html);
            let auth = p.provider_url();
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
            "another audience",
            Knobs {
                wrong_audience: Some("someone-else".into()),
                ..good.clone()
            },
            "audiences",
        ),
        (
            "an expired ID token",
            Knobs {
                expired: true,
                ..good.clone()
            },
            "expired",
        ),
        (
            "a bad signature",
            Knobs {
                bad_signature: true,
                ..good.clone()
            },
            "signature",
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
    let back = op.authorize(&p.provider_url()).await;
    let tampered = path_of(&back).replace("state=", "state=x");
    let answer = b.get(&tampered).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.html.contains("state"));
}

#[tokio::test]
async fn a_receiver_sets_up_single_sign_on_for_its_portal_users_only() {
    use sethub_tests::oidc::{Knobs, TestProvider};
    sethub_tests::init_crypto();
    let hub = Hub::postgres_reaching_localhost().await;
    let knobs = Knobs {
        email: "rx@beta.example".into(),
        email_verified: true,
        ..Knobs::default()
    };
    let op = TestProvider::start(knobs.clone()).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut portal = browser(&hub).await;
    portal_user(&hub, &mut owner, &mut portal).await;
    let page = portal.get("/portal/credentials").await;
    assert!(page.html.contains("/portal/sso/callback"));
    let at = page.html.find("id=\"client-id\">").unwrap() + 15;
    let client_id = page.html[at..at + page.html[at..].find('<').unwrap()].to_owned();
    // Bad values are refused beside their fields, what was typed kept.
    let p = portal
        .post(
            "/portal/sso/settings",
            &[
                ("csrf", &page.csrf()),
                ("issuer", "nope"),
                ("sso_client_id", ""),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.error("issuer").is_some() && p.error("sso_client_id").is_some(),
        "{}",
        p.html
    );
    assert!(p.html.contains("value=\"nope\""));
    let p = portal
        .post(
            "/portal/sso/settings",
            &[
                ("csrf", &page.csrf()),
                ("issuer", &op.issuer()),
                ("sso_client_id", "beta-portal"),
                ("client_secret", "s3cret"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let sign_in = |email: &'static str| {
        op.set(Knobs {
            email: email.into(),
            ..knobs.clone()
        });
        async {
            let mut b = browser(&hub).await;
            let csrf = b.get("/portal/login").await.csrf();
            let p = b
                .post(
                    "/portal/sso/start",
                    &[("csrf", &csrf), ("slug", &slug), ("client_id", &client_id)],
                )
                .await;
            assert_eq!(p.status, StatusCode::OK, "{}", p.html);
            let back = op.authorize(&p.provider_url()).await;
            assert!(back.contains("/portal/sso/callback?"), "{back}");
            let answer = b.get(&path_of(&back)).await;
            (b, answer)
        }
    };
    let (mut b, answer) = sign_in("rx@beta.example").await;
    assert_eq!(
        answer.location.as_deref(),
        Some("/portal"),
        "{}",
        answer.html
    );
    assert!(
        b.get("/portal")
            .await
            .html
            .contains("Your streams from Acme")
    );
    // The console's owner is not a user of this receiver's portal.
    let (mut b, answer) = sign_in("ann@example.com").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.html);
    assert_eq!(
        b.get("/portal").await.location.as_deref(),
        Some("/portal/login")
    );
    // The console's own single sign-on is not set up: the receiver's does not serve it.
    let csrf = b.get("/console/login").await.csrf();
    let p = b
        .post("/console/sso/start", &[("csrf", &csrf), ("slug", &slug)])
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}
