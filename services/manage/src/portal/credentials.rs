//! `/portal/credentials`: the receiver's client id for the SSF API, and rotating its secret.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;

use super::Who;
use super::unavailable;
use crate::web::PageError;
use crate::web::confirm::{self, Ask};
use crate::web::form::Form;
use crate::web::{Home, csrf_refused, page, see_other};

#[derive(Template)]
#[template(path = "portal_credentials.html")]
struct CredentialsPage {
    who: Who,
    active: &'static str,
    client_id: String,
    token_endpoint: String,
    metadata_url: String,
    new_secret: Option<String>,
    redirect_uri: String,
    sso_fields: Vec<crate::web::form::Field>,
}

/// `GET /portal/credentials`.
pub async fn show(ctx: web::Data<AppContext>, who: Who, session: Session) -> HttpResponse {
    render(&ctx, who, &session, StatusCode::OK, None).await
}

/// The page; `sso_form` (the typed fields, with their errors) after a refused SSO form.
pub(crate) async fn render(
    ctx: &AppContext,
    who: Who,
    session: &Session,
    status: StatusCode,
    sso_form: Option<Vec<crate::web::form::Field>>,
) -> HttpResponse {
    let Ok(r) = ctx
        .store
        .scope(who.tenant.id)
        .receivers()
        .get(who.receiver_id)
        .await
    else {
        return unavailable();
    };
    let slug = who.tenant.slug.clone();
    let Ok(sso) = ctx
        .store
        .scope(who.tenant.id)
        .members()
        .sso(Some(who.receiver_id))
        .await
    else {
        return unavailable();
    };
    let (issuer, client) = sso.map(|c| (c.issuer, c.client_id)).unwrap_or_default();
    page(
        status,
        &CredentialsPage {
            who,
            active: "credentials",
            client_id: r.client_id,
            token_endpoint: sethub_app::admin::token_endpoint(ctx, &slug),
            metadata_url: sethub_app::admin::metadata_url(ctx, &slug),
            new_secret: session
                .remove_as::<String>("new_secret")
                .and_then(Result::ok),
            redirect_uri: super::sso::redirect_uri(ctx),
            sso_fields: sso_form.unwrap_or_else(|| super::sso::fields(&issuer, &client)),
        },
    )
}

/// `POST /portal/credentials/rotate`.
pub async fn rotate(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    form: Form<HashMap<String, String>>,
) -> HttpResponse {
    if !super::csrf_ok(&session, &form) {
        return csrf_refused();
    }
    if !confirm::confirmed(form.iter()) {
        return confirm::ask(
            Home::Portal,
            "/portal/credentials/rotate",
            form.iter(),
            Ask {
                question: "Rotate the client secret?".into(),
                detail: "A new secret is shown once; the current one stops working at once, so \
                         your software is refused until it uses the new one.",
                yes: "Yes, rotate it",
                back: "/portal/credentials".into(),
            },
        );
    }
    match sethub_app::admin::rotate_receiver_secret(&ctx, who.tenant.id, who.receiver_id).await {
        Ok(secret) => {
            let _ = session.insert("new_secret", secret);
            see_other("/portal/credentials")
        }
        Err(e) => {
            PageError::unavailable(Home::Portal, "the client secret could not be rotated", e).into()
        }
    }
}
