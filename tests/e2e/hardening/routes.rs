//! Every route of every service: the tenant API's from its served OpenAPI document, the
//! others from this maintained list (SSF, ingest, poll, console, portal, health).

use serde_json::Value;

/// Which process serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Manage,
    Ingest,
    Fanout,
    /// `/healthz`, `/readyz`, `/metrics`: every process.
    Each,
}

/// One route: its service, its methods and its path template (`{…}` are parameters).
#[derive(Debug, Clone)]
pub struct Route {
    pub service: Service,
    pub methods: Vec<String>,
    pub template: String,
}

const LISTED: &[(Service, &str, &str)] = &[
    (Service::Each, "GET", "/healthz"),
    (Service::Each, "GET", "/readyz"),
    (Service::Each, "GET", "/metrics"),
    (Service::Ingest, "POST", "/t/{slug}/sets"),
    (Service::Ingest, "POST", "/t/{slug}/events"),
    (Service::Ingest, "POST", "/t/{slug}/events:batch"),
    (Service::Fanout, "POST", "/t/{slug}/ssf/poll/{stream_id}"),
    (
        Service::Manage,
        "GET",
        "/.well-known/ssf-configuration/t/{slug}",
    ),
    (Service::Manage, "GET", "/t/{slug}/jwks.json"),
    (Service::Manage, "POST", "/t/{slug}/oauth/token"),
    (
        Service::Manage,
        "GET POST PATCH PUT DELETE",
        "/t/{slug}/ssf/stream",
    ),
    (Service::Manage, "GET POST", "/t/{slug}/ssf/status"),
    (Service::Manage, "POST", "/t/{slug}/ssf/subjects:add"),
    (Service::Manage, "POST", "/t/{slug}/ssf/subjects:remove"),
    (Service::Manage, "POST", "/t/{slug}/ssf/verify"),
    (Service::Manage, "GET", "/api/v1/openapi.json"),
    (Service::Manage, "GET", "/console"),
    (Service::Manage, "GET", "/console/"),
    (Service::Manage, "GET", "/console/static/console.css"),
    (Service::Manage, "GET", "/console/static/console.js"),
    (Service::Manage, "GET POST", "/console/signup"),
    (Service::Manage, "GET POST", "/console/login"),
    (Service::Manage, "POST", "/console/logout"),
    (Service::Manage, "POST", "/console/logout-all"),
    (Service::Manage, "GET", "/console/dashboard"),
    (Service::Manage, "GET POST", "/console/api-keys"),
    (Service::Manage, "POST", "/console/api-keys/{id}/revoke"),
    (Service::Manage, "GET", "/console/events"),
    (Service::Manage, "GET", "/console/events/{id}"),
    (Service::Manage, "GET", "/console/streams"),
    (Service::Manage, "GET", "/console/streams/{id}"),
    (Service::Manage, "POST", "/console/streams/{id}/redrive"),
    (Service::Manage, "POST", "/console/streams/{id}/rate"),
    (Service::Manage, "POST", "/console/streams/{id}/delete"),
    (Service::Manage, "GET POST", "/console/receivers"),
    (Service::Manage, "GET", "/console/receivers/{id}"),
    (Service::Manage, "POST", "/console/receivers/{id}/invite"),
    (Service::Manage, "POST", "/console/receivers/{id}/status"),
    (Service::Manage, "GET", "/console/usage"),
    (Service::Manage, "GET POST", "/console/upstreams"),
    (Service::Manage, "POST", "/console/upstreams/{id}/delete"),
    (Service::Manage, "GET", "/console/signing-keys"),
    (Service::Manage, "POST", "/console/signing-keys/rotate"),
    (Service::Manage, "POST", "/console/signing-keys/profile"),
    (Service::Manage, "GET", "/console/settings"),
    (Service::Manage, "POST", "/console/settings/sso"),
    (Service::Manage, "POST", "/console/settings/retry"),
    (Service::Manage, "POST", "/console/sso/start"),
    (Service::Manage, "GET", "/console/sso/callback"),
    (Service::Manage, "GET POST", "/console/team"),
    (Service::Manage, "POST", "/console/team/members/{id}/remove"),
    (Service::Manage, "POST", "/console/team/members/{id}/role"),
    (Service::Manage, "POST", "/console/team/invites/{id}/revoke"),
    (
        Service::Manage,
        "GET POST",
        "/console/t/{slug}/join/{token}",
    ),
    (Service::Manage, "GET", "/portal"),
    (Service::Manage, "GET", "/portal/"),
    (
        Service::Manage,
        "GET POST",
        "/portal/t/{slug}/invite/{token}",
    ),
    (Service::Manage, "GET POST", "/portal/login"),
    (Service::Manage, "POST", "/portal/logout"),
    (Service::Manage, "POST", "/portal/logout-all"),
    (Service::Manage, "GET", "/portal/events"),
    (Service::Manage, "GET", "/portal/credentials"),
    (Service::Manage, "POST", "/portal/credentials/rotate"),
    (Service::Manage, "POST", "/portal/sso/settings"),
    (Service::Manage, "POST", "/portal/sso/start"),
    (Service::Manage, "GET", "/portal/sso/callback"),
    (Service::Manage, "POST", "/portal/streams/{id}/subjects"),
    (Service::Manage, "POST", "/portal/streams/{id}/test"),
    (Service::Manage, "GET POST", "/portal/decoder"),
    (Service::Manage, "POST", "/portal/streams"),
    (Service::Manage, "GET", "/portal/streams/{id}"),
    (Service::Manage, "POST", "/portal/streams/{id}/status"),
    (Service::Manage, "POST", "/portal/streams/{id}/verify"),
];

/// The maintained list plus every operation of the served OpenAPI document.
pub fn all(openapi: &Value) -> Vec<Route> {
    let mut routes: Vec<Route> = LISTED
        .iter()
        .map(|(service, methods, template)| Route {
            service: *service,
            methods: methods.split(' ').map(str::to_owned).collect(),
            template: (*template).to_owned(),
        })
        .collect();
    let paths = openapi["paths"]
        .as_object()
        .expect("the document has paths");
    assert!(
        paths.len() > 10,
        "the tenant API lists its routes: {paths:?}"
    );
    for (path, item) in paths {
        let methods: Vec<String> = item
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
            .map(|k| k.to_ascii_uppercase())
            .collect();
        routes.push(Route {
            service: Service::Manage,
            methods,
            template: path.clone(),
        });
    }
    routes
}
