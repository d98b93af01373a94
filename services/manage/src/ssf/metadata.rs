//! Transmitter configuration metadata (SSF §3) at the path-insertion location
//! `/.well-known/ssf-configuration/t/{slug}`: one issuer per tenant.

use actix_web::{HttpResponse, web};
use serde_json::json;
use sethub_app::AppContext;

use sethub_app::ssf::streams::issuer;

use crate::ssf::tenant::TenantPath;

pub async fn metadata(ctx: web::Data<AppContext>, tenant: TenantPath) -> HttpResponse {
    let slug = &tenant.0.slug;
    let base = issuer(&ctx, slug);
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(json!({
            "spec_version": "1_0",
            "issuer": base,
            "jwks_uri": format!("{base}/jwks.json"),
            "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
            "configuration_endpoint": format!("{base}/ssf/stream"),
            "status_endpoint": format!("{base}/ssf/status"),
            "add_subject_endpoint": format!("{base}/ssf/subjects:add"),
            "remove_subject_endpoint": format!("{base}/ssf/subjects:remove"),
            "verification_endpoint": format!("{base}/ssf/verify"),
            "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
            "default_subjects": "ALL",
            // Not an SSF member (others MAY appear): where receivers get access tokens.
            "token_endpoint": format!("{base}/oauth/token"),
        }))
}

/// The tenant's published signing keys (`jwks_uri`): the active key, a next key published
/// ahead of its use, and retiring keys kept for the overlap.
pub async fn jwks(ctx: web::Data<AppContext>, tenant: TenantPath) -> HttpResponse {
    match sethub_app::keys::jwks(&ctx, tenant.0.id, chrono::Utc::now()).await {
        Ok(set) => HttpResponse::Ok()
            .content_type("application/jwk-set+json")
            .insert_header(("Cache-Control", "public, max-age=300"))
            .json(set),
        Err(e) => {
            tracing::error!(error = %e, tenant = %tenant.0.id, "cannot load the JWKS");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .json(json!({"error": "temporarily_unavailable", "error_description": "the key set cannot be read now"}))
        }
    }
}
