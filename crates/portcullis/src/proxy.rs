//! The client's address behind reverse proxies.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use portcullis_decide::HeaderSource;
use portcullis_rules::canonical_ip;

/// Which header trusted proxies record the client chain in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the de facto standard).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for="[2001:db8::1]:4711"` (RFC 7239).
    Forwarded,
}

/// The reverse proxies in front of the server, as CIDRs.
///
/// When the peer (the address the TCP connection comes from) is a trusted proxy, the
/// client is the rightmost address in the forwarding header that is not a trusted proxy:
/// each proxy appends the address it received the request from, so everything to the
/// right of the first untrusted hop was written by proxies we trust, and everything to
/// its left may be forged by the client. When the peer is not trusted, the forwarding
/// headers are ignored. Headers that cannot be read (garbage, `unknown`, obfuscated
/// identifiers, a port-only entry) give the peer address: they never panic.
///
/// Only the configured header is read (by default `X-Forwarded-For`): a client could
/// otherwise forge the other one, which the proxy passes on untouched.
///
/// ```
/// use portcullis::TrustedProxies;
///
/// let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
/// let peer = "10.1.2.3".parse().unwrap();
/// let headers = [("x-forwarded-for", "203.0.113.9, 198.51.100.1, 10.0.0.7")];
/// assert_eq!(proxies.client_ip(peer, &headers), "198.51.100.1".parse::<std::net::IpAddr>().unwrap());
///
/// // From an untrusted peer the header is ignored.
/// let peer = "192.0.2.1".parse().unwrap();
/// assert_eq!(proxies.client_ip(peer, &headers), peer);
/// ```
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

/// A trusted-proxy entry that is not an address or CIDR.
#[derive(Clone, Debug)]
pub struct ProxyError {
    entry: String,
    message: String,
}

impl ProxyError {
    /// The entry at fault.
    #[must_use]
    pub fn entry(&self) -> &str {
        &self.entry
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trusted proxy `{}`: {}", self.entry, self.message)
    }
}

impl std::error::Error for ProxyError {}

impl TrustedProxies {
    /// No trusted proxy: the client is always the peer.
    #[must_use]
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Trusts these networks.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> TrustedProxies {
        TrustedProxies {
            nets: nets.into_iter().map(|n| n.trunc()).collect(),
            header: ForwardedHeader::default(),
        }
    }

    /// Trusts these addresses or CIDRs (`"10.0.0.0/8"`, `"::1"`).
    ///
    /// # Errors
    ///
    /// The first item that is not an address or CIDR, with why.
    pub fn parse<S: AsRef<str>>(
        items: impl IntoIterator<Item = S>,
    ) -> Result<TrustedProxies, ProxyError> {
        let mut nets = Vec::new();
        for item in items {
            let item = item.as_ref().trim();
            let net = portcullis_rules::parse_net(item).map_err(|message| ProxyError {
                entry: item.to_string(),
                message,
            })?;
            nets.push(net);
        }
        Ok(TrustedProxies::new(nets))
    }

    /// Reads this header instead of `X-Forwarded-For`.
    #[must_use]
    pub fn header(mut self, header: ForwardedHeader) -> TrustedProxies {
        self.header = header;
        self
    }

    /// The trusted networks.
    #[must_use]
    pub fn networks(&self) -> &[IpNet] {
        &self.nets
    }

    /// Whether `ip` is a trusted proxy.
    #[must_use]
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request that came from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &dyn HeaderSource) -> IpAddr {
        let peer = canonical_ip(peer);
        if self.nets.is_empty() || !self.is_trusted(peer) {
            return peer;
        }
        // One pass, left to right, no allocation: the answer is the last untrusted hop,
        // unless something unreadable follows it.
        let mut chain = Chain::Empty;
        match self.header {
            ForwardedHeader::XForwardedFor => headers.for_each("x-forwarded-for", &mut |value| {
                for hop in value.split(|&b| b == b',') {
                    chain.push(parse_node(hop), self);
                }
            }),
            ForwardedHeader::Forwarded => headers.for_each("forwarded", &mut |value| {
                for element in value.split(|&b| b == b',') {
                    chain.push(forwarded_for(element).and_then(parse_node_str), self);
                }
            }),
        }
        match chain {
            Chain::Client(ip) | Chain::AllTrusted(ip) => ip,
            Chain::Empty | Chain::Unreadable => peer,
        }
    }
}

/// What the hops seen so far say about the client.
enum Chain {
    /// No hop yet.
    Empty,
    /// Every hop so far is a trusted proxy; the leftmost one.
    AllTrusted(IpAddr),
    /// The last untrusted hop, with only trusted hops after it.
    Client(IpAddr),
    /// An unreadable hop with only trusted hops after it: the client cannot be known.
    Unreadable,
}

impl Chain {
    fn push(&mut self, hop: Option<IpAddr>, proxies: &TrustedProxies) {
        *self = match (hop, &*self) {
            (None, _) => Chain::Unreadable,
            (Some(ip), _) if !proxies.is_trusted(ip) => Chain::Client(ip),
            (Some(ip), Chain::Empty) => Chain::AllTrusted(ip),
            // A trusted hop after the client, an unreadable hop or other trusted hops
            // changes nothing.
            (Some(_), _) => return,
        };
    }
}

/// One `X-Forwarded-For` hop: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`.
fn parse_node(bytes: &[u8]) -> Option<IpAddr> {
    parse_node_str(std::str::from_utf8(bytes).ok()?)
}

