//! The web console and the portal, server side: every form's validation (errors beside their
//! fields, the typed values kept, nothing created), CSRF refusal, sessions, roles enforced by
//! the server, sign-in rate limiting, single sign-on and tenant isolation, sessions kept on
//! the server and the team page. Over PostgreSQL (and Redis for sessions), in-process.

#![allow(clippy::unwrap_used)]

mod accounts;
#[path = "../api_support/mod.rs"]
mod api_support;
mod egress;
mod headers;
mod limits;
mod logs;
mod nul;
mod pages;
mod portal;
mod quotas;
mod receivers;
mod sessions;
mod sso;
mod sso_hardening;
mod support;
mod team;
