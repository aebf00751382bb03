//! The client address a per-client limit is keyed by, and `--trusted-proxy` parsing.
//!
//! Without trusted proxies the client is the TCP peer. Behind proxies, each trusted proxy
//! appends the address it received the request from to `X-Forwarded-For`; everything left of
//! the last entry a trusted proxy wrote was supplied by the client and may be forged. So the
//! walk goes from the right, skipping trusted proxies, and stops at the first untrusted hop.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// Why a `--trusted-proxy` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("empty trusted proxy: expected an address or CIDR such as 10.0.0.0/8 or 2001:db8::/32")]
    Empty,
    #[error("invalid trusted proxy {input:?}: {address:?} is not an IPv4 or IPv6 address")]
    Address { input: String, address: String },
    #[error("invalid trusted proxy {input:?}: prefix length {prefix:?} is not a number")]
    Prefix { input: String, prefix: String },
    #[error("invalid trusted proxy {input:?}: prefix length {prefix} is longer than {max}")]
    PrefixTooLong { input: String, prefix: u8, max: u8 },
    #[error(
        "invalid trusted proxy {input:?}: bits are set after the prefix; did you mean {network}?"
    )]
    HostBits { input: String, network: IpNet },
}

/// Parses a `--trusted-proxy` value: a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single
/// address (`10.1.2.3`, `::1`, meaning /32 or /128). A CIDR with bits set after the prefix is
/// rejected rather than silently widened. IPv4-mapped IPv6 (`::ffff:10.0.0.0/104`) becomes the
/// IPv4 network, to match how addresses are compared (see [`client_address`]).
pub fn parse_trusted_proxy(s: &str) -> Result<IpNet, CidrError> {
    let input = s.trim();
    if input.is_empty() {
        return Err(CidrError::Empty);
    }
    let (addr_text, prefix_text) = match input.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (input, None),
    };
    let addr: IpAddr = addr_text.parse().map_err(|_| CidrError::Address {
        input: input.to_owned(),
        address: addr_text.to_owned(),
    })?;
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u8>().unwrap_or(u8::MAX)
        }
        Some(p) => {
            return Err(CidrError::Prefix {
                input: input.to_owned(),
                prefix: p.to_owned(),
            });
        }
    };
    if prefix > max {
        return Err(CidrError::PrefixTooLong {
            input: input.to_owned(),
            prefix,
            max,
        });
    }
    let (addr, prefix) = match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) if prefix >= 96 => (IpAddr::V4(v4), prefix - 96),
            _ => (addr, prefix),
        },
        IpAddr::V4(_) => (addr, prefix),
    };
    let net = IpNet::new(addr, prefix).map_err(|_| CidrError::PrefixTooLong {
        input: input.to_owned(),
        prefix,
        max,
    })?;
    if net.trunc() != net {
        return Err(CidrError::HostBits {
            input: input.to_owned(),
            network: net.trunc(),
        });
    }
    Ok(net)
}

/// The address a request comes from, for per-client limits.
///
/// Returns `peer` unless `peer` is a trusted proxy; then walks `x_forwarded_for` from the
/// right and returns the first address that is not a trusted proxy. If every entry is a
/// trusted proxy, the left-most one (the request started inside the trusted network). If the
/// header is absent, or an entry the walk reaches is not an address (`ip`, `ip:port` or
/// `[ipv6]:port`), the peer: a trusted proxy never writes such an entry, so the chain cannot
/// be followed. Entries left of the first untrusted hop are never parsed: whatever a client
/// writes there cannot change the result.
///
/// Several `X-Forwarded-For` header lines must be joined with `,` in order before the call.
/// Addresses are compared and returned in canonical form: an IPv4-mapped IPv6 peer
/// (`::ffff:192.0.2.1`, as dual-stack sockets report IPv4 clients) is IPv4.
pub fn client_address(
    peer: IpAddr,
    x_forwarded_for: Option<&str>,
    trusted_proxies: &[IpNet],
) -> IpAddr {
    let peer = peer.to_canonical();
    let trusted = |a: &IpAddr| trusted_proxies.iter().any(|net| net.contains(a));
    if !trusted(&peer) {
        return peer;
    }
    let Some(header) = x_forwarded_for else {
        return peer;
    };
    let mut leftmost = None;
    for entry in header.rsplit(',') {
        let Some(hop) = parse_hop(entry.trim()) else {
            return peer;
        };
        if !trusted(&hop) {
            return hop;
        }
        leftmost = Some(hop);
    }
    leftmost.unwrap_or(peer)
}

fn parse_hop(entry: &str) -> Option<IpAddr> {
    let addr = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()?;
    Some(addr.to_canonical())
}

/// The key a per-client limit should use for `addr`: the IPv4 address, or the /64 network of
/// an IPv6 address (one subscriber usually holds a whole /64 and could otherwise rotate
/// through 2⁶⁴ addresses, each with a fresh budget).
pub fn rate_limit_key(addr: IpAddr) -> String {
    match addr.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(bits))
        }
    }
}
