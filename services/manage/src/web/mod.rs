//! The web console for tenants (`/console`), rendered on the server from `web-ui/` (askama
//! templates, one stylesheet, a few lines of script). Sessions live in the state store
//! (`session_store.rs`), the cookie holding only their id (encrypted and signed with a key
//! derived from the master key); every form carries the session's CSRF token;
//! sign-in attempts are rate-limited (`sethub_app::console`). Viewers see everything and
//! change nothing: each changing handler checks the role itself.

mod api_keys;
pub(crate) mod confirm;
mod dashboard;
mod deliveries;
mod events;
pub(crate) use events::subject_text;
pub mod flash;
pub mod form;
pub(crate) mod headers;
pub(crate) mod known_browser;
mod organisation;
mod receiver;
mod receivers;
mod session;
mod session_store;
pub(crate) mod signin;
mod signing_keys;
pub(crate) mod sso;
mod streams;
mod team;
mod upstreams;
mod usage;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite, time::Duration as CookieDuration};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::sessions::{Lifetimes, Surface};

pub(crate) use session::end_everywhere;
pub use session::{Change, Who, csrf_ok, csrf_refused, csrf_token, sign_in as session_sign_in};

/// What the console's routes need from the context, fixed when the server starts.
#[derive(Clone)]
pub struct ConsoleSettings {
    key: Key,
    secure: bool,
    ctx: AppContext,
}

impl ConsoleSettings {
    /// The session key (HKDF from the current master key) and whether cookies are `Secure`
    /// (always, except in the embedded default, which serves plain HTTP on a laptop).
    pub fn new(ctx: &AppContext) -> anyhow::Result<Self> {
        let (_, master) = ctx
            .master_keys
            .first()
            .ok_or_else(|| anyhow::anyhow!("no master key to derive the console's session key"))?;
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"sethub console session");
        let prk = salt.extract(master);
        let mut bytes = [0u8; 64];
        prk.expand(&[b"cookie key"], Len64)
            .and_then(|okm| okm.fill(&mut bytes))
            .map_err(|_| anyhow::anyhow!("cannot derive the console's session key"))?;
        Ok(Self {
            key: Key::from(&bytes),
            secure: !ctx.config.backends().is_embedded(),
            ctx: ctx.clone(),
        })
    }
}

impl ConsoleSettings {
    /// The cookie key (the portal's sessions use it too).
    pub fn key(&self) -> Key {
        self.key.clone()
    }

