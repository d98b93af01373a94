//! The real things the random requests may use: an organisation signed up through the
//! console (its session cookie, CSRF token and first API key), a portal user it invited (their
//! session cookie and CSRF token), a receiver made with the admin CLI, its access token and a
//! push stream.

use std::path::Path;

use sethub_tests::random_suffix;
use sethub_tests::setup::{self, Hub};

use crate::fuzz::{Known, encode};

/// `jar` (`a=1; b=2`) with the cookies `resp` sets (a cookie session store may set it on any
/// page).
fn keep_cookies(jar: &mut String, resp: &reqwest::Response) {
    let mut all: Vec<String> = jar
        .split("; ")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let set = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next());
    for cookie in set {
        let name = cookie.split('=').next().unwrap_or_default();
        all.retain(|c| c.split('=').next() != Some(name));
        all.push(cookie.to_owned());
    }
    *jar = all.join("; ");
}

/// `GET url` with the cookies of `jar` (kept up to date): the page, 200 expected.
async fn page(url: &str, jar: &mut String) -> String {
    let resp = crate::client()
        .get(url)
        .header("Cookie", jar.as_str())
        .send()
        .await
        .unwrap();
    keep_cookies(jar, &resp);
    assert_eq!(resp.status(), 200, "GET {url}");
    resp.text().await.unwrap()
}

/// Submits `form` to `url` with the cookies of `jar` (kept up to date); 303 expected.
async fn submit(url: &str, jar: &mut String, form: &[(&str, &str)]) {
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let resp = crate::client()
        .post(url)
        .header("Cookie", jar.as_str())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    keep_cookies(jar, &resp);
    assert_eq!(
        resp.status(),
        303,
        "POST {url}: {}",
        resp.text().await.unwrap()
    );
}

/// The text of the element with `id`.
fn text_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id}: {html}"))
        + marker.len();
    html[at..at + html[at..].find('<').unwrap()].to_owned()
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

const PASSWORD: &str = "correct horse battery";

pub async fn known(hub: &Hub, bin: &Path) -> Known {
    let console = |path: &str| format!("{}/console{path}", hub.manage_url);
    let mut cookie = String::new();
    let csrf = csrf_of(&page(&console("/signup"), &mut cookie).await);
    let slug = format!("f{}", random_suffix());
    submit(
        &console("/signup"),
        &mut cookie,
        &[
            ("csrf", &csrf),
            ("organisation", "Fuzz"),
            ("slug", &slug),
            ("email", "fuzz@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let dashboard = page(&console("/dashboard"), &mut cookie).await;
    let api_key = text_of(&dashboard, "new-key");
    let csrf = csrf_of(&dashboard);

    // The owner invites a receiver; its user joins the portal.
    submit(
        &console("/receivers"),
        &mut cookie,
        &[("csrf", &csrf), ("name", "Portal")],
    )
    .await;
    let link = text_of(
        &page(&console("/receivers"), &mut cookie).await,
        "invite-link",
    );
    let join = format!(
        "{}{}",
        hub.manage_url,
        url::Url::parse(&link).unwrap().path()
    );
    let mut portal_cookie = String::new();
    let join_csrf = csrf_of(&page(&join, &mut portal_cookie).await);
    submit(
        &join,
        &mut portal_cookie,
        &[
            ("csrf", &join_csrf),
            ("email", "rx@fuzz.example"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let portal = format!("{}/portal/", hub.manage_url);
    let portal_csrf = csrf_of(&page(&portal, &mut portal_cookie).await);

    let receiver = setup::create_receiver(bin, &hub.env, &slug, "fuzz")
        .await
        .unwrap();
    let token = setup::token(&receiver).await.unwrap();
    let stream = setup::create_push_stream(
        &hub.manage_url,
        &slug,
        &token,
        "http://127.0.0.1:9/push",
        None,
        &[setup::SESSION_REVOKED],
    )
    .await
    .unwrap();
    // The stream first: the schema-driven run gives its id to the stream routes.
    Known {
        slug,
        api_key,
        token,
        console_cookie: cookie,
        csrf,
        portal_cookie,
        portal_csrf,
        ids: vec![stream.stream_id, receiver.receiver_id],
    }
}
