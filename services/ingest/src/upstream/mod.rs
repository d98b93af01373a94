//! `POST /t/{slug}/sets`: an RFC 8935 push receiver for the tenant's registered upstream
//! transmitters (spec/push.md §receiver). A tenant that already runs a SET transmitter points
//! it here, and sethub fans its SETs out like published events: re-signed under the tenant's
//! issuer, with a new `jti` per stream and the upstream `txn` kept.
//!
//! Checks, in order: `Content-Type: application/secevent+jwt` (else `400 invalid_request`),
//! the tenant (404; a NUL in its path or anywhere in the SET's claims is `400
//! invalid_request`, before anything is looked up), the `iss` (a registered transmitter, else `400 invalid_issuer`), the
//! signature against the transmitter's JWKS (`400 invalid_key`; a JWKS at a URL is fetched
//! again when the `kid` is unknown, at most once per interval), the JOSE `typ`, the `aud`
//! (`400 invalid_audience`) and the SET claims (`400 invalid_request`) with the JOSE core
//! ([`sethub_jose::validate_set`]). Then the tenant's publish rate limit (429), and the
//! event is stored and announced like a published one (`202`, empty body).
//!
//! A SET is stored once per (`iss`, `jti`): a repeat gets `202` again and is not fanned out
//! twice. A refused SET changes nothing.

pub mod jwks;
pub mod poller;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sethub_app::AppContext;
use sethub_app::upstream_rx::{self, Intake};
use sethub_domain::subject::{ParseMode, Subject};
use sethub_domain::{EventId, TenantId};
use sethub_http::nul;
use sethub_jose::{Expectations, Jwks, SetError, validate_set};
use sethub_store::{EventSource, NewEvent, StoreError, Upstream};

use crate::accept::accept_events;
use crate::metrics::Counter;
use jwks::JwksCache;

/// The longest `jti` accepted (it is part of the stored deduplication key).
const MAX_JTI: usize = 256;

fn refuse(status: StatusCode, err: &str, description: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "err": err, "description": description.into() }))
}

fn set_error(e: &SetError) -> HttpResponse {
    HttpResponse::BadRequest()
        .insert_header(("Cache-Control", "no-store"))
        .json(e.to_push_error())
}

/// `503`: the detail goes to the log, the body says only what kind of thing is missing (never
/// a JWKS URL, what it answered, or a database error).
fn unavailable(what: impl std::fmt::Display) -> HttpResponse {
    tracing::warn!(error = %what, "upstream SET not accepted: a backend is unavailable");
    unavailable_body("the service is temporarily unavailable; try again later")
}

/// `503` for keys that cannot be had (a JWKS that cannot be fetched or used, or none
/// registered); the detail goes to the log.
fn keys_unavailable(what: impl std::fmt::Display) -> HttpResponse {
    tracing::warn!(error = %what, "upstream SET not accepted: the transmitter's keys cannot be had");
    unavailable_body("the transmitter's keys cannot be had at the moment; try again later")
}

fn unavailable_body(description: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", "5"))
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "err": "temporarily_unavailable", "description": description }))
}

/// The `iss` of a compact JWS, read before anything is verified (only to find the keys).
fn peek_issuer(token: &str) -> Result<String, String> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or("the body is not a compact JWS (header.payload.signature)")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "the JWS payload is not base64url")?;
    let claims: Value =
        serde_json::from_slice(&bytes).map_err(|_| "the JWS payload is not a JSON object")?;
    // Nothing with a NUL can be looked up or stored (PostgreSQL refuses it in text and jsonb).
    if let Some(at) = nul::in_json(&claims) {
        return Err(format!("the SET's claim `{at}` {}", nul::NUL_REFUSED));
    }
    claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "the SET has no `iss` claim".to_owned())
}

fn is_secevent(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/secevent+jwt"))
}

/// The deduplication key of an upstream SET: its issuer (hashed, so the key stays short) and
/// its `jti`.
fn dedupe_key(issuer: &str, jti: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, issuer.as_bytes());
    let iss = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
    format!("ups:{iss}:{jti}")
}

/// Validates `token` with the transmitter's keys, fetching a JWKS published at a URL again
/// when the SET names a `kid` the cached one lacks.
async fn validate(
    ctx: &AppContext,
    cache: &JwksCache,
    up: &Upstream,
    token: &str,
) -> Result<sethub_jose::ValidatedSet, HttpResponse> {
    let exp = Expectations::new(up.issuer.clone(), up.audience.clone());
    match (&up.jwks, &up.jwks_url) {
        (Some(inline), _) => {
            let keys = Jwks::from_json(inline).map_err(|e| {
                keys_unavailable(format!("the transmitter's inline JWKS is not usable: {e}"))
            })?;
            validate_set(token, &keys, &exp).map_err(|e| set_error(&e))
        }
        (None, Some(url)) => {
            let keys = cache.get(ctx, url, None).await.map_err(keys_unavailable)?;
            match validate_set(token, &keys, &exp) {
                Err(SetError::UnknownKey(Some(kid))) => {
                    let keys = cache
                        .get(ctx, url, Some(&kid))
                        .await
                        .map_err(keys_unavailable)?;
                    validate_set(token, &keys, &exp).map_err(|e| set_error(&e))
                }
                other => other.map_err(|e| set_error(&e)),
            }
        }
        (None, None) => Err(keys_unavailable("the transmitter has no keys registered")),
    }
}

