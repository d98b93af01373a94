//! `/console/signing-keys`: the tenant's keys and their states, the JWKS, and rotation.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::admin;
use sethub_app::keys::{self, RotateMode};
use sethub_domain::Profile;
use sethub_jose::KeySpec;

use super::Home;
use super::confirm::{self, Ask};
use super::session::{Change, Who};
use super::signin::alg_label;
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
    /// `(value, label, selected)`: the kinds of key a rotation may switch to; the tenant's
    /// current kind is selected.
    algs: Vec<(String, String, bool)>,
    /// Whether the CAEP interoperability profile is on.
    profile: bool,
}

/// `GET /console/signing-keys`.
pub async fn list(ctx: web::Data<AppContext>, who: Who, session: Session) -> HttpResponse {
    let Ok((infos, _)) = keys::overview(&ctx, who.tenant, chrono::Utc::now()).await else {
        return unavailable();
    };
    let (Ok(set), Ok(profile)) = (
        keys::load_keyset(&ctx, who.tenant).await,
        keys::tenant_profile(&ctx, who.tenant).await,
    ) else {
        return unavailable();
    };
    let current = keys::current_spec(&set);
    let algs = KeySpec::ALL
        .iter()
        .filter(|spec| keys::allowed(profile, **spec).is_ok())
        .map(|spec| (spec.name(), alg_label(*spec), *spec == current))
        .collect();
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
                    alg: match k.rsa_bits {
                        Some(bits) => format!("{} ({bits}-bit)", k.alg),
                        None => k.alg,
                    },
                    state: k.state,
                    published: k.published,
                    created_at: k.created_at.to_rfc3339(),
                })
                .collect(),
            message,
            algs,
            profile: profile == Some(Profile::CaepInterop),
        },
    )
}

/// `POST /console/signing-keys/rotate`: `mode` (`scheduled`, `now`).
pub async fn rotate(
    ctx: web::Data<AppContext>,
    session: Session,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let mode = match form.get("mode").map(String::as_str) {
        Some("now") => RotateMode::Now,
        _ => RotateMode::Scheduled,
    };
    let spec = match form.get("signing_alg").map(String::as_str) {
        None | Some("") => None,
        Some(name) => match name.parse::<KeySpec>() {
            Ok(spec) => Some(spec),
            Err(e) => return refused(&session, &e.to_string()),
        },
    };
    if mode == RotateMode::Now && !confirm::confirmed(form.iter()) {
        return confirm::ask(
            Home::Console,
            "/console/signing-keys/rotate",
            form.iter(),
            Ask {
                question: "Rotate the signing key now?".into(),
                detail: "A new key signs from now on. Receivers that have not fetched the new key \
                         from your JWKS yet reject SETs until they do; a scheduled rotation \
                         publishes the key a day before it signs.",
                yes: "Yes, rotate now",
                back: "/console/signing-keys".into(),
            },
        );
    }
    match keys::rotate_to(&ctx, who.tenant, mode, spec, chrono::Utc::now()).await {
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
        Err(e @ keys::KeysError::ProfileForbids { .. }) => refused(&session, &e.to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "console: rotation failed");
            unavailable()
        }
    }
}

/// Back to the page with why nothing changed.
fn refused(session: &Session, why: &str) -> HttpResponse {
    super::flash::Flash::problem(format!("Nothing changed: {why}.")).keep(session, "keys_message");
    see_other("/console/signing-keys")
}

/// `POST /console/signing-keys/profile`: `profile` (`caep-interop`, or empty for none).
/// Switching the CAEP profile on rotates to an RS256 key at once if the tenant signs with
/// another algorithm.
pub async fn set_profile(
    ctx: web::Data<AppContext>,
    session: Session,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let profile = match form.get("profile").map(String::as_str) {
        None | Some("") => None,
        Some(name) => match Profile::from_name(name) {
            Some(p) => Some(p),
            None => return refused(&session, &format!("unknown profile `{name}`")),
        },
    };
    match admin::set_profile(&ctx, who.tenant, profile).await {
        Ok((_, rotation)) => {
            let text = match (profile, rotation) {
                (Some(p), Some(r)) => format!(
                    "The {p} profile is on; SETs are now signed RS256 with {}.",
                    r.active_kid.as_deref().unwrap_or("a new key")
                ),
                (Some(p), None) => format!("The {p} profile is on."),
                (None, _) => "No interoperability profile is on.".to_owned(),
            };
            tracing::info!(tenant = %who.tenant, member = %who.member, profile = ?profile, "profile set from the console");
            super::flash::Flash::ok(text).keep(&session, "keys_message");
            see_other("/console/signing-keys")
        }
        Err(e) => {
            tracing::warn!(error = %e, "console: setting the profile failed");
            unavailable()
        }
    }
}
