//! Who is signed in, and the CSRF token of the session.
//!
//! The session (kept on the server, `session_store.rs`; the cookie holds only its id) holds
//! the tenant, the member and a CSRF token; the member is read again on each request, and
//! removing a member or changing their role ends their sessions. A session without a member
//! (before sign-in) still has a CSRF token, for the sign-in and sign-up forms.

use actix_session::{Session, SessionExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use sethub_app::AppContext;
use sethub_domain::{MemberId, TenantId};
use sethub_store::{Role, StoreError};

use super::form::Form;
use super::{error_page, see_other};

pub(crate) const TENANT: &str = "tenant";
pub(crate) const MEMBER: &str = "member";
const CSRF: &str = "csrf";

/// The signed-in member, as the pages need it. Also an extractor: a handler that takes a
/// `Who` runs only for a signed-in member; anyone else gets the answer [`who`] gives instead
/// (the sign-in page, or the 503 page).
#[derive(Debug, Clone)]
pub struct Who {
    pub tenant: TenantId,
    pub member: MemberId,
    pub email: String,
    pub org: String,
    pub slug: String,
    pub role: Role,
    /// The role may change things and the organisation is open.
    pub can_write: bool,
    pub csrf: String,
    /// When the organisation's data is deleted, if it is closed (RFC 3339): every page says
    /// so, and only reopening changes anything.
    pub closed: Option<String>,
}

impl actix_web::FromRequest for Who {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        crate::web::signed_in(req, |ctx, req| async move { who(&ctx, &req).await })
    }
}

/// The session's CSRF token, made on first use.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(t)) = session.get::<String>(CSRF) {
        return t;
    }
    let mut bytes = [0u8; 32];
    let token = match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes) {
        Ok(()) => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        // No randomness: no token, so every form is refused rather than guessable.
        Err(_) => String::new(),
    };
    if let Err(e) = session.insert(CSRF, &token) {
        tracing::warn!(error = %e, "cannot store the CSRF token in the session");
    }
    token
}

/// Whether a submitted form carries the session's CSRF token (compared in constant time).
pub fn csrf_ok(session: &Session, submitted: Option<&String>) -> bool {
    let Ok(Some(expected)) = session.get::<String>(CSRF) else {
        return false;
    };
    let Some(submitted) = submitted else {
        return false;
    };
    let (a, b) = (expected.as_bytes(), submitted.as_bytes());
    // Constant time in the content (the length of a token is no secret).
    !a.is_empty() && a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The page a form without a valid CSRF token gets (nothing was changed).
pub fn csrf_refused() -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "For your safety nothing was changed. Go back, reload the page and send the form again.",
    )
}

/// Starts a signed-in session (a new session id, so a session fixed before sign-in is not
/// carried over).
pub fn sign_in(session: &Session, tenant: TenantId, member: MemberId) {
    session.renew();
    let _ = session.remove(CSRF);
    if let Err(e) = session
        .insert(TENANT, tenant.to_string())
        .and_then(|()| session.insert(MEMBER, member.to_string()))
    {
        tracing::warn!(error = %e, "cannot write the console session");
    }
}

