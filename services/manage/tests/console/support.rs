//! The console tests' browser: a cookie jar over the in-process app, pages with their CSRF
//! token and field errors, and the sign-up and portal-join steps most tests start with.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, web};

use crate::api_support::{Hub, unique};

/// A browser's view of the console: one cookie jar (the session cookie).
pub struct Browser<S> {
    app: S,
    cookies: std::collections::BTreeMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: actix_web::http::header::HeaderMap,
    pub html: String,
    /// The `Set-Cookie` headers, as sent.
    pub set_cookies: Vec<String>,
}

impl Page {
    /// The value of the first hidden `csrf` input.
    pub fn csrf(&self) -> String {
        let at = self.html.find("name=\"csrf\" value=\"").unwrap() + 19;
        self.html[at..at + self.html[at..].find('"').unwrap()].to_owned()
    }

    /// Where "Continue with single sign-on" sends the browser: the link of the page that
    /// moves on to the provider (its meta refresh goes to the same URL).
    pub fn provider_url(&self) -> String {
        let marker = "id=\"sso-continue\" href=\"";
        let at = self
            .html
            .find(marker)
            .unwrap_or_else(|| panic!("no link to the provider: {}", self.html))
            + marker.len();
        let raw = &self.html[at..at + self.html[at..].find('"').unwrap()];
        assert!(
            self.html.contains(&format!("content=\"0; url={raw}\"")),
            "the page moves on by itself: {}",
            self.html
        );
        raw.replace("&#38;", "&").replace("&amp;", "&")
    }

    /// The error shown beside field `name`, if any.
    pub fn error(&self, name: &str) -> Option<String> {
        let marker = format!("id=\"{name}-error\">");
        let at = self.html.find(&marker)? + marker.len();
        Some(self.html[at..at + self.html[at..].find('<')?].to_owned())
    }
}

impl<S> Browser<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    pub async fn send(&mut self, mut req: TestRequest) -> Page {
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.insert_header(("Cookie", jar.join("; ")));
        }
        // An error from a middleware is answered with its response, as the server does.
        let resp = match test::try_call_service(&self.app, req.to_request()).await {
            Ok(resp) => resp.into_parts().1,
            Err(e) => e.error_response(),
        };
        let set_cookies = resp
            .headers()
            .get_all("Set-Cookie")
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in resp.cookies() {
            if c.value().is_empty() {
                self.cookies.remove(c.name());
            } else {
                self.cookies
                    .insert(c.name().to_owned(), c.value().to_owned());
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get("Location")
            .map(|l| l.to_str().unwrap().to_owned());
        let headers = resp.headers().clone();
        let body = actix_web::body::to_bytes(resp.into_body()).await.unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        Page {
            status,
            location,
            headers,
            html,
            set_cookies,
        }
    }

    /// The cookies the browser holds now (to send them again later, as a copy would).
    pub fn cookies(&self) -> std::collections::BTreeMap<String, String> {
        self.cookies.clone()
    }

    /// Replaces the browser's cookies.
    pub fn set_cookies(&mut self, cookies: std::collections::BTreeMap<String, String>) {
        self.cookies = cookies;
    }

    /// The value of cookie `name` in the jar (to replay it later).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.get(name).cloned()
    }

    /// Puts a cookie in the jar, as an attacker replaying a copied one would.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(TestRequest::get().uri(path)).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(TestRequest::post().uri(path).set_form(form))
            .await
    }
}

/// Signs in to the console at `slug` as `email` (password [`PASSWORD`]).
pub async fn sign_in<S>(b: &mut Browser<S>, slug: &str, email: &str)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let csrf = b.get("/console/login").await.csrf();
    let p = b
        .post(
            "/console/login",
            &[
                ("csrf", &csrf),
                ("slug", slug),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
}

pub async fn browser(
    hub: &Hub,
) -> Browser<impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>>
{
    browser_over(&hub.ctx).await
}

/// A browser of the console and portal served over `ctx` (e.g. with a state store that
/// fails).
pub async fn browser_over(
    ctx: &sethub_app::AppContext,
) -> Browser<impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>>
{
    let settings = sethub_manage::web::ConsoleSettings::new(ctx).unwrap();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(ctx.clone()))
            .configure(sethub_manage::routes_with_console(settings)),
    )
    .await;
    Browser {
        app,
        cookies: Default::default(),
    }
}

