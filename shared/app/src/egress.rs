//! Outbound requests: the one egress policy of this deployment and the guarded client of each
//! purpose (push, upstream JWKS, single sign-on, upstream SSF transmitters and their long polls). Every request sethub makes goes through a
//! [`GuardedClient`] built here.

use std::time::Duration;

use sethub_egress::{ClientOptions, EgressPolicy, FetchError, GuardedClient};

use crate::AppContext;

/// The SSRF policy of every outbound request: the operator's `push.allow_private_targets`,
/// `push.allowed_networks` and `push.allow_http`, relaxed in the embedded default (a laptop's
/// receivers and providers are on loopback and plain HTTP).
pub fn policy(ctx: &AppContext) -> EgressPolicy {
    let push = &ctx.config.push;
    let embedded = ctx.config.backends().is_embedded();
    EgressPolicy {
        allow_private: push.allow_private_targets || embedded,
        allowed_networks: push.allowed_networks.clone(),
        allow_http: push.allow_http || embedded,
    }
}

/// What an outbound client is for (its timeouts and answer bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// SETs pushed to receivers: the answer is only read for its status and an excerpt.
    Push,
    /// An upstream transmitter's JWKS.
    Jwks,
    /// An OpenID provider: discovery, JWKS, token and userinfo.
    Sso,
    /// An upstream SSF transmitter sethub receives from: metadata, token, stream API.
    Upstream,
    /// The long polls of an upstream poll stream: open up to `ingest.upstream_long_poll_secs`.
    UpstreamPoll,
}

/// The most bytes of a push answer read (status, `Retry-After` and an excerpt are all that is
/// kept).
pub const MAX_PUSH_ANSWER: usize = 16 * 1024;

/// The most bytes of a JWKS, discovery document or token answer read.
pub const MAX_DOCUMENT: usize = 256 * 1024;

/// The guarded client for `purpose`, under [`policy`].
pub fn client(ctx: &AppContext, purpose: Purpose) -> Result<GuardedClient, FetchError> {
    let version = env!("CARGO_PKG_VERSION");
    let opts = match purpose {
        Purpose::Push => {
            let push = &ctx.config.push;
            ClientOptions {
                connect_timeout: Duration::from_millis(push.connect_timeout_ms),
                request_timeout: Duration::from_millis(push.request_timeout_ms),
                max_idle_per_host: push.max_in_flight_per_endpoint,
                user_agent: format!("sethub/{version}"),
                max_response_bytes: MAX_PUSH_ANSWER,
            }
        }
        Purpose::Jwks | Purpose::Sso | Purpose::Upstream | Purpose::UpstreamPoll => ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: if purpose == Purpose::UpstreamPoll {
                Duration::from_secs(ctx.config.ingest.upstream_long_poll_secs)
            } else {
                Duration::from_secs(10)
            },
            max_idle_per_host: 4,
            user_agent: format!(
                "sethub/{version} ({})",
                match purpose {
                    Purpose::Jwks => "jwks",
                    Purpose::Upstream | Purpose::UpstreamPoll => "ssf-receiver",
                    _ => "sso",
                }
            ),
            max_response_bytes: MAX_DOCUMENT,
        },
    };
    policy(ctx).client(&opts)
}
