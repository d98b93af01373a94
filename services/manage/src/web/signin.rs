//! Sign-up, sign-in and sign-out.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::client_addr::ClientAddr;
use sethub_app::console::{self, AccountError, Caller, Door, SignUp, SignedIn};

use super::form::{EditForm, Field, Form, attach};
use super::known_browser::{self, retry_after};
use super::session::{csrf_ok, csrf_refused, csrf_token, sign_in};
use super::{error_page, page, see_other};

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    csrf: String,
    fields: Vec<Field>,
    message: Option<String>,
    signing: SigningChoice,
}

/// The sign-up form's signing algorithm and profile, as chosen (or the defaults).
pub(crate) struct SigningChoice {
    /// `(value, label, selected)` for each kind of key.
    pub algs: Vec<(String, String, bool)>,
    pub profile: bool,
    pub error: Option<String>,
}

impl SigningChoice {
    pub(crate) fn of(
        form: &HashMap<String, String>,
        errors: &[sethub_app::console::FieldError],
    ) -> Self {
        let chosen = form.get("signing_alg").map_or("", String::as_str);
        let mut algs = vec![(
            String::new(),
            "Default (ES256; RS256 2048-bit with the CAEP profile)".to_owned(),
            chosen.is_empty(),
        )];
        algs.extend(sethub_jose::KeySpec::ALL.iter().map(|spec| {
            let name = spec.name();
            let selected = name == chosen;
            (name.clone(), alg_label(*spec), selected)
        }));
        Self {
            algs,
            profile: form.get("profile").is_some_and(|p| p == "caep-interop"),
            error: errors
                .iter()
                .find(|e| e.field == "signing_alg" || e.field == "profile")
                .map(|e| e.message.clone()),
        }
    }
}

/// How the console names a kind of key.
pub(crate) fn alg_label(spec: sethub_jose::KeySpec) -> String {
    match spec {
        sethub_jose::KeySpec::Es256 => "ES256 (ECDSA P-256)".to_owned(),
        sethub_jose::KeySpec::EdDsa => "EdDSA (Ed25519)".to_owned(),
        sethub_jose::KeySpec::Rs256 { bits } => format!("RS256 (RSA {bits}-bit)"),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    /// Just signed out: the page says so.
    signed_out: bool,
    csrf: String,
    fields: Vec<Field>,
    message: Option<String>,
}

fn signup_fields(form: &HashMap<String, String>) -> Vec<Field> {
    let v = |k: &str| form.get(k).map_or("", String::as_str);
    vec![
        Field::new("organisation", "Organisation name", "text")
            .autocomplete("organization")
            .value(v("organisation")),
        Field::new("slug", "Organisation slug", "text")
            .hint("Lower-case letters, digits and dashes; it appears in your issuer URL.")
            .value(v("slug")),
        Field::new("email", "Your email", "email")
            .autocomplete("email")
            .value(v("email")),
        Field::new("password", "Password", "password")
            .autocomplete("new-password")
            .hint("At least 12 characters."),
    ]
}

/// The fields of a sign-in form (console and portal).
const LOGIN_FIELDS: &[&str] = &["slug", "email", "password"];

pub(crate) fn login_fields(form: &HashMap<String, String>) -> Vec<Field> {
    let v = |k: &str| form.get(k).map_or("", String::as_str);
    vec![
        Field::new("slug", "Organisation slug", "text").value(v("slug")),
        Field::new("email", "Email", "email")
            .autocomplete("username")
            .value(v("email")),
        Field::new("password", "Password", "password").autocomplete("current-password"),
    ]
}

fn unavailable(e: &AccountError) -> HttpResponse {
    tracing::warn!(error = %e, "console: sign-up or sign-in failed");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "sethub is unavailable",
        "Something on our side did not answer; nothing was created. Try again in a moment.",
    )
}

/// `GET /console/signup`.
pub async fn signup_page(session: Session) -> HttpResponse {
    page(
        StatusCode::OK,
        &SignupPage {
            csrf: csrf_token(&session),
            fields: signup_fields(&HashMap::new()),
            message: None,
            signing: SigningChoice::of(&HashMap::new(), &[]),
        },
    )
}

/// `POST /console/signup`: the organisation and its owner; then the dashboard, which shows
/// the first API key once.
pub async fn signup(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    addr: ClientAddr,
    session: Session,
    form: EditForm<HashMap<String, String>>,
) -> HttpResponse {
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    let nul = match form.nul_error(&["organisation", "slug", "email", "password"]) {
        Ok(nul) => nul,
        Err(refused) => return refused.into(),
    };
    let v = |k: &str| form.get(k).cloned().unwrap_or_default();
    let request = SignUp {
        organisation: v("organisation"),
        slug: v("slug"),
        email: v("email"),
        password: v("password"),
        signing_alg: v("signing_alg"),
        profile: v("profile"),
    };
    let outcome = match nul {
        Some(e) => Err(AccountError::Invalid(vec![e])),
        None => console::sign_up(&ctx, &request, addr).await,
    };
    match outcome {
        Ok((created, member)) => {
            sign_in(&session, created.tenant_id, member.id);
            if let Err(e) = session.insert("first_key", &created.api_key) {
                tracing::warn!(error = %e, "cannot keep the first API key for the dashboard");
            }
            // Signing up is signing in from this browser for the first time.
            let to = see_other("/console/dashboard");
            known_browser::first_sign_in(to, &ctx, &req, created.tenant_id, member.id, "/console")
        }
        Err(AccountError::TooManySignUps(secs)) => retry_after(
            page(
                StatusCode::TOO_MANY_REQUESTS,
                &SignupPage {
                    csrf: csrf_token(&session),
                    fields: signup_fields(&form),
                    signing: SigningChoice::of(&form, &[]),
                    message: Some(format!(
                        "Too many organisations were created from your network lately; nothing was created. Try again in {} minutes.",
                        secs.div_ceil(60)
                    )),
                },
            ),
            secs,
        ),
        Err(AccountError::Invalid(errors)) => {
            let mut fields = signup_fields(&form);
            attach(&mut fields, &errors);
            page(
                StatusCode::BAD_REQUEST,
                &SignupPage {
                    csrf: csrf_token(&session),
                    fields,
                    signing: SigningChoice::of(&form, &errors),
                    message: Some("Please correct the fields marked below.".into()),
                },
            )
        }
        Err(e) => unavailable(&e),
    }
}

