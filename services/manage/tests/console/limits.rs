//! How often anyone may try to get in (over PostgreSQL and Redis): password sign-in per client
//! address and per account, a known browser's own allowance, `X-Forwarded-For` only from
//! trusted proxies, and sign-ups per address.

use std::net::SocketAddr;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;

use crate::api_support::{Hub, unique};
use crate::support::*;

/// Where a sign-in form is posted from: the door (`/console` or `/portal`), the TCP peer and
/// the `X-Forwarded-For` header, if any.
#[derive(Clone, Copy)]
struct Origin<'a> {
    door: &'a str,
    peer: &'a str,
    xff: Option<&'a str>,
}

/// The console's door from `peer`, without a forwarded-for header.
fn console(peer: &str) -> Origin<'_> {
    Origin {
        door: "/console",
        peer,
        xff: None,
    }
}

const ANN: &str = "ann@example.com";

/// Posts the sign-in form (`slug`, `email`, `password`) from `at`.
async fn sign_in_from<S>(
    b: &mut Browser<S>,
    at: Origin<'_>,
    [slug, email, password]: [&str; 3],
) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let csrf = b.get(&format!("{}/login", at.door)).await.csrf();
    let mut req = TestRequest::post()
        .uri(&format!("{}/login", at.door))
        .peer_addr(at.peer.parse::<SocketAddr>().unwrap())
        .set_form([
            ("csrf", csrf.as_str()),
            ("slug", slug),
            ("email", email),
            ("password", password),
        ]);
    if let Some(xff) = at.xff {
        req = req.insert_header(("X-Forwarded-For", xff));
    }
    b.send(req).await
}

/// The status of a wrong-password sign-in for a fresh account from `peer` (and `xff`).
async fn status<S>(b: &mut Browser<S>, slug: &str, peer: &str, xff: Option<String>) -> StatusCode
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let email = format!("{}@example.com", unique("u"));
    sign_in_from(
        b,
        Origin {
            door: "/console",
            peer,
            xff: xff.as_deref(),
        },
        [slug, &email, "wrong password!!"],
    )
    .await
    .status
}

