//! `/console/streams/{id}/deliveries/{delivery}`: one delivery of a stream, its decoded SET
//! (verified against the tenant's keys) and every attempt; `…/send-again` redrives that one
//! dead delivery (`sethub_app::deliveries::send_again`, audited as the member).

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::deliveries::{self, DeliveryError};
use sethub_store::StoreError;

use super::Home;
use super::PageError;
use super::confirm::{self, Ask};
use super::flash::Flash;
use super::session::{Change, Who};
use super::{page, see_other, unavailable};
use crate::ui::{DeliveryBody, Viewer, delivery_body, delivery_path};

#[derive(Template)]
#[template(path = "delivery.html")]
struct DeliveryPage {
    who: Who,
    active: &'static str,
    p: DeliveryBody,
}

fn no_such_delivery() -> HttpResponse {
    crate::ui::no_such_delivery(super::Home::Console)
}

/// `GET /console/streams/{id}/deliveries/{delivery}`.
pub async fn show(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let Some((stream, id)) = delivery_path(&path) else {
        return no_such_delivery();
    };
    let name = match ctx.store.scope(who.tenant).streams().get(stream).await {
        Ok(s) => super::streams::name_of(&s),
        Err(StoreError::NotFound) => return no_such_delivery(),
        Err(e) => {
            return PageError::unavailable(
                Home::Console,
                "a delivery's stream could not be read",
                e,
            )
            .into();
        }
    };
    let viewer = Viewer {
        home: super::Home::Console,
        tenant: who.tenant,
        slug: &who.slug,
        can_write: who.can_write,
        csrf: who.csrf.clone(),
    };
    let back = format!("/console/streams/{stream}");
    let confirm = "Send this SET to the receiver again now?";
    match delivery_body(&ctx, viewer, (stream, id), (name, back), &session, confirm).await {
        Ok(p) => page(
            StatusCode::OK,
            &DeliveryPage {
                p,
                who,
                active: "streams",
            },
        ),
        Err(answer) => answer,
    }
}

/// `POST /console/streams/{id}/deliveries/{delivery}/send-again`: redrives that one dead
/// delivery.
pub async fn send_again(
    ctx: web::Data<AppContext>,
    session: Session,
    path: web::Path<(String, String)>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let Some((stream, id)) = delivery_path(&path) else {
        return no_such_delivery();
    };
    if !confirm::confirmed(form.iter()) {
        let action = format!("/console/streams/{stream}/deliveries/{id}/send-again");
        return confirm::ask(
            Home::Console,
            &action,
            form.iter(),
            Ask {
                question: "Send this SET again?".into(),
                detail: "The dead SET is pushed (or offered to the poller) again now, the same \
                         SET with the same jti; the redrive is written to the audit log.",
                yes: "Yes, send it again",
                back: format!("/console/streams/{stream}/deliveries/{id}"),
            },
        );
    }
    let actor = format!("member:{}", who.member);
    let message = match deliveries::send_again(&ctx, who.tenant, stream, id, actor).await {
        Ok(()) => Flash::ok("Sent again: the SET is pushed (or offered) to the receiver now."),
        Err(DeliveryError::NotFound) => return no_such_delivery(),
        Err(e @ DeliveryError::NotDead(_)) => Flash::problem(format!("Not sent: {e}.")),
        Err(DeliveryError::Recovery(e)) if e.is_not_found() => return no_such_delivery(),
        Err(e) => {
            tracing::warn!(error = %e, "a delivery could not be sent again");
            return unavailable();
        }
    };
    message.keep(&session, "delivery_message");
    see_other(&format!("/console/streams/{stream}/deliveries/{id}"))
}
