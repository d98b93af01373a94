//! Sessions kept on the server (PostgreSQL and Redis): a cookie copied before sign-out is
//! dead after it, "sign out everywhere" ends the member's other sessions, the idle and
//! absolute lifetimes are enforced by the server, and the cookie's attributes.

use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;

use crate::api_support::Hub;
use crate::support::{Browser, browser, sign_in, sign_up, tenant_of};

const CONSOLE: &str = "sethub_console";

/// Whether the session cookie `cookie`, replayed from a fresh browser, still opens the
/// dashboard (not trusting any jar: the server alone decides).
pub async fn replay_opens_dashboard(hub: &Hub, cookie: &str) -> bool {
    let mut attacker = browser(hub).await;
    attacker.set_cookie(CONSOLE, cookie);
    let p = attacker.get("/console/dashboard").await;
    match p.status {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => {
            assert_eq!(p.location.as_deref(), Some("/console/login"));
            false
        }
        other => panic!("dashboard answered {other}: {}", p.html),
    }
}

/// Polls the dashboard with `b`'s cookie until it sends to sign-in, or panics at `deadline`.
async fn until_signed_out<S>(b: &mut Browser<S>, within: Duration) -> Duration
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let started = Instant::now();
    loop {
        let p = b.get("/console/dashboard").await;
        if p.status == StatusCode::SEE_OTHER {
            assert_eq!(p.location.as_deref(), Some("/console/login"));
            return started.elapsed();
        }
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
        assert!(
            started.elapsed() < within,
            "still signed in after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_session_cookie_replayed_after_sign_out_no_longer_opens_the_console() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut b = browser(&hub).await;
    sign_up(&mut b, "ann@example.com").await;
    let copied = b.cookie(CONSOLE).unwrap();
    assert!(replay_opens_dashboard(&hub, &copied).await);

    let csrf = b.get("/console/dashboard").await.csrf();
    let p = b.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(
        !replay_opens_dashboard(&hub, &copied).await,
        "a cookie copied before sign-out still opens the console"
    );
}

#[tokio::test]
async fn sign_out_everywhere_ends_the_members_other_sessions_and_leaves_other_members_signed_in() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut laptop = browser(&hub).await;
    let (slug, _) = sign_up(&mut laptop, "ann@example.com").await;
    let mut phone = browser(&hub).await;
    sign_in(&mut phone, &slug, "ann@example.com").await;
    let colleague = crate::support::signed_in_viewer(&hub, &slug, "bob@example.com").await;
    let colleague_cookie = colleague.cookie(CONSOLE).unwrap();
    let phone_cookie = phone.cookie(CONSOLE).unwrap();
    assert!(replay_opens_dashboard(&hub, &phone_cookie).await);

    let page = laptop.get("/console/dashboard").await;
    assert!(page.html.contains("formaction=\"/console/logout-all\""));
    let p = laptop
        .post("/console/logout-all", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location.as_deref(), Some("/console/login"));

    assert!(!replay_opens_dashboard(&hub, &phone_cookie).await);
    assert_eq!(
        phone.get("/console/dashboard").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        laptop.get("/console/dashboard").await.status,
        StatusCode::SEE_OTHER
    );
    assert!(replay_opens_dashboard(&hub, &colleague_cookie).await);
    let tenant = tenant_of(&hub, &slug).await;
    let ann = crate::support::member(&hub, &slug, "ann@example.com").await;
    let open = sethub_app::sessions::count(&hub.ctx, tenant.id, ann.id).await;
    assert_eq!(open.unwrap(), 0);
}

