//! The address of the person or program on the other end of a request: the TCP peer, or, when
//! the peer is one of the operator's trusted reverse proxies (`server.trusted_proxies`), the
//! address those proxies recorded in `X-Forwarded-For`. A client can write anything into
//! that header, so it is believed only hop by hop from the right: each trusted proxy vouches
//! for the entry left of its own, and the first entry that is not a trusted proxy is the
//! client.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use ipnet::IpNet;

use crate::AppContext;

/// The client address of a request (see the module). `None` inside when the server has no
/// peer address (a Unix socket, an in-process test request): such callers share one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The address as limits count it: an IPv4 address, an IPv6 /64 (one subscriber usually
    /// holds a whole /64, so counting single addresses would give them 2^64 buckets).
    pub fn bucket(&self) -> String {
        match self.0 {
            None => "unknown".to_owned(),
            Some(IpAddr::V4(a)) => a.to_string(),
            Some(IpAddr::V6(a)) => {
                let s = a.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        }
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => a.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// The client address from the TCP `peer`, the `X-Forwarded-For` header values in the order
/// received, and the trusted proxy networks.
pub fn client_addr<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> ClientAddr {
    let is_trusted = |a: &IpAddr| trusted.iter().any(|n| n.contains(a));
    let Some(mut client) = peer.map(|p| p.to_canonical()) else {
        return ClientAddr(None);
    };
    if !is_trusted(&client) {
        return ClientAddr(Some(client));
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    // Right to left: `client` is a trusted proxy, so the hop it recorded is believed.
    for hop in hops.into_iter().rev() {
        let Some(addr) = parse_hop(hop) else {
            // Garbage where a proxy should have written an address: the last proxy that can
            // be believed is the client (never something the client may have written).
            break;
        };
        client = addr;
        if !is_trusted(&client) {
            break;
        }
    }
    ClientAddr(Some(client))
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|a| a.to_canonical())
}

/// The client address of `req`, with the trusted proxies of the context in its app data.
pub fn of_request(req: &HttpRequest) -> ClientAddr {
    let trusted = req
        .app_data::<web::Data<AppContext>>()
        .map(|ctx| ctx.config.server.trusted_proxies.clone())
        .unwrap_or_default();
    let xff = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    client_addr(req.peer_addr().map(|p| p.ip()), xff, &trusted)
}

impl FromRequest for ClientAddr {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(of_request(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|n| n.parse().unwrap_or_else(|e| panic!("{n}: {e}")))
            .collect()
    }

    #[test]
    fn the_header_of_an_untrusted_peer_is_ignored() {
        let got = client_addr(Some(ip("203.0.113.9")), ["198.51.100.1"], &nets(&[]));
        assert_eq!(got, ClientAddr(Some(ip("203.0.113.9"))));
        let got = client_addr(
            Some(ip("203.0.113.9")),
            ["198.51.100.1"],
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(got, ClientAddr(Some(ip("203.0.113.9"))));
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right_and_a_forged_left_part_is_not_believed() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        // client wrote "1.1.1.1", the edge proxy appended the real client, an inner proxy
        // appended the edge proxy.
        let got = client_addr(
            Some(ip("10.0.0.2")),
            ["1.1.1.1, 198.51.100.7", "10.0.0.1"],
            &trusted,
        );
        assert_eq!(got, ClientAddr(Some(ip("198.51.100.7"))));
        // Ports and brackets are understood; IPv4-mapped peers are compared as IPv4.
        let got = client_addr(Some(ip("::ffff:10.0.0.2")), ["[2001:db8::5]:443"], &trusted);
        assert_eq!(got, ClientAddr(Some(ip("2001:db8::5"))));
        // Only trusted proxies in the header: the leftmost is the best we know.
        let got = client_addr(Some(ip("10.0.0.2")), ["10.0.0.3"], &trusted);
        assert_eq!(got, ClientAddr(Some(ip("10.0.0.3"))));
        // Garbage stops the walk at the last believed hop.
        let got = client_addr(Some(ip("10.0.0.2")), ["198.51.100.7, nonsense"], &trusted);
        assert_eq!(got, ClientAddr(Some(ip("10.0.0.2"))));
        // No header: the proxy itself.
        let got = client_addr(Some(ip("10.0.0.2")), [], &trusted);
        assert_eq!(got, ClientAddr(Some(ip("10.0.0.2"))));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let a = ClientAddr(Some(ip("2001:db8:1:2:aaaa::1"))).bucket();
        let b = ClientAddr(Some(ip("2001:db8:1:2:bbbb::9"))).bucket();
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(ClientAddr(Some(ip("192.0.2.1"))).bucket(), "192.0.2.1");
    }
}
