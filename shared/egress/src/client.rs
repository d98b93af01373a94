//! The one outbound HTTP client: every request's URL is checked against the policy before it
//! is sent (scheme, credentials, IP literals in any spelling `url` accepts), names go through
//! the guarded resolver (so the address checked is the address connected to), redirects are
//! not followed, no proxy is used, and the answer's body is read in chunks up to a bound.
//!
//! Errors say what sethub decided or saw in general terms (refused, unreachable, too large),
//! never what the target answered: a caller may show them to the person who typed the URL.
//! The detail (the error chain, the host) goes to the log for the operator.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use crate::{ClientOptions, EgressError, EgressPolicy, GuardedResolver};

/// Why an outbound request got no usable answer. The texts are safe to show to users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The policy refused the URL or the address it resolves to.
    #[error("the address is not allowed: {0}")]
    Refused(#[from] EgressError),
    #[error("the request timed out")]
    Timeout,
    #[error("the server could not be reached")]
    Unreachable,
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the request failed")]
    Failed,
    #[error("the HTTP client cannot be built")]
    Build,
}

/// A complete answer: status, headers and (bounded) body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP client under an [`EgressPolicy`]: the only way sethub makes outbound requests.
/// Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct GuardedClient {
    policy: EgressPolicy,
    http: reqwest::Client,
    max_response_bytes: usize,
}

impl std::fmt::Debug for GuardedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedClient")
            .field("policy", &self.policy)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl GuardedClient {
    pub(crate) fn new(policy: EgressPolicy, opts: &ClientOptions) -> Result<Self, FetchError> {
        // The one place a reqwest client is built: with the guarded resolver, no redirects and
        // no proxy (clippy.toml forbids building one anywhere else).
        #[allow(clippy::disallowed_methods)]
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(opts.max_idle_per_host)
            .user_agent(opts.user_agent.clone())
            .build()
            .map_err(|e| {
                tracing::error!(error = %e, "cannot build the outbound HTTP client");
                FetchError::Build
            })?;
        Ok(Self {
            policy,
            http,
            max_response_bytes: opts.max_response_bytes,
        })
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// A request to `url` (checked when sent).
    pub fn request(&self, method: Method, url: &str) -> OutboundRequest<'_> {
        OutboundRequest {
            client: self,
            method,
            url: url.to_owned(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> OutboundRequest<'_> {
        self.request(Method::GET, url)
    }

    /// `POST url`.
    pub fn post(&self, url: &str) -> OutboundRequest<'_> {
        self.request(Method::POST, url)
    }
}

/// A request being put together; nothing is sent before [`OutboundRequest::send`].
pub struct OutboundRequest<'a> {
    client: &'a GuardedClient,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl OutboundRequest<'_> {
    /// Adds a header (one that is not a valid header is left out, and logged).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => tracing::warn!(header = name, "an outbound header is not valid; left out"),
        }
        self
    }

    /// Adds these headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers.extend(headers);
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Sends the request and reads the whole answer: [`FetchError::TooLarge`] when its body is
    /// larger than the client's bound.
    pub async fn send(self) -> Result<Answer, FetchError> {
        self.exchange(false).await
    }

    /// Sends the request and reads the answer's body up to the client's bound, cutting it
    /// there (for callers that only need its start, such as a push's status and excerpt).
    pub async fn send_truncating(self) -> Result<Answer, FetchError> {
        self.exchange(true).await
    }

    async fn exchange(self, truncate: bool) -> Result<Answer, FetchError> {
        let limit = self.client.max_response_bytes;
        let url = self.client.policy.check_url(&self.url).inspect_err(|e| {
            tracing::info!(refused = %e, "outbound request refused by the egress policy");
        })?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut resp = self
            .client
            .http
            .request(self.method, url)
            .headers(self.headers)
            .body(self.body)
            .send()
            .await
            .map_err(|e| failure(&host, &e))?;
        let status = resp.status();
        let headers = std::mem::take(resp.headers_mut());
        if !truncate && resp.content_length().is_some_and(|n| n > limit as u64) {
            tracing::warn!(%host, limit, "outbound answer refused: larger than the bound");
            return Err(FetchError::TooLarge(limit));
        }
        let mut body = Vec::new();
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                // A push only needs the start of the answer; a body cut short is still one.
                Err(_) if truncate => break,
                Err(e) => return Err(failure(&host, &e)),
            };
            body.extend_from_slice(&chunk);
            if body.len() > limit {
                if truncate {
                    body.truncate(limit);
                    break;
                }
                tracing::warn!(%host, limit, "outbound answer refused: larger than the bound");
                return Err(FetchError::TooLarge(limit));
            }
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// The user-safe kind of a reqwest failure; the detail (without the URL, which may carry a
/// token in its query) goes to the log.
fn failure(host: &str, e: &reqwest::Error) -> FetchError {
    if let Some(refused) = crate::refusal(e) {
        tracing::info!(%host, %refused, "outbound request refused by the egress policy");
        return FetchError::Refused(refused);
    }
    let kind = if e.is_timeout() {
        FetchError::Timeout
    } else if e.is_connect() {
        FetchError::Unreachable
    } else {
        FetchError::Failed
    };
    tracing::info!(%host, error = %chain(e), "outbound request failed");
    kind
}

/// An error's sources joined, without the top one (reqwest's carries the URL).
fn chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        "no detail".into()
    } else {
        parts.join(": ")
    }
}