#[tokio::test]
async fn a_session_unused_for_its_idle_lifetime_ends_on_the_server() {
    let hub = Hub::postgres_and_redis_with(|c| c.sessions.idle_secs = 1).await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let copied = b.cookie(CONSOLE).unwrap();
    let tenant = tenant_of(&hub, &slug).await;
    let ann = crate::support::member(&hub, &slug, "ann@example.com").await;
    // Wait (without using the session, which would keep it alive) until the server let it go.
    let started = Instant::now();
    while sethub_app::sessions::count(&hub.ctx, tenant.id, ann.id)
        .await
        .unwrap()
        > 0
    {
        assert!(started.elapsed() < Duration::from_secs(15), "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(!replay_opens_dashboard(&hub, &copied).await);
}

#[tokio::test]
async fn a_session_in_use_ends_at_its_absolute_lifetime() {
    let hub = Hub::postgres_and_redis_with(|c| {
        c.sessions.idle_secs = 3600;
        c.sessions.max_secs = 2;
    })
    .await;
    let mut b = browser(&hub).await;
    sign_up(&mut b, "ann@example.com").await;
    let copied = b.cookie(CONSOLE).unwrap();
    // Used every 100 ms, the session still ends once it is 2 s old.
    let lived = until_signed_out(&mut b, Duration::from_secs(15)).await;
    assert!(lived >= Duration::from_millis(900), "ended after {lived:?}");
    assert!(!replay_opens_dashboard(&hub, &copied).await);
}

/// The attributes of the `Set-Cookie` header naming `name`.
fn cookie_attributes(set_cookies: &[String], name: &str) -> Vec<String> {
    let header = set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {set_cookies:?}"));
    header
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn the_session_cookie_holds_only_an_id_and_is_http_only_lax_path_scoped_and_secure() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut b = browser(&hub).await;
    let page = b.get("/console/login").await;
    let attrs = cookie_attributes(&page.set_cookies, CONSOLE);
    for wanted in ["httponly", "samesite=lax", "path=/console", "secure"] {
        assert!(attrs.iter().any(|a| a == wanted), "{wanted} in {attrs:?}");
    }
    // No expiry of its own: the server ends the session.
    assert!(
        !attrs
            .iter()
            .any(|a| a.starts_with("max-age") || a.starts_with("expires")),
        "{attrs:?}"
    );
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    // The signed-in cookie is an encrypted 43-character id, not the session's contents.
    let cookie = b.cookie(CONSOLE).unwrap();
    assert!(cookie.len() < 120, "{} characters", cookie.len());
    let tenant = tenant_of(&hub, &slug).await;
    let ann = crate::support::member(&hub, &slug, "ann@example.com").await;
    let open = sethub_app::sessions::count(&hub.ctx, tenant.id, ann.id).await;
    assert_eq!(open.unwrap(), 1);

    let mut portal = browser(&hub).await;
    let page = portal.get("/portal/login").await;
    let attrs = cookie_attributes(&page.set_cookies, "sethub_portal");
    for wanted in ["httponly", "samesite=lax", "path=/portal", "secure"] {
        assert!(attrs.iter().any(|a| a == wanted), "{wanted} in {attrs:?}");
    }
}

#[tokio::test]
async fn the_embedded_default_serves_plain_http_so_its_cookie_is_not_secure() {
    let hub = Hub::sqlite().await;
    let mut b = browser(&hub).await;
    let page = b.get("/console/login").await;
    let attrs = cookie_attributes(&page.set_cookies, CONSOLE);
    assert!(!attrs.iter().any(|a| a == "secure"), "{attrs:?}");
    for wanted in ["httponly", "samesite=lax", "path=/console"] {
        assert!(attrs.iter().any(|a| a == wanted), "{wanted} in {attrs:?}");
    }
}

#[tokio::test]
async fn a_portal_user_signs_out_everywhere_and_a_copied_portal_cookie_dies_with_it() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut first = browser(&hub).await;
    crate::support::portal_user(&hub, &mut owner, &mut first).await;
    let mut second = browser(&hub).await;
    let csrf = second.get("/portal/login").await.csrf();
    let p = second
        .post(
            "/portal/login",
            &[
                ("csrf", &csrf),
                ("slug", &slug),
                ("email", "rx@beta.example"),
                ("password", crate::support::PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert_eq!(second.get("/portal").await.status, StatusCode::OK);
    let copied = first.cookie("sethub_portal").unwrap();

    let page = first.get("/portal").await;
    assert!(page.html.contains("formaction=\"/portal/logout-all\""));
    let p = first
        .post("/portal/logout-all", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(p.location.as_deref(), Some("/portal/login"));
    assert_eq!(second.get("/portal").await.status, StatusCode::SEE_OTHER);
    let mut attacker = browser(&hub).await;
    attacker.set_cookie("sethub_portal", &copied);
    assert_eq!(attacker.get("/portal").await.status, StatusCode::SEE_OTHER);
    // The owner's console session is another member's: untouched.
    assert_eq!(owner.get("/console/dashboard").await.status, StatusCode::OK);
}

#[tokio::test]
async fn when_the_state_store_is_down_the_console_says_unavailable_and_lets_nobody_in() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut b = browser(&hub).await;
    sign_up(&mut b, "ann@example.com").await;
    let copied = b.cookie(CONSOLE).unwrap();
    // The same hub, but its Redis is a port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut ctx = hub.ctx.clone();
    let dead = sethub_state::RedisOptions::new(format!("redis://127.0.0.1:{port}"));
    ctx.state = std::sync::Arc::new(sethub_state::RedisState::connect_lazy(dead).unwrap());
    let mut down = crate::support::browser_over(&ctx).await;
    down.set_cookie(CONSOLE, &copied);
    for path in ["/console/dashboard", "/console/login", "/portal/login"] {
        let p = down.get(path).await;
        assert_eq!(
            p.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            p.html
        );
        assert!(p.html.contains("sethub is unavailable"), "{}", p.html);
    }
}