    /// Whether session cookies are `Secure`.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The session middleware of a surface: its cookie (`name`, `path`) holds only the
    /// session id; the session itself is in the state store, which ends it after
    /// `sessions.idle_secs` unused or `sessions.max_secs` after sign-in. The cookie has no
    /// expiry of its own (it goes with the browser); the server decides.
    pub(crate) fn sessions(
        &self,
        surface: Surface,
        name: &str,
        path: &str,
    ) -> SessionMiddleware<session_store::StateSessions> {
        let store = session_store::StateSessions::new(self.ctx.clone(), surface);
        let idle = Lifetimes::of(&self.ctx).idle;
        let idle = CookieDuration::seconds(i64::try_from(idle.as_secs()).unwrap_or(i64::MAX));
        SessionMiddleware::builder(store, self.key.clone())
            .cookie_name(name.into())
            .cookie_secure(self.secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path(path.into())
            .cookie_content_security(CookieContentSecurity::Private)
            .session_lifecycle(
                BrowserSession::default()
                    .state_ttl(idle)
                    .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
            )
            .build()
    }
}

struct Len64;

impl ring::hkdf::KeyType for Len64 {
    fn len(&self) -> usize {
        64
    }
}

/// Registers the console under `/console`.
pub fn routes(cfg: &mut web::ServiceConfig, settings: &ConsoleSettings) {
    let sessions = settings.sessions(Surface::Console, "sethub_console", "/console");
    cfg.service(
        web::resource("/")
            .wrap(headers::security_headers())
            .route(web::get().to(home)),
    );
    cfg.service(
        web::scope("/console")
            .wrap(actix_web::middleware::from_fn(
                crate::web::form::refuse_nul_in_target,
            ))
            .wrap(sessions)
            .wrap_fn(session_unavailable)
            .wrap(headers::security_headers())
            .route("", web::get().to(session::home))
            .route("/", web::get().to(session::home))
            .route("/static/console.css", web::get().to(css))
            .route("/static/console.js", web::get().to(js))
            .route("/signup", web::get().to(signin::signup_page))
            .route("/signup", web::post().to(signin::signup))
            .route("/login", web::get().to(signin::login_page))
            .route("/login", web::post().to(signin::login))
            .route("/logout", web::post().to(signin::logout))
            .route("/logout-all", web::post().to(session::logout_all))
            .route("/dashboard", web::get().to(dashboard::dashboard))
            .route("/api-keys", web::get().to(api_keys::list))
            .route("/api-keys", web::post().to(api_keys::create))
            .route("/api-keys/{id}/revoke", web::post().to(api_keys::revoke))
            .route("/usage", web::get().to(usage::show))
            .route("/events", web::get().to(events::list))
            .route("/events/{id}", web::get().to(events::show))
            .route("/streams", web::get().to(streams::list))
            .route("/streams/{id}", web::get().to(streams::show))
            .route("/streams/{id}/live", web::get().to(streams::live))
            .route("/streams/{id}/redrive", web::post().to(streams::redrive))
            .route(
                "/streams/{id}/deliveries/{delivery}",
                web::get().to(deliveries::show),
            )
            .route(
                "/streams/{id}/deliveries/{delivery}/send-again",
                web::post().to(deliveries::send_again),
            )
            .route("/streams/{id}/status", web::post().to(streams::set_status))
            .route("/streams/{id}/delete", web::post().to(streams::delete))
            .route("/streams/{id}/rate", web::post().to(streams::set_rate))
            .route("/receivers", web::get().to(receivers::list))
            .route("/receivers", web::post().to(receivers::invite))
            .route("/receivers/{id}", web::get().to(receiver::show))
            .route("/receivers/{id}/invite", web::post().to(receiver::reissue))
            .route(
                "/receivers/{id}/status",
                web::post().to(receiver::set_status),
            )
            .route("/upstreams", web::get().to(upstreams::list))
            .route("/upstreams", web::post().to(upstreams::create))
            .route("/upstreams/{id}/delete", web::post().to(upstreams::delete))
            .route("/signing-keys", web::get().to(signing_keys::list))
            .route("/signing-keys/rotate", web::post().to(signing_keys::rotate))
            .route(
                "/signing-keys/profile",
                web::post().to(signing_keys::set_profile),
            )
            .route("/organisation", web::get().to(organisation::show))
            .route("/organisation/close", web::post().to(organisation::close))
            .route("/organisation/reopen", web::post().to(organisation::reopen))
            .route("/settings", web::get().to(sso::settings))
            .route("/settings/sso", web::post().to(sso::save))
            .route("/settings/retry", web::post().to(sso::save_retry))
            .route("/sso/start", web::post().to(sso::start))
            .route("/sso/callback", web::get().to(sso::callback))
            .route("/team", web::get().to(team::list))
            .route("/team", web::post().to(team::invite))
            .route(
                "/team/invites/{id}/revoke",
                web::post().to(team::revoke_invite),
            )
            .route(
                "/team/members/{id}/remove",
                web::post().to(team::remove_member),
            )
            .route("/team/members/{id}/role", web::post().to(team::change_role))
            .route("/t/{slug}/join/{token}", web::get().to(team::join_page))
            .route("/t/{slug}/join/{token}", web::post().to(team::join)),
    );
}

/// `GET /`: where a person who opens the hub's address goes next.
#[derive(Template)]
#[template(path = "home.html")]
struct HomePage;

async fn home() -> HttpResponse {
    page(StatusCode::OK, &HomePage)
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../../web-ui/static/console.css"))
}

async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../../web-ui/static/console.js"))
}

/// A rendered page with a status.
pub fn page(status: StatusCode, t: &impl Template) -> HttpResponse {
    match t.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(html),
        Err(e) => render_failed(&e),
    }
}

/// The answer when a template fails to render (a bug): 500, logged with its cause.
pub(crate) fn render_failed(e: &askama::Error) -> HttpResponse {
    tracing::error!(error = %e, "a console or portal template failed to render");
    HttpResponse::InternalServerError()
        .content_type("text/plain; charset=utf-8")
        .body("the page could not be rendered")
}

/// A readable error page.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    /// Where the logo leads: `/console` or `/portal`.
    pub home: &'static str,
    pub title: String,
    pub detail: String,
    pub next_href: String,
    pub next_label: String,
}

