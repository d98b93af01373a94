//! The known-browser cookie: set on a successful password sign-in (or sign-up) at the console
//! or the portal, it lets that browser's later attempts at the same account skip the limits
//! others can exhaust (`sethub_app::signin_limits`). Its tokens are HMACs the server checks;
//! the cookie is HTTP-only, `SameSite=Strict` and scoped to its door's path.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse};
use sethub_app::AppContext;

const COOKIE: &str = "sethub_known";

/// The cookie's value in `req` (empty without one).
pub(crate) fn read(req: &HttpRequest) -> String {
    req.cookie(COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default()
}

/// `resp` with this browser remembered for `member` (a first sign-in from it: sign-up or an
/// accepted invite), at the door at `path`.
pub(crate) fn first_sign_in(
    resp: HttpResponse,
    ctx: &AppContext,
    req: &HttpRequest,
    tenant: sethub_domain::TenantId,
    member: sethub_domain::MemberId,
    path: &'static str,
) -> HttpResponse {
    let value = sethub_app::signin_limits::remember_browser(ctx, &read(req), tenant, member);
    remember(resp, ctx, value, path)
}

/// `resp` with the cookie set to `value` for the door at `path` (`/console` or `/portal`).
pub(crate) fn remember(
    mut resp: HttpResponse,
    ctx: &AppContext,
    value: Option<String>,
    path: &'static str,
) -> HttpResponse {
    let Some(value) = value else { return resp };
    let cookie = Cookie::build(COOKIE, value)
        .path(path)
        .http_only(true)
        // Like the session cookies: `Secure` except in the embedded default (plain HTTP).
        .secure(!ctx.config.backends().is_embedded())
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::days(i64::from(
            ctx.config.signin.known_browser_days,
        )))
        .finish();
    if let Err(e) = resp.add_cookie(&cookie) {
        tracing::warn!(error = %e, "cannot set the known-browser cookie");
    }
    resp
}

/// `resp` with `Retry-After: secs`.
pub(crate) fn retry_after(mut resp: HttpResponse, secs: u64) -> HttpResponse {
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    resp
}