/// `GET /console/login`.
pub async fn login_page(
    session: Session,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    page(
        StatusCode::OK,
        &LoginPage {
            signed_out: query.contains_key("signed_out"),
            csrf: csrf_token(&session),
            fields: login_fields(&HashMap::new()),
            message: None,
        },
    )
}

/// `POST /console/login`.
pub async fn login(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    addr: ClientAddr,
    session: Session,
    form: EditForm<HashMap<String, String>>,
) -> HttpResponse {
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    match check_password(&ctx, &req, addr, Door::Console, &form).await {
        Ok(done) => {
            sign_in(&session, done.tenant, done.member.id);
            let to = see_other("/console/dashboard");
            known_browser::remember(to, &ctx, done.known_browser, "/console")
        }
        Err(e) => refused(&e, |status, message, errors| {
            let mut fields = login_fields(&form);
            attach(&mut fields, errors);
            page(
                status,
                &LoginPage {
                    signed_out: false,
                    csrf: csrf_token(&session),
                    fields,
                    message: Some(message),
                },
            )
        })
        .unwrap_or_else(|| unavailable(&e)),
    }
}

/// Checks a sign-in form's password at `door`, with the caller's address and known-browser
/// cookie (console and portal).
pub(crate) async fn check_password(
    ctx: &AppContext,
    req: &HttpRequest,
    addr: ClientAddr,
    door: Door,
    form: &EditForm<HashMap<String, String>>,
) -> Result<SignedIn, AccountError> {
    // A NUL typed into a field: the form again, the error beside it (nothing is looked up).
    // The form has no other field a sign-in reads.
    if let Ok(Some(e)) = form.nul_error(LOGIN_FIELDS) {
        return Err(AccountError::Invalid(vec![e]));
    }
    let v = |k: &str| form.get(k).map_or("", String::as_str);
    let known = known_browser::read(req);
    let caller = Caller {
        addr,
        known_browser: &known,
    };
    console::sign_in(ctx, door, caller, v("slug"), v("email"), v("password")).await
}

/// Accepts the invite `token` of `slug` with the join form's email and password (the
/// portal's invite when `portal`, else a team invite). A NUL typed into either is refused as
/// any mistake in them is, with the error beside its field; the form has no other field
/// this reads.
pub(crate) async fn accept_invite(
    ctx: &AppContext,
    form: &EditForm<HashMap<String, String>>,
    (slug, token): (&str, &str),
    portal: bool,
) -> Result<(sethub_domain::TenantId, sethub_store::Member), AccountError> {
    if let Ok(Some(e)) = form.nul_error(&["email", "password"]) {
        return Err(AccountError::Invalid(vec![e]));
    }
    let v = |k: &str| form.get(k).map_or("", String::as_str);
    console::accept_invite(ctx, slug, token, v("email"), v("password"), portal).await
}

/// The sign-in page `render` makes for a refused sign-in (console or portal) from its status,
/// its message and the errors to show beside fields, with `Retry-After` when it was too many
/// attempts; `None` when a backend failed.
pub(crate) fn refused(
    e: &AccountError,
    render: impl FnOnce(StatusCode, String, &[console::FieldError]) -> HttpResponse,
) -> Option<HttpResponse> {
    let (status, message) = refusal(e)?;
    let errors = match e {
        AccountError::Invalid(errors) => errors.as_slice(),
        _ => &[],
    };
    let page = render(status, message, errors);
    Some(match e {
        AccountError::RateLimited(secs) => retry_after(page, *secs),
        _ => page,
    })
}

/// What the sign-in page says to a refused sign-in (console or portal): the status and the
/// message; `None` when a backend failed.
fn refusal(e: &AccountError) -> Option<(StatusCode, String)> {
    match e {
        AccountError::BadCredentials => Some((
            StatusCode::UNAUTHORIZED,
            "The organisation, email or password is not right.".into(),
        )),
        AccountError::RateLimited(secs) => Some((
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many attempts. Try again in {secs} seconds."),
        )),
        AccountError::Invalid(_) => Some((
            StatusCode::BAD_REQUEST,
            "Please correct the field marked below.".into(),
        )),
        _ => None,
    }
}

/// `POST /console/logout`.
pub async fn logout(session: Session, form: Form<HashMap<String, String>>) -> HttpResponse {
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    session.purge();
    see_other("/console/login?signed_out")
}
