//! The team page over PostgreSQL and Redis: removing a member or changing their role ends
//! their sessions; the last owner stays; an admin cannot touch an owner; a viewer changes
//! nothing; invites are listed, revocable, expire, and can be bound to an email.

use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use sethub_store::Role;

use crate::api_support::Hub;
use crate::sessions::replay_opens_dashboard;
use crate::support::{
    Browser, PASSWORD, browser, invite_path, member, sign_in, sign_up, signed_in_viewer, tenant_of,
};

const CONSOLE: &str = "sethub_console";

/// Posts a team form from the team page (with its CSRF token).
async fn team_post<S>(
    b: &mut Browser<S>,
    path: &str,
    extra: &[(&str, &str)],
) -> crate::support::Page
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let csrf = b.get("/console/team").await.csrf();
    let mut form = vec![("csrf", csrf.as_str()), ("confirmed", "yes")];
    form.extend_from_slice(extra);
    b.post(path, &form).await
}

#[tokio::test]
async fn removing_a_member_ends_their_sessions_and_a_viewer_cannot_remove_anyone() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut viewer = signed_in_viewer(&hub, &slug, "vic@example.com").await;
    let viewer_cookie = viewer.cookie(CONSOLE).unwrap();
    let ann = member(&hub, &slug, "ann@example.com").await;
    let vic = member(&hub, &slug, "vic@example.com").await;

    // The viewer sees no controls, and the server refuses the change anyway.
    let page = viewer.get("/console/team").await;
    assert!(!page.html.contains("/remove\""), "{}", page.html);
    let path = format!("/console/team/members/{}/remove", ann.id);
    let p = team_post(&mut viewer, &path, &[]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(member(&hub, &slug, "ann@example.com").await, ann);

    let page = owner.get("/console/team").await;
    assert!(
        page.html
            .contains(&format!("/console/team/members/{}/remove", vic.id))
    );
    // Without `confirmed=yes` the server asks first and removes nobody.
    let asked = owner
        .post(
            &format!("/console/team/members/{}/remove", vic.id),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.html.contains("Remove vic@example.com from the team?"));
    assert_eq!(member(&hub, &slug, "vic@example.com").await, vic);
    let p = team_post(
        &mut owner,
        &format!("/console/team/members/{}/remove", vic.id),
        &[],
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(!replay_opens_dashboard(&hub, &viewer_cookie).await);
    let tenant = tenant_of(&hub, &slug).await;
    let members = hub.ctx.store.scope(tenant.id).members();
    assert!(members.by_email("vic@example.com").await.is_err());
    assert!(
        !owner
            .get("/console/team")
            .await
            .html
            .contains("vic@example.com")
    );
}

#[tokio::test]
async fn changing_a_members_role_ends_their_sessions_and_the_new_role_applies_at_sign_in() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let viewer = signed_in_viewer(&hub, &slug, "vic@example.com").await;
    let viewer_cookie = viewer.cookie(CONSOLE).unwrap();
    let vic = member(&hub, &slug, "vic@example.com").await;

    let path = format!("/console/team/members/{}/role", vic.id);
    let p = team_post(&mut owner, &path, &[("role", "receiver")]).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(replay_opens_dashboard(&hub, &viewer_cookie).await);

    let p = team_post(&mut owner, &path, &[("role", "admin")]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(
        !replay_opens_dashboard(&hub, &viewer_cookie).await,
        "the cookie from before the role change still works"
    );
    assert_eq!(
        member(&hub, &slug, "vic@example.com").await.role,
        Role::Admin
    );
    let mut again = browser(&hub).await;
    sign_in(&mut again, &slug, "vic@example.com").await;
    assert!(again.get("/console/team").await.html.contains("(admin)"));
}

#[tokio::test]
async fn the_last_owner_stays_and_an_admin_can_neither_touch_an_owner_nor_make_one() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let ann = member(&hub, &slug, "ann@example.com").await;
    let owner_cookie = owner.cookie(CONSOLE).unwrap();

    let remove = format!("/console/team/members/{}/remove", ann.id);
    let role = format!("/console/team/members/{}/role", ann.id);
    let p = team_post(&mut owner, &remove, &[]).await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.html);
    let p = team_post(&mut owner, &role, &[("role", "admin")]).await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.html);
    assert_eq!(
        member(&hub, &slug, "ann@example.com").await.role,
        Role::Owner
    );
    assert!(replay_opens_dashboard(&hub, &owner_cookie).await);

    // An admin (made by the owner) may not remove or demote the owner, nor promote itself.
    signed_in_viewer(&hub, &slug, "ada@example.com").await;
    let ada = member(&hub, &slug, "ada@example.com").await;
    let p = team_post(
        &mut owner,
        &format!("/console/team/members/{}/role", ada.id),
        &[("role", "admin")],
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let mut admin = browser(&hub).await;
    sign_in(&mut admin, &slug, "ada@example.com").await;
    assert_eq!(
        team_post(&mut admin, &remove, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let p = team_post(&mut admin, &role, &[("role", "viewer")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let own = format!("/console/team/members/{}/role", ada.id);
    let p = team_post(&mut admin, &own, &[("role", "owner")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(
        member(&hub, &slug, "ann@example.com").await.role,
        Role::Owner
    );
    assert_eq!(
        member(&hub, &slug, "ada@example.com").await.role,
        Role::Admin
    );

    // With a second owner, the first may step down (and is signed out by it).
    let p = team_post(
        &mut owner,
        &format!("/console/team/members/{}/role", ada.id),
        &[("role", "owner")],
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let p = team_post(&mut owner, &role, &[("role", "viewer")]).await;
    assert_eq!(p.location.as_deref(), Some("/console/login"), "{}", p.html);
    assert_eq!(
        member(&hub, &slug, "ann@example.com").await.role,
        Role::Viewer
    );
    assert!(!replay_opens_dashboard(&hub, &owner_cookie).await);
}

/// The invite link on the team page after `form` was posted, as a path.
async fn make_invite<S>(b: &mut Browser<S>, form: &[(&str, &str)]) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let p = team_post(b, "/console/team", form).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    invite_path(&b.get("/console/team").await)
}

/// Tries to join by `path` as `email`; returns the answer.
async fn join(hub: &Hub, path: &str, email: &str) -> crate::support::Page {
    let mut b = browser(hub).await;
    let page = b.get(path).await;
    if page.status != StatusCode::OK {
        return page;
    }
    b.post(
        path,
        &[
            ("csrf", &page.csrf()),
            ("email", email),
            ("password", PASSWORD),
        ],
    )
    .await
}

#[tokio::test]
async fn a_revoked_invite_is_refused_and_open_invites_are_listed_with_their_email() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let path = make_invite(
        &mut owner,
        &[("role", "viewer"), ("email", "Bob@Example.com")],
    )
    .await;
    let page = owner.get("/console/team").await;
    assert!(page.html.contains("bob@example.com"), "{}", page.html);
    let at = page.html.find("/console/team/invites/").unwrap();
    let revoke = &page.html[at..at + page.html[at..].find('"').unwrap()];

    // A viewer cannot revoke it.
    let mut viewer = signed_in_viewer(&hub, &slug, "vic@example.com").await;
    assert_eq!(
        team_post(&mut viewer, revoke, &[]).await.status,
        StatusCode::FORBIDDEN
    );

    // Without `confirmed=yes` the server asks first and the invitation stays open.
    let csrf = owner.get("/console/team").await.csrf();
    let asked = owner.post(revoke, &[("csrf", &csrf)]).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.html.contains("Revoke this invitation?"));
    assert!(
        owner
            .get("/console/team")
            .await
            .html
            .contains("bob@example.com")
    );
    let p = team_post(&mut owner, revoke, &[]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(
        !owner
            .get("/console/team")
            .await
            .html
            .contains("bob@example.com")
    );
    assert_eq!(
        join(&hub, &path, "bob@example.com").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        team_post(&mut owner, revoke, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let tenant = tenant_of(&hub, &slug).await;
    let members = hub.ctx.store.scope(tenant.id).members();
    assert!(members.by_email("bob@example.com").await.is_err());
}

#[tokio::test]
async fn an_invite_bound_to_an_email_refuses_another_email_and_admits_its_own() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let p = team_post(
        &mut owner,
        "/console/team",
        &[("role", "viewer"), ("email", "nope")],
    )
    .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.error("email").is_some(), "{}", p.html);

    let path = make_invite(
        &mut owner,
        &[("role", "admin"), ("email", "bob@example.com")],
    )
    .await;
    let p = join(&hub, &path, "mallory@example.com").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        p.error("email").as_deref(),
        Some("this invite is for another email address")
    );
    let tenant = tenant_of(&hub, &slug).await;
    let members = hub.ctx.store.scope(tenant.id).members();
    assert!(members.by_email("mallory@example.com").await.is_err());

    let p = join(&hub, &path, "bob@example.com").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(
        p.set_cookies
            .iter()
            .any(|c| c.starts_with("sethub_known=") && c.contains("HttpOnly")),
        "joining remembers the browser, as a sign-in does: {:?}",
        p.set_cookies
    );
    assert_eq!(
        members.by_email("bob@example.com").await.unwrap().role,
        Role::Admin
    );
}

#[tokio::test]
async fn an_expired_invite_is_refused() {
    let hub = Hub::postgres_and_redis_with(|c| c.sessions.invite_secs = 1).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let path = make_invite(&mut owner, &[("role", "viewer")]).await;
    let mut b = browser(&hub).await;
    let page = b.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let csrf = page.csrf();
    let started = Instant::now();
    while b.get(&path).await.status == StatusCode::OK {
        assert!(started.elapsed() < Duration::from_secs(15), "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = b
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("email", "bob@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND, "{}", p.html);
    let tenant = tenant_of(&hub, &slug).await;
    let members = hub.ctx.store.scope(tenant.id).members();
    assert!(members.by_email("bob@example.com").await.is_err());
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let hub = Hub::postgres_and_redis_with(|_| {}).await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    let members = hub.ctx.store.scope(tenant.id).members();
    for round in 0..5 {
        let email = format!("bo{round}@example.com");
        let other = members
            .create(sethub_store::NewMember {
                email,
                password_hash: None,
                role: Role::Owner,
                receiver_id: None,
            })
            .await
            .unwrap();
        let ann = member(&hub, &slug, "ann@example.com").await;
        let as_owner = |id| sethub_app::team::Actor {
            member: id,
            role: Role::Owner,
        };
        let (a, b) = tokio::join!(
            sethub_app::team::change_role(
                &hub.ctx,
                tenant.id,
                as_owner(ann.id),
                other.id,
                Role::Viewer
            ),
            sethub_app::team::change_role(
                &hub.ctx,
                tenant.id,
                as_owner(other.id),
                ann.id,
                Role::Viewer
            ),
        );
        let owners = members.owner_count().await.unwrap();
        assert_eq!(owners, 1, "round {round}: {a:?} {b:?}");
        assert!(
            a.is_ok() != b.is_ok(),
            "round {round}: one wins: {a:?} {b:?}"
        );
        // The refused one is refused as the last owner.
        let refused = if a.is_err() { a } else { b };
        assert!(matches!(refused, Err(sethub_store::TeamError::LastOwner)));
        // Back to Ann alone as owner for the next round.
        if member(&hub, &slug, "ann@example.com").await.role != Role::Owner {
            let by = as_owner(other.id);
            sethub_app::team::change_role(&hub.ctx, tenant.id, by, ann.id, Role::Owner)
                .await
                .unwrap();
        }
        members
            .change(other.id, sethub_store::TeamChange::Remove, |_| Ok(()))
            .await
            .unwrap();
    }
}
