//! Single sign-on: the settings form (`/console/settings`), and the sign-in round trip to the
//! tenant's OpenID provider (`/console/sso/start` → provider → `/console/sso/callback`).

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use sethub_app::AppContext;
use sethub_app::sso::{self, Pending, SsoError};
use sethub_domain::delivery::{DeliverySettings, RetryPolicy};

use super::flash::Flash;
use super::form::{Field, Form};
use super::session::{Change, Who, csrf_ok, csrf_refused, sign_in};
use super::{Home, PageError};
use super::{error_page, page, see_other, unavailable};

const PENDING: &str = "sso_pending";

/// The page that sends the browser on to the provider.
#[derive(Template)]
#[template(path = "sso_continue.html")]
struct ContinuePage {
    url: String,
    provider: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    who: Who,
    active: &'static str,
    redirect_uri: String,
    issuer: String,
    fields: Vec<Field>,
    message: Option<Flash>,
    retry_fields: Vec<Field>,
    retry_message: Option<Flash>,
    retry_summary: String,
}

const RETRY: [(&str, &str); 5] = [
    ("initial_secs", "First wait (seconds)"),
    ("factor", "Factor"),
    ("max_delay_secs", "Maximum delay (seconds)"),
    ("max_age_secs", "Give up after (seconds)"),
    ("jitter", "Jitter (0 to 0.5)"),
];

/// The retry form, filled from the stored schedule or what was typed.
fn retry_fields(values: &HashMap<String, String>) -> Vec<Field> {
    RETRY
        .iter()
        .map(|(name, label)| {
            Field::new(name, label, "text")
                .optional()
                .value(values.get(*name).map_or("", String::as_str))
        })
        .collect()
}

/// The stored retry schedule as form values.
fn stored_retry(settings: Option<&serde_json::Value>) -> HashMap<String, String> {
    settings
        .and_then(|s| s.get("retry"))
        .and_then(serde_json::Value::as_object)
        .map(|o| o.iter().map(|(k, v)| (k.clone(), number_text(v))).collect())
        .unwrap_or_default()
}

/// A rule of the retry schedule with the form's labels for the members it names.
fn in_words(why: &str) -> String {
    why.replace("initial_secs", "the first wait")
}

/// A stored number as a person writes it: `10`, not `10.0`.
fn number_text(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{n:.0}"),
        Some(n) => n.to_string(),
        None => v.to_string(),
    }
}

fn redirect_uri(ctx: &AppContext) -> String {
    ctx.url("/console/sso/callback")
}

fn fields(issuer: &str, client_id: &str) -> Vec<Field> {
    vec![
        Field::new("issuer", "Issuer URL", "text")
            .hint("Your provider's issuer, e.g. https://login.example.com")
            .value(issuer),
        Field::new("client_id", "Client id", "text").value(client_id),
        Field::new("client_secret", "Client secret", "password")
            .hint("Leave empty to keep the saved one; a new issuer or client id needs it again."),
    ]
}

/// `GET /console/settings`.
pub async fn settings(ctx: web::Data<AppContext>, who: Who, session: Session) -> HttpResponse {
    let Ok(current) = ctx.store.scope(who.tenant).members().sso(None).await else {
        return unavailable();
    };
    let Ok(tenant) = ctx.store.tenants().get(who.tenant).await else {
        return unavailable();
    };
    let retry = stored_retry(tenant.delivery_settings.as_ref());
    let (issuer, client_id) = current.map(|c| (c.issuer, c.client_id)).unwrap_or_default();
    page(
        StatusCode::OK,
        &SettingsPage {
            who,
            active: "settings",
            redirect_uri: redirect_uri(&ctx),
            fields: fields(&issuer, &client_id),
            issuer,
            message: Flash::take(&session, "sso_message"),
            retry_summary: if retry.is_empty() {
                "The operator's default schedule.".into()
            } else {
                RETRY
                    .iter()
                    .map(|(k, label)| {
                        format!("{label}: {}", retry.get(*k).map_or("-", String::as_str))
                    })
                    .collect::<Vec<_>>()
                    .join(" · ")
            },
            retry_fields: retry_fields(&retry),
            retry_message: Flash::take(&session, "retry_message"),
        },
    )
}

