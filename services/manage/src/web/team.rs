//! `/console/team`: the organisation's members (an owner or admin removes them or changes
//! their role, which ends their sessions), open invites (listed, revocable) and new invite
//! links (admin or viewer, optionally bound to an email); and
//! `/console/t/{slug}/join/{token}` where an invited colleague joins.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::console::{self, AccountError};
use sethub_app::team::{self, Actor};
use sethub_domain::MemberId;
use sethub_store::{Role, TeamError};

use super::Home;
use super::PageError;
use super::confirm::{self, Ask};
use super::form::{EditForm, Field, attach};
use super::session::{Change, Who, csrf_ok, csrf_refused, csrf_token, sign_in};
use super::{error_page, page, see_other, unavailable};
use crate::portal::join::{invalid_link, join_fields};

struct MemberRow {
    id: String,
    email: String,
    role: String,
    last_login_at: Option<String>,
    /// Whether the signed-in member may remove it or change its role (the server checks
    /// again).
    manageable: bool,
    me: bool,
}

struct InviteRow {
    id: String,
    role: String,
    email: Option<String>,
    expires_at: String,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    who: Who,
    active: &'static str,
    members: Vec<MemberRow>,
    invites: Vec<InviteRow>,
    invited: Option<String>,
    invite_hours: i64,
    fields: Vec<Field>,
}

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage {
    org: String,
    role: String,
    csrf: String,
    fields: Vec<Field>,
    message: Option<String>,
}

fn email_field(value: &str) -> Field {
    Field::new("email", "Their email (optional)", "email")
        .hint("When given, only this address can accept the invite.")
        .value(value)
}

async fn render(
    ctx: &AppContext,
    who: Who,
    status: StatusCode,
    invited: Option<String>,
    email: Field,
) -> HttpResponse {
    let members = ctx.store.scope(who.tenant).members();
    let (Ok(members), Ok(invites)) = (
        members.list().await,
        team::open_invites(ctx, who.tenant, None).await,
    ) else {
        return unavailable();
    };
    let members = members
        .into_iter()
        .filter(|m| m.role != Role::Receiver)
        .map(|m| MemberRow {
            id: m.id.to_string(),
            manageable: who.can_write && (m.role != Role::Owner || who.role == Role::Owner),
            me: m.id == who.member,
            email: m.email,
            role: m.role.as_str().to_owned(),
            last_login_at: m.last_login_at.map(|t| t.to_rfc3339()),
        })
        .collect();
    let invites = invites
        .into_iter()
        .map(|i| InviteRow {
            id: i.id.to_string(),
            role: i.role.as_str().to_owned(),
            email: i.email,
            expires_at: i.expires_at.to_rfc3339(),
        })
        .collect();
    page(
        status,
        &TeamPage {
            who,
            active: "team",
            members,
            invites,
            invited,
            invite_hours: team::invite_lifetime(ctx).num_hours(),
            fields: vec![email],
        },
    )
}

/// `GET /console/team`.
pub async fn list(ctx: web::Data<AppContext>, who: Who, session: Session) -> HttpResponse {
    let invited = session
        .remove_as::<String>("team_invite")
        .and_then(Result::ok);
    render(&ctx, who, StatusCode::OK, invited, email_field("")).await
}

/// `POST /console/team`: `role` (`admin`, `viewer`) and, optionally, the `email` the invite is
/// bound to.
pub async fn invite(
    ctx: web::Data<AppContext>,
    session: Session,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let role = match form.get("role").map(String::as_str) {
        Some("admin") => Role::Admin,
        Some("viewer") => Role::Viewer,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Choose a role",
                "Invite an admin or a viewer.",
            );
        }
    };
    let email = form.get("email").map(String::as_str);
    match team::invite_member(&ctx, who.tenant, role, email).await {
        Ok(token) => {
            let link = ctx.url(&format!("/console/t/{}/join/{token}", who.slug));
            if let Err(e) = session.insert("team_invite", &link) {
                tracing::warn!(error = %e, "cannot keep the invite link for the next page");
            }
            see_other("/console/team")
        }
        Err(AccountError::Invalid(errors)) => {
            let mut fields = vec![email_field(email.unwrap_or(""))];
            attach(&mut fields, &errors);
            let field = fields.remove(0);
            render(&ctx, who, StatusCode::BAD_REQUEST, None, field).await
        }
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot make an invite");
            unavailable()
        }
    }
}

/// The page for a refused team change (nothing was changed).
fn team_refusal(e: TeamError) -> HttpResponse {
    match e {
        TeamError::NotFound => error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "No such member or open invite in your organisation.",
        ),
        TeamError::LastOwner => error_page(
            StatusCode::CONFLICT,
            "The last owner stays",
            "Your organisation needs an owner: make someone else an owner first.",
        ),
        TeamError::Refused(reason) => error_page(StatusCode::FORBIDDEN, "Not allowed", reason),
        TeamError::Store(e) => {
            tracing::warn!(error = %e, "console: a team change failed");
            unavailable()
        }
    }
}

/// After a change to `member`: back to the team page, or to sign-in when it was oneself
/// (the change ended one's own sessions).
fn after_change(who: &Who, session: &Session, member: MemberId) -> HttpResponse {
    if member == who.member {
        session.purge();
        return see_other("/console/login");
    }
    see_other("/console/team")
}

fn actor(who: &Who) -> Actor {
    Actor {
        member: who.member,
        role: who.role,
    }
}

