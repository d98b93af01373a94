//! Sign-up, sign-in and sign-out.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::console::{self, AccountError, Door, SignUp};

use super::form::{Field, attach};
use super::session::{csrf_ok, csrf_refused, csrf_token, sign_in};
use super::{error_page, page, see_other};

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    csrf: String,
    fields: Vec<Field>,
    message: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    fields: Vec<Field>,
    message: Option<String>,
}

fn signup_fields(form: &HashMap<String, String>) -> Vec<Field> {
    let v = |k: &str| form.get(k).map_or("", String::as_str);
    vec![
        Field::new("organisation", "Organisation name", "text")
            .autocomplete("organization")
            .value(v("organisation")),
        Field::new("slug", "Organisation slug", "text")
            .hint("Lower-case letters, digits and dashes; it appears in your issuer URL.")
            .value(v("slug")),
        Field::new("email", "Your email", "email")
            .autocomplete("email")
            .value(v("email")),
        Field::new("password", "Password", "password")
            .autocomplete("new-password")
            .hint("At least 12 characters."),
    ]
}

fn login_fields(form: &HashMap<String, String>) -> Vec<Field> {
    let v = |k: &str| form.get(k).map_or("", String::as_str);
    vec![
        Field::new("slug", "Organisation slug", "text").value(v("slug")),
        Field::new("email", "Email", "email")
            .autocomplete("username")
            .value(v("email")),
        Field::new("password", "Password", "password").autocomplete("current-password"),
    ]
}

fn unavailable(e: &AccountError) -> HttpResponse {
    tracing::warn!(error = %e, "console: sign-up or sign-in failed");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "sethub is unavailable",
        "Something on our side did not answer; nothing was created. Try again in a moment.",
    )
}

/// `GET /console/signup`.
pub async fn signup_page(session: Session) -> HttpResponse {
    page(
        StatusCode::OK,
        &SignupPage {
            csrf: csrf_token(&session),
            fields: signup_fields(&HashMap::new()),
            message: None,
        },
    )
}

/// `POST /console/signup`: the organisation and its owner; then the dashboard, which shows
/// the first API key once.
pub async fn signup(
    ctx: web::Data<AppContext>,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    let v = |k: &str| form.get(k).cloned().unwrap_or_default();
    let request = SignUp {
        organisation: v("organisation"),
        slug: v("slug"),
        email: v("email"),
        password: v("password"),
    };
    match console::sign_up(&ctx, &request).await {
        Ok((created, member)) => {
            sign_in(&session, created.tenant_id, member.id);
            if let Err(e) = session.insert("first_key", &created.api_key) {
                tracing::warn!(error = %e, "cannot keep the first API key for the dashboard");
            }
            see_other("/console/dashboard")
        }
        Err(AccountError::Invalid(errors)) => {
            let mut fields = signup_fields(&form);
            attach(&mut fields, &errors);
            page(
                StatusCode::BAD_REQUEST,
                &SignupPage {
                    csrf: csrf_token(&session),
                    fields,
                    message: Some("Please correct the fields marked below.".into()),
                },
            )
        }
        Err(e) => unavailable(&e),
    }
}

/// `GET /console/login`.
pub async fn login_page(session: Session) -> HttpResponse {
    page(
        StatusCode::OK,
        &LoginPage {
            csrf: csrf_token(&session),
            fields: login_fields(&HashMap::new()),
            message: None,
        },
    )
}

/// `POST /console/login`.
pub async fn login(
    ctx: web::Data<AppContext>,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    let v = |k: &str| form.get(k).map_or("", String::as_str);
    match console::sign_in(&ctx, Door::Console, v("slug"), v("email"), v("password")).await {
        Ok((tenant, member)) => {
            sign_in(&session, tenant, member.id);
            see_other("/console/dashboard")
        }
        Err(e) => match refusal(&e) {
            Some((status, message)) => page(
                status,
                &LoginPage {
                    csrf: csrf_token(&session),
                    fields: login_fields(&form),
                    message: Some(message),
                },
            ),
            None => unavailable(&e),
        },
    }
}

/// What the sign-in page says to a refused sign-in (console or portal): the status and the
/// message; `None` when a backend failed.
pub(crate) fn refusal(e: &AccountError) -> Option<(StatusCode, String)> {
    match e {
        AccountError::BadCredentials => Some((
            StatusCode::UNAUTHORIZED,
            "The organisation, email or password is not right.".into(),
        )),
        AccountError::RateLimited(secs) => Some((
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many attempts. Try again in {secs} seconds."),
        )),
        _ => None,
    }
}

/// `POST /console/logout`.
pub async fn logout(session: Session, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    session.purge();
    see_other("/console/login")
}