/// `POST /console/settings/retry`: the five numbers of a retry schedule (all empty: the
/// operator's defaults), checked by the tenant API's rules.
pub async fn save_retry(
    ctx: web::Data<AppContext>,
    session: Session,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let typed: HashMap<String, String> = RETRY
        .iter()
        .filter_map(|(k, _)| form.get(*k).map(|v| ((*k).to_owned(), v.trim().to_owned())))
        .collect();
    let all_empty = typed.values().all(String::is_empty);
    let retry = if all_empty {
        None
    } else {
        let mut fields = retry_fields(&typed);
        let mut number = |k: &str| match typed.get(k).map_or("", String::as_str).parse::<f64>() {
            Ok(n) if n.is_finite() => n,
            _ => {
                if let Some(f) = fields.iter_mut().find(|f| f.name == k) {
                    f.error = Some("enter a number".into());
                }
                f64::NAN
            }
        };
        let policy = RetryPolicy {
            initial_secs: number("initial_secs"),
            factor: number("factor"),
            max_delay_secs: number("max_delay_secs"),
            max_age_secs: number("max_age_secs"),
            jitter: number("jitter"),
        };
        if fields.iter().any(|f| f.error.is_some()) {
            return retry_refused(&ctx, who, fields).await;
        }
        if let Err((field, why)) = policy.validate() {
            let name = field.trim_start_matches("retry.");
            if let Some(f) = fields.iter_mut().find(|f| f.name == name) {
                f.error = Some(in_words(&why));
            }
            return retry_refused(&ctx, who, fields).await;
        }
        Some(policy)
    };
    let settings = DeliverySettings {
        retry,
        max_rate_per_second: None,
    };
    if ctx
        .store
        .tenants()
        .set_delivery_settings(who.tenant, settings.stored())
        .await
        .is_err()
    {
        return unavailable();
    }
    let saved = if all_empty {
        "The retry schedule is reset to the operator's defaults."
    } else {
        "The retry schedule is saved."
    };
    Flash::ok(saved).keep(&session, "retry_message");
    see_other("/console/settings")
}

async fn retry_refused(ctx: &AppContext, who: Who, retry_fields: Vec<Field>) -> HttpResponse {
    let Ok(current) = ctx.store.scope(who.tenant).members().sso(None).await else {
        return unavailable();
    };
    let (issuer, client_id) = current.map(|c| (c.issuer, c.client_id)).unwrap_or_default();
    page(
        StatusCode::BAD_REQUEST,
        &SettingsPage {
            who,
            active: "settings",
            redirect_uri: redirect_uri(ctx),
            fields: fields(&issuer, &client_id),
            issuer,
            message: None,
            retry_fields,
            retry_message: Some(Flash::problem(
                "The retry schedule was not saved; see the fields below.",
            )),
            retry_summary: String::new(),
        },
    )
}

/// `POST /console/settings/sso`: `issuer`, `client_id`, `client_secret`.
pub async fn save(
    ctx: web::Data<AppContext>,
    session: Session,
    Change { who, form }: Change<HashMap<String, String>>,
) -> HttpResponse {
    let v = |k: &str| form.get(k).map_or("", |s| s.trim());
    let mut f = fields(v("issuer"), v("client_id"));
    if !check_settings(&ctx, &mut f, v("issuer"), v("client_id")).await {
        return page(
            StatusCode::BAD_REQUEST,
            &SettingsPage {
                who,
                active: "settings",
                redirect_uri: redirect_uri(&ctx),
                issuer: String::new(),
                fields: f,
                message: None,
                retry_fields: retry_fields(&HashMap::new()),
                retry_message: None,
                retry_summary: String::new(),
            },
        );
    }
    if let Err(answer) = save_settings(
        &ctx,
        who.tenant,
        None,
        v("issuer"),
        v("client_id"),
        v("client_secret"),
    )
    .await
    {
        return answer;
    }
    Flash::ok("Single sign-on is saved.").keep(&session, "sso_message");
    see_other("/console/settings")
}

/// `POST /console/sso/start`: `slug`.
pub async fn start(
    ctx: web::Data<AppContext>,
    session: Session,
    form: Form<HashMap<String, String>>,
) -> HttpResponse {
    if !csrf_ok(&session, form.get("csrf")) {
        return csrf_refused();
    }
    let slug = form.get("slug").map_or("", |s| s.trim());
    let tenant = match ctx.store.tenants().find_by_slug(slug).await {
        Ok(Some(t)) => t.id,
        Ok(None) => return refused(&SsoError::NotConfigured),
        Err(e) => {
            return PageError::unavailable(
                Home::Console,
                "the tenant of a single sign-on could not be found",
                e,
            )
            .into();
        }
    };
    begin(&ctx, &session, tenant, None, &redirect_uri(&ctx)).await
}

