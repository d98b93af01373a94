//! `/portal/decoder`: paste a SET, see its header and claims and whether it verifies against
//! the tenant's published keys (the JOSE core's own validation).

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine as _;
use serde_json::Value;
use sethub_app::AppContext;

use super::unavailable;
use super::{Who, who};
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

/// A part of a compact JWS as pretty JSON.
fn part(token: &str, i: usize) -> Option<String> {
    let raw = token.split('.').nth(i)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    serde_json::to_string_pretty(&v).ok()
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
    let token = form.get("token").map_or("", |t| t.trim()).to_owned();
    let (Some(header), Some(claims)) = (part(&token, 0), part(&token, 1)) else {
        let mut p = empty(who);
        p.error =
            Some("this is not a compact JWS (three base64url parts separated by dots)".into());
        p.token = token;
        return page(StatusCode::BAD_REQUEST, &p);
    };
    let Ok((_, jwks)) = sethub_app::keys::overview(&ctx, who.tenant.id, chrono::Utc::now()).await
    else {
        return unavailable();
    };
    let issuer = sethub_app::admin::issuer(&ctx, &who.tenant.slug);
    let expect = sethub_jose::Expectations::new(issuer.clone(), String::new()).any_audience();
    let (verdict, verified) = match sethub_jose::validate_set(&token, &jwks, &expect) {
        Ok(_) => (format!("Verifies: signed by {issuer}"), true),
        Err(e) => (format!("Does not verify: {e}"), false),
    };
    page(
        StatusCode::OK,
        &DecoderPage {
            who,
            active: "decoder",
            token,
            error: None,
            verdict: Some(verdict),
            verified,
            header,
            claims,
        },
    )
}
