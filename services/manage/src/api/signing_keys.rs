//! `/api/v1/signing-keys`: the tenant's SET signing keys, the JWKS it publishes, and rotation
//! (see `sethub_app::keys` for what `rotate` and `force` mean).

use actix_web::{HttpRequest, get, post, web::Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sethub_app::keys::{self, RotateMode, RotationSummary};
use sethub_http::ApiError;
use sethub_jose::KeySpec;
use utoipa::ToSchema;

use crate::api::Problem;
use crate::api::auth::AdminKey;
use crate::api::body::{Fields, FromFields, JsonBody, context};

/// One signing key (public information only).
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyView {
    #[schema(example = "sig_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f")]
    pub id: String,
    pub kid: String,
    #[schema(example = "ES256")]
    pub alg: String,
    /// The modulus size of an RS256 key (absent for other algorithms).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 2048)]
    pub rsa_bits: Option<u32>,
    /// `next`, `active`, `retiring` or `retired`.
    pub state: String,
    /// Whether the JWKS serves it now.
    pub published: bool,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retiring_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Every key of the tenant and the JWKS published now.
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeysView {
    pub keys: Vec<SigningKeyView>,
    /// The JWKS document (`{"keys": [...]}`).
    #[schema(value_type = Object)]
    pub jwks: serde_json::Value,
}

/// What a rotation did and the key set after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotationView {
    /// `published_next`, `pending` or `promoted`.
    #[schema(example = "published_next")]
    pub action: String,
    pub active_kid: Option<String>,
    pub next_kid: Option<String>,
    /// When a scheduled rotation may promote the next key.
    pub next_ready_at: Option<DateTime<Utc>>,
    pub retiring_kids: Vec<String>,
    pub retired_kids: Vec<String>,
}

impl From<RotationSummary> for RotationView {
    fn from(s: RotationSummary) -> Self {
        Self {
            action: serde_json::to_value(s.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            active_kid: s.active_kid,
            next_kid: s.next_kid,
            next_ready_at: s.next_ready_at,
            retiring_kids: s.retiring_kids,
            retired_kids: s.retired_kids,
        }
    }
}

/// Rotates the signing keys. Empty body: scheduled rotation.
#[derive(Debug, ToSchema)]
pub struct Rotate {
    /// `false` (default): publish a next key, and promote it once it has been published for
    /// 24 h (call again). `true`: promote a next key now; the old key stays published as
    /// retiring for 7 days.
    #[schema(value_type = Option<bool>)]
    pub force: bool,
    /// The algorithm of the new key (`RS256`, `ES256`, `EdDSA`); default: the tenant's
    /// current one. Switching keeps the old key published through the overlap.
    #[schema(value_type = Option<String>, example = "RS256", pattern = "^(RS256|ES256|EdDSA)$")]
    pub alg: Option<String>,
    /// RS256 only: 2048 (default) or 3072. Given without `alg`, the new key is RS256.
    #[schema(
        value_type = Option<u32>,
        minimum = 2048,
        maximum = 3072,
        multiple_of = 1024,
        example = 3072
    )]
    pub rsa_bits: Option<u32>,
    #[schema(ignore)]
    pub spec: Option<KeySpec>,
}

impl FromFields for Rotate {
    fn from_fields(f: &mut Fields) -> Result<Self, ApiError> {
        let force = f.optional("force")?.unwrap_or(false);
        let alg: Option<String> = f.optional("alg")?;
        let rsa_bits: Option<u32> = f.optional("rsa_bits")?;
        let spec = KeySpec::from_options(alg.as_deref(), rsa_bits).map_err(|e| {
            let field = match e {
                sethub_jose::SpecError::UnknownAlg(_) => "alg",
                _ => "rsa_bits",
            };
            ApiError::invalid(field, e.to_string())
        })?;
        Ok(Self {
            force,
            alg,
            rsa_bits,
            spec,
        })
    }
}

/// The tenant's signing keys and its published JWKS.
#[utoipa::path(
    tag = "signing-keys",
    responses(
        (status = 200, description = "The keys and the JWKS", body = SigningKeysView),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/signing-keys")]
pub async fn list_signing_keys(
    req: HttpRequest,
    caller: AdminKey,
) -> Result<Json<SigningKeysView>, ApiError> {
    let ctx = context(&req)?;
    let (infos, jwks) = keys::overview(&ctx, caller.tenant, Utc::now()).await?;
    Ok(Json(SigningKeysView {
        keys: infos
            .into_iter()
            .map(|k| SigningKeyView {
                id: k.id.to_string(),
                kid: k.kid,
                alg: k.alg,
                rsa_bits: k.rsa_bits,
                state: k.state,
                published: k.published,
                created_at: k.created_at,
                activated_at: k.activated_at,
                retiring_at: k.retiring_at,
                retired_at: k.retired_at,
            })
            .collect(),
        jwks: jwks.to_json(),
    }))
}

/// Rotates the signing keys (scheduled, or at once with `force`), optionally to another
/// algorithm (`alg`, `rsa_bits`). A kind of key the tenant's profile forbids is a 409 naming
/// `alg`.
#[utoipa::path(
    tag = "signing-keys",
    request_body(content = Rotate, description = "Optional"),
    responses(
        (status = 200, description = "What changed", body = RotationView),
        (status = 400, description = "Invalid body", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 409, description = "The tenant's profile does not allow this kind of key (`field`: `alg`)", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/signing-keys/rotate")]
pub async fn rotate(
    req: HttpRequest,
    caller: AdminKey,
    body: JsonBody<Rotate>,
) -> Result<Json<RotationView>, ApiError> {
    let ctx = context(&req)?;
    let mode = if body.0.force {
        RotateMode::Now
    } else {
        RotateMode::Scheduled
    };
    let summary = keys::rotate_to(&ctx, caller.tenant, mode, body.0.spec, Utc::now()).await?;
    Ok(Json(summary.into()))
}