/// `POST /console/team/members/{id}/remove`.
pub async fn remove_member(
    ctx: web::Data<AppContext>,
    session: Session,
    path: web::Path<String>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let Ok(member) = path.parse::<MemberId>() else {
        return team_refusal(TeamError::NotFound);
    };
    if !confirm::confirmed(form.iter()) {
        let email = match ctx.store.scope(who.tenant).members().get(member).await {
            Ok(m) => m.email,
            Err(sethub_store::StoreError::NotFound) => return team_refusal(TeamError::NotFound),
            Err(e) => return team_refusal(TeamError::Store(e)),
        };
        let action = format!("/console/team/members/{member}/remove");
        return confirm::ask(
            Home::Console,
            &action,
            form.iter(),
            Ask {
                question: format!("Remove {email} from the team?"),
                detail: "They are signed out everywhere at once and can no longer sign in; \
                         an invitation brings them back.",
                yes: "Yes, remove them",
                back: "/console/team".into(),
            },
        );
    }
    match team::remove_member(&ctx, who.tenant, actor(&who), member).await {
        Ok(_) => after_change(&who, &session, member),
        Err(e) => team_refusal(e),
    }
}

/// `POST /console/team/members/{id}/role`: `role` (`owner`, `admin`, `viewer`).
pub async fn change_role(
    ctx: web::Data<AppContext>,
    session: Session,
    path: web::Path<String>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let Ok(member) = path.parse::<MemberId>() else {
        return team_refusal(TeamError::NotFound);
    };
    let role = match form.get("role").and_then(|r| r.parse::<Role>().ok()) {
        Some(r @ (Role::Owner | Role::Admin | Role::Viewer)) => r,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Choose a role",
                "A member is an owner, an admin or a viewer.",
            );
        }
    };
    match team::change_role(&ctx, who.tenant, actor(&who), member, role).await {
        Ok(before) if before.role != role => after_change(&who, &session, member),
        Ok(_) => see_other("/console/team"),
        Err(e) => team_refusal(e),
    }
}

/// `POST /console/team/invites/{id}/revoke`.
pub async fn revoke_invite(
    ctx: web::Data<AppContext>,
    path: web::Path<String>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let Ok(invite) = path.parse::<uuid::Uuid>() else {
        return team_refusal(TeamError::NotFound);
    };
    if !confirm::confirmed(form.iter()) {
        match team::open_invites(&ctx, who.tenant, None).await {
            Ok(open) if open.iter().any(|i| i.id == invite) => {}
            Ok(_) => return team_refusal(TeamError::NotFound),
            Err(e) => return team_refusal(TeamError::Store(e)),
        }
        let action = format!("/console/team/invites/{invite}/revoke");
        return confirm::ask(
            Home::Console,
            &action,
            form.iter(),
            Ask {
                question: "Revoke this invitation?".into(),
                detail: "Its link stops working at once; nobody can join with it.",
                yes: "Yes, revoke it",
                back: "/console/team".into(),
            },
        );
    }
    match team::revoke_invite(&ctx, who.tenant, actor(&who), invite).await {
        Ok(()) => see_other("/console/team"),
        Err(e) => team_refusal(e),
    }
}

async fn join_page_for(
    ctx: &AppContext,
    session: &Session,
    slug: &str,
    token: &str,
    status: StatusCode,
    fields: Vec<Field>,
    message: Option<String>,
) -> HttpResponse {
    match console::open_invite(ctx, slug, token).await {
        Ok((tenant, invite)) if invite.role != Role::Receiver => {
            let Ok(t) = ctx.store.tenants().get(tenant).await else {
                return unavailable();
            };
            page(
                status,
                &JoinPage {
                    org: t.name,
                    role: invite.role.as_str().to_owned(),
                    csrf: csrf_token(session),
                    fields,
                    message,
                },
            )
        }
        Ok(_) | Err(AccountError::BadCredentials) => invalid_link(),
        Err(e) => {
            PageError::unavailable(Home::Console, "a team invite could not be opened", e).into()
        }
    }
}

/// `GET /console/t/{slug}/join/{token}`.
pub async fn join_page(
    ctx: web::Data<AppContext>,
    session: Session,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, token) = path.into_inner();
    join_page_for(
        &ctx,
        &session,
        &slug,
        &token,
        StatusCode::OK,
        join_fields(&HashMap::new()),
        None,
    )
    .await
}

/// `POST /console/t/{slug}/join/{token}`: becomes a member and signs in (this browser is
/// remembered for the member, as after a sign-in).
pub async fn join(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    session: Session,
    path: web::Path<(String, String)>,
    form: EditForm<HashMap<String, String>>,
) -> HttpResponse {
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    let (slug, token) = path.into_inner();
    match super::signin::accept_invite(&ctx, &form, (&slug, &token), false).await {
        Ok((tenant, member)) => {
            sign_in(&session, tenant, member.id);
            let to = see_other("/console/dashboard");
            crate::web::known_browser::first_sign_in(to, &ctx, &req, tenant, member.id, "/console")
        }
        Err(AccountError::Invalid(errors)) => {
            let mut fields = join_fields(&form);
            attach(&mut fields, &errors);
            join_page_for(
                &ctx,
                &session,
                &slug,
                &token,
                StatusCode::BAD_REQUEST,
                fields,
                Some("Please correct the fields marked below.".into()),
            )
            .await
        }
        Err(AccountError::BadCredentials) => invalid_link(),
        Err(e) => {
            PageError::unavailable(Home::Console, "a team invite could not be accepted", e).into()
        }
    }
}
