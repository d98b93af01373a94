//! What the request log keeps of a URL: never an invite token.

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::api_support::Hub;
use crate::support::{browser, invite_path, logged_browser, sign_up};

/// A log writer into memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn an_invite_links_token_never_reaches_the_request_log() {
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let csrf = owner.get("/console/team").await.csrf();
    let p = owner
        .post("/console/team", &[("csrf", &csrf), ("role", "viewer")])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let path = invite_path(&owner.get("/console/team").await);
    let token = path.rsplit('/').next().unwrap().to_owned();

    // Every span of this thread (the in-process server runs here) is written when it closes.
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut visitor = logged_browser(&hub).await;
    assert_eq!(visitor.get(&path).await.status, StatusCode::OK);
    let callback = format!("/console/sso/callback?code={token}&state={token}");
    visitor.get(&callback).await;

    let text = log.text();
    assert!(
        text.contains(&format!("/console/t/{slug}/join/[redacted]")),
        "{text}"
    );
    assert!(text.contains("code=[redacted]&state=[redacted]"), "{text}");
    assert!(!text.contains(&token), "the token is in the log: {text}");
}
