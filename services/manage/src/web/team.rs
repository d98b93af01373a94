//! `/console/team`: the organisation's members and invite links for new ones (admin or
//! viewer), and `/console/t/{slug}/join/{token}` where an invited colleague joins.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::console::{self, AccountError, INVITE_DAYS};
use sethub_store::Role;

use super::form::{Field, attach};
use super::session::{Who, csrf_ok, csrf_refused, csrf_token, sign_in, who, writer};
use super::{page, see_other, unavailable};
use crate::portal::join::{invalid_link, join_fields};

struct MemberRow {
    email: String,
    role: String,
    last_login_at: Option<String>,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    who: Who,
    active: &'static str,
    members: Vec<MemberRow>,
    invited: Option<String>,
    invite_days: i64,
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

/// `GET /console/team`.
pub async fn list(ctx: web::Data<AppContext>, req: HttpRequest, session: Session) -> HttpResponse {
    let who = match who(&ctx, &req).await {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    let Ok(members) = ctx.store.scope(who.tenant).members().list().await else {
        return unavailable();
    };
    let invited = session
        .remove_as::<String>("team_invite")
        .and_then(Result::ok);
    page(
        StatusCode::OK,
        &TeamPage {
            who,
            active: "team",
            members: members
                .into_iter()
                .filter(|m| m.role != Role::Receiver)
                .map(|m| MemberRow {
                    email: m.email,
                    role: m.role.as_str().to_owned(),
                    last_login_at: m.last_login_at.map(|t| t.to_rfc3339()),
                })
                .collect(),
            invited,
            invite_days: INVITE_DAYS,
        },
    )
}

/// `POST /console/team`: `role` (`admin`, `viewer`).
pub async fn invite(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let who = match writer(&ctx, &req, &session, form.get("csrf")).await {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    let role = match form.get("role").map(String::as_str) {
        Some("admin") => Role::Admin,
        Some("viewer") => Role::Viewer,
        _ => {
            return super::error_page(
                StatusCode::BAD_REQUEST,
                "Choose a role",
                "Invite an admin or a viewer.",
            );
        }
    };
    match console::invite_member(&ctx, who.tenant, role).await {
        Ok(token) => {
            let link = ctx.url(&format!("/console/t/{}/join/{token}", who.slug));
            if let Err(e) = session.insert("team_invite", &link) {
                tracing::warn!(error = %e, "cannot keep the invite link for the next page");
            }
            see_other("/console/team")
        }
        Err(_) => unavailable(),
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
        Err(_) => unavailable(),
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

/// `POST /console/t/{slug}/join/{token}`.
pub async fn join(
    ctx: web::Data<AppContext>,
    session: Session,
    path: web::Path<(String, String)>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    let (slug, token) = path.into_inner();
    let v = |k: &str| form.get(k).map_or("", String::as_str);
    match console::accept_invite(&ctx, &slug, &token, v("email"), v("password"), false).await {
        Ok((tenant, member)) => {
            sign_in(&session, tenant, member.id);
            see_other("/console/dashboard")
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
        Err(_) => unavailable(),
    }
}
