//! Outbound HTTP that cannot be turned against us (SSRF): every URL sethub fetches on behalf of
//! a tenant or receiver — push endpoints, upstream JWKS, OpenID providers — goes through here.
//!
//! The guard: `https` only (unless allowed), no credentials in URLs, host names resolved by a
//! resolver that drops every non-global address (so DNS rebinding cannot slip one in between a
//! check and the connection, because the client connects to what the resolver returned), IP
//! literals checked before the request (reqwest skips the resolver for them), no redirects, no
//! proxies, bounded timeouts and a bounded answer size. An operator allow-list lets chosen
//! networks through; tests and the embedded default may allow private targets explicitly.
//!
//! The only way to make a request is a [`GuardedClient`], built by [`EgressPolicy::client`]:
//! it checks the URL on every request, and its HTTP client (with the guarded resolver) cannot
//! be had any other way. `clippy.toml` forbids building a `reqwest` client anywhere else.

mod client;
mod ip;

pub use client::{Answer, FetchError, GuardedClient, OutboundRequest};

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use ip::is_global;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// What outbound requests may reach.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    /// Allow loopback, private, link-local and other non-global addresses.
    pub allow_private: bool,
    /// Non-global networks allowed even when `allow_private` is off.
    pub allowed_networks: Vec<IpNet>,
    /// Allow `http://` URLs (never in production).
    pub allow_http: bool,
}

/// Why a URL or address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("no URL was given; enter a full URL such as https://receiver.example.com/events")]
    Empty,
    #[error("`{0}` is not a full URL such as https://receiver.example.com/events")]
    NotAUrl(String),
    #[error("only https:// URLs are allowed (got {0}://)")]
    Scheme(String),
    /// Where `http://` is allowed too (development, tests).
    #[error("only http:// and https:// URLs are allowed (got {0}://)")]
    SchemeHttpOrHttps(String),
    #[error("URLs must not carry a user name or password")]
    Credentials,
    #[error("URLs must not carry a fragment")]
    Fragment,
    #[error("the URL has no host")]
    NoHost,
    /// The message names the host as written, not what it resolved to (no DNS oracle).
    #[error("{host} is not a public address (loopback, private, link-local or reserved)")]
    Forbidden { host: String, addr: IpAddr },
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
}

impl EgressPolicy {
    /// Whether this address may be contacted.
    pub fn allows(&self, addr: IpAddr) -> bool {
        let addr = ip::canonical(addr);
        self.allow_private
            || is_global(addr)
            || self.allowed_networks.iter().any(|n| n.contains(&addr))
    }

    /// Checks the URL's form and, when its host is an IP literal, the address. Host names are
    /// checked when resolved (see [`EgressPolicy::resolve`] and [`EgressPolicy::client`]).
    pub fn check_url(&self, raw: &str) -> Result<Url, EgressError> {
        if raw.trim().is_empty() {
            return Err(EgressError::Empty);
        }
        let url =
            Url::parse(raw).map_err(|_| EgressError::NotAUrl(raw.chars().take(200).collect()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other if self.allow_http => {
                return Err(EgressError::SchemeHttpOrHttps(other.to_owned()));
            }
            other => return Err(EgressError::Scheme(other.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EgressError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(EgressError::Fragment);
        }
        match url.host() {
            None => return Err(EgressError::NoHost),
            Some(Host::Ipv4(v4)) => self.check_addr(&v4.to_string(), IpAddr::V4(v4))?,
            Some(Host::Ipv6(v6)) => self.check_addr(&v6.to_string(), IpAddr::V6(v6))?,
            Some(Host::Domain(_)) => {}
        }
        Ok(url)
    }

    fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), EgressError> {
        if self.allows(addr) {
            Ok(())
        } else {
            Err(EgressError::Forbidden {
                host: host.to_owned(),
                addr,
            })
        }
    }

    /// Checks the URL and resolves its host now, refusing it if any address is not allowed.
    /// Used when a URL is registered (a stream's push endpoint), to fail early and clearly.
    pub async fn check_url_resolving(&self, raw: &str) -> Result<Url, EgressError> {
        let url = self.check_url(raw)?;
        if let Some(Host::Domain(domain)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(443);
            self.resolve(domain, port).await?;
        }
        Ok(url)
    }

    /// Resolves `host` and returns its addresses; an error if none, or if any is forbidden
    /// (a name that resolves to both a public and a private address is refused as a whole).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| EgressError::Resolve {
                host: host.to_owned(),
                reason: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(EgressError::Resolve {
                host: host.to_owned(),
                reason: "no addresses".to_owned(),
            });
        }
        for a in &addrs {
            self.check_addr(host, a.ip())?;
        }
        Ok(addrs)
    }

    /// The one HTTP client that enforces this policy on every request and connection.
    pub fn client(&self, opts: &ClientOptions) -> Result<GuardedClient, FetchError> {
        GuardedClient::new(self.clone(), opts)
    }
}

/// Timeouts, pool size and the largest answer of a guarded client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// The whole request, answer body included.
    pub request_timeout: Duration,
    pub max_idle_per_host: usize,
    pub user_agent: String,
    /// The most bytes of an answer's body read ([`FetchError::TooLarge`] past it, or cut there
    /// by [`OutboundRequest::send_truncating`]).
    pub max_response_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_idle_per_host: 32,
            user_agent: concat!("sethub/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_bytes: 256 * 1024,
        }
    }
}

/// Resolves with the system resolver, then refuses names with any forbidden address.
pub(crate) struct GuardedResolver {
    pub(crate) policy: EgressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port on the addresses it gets back.
            let addrs = policy.resolve(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The guard's refusal inside a reqwest error (from the resolver), if that is why it failed.
pub(crate) fn refusal(err: &reqwest::Error) -> Option<EgressError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<EgressError>() {
            return Some(refused.clone());
        }
        source = e.source();
    }
    None
}
