//! `/console/receivers`: the tenant's receivers, and inviting one (its client credentials,
//! shown once, and a one-time link to its portal).

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};
use sethub_app::AppContext;
use sethub_app::admin::{self, DisplayName};
use sethub_app::console;

use super::form::{EditForm, Field};
use super::session::{Who, writer};
use super::{page, see_other, unavailable};

struct Row {
    id: String,
    name: String,
    disabled: bool,
    client_id: String,
    streams: usize,
    created_at: String,
}

/// What the page after an invite shows once.
#[derive(Serialize, Deserialize)]
struct Invited {
    name: String,
    link: String,
    client_id: String,
    client_secret: String,
}

#[derive(Template)]
#[template(path = "receivers.html")]
struct ReceiversPage {
    who: Who,
    active: &'static str,
    receivers: Vec<Row>,
    invited: Option<Invited>,
    invite_hours: i64,
    fields: Vec<Field>,
}

fn name_field(v: &str) -> Field {
    Field::new("name", "Receiver name", "text")
        .hint("The organisation that will receive your events.")
        .value(v)
}

async fn render(
    ctx: &AppContext,
    who: Who,
    status: StatusCode,
    invited: Option<Invited>,
    field: Field,
) -> HttpResponse {
    let scope = ctx.store.scope(who.tenant);
    let loaded = async {
        Ok::<_, sethub_store::StoreError>((
            scope.receivers().list().await?,
            scope.streams().list().await?,
        ))
    }
    .await;
    let Ok((receivers, streams)) = loaded else {
        return unavailable();
    };
    page(
        status,
        &ReceiversPage {
            who,
            active: "receivers",
            receivers: receivers
                .into_iter()
                .map(|r| Row {
                    id: r.id.to_string(),
                    disabled: r.disabled_at.is_some(),
                    streams: streams.iter().filter(|s| s.receiver_id == r.id).count(),
                    name: r.name,
                    client_id: r.client_id,
                    created_at: r.created_at.to_rfc3339(),
                })
                .collect(),
            invited,
            invite_hours: console::invite_lifetime(ctx).num_hours(),
            fields: vec![field],
        },
    )
}

/// `GET /console/receivers`.
pub async fn list(ctx: web::Data<AppContext>, who: Who, session: Session) -> HttpResponse {
    let invited = session.remove_as::<Invited>("invited").and_then(Result::ok);
    render(&ctx, who, StatusCode::OK, invited, name_field("")).await
}

/// `POST /console/receivers`: `name`.
pub async fn invite(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    session: Session,
    form: EditForm<HashMap<String, String>>,
) -> HttpResponse {
    let who = match writer(&ctx, &req, &session, form.get("csrf")).await {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    let raw = form.get("name").map_or("", String::as_str);
    let parsed = match form.nul_error(&["name"]) {
        Ok(None) => raw.trim().parse::<DisplayName>(),
        Ok(Some(e)) => Err(e.message),
        Err(refused) => return refused.into(),
    };
    let name = match parsed {
        Ok(n) => n,
        Err(m) => {
            let mut f = name_field(raw);
            f.error = Some(m);
            return render(&ctx, who, StatusCode::BAD_REQUEST, None, f).await;
        }
    };
    let created = match admin::create_receiver(&ctx, who.tenant, &name).await {
        Ok(c) => c,
        Err(admin::AdminError::Store(e @ sethub_store::StoreError::QuotaExceeded { .. })) => {
            let mut f = name_field(raw);
            f.error = Some(format!("Not invited: {e}. Ask the operator to raise it."));
            return render(&ctx, who, StatusCode::FORBIDDEN, None, f).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot create a receiver");
            return unavailable();
        }
    };
    let token = match console::invite_receiver(&ctx, who.tenant, created.receiver_id).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot make an invite");
            return unavailable();
        }
    };
    let invited = Invited {
        name: name.to_string(),
        link: sethub_app::receivers::invitation_link(&ctx, &who.slug, &token),
        client_id: created.client_id,
        client_secret: created.client_secret,
    };
    if let Err(e) = session.insert("invited", &invited) {
        tracing::warn!(error = %e, "cannot keep the invite for the next page");
    }
    see_other("/console/receivers")
}