/// A browser whose requests go through the servers' request log (`tracing-actix-web` with
/// sethub's redacting root span), as `sethub_app::serve` wraps every service.
pub async fn logged_browser(
    hub: &Hub,
) -> Browser<impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>>
{
    let settings = sethub_manage::web::ConsoleSettings::new(&hub.ctx).unwrap();
    let app = test::init_service(
        App::new()
            .wrap(tracing_actix_web::TracingLogger::<
                sethub_app::request_log::RedactedRootSpan,
            >::new())
            .wrap_fn(|req, srv| {
                let answer = srv.call(req);
                async move { answer.await.map(ServiceResponse::map_into_boxed_body) }
            })
            .app_data(web::Data::new(hub.ctx.clone()))
            .configure(sethub_manage::routes_with_console(settings)),
    )
    .await;
    Browser {
        app,
        cookies: Default::default(),
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// Signs up a new organisation; returns its slug and the first API key shown.
pub async fn sign_up<S>(b: &mut Browser<S>, email: &str) -> (String, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let csrf = b.get("/console/signup").await.csrf();
    let slug = unique("acme");
    let p = b
        .post(
            "/console/signup",
            &[
                ("csrf", &csrf),
                ("organisation", "Acme"),
                ("slug", &slug),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert_eq!(p.location.as_deref(), Some("/console/dashboard"));
    let dash = b.get("/console/dashboard").await;
    assert_eq!(dash.status, StatusCode::OK);
    let at = dash.html.find("id=\"new-key\">").unwrap() + 13;
    let key = dash.html[at..at + dash.html[at..].find('<').unwrap()].to_owned();
    assert!(key.starts_with("sh_"), "{key}");
    (slug, key)
}

/// The path and query of a URL (the console's callback, reached in-process).
pub fn path_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap_or_default())
}

/// An owner invites a receiver; its user joins the portal. Returns the portal browser and the
/// tenant's slug.
pub async fn portal_user<S>(hub: &Hub, owner: &mut Browser<S>, portal: &mut Browser<S>)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let csrf = owner.get("/console/receivers").await.csrf();
    let p = owner
        .post("/console/receivers", &[("csrf", &csrf), ("name", "Beta")])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let path = invite_path(&owner.get("/console/receivers").await);
    let _ = hub;
    let join = portal.get(&path).await;
    assert_eq!(join.status, StatusCode::OK, "{}", join.html);
    // Bad values are refused beside their fields; the link still works after.
    let p = portal
        .post(
            &path,
            &[
                ("csrf", &join.csrf()),
                ("email", "nope"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.error("email").is_some() && p.error("password").is_some());
    let p = portal
        .post(
            &path,
            &[
                ("csrf", &join.csrf()),
                ("email", "rx@beta.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    // The link works once.
    assert_eq!(portal.get(&path).await.status, StatusCode::NOT_FOUND);
}

/// The path of the invite link a page shows (`id="invite-link"`).
pub fn invite_path(page: &Page) -> String {
    let at = page.html.find("id=\"invite-link\">").unwrap() + 17;
    let link = &page.html[at..at + page.html[at..].find('<').unwrap()];
    url::Url::parse(link).unwrap().path().to_owned()
}

/// The member `email` of the tenant `slug`.
pub async fn member(hub: &Hub, slug: &str, email: &str) -> sethub_store::Member {
    let tenant = tenant_of(hub, slug).await;
    hub.ctx
        .store
        .scope(tenant.id)
        .members()
        .by_email(email)
        .await
        .unwrap()
}

/// The tenant of `slug`.
pub async fn tenant_of(hub: &Hub, slug: &str) -> sethub_store::Tenant {
    hub.ctx
        .store
        .tenants()
        .find_by_slug(slug)
        .await
        .unwrap()
        .unwrap()
}

/// A viewer of the tenant `slug`, added to the store, signed in to the console.
pub async fn signed_in_viewer(
    hub: &Hub,
    slug: &str,
    email: &str,
) -> Browser<impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>>
{
    let tenant = tenant_of(hub, slug).await;
    hub.ctx
        .store
        .scope(tenant.id)
        .members()
        .create(sethub_store::NewMember {
            email: email.into(),
            password_hash: Some(sethub_app::console::hash_password(PASSWORD).unwrap()),
            role: sethub_store::Role::Viewer,
            receiver_id: None,
        })
        .await
        .unwrap();
    let mut viewer = browser(hub).await;
    sign_in(&mut viewer, slug, email).await;
    viewer
}
