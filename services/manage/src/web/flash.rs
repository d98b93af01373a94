//! A message for the next page after a form (post/redirect/get), shared by the console and
//! the portal: a success is shown as a notice, a refusal as an alert, so "Test event sent"
//! never looks like an error.

use actix_session::Session;
use serde::{Deserialize, Serialize};

/// What happened, and whether it went well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

impl Flash {
    /// A success ("Test event sent").
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            text: text.into(),
        }
    }

    /// A refusal or a failure ("Not changed: …").
    pub fn problem(text: impl Into<String>) -> Self {
        Self {
            ok: false,
            text: text.into(),
        }
    }

    /// The CSS class the templates give it.
    pub fn class(&self) -> &'static str {
        if self.ok { "notice" } else { "alert" }
    }

    /// Keeps it in the session under `key` for the next page. A session that cannot take it
    /// loses only the message; the change itself is done.
    pub fn keep(self, session: &Session, key: &str) {
        if let Err(e) = session.insert(key, self) {
            tracing::warn!(error = %e, "a page message could not be kept in the session");
        }
    }

    /// Takes the message kept under `key`, if any.
    pub fn take(session: &Session, key: &str) -> Option<Self> {
        session.remove_as::<Self>(key).and_then(Result::ok)
    }
}
