//! The tenant REST API at `/api/v1`: a tenant's administrators (API keys with the `admin`
//! scope) manage receivers, API keys, signing keys and streams, and read the usage. JSON in and out, RFC 9457 problem
//! bodies with stable codes on errors, and an OpenAPI 3 document generated from the handlers
//! at `GET /api/v1/openapi.json`.

pub mod api_keys;
pub mod auth;
pub mod body;
pub mod delivery_settings;
mod openapi_exact;
pub mod receivers;
pub mod recovery;
pub mod signing_keys;
pub mod streams;
mod tenant;
pub mod upstreams;
mod usage;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, get, web};
use serde::Serialize;
use sethub_http::ApiError;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_actix_web::OpenApiFactory;

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";

/// An error body (RFC 9457 problem details, `application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "https://sethub.dev/problems/invalid_request")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable, machine-readable: `invalid_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `payload_too_large`, `unsupported_media_type`, ...
    pub code: String,
    pub detail: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sethub tenant API",
        description = "Administer one tenant of sethub: receivers, API keys, signing keys, streams and deliveries, and read its usage. \
                       Authenticate with an API key that has the `admin` scope: \
                       `Authorization: Bearer sh_…`."
    ),
    components(schemas(Problem)),
    modifiers(&BearerApiKey)
)]
struct ApiDoc;

struct BearerApiKey;

impl Modify for BearerApiKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("sethub API key (sh_…)".to_owned());
        components.add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// The documented routes. Built twice (for the document and to serve): cheap, and the
/// document can never list a route that is not served or miss one that is.
fn scope() -> utoipa_actix_web::scope::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    utoipa_actix_web::scope(PREFIX)
        .service(tenant::get_tenant)
        .service(tenant::put_profile)
        .service(tenant::close_tenant)
        .service(tenant::reopen_tenant)
        .service(receivers::create_receiver)
        .service(receivers::list_receivers)
        .service(receivers::get_receiver)
        .service(receivers::disable_receiver)
        .service(receivers::enable_receiver)
        .service(receivers::reissue_invitation)
        .service(api_keys::create_api_key)
        .service(api_keys::list_api_keys)
        .service(api_keys::revoke_api_key)
        .service(signing_keys::list_signing_keys)
        .service(signing_keys::rotate)
        .service(streams::list_streams)
        .service(streams::get_stream)
        .service(streams::delete_stream)
        .service(streams::set_stream_status)
        .service(streams::list_deliveries)
        .service(streams::list_attempts)
        .service(streams::get_delivery)
        .service(recovery::redrive)
        .service(recovery::replay)
        .service(recovery::list_audit)
        .service(upstreams::create_upstream)
        .service(upstreams::list_upstreams)
        .service(upstreams::delete_upstream)
        .service(delivery_settings::get_tenant_settings)
        .service(delivery_settings::put_tenant_settings)
        .service(delivery_settings::put_stream_settings)
        .service(usage::get_usage)
        .service(openapi_json)
}

/// The OpenAPI 3 document of this API, as served.
pub fn openapi() -> serde_json::Value {
    openapi_exact::as_served(generated())
}

/// The document the handlers' annotations make.
fn generated() -> utoipa::openapi::OpenApi {
    let scope = scope();
    let mut doc = ApiDoc::openapi();
    doc.paths.merge(scope.paths());
    let mut schemas = Vec::new();
    scope.schemas(&mut schemas);
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);
    doc
}

/// The OpenAPI document, as JSON.
#[utoipa::path(
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document of this API", content_type = "application/json"))
)]
#[get("/openapi.json")]
async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

struct OpenApiJson(String);

/// The documented path templates (split at `/`) and their methods, upper case.
struct KnownRoutes(Vec<(Vec<String>, Vec<String>)>);

impl KnownRoutes {
    fn of(doc: &utoipa::openapi::OpenApi) -> Self {
        let value = serde_json::to_value(doc).unwrap_or_default();
        let routes = value["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, item)| {
                        let methods = item
                            .as_object()
                            .map(|m| m.keys().map(|k| k.to_uppercase()).collect())
                            .unwrap_or_default();
                        (path.split('/').map(str::to_owned).collect(), methods)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self(routes)
    }

    /// The methods of the documented route `path` matches (`{…}` matches any segment).
    fn methods(&self, path: &str) -> Option<&[String]> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .find(|(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| {
                        t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                    })
            })
            .map(|(_, methods)| methods.as_slice())
    }
}

/// Anything else under `/api/v1`: a problem body, not an empty 404; a documented path with
/// another method is a 405 with `Allow`.
async fn unknown_route(req: HttpRequest) -> HttpResponse {
    let allowed = req
        .app_data::<web::Data<KnownRoutes>>()
        .and_then(|known| known.methods(req.path()).map(|m| m.join(", ")));
    match allowed {
        Some(allow) => {
            let mut resp = actix_web::ResponseError::error_response(&ApiError::new(
                sethub_http::ErrorCode::MethodNotAllowed,
                format!(
                    "{} is not allowed on {} (allowed: {allow})",
                    req.method(),
                    req.path()
                ),
            ));
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
                resp.headers_mut()
                    .insert(actix_web::http::header::ALLOW, value);
            }
            resp
        }
        None => actix_web::ResponseError::error_response(&ApiError::not_found(format!(
            "no route {} {} in the tenant API (see {PREFIX}/openapi.json)",
            req.method(),
            req.path()
        ))),
    }
}

/// Registers the REST API (mounted by `sethub_manage::routes`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    let known = KnownRoutes::of(&generated());
    let doc = openapi().to_string();
    cfg.service(
        scope()
            .app_data(web::Data::new(OpenApiJson(doc)))
            .app_data(web::Data::new(known))
            .default_service(web::to(unknown_route)),
    );
}

/// A response builder with `Cache-Control: no-store`, for bodies that carry a secret.
pub(crate) fn no_store(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"));
    b
}
