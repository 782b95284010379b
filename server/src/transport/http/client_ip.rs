//! The client's IP address. It is the TCP peer's — unless the peer is one of
//! `TRUSTED_PROXIES`: then `X-Forwarded-For` is read from the right (the nearest hop first), and
//! the first address that is not itself a trusted proxy is the client. Anything to the left of
//! it was written by the client and is ignored; a header from an untrusted peer is ignored
//! altogether, so nobody buys a fresh rate-limit budget by writing one.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use crate::config::Cidr;

/// The client address for rate limits and the sessions list.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(client) {
        return client;
    }
    // Every X-Forwarded-For header, in order, read as one list; each element on its own, so
    // one unreadable element (or header) cannot shift the others.
    let hops: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .collect();
    for hop in hops.into_iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(ip) => client = ip,
            Some(ip) => return ip,
            // Garbage where an address should be: the last proxy we trust is the client we
            // can name.
            None => return client,
        }
    }
    client
}

/// One `X-Forwarded-For` element: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_hop(raw: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(raw).ok()?.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_peers_and_from_the_right() {
        let trusted = [
            Cidr::parse("10.0.0.0/8").unwrap(),
            Cidr::parse("::1").unwrap(),
        ];
        let h = headers(&["6.6.6.6, 203.0.113.9, 10.1.1.1"]);
        // An untrusted peer: its header is ignored.
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
        // A trusted one: the rightmost untrusted hop, not the client-written leftmost.
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("203.0.113.9"));
        // Several headers are one list, in order.
        let h = headers(&["6.6.6.6", "203.0.113.9:5555, [2001:db8::7]:443"]);
        assert_eq!(client_ip(ip("::1"), &h, &trusted), ip("2001:db8::7"));
        // Nothing but proxies: the farthest one.
        let h = headers(&["10.2.2.2, 10.3.3.3"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.2.2.2"));
        // Garbage stops the walk at the last trusted hop.
        let h = headers(&["203.0.113.9, unknown, 10.3.3.3"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.3.3.3"));
        // No header: the peer. IPv4-mapped IPv6 peers are IPv4.
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }
}
