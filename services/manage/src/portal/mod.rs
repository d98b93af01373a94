//! The self-service portal of a tenant's receivers (`/portal`): a receiver's people join by
//! the invite link the tenant sent, sign in, create and manage their streams and watch their
//! deliveries. Every stream operation is the SSF stream API's own (`sethub_app::ssf`), called
//! with the receiver the session belongs to, so the portal can do nothing the API would
//! refuse, and refuses what it refuses, with the same messages.
//!
//! Its session cookie (`sethub_portal`, path `/portal`) is apart from the console's; the same
//! CSRF rules hold.

mod credentials;
mod decoder;
mod deliveries;
mod events;
pub(crate) mod join;
mod sso;
mod streams;

use actix_session::{Session, SessionExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use sethub_app::AppContext;
use sethub_app::sessions::Surface;
use sethub_domain::{MemberId, ReceiverId, TenantId};
use sethub_store::{Role, StoreError, Tenant};

use crate::web::{ConsoleSettings, Home, PageError, error_page_of, see_other, unavailable_of};

/// A readable error page whose way back is the portal.
pub(crate) fn error_page(
    status: StatusCode,
    title: &str,
    detail: impl Into<String>,
) -> HttpResponse {
    error_page_of(Home::Portal, status, title, detail)
}

/// The portal's page when a backend does not answer.
pub(crate) fn unavailable() -> HttpResponse {
    unavailable_of(Home::Portal)
}
use crate::web::form::Form;
use sethub_app::ssf::ReceiverCaller;

/// Registers the portal under `/portal`.
pub fn routes(cfg: &mut web::ServiceConfig, settings: &ConsoleSettings) {
    let sessions = settings.sessions(Surface::Portal, "sethub_portal", "/portal");
    cfg.service(
        web::scope("/portal")
            .wrap(actix_web::middleware::from_fn(
                crate::web::form::refuse_nul_in_target,
            ))
            .wrap(sessions)
            .wrap_fn(crate::web::session_unavailable)
            .wrap(crate::web::headers::security_headers())
            .route("", web::get().to(streams::list))
            .route("/", web::get().to(streams::list))
            .route("/t/{slug}/invite/{token}", web::get().to(join::join_page))
            .route("/t/{slug}/invite/{token}", web::post().to(join::join))
            .route("/login", web::get().to(join::login_page))
            .route("/login", web::post().to(join::login))
            .route("/logout", web::post().to(join::logout))
            .route("/logout-all", web::post().to(logout_all))
            .route("/events", web::get().to(events::list))
            .route("/credentials", web::get().to(credentials::show))
            .route("/credentials/rotate", web::post().to(credentials::rotate))
            .route("/sso/settings", web::post().to(sso::save))
            .route("/sso/start", web::post().to(sso::start))
            .route("/sso/callback", web::get().to(sso::callback))
            .route("/streams/{id}/subjects", web::post().to(streams::subjects))
            .route("/streams/{id}/test", web::post().to(events::send_test))
            .route("/decoder", web::get().to(decoder::form))
            .route("/decoder", web::post().to(decoder::decode))
            .route("/streams", web::post().to(streams::create))
            .route("/streams/{id}", web::get().to(streams::show))
            .route("/streams/{id}/live", web::get().to(streams::live))
            .route("/streams/{id}/status", web::post().to(streams::set_status))
            .route("/streams/{id}/verify", web::post().to(streams::verify))
            .route(
                "/streams/{id}/deliveries/{delivery}",
                web::get().to(deliveries::show),
            )
            .route(
                "/streams/{id}/deliveries/{delivery}/send-again",
                web::post().to(deliveries::send_again),
            ),
    );
}

/// The signed-in receiver user. Also an extractor: a handler that takes a `Who` runs only for
/// a signed-in receiver user; anyone else gets the answer [`who`] gives instead.
#[derive(Debug, Clone)]
pub struct Who {
    pub tenant: Tenant,
    pub receiver_id: ReceiverId,
    pub member: MemberId,
    pub email: String,
    pub org: String,
    pub receiver: String,
    pub csrf: String,
}

impl actix_web::FromRequest for Who {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        crate::web::signed_in(req, |ctx, req| async move { who(&ctx, &req).await })
    }
}

