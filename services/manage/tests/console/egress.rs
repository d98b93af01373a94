//! The egress guard ON (the production default): single sign-on refuses every forbidden
//! issuer when saved and when used, follows no redirect, refuses a provider whose discovery
//! points JWKS or token requests at a forbidden address, and the error page says nothing of
//! what the target answered; each production outbound client (push, JWKS, SSO) refuses every
//! spelling of a forbidden address. A victim listener on loopback counts connections: none.

use std::sync::{Arc, OnceLock};

use actix_web::http::StatusCode;
use sethub_app::egress::{Purpose, client};
use sethub_egress::FetchError;
use sethub_store::SsoConfig;
use sethub_tests::victim::{Listener, VICTIM_BANNER, forbidden_urls, redirect, respond};

use crate::api_support::Hub;
use crate::support::*;

/// Asserts a sign-in error page gives away nothing of the target.
fn reveals_nothing(html: &str, victim: &Listener, what: &str) {
    for leak in [
        victim.port().to_string(),
        "127.0.0.1".to_owned(),
        "victim-banner".to_owned(),
        "Not Found".to_owned(),
        "HTTP status".to_owned(),
        "latest/meta-data".to_owned(),
    ] {
        assert!(!html.contains(&leak), "{what}: the page reveals `{leak}`");
    }
}

#[tokio::test]
async fn each_production_outbound_client_refuses_every_spelling_of_a_forbidden_address_unconnected()
{
    sethub_tests::init_crypto();
    let hub = Hub::postgres().await;
    let victim = Listener::victim().await;
    for purpose in [Purpose::Push, Purpose::Jwks, Purpose::Sso] {
        let gate = client(&hub.ctx, purpose).unwrap();
        for url in forbidden_urls(victim.port(), "/latest/meta-data/") {
            let got = gate.post(&url).body(b"x".to_vec()).send().await;
            assert!(
                matches!(got, Err(FetchError::Refused(_))),
                "{purpose:?} {url}: {got:?}"
            );
        }
    }
    assert_eq!(victim.accepted(), 0);
}