pub(crate) fn refused(e: &SsoError) -> HttpResponse {
    tracing::info!(error = %e, "single sign-on refused");
    let status = match e {
        SsoError::Store(_) => return unavailable(),
        SsoError::Provider(_) => StatusCode::BAD_GATEWAY,
        SsoError::NotConfigured => StatusCode::NOT_FOUND,
        SsoError::TooManyStarts(secs) => {
            return super::known_browser::retry_after(
                error_page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Single sign-on is busy",
                    format!(
                        "Too many single sign-on attempts for this organisation just now. Try again in {secs} seconds."
                    ),
                ),
                *secs,
            );
        }
        _ => StatusCode::UNAUTHORIZED,
    };
    error_page(status, "Single sign-on did not sign you in", e.to_string())
}

/// `GET /console/sso/callback?code=…&state=…`.
pub async fn callback(
    ctx: web::Data<AppContext>,
    session: Session,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    complete(
        &ctx,
        &session,
        &query,
        false,
        &redirect_uri(&ctx),
        "/console/dashboard",
    )
    .await
}

/// Checks an SSO settings form's issuer URL and client id, putting each problem beside its
/// field (`fields`: issuer, client id, secret, in that order). Whether all is right. The
/// issuer must pass the egress policy (https unless the operator allows http, a public
/// address).
pub(crate) async fn check_settings(
    ctx: &AppContext,
    fields: &mut [Field],
    issuer: &str,
    client_id: &str,
) -> bool {
    let issuer_ok = url::Url::parse(issuer)
        .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
    if !issuer_ok {
        fields[0].error = Some("enter the provider's issuer URL (https://…)".into());
    } else if let Err(why) = sso::check_issuer(ctx, issuer).await {
        fields[0].error = Some(why);
    }
    if client_id.is_empty() || client_id.len() > 512 {
        fields[1].error = Some("enter the client id sethub has at your provider".into());
    }
    fields.iter().all(|f| f.error.is_none())
}

/// Saves the single sign-on of the console (`receiver` `None`) or of a receiver's portal
/// (`sethub_app::sso::save_settings`: a new provider needs its secret again).
pub(crate) async fn save_settings(
    ctx: &AppContext,
    tenant: sethub_domain::TenantId,
    receiver: Option<sethub_domain::ReceiverId>,
    issuer: &str,
    client_id: &str,
    secret: &str,
) -> Result<(), HttpResponse> {
    let settings = sso::Settings {
        issuer,
        client_id,
        client_secret: secret,
    };
    match sso::save_settings(ctx, tenant, receiver, settings).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "single sign-on settings not saved");
            Err(unavailable())
        }
    }
}

/// Starts a sign-in at the provider of the console (`receiver` `None`) or of a receiver's
/// portal: the pending sign-in is kept in the session, the browser sent to the provider.
pub(crate) async fn begin(
    ctx: &AppContext,
    session: &Session,
    tenant: sethub_domain::TenantId,
    receiver: Option<sethub_domain::ReceiverId>,
    redirect: &str,
) -> HttpResponse {
    match sso::start(ctx, tenant, receiver, redirect).await {
        Ok((url, pending)) => {
            if session.insert(PENDING, &pending).is_err() {
                return unavailable();
            }
            // Not a redirect: `form-action 'self'` would stop the browser following one.
            let provider = url::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            page(StatusCode::OK, &ContinuePage { url, provider })
        }
        Err(e) => refused(&e),
    }
}

/// Finishes the sign-in this session started (once: a replayed answer finds nothing pending),
/// for a portal when `portal`, else for the console, and signs the member in.
pub(crate) async fn complete(
    ctx: &AppContext,
    session: &Session,
    query: &HashMap<String, String>,
    portal: bool,
    redirect: &str,
    home: &str,
) -> HttpResponse {
    let Some(Ok(pending)) = session.remove_as::<Pending>(PENDING) else {
        return refused(&SsoError::State);
    };
    // The console's callback never finishes a portal sign-in, nor the reverse.
    if pending.receiver.is_some() != portal {
        return refused(&SsoError::State);
    }
    if let Some(err) = query.get("error") {
        return refused(&SsoError::Provider(format!(
            "the provider answered `{err}`"
        )));
    }
    let (Some(code), Some(state)) = (query.get("code"), query.get("state")) else {
        return refused(&SsoError::State);
    };
    match sso::finish(ctx, &pending, redirect, code, state).await {
        Ok(member) => {
            sign_in(session, pending.tenant, member.id);
            see_other(home)
        }
        Err(e) => refused(&e),
    }
}
