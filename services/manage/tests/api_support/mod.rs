//! Shared set-up for the tenant REST API tests: an `AppContext` over a fresh database (real
//! PostgreSQL, or SQLite where cheap), the in-process bus and in-memory state; tenants made
//! through `sethub_app::admin`; requests through `actix_web::test`.

#![allow(clippy::unwrap_used, dead_code)]

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::{App, test, web};
use base64::Engine;
use serde_json::{Value, json};
use sethub_app::AppContext;
use sethub_app::admin::{self, CreatedTenant};
use sethub_config::{Config, Secret};
use sethub_store::testing::TestDb;

pub struct Hub {
    pub db: TestDb,
    pub ctx: AppContext,
}

/// `label` plus a random suffix (a valid slug when `label` is lowercase).
pub fn unique(label: &str) -> String {
    let u = sethub_domain::TenantId::new()
        .as_uuid()
        .simple()
        .to_string();
    format!("{label}-{}", &u[22..])
}

impl Hub {
    pub async fn postgres() -> Hub {
        Self::over(TestDb::postgres().await).await
    }

    pub async fn sqlite() -> Hub {
        Self::over(TestDb::sqlite().await).await
    }

    /// [`Hub::postgres`] whose outbound requests may reach plain-HTTP services on 127.0.0.1
    /// (a test OpenID provider).
    pub async fn postgres_reaching_localhost() -> Hub {
        Self::over_with(TestDb::postgres().await, |c| {
            c.push.allow_private_targets = true;
            c.push.allow_http = true;
        })
        .await
    }

    /// A hub over PostgreSQL and Redis (a key prefix of its own), with `adjust` applied to
    /// its configuration.
    pub async fn postgres_and_redis_with(adjust: impl FnOnce(&mut Config)) -> Hub {
        Self::over_with(TestDb::postgres().await, |c| {
            c.state.url = Some(Secret::new(sethub_tests::backends::redis_url()));
            c.state.prefix = unique("t");
            adjust(c);
        })
        .await
    }

    /// [`Hub::postgres`] with its configuration adjusted first.
    pub async fn postgres_with(adjust: impl FnOnce(&mut Config)) -> Hub {
        Self::over_with(TestDb::postgres().await, adjust).await
    }

    async fn over(db: TestDb) -> Hub {
        Self::over_with(db, |_| {}).await
    }

    async fn over_with(db: TestDb, adjust: impl FnOnce(&mut Config)) -> Hub {
        let mut config = Config::default();
        adjust(&mut config);
        config.database.url = Some(Secret::new(db.url().to_owned()));
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        config.secrets.master_keys = vec![Secret::new(format!("t1:{key}"))];
        let public = url::Url::parse("https://hub.example.com").unwrap();
        let ctx = sethub_app::connect_backends(config, public, false)
            .await
            .unwrap();
        Hub { db, ctx }
    }

    /// A new tenant (with its first signing key and an admin API key).
    pub async fn tenant(&self, label: &str) -> CreatedTenant {
        let slug = unique(label).parse().unwrap();
        let name = label.parse().unwrap();
        admin::create_tenant(&self.ctx, &slug, &name).await.unwrap()
    }

    /// The tenant API and the SSF routes (for the token endpoint), as a test service.
    pub async fn app(
        &self,
    ) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
    {
        test::init_service(
            App::new()
                .app_data(web::Data::new(self.ctx.clone()))
                .configure(sethub_manage::api::routes)
                .configure(sethub_manage::ssf::routes),
        )
        .await
    }
}

/// A response: status, headers and the body as JSON (`Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `method path` with an optional bearer key and an optional JSON body.
pub async fn call<S>(
    app: &S,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let mut req = test::TestRequest::default()
        .method(method.parse().unwrap())
        .uri(path);
    if let Some(key) = key {
        req = req.insert_header(("Authorization", format!("Bearer {key}")));
    }
    if let Some(body) = body {
        req = req.set_json(body);
    }
    send(app, req).await
}

pub async fn send<S>(app: &S, req: test::TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = test::read_body(resp).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Asserts a problem body with this status, code and (optionally) field.
pub fn assert_problem(r: &Reply, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{}",
        r.body
    );
    assert_eq!(r.body["code"], code, "{}", r.body);
    if let Some(field) = field {
        assert_eq!(r.body["field"], field, "{}", r.body);
    }
}

/// A receiver made through the tenant API, and an SSF access token for it.
pub async fn receiver<S>(app: &S, t: &CreatedTenant) -> (String, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let key = Some(t.api_key.as_str());
    let r = call(
        app,
        "POST",
        "/api/v1/receivers",
        key,
        Some(json!({"name": "rx"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = send(
        app,
        test::TestRequest::post()
            .uri(&format!("/t/{}/oauth/token", t.slug))
            .set_form([
                ("grant_type", "client_credentials"),
                ("client_id", r.body["client_id"].as_str().unwrap()),
                ("client_secret", r.body["client_secret"].as_str().unwrap()),
            ]),
    )
    .await;
    assert_eq!(token.status, 200, "{}", token.body);
    (
        r.body["receiver_id"].as_str().unwrap().to_owned(),
        token.body["access_token"].as_str().unwrap().to_owned(),
    )
}

/// An SSF request with the receiver's token.
pub async fn ssf<S>(
    app: &S,
    t: &CreatedTenant,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let req = test::TestRequest::default()
        .method(method.parse().unwrap())
        .uri(&format!("/t/{}/ssf/{path}", t.slug))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .set_json(body);
    send(app, req).await
}