impl Who {
    /// Whom the stream operations act for: this user's receiver.
    pub fn caller(&self) -> ReceiverCaller {
        ReceiverCaller {
            tenant: self.tenant.clone(),
            receiver_id: self.receiver_id,
        }
    }
}

/// The signed-in receiver user, or the answer to send instead.
pub async fn who(ctx: &AppContext, req: &HttpRequest) -> Result<Who, HttpResponse> {
    let session = req.get_session();
    let tenant = session
        .get::<String>("tenant")
        .ok()
        .flatten()
        .and_then(|t| t.parse::<TenantId>().ok());
    let member = session
        .get::<String>("member")
        .ok()
        .flatten()
        .and_then(|m| m.parse::<MemberId>().ok());
    let (Some(tenant), Some(member)) = (tenant, member) else {
        return Err(see_other("/portal/login"));
    };
    let scope = ctx.store.scope(tenant);
    let m = match scope.members().get(member).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => {
            session.purge();
            return Err(see_other("/portal/login"));
        }
        Err(e) => {
            return Err(
                PageError::unavailable(Home::Portal, "a member could not be read", e).into(),
            );
        }
    };
    let (Role::Receiver, Some(receiver_id)) = (m.role, m.receiver_id) else {
        return Err(see_other("/portal/login"));
    };
    let t = ctx.store.tenants().get(tenant).await.map_err(|e| {
        PageError::unavailable(Home::Portal, "an organisation could not be read", e)
    })?;
    let r = scope
        .receivers()
        .get(receiver_id)
        .await
        .map_err(|e| PageError::unavailable(Home::Portal, "a receiver could not be read", e))?;
    if r.disabled_at.is_some() {
        // The tenant disabled this receiver: its people are signed out at their next page.
        session.purge();
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Your access is disabled",
            format!(
                "{} has disabled {}: its portal, client credentials and tokens do not work. \
                 Ask {} to enable it again.",
                t.name, r.name, t.name
            ),
        ));
    }
    Ok(Who {
        org: t.name.clone(),
        tenant: t,
        receiver_id,
        member,
        email: m.email,
        receiver: r.name,
        csrf: crate::web::csrf_token(&session),
    })
}

/// The signed-in receiver's stream `id`, read as the SSF API reads it for its caller; else
/// `missing()` (another's stream is not found, exactly as one that does not exist) or the 503
/// page, its cause logged.
pub(crate) async fn stream_of(
    ctx: &AppContext,
    who: &Who,
    id: sethub_domain::StreamId,
    missing: fn() -> HttpResponse,
) -> Result<sethub_store::Stream, HttpResponse> {
    match sethub_app::ssf::streams::get(ctx, &who.caller(), id).await {
        Ok(s) => Ok(s),
        Err(sethub_app::ssf::SsfError::NotFound) => Err(missing()),
        Err(e) => Err(PageError::unavailable(Home::Portal, "a stream could not be read", e).into()),
    }
}

/// The page for a stream that is not the receiver's.
pub(crate) fn not_found() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "No such stream",
        "This stream does not exist, or it is not one of yours.",
    )
}

/// Checks the form's CSRF token against the session.
pub(crate) fn csrf_ok(session: &Session, form: &std::collections::HashMap<String, String>) -> bool {
    crate::web::csrf_ok(session, form.get("csrf"))
}

/// `POST /portal/logout-all`: ends every session of the signed-in user, on every device.
pub async fn logout_all(
    ctx: web::Data<AppContext>,
    who: Who,
    session: Session,
    form: Form<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    if !csrf_ok(&session, &form) {
        return crate::web::csrf_refused();
    }
    crate::web::end_everywhere(&ctx, &session, who.tenant.id, who.member, "/portal/login").await
}