fn parse_node_str(s: &str) -> Option<IpAddr> {
    let s = s.trim_matches([' ', '\t']);
    let s = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(s);
    let ip = if let Some(rest) = s.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        if !(after.is_empty() || valid_port(after.strip_prefix(':')?)) {
            return None;
        }
        IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else {
        let (addr, port) = s.rsplit_once(':')?;
        if !valid_port(port) {
            return None;
        }
        IpAddr::V4(addr.parse::<Ipv4Addr>().ok()?)
    };
    Some(canonical_ip(ip))
}

fn valid_port(p: &str) -> bool {
    p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
}

/// The `for=` value of one RFC 7239 element: `for=192.0.2.60;proto=http;by=203.0.113.43`.
fn forwarded_for(element: &[u8]) -> Option<&str> {
    let element = std::str::from_utf8(element).ok()?;
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse(["10.0.0.0/8", "2001:db8:ffff::/48"]).unwrap()
    }

    fn xff(p: &TrustedProxies, peer: &str, values: &[&str]) -> IpAddr {
        let headers: Vec<(&str, &str)> = values.iter().map(|v| ("x-forwarded-for", *v)).collect();
        p.client_ip(ip(peer), &headers)
    }

    fn fwd(peer: &str, values: &[&str]) -> IpAddr {
        let p = proxies().header(ForwardedHeader::Forwarded);
        let headers: Vec<(&str, &str)> = values.iter().map(|v| ("forwarded", *v)).collect();
        p.client_ip(ip(peer), &headers)
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        assert_eq!(
            xff(&proxies(), "192.0.2.1", &["198.51.100.7"]),
            ip("192.0.2.1")
        );
        assert_eq!(
            xff(&TrustedProxies::none(), "10.0.0.1", &["198.51.100.7"]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn rightmost_untrusted_hop_is_the_client() {
        let p = proxies();
        assert_eq!(xff(&p, "10.0.0.1", &["198.51.100.7"]), ip("198.51.100.7"));
        // The client forged the first entry; the proxy appended the real address.
        assert_eq!(
            xff(&p, "10.0.0.1", &["1.1.1.1, 198.51.100.7, 10.0.0.9"]),
            ip("198.51.100.7")
        );
        // Several header lines form one list.
        assert_eq!(
            xff(&p, "10.0.0.1", &["1.1.1.1", "198.51.100.7 , 10.0.0.9"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            xff(&p, "10.0.0.1", &["[2001:db8::1]:443, 10.2.3.4:8080"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            xff(&p, "10.0.0.1", &["::ffff:198.51.100.7"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn all_trusted_chain_gives_the_leftmost_hop() {
        assert_eq!(
            xff(&proxies(), "10.0.0.1", &["10.9.9.9, 10.0.0.2"]),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn garbage_falls_back_to_the_peer() {
        let p = proxies();
        for bad in [
            "",
            "garbage",
            "1.2.3.4.5",
            "unknown",
            "[::1",
            "1.2.3.4:99999",
            ",,,",
            "\u{0}",
            "1.2.3.4, nope",
        ] {
            assert_eq!(xff(&p, "10.0.0.1", &[bad]), ip("10.0.0.1"), "{bad:?}");
        }
        // Garbage left of the client is beyond the first untrusted hop: not read.
        assert_eq!(
            xff(&p, "10.0.0.1", &["nope, 198.51.100.7"]),
            ip("198.51.100.7")
        );
        let headers = [("x-forwarded-for", &b"\xff\xfe, 1.2.3.4"[..])];
        assert_eq!(p.client_ip(ip("10.0.0.1"), &headers), ip("1.2.3.4"));
        let headers = [("x-forwarded-for", &b"1.2.3.4, \xff\xfe"[..])];
        assert_eq!(p.client_ip(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
        // No header at all.
        assert_eq!(xff(&p, "10.0.0.1", &[]), ip("10.0.0.1"));
    }

    #[test]
    fn rfc7239_forwarded() {
        assert_eq!(
            fwd("10.0.0.1", &["for=192.0.2.60;proto=http;by=203.0.113.43"]),
            ip("192.0.2.60")
        );
        assert_eq!(
            fwd("10.0.0.1", &[r#"for="[2001:db8:cafe::17]:4711""#]),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            fwd(
                "10.0.0.1",
                &["For=192.0.2.43, for=198.51.100.17;by=10.0.0.1, for=10.0.0.5"]
            ),
            ip("198.51.100.17")
        );
        assert_eq!(fwd("10.0.0.1", &["for=unknown"]), ip("10.0.0.1"));
        assert_eq!(
            fwd("10.0.0.1", &["for=_hidden, for=10.0.0.3"]),
            ip("10.0.0.1")
        );
        assert_eq!(fwd("10.0.0.1", &["proto=https"]), ip("10.0.0.1"));
        assert_eq!(fwd("192.0.2.1", &["for=198.51.100.17"]), ip("192.0.2.1"));
        // X-Forwarded-For is not read when Forwarded is configured.
        let p = proxies().header(ForwardedHeader::Forwarded);
        assert_eq!(
            p.client_ip(ip("10.0.0.1"), &[("x-forwarded-for", "198.51.100.7")]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ipv4_mapped_peer_is_trusted_as_ipv4() {
        assert_eq!(
            xff(&proxies(), "::ffff:10.0.0.1", &["198.51.100.7"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn bad_proxy_entry_is_an_error() {
        let e = TrustedProxies::parse(["10.0.0.0/33"]).unwrap_err();
        assert_eq!(e.entry(), "10.0.0.0/33");
        assert!(e.to_string().contains("prefix length"), "{e}");
    }
}
