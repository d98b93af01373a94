//! Security headers on every console and portal response (pages, errors, static files): a
//! Content-Security-Policy that lets the pages load only sethub's own stylesheet and script
//! (no inline script or style anywhere in `web-ui/`), post forms only to sethub, and never be
//! framed; no MIME sniffing; no referrer sent to other sites (invite links and single
//! sign-on answers carry secrets in their URLs).
//!
//! `form-action 'self'` also governs the redirects that follow a form post, so "Continue with
//! single sign-on" answers with a page that moves on to the provider by itself (a meta
//! refresh, with a link) rather than with a redirect the browser would refuse.

use actix_web::middleware::DefaultHeaders;

/// The policy of every console and portal page.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The headers, for `.wrap(…)` on the console's and the portal's scope.
pub(crate) fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
}
