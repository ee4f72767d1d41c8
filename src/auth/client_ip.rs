//! The address a request comes from: the peer, or, when the peer is a
//! trusted proxy, the right-most `X-Forwarded-For` entry that is not itself
//! a trusted proxy.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// Where the request comes from, or `None` when a trusted proxy forwarded
/// a chain we cannot read: then the client is unknown, and no allow-list
/// admits it.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let Some(header) = forwarded_for else {
        return Some(peer);
    };
    let mut last = peer;
    for entry in header.rsplit(',') {
        let ip = entry.trim().parse::<IpAddr>().ok()?.to_canonical();
        if !is_trusted(&ip) {
            return Some(ip);
        }
        last = ip;
    }
    Some(last)
}

/// Whether `addr` is one of the trusted proxies.
pub fn is_trusted(addr: IpAddr, trusted: &[IpNet]) -> bool {
    let addr = addr.to_canonical();
    trusted.iter().any(|net| net.contains(&addr))
}

/// Every `X-Forwarded-For` line of the request, joined in order (proxies
/// may add a line of their own rather than extend the client's). A line
/// that is not plain text poisons the chain, so that it cannot be skipped.
pub fn forwarded_for(req: &HttpRequest) -> Option<String> {
    let lines: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|v| v.to_str().unwrap_or("invalid"))
        .collect();
    (!lines.is_empty()).then(|| lines.join(","))
}

/// The client of `req`, by the rules above.
pub fn of_request(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    client_ip(peer, forwarded_for(req).as_deref(), trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_forward() {
        assert_eq!(
            client_ip(ip("203.0.113.5"), Some("10.0.0.1"), &[]),
            Some(ip("203.0.113.5"))
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                Some("198.51.100.1, 203.0.113.9, 10.1.1.1"),
                &trusted
            ),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), None, &trusted),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), Some("2001:db8::7"), &trusted),
            Some(ip("2001:db8::7"))
        );
    }

    #[test]
    fn a_garbled_chain_from_a_trusted_proxy_means_an_unknown_client() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        for header in ["garbage", "invalid, 127.0.0.1", "", "203.0.113.9 10.0.0.1"] {
            assert_eq!(
                client_ip(ip("127.0.0.1"), Some(header), &trusted),
                None,
                "{header:?}"
            );
        }
    }
}
