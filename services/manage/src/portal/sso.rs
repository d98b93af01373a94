//! Single sign-on to the portal, configured by a receiver for its own people: the settings
//! form (on the credentials page) and the round trip (`/portal/sso/start` → provider →
//! `/portal/sso/callback`). The sign-in is told apart from the console's by the receiver it
//! names; a person is matched to that receiver's portal users by verified email.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use sethub_app::AppContext;
use sethub_app::sso::{self, Pending, SsoError};
use sethub_store::SsoConfig;

use super::who;
use crate::web::form::Field;
use crate::web::{csrf_refused, error_page, see_other, session_sign_in, unavailable};

const PENDING: &str = "sso_pending";

pub(crate) fn redirect_uri(ctx: &AppContext) -> String {
    ctx.url("/portal/sso/callback")
}

pub(crate) fn fields(issuer: &str, client_id: &str) -> Vec<Field> {
    vec![
        Field::new("issuer", "Issuer URL", "text").value(issuer),
        Field::new("sso_client_id", "Client id at your provider", "text").value(client_id),
        Field::new("client_secret", "Client secret", "password")
            .hint("Leave empty to keep the saved one."),
    ]
}

fn refused(e: &SsoError) -> HttpResponse {
    tracing::info!(error = %e, "portal single sign-on refused");
    let status = match e {
        SsoError::Store(_) => return unavailable(),
        SsoError::Provider(_) => StatusCode::BAD_GATEWAY,
        SsoError::NotConfigured => StatusCode::NOT_FOUND,
        _ => StatusCode::UNAUTHORIZED,
    };
    error_page(status, "Single sign-on did not sign you in", e.to_string())
}

/// `POST /portal/sso/settings`: `issuer`, `sso_client_id`, `client_secret`.
pub async fn save(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let who = match who(&ctx, &req).await {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    if !super::csrf_ok(&session, &form) {
        return csrf_refused();
    }
    let v = |k: &str| form.get(k).map_or("", |s| s.trim());
    let issuer_ok = url::Url::parse(v("issuer"))
        .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
    let mut f = fields(v("issuer"), v("sso_client_id"));
    if !issuer_ok {
        f[0].error = Some("enter the provider's issuer URL (https://…)".into());
    }
    if v("sso_client_id").is_empty() || v("sso_client_id").len() > 512 {
        f[1].error = Some("enter the client id sethub has at your provider".into());
    }
    if f.iter().any(|x| x.error.is_some()) {
        return super::credentials::render(&ctx, who, &session, StatusCode::BAD_REQUEST, Some(f))
            .await;
    }
    let members = ctx.store.scope(who.tenant.id).members();
    let sealed = match v("client_secret") {
        "" => match members.sso(Some(who.receiver_id)).await {
            Ok(c) => c.and_then(|c| c.client_secret_sealed),
            Err(_) => return unavailable(),
        },
        secret => match sso::seal_secret(&ctx, who.tenant.id, Some(who.receiver_id), secret) {
            Ok(s) => Some(s),
            Err(_) => return unavailable(),
        },
    };
    let config = SsoConfig {
        issuer: v("issuer").to_owned(),
        client_id: v("sso_client_id").to_owned(),
        client_secret_sealed: sealed,
    };
    if members
        .set_sso(Some(who.receiver_id), Some(&config))
        .await
        .is_err()
    {
        return unavailable();
    }
    see_other("/portal/credentials")
}

/// `POST /portal/sso/start`: `slug` (the sender) and `client_id` (the receiver's).
pub async fn start(
    ctx: web::Data<AppContext>,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if !super::csrf_ok(&session, &form) {
        return csrf_refused();
    }
    let v = |k: &str| form.get(k).map_or("", |s| s.trim());
    let tenant = match ctx.store.tenants().find_by_slug(v("slug")).await {
        Ok(Some(t)) => t.id,
        Ok(None) => return refused(&SsoError::NotConfigured),
        Err(_) => return unavailable(),
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
        Err(_) => return unavailable(),
    };
    match sso::start(&ctx, tenant, Some(receiver), &redirect_uri(&ctx)).await {
        Ok((url, pending)) => {
            if session.insert(PENDING, &pending).is_err() {
                return unavailable();
            }
            see_other(&url)
        }
        Err(e) => refused(&e),
    }
}

/// `GET /portal/sso/callback?code=…&state=…`.
pub async fn callback(
    ctx: web::Data<AppContext>,
    session: Session,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let Some(Ok(pending)) = session.remove_as::<Pending>(PENDING) else {
        return refused(&SsoError::State);
    };
    if pending.receiver.is_none() {
        return refused(&SsoError::State);
    }
    if let Some(err) = query.get("error") {
        return refused(&SsoError::Provider(format!(
            "the provider answered `{err}`"
        )));
    }
    let (Some(code), Some(state)) = (query.get("code"), query.get("state")) else {
        return refused(&SsoError::State);
    };
    match sso::finish(&ctx, &pending, &redirect_uri(&ctx), code, state).await {
        Ok(member) => {
            session_sign_in(&session, pending.tenant, member.id);
            see_other("/portal")
        }
        Err(e) => refused(&e),
    }
}
