//! The web console and the portal, server side: every form's validation (errors beside their
//! fields, the typed values kept, nothing created), CSRF refusal, sessions, roles enforced by
//! the server, sign-in rate limiting, single sign-on and tenant isolation. Over PostgreSQL,
//! in-process.

#![allow(clippy::unwrap_used)]

mod accounts;
#[path = "../api_support/mod.rs"]
mod api_support;
mod pages;
mod portal;
mod quotas;
mod sso;
mod support;
