//! `/portal/streams/{id}/deliveries/{delivery}`: one delivery of the receiver's stream, its
//! decoded SET (verified against the tenant's keys) and every attempt; `…/send-again` pushes
//! that one dead delivery again now (`sethub_app::deliveries::send_again`, audited as the
//! receiver's user).

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::deliveries::{self, DeliveryError};
use sethub_domain::StreamId;

use super::{Who, csrf_ok, unavailable};
use crate::ui::{DeliveryBody, Viewer, delivery_body, delivery_path};
use crate::web::confirm::{self, Ask};
use crate::web::flash::Flash;
use crate::web::form::Form;
use crate::web::{Home, csrf_refused, page, see_other};

#[derive(Template)]
#[template(path = "portal_delivery.html")]
struct DeliveryPage {
    who: Who,
    active: &'static str,
    p: DeliveryBody,
}

fn no_such_delivery() -> HttpResponse {
    crate::ui::no_such_delivery(crate::web::Home::Portal)
}

/// The stream, if it is the receiver's: its name.
async fn own_stream(ctx: &AppContext, who: &Who, id: StreamId) -> Result<String, HttpResponse> {
    let s = super::stream_of(ctx, who, id, no_such_delivery).await?;
    Ok(s.description
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| s.id.to_string()))
}

/// `GET /portal/streams/{id}/deliveries/{delivery}`.
pub async fn show(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let Some((stream, id)) = delivery_path(&path) else {
        return no_such_delivery();
    };
    let name = match own_stream(&ctx, &who, stream).await {
        Ok(n) => n,
        Err(answer) => return answer,
    };
    let viewer = Viewer {
        home: crate::web::Home::Portal,
        tenant: who.tenant.id,
        slug: &who.tenant.slug,
        can_write: true,
        csrf: who.csrf.clone(),
    };
    let back = format!("/portal/streams/{stream}");
    let confirm = "Push this SET to your endpoint again now?";
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

/// `POST /portal/streams/{id}/deliveries/{delivery}/send-again`: re-pushes that one dead
/// delivery now.
pub async fn send_again(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    path: web::Path<(String, String)>,
    form: Form<HashMap<String, String>>,
) -> HttpResponse {
    if !csrf_ok(&session, &form) {
        return csrf_refused();
    }
    let Some((stream, id)) = delivery_path(&path) else {
        return no_such_delivery();
    };
    if let Err(answer) = own_stream(&ctx, &who, stream).await {
        return answer;
    }
    if !confirm::confirmed(form.iter()) {
        let back = format!("/portal/streams/{stream}/deliveries/{id}");
        return confirm::ask(
            Home::Portal,
            &format!("{back}/send-again"),
            form.iter(),
            Ask {
                question: "Push this SET to your endpoint again?".into(),
                detail: "The dead SET is pushed again now, the same SET with the same jti.",
                yes: "Yes, send it again",
                back,
            },
        );
    }
    let actor = format!("receiver:{}:member:{}", who.receiver_id, who.member);
    let message = match deliveries::send_again(&ctx, who.tenant.id, stream, id, actor).await {
        Ok(()) => Flash::ok("Sent again: the SET is pushed to your endpoint now."),
        Err(DeliveryError::NotFound) => return no_such_delivery(),
        Err(e @ DeliveryError::NotDead(_)) => Flash::problem(format!("Not sent: {e}.")),
        Err(e) => {
            tracing::warn!(error = %e, "portal: a delivery could not be sent again");
            return unavailable();
        }
    };
    message.keep(&session, "delivery_message");
    see_other(&format!("/portal/streams/{stream}/deliveries/{id}"))
}
