//! Security headers on every console and portal response: each page reachable by a link from
//! the signed-in console and portal (found by following them), the pages no link leads to,
//! error pages, redirects, refused forms and the static files; and no inline script or style
//! that the policy would block.

use std::collections::{BTreeSet, VecDeque};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;

use crate::api_support::Hub;
use crate::support::*;

/// Asserts the four headers and, for HTML, nothing inline the policy refuses.
fn assert_secure(what: &str, p: &Page) {
    let h = |name: &str| {
        p.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what} ({}): no {name}", p.status))
            .to_owned()
    };
    let csp = h("Content-Security-Policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "{what}: {directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(h("X-Frame-Options"), "DENY", "{what}");
    assert_eq!(h("X-Content-Type-Options"), "nosniff", "{what}");
    assert_eq!(h("Referrer-Policy"), "no-referrer", "{what}");
    let html = p.html.to_lowercase();
    for inline in [
        "<style",
        " style=\"",
        " onclick=",
        " onload=",
        " onsubmit=",
        "javascript:",
    ] {
        assert!(!html.contains(inline), "{what}: inline {inline}");
    }
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(tag.contains("src="), "{what}: an inline script");
    }
}

/// Every `href="/{prefix}…"` of a page (the path, without a fragment).
fn links(html: &str, prefix: &str) -> Vec<String> {
    let marker = format!("href=\"{prefix}");
    html.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &html[at + 6..];
            let end = rest.find('"')?;
            Some(rest[..end].replace("&amp;", "&"))
        })
        .map(|l| l.split('#').next().unwrap_or_default().to_owned())
        .collect()
}

/// Every `action="…"` of a page's POST forms.
fn post_actions(html: &str) -> Vec<String> {
    html.split("<form")
        .skip(1)
        .filter(|f| f.split('>').next().unwrap_or_default().contains("post"))
        .filter_map(|f| {
            let at = f.find("action=\"")? + 8;
            Some(f[at..at + f[at..].find('"')?].to_owned())
        })
        .collect()
}

/// Follows every link under `prefix` from `start`, checking each page; then posts every form
/// found with a forged CSRF token (refused, nothing changed) and checks those answers.
/// Returns the pages visited.
async fn crawl<S>(b: &mut Browser<S>, start: &str, prefix: &str) -> BTreeSet<String>
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let mut seen = BTreeSet::from([start.to_owned()]);
    let mut todo = VecDeque::from([start.to_owned()]);
    let mut forms = BTreeSet::new();
    while let Some(path) = todo.pop_front() {
        let p = b.get(&path).await;
        assert_secure(&path, &p);
        for link in links(&p.html, prefix) {
            if !link.ends_with("/logout") && seen.insert(link.clone()) {
                todo.push_back(link);
            }
        }
        forms.extend(post_actions(&p.html));
        assert!(seen.len() < 200, "the crawl stays bounded");
    }
    for action in forms {
        let p = b.post(&action, &[("csrf", "forged")]).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{action}");
        assert_secure(&format!("POST {action}"), &p);
    }
    seen
}

#[tokio::test]
async fn every_console_and_portal_response_carries_the_security_headers() {
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    // Signed out: the doors and what no link leads to.
    for path in [
        "/console",
        "/console/login",
        "/console/signup",
        "/console/static/console.css",
        "/console/static/console.js",
        "/console/sso/callback?code=x&state=y",
        "/console/no-such-page",
        "/console/t/nobody/join/nothing",
        "/portal",
        "/portal/login",
        "/portal/sso/callback?code=x&state=y",
        "/portal/t/nobody/invite/nothing",
        "/portal/no-such-page",
    ] {
        let p = owner.get(path).await;
        assert_secure(path, &p);
    }
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut portal = browser(&hub).await;
    portal_user(&hub, &mut owner, &mut portal).await;
    // A stream of the receiver, so the stream pages are reached too.
    let csrf = portal.get("/portal").await.csrf();
    let p = portal
        .post(
            "/portal/streams",
            &[
                ("csrf", &csrf),
                ("method", "poll"),
                (
                    "event",
                    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
                ),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert_secure("POST /portal/streams", &p);
    let console = crawl(&mut owner, "/console/dashboard", "/console").await;
    for must in [
        "/console/api-keys",
        "/console/events",
        "/console/streams",
        "/console/receivers",
        "/console/upstreams",
        "/console/signing-keys",
        "/console/settings",
        "/console/team",
    ] {
        assert!(console.contains(must), "{must} reached: {console:?}");
    }
    let portal_pages = crawl(&mut portal, "/portal", "/portal").await;
    for must in ["/portal/events", "/portal/credentials", "/portal/decoder"] {
        assert!(
            portal_pages.contains(must),
            "{must} reached: {portal_pages:?}"
        );
    }
    // A refused sign-in, and the page that sends a browser on to single sign-on's provider.
    let mut b = browser(&hub).await;
    let csrf = b.get("/console/login").await.csrf();
    let p = b
        .post(
            "/console/login",
            &[
                ("csrf", &csrf),
                ("slug", &slug),
                ("email", "x@y.zz"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert_secure("POST /console/login", &p);
    let p = b
        .post("/console/sso/start", &[("csrf", &csrf), ("slug", &slug)])
        .await;
    assert_secure("POST /console/sso/start", &p);
}
