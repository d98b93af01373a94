//! Random requests from a seeded RNG: a route's method or any other (made-up ones too), its
//! path with real or random parameters (or a random path), a random query string, random
//! credentials and a random body (JSON written as text, so numbers can be out of any range).

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::routes::{Route, Service};

/// Marks every random path segment, so a test can tell that none became a metric label.
pub const MARK: &str = "zqx";

/// What the requests may use: the real tenant, its credentials and ids.
#[derive(Debug, Clone)]
pub struct Known {
    pub slug: String,
    pub api_key: String,
    pub token: String,
    /// The console session cookie (`name=value`) and its CSRF token.
    pub console_cookie: String,
    pub csrf: String,
    /// The portal session cookie of a receiver's user and its CSRF token.
    pub portal_cookie: String,
    pub portal_csrf: String,
    /// Stream ids, receiver ids and any other real id.
    pub ids: Vec<String>,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Planned {
    pub service: Service,
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Display for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(300).collect();
        write!(
            f,
            "{} {} ({:?}) headers {:?} body {body:?}",
            self.method, self.path_and_query, self.service, self.headers
        )
    }
}

const STANDARD: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "24",
    "8785",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "99999999999999999999999",
    "1e308",
    "1e400",
    "-0",
    "0.5",
];

const WORDS: &[&str] = &[
    "",
    " ",
    "null",
    "true",
    "[]",
    "{}",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "evt_",
    "str_",
    "rcv_00000000000000000000000000",
    "str_7zzzzzzzzzzzzzzzzzzzzzzzzz",
    "2026-01-01T00:00:00Z",
    "+262143-12-31T23:59:59Z",
    "-262143-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "http://127.0.0.1:9/push",
    "https://169.254.169.254/latest",
    "urn:ietf:rfc:8935",
    "urn:ietf:rfc:8936",
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "user@example.com",
    "ü😀\u{202e}",
    "enabled",
    "paused",
    "disabled",
    "dead",
    "pending",
];

/// The query parameters some route reads.
const QUERY_KEYS: &[&str] = &[
    "hours",
    "limit",
    "before",
    "state",
    "type",
    "subject",
    "target",
    "stream_id",
    "code",
    "error",
    "returnImmediately",
    "maxEvents",
    "from",
    "to",
    "page",
];

const KEYS: &[&str] = &[
    "hours",
    "limit",
    "before",
    "after",
    "state",
    "type",
    "subject",
    "target",
    "code",
    "error",
    "iss",
    "stream_id",
    "returnImmediately",
    "maxEvents",
    "ack",
    "setErrs",
    "from",
    "to",
    "from_event_id",
    "to_event_id",
    "delivery_ids",
    "back_to",
    "delivery",
    "method",
    "endpoint_url",
    "authorization_header",
    "events_requested",
    "description",
    "status",
    "reason",
    "format",
    "email",
    "sub_id",
    "events",
    "name",
    "scopes",
    "force",
    "issuer",
    "audience",
    "jwks_url",
    "jwks",
    "retry",
    "initial_secs",
    "factor",
    "max_delay_secs",
    "max_age_secs",
    "jitter",
    "rate",
    "per_second",
    "burst",
    "min_verification_interval",
    "txn",
    "toe",
    "aliases",
    "identifiers",
    "ip-addresses",
    "client_id",
    "client_secret",
    "grant_type",
    "organisation",
    "slug",
    "password",
    "role",
    "token",
    "id",
    "verified",
    "phone_number",
    "sub",
    "uri",
    "url",
    "payload",
    "idempotency_key",
    "jti",
    "aud",
    "iat",
];

pub struct Fuzzer {
    rng: StdRng,
    known: Known,
    counter: u64,
}

