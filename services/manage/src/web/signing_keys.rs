//! `/console/signing-keys`: the tenant's keys and their states, the JWKS, and rotation.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::keys::{self, RotateMode};

use super::session::{Who, who, writer};
use super::{page, see_other, unavailable};

struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    published: bool,
    created_at: String,
}

#[derive(Template)]
#[template(path = "signing_keys.html")]
struct KeysPage {
    who: Who,
    active: &'static str,
    jwks_url: String,
    keys: Vec<KeyRow>,
    message: Option<super::flash::Flash>,
}

/// `GET /console/signing-keys`.
pub async fn list(ctx: web::Data<AppContext>, req: HttpRequest, session: Session) -> HttpResponse {
    let who = match who(&ctx, &req).await {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    let Ok((infos, _)) = keys::overview(&ctx, who.tenant, chrono::Utc::now()).await else {
        return unavailable();
    };
    let message = super::flash::Flash::take(&session, "keys_message");
    page(
        StatusCode::OK,
        &KeysPage {
            jwks_url: ctx.url(&format!("/t/{}/jwks.json", who.slug)),
            who,
            active: "signing-keys",
            keys: infos
                .into_iter()
                .map(|k| KeyRow {
                    kid: k.kid,
                    alg: k.alg,
                    state: k.state,
                    published: k.published,
                    created_at: k.created_at.to_rfc3339(),
                })
                .collect(),
            message,
        },
    )
}

/// `POST /console/signing-keys/rotate`: `mode` (`scheduled`, `now`).
pub async fn rotate(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let who = match writer(&ctx, &req, &session, form.get("csrf")).await {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    let mode = match form.get("mode").map(String::as_str) {
        Some("now") => RotateMode::Now,
        _ => RotateMode::Scheduled,
    };
    match keys::rotate(&ctx, who.tenant, mode, chrono::Utc::now()).await {
        Ok(summary) => {
            let text = format!(
                "Done: the active key is {}{}.",
                summary.active_kid.as_deref().unwrap_or("none"),
                summary
                    .next_kid
                    .as_deref()
                    .map(|k| format!("; {k} is published as the next one"))
                    .unwrap_or_default()
            );
            tracing::info!(tenant = %who.tenant, member = %who.member, "signing keys rotated from the console");
            super::flash::Flash::ok(text).keep(&session, "keys_message");
            see_other("/console/signing-keys")
        }
        Err(e) => {
            tracing::warn!(error = %e, "console: rotation failed");
            unavailable()
        }
    }
}