pub fn error_page(status: StatusCode, title: &str, detail: impl Into<String>) -> HttpResponse {
    error_page_of(Home::Console, status, title, detail)
}

/// The surface an error page belongs to: its logo and its way back lead there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    Console,
    Portal,
}

/// A readable error page of the console or the portal.
pub fn error_page_of(
    home: Home,
    status: StatusCode,
    title: &str,
    detail: impl Into<String>,
) -> HttpResponse {
    let (home, next_label) = match home {
        Home::Console => ("/console", "Back to the console"),
        Home::Portal => ("/portal", "Back to your streams"),
    };
    page(
        status,
        &ErrorPage {
            home,
            title: title.into(),
            detail: detail.into(),
            next_href: home.into(),
            next_label: next_label.into(),
        },
    )
}

/// What a console or portal handler answers instead of its page when something failed under
/// it: the surface's error page, its cause logged where the error is made (so no handler
/// drops one). A handler returns it as its answer (`.into()`), or returns
/// `Result<HttpResponse, PageError>` and uses `?`.
#[derive(Debug)]
pub struct PageError {
    home: Home,
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl PageError {
    /// A backend failed with `cause` while the handler was doing `what` ("a stream could not
    /// be read"): logged with both, answered with the "unavailable" page (503, nothing
    /// changed).
    pub fn unavailable(home: Home, what: &str, cause: impl std::fmt::Display) -> Self {
        let surface = match home {
            Home::Console => "console",
            Home::Portal => "portal",
        };
        tracing::warn!(error = %cause, "{surface}: {what}");
        Self {
            home,
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: UNAVAILABLE.0,
            detail: UNAVAILABLE.1.to_owned(),
        }
    }

    /// A request refused before anything was done, with 400 and `detail` (what to correct).
    pub(crate) fn bad_request(home: Home, detail: String) -> Self {
        Self {
            home,
            status: StatusCode::BAD_REQUEST,
            title: "Nothing was changed",
            detail,
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.detail)
    }
}

impl actix_web::ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        error_page_of(self.home, self.status, self.title, self.detail.clone())
    }
}

impl From<PageError> for HttpResponse {
    fn from(e: PageError) -> Self {
        actix_web::ResponseError::error_response(&e)
    }
}

/// The page when the database (or another backend) does not answer.
pub fn unavailable() -> HttpResponse {
    unavailable_of(Home::Console)
}

/// [`unavailable`] for the console or the portal.
pub fn unavailable_of(home: Home) -> HttpResponse {
    error_page_of(
        home,
        StatusCode::SERVICE_UNAVAILABLE,
        UNAVAILABLE.0,
        UNAVAILABLE.1,
    )
}

/// The title and text of the "unavailable" page.
const UNAVAILABLE: (&str, &str) = (
    "sethub is unavailable",
    "A backend did not answer and nothing was changed. Try again in a moment.",
);

/// A session the state store could not load or save: the "unavailable" page (503, nothing
/// changed) instead of actix-session's bare 500, with the cause logged. Wraps the session
/// middleware of the console and the portal.
pub(crate) fn session_unavailable<S>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse, actix_web::Error>> + use<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    let answer = srv.call(req);
    async move {
        answer.await.map_err(|e| {
            tracing::warn!(error = ?e, "a session could not be loaded or saved");
            // The error's response is the page (the request itself is still held by the
            // session middleware, so no new response can be built around it here).
            actix_web::error::InternalError::from_response(e.to_string(), unavailable()).into()
        })
    }
}

/// A redirect after a successful form (303: the browser follows with a GET).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .finish()
}

/// The future of a signed-in extractor (the console's and the portal's `Who`): `check` answers
/// the signed-in person or the page to send instead (sign-in, 503), which becomes the
/// extractor's error response.
pub(crate) fn signed_in<T, F, Fut>(
    req: &HttpRequest,
    check: F,
) -> futures_util::future::LocalBoxFuture<'static, Result<T, actix_web::Error>>
where
    T: 'static,
    F: FnOnce(web::Data<AppContext>, HttpRequest) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T, HttpResponse>> + 'static,
{
    let req = req.clone();
    Box::pin(async move {
        let Some(ctx) = req.app_data::<web::Data<AppContext>>().cloned() else {
            return Err(actix_web::error::ErrorInternalServerError(
                "the console's and portal's routes are served without their context",
            ));
        };
        check(ctx, req).await.map_err(|answer| {
            actix_web::error::InternalError::from_response("not signed in", answer).into()
        })
    })
}
