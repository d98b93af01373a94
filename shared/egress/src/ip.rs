//! Which IP addresses are public ("global") and may be contacted on a tenant's behalf.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Unwraps IPv4 carried in IPv6 (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`), so the
/// IPv4 rules apply to it.
pub(crate) fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// True only for addresses on the public internet: not loopback, private, shared (CGNAT),
/// link-local (which includes cloud metadata at 169.254.169.254), unique-local, multicast,
/// documentation, benchmarking, reserved or unspecified.
pub fn is_global(addr: IpAddr) -> bool {
    match canonical(addr) {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network"
        || a == 10                              // private
        || a == 127                             // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)               // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))  // private
        || (a == 192 && b == 0 && c == 0)       // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)       // documentation TEST-NET-1
        || (a == 192 && b == 88 && c == 99)     // 6to4 relay anycast (deprecated)
        || (a == 192 && b == 168)               // private
        || (a == 198 && (b == 18 || b == 19))   // benchmarking
        || (a == 198 && b == 51 && c == 100)    // documentation TEST-NET-2
        || (a == 203 && b == 0 && c == 113)     // documentation TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00                  // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80                  // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0                  // site-local (deprecated) fec0::/10
        || (s[0] & 0xff00) == 0xff00                  // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8)         // documentation
        || (s[0] == 0x2001 && s[1] < 0x0200)          // IETF protocol assignments (incl. Teredo)
        || s[0] == 0x2002                             // 6to4: may embed any IPv4
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])   // discard-only 100::/64
        || s[0..5] == [0, 0, 0, 0, 0]) // IPv4-compatible and other ::/80 forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_global_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(!is_global(ip), "{a} must not count as global");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(is_global(ip), "{a} is public");
        }
    }
}
