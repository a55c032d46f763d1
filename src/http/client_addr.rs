//! The client's address, for throttling: the connection's peer, unless the peer is a trusted
//! reverse proxy (`--trusted-proxies`), whose `X-Forwarded-For` header is then read from the right,
//! skipping the trusted proxies, to the first address that is not one.
//!
//! Only `X-Forwarded-For` is read: it is what ingress controllers and load balancers append to
//! (nginx, Traefik, HAProxy, cloud load balancers), so its rightmost hops are theirs. `Forwarded`
//! is passed through untouched by most of them, so a client could write any address there.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::Error;
use crate::app::AppState;

/// The address a request comes from, as far as Lectern can trust it.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientAddr(pub(super) IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| Error::Unavailable("the connection's address is unknown".to_owned()))?;
        Ok(Self(client_address(
            peer,
            &parts.headers,
            &app.config.trusted_proxies,
        )))
    }
}

/// Walks the forwarding chain from `peer` back towards the client while the hop is trusted.
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_chain(headers).into_iter().rev() {
        let Some(ip) = hop else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The addresses a request passed through, client first, from every `X-Forwarded-For` line; an
/// element that is no address (`unknown`) is `None`.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|element| parse_node(element.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peers_headers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_address(ip("198.51.100.1"), &h, &[]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_and_spoofed_hops_before_it_are_not() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.5")]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &h, &trusted),
            ip("203.0.113.9"),
            "the first untrusted hop from the right; 1.2.3.4 was written by the client"
        );
    }

    #[test]
    fn a_client_written_forwarded_header_is_ignored() {
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        let h = headers(&[
            ("forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            client_address(ip("127.0.0.1"), &h, &trusted),
            ip("203.0.113.9")
        );
        let h = headers(&[("forwarded", "for=192.0.2.60")]);
        assert_eq!(
            client_address(ip("127.0.0.1"), &h, &trusted),
            ip("127.0.0.1"),
            "no X-Forwarded-For: the proxy itself"
        );
    }

    #[test]
    fn repeated_lines_ports_and_ipv6_are_understood() {
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-for", "[2001:db8:cafe::17]:4711"),
        ]);
        assert_eq!(
            client_address(ip("127.0.0.1"), &h, &trusted),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[("x-forwarded-for", "192.0.2.60:8080")]);
        assert_eq!(
            client_address(ip("127.0.0.1"), &h, &trusted),
            ip("192.0.2.60")
        );
        let h = headers(&[("x-forwarded-for", "unknown")]);
        assert_eq!(
            client_address(ip("127.0.0.1"), &h, &trusted),
            ip("127.0.0.1")
        );
    }
}
