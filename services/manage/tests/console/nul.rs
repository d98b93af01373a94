//! A NUL (U+0000) in a form field, a query parameter or the path of the console or the
//! portal: a form a person types into is shown again with the error beside the field and the
//! rest as typed; anywhere else the error page names it; either way 400 and nothing changed,
//! before anything is looked up with it (PostgreSQL could not even be asked).

use actix_web::http::StatusCode;

use crate::api_support::{Hub, unique};
use crate::support::*;

fn assert_refused(page: &Page, what: &str, home: &str) {
    assert_eq!(
        page.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        page.html
    );
    assert!(
        page.html.contains("Nothing was changed")
            && page.html.contains(what)
            && page.html.contains("NUL character")
            && page.html.contains(&format!("href=\"{home}\"")),
        "{what}: {}",
        page.html
    );
}

/// A form shown again with the NUL's error beside `field`, the other values as typed
/// (`kept`), and nothing changed.
fn assert_shown_again(page: &Page, field: &str, kept: &[&str]) {
    assert_eq!(
        page.status,
        StatusCode::BAD_REQUEST,
        "{field}: {}",
        page.html
    );
    let error = page
        .error(field)
        .unwrap_or_else(|| panic!("no error beside {field}: {}", page.html));
    assert!(error.contains("NUL character"), "{field}: {error}");
    for value in kept {
        assert!(
            page.html.contains(&format!("value=\"{value}\"")),
            "{field}: `{value}` is not kept: {}",
            page.html
        );
    }
}

#[tokio::test]
async fn a_nul_in_a_form_field_a_query_parameter_or_the_path_is_refused_and_changes_nothing() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;

    // Signed out: the sign-in and sign-up forms, whose slug reaches the tenant lookup, are
    // shown again with the error beside the field and the rest as typed (the NUL removed).
    let csrf = b.get("/console/login").await.csrf();
    let p = b
        .post(
            "/console/login",
            &[
                ("csrf", &csrf),
                ("slug", "acme\u{0}"),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_shown_again(&p, "slug", &["acme", "ann@example.com"]);
    let csrf = b.get("/console/signup").await.csrf();
    let refused_slug = unique("nul");
    let p = b
        .post(
            "/console/signup",
            &[
                ("csrf", &csrf),
                ("organisation", "Ac\u{0}me"),
                ("slug", &refused_slug),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_shown_again(
        &p,
        "organisation",
        &["Acme", &refused_slug, "ann@example.com"],
    );
    assert!(!p.html.contains(PASSWORD), "a password is never sent back");
    let tenants = hub.ctx.store.tenants();
    assert!(tenants.find_by_slug(&refused_slug).await.unwrap().is_none());
    // A NUL in a field nobody types (a choice) is refused with the error page.
    let p = b
        .post(
            "/console/signup",
            &[
                ("csrf", &csrf),
                ("organisation", "Acme"),
                ("slug", &refused_slug),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
                ("signing_alg", "RS256\u{0}"),
            ],
        )
        .await;
    assert_refused(&p, "The field `signing_alg`", "/console");
    assert!(tenants.find_by_slug(&refused_slug).await.unwrap().is_none());

    // Signed in: a form field, a query parameter, a path segment.
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    let csrf = b.get("/console/receivers").await.csrf();
    let p = b
        .post(
            "/console/receivers",
            &[("csrf", &csrf), ("name", "Be\u{0}ta")],
        )
        .await;
    assert_shown_again(&p, "name", &["Beta"]);
    let receivers = hub.ctx.store.scope(tenant.id).receivers();
    assert!(receivers.list().await.unwrap().is_empty());
    let p = b.get("/console/events?type=urn:example:a%00b").await;
    assert_refused(&p, "The parameter `type`", "/console");
    let p = b.get("/console/streams/str_%00").await;
    assert_refused(&p, "The address", "/console");

    // Joining the team: the email's NUL beside it, the email kept, nobody joined.
    let csrf = b.get("/console/team").await.csrf();
    let p = b
        .post("/console/team", &[("csrf", &csrf), ("role", "viewer")])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let join = invite_path(&b.get("/console/team").await);
    let mut colleague = browser(&hub).await;
    let csrf = colleague.get(&join).await.csrf();
    let p = colleague
        .post(
            &join,
            &[
                ("csrf", &csrf),
                ("email", "cy\u{0}@acme.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_shown_again(&p, "email", &["cy@acme.example"]);
    let members = hub
        .ctx
        .store
        .scope(tenant.id)
        .members()
        .list()
        .await
        .unwrap();
    assert_eq!(members.len(), 1, "nobody joined: {members:?}");

    // The portal: an invitation's path, and its sign-in form.
    let mut portal = browser(&hub).await;
    let p = portal.get(&format!("/portal/t/{slug}%00/invite/x")).await;
    assert_refused(&p, "The address", "/portal");
    let csrf = portal.get("/portal/login").await.csrf();
    let p = portal
        .post(
            "/portal/login",
            &[
                ("csrf", &csrf),
                ("slug", &format!("{slug}\u{0}")),
                ("email", "g@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_shown_again(&p, "slug", &[&slug, "g@example.com"]);

    // A portal user's create-stream form: the description's NUL beside it, the rest kept.
    let mut owner = b;
    let mut portal = browser(&hub).await;
    portal_user(&hub, &mut owner, &mut portal).await;
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
                ("description", "mi\u{0}ne"),
            ],
        )
        .await;
    assert_shown_again(&p, "description", &["mine"]);
    assert!(
        p.html.contains("value=\"poll\" checked"),
        "the method is kept: {}",
        p.html
    );
    let streams = hub.ctx.store.scope(tenant.id).streams();
    assert!(streams.list().await.unwrap().is_empty(), "nothing created");
}