/// `POST /t/{slug}/sets`.
pub async fn receive(
    ctx: web::Data<AppContext>,
    cache: web::Data<JwksCache>,
    counter: web::Data<Counter>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if !is_secevent(&req) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the Content-Type must be application/secevent+jwt",
        );
    }
    let slug = req.match_info().get("slug").unwrap_or_default();
    let Ok(token) = std::str::from_utf8(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not UTF-8 text",
        );
    };
    intake(&ctx, &cache, &counter, slug, token.trim()).await
}

/// One upstream SET for the tenant `slug`, however it came (pushed to `/t/{slug}/sets`, or
/// polled from a subscribed transmitter by [`poller`]): `202` when accepted (or a repeat),
/// else the RFC 8935 refusal (`400 {"err", "description"}`), `404`, `429` or `503`.
pub async fn intake(
    ctx: &AppContext,
    cache: &JwksCache,
    counter: &Counter,
    slug: &str,
    token: &str,
) -> HttpResponse {
    if slug.contains('\0') {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the tenant in the path {}", nul::NUL_REFUSED),
        );
    }
    let (tenant, max_list_items): (TenantId, usize) =
        match ctx.store.tenants().find_by_slug(slug).await {
            Ok(Some(t)) if t.closed_at.is_some() => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "access_denied",
                    sethub_app::closing::publish_refused(slug),
                );
            }
            Ok(Some(t)) => (
                t.id,
                sethub_app::quotas::of_tenant(ctx, &t).subject_list_items as usize,
            ),
            Ok(None) => {
                return refuse(
                    StatusCode::NOT_FOUND,
                    "invalid_request",
                    format!("no tenant `{slug}` here"),
                );
            }
            Err(e) => return unavailable(e),
        };
    let issuer = match peek_issuer(token) {
        Ok(i) => i,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    let scope = ctx.store.scope(tenant);
    let up = match scope.upstreams().by_issuer(&issuer).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => {
            return set_error(&SetError::InvalidIssuer { found: issuer });
        }
        Err(e) => return unavailable(e),
    };
    let set = match validate(ctx, cache, &up, token).await {
        Ok(s) => s,
        Err(refused) => {
            tracing::info!(%tenant, issuer = %up.issuer, "upstream SET refused");
            return refused;
        }
    };
    // The SET parser applies the list ceiling; the tenant's quota is applied here.
    if let Err(e) = Subject::parse_limited(
        &set.sub_id.to_json(),
        ParseMode::Receiving,
        "sub_id",
        max_list_items,
    ) {
        return set_error(&SetError::InvalidSubject(e));
    }
    if set.jti.is_empty() || set.jti.len() > MAX_JTI {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the `jti` must be 1 to {MAX_JTI} characters"),
        );
    }
    // A transmitter sethub subscribed to: its verification and stream-updated SETs are its
    // own business, recorded in the subscription's status and not re-published.
    if up.subscription.is_some() {
        match upstream_rx::on_set(ctx, &up, &set).await {
            Intake::Consumed => return HttpResponse::Accepted().finish(),
            Intake::InvalidState => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_state",
                    "the verification SET's state is not the one sethub sent with its \
                     verification request",
                );
            }
            Intake::Publish => {}
        }
    }
    if let Err(e) = crate::limit::charge(ctx, counter, tenant, 1).await {
        return HttpResponse::from_error(e);
    }
    let mut payload: Map<String, Value> = set.claims.clone();
    payload.insert("events".into(), Value::Object(set.events.clone()));
    let new = NewEvent {
        id: EventId::new(),
        event_types: set.events.keys().cloned().collect(),
        sub_id: Some(set.sub_id.to_json()),
        payload: Value::Object(payload),
        txn: set.txn.clone(),
        toe: set.toe.and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
        source: EventSource::Upstream,
        idempotency_key: Some(dedupe_key(&up.issuer, &set.jti)),
    };
    let result = accept_events(ctx, tenant, vec![new]).await.pop();
    match result {
        Some(Ok(accepted)) => {
            tracing::debug!(%tenant, event = %accepted.event_id, issuer = %up.issuer,
                jti = %set.jti, "upstream SET accepted");
            HttpResponse::Accepted().finish()
        }
        // The same (iss, jti) with other content: still the SET accepted first.
        Some(Err(e)) if e.code() == sethub_http::ErrorCode::Conflict => {
            HttpResponse::Accepted().finish()
        }
        Some(Err(e)) if e.code().status().is_server_error() => unavailable(e),
        Some(Err(e)) => refuse(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()),
        None => unavailable("the store answered nothing"),
    }
}