fn alert(p: &Page) -> String {
    p.html
        .split("role=\"alert\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn password_spraying_across_many_accounts_from_one_address_is_refused_at_both_doors() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let n = hub.ctx.config.signin.per_address_per_hour;
    let mut sprayer = browser(&hub).await;
    let from = "198.51.100.7:40000";
    // One wrong password for each of `n` different accounts: each is an ordinary refusal.
    for i in 0..n {
        let p = sign_in_from(
            &mut sprayer,
            console(from),
            [&slug, &format!("user{i}@example.com"), "Winter2026!!"],
        )
        .await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The next, for yet another account, even with the right password, waits.
    let p = sign_in_from(&mut sprayer, console(from), [&slug, ANN, PASSWORD]).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    assert!(alert(&p).contains("Too many attempts"), "{}", p.html);
    let wait: u64 = p
        .headers
        .get("Retry-After")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "{wait}");
    assert!(!p.html.contains(PASSWORD), "the password is not echoed");
    assert_eq!(
        sprayer.get("/console/dashboard").await.location.as_deref(),
        Some("/console/login"),
        "not signed in"
    );
    // The portal's door counts the same address.
    let p = sign_in_from(
        &mut sprayer,
        Origin {
            door: "/portal",
            peer: from,
            xff: None,
        },
        [&slug, "rx@beta.example", PASSWORD],
    )
    .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    // The account itself is not held up for anyone else.
    let mut ann = browser(&hub).await;
    let p = sign_in_from(
        &mut ann,
        console("203.0.113.20:5000"),
        [&slug, ANN, PASSWORD],
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
}

#[tokio::test]
async fn exhausting_an_accounts_limit_from_elsewhere_does_not_lock_its_owners_known_browser_out() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    // The victim signs in once from her own browser, then signs out.
    let mut victim = browser(&hub).await;
    let home = "192.0.2.10:5000";
    let p = sign_in_from(&mut victim, console(home), [&slug, ANN, PASSWORD]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let cookie = p
        .headers
        .get_all("set-cookie")
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sethub_known="))
        .unwrap();
    let known = victim.cookies()["sethub_known"].clone();
    assert!(
        victim
            .cookies()
            .get("sethub_known")
            .is_some_and(|c| !c.is_empty())
    );
    let csrf = victim.get("/console/dashboard").await.csrf();
    victim.post("/console/logout", &[("csrf", &csrf)]).await;
    // An attacker guesses from many addresses (no address runs out) until the account's
    // own limit refuses.
    let n = hub.ctx.config.signin.per_account_per_hour;
    let mut attacker = browser(&hub).await;
    let mut refused = false;
    for i in 0..=n {
        let p = sign_in_from(
            &mut attacker,
            console(&format!("198.51.100.{}:4000", i + 1)),
            [&slug, ANN, "guess guess guess"],
        )
        .await;
        refused = p.status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused, "the account's limit slows strangers");
    // A stranger with the right password waits too, and a forged known-browser token does
    // not help.
    let mut stranger = browser(&hub).await;
    let mut jar = stranger.cookies();
    jar.insert(
        "sethub_known".into(),
        format!("AAAAAAAAAAAAAAAAAAAAAA.{}.AAAA", i64::MAX),
    );
    stranger.set_cookies(jar);
    let p = sign_in_from(
        &mut stranger,
        console("203.0.113.77:4000"),
        [&slug, ANN, PASSWORD],
    )
    .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    // The victim's own browser still gets in.
    let p = sign_in_from(&mut victim, console(home), [&slug, ANN, PASSWORD]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(
        victim
            .get("/console/dashboard")
            .await
            .html
            .contains("ann@example.com")
    );
    // The cookie is HTTP-only, strict, scoped to the console, and names no one in clear.
    assert!(cookie.contains("sethub_known="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console", "Secure"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let tenant = tenant_of(&hub, &slug).await;
    assert!(!known.contains(&tenant.id.to_string()), "{known}");
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_from_an_untrusted_peer_and_honoured_from_a_trusted_proxy() {
    let hub = Hub::postgres_and_redis_with(|c| {
        c.server.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        c.signin.per_address_per_hour = 3;
    })
    .await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut b = browser(&hub).await;
    // An untrusted peer cannot pose as many clients: its header is ignored.
    for i in 0..3 {
        let s = status(
            &mut b,
            &slug,
            "198.51.100.1:1000",
            Some(format!("203.0.113.{i}")),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        status(
            &mut b,
            &slug,
            "198.51.100.1:1000",
            Some("203.0.113.200".into())
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Behind the trusted proxy, each client has its own allowance.
    for _ in 0..3 {
        let s = status(&mut b, &slug, "10.0.0.5:1000", Some("203.0.113.50".into())).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        status(&mut b, &slug, "10.0.0.5:1000", Some("203.0.113.50".into())).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(&mut b, &slug, "10.0.0.5:1000", Some("203.0.113.51".into())).await,
        StatusCode::UNAUTHORIZED
    );
    // What the client wrote left of the proxy's entry is not believed ...
    assert_eq!(
        status(
            &mut b,
            &slug,
            "10.0.0.5:1000",
            Some("203.0.113.99, 203.0.113.50".into())
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ... and trusted hops are skipped from the right.
    assert_eq!(
        status(
            &mut b,
            &slug,
            "10.0.0.5:1000",
            Some("203.0.113.50, 10.1.2.3".into())
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The proxy's own address is not the client's: it was never counted.
    assert_eq!(
        status(&mut b, &slug, "10.0.0.5:1000", None).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Posts the sign-up form from `peer` in a fresh browser; returns the page and the slug.
async fn sign_up_from(hub: &Hub, peer: &str) -> (Page, String) {
    let mut b = browser(hub).await;
    let csrf = b.get("/console/signup").await.csrf();
    let slug = unique("org");
    let p = b
        .send(
            TestRequest::post()
                .uri("/console/signup")
                .peer_addr(peer.parse::<SocketAddr>().unwrap())
                .set_form([
                    ("csrf", csrf.as_str()),
                    ("organisation", "Org"),
                    ("slug", slug.as_str()),
                    ("email", "founder@example.com"),
                    ("password", PASSWORD),
                ]),
        )
        .await;
    (p, slug)
}

#[tokio::test]
async fn sign_ups_from_one_address_are_limited_per_hour_and_a_refused_one_creates_nothing() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let n = hub.ctx.config.signin.signups_per_address_per_hour;
    assert_eq!(n, 5, "the documented default");
    for _ in 0..n {
        let (p, _) = sign_up_from(&hub, "198.51.100.9:3000").await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    }
    let (p, slug) = sign_up_from(&hub, "198.51.100.9:3001").await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    assert!(p.html.contains("Too many organisations"), "{}", p.html);
    assert!(p.headers.contains_key("Retry-After"));
    assert!(
        p.html.contains(&format!("value=\"{slug}\"")),
        "typed values kept"
    );
    assert!(
        hub.ctx
            .store
            .tenants()
            .find_by_slug(&slug)
            .await
            .unwrap()
            .is_none(),
        "nothing was created"
    );
    // Another address signs up.
    let (p, _) = sign_up_from(&hub, "203.0.113.9:3000").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
}
