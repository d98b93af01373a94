//! The real things the random requests may use: an organisation signed up through the
//! console (its session cookie, CSRF token and first API key), a receiver made with the admin
//! CLI, its access token and a push stream.

use std::path::Path;

use sethub_tests::random_suffix;
use sethub_tests::setup::{self, Hub};

use crate::fuzz::{Known, encode};

/// `name=value` of every `Set-Cookie` of `resp`.
fn cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect()
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

pub async fn known(hub: &Hub, bin: &Path) -> Known {
    let client = crate::client();
    let signup = format!("{}/console/signup", hub.manage_url);
    let page = client.get(&signup).send().await.unwrap();
    let mut cookie = cookies(&page).join("; ");
    let csrf = csrf_of(&page.text().await.unwrap());
    let slug = format!("f{}", random_suffix());
    let form = [
        ("csrf", csrf.as_str()),
        ("organisation", "Fuzz"),
        ("slug", slug.as_str()),
        ("email", "fuzz@example.com"),
        ("password", "correct horse battery"),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    let resp = client
        .post(&signup)
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let renewed = cookies(&resp);
    if !renewed.is_empty() {
        cookie = renewed.join("; ");
    }
    let dashboard = client
        .get(format!("{}/console/dashboard", hub.manage_url))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let api_key = text_of(&dashboard, "new-key");
    let csrf = csrf_of(&dashboard);

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
        ids: vec![stream.stream_id, receiver.receiver_id],
    }
}
