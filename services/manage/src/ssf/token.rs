//! The tenant's OAuth 2.0 token endpoint (RFC 6749 §4.4, client credentials): receivers trade
//! their client id and secret for a short-lived bearer access token for the stream API and
//! the poll endpoint. Client authentication by HTTP Basic (`client_secret_basic`) or in the
//! form body (`client_secret_post`); errors in the RFC 6749 §5.2 shape.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;
use sethub_app::AppContext;
use sethub_app::auth::{TokenClaims, TokenKeys};

use sethub_app::ssf::ALL_SCOPES;

use crate::ssf::tenant::TenantPath;

/// Lifetime of an access token, in seconds (SSF/CAEP interop suggests at most an hour).
pub const TOKEN_TTL_SECS: i64 = 900;

#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str, basic: bool) -> HttpResponse {
    let mut resp = HttpResponse::build(status);
    resp.insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        resp.insert_header((
            "WWW-Authenticate",
            if basic {
                "Basic realm=\"sethub\""
            } else {
                "Bearer"
            },
        ));
    }
    resp.json(json!({"error": error, "error_description": description}))
}

/// `client_secret_basic`: `Authorization: Basic base64(urlencoded id ":" urlencoded secret)`.
fn basic_credentials(req: &HttpRequest) -> Option<Result<(String, String), ()>> {
    let header = req.headers().get("Authorization")?.to_str().ok()?;
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    Some((|| {
        let decoded = STANDARD.decode(encoded.trim()).map_err(|_| ())?;
        let text = String::from_utf8(decoded).map_err(|_| ())?;
        let (id, secret) = text.split_once(':').ok_or(())?;
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        Ok((unescape(id).ok_or(())?, unescape(secret).ok_or(())?))
    })())
}

/// Equal-time comparison of two hex digests.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub async fn token(
    ctx: web::Data<AppContext>,
    tenant: TenantPath,
    req: HttpRequest,
    form: Result<web::Form<TokenForm>, actix_web::Error>,
) -> HttpResponse {
    let form = match form {
        Ok(f) => f.into_inner(),
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
                false,
            );
        }
    };
    let basic = basic_credentials(&req);
    let (client_id, secret, used_basic) = match (basic, &form.client_id, &form.client_secret) {
        (Some(Ok(_)), Some(_), Some(_)) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "use one client authentication method, not two",
                false,
            );
        }
        (Some(Ok((id, secret))), _, _) => (id, secret, true),
        (Some(Err(())), _, _) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "malformed Basic credentials",
                true,
            );
        }
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone(), false),
        (None, _, _) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication is required",
                true,
            );
        }
    };
    // A NUL names no client (and PostgreSQL could not be asked): the request is malformed.
    if let Some(name) = [("client_id", &client_id), ("client_secret", &secret)]
        .into_iter()
        .find_map(|(name, v)| v.contains('\0').then_some(name))
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("{name}: {}", sethub_http::nul::NUL_REFUSED),
            false,
        );
    }
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
                false,
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
                false,
            );
        }
    }
    let receiver = match ctx
        .store
        .scope(tenant.0.id)
        .receivers()
        .find_by_client_id(&client_id)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "token endpoint: receiver lookup failed");
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
                false,
            );
        }
    };
    let Some(receiver) = receiver.filter(|r| {
        r.disabled_at.is_none()
            && same(
                &r.client_secret_hash,
                &sethub_app::admin::sha256_hex(&secret),
            )
    }) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
            used_basic,
        );
    };
    let scope = match form
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => ALL_SCOPES.join(" "),
        Some(requested) => {
            let scopes: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
            if let Some(bad) = scopes.iter().find(|s| !ALL_SCOPES.contains(s)) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    &format!("unknown scope `{bad}`"),
                    false,
                );
            }
            scopes.join(" ")
        }
    };
    let now = chrono::Utc::now().timestamp();
    let claims = TokenClaims {
        tnt: tenant.0.id.to_string(),
        rcv: receiver.id.to_string(),
        scope: scope.clone(),
        iat: now,
        exp: now + TOKEN_TTL_SECS,
    };
    let Some(access_token) = TokenKeys::new(&ctx.master_keys).issue(&claims) else {
        tracing::error!("token endpoint: no master key to sign access tokens with");
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
            false,
        );
    };
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_SECS,
            "scope": scope,
        }))
}
