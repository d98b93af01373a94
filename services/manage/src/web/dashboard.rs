//! `GET /console/dashboard`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_domain::StreamStatus;

use super::session::{Who, who};
use super::{error_page, page};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    who: Who,
    active: &'static str,
    first_key: Option<String>,
    issuer: String,
    ingest_url: String,
    streams: usize,
    enabled: usize,
    paused: usize,
    disabled: usize,
    receivers: usize,
    active_keys: usize,
}

pub async fn dashboard(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    session: Session,
) -> HttpResponse {
    let who = match who(&ctx, &req).await {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    let scope = ctx.store.scope(who.tenant);
    let loaded = async {
        Ok::<_, sethub_store::StoreError>((
            scope.streams().list().await?,
            scope.receivers().list().await?,
            scope.api_keys().list().await?,
        ))
    }
    .await;
    let (streams, receivers, keys) = match loaded {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "console: the store cannot answer");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "sethub is unavailable",
                "The database did not answer. Try again in a moment.",
            );
        }
    };
    // The first API key is shown once, right after sign-up.
    let first_key = session
        .remove_as::<String>("first_key")
        .and_then(Result::ok);
    let count = |s: StreamStatus| streams.iter().filter(|x| x.status == s).count();
    page(
        StatusCode::OK,
        &DashboardPage {
            issuer: sethub_app::admin::issuer(&ctx, &who.slug),
            ingest_url: ctx.url(&format!("/t/{}/events", who.slug)),
            who,
            active: "dashboard",
            first_key,
            streams: streams.len(),
            enabled: count(StreamStatus::Enabled),
            paused: count(StreamStatus::Paused),
            disabled: count(StreamStatus::Disabled),
            receivers: receivers.len(),
            active_keys: keys.iter().filter(|k| k.revoked_at.is_none()).count(),
        },
    )
}
