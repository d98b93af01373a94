//! SSRF test targets: a [`Listener`] on loopback that counts the connections it accepts (the
//! "victim" an attacker would point sethub at, or a provider allowed on one chosen address),
//! and every spelling of a forbidden address ([`forbidden_urls`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers a request given its path with a whole HTTP/1.1 response.
pub type Handler = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// A listener answering every request through its handler (one request per connection) and
/// counting the connections it accepts. Stops when the test's runtime ends.
pub struct Listener {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Listener {
    /// Listens on `bind` (such as `127.0.0.1:0` or `127.0.0.2:0`).
    pub async fn start(bind: &str, handler: Handler) -> Listener {
        let listener = TcpListener::bind(bind)
            .await
            .unwrap_or_else(|e| panic!("cannot bind {bind}: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the listener has no address: {e}"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let _ = socket.write_all(handler(&path).as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Listener { addr, accepted }
    }

    /// A listener answering `answer` to everything.
    pub async fn answering(bind: &str, answer: String) -> Listener {
        Self::start(bind, Arc::new(move |_| answer.clone())).await
    }

    /// The victim: an internal service on 127.0.0.1 answering 200 with a banner.
    pub async fn victim() -> Listener {
        Self::answering(
            "127.0.0.1:0",
            respond(200, "application/json", VICTIM_BANNER),
        )
        .await
    }

    /// How many connections it has accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://addr` (no trailing slash).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// What the victim answers: a test that finds it anywhere has leaked the target's answer.
pub const VICTIM_BANNER: &str = "{\"internal\":\"victim-banner\"}";

/// A whole HTTP/1.1 response (connection closed after it).
pub fn respond(status: u16, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A `302` to `location`.
pub fn redirect(location: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
}

/// Every spelling of a loopback, unspecified or metadata address the SSRF guard must refuse:
/// dotted, IPv6, IPv4-mapped, NAT64, decimal, octal, hex and short forms.
pub const FORBIDDEN_HOSTS: [&str; 12] = [
    "127.0.0.1",
    "[::1]",
    "0.0.0.0",
    "169.254.169.254",
    "[::ffff:127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "2130706433",
    "0177.0.0.1",
    "0x7f.1",
    "127.1",
    "[::]",
    "[::ffff:a9fe:a9fe]",
];

/// Names that resolve to loopback here: `localhost`, and `ip6-localhost`/`ip6-loopback` where
/// /etc/hosts has them.
pub fn loopback_names() -> Vec<&'static str> {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let mut names = vec!["localhost", "LOCALHOST"];
    for n in ["ip6-localhost", "ip6-loopback"] {
        if hosts.split_whitespace().any(|w| w == n) {
            names.push(n);
        }
    }
    names
}

/// `http://` and `https://` URLs of `path` at every forbidden host and loopback name, on
/// `port` (the victim's).
pub fn forbidden_urls(port: u16, path: &str) -> Vec<String> {
    FORBIDDEN_HOSTS
        .iter()
        .copied()
        .chain(loopback_names())
        .flat_map(|h| {
            [
                format!("http://{h}:{port}{path}"),
                format!("https://{h}:{port}{path}"),
            ]
        })
        .collect()
}
