//! `/console/api-keys`: list, create (the key is shown once), revoke. Owners and admins only
//! may create or revoke; the handlers check it.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::admin::{self, DisplayName, Scope};
use sethub_domain::ApiKeyId;

use super::Home;
use super::confirm::{self, Ask};
use super::form::Field;
use super::session::{Change, Who};
use super::{error_page, page, see_other};

/// A key as the page shows it.
struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    scopes: String,
    created_at: String,
    last_used_at: Option<String>,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    who: Who,
    active: &'static str,
    keys: Vec<KeyRow>,
    created: Option<String>,
    message: Option<String>,
    fields: Vec<Field>,
    publish: bool,
    admin: bool,
    scope_error: Option<String>,
}

fn name_field(value: &str) -> Field {
    Field::new("name", "Name", "text")
        .hint("What the key is for, e.g. \"production publisher\".")
        .value(value)
}

async fn render(
    ctx: &AppContext,
    who: Who,
    status: StatusCode,
    created: Option<String>,
    form: Option<(Field, bool, bool, Option<String>)>,
) -> HttpResponse {
    let keys = match admin::list_api_keys(ctx, who.tenant).await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot list API keys");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "sethub is unavailable",
                "The database did not answer. Try again in a moment.",
            );
        }
    };
    let (field, publish, admin, scope_error) =
        form.unwrap_or_else(|| (name_field(""), true, false, None));
    page(
        status,
        &KeysPage {
            who,
            active: "api-keys",
            keys: keys
                .into_iter()
                .map(|k| KeyRow {
                    id: k.id.to_string(),
                    name: k.name,
                    prefix: k.prefix,
                    scopes: k.scopes.join(", "),
                    created_at: k.created_at.to_rfc3339(),
                    last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
                    revoked: k.revoked_at.is_some(),
                })
                .collect(),
            created,
            message: None,
            fields: vec![field],
            publish,
            admin,
            scope_error,
        },
    )
}

/// `GET /console/api-keys`.
pub async fn list(ctx: web::Data<AppContext>, who: Who, session: Session) -> HttpResponse {
    let created = session
        .remove_as::<String>("created_key")
        .and_then(Result::ok);
    render(&ctx, who, StatusCode::OK, created, None).await
}

/// `POST /console/api-keys`: `name`, `scope_publish`, `scope_admin`.
pub async fn create(
    ctx: web::Data<AppContext>,
    session: Session,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let raw_name = form.get("name").map_or("", String::as_str);
    let publish = form.contains_key("scope_publish");
    let admin_scope = form.contains_key("scope_admin");
    let mut field = name_field(raw_name);
    let name = raw_name
        .trim()
        .parse::<DisplayName>()
        .map_err(|m| field.error = Some(m))
        .ok();
    let mut scopes = Vec::new();
    if publish {
        scopes.push(Scope::EventsPublish);
    }
    if admin_scope {
        scopes.push(Scope::Admin);
    }
    let scope_error = scopes
        .is_empty()
        .then(|| "choose at least one scope".to_owned());
    let Some(name) = name.filter(|_| scope_error.is_none()) else {
        return render(
            &ctx,
            who,
            StatusCode::BAD_REQUEST,
            None,
            Some((field, publish, admin_scope, scope_error)),
        )
        .await;
    };
    match admin::create_api_key(&ctx, who.tenant, &name, &scopes).await {
        Ok(created) => {
            // Shown once, on the page the redirect leads to.
            if let Err(e) = session.insert("created_key", &created.api_key) {
                tracing::warn!(error = %e, "cannot keep the new key for the next page");
            }
            see_other("/console/api-keys")
        }
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot create an API key");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "sethub is unavailable",
                "The key was not created. Try again in a moment.",
            )
        }
    }
}

/// `POST /console/api-keys/{id}/revoke`.
pub async fn revoke(
    ctx: web::Data<AppContext>,
    id: web::Path<String>,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let Ok(id) = id.parse::<ApiKeyId>() else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No such key",
            "This API key does not exist.",
        );
    };
    if !confirm::confirmed(form.iter()) {
        let keys = match admin::list_api_keys(&ctx, who.tenant).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "console: cannot list API keys");
                return super::unavailable();
            }
        };
        let Some(key) = keys.into_iter().find(|k| k.id == id) else {
            return error_page(
                StatusCode::NOT_FOUND,
                "No such key",
                "This API key does not exist.",
            );
        };
        let action = format!("/console/api-keys/{id}/revoke");
        return confirm::ask(
            Home::Console,
            &action,
            form.iter(),
            Ask {
                question: format!("Revoke the API key {}?", key.name),
                detail: "Software using it is refused at once. A revoked key cannot be used again.",
                yes: "Yes, revoke it",
                back: "/console/api-keys".into(),
            },
        );
    }
    match admin::revoke_api_key(&ctx, who.tenant, id).await {
        Ok(_) => see_other("/console/api-keys"),
        Err(admin::AdminError::NotFound(_)) => error_page(
            StatusCode::NOT_FOUND,
            "No such key",
            "This API key does not exist.",
        ),
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot revoke an API key");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "sethub is unavailable",
                "The key was not revoked. Try again in a moment.",
            )
        }
    }
}