/// The signed-in member, or the answer to send instead (to the sign-in page).
pub async fn who(ctx: &AppContext, req: &HttpRequest) -> Result<Who, HttpResponse> {
    let session = req.get_session();
    let ids = (
        session.get::<String>(TENANT).ok().flatten(),
        session.get::<String>(MEMBER).ok().flatten(),
    );
    let (Some(tenant), Some(member)) = (
        ids.0.and_then(|t| t.parse::<TenantId>().ok()),
        ids.1.and_then(|m| m.parse::<MemberId>().ok()),
    ) else {
        return Err(see_other("/console/login"));
    };
    let unavailable = |e: StoreError| {
        tracing::warn!(error = %e, "console: the store cannot answer");
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "sethub is unavailable",
            "The database did not answer. Try again in a moment.",
        )
    };
    let m = match ctx.store.scope(tenant).members().get(member).await {
        Ok(m) if m.role != Role::Receiver => m,
        Ok(_) => return Err(see_other("/console/login")),
        Err(StoreError::NotFound) => {
            session.purge();
            return Err(see_other("/console/login"));
        }
        Err(e) => return Err(unavailable(e)),
    };
    let t = ctx.store.tenants().get(tenant).await.map_err(unavailable)?;
    Ok(Who {
        tenant,
        member,
        email: m.email,
        org: t.name,
        slug: t.slug,
        role: m.role,
        can_write: m.role.can_write() && t.closed_at.is_none(),
        csrf: csrf_token(&session),
        closed: t
            .closed_at
            .map(|at| t.purge_after.unwrap_or(at).to_rfc3339()),
    })
}

/// A change asked for by a signed-in member who may write: the submitted form (refused for a
/// NUL in any field, as [`Form`] reads it) once its CSRF token matches the session's and the
/// member's role may change things, as [`writer`] checks. An extractor: a handler that takes a
/// `Change` runs only then; anyone else gets the answer `writer` gives instead (the sign-in
/// page, 403 for the token, 403 for a viewer).
pub struct Change<T> {
    pub who: Who,
    pub form: T,
}

impl<T: FromIterator<(String, String)> + 'static> actix_web::FromRequest for Change<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let form = Form::<Vec<(String, String)>>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let fields = form.await?.into_inner();
            let csrf = fields
                .iter()
                .find(|(k, _)| k == CSRF)
                .map(|(_, v)| v.clone());
            let who = crate::web::signed_in(&req, move |ctx, req| async move {
                writer(&ctx, &req, &req.get_session(), csrf.as_ref()).await
            })
            .await?;
            Ok(Self {
                who,
                form: fields.into_iter().collect(),
            })
        })
    }
}

/// For a handler that changes something: the signed-in member, once the form's CSRF token
/// matches the session's and the member's role may change things; else the answer to send
/// (sign-in page, 403 for the token, 403 for a viewer).
pub async fn writer(
    ctx: &AppContext,
    req: &HttpRequest,
    session: &Session,
    csrf: Option<&String>,
) -> Result<Who, HttpResponse> {
    let who = who(ctx, req).await?;
    if !csrf_ok(session, csrf) {
        return Err(csrf_refused());
    }
    if who.closed.is_some() {
        return Err(closed_refused());
    }
    if !who.can_write {
        return Err(read_only());
    }
    Ok(who)
}

/// A refusal for a change to a closed organisation (only reopening is allowed).
pub fn closed_refused() -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "This organisation is closed",
        "Nothing can be changed while it is closed. An owner can reopen it on the \
         Organisation page (Settings → Organisation) until its data is deleted.",
    )
}

/// A refusal for a viewer who tried to change something (the server decides, not the page).
pub fn read_only() -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "You can look, not change",
        "Your role is viewer: an owner or an admin of your organisation can make this change.",
    )
}

/// `GET /console`: the dashboard when signed in, else the sign-in page.
pub async fn home(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    match who(&ctx, &req).await {
        Ok(_) => see_other("/console/dashboard"),
        Err(answer) => answer,
    }
}

/// `POST /console/logout-all`: ends every session of the signed-in member, on every device
/// (this one too). Any role may.
pub async fn logout_all(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    form: Form<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    end_everywhere(&ctx, &session, who.tenant, who.member, "/console/login").await
}

/// Ends every session of a member and this one, then sends to `login` (console or portal).
pub(crate) async fn end_everywhere(
    ctx: &AppContext,
    session: &Session,
    tenant: TenantId,
    member: MemberId,
    login: &str,
) -> HttpResponse {
    match sethub_app::sessions::end_all(ctx, tenant, member).await {
        Ok(_) => {
            session.purge();
            see_other(login)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot end the member's sessions");
            super::unavailable()
        }
    }
}