impl Fuzzer {
    pub fn new(seed: u64, known: Known) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            known,
            counter: 0,
        }
    }

    fn pick<'a>(&mut self, from: &'a [&'a str]) -> &'a str {
        from.choose(&mut self.rng).copied().unwrap_or("")
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.random_range(0..100) < percent
    }

    /// A random printable-or-not string, marked.
    fn junk(&mut self) -> String {
        let len = match self.rng.random_range(0..10) {
            0 => self.rng.random_range(200..3000),
            _ => self.rng.random_range(0..12),
        };
        let mut s = String::from(MARK);
        for _ in 0..len {
            let c = match self.rng.random_range(0..6) {
                0 => char::from(self.rng.random_range(0x20u8..0x7f)),
                1 => char::from_u32(self.rng.random_range(0x80..0x2_0000)).unwrap_or('ß'),
                _ => char::from(self.rng.random_range(b'a'..=b'z')),
            };
            s.push(c);
        }
        s
    }

    fn value(&mut self) -> String {
        match self.rng.random_range(0..5) {
            0 => self.pick(NUMBERS).to_owned(),
            1 => self.junk(),
            2 => self
                .known
                .ids
                .choose(&mut self.rng)
                .cloned()
                .unwrap_or_default(),
            _ => self.pick(WORDS).to_owned(),
        }
    }

    fn segment(&mut self, name: &str) -> String {
        let raw = match name {
            "slug" if self.chance(80) => self.known.slug.clone(),
            "id" | "stream_id" if self.chance(60) => self
                .known
                .ids
                .choose(&mut self.rng)
                .cloned()
                .unwrap_or_default(),
            _ => self.value(),
        };
        encode(&raw)
    }

    fn path(&mut self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
            let name = rest[open + 1..close].split(':').next().unwrap_or("");
            out.push_str(&self.segment(name));
            rest = rest.get(close + 1..).unwrap_or("");
        }
        out.push_str(rest);
        out
    }

    fn query(&mut self) -> String {
        let n = self.rng.random_range(0..4);
        let pairs: Vec<String> = (0..n)
            .map(|_| {
                let key = self.pick(KEYS).to_owned();
                let value = self.value();
                format!("{}={}", encode(&key), encode(&value))
            })
            .collect();
        pairs.join("&")
    }

    /// A JSON value as text: nested, with numbers out of range, duplicate keys now and then.
    fn json(&mut self, depth: u32) -> String {
        match self.rng.random_range(0..if depth > 2 { 4 } else { 7 }) {
            0 => self.pick(NUMBERS).to_owned(),
            1 => serde_json::Value::String(self.value()).to_string(),
            2 => ["true", "false", "null"][self.rng.random_range(0..3)].to_owned(),
            3 => serde_json::Value::String(self.pick(WORDS).to_owned()).to_string(),
            4 => {
                let n = self.rng.random_range(0..4);
                let items: Vec<String> = (0..n).map(|_| self.json(depth + 1)).collect();
                format!("[{}]", items.join(","))
            }
            _ => self.object(depth + 1),
        }
    }

    fn object(&mut self, depth: u32) -> String {
        let n = self.rng.random_range(0..6);
        let fields: Vec<String> = (0..n)
            .map(|_| {
                let key = serde_json::Value::String(self.pick(KEYS).to_owned()).to_string();
                format!("{key}:{}", self.json(depth))
            })
            .collect();
        format!("{{{}}}", fields.join(","))
    }

    fn form(&mut self, template: &str) -> String {
        let mut pairs = Vec::new();
        if self.chance(70) {
            let csrf = if template.starts_with("/portal") {
                &self.known.portal_csrf
            } else {
                &self.known.csrf
            };
            pairs.push(format!("csrf={}", encode(csrf)));
        }
        for _ in 0..self.rng.random_range(0..6) {
            let key = self.pick(KEYS).to_owned();
            let value = self.value();
            pairs.push(format!("{}={}", encode(&key), encode(&value)));
        }
        pairs.join("&")
    }

    fn body(&mut self, template: &str) -> (Option<&'static str>, Vec<u8>) {
        match self.rng.random_range(0..10) {
            0 => (None, Vec::new()),
            1 => (Some("application/json"), b"{\"unterminated".to_vec()),
            2 => {
                let n = self.rng.random_range(0..200);
                let bytes: Vec<u8> = (0..n).map(|_| self.rng.random()).collect();
                (Some("application/secevent+jwt"), bytes)
            }
            3 => (
                Some("application/secevent+jwt"),
                format!("{}.{}.{}", self.junk(), self.junk(), self.junk()).into_bytes(),
            ),
            4 | 5 => (
                Some("application/x-www-form-urlencoded"),
                self.form(template).into_bytes(),
            ),
            6 => (Some("text/plain"), self.object(0).into_bytes()),
            _ => (Some("application/json"), self.object(0).into_bytes()),
        }
    }

    fn right_credentials(&self, template: &str) -> (String, String) {
        let (name, value) = if template.starts_with("/console") {
            ("Cookie", self.known.console_cookie.clone())
        } else if template.starts_with("/portal") {
            ("Cookie", self.known.portal_cookie.clone())
        } else if template.contains("/ssf/") {
            ("Authorization", format!("Bearer {}", self.known.token))
        } else {
            ("Authorization", format!("Bearer {}", self.known.api_key))
        };
        (name.to_owned(), value)
    }

    fn credentials(&mut self, template: &str) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        match self.rng.random_range(0..10) {
            0..=5 => headers.push(self.right_credentials(template)),
            6 => headers.push((
                "Authorization".to_owned(),
                format!("Bearer {}", self.known.token),
            )),
            7 => headers.push((
                "Authorization".to_owned(),
                format!("Bearer {}", self.junk()),
            )),
            8 => headers.push(("Authorization".to_owned(), "Basic Og==".to_owned())),
            _ => {}
        }
        headers
    }

    /// The next request for `route` (or, now and then, for a random path).
    pub fn request(&mut self, route: &Route) -> Planned {
        self.counter += 1;
        let method = match self.rng.random_range(0..10) {
            0..=5 => route
                .methods
                .choose(&mut self.rng)
                .cloned()
                .unwrap_or_else(|| "GET".to_owned()),
            6 | 7 => self.pick(STANDARD).to_owned(),
            _ => format!("PROBE{}", self.counter),
        };
        let mut path = if self.chance(10) {
            format!("{}/{}", self.path(&route.template), self.junk())
        } else {
            self.path(&route.template)
        };
        // Never end the session every later request uses.
        let logout = path.ends_with("/logout");
        let query = self.query();
        if !query.is_empty() {
            path = format!("{path}?{query}");
        }
        let mut headers = self.credentials(&route.template);
        if logout {
            headers.retain(|(k, _)| k != "Cookie");
        }
        let (content_type, body) = if method == "GET" || method == "HEAD" {
            (None, Vec::new())
        } else {
            self.body(&route.template)
        };
        if let Some(ct) = content_type {
            headers.push(("Content-Type".to_owned(), ct.to_owned()));
        }
        if self.chance(5) {
            headers.push(("Idempotency-Key".to_owned(), self.value()));
        }
        Planned {
            service: route.service,
            method,
            path_and_query: path,
            headers,
            body,
        }
    }

    /// For a route with `GET`: each query parameter any route reads, with each of a few
    /// integers out of every common range, and the right credentials.
    pub fn query_sweep(&mut self, route: &Route) -> Vec<Planned> {
        if !route.methods.iter().any(|m| m == "GET") {
            return Vec::new();
        }
        let mut out = Vec::new();
        for key in QUERY_KEYS {
            for value in ["4294967295", "18446744073709551616", "-1"] {
                let headers = vec![self.right_credentials(&route.template)];
                out.push(Planned {
                    service: route.service,
                    method: "GET".to_owned(),
                    path_and_query: format!("{}?{key}={value}", self.path(&route.template)),
                    headers,
                    body: Vec::new(),
                });
            }
        }
        out
    }

    /// A request with a made-up method to a random path, for the metrics check.
    pub fn probe(&mut self) -> Planned {
        self.counter += 1;
        Planned {
            service: Service::Each,
            method: format!("PROBE{}", self.counter),
            path_and_query: format!("/{}/{}", encode(&self.junk()), encode(&self.junk())),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
