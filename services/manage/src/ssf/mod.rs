//! The SSF 1.0 transmitter side of a tenant: metadata, token endpoint and the stream
//! management API (configuration, status, subjects, verification).

mod metadata;
mod status;
mod streams;
mod subjects;
mod tenant;
mod token;
mod verify;

use actix_web::web;

/// Registers the SSF routes of every tenant.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/ssf-configuration/t/{slug}",
        web::get().to(metadata::metadata),
    )
    .route("/t/{slug}/jwks.json", web::get().to(metadata::jwks))
    .route("/t/{slug}/oauth/token", web::post().to(token::token))
    .service(
        web::resource("/t/{slug}/ssf/stream")
            .route(web::get().to(streams::read))
            .route(web::post().to(streams::create))
            .route(web::patch().to(streams::update))
            .route(web::put().to(streams::replace))
            .route(web::delete().to(streams::delete)),
    )
    .service(
        web::resource("/t/{slug}/ssf/status")
            .route(web::get().to(status::read))
            .route(web::post().to(status::update)),
    )
    .route("/t/{slug}/ssf/subjects:add", web::post().to(subjects::add))
    .route(
        "/t/{slug}/ssf/subjects:remove",
        web::post().to(subjects::remove),
    )
    .route("/t/{slug}/ssf/verify", web::post().to(verify::verify));
}
