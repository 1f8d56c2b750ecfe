//! Who is on the other end of the connection.

use std::net::{IpAddr, SocketAddr};

use bulwark_core::Client;
use http::HeaderMap;
use ipnet::IpNet;

/// The peer address of the TCP connection, put into each request's extensions by the
/// accept loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

/// The client's address: the peer, or, when the peer is a trusted proxy, the rightmost
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub(crate) fn client_of(peer: Option<PeerAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Client {
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| first_chars(ua, MAX_USER_AGENT_CHARS).to_owned());
    let mut ip = peer.map(|p| p.0.ip());
    let is_trusted = |addr: &IpAddr| trusted.iter().any(|net| net.contains(addr));
    if ip.as_ref().is_some_and(is_trusted) {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        for addr in forwarded.iter().rev() {
            ip = Some(*addr);
            if !is_trusted(addr) {
                break;
            }
        }
    }
    Client {
        ip: ip.map(canonical),
        user_agent,
        country: None,
        asn: None,
    }
}

/// The longest user agent an event keeps, in characters.
const MAX_USER_AGENT_CHARS: usize = 512;

/// The first `n` characters of `text`: one slice and one copy, where collecting `char`s
/// grew the string several times for every request.
fn first_chars(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((end, _)) => text.get(..end).unwrap_or(text),
        None => text,
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are IPv4 clients.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(s: &str) -> Option<PeerAddr> {
        Some(PeerAddr(SocketAddr::new(s.parse().unwrap(), 1)))
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.7, 10.0.0.2".parse().unwrap(),
        );
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_of(peer("10.0.0.1"), &headers, &trusted).ip,
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            client_of(peer("192.0.2.9"), &headers, &trusted).ip,
            Some("192.0.2.9".parse().unwrap())
        );
        assert_eq!(
            client_of(peer("::ffff:192.0.2.9"), &headers, &[]).ip,
            Some("192.0.2.9".parse().unwrap())
        );
    }

    #[test]
    fn a_user_agent_is_kept_up_to_its_limit() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::USER_AGENT,
            "openai-python/1.51.0".parse().unwrap(),
        );
        assert_eq!(
            client_of(None, &headers, &[]).user_agent.as_deref(),
            Some("openai-python/1.51.0")
        );
        let long = "a".repeat(MAX_USER_AGENT_CHARS) + "tail";
        headers.insert(http::header::USER_AGENT, long.parse().unwrap());
        assert_eq!(
            client_of(None, &headers, &[]).user_agent,
            Some("a".repeat(MAX_USER_AGENT_CHARS))
        );
        assert_eq!(first_chars("grüße", 3), "grü");
        assert_eq!(first_chars("grüße", 5), "grüße");
        assert_eq!(first_chars("", 5), "");
    }
}
