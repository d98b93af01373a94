//! Single sign-on to the portal, configured by a receiver for its own people: the settings
//! form (on the credentials page) and the round trip (`/portal/sso/start` → provider →
//! `/portal/sso/callback`). The sign-in is told apart from the console's by the receiver it
//! names; a person is matched to that receiver's portal users by verified email.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use sethub_app::AppContext;
use sethub_app::sso::SsoError;

use super::Who;
use crate::web::form::{Field, Form};
use crate::web::sso::{begin, check_settings, complete, refused, save_settings};
use crate::web::{Home, PageError};
use crate::web::{csrf_refused, see_other};

pub(crate) fn redirect_uri(ctx: &AppContext) -> String {
    ctx.url("/portal/sso/callback")
}

pub(crate) fn fields(issuer: &str, client_id: &str) -> Vec<Field> {
    vec![
        Field::new("issuer", "Issuer URL", "text").value(issuer),
        Field::new("sso_client_id", "Client id at your provider", "text").value(client_id),
        Field::new("client_secret", "Client secret", "password")
            .hint("Leave empty to keep the saved one; a new issuer or client id needs it again."),
    ]
}

/// `POST /portal/sso/settings`: `issuer`, `sso_client_id`, `client_secret`.
pub async fn save(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    form: Form<HashMap<String, String>>,
) -> HttpResponse {
    if !super::csrf_ok(&session, &form) {
        return csrf_refused();
    }
    let v = |k: &str| form.get(k).map_or("", |s| s.trim());
    let mut f = fields(v("issuer"), v("sso_client_id"));
    if !check_settings(&ctx, &mut f, v("issuer"), v("sso_client_id")).await {
        return super::credentials::render(&ctx, who, &session, StatusCode::BAD_REQUEST, Some(f))
            .await;
    }
    if let Err(answer) = save_settings(
        &ctx,
        who.tenant.id,
        Some(who.receiver_id),
        v("issuer"),
        v("sso_client_id"),
        v("client_secret"),
    )
    .await
    {
        return answer;
    }
    see_other("/portal/credentials")
}

/// `POST /portal/sso/start`: `slug` (the sender) and `client_id` (the receiver's).
pub async fn start(
    ctx: web::Data<AppContext>,
    session: Session,
    form: Form<HashMap<String, String>>,
) -> HttpResponse {
    if !super::csrf_ok(&session, &form) {
        return csrf_refused();
    }
    let v = |k: &str| form.get(k).map_or("", |s| s.trim());
    let tenant = match ctx.store.tenants().find_by_slug(v("slug")).await {
        Ok(Some(t)) => t.id,
        Ok(None) => return refused(&SsoError::NotConfigured),
        Err(e) => {
            return PageError::unavailable(
                Home::Portal,
                "the tenant of a single sign-on could not be found",
                e,
            )
            .into();
        }
    };
    let receiver = match ctx
        .store
        .scope(tenant)
        .receivers()
        .find_by_client_id(v("client_id"))
        .await
    {
        Ok(Some(r)) => r.id,
        Ok(None) => return refused(&SsoError::NotConfigured),
        Err(e) => {
            return PageError::unavailable(
                Home::Portal,
                "the receiver of a single sign-on could not be found",
                e,
            )
            .into();
        }
    };
    begin(&ctx, &session, tenant, Some(receiver), &redirect_uri(&ctx)).await
}

/// `GET /portal/sso/callback?code=…&state=…`.
pub async fn callback(
    ctx: web::Data<AppContext>,
    session: Session,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    complete(&ctx, &session, &query, true, &redirect_uri(&ctx), "/portal").await
}
