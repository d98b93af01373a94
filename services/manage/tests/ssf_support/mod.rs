//! Shared set-up for the SSF API tests: a real `AppContext` over a fresh PostgreSQL database,
//! the in-process bus and in-memory state, a tenant and receivers with client credentials.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::{App, test, web};
use sethub_app::AppContext;
use sethub_config::{Config, Secret};
use sethub_domain::TenantId;
use sethub_store::NewReceiver;
use sethub_store::testing::TestDb;

pub struct Hub {
    /// Kept alive for the test: dropping it drops the database.
    pub _db: TestDb,
    pub ctx: AppContext,
}

pub struct Rx {
    pub client_id: String,
    pub secret: String,
}

pub fn unique(label: &str) -> String {
    format!(
        "{label}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

impl Hub {
    /// `allow_private`: whether push endpoints on loopback are allowed (the SSRF guard).
    pub async fn new(allow_private: bool) -> Hub {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = TestDb::postgres().await;
        let mut config = Config::default();
        config.database.url = Some(Secret::new(db.url().to_owned()));
        config.secrets.master_keys = vec![Secret::new(format!("t1:{}", base64_key()))];
        config.push.allow_private_targets = allow_private;
        config.push.allow_http = true;
        let public = url::Url::parse("https://hub.example.com").unwrap();
        let ctx = sethub_app::connect_backends(config, public, false)
            .await
            .unwrap();
        Hub { _db: db, ctx }
    }

    pub async fn tenant(&self, label: &str) -> (TenantId, String) {
        let slug = unique(label);
        let t = self.ctx.store.tenants().create(&slug, label).await.unwrap();
        sethub_app::keys::bootstrap(&self.ctx, t.id).await.unwrap();
        (t.id, slug)
    }

    pub async fn receiver(&self, tenant: TenantId, name: &str) -> Rx {
        let secret = unique("secret");
        let r = self
            .ctx
            .store
            .scope(tenant)
            .receivers()
            .create(NewReceiver {
                name: name.to_owned(),
                client_id: unique("client"),
                client_secret_hash: sethub_app::admin::sha256_hex(&secret),
            })
            .await
            .unwrap();
        Rx {
            client_id: r.client_id,
            secret,
        }
    }

    pub async fn app(
        &self,
    ) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
    {
        test::init_service(
            App::new()
                .app_data(web::Data::new(self.ctx.clone()))
                .configure(sethub_manage::routes),
        )
        .await
    }
}

fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand_bytes())
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    let u = uuid::Uuid::new_v4();
    let v = uuid::Uuid::new_v4();
    b[..16].copy_from_slice(u.as_bytes());
    b[16..].copy_from_slice(v.as_bytes());
    b
}
