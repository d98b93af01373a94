//! `/console/upstreams`: the tenant's upstream SET transmitters; register one (the tenant
//! API's rules and messages, beside the fields) or remove one (both audited).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;
use sethub_app::AppContext;
use sethub_domain::UpstreamId;

use super::Home;
use super::PageError;
use super::confirm::{self, Ask};
use super::form::Field;
use super::session::{Change, Who, who};
use super::{error_page, page, see_other, unavailable};
use sethub_app::upstreams::{NewTransmitter, UpstreamError, register, remove};

struct Row {
    id: String,
    issuer: String,
    audience: String,
    keys: String,
    /// For a transmitter sethub subscribed to: delivery, state, last SET, last verification
    /// and last error, in words.
    subscription: Option<String>,
}

/// A subscription's status in words, e.g. `push · enabled · last SET 2026-12-07 10:00:00 UTC
/// · verified 2026-12-07 09:59:58 UTC`.
fn subscription_text(u: &sethub_store::Upstream) -> Option<String> {
    let sub = u.subscription.as_ref()?;
    let status = u.status.clone().unwrap_or_default();
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "never".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
    };
    let mut words = vec![
        sub.delivery.clone(),
        status.state.clone(),
        format!("stream {}", sub.stream_id),
        format!("last SET {}", when(status.last_set_at)),
        format!("verified {}", when(status.last_verification_at)),
    ];
    if let Some(e) = &status.last_error {
        words.push(format!("last error: {e}"));
    }
    Some(words.join(" · "))
}

#[derive(Template)]
#[template(path = "upstreams.html")]
struct UpstreamsPage {
    who: Who,
    active: &'static str,
    sets_url: String,
    upstreams: Vec<Row>,
    fields: Vec<Field>,
    jwks: String,
    jwks_error: Option<String>,
    message: Option<String>,
}

fn fields(form: &HashMap<String, String>) -> Vec<Field> {
    let v = |k: &str| form.get(k).map_or("", String::as_str);
    vec![
        Field::new("issuer", "Issuer (iss of its SETs)", "text").value(v("issuer")),
        Field::new("audience", "Audience its SETs name (aud)", "text").value(v("audience")),
        Field::new("jwks_url", "JWKS URL", "text")
            .hint("Where its keys are published; or give them inline below.")
            .value(v("jwks_url")),
    ]
}

async fn render(
    ctx: &AppContext,
    who: Who,
    status: StatusCode,
    form: &HashMap<String, String>,
    error: Option<(String, String)>,
) -> HttpResponse {
    let Ok(list) = ctx.store.scope(who.tenant).upstreams().list().await else {
        return unavailable();
    };
    let mut f = fields(form);
    let (mut jwks_error, mut message) = (None, None);
    if let Some((field, detail)) = error {
        match f.iter_mut().find(|x| x.name == field) {
            Some(x) => x.error = Some(detail),
            None if field == "jwks" => jwks_error = Some(detail),
            None => message = Some(detail),
        }
    }
    page(
        status,
        &UpstreamsPage {
            sets_url: ctx.url(&format!("/t/{}/sets", who.slug)),
            who,
            active: "upstreams",
            upstreams: list
                .into_iter()
                .map(|u| Row {
                    subscription: subscription_text(&u),
                    id: u.id.to_string(),
                    issuer: u.issuer,
                    audience: u.audience,
                    keys: u.jwks_url.unwrap_or_else(|| "inline JWKS".into()),
                })
                .collect(),
            fields: f,
            jwks: form.get("jwks").cloned().unwrap_or_default(),
            jwks_error,
            message,
        },
    )
}

/// `GET /console/upstreams`.
pub async fn list(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    match who(&ctx, &req).await {
        Ok(w) => render(&ctx, w, StatusCode::OK, &HashMap::new(), None).await,
        Err(answer) => answer,
    }
}

/// `POST /console/upstreams`: `issuer`, `audience`, `jwks_url` or `jwks`.
pub async fn create(
    ctx: web::Data<AppContext>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    // Empty fields are absent; the JWKS is JSON text.
    let given = |k: &str| form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let jwks = match given("jwks").map(serde_json::from_str::<Value>).transpose() {
        Ok(j) => j,
        Err(e) => {
            let err = Some(("jwks".to_owned(), format!("not JSON: {e}")));
            return render(&ctx, who, StatusCode::BAD_REQUEST, &form, err).await;
        }
    };
    let new = NewTransmitter::new(
        given("issuer").unwrap_or(""),
        given("audience").unwrap_or(""),
        given("jwks_url").map(str::to_owned),
        jwks,
    );
    let result = match new {
        Ok(new) => register(&ctx, who.tenant, new, format!("member:{}", who.member)).await,
        Err(e) => Err(e),
    };
    let refusal = match result {
        Ok(_) => return see_other("/console/upstreams"),
        Err(UpstreamError::Invalid { field, detail }) => (field.to_owned(), detail),
        Err(e @ UpstreamError::IssuerTaken) => ("issuer".to_owned(), e.to_string()),
        Err(e) => {
            return PageError::unavailable(Home::Console, "an upstream could not be saved", e)
                .into();
        }
    };
    render(&ctx, who, StatusCode::BAD_REQUEST, &form, Some(refusal)).await
}

/// `POST /console/upstreams/{id}/delete`.
pub async fn delete(
    ctx: web::Data<AppContext>,
    id: web::Path<String>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let missing = || {
        error_page(
            StatusCode::NOT_FOUND,
            "No such transmitter",
            "It is not registered.",
        )
    };
    let Ok(id) = id.parse::<UpstreamId>() else {
        return missing();
    };
    if !confirm::confirmed(form.iter()) {
        let issuer = match ctx.store.scope(who.tenant).upstreams().list().await {
            Ok(all) => match all.into_iter().find(|u| u.id == id) {
                Some(u) => u.issuer,
                None => return missing(),
            },
            Err(e) => {
                tracing::warn!(error = %e, "console: cannot list upstream transmitters");
                return unavailable();
            }
        };
        let action = format!("/console/upstreams/{id}/delete");
        return confirm::ask(
            Home::Console,
            &action,
            form.iter(),
            Ask {
                question: format!("Remove the transmitter {issuer}?"),
                detail: "sethub stops accepting its SETs at once. Its stream at the transmitter \
                         is not deleted (the CLI's remove does both).",
                yes: "Yes, remove it",
                back: "/console/upstreams".into(),
            },
        );
    }
    match remove(&ctx, who.tenant, id, format!("member:{}", who.member)).await {
        Ok(()) => see_other("/console/upstreams"),
        Err(UpstreamError::NotFound) => missing(),
        Err(e) => {
            PageError::unavailable(Home::Console, "an upstream could not be removed", e).into()
        }
    }
}