#[tokio::test]
async fn single_sign_on_refuses_a_forbidden_or_plain_http_issuer_when_saved_and_when_used() {
    sethub_tests::init_crypto();
    let hub = Hub::postgres().await;
    let victim = Listener::victim().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await.id;
    let csrf = owner.get("/console/settings").await.csrf();
    let mut issuers = forbidden_urls(victim.port(), "/anything");
    // Plain http to a name is refused for its scheme, before any lookup.
    issuers.push("http://login.example.com".into());
    for issuer in &issuers {
        let p = owner
            .post(
                "/console/settings/sso",
                &[
                    ("csrf", &csrf),
                    ("issuer", issuer),
                    ("client_id", "sethub"),
                    ("client_secret", "s3cret"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{issuer}");
        assert!(p.error("issuer").is_some(), "{issuer}: {}", p.html);
    }
    let saved = hub.ctx.store.scope(tenant).members().sso(None).await;
    assert!(saved.unwrap().is_none(), "nothing was saved");

    // Stored anyway (saved before the policy changed): every sign-in is refused unconnected.
    for issuer in &issuers {
        let config = SsoConfig {
            issuer: issuer.clone(),
            client_id: "sethub".into(),
            client_secret_sealed: None,
        };
        let members = hub.ctx.store.scope(tenant).members();
        members.set_sso(None, Some(&config)).await.unwrap();
        let mut b = browser(&hub).await;
        let csrf = b.get("/console/login").await.csrf();
        let p = b
            .post("/console/sso/start", &[("csrf", &csrf), ("slug", &slug)])
            .await;
        assert_eq!(p.status, StatusCode::BAD_GATEWAY, "{issuer}: {}", p.html);
        assert!(p.html.contains("not allowed"), "{issuer}: {}", p.html);
        reveals_nothing(&p.html, &victim, issuer);
    }
    assert_eq!(victim.accepted(), 0, "the victim saw a connection");
}

/// A provider on 127.0.0.2 (the one address the hub allows) whose discovery document points
/// `jwks_uri` and `token_endpoint` where `endpoints` says, or that redirects discovery.
async fn provider(
    endpoints: impl Fn(&str) -> (String, String) + Send + Sync + 'static,
) -> Listener {
    let issuer: Arc<OnceLock<String>> = Arc::default();
    let me = issuer.clone();
    let op = Listener::start(
        "127.0.0.2:0",
        Arc::new(move |path: &str| {
            let i = me.get().cloned().unwrap_or_default();
            let (jwks, token) = endpoints(&i);
            match path {
                "/.well-known/openid-configuration" if jwks == "redirect" => redirect(&token),
                "/.well-known/openid-configuration" => {
                    let doc = serde_json::json!({
                        "issuer": i,
                        "authorization_endpoint": format!("{i}/authorize"),
                        "token_endpoint": token,
                        "jwks_uri": jwks,
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["ES256"],
                    });
                    respond(200, "application/json", &doc.to_string())
                }
                "/jwks" => respond(200, "application/json", "{\"keys\":[]}"),
                _ => respond(404, "text/plain", "Not Found"),
            }
        }),
    )
    .await;
    issuer.set(op.base()).unwrap();
    op
}

#[tokio::test]
async fn single_sign_on_follows_no_redirect_and_refuses_jwks_or_token_requests_to_a_forbidden_address()
 {
    sethub_tests::init_crypto();
    let hub = Hub::postgres_with(|c| {
        c.push.allowed_networks = vec!["127.0.0.2/32".parse().unwrap()];
        c.push.allow_http = true;
    })
    .await;
    let victim = Listener::victim().await;
    let at_victim = format!("{}/latest/meta-data/", victim.base());
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await.id;
    let (hub, slug) = (&hub, slug.as_str());
    let use_provider = |op: &Listener| {
        let config = SsoConfig {
            issuer: op.base(),
            client_id: "sethub".into(),
            client_secret_sealed: None,
        };
        async move {
            let members = hub.ctx.store.scope(tenant).members();
            members.set_sso(None, Some(&config)).await.unwrap();
        }
    };
    let start = || async move {
        let mut b = browser(hub).await;
        let csrf = b.get("/console/login").await.csrf();
        let p = b
            .post("/console/sso/start", &[("csrf", &csrf), ("slug", slug)])
            .await;
        (b, p)
    };

    // Discovery redirected to the victim; discovery naming the victim as JWKS.
    let v = at_victim.clone();
    let redirecting = provider(move |_| ("redirect".into(), v.clone())).await;
    let v = at_victim.clone();
    let jwks_at_victim = provider(move |i| (v.clone(), format!("{i}/token"))).await;
    for op in [&redirecting, &jwks_at_victim] {
        use_provider(op).await;
        let (_, p) = start().await;
        assert_eq!(p.status, StatusCode::BAD_GATEWAY, "{}", p.html);
        reveals_nothing(&p.html, &victim, "discovery");
        assert!(op.accepted() >= 1, "the provider was asked");
    }

    // The token request at the victim: the sign-in starts, its callback is refused.
    let v = at_victim.clone();
    let token_at_victim = provider(move |i| (format!("{i}/jwks"), v.clone())).await;
    use_provider(&token_at_victim).await;
    let (mut b, p) = start().await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let auth = p.provider_url();
    let state = url::Url::parse(&auth)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let back = b
        .get(&format!("/console/sso/callback?code=abc&state={state}"))
        .await;
    assert_eq!(back.status, StatusCode::BAD_GATEWAY, "{}", back.html);
    assert!(back.html.contains("token"), "{}", back.html);
    reveals_nothing(&back.html, &victim, "token");
    assert!(!back.html.contains(VICTIM_BANNER));

    assert_eq!(victim.accepted(), 0, "the victim saw a connection");
}

#[tokio::test]
async fn a_provider_error_page_names_the_step_but_not_the_providers_status_or_address() {
    sethub_tests::init_crypto();
    // Loopback allowed: the provider answers, with a 404 and a body.
    let hub = Hub::postgres_reaching_localhost().await;
    let not_found = Listener::answering(
        "127.0.0.1:0",
        respond(404, "text/plain", "Not Found: victim-banner"),
    )
    .await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await.id;
    let config = SsoConfig {
        issuer: format!("{}/anything", not_found.base()),
        client_id: "sethub".into(),
        client_secret_sealed: None,
    };
    let members = hub.ctx.store.scope(tenant).members();
    members.set_sso(None, Some(&config)).await.unwrap();
    let mut b = browser(&hub).await;
    let csrf = b.get("/console/login").await.csrf();
    let p = b
        .post("/console/sso/start", &[("csrf", &csrf), ("slug", &slug)])
        .await;
    assert_eq!(p.status, StatusCode::BAD_GATEWAY, "{}", p.html);
    assert!(p.html.contains("discovery"), "{}", p.html);
    assert_eq!(not_found.accepted(), 1, "the provider was asked once");
    assert!(
        !p.html.contains(&not_found.port().to_string()),
        "{}",
        p.html
    );
    assert!(!p.html.contains("404") && !p.html.contains("victim-banner"));
    assert!(!p.html.contains("127.0.0.1"), "{}", p.html);
}
