//! `/console/receivers/{id}`: one receiver — joined or invitation pending, its portal people,
//! its streams by name, re-issuing its invitation (the earlier link stops working) and
//! disabling or enabling it (disabling asks first). The rules are `sethub_app::receivers`.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};
use sethub_app::AppContext;
use sethub_app::admin::AdminError;
use sethub_app::receivers::{self, Joined};
use sethub_domain::ReceiverId;

use super::confirm::{self, Ask};
use super::flash::Flash;
use super::session::{Change, Who};
use super::{Home, error_page, page, see_other, unavailable};

const MESSAGE: &str = "receiver_message";

/// A re-issued link, shown once on the next page.
#[derive(Serialize, Deserialize)]
struct Reissued {
    receiver: String,
    link: String,
}

struct StreamRow {
    id: String,
    name: String,
    method: &'static str,
    status: &'static str,
}

struct Person {
    email: String,
    since: String,
    last_sign_in: Option<String>,
}

#[derive(Template)]
#[template(path = "receiver.html")]
struct ReceiverPage {
    who: Who,
    active: &'static str,
    id: String,
    name: String,
    client_id: String,
    created_at: String,
    disabled_at: Option<String>,
    /// `joined`, `pending` or `none`.
    state: &'static str,
    pending_until: Option<String>,
    people: Vec<Person>,
    streams: Vec<StreamRow>,
    link: Option<String>,
    invite_hours: i64,
    message: Option<Flash>,
}

fn no_such_receiver() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "No such receiver",
        "This receiver does not exist in your organisation.",
    )
}

fn answer(e: AdminError) -> HttpResponse {
    match e {
        AdminError::NotFound(_) => no_such_receiver(),
        e => {
            tracing::warn!(error = %e, "console: a receiver could not be read or changed");
            unavailable()
        }
    }
}

/// `GET /console/receivers/{id}`.
pub async fn show(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    id: web::Path<String>,
) -> HttpResponse {
    let Ok(id) = id.parse::<ReceiverId>() else {
        return no_such_receiver();
    };
    let o = match receivers::overview(&ctx, who.tenant, id).await {
        Ok(o) => o,
        Err(e) => return answer(e),
    };
    let link = session
        .remove_as::<Reissued>("reissued")
        .and_then(Result::ok)
        .filter(|r| r.receiver == id.to_string())
        .map(|r| r.link);
    let (state, pending_until) = match o.joined() {
        Joined::Joined => ("joined", None),
        Joined::Pending(until) => ("pending", Some(until.to_rfc3339())),
        Joined::NoInvitation => ("none", None),
    };
    page(
        StatusCode::OK,
        &ReceiverPage {
            who,
            active: "receivers",
            id: id.to_string(),
            name: o.receiver.name.clone(),
            client_id: o.receiver.client_id.clone(),
            created_at: o.receiver.created_at.to_rfc3339(),
            disabled_at: o.receiver.disabled_at.map(|t| t.to_rfc3339()),
            state,
            pending_until,
            people: o
                .people
                .iter()
                .map(|m| Person {
                    email: m.email.clone(),
                    since: m.created_at.to_rfc3339(),
                    last_sign_in: m.last_login_at.map(|t| t.to_rfc3339()),
                })
                .collect(),
            streams: o
                .streams
                .iter()
                .map(|s| StreamRow {
                    id: s.id.to_string(),
                    name: sethub_app::streams::name_of(s),
                    method: s.delivery_method.as_str(),
                    status: s.status.as_str(),
                })
                .collect(),
            link,
            invite_hours: sethub_app::console::invite_lifetime(&ctx).num_hours(),
            message: Flash::take(&session, MESSAGE),
        },
    )
}

/// Who the audit log names.
fn actor(who: &Who) -> String {
    format!("member:{}", who.member)
}

/// `POST /console/receivers/{id}/invite`: a new invitation link, shown once; every earlier
/// open link of this receiver stops working.
pub async fn reissue(
    ctx: web::Data<AppContext>,
    session: Session,
    id: web::Path<String>,
    Change { who, .. }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let Ok(id) = id.parse::<ReceiverId>() else {
        return no_such_receiver();
    };
    let invitation = match receivers::reissue_invite(&ctx, who.tenant, actor(&who), id).await {
        Ok(i) => i,
        Err(e) => return answer(e),
    };
    let reissued = Reissued {
        receiver: id.to_string(),
        link: invitation.link,
    };
    if let Err(e) = session.insert("reissued", &reissued) {
        tracing::warn!(error = %e, "cannot keep the re-issued link for the next page");
    }
    Flash::ok("A new invitation link is ready; the earlier one no longer works.")
        .keep(&session, MESSAGE);
    see_other(&format!("/console/receivers/{id}"))
}

/// `POST /console/receivers/{id}/status`: `state` = `disabled` (asks first: `confirmed=yes`)
/// or `enabled`.
pub async fn set_status(
    ctx: web::Data<AppContext>,
    session: Session,
    id: web::Path<String>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let Ok(id) = id.parse::<ReceiverId>() else {
        return no_such_receiver();
    };
    let disable = match form.get("state").map(String::as_str) {
        Some("disabled") => true,
        Some("enabled") => false,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The receiver was not changed",
                "Choose to disable or to enable it.",
            );
        }
    };
    let back = format!("/console/receivers/{id}");
    if disable && !confirm::confirmed(form.iter()) {
        let name = match receivers::overview(&ctx, who.tenant, id).await {
            Ok(o) => o.receiver.name,
            Err(e) => return answer(e),
        };
        let action = format!("/console/receivers/{id}/status");
        return confirm::ask(
            Home::Console,
            &action,
            form.iter(),
            Ask {
                question: format!("Disable the receiver {name}?"),
                detail: DISABLE_DETAIL,
                yes: "Yes, disable it",
                back,
            },
        );
    }
    match receivers::set_disabled(&ctx, who.tenant, actor(&who), id, disable).await {
        Ok(r) => {
            let text = if disable {
                format!("{} is disabled.", r.name)
            } else {
                format!("{} is enabled again.", r.name)
            };
            Flash::ok(text).keep(&session, MESSAGE);
            see_other(&back)
        }
        Err(e) => answer(e),
    }
}

/// What disabling does, said before it is done.
pub(crate) const DISABLE_DETAIL: &str = "Its client credentials get no more access tokens, \
     the tokens it holds stop working at once, and its people are signed out of the portal. \
     Its streams send nothing meanwhile: their SETs are held and delivered, in order, when you \
     enable it again (each stream is told it is paused, then enabled).";
