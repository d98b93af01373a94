//! `/api/v1/api-keys`: the tenant's API keys (publishing and administration). The key itself
//! is shown once, on creation; afterwards only its prefix.

use actix_web::http::StatusCode;
use actix_web::{
    HttpRequest, HttpResponse, delete, get, post,
    web::{Json, Path},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sethub_app::admin::{self, DisplayName, Scope};
use sethub_domain::ApiKeyId;
use sethub_http::ApiError;
use sethub_store::ApiKey;
use utoipa::ToSchema;

use crate::api::auth::AdminKey;
use crate::api::body::{Fields, FromFields, JsonBody, context};
use crate::api::{Problem, no_store};

/// An API key (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    #[schema(example = "key_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f")]
    pub api_key_id: String,
    pub name: String,
    /// The start of the key, to recognise it; not enough to use it.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            api_key_id: k.id.to_string(),
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new API key; `api_key` is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKeyView {
    pub api_key_id: String,
    pub api_key: String,
    pub scopes: Vec<String>,
}

/// Creates an API key.
#[derive(Debug, ToSchema)]
pub struct CreateApiKey {
    /// 1–200 characters; default `api key`.
    #[schema(value_type = Option<String>, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "publisher")]
    pub name: DisplayName,
    /// `events:publish` and/or `admin`; default `["events:publish"]`.
    #[schema(value_type = Option<Vec<ScopeName>>, min_items = 1, example = json!(["events:publish"]))]
    pub scopes: Vec<Scope>,
}

/// A scope an API key may have (the document's name for [`Scope`]).
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only: the server parses `Scope`")]
pub enum ScopeName {
    #[schema(rename = "events:publish")]
    EventsPublish,
    #[schema(rename = "admin")]
    Admin,
}

impl FromFields for CreateApiKey {
    fn from_fields(f: &mut Fields) -> Result<Self, ApiError> {
        let name: Option<String> = f.optional("name")?;
        let name = name
            .as_deref()
            .unwrap_or("api key")
            .parse()
            .map_err(|e: String| ApiError::invalid("name", e))?;
        let scopes: Vec<String> = f
            .optional("scopes")?
            .unwrap_or_else(|| vec![Scope::EventsPublish.as_str().to_owned()]);
        if scopes.is_empty() {
            return Err(ApiError::invalid(
                "scopes",
                "`scopes` needs at least one scope",
            ));
        }
        let scopes = scopes
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<Scope>, String>>()
            .map_err(|e| ApiError::invalid("scopes", e))?;
        Ok(Self { name, scopes })
    }
}

/// Creates an API key.
#[utoipa::path(
    tag = "api-keys",
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "Created; the key is shown only now", body = CreatedApiKeyView),
        (status = 400, description = "Invalid body", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 413, description = "Body over 64 KiB", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/api-keys")]
pub async fn create_api_key(
    req: HttpRequest,
    caller: AdminKey,
    body: JsonBody<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let k = admin::create_api_key(&ctx, caller.tenant, &body.0.name, &body.0.scopes).await?;
    Ok(no_store(StatusCode::CREATED).json(CreatedApiKeyView {
        api_key_id: k.api_key_id.to_string(),
        api_key: k.api_key,
        scopes: k.scopes,
    }))
}

/// The tenant's API keys, revoked ones included, oldest first.
#[utoipa::path(
    tag = "api-keys",
    responses(
        (status = 200, description = "The API keys", body = [ApiKeyView]),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/api-keys")]
pub async fn list_api_keys(
    req: HttpRequest,
    caller: AdminKey,
) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    let ctx = context(&req)?;
    let keys = admin::list_api_keys(&ctx, caller.tenant).await?;
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

/// Revokes an API key at once (revoking it again changes nothing).
#[utoipa::path(
    tag = "api-keys",
    params(("id" = String, Path, description = "API key id (`key_…`)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such API key in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[delete("/api-keys/{id}")]
pub async fn revoke_api_key(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let id: ApiKeyId = id
        .parse()
        .map_err(|_| ApiError::not_found("no API key with this id"))?;
    admin::revoke_api_key(&ctx, caller.tenant, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
