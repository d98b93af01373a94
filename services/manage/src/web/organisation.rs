//! `/console/organisation`: the organisation's state, and closing or reopening it (issue 16,
//! "Leaving"). Only an owner may do either. Closing asks first (a page that works without
//! script, naming what happens); the rules are `sethub_app::closing`.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::closing::{self, ClosingError};
use sethub_store::Role;

use super::confirm::{self, Ask};
use super::flash::Flash;
use super::form::Form;
use super::session::{Who, csrf_ok, csrf_refused, who, writer};
use super::{Home, error_page, page, see_other, unavailable};

const MESSAGE: &str = "organisation_message";
const BACK: &str = "/console/organisation";

#[derive(Template)]
#[template(path = "organisation.html")]
struct OrganisationPage {
    who: Who,
    active: &'static str,
    is_owner: bool,
    /// The grace period, in words ("30 days").
    grace: String,
    message: Option<Flash>,
}

/// What closing does, said before it is done and on the page.
pub(crate) fn close_detail(grace: &str) -> String {
    format!(
        "Publishing stops at once: the ingest API refuses this organisation's events. Every \
         stream is disabled, and each receiver is sent a stream-updated event saying so; no \
         more events are pushed or queued for polling. The console and the API become \
         read-only. For {grace} an owner can reopen the organisation and carry on where it \
         stopped; after that, everything it holds (events, streams, receivers, keys, members, \
         delivery logs, sessions) is deleted and cannot be recovered."
    )
}

/// The grace period in words: days, else hours, minutes or seconds.
fn grace_words(ctx: &AppContext) -> String {
    let secs = ctx.config.closing.grace_secs;
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `GET /console/organisation`.
pub async fn show(ctx: web::Data<AppContext>, who: Who, session: Session) -> HttpResponse {
    page(
        StatusCode::OK,
        &OrganisationPage {
            is_owner: who.role == Role::Owner,
            who,
            active: "settings",
            grace: grace_words(&ctx),
            message: Flash::take(&session, MESSAGE),
        },
    )
}

fn owners_only() -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "Only an owner can do this",
        "Closing or reopening the organisation is for its owners. Ask an owner of your \
         organisation (see the Team page).",
    )
}

fn answer(e: ClosingError) -> HttpResponse {
    match e {
        ClosingError::GraceOver(_) | ClosingError::Closed(_) => {
            error_page(StatusCode::CONFLICT, "Nothing was changed", e.to_string())
        }
        e => {
            tracing::warn!(error = %e, "console: the organisation could not be closed or reopened");
            unavailable()
        }
    }
}

/// `POST /console/organisation/close`: asks first (`confirmed=yes`), then closes.
pub async fn close(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    session: Session,
    form: Form<HashMap<String, String>>,
) -> HttpResponse {
    let who = match writer(&ctx, &req, &session, form.get("csrf")).await {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    if who.role != Role::Owner {
        return owners_only();
    }
    if !confirm::confirmed(form.iter()) {
        let detail = close_detail(&grace_words(&ctx));
        return confirm::ask(
            Home::Console,
            "/console/organisation/close",
            form.iter(),
            Ask {
                question: format!("Close the organisation {}?", who.org),
                detail: &detail,
                yes: "Yes, close it",
                back: BACK.into(),
            },
        );
    }
    match closing::close(&ctx, who.tenant, format!("member:{}", who.member)).await {
        Ok(c) => {
            Flash::ok(format!(
                "The organisation is closed. Its data will be deleted on {}; until then an \
                 owner can reopen it here.",
                c.purge_after.to_rfc3339()
            ))
            .keep(&session, MESSAGE);
            see_other(BACK)
        }
        Err(e) => answer(e),
    }
}

/// `POST /console/organisation/reopen`: an owner reopens a closed organisation (the one
/// change a closed organisation takes, so not through `writer`).
pub async fn reopen(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    session: Session,
    form: Form<HashMap<String, String>>,
) -> HttpResponse {
    let who = match who(&ctx, &req).await {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    if who.role != Role::Owner {
        return owners_only();
    }
    match closing::reopen(&ctx, who.tenant, format!("member:{}", who.member)).await {
        Ok(_) => {
            Flash::ok(
                "The organisation is open again; its streams are enabled and their receivers told.",
            )
            .keep(&session, MESSAGE);
            see_other(BACK)
        }
        Err(e) => answer(e),
    }
}
