//! `/portal/decoder`: paste a SET, see its header and claims and whether it verifies against
//! the tenant's published keys (`sethub_app::deliveries::decode_set`, which a delivery's page
//! uses too).

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;

use super::unavailable;
use super::{Who, who};
use crate::web::form::Form;
use crate::web::{csrf_refused, page};

#[derive(Template)]
#[template(path = "portal_decoder.html")]
struct DecoderPage {
    who: Who,
    active: &'static str,
    token: String,
    error: Option<String>,
    verdict: Option<String>,
    verified: bool,
    header: String,
    claims: String,
}

fn empty(who: Who) -> DecoderPage {
    DecoderPage {
        who,
        active: "decoder",
        token: String::new(),
        error: None,
        verdict: None,
        verified: false,
        header: String::new(),
        claims: String::new(),
    }
}

/// `GET /portal/decoder`.
pub async fn form(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    match who(&ctx, &req).await {
        Ok(w) => page(StatusCode::OK, &empty(w)),
        Err(answer) => answer,
    }
}

/// `POST /portal/decoder`: `token`.
pub async fn decode(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    form: Form<HashMap<String, String>>,
) -> HttpResponse {
    if !super::csrf_ok(&session, &form) {
        return csrf_refused();
    }
    let token = form.get("token").map_or("", |t| t.trim()).to_owned();
    let decoded =
        match sethub_app::deliveries::decode_set(&ctx, who.tenant.id, &who.tenant.slug, &token)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "portal: the tenant's keys could not be read");
                return unavailable();
            }
        };
    let Some(set) = decoded else {
        let mut p = empty(who);
        p.error =
            Some("this is not a compact JWS (three base64url parts separated by dots)".into());
        p.token = token;
        return page(StatusCode::BAD_REQUEST, &p);
    };
    page(
        StatusCode::OK,
        &DecoderPage {
            who,
            active: "decoder",
            token,
            error: None,
            verdict: Some(set.verdict),
            verified: set.verified,
            header: set.header,
            claims: set.claims,
        },
    )
}
