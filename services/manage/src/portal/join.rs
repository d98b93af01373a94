//! Joining by invite link, signing in and out of the portal.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::client_addr::ClientAddr;
use sethub_app::console::{self, AccountError, Door};
use sethub_store::Role;

use super::{error_page, unavailable};
use crate::web::form::{EditForm, Field, Form, attach};
use crate::web::known_browser;
use crate::web::{Home, PageError};
use crate::web::{csrf_refused, csrf_token, page, see_other};

#[derive(Template)]
#[template(path = "portal_join.html")]
struct JoinPage {
    org: String,
    /// The organisation slug the receiver signs in with.
    slug: String,
    csrf: String,
    fields: Vec<Field>,
    message: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_login.html")]
struct LoginPage {
    /// Just signed out: the page says so.
    signed_out: bool,
    csrf: String,
    fields: Vec<Field>,
    message: Option<String>,
}

pub(crate) fn join_fields(form: &HashMap<String, String>) -> Vec<Field> {
    vec![
        Field::new("email", "Your email", "email")
            .autocomplete("email")
            .value(form.get("email").map_or("", String::as_str)),
        Field::new("password", "Choose a password", "password")
            .autocomplete("new-password")
            .hint("At least 12 characters."),
    ]
}

fn login_fields(form: &HashMap<String, String>) -> Vec<Field> {
    let v = |k: &str| form.get(k).map_or("", String::as_str);
    vec![
        Field::new("slug", "Organisation (the sender's slug)", "text").value(v("slug")),
        Field::new("email", "Email", "email")
            .autocomplete("username")
            .value(v("email")),
        Field::new("password", "Password", "password").autocomplete("current-password"),
    ]
}

pub(crate) fn invalid_link() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "This invite link does not work",
        "It may have been used already or have expired. Ask the sender for a new one, or sign in if you joined before.",
    )
}

/// `GET /portal/t/{slug}/invite/{token}`.
pub async fn join_page(
    ctx: web::Data<AppContext>,
    session: Session,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, token) = path.into_inner();
    match console::open_invite(&ctx, &slug, &token).await {
        Ok((tenant, invite)) if invite.role == Role::Receiver => {
            let Ok(t) = ctx.store.tenants().get(tenant).await else {
                return unavailable();
            };
            page(
                StatusCode::OK,
                &JoinPage {
                    org: t.name,
                    slug,
                    csrf: csrf_token(&session),
                    fields: join_fields(&HashMap::new()),
                    message: None,
                },
            )
        }
        Ok(_) | Err(AccountError::BadCredentials) => invalid_link(),
        Err(e) => {
            PageError::unavailable(Home::Portal, "a receiver invite could not be opened", e).into()
        }
    }
}

/// `POST /portal/t/{slug}/invite/{token}`: becomes the receiver's user and signs in (this
/// browser is remembered for the user, as after a sign-in).
pub async fn join(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    session: Session,
    path: web::Path<(String, String)>,
    form: EditForm<HashMap<String, String>>,
) -> HttpResponse {
    if !super::csrf_ok(&session, &form) {
        return csrf_refused();
    }
    let (slug, token) = path.into_inner();
    match crate::web::signin::accept_invite(&ctx, &form, (&slug, &token), true).await {
        Ok((tenant, member)) => {
            crate::web::session_sign_in(&session, tenant, member.id);
            let to = see_other("/portal");
            crate::web::known_browser::first_sign_in(to, &ctx, &req, tenant, member.id, "/portal")
        }
        Err(AccountError::Invalid(errors)) => {
            let mut fields = join_fields(&form);
            attach(&mut fields, &errors);
            let org = match console::open_invite(&ctx, &slug, &token).await {
                Ok((t, _)) => ctx
                    .store
                    .tenants()
                    .get(t)
                    .await
                    .map(|t| t.name)
                    .unwrap_or_else(|_| slug.clone()),
                Err(_) => return invalid_link(),
            };
            page(
                StatusCode::BAD_REQUEST,
                &JoinPage {
                    org,
                    slug,
                    csrf: csrf_token(&session),
                    fields,
                    message: Some("Please correct the fields marked below.".into()),
                },
            )
        }
        Err(AccountError::BadCredentials) => invalid_link(),
        Err(e) => {
            PageError::unavailable(Home::Portal, "a receiver invite could not be accepted", e)
                .into()
        }
    }
}

/// `GET /portal/login`.
pub async fn login_page(
    session: Session,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    page(
        StatusCode::OK,
        &LoginPage {
            signed_out: query.contains_key("signed_out"),
            csrf: csrf_token(&session),
            fields: login_fields(&HashMap::new()),
            message: None,
        },
    )
}

/// `POST /portal/login`.
pub async fn login(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    addr: ClientAddr,
    session: Session,
    form: EditForm<HashMap<String, String>>,
) -> HttpResponse {
    if !super::csrf_ok(&session, &form) {
        return csrf_refused();
    }
    match crate::web::signin::check_password(&ctx, &req, addr, Door::Portal, &form).await {
        Ok(done) => {
            crate::web::session_sign_in(&session, done.tenant, done.member.id);
            known_browser::remember(see_other("/portal"), &ctx, done.known_browser, "/portal")
        }
        Err(e) => crate::web::signin::refused(&e, |status, message, errors| {
            let mut fields = login_fields(&form);
            attach(&mut fields, errors);
            page(
                status,
                &LoginPage {
                    signed_out: false,
                    csrf: csrf_token(&session),
                    fields,
                    message: Some(message),
                },
            )
        })
        .unwrap_or_else(unavailable),
    }
}

/// `POST /portal/logout`.
pub async fn logout(session: Session, form: Form<HashMap<String, String>>) -> HttpResponse {
    if !super::csrf_ok(&session, &form) {
        return csrf_refused();
    }
    session.purge();
    see_other("/portal/login?signed_out")
}
