//! Confirmation before a destructive action, in plain HTML: a destructive form posts without
//! `confirmed=yes` and the server answers with a page that asks (the question, what happens,
//! "Yes, …" re-posting the same fields with `confirmed=yes`, and a way back); only a post
//! that carries `confirmed=yes` acts. It works without script; with script, `console.js` asks
//! with the browser's dialog and adds `confirmed=yes` itself, so one click and one answer do.
//! The console and the portal share it.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::{Home, page};

/// Whether the form carries the confirmation.
pub(crate) fn confirmed<'a>(form: impl IntoIterator<Item = (&'a String, &'a String)>) -> bool {
    form.into_iter()
        .any(|(k, v)| k == "confirmed" && v == "yes")
}

/// What the confirmation page says.
pub(crate) struct Ask<'a> {
    /// The question, as the heading ("Revoke the key ci?").
    pub question: String,
    /// What happens, in a sentence.
    pub detail: &'a str,
    /// The button that acts ("Yes, revoke it").
    pub yes: &'a str,
    /// Where "No, go back" leads.
    pub back: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    home: &'static str,
    question: String,
    detail: &'a str,
    yes: &'a str,
    back: String,
    action: &'a str,
    fields: Vec<(&'a String, &'a String)>,
}

/// The page that asks before `action` is posted again with the same fields (the CSRF token
/// among them) and `confirmed=yes`.
pub(crate) fn ask<'a>(
    home: Home,
    action: &'a str,
    form: impl IntoIterator<Item = (&'a String, &'a String)>,
    ask: Ask<'a>,
) -> HttpResponse {
    page(
        StatusCode::OK,
        &ConfirmPage {
            home: match home {
                Home::Console => "/console",
                Home::Portal => "/portal",
            },
            question: ask.question,
            detail: ask.detail,
            yes: ask.yes,
            back: ask.back,
            action,
            fields: form
                .into_iter()
                .filter(|(k, _)| *k != "confirmed")
                .collect(),
        },
    )
}
