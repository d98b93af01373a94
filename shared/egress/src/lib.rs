//! Outbound HTTP that cannot be turned against us (SSRF): every URL sethub fetches on behalf of
//! a tenant or receiver — push endpoints, upstream JWKS, OpenID providers — goes through here.
//!
//! The guard: `https` only (unless allowed), no credentials in URLs, host names resolved by a
//! resolver that drops every non-global address (so DNS rebinding cannot slip one in between a
//! check and the connection, because the client connects to what the resolver returned), IP
//! literals checked before the request (reqwest skips the resolver for them), no redirects, no
//! proxies, bounded timeouts. An operator allow-list lets chosen networks through; tests and the
//! embedded default may allow private targets explicitly.

mod ip;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
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
    #[error("`{0}` is not a valid absolute URL")]
    NotAUrl(String),
    #[error("only https:// URLs are allowed (got {0}://)")]
    Scheme(String),
    #[error("URLs must not carry a user name or password")]
    Credentials,
    #[error("URLs must not carry a fragment")]
    Fragment,
    #[error("the URL has no host")]
    NoHost,
    #[error(
        "{host} resolves to {addr}, which is not a public address (loopback, private, link-local or reserved)"
    )]
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
        let url =
            Url::parse(raw).map_err(|_| EgressError::NotAUrl(raw.chars().take(200).collect()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
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

    /// An HTTP client that enforces this policy on every connection.
    pub fn client(&self, opts: &ClientOptions) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: self.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(opts.max_idle_per_host)
            .user_agent(opts.user_agent.clone())
            .build()
    }
}

/// Timeouts and pool size of a guarded client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_idle_per_host: usize,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_idle_per_host: 32,
            user_agent: concat!("sethub/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Resolves with the system resolver, then refuses names with any forbidden address.
struct GuardedResolver {
    policy: EgressPolicy,
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

/// Whether a reqwest error came from the guard refusing an address (not a network failure).
pub fn is_refused_by_guard(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<EgressError>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}
