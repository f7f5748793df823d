//! Record-level filters: which connections, TLS handshakes, HTTP requests and DNS queries of an
//! [`Analysis`](crate::Analysis) to keep ([`Analysis::filtered`](crate::Analysis::filtered)).
//!
//! All the conditions given must hold (they are combined with "and"):
//!
//! - `server`: a connection's server endpoint is the address (or in the network), and the port
//!   when given; a *name* matches the connection's TLS SNI or one of its HTTP `Host` headers.
//!   A DNS query matches by its server address and port, or by its question name for a name.
//! - `client`: the client address is the address (or in the network). DNS queries by their
//!   client address.
//! - `sni`: the connection's TLS SNI is the name (case-insensitive; `*.example.com` matches
//!   the sub-domains). Connections without a TLS handshake do not match. DNS queries match by
//!   their question name.
//! - `port`: the client or the server port (like tcpdump's `port`), for connections and DNS.
//! - `since` / `until`: the record *starts* in `[since, until)`: a connection by its first
//!   packet, a TLS handshake by its ClientHello (else its connection's first packet), an HTTP
//!   request by its first byte, a DNS query by its query time.
//!
//! TLS handshakes and HTTP requests are kept when their connection matches the endpoint and
//! name conditions (whatever its start time) and they start in the time window themselves.
//! The capture summary and the tracking counters describe the whole capture and are not
//! filtered.

use std::net::IpAddr;

/// A host: an address, a network (`10.0.0.0/8`), or a name (matched against TLS SNI, HTTP
/// `Host` and DNS question names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// One address.
    Ip(IpAddr),
    /// A network: address and prefix length.
    Net(IpAddr, u8),
    /// A host name, lower-case, without a trailing dot.
    Name(String),
}

impl Host {
    /// Whether `ip` is this address or in this network (never for a name).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self, ip) {
            (Host::Ip(a), b) => a == b,
            (Host::Net(IpAddr::V4(n), len), IpAddr::V4(b)) => {
                let len = u32::from((*len).min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(*n) & mask == u32::from(*b) & mask
            }
            (Host::Net(IpAddr::V6(n), len), IpAddr::V6(b)) => {
                let len = u32::from((*len).min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(*n) & mask == u128::from(*b) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
            Host::Net(a, len) => write!(f, "{a}/{len}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// A server: a host, a port, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The host; `None` for any host (`:443`).
    pub host: Option<Host>,
    /// The port; `None` for any port.
    pub port: Option<u16>,
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(h) = &self.host {
            write!(f, "{h}")?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// A bound of the time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    /// An absolute time, ns since the Unix epoch.
    At(i64),
    /// A time relative to the capture's first packet, ns.
    FromStart(i64),
}

impl TimeBound {
    fn resolve(self, first_ts: Option<i64>) -> i64 {
        match self {
            TimeBound::At(t) => t,
            TimeBound::FromStart(d) => first_ts.unwrap_or(0).saturating_add(d),
        }
    }
}

/// Which records to keep; the default keeps everything. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Server endpoint or name.
    pub server: Option<Server>,
    /// Client address or network.
    pub client: Option<Host>,
    /// TLS server name (lower-case).
    pub sni: Option<String>,
    /// Client or server port.
    pub port: Option<u16>,
    /// Start of the time window (inclusive).
    pub since: Option<TimeBound>,
    /// End of the time window (exclusive).
    pub until: Option<TimeBound>,
}

impl Filter {
    /// Whether the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Both filters' conditions (a condition set in `other` replaces the same one in `self`).
    pub fn and(&self, other: &Filter) -> Filter {
        Filter {
            server: other.server.clone().or_else(|| self.server.clone()),
            client: other.client.clone().or_else(|| self.client.clone()),
            sni: other.sni.clone().or_else(|| self.sni.clone()),
            port: other.port.or(self.port),
            since: other.since.or(self.since),
            until: other.until.or(self.until),
        }
    }

    /// The time window in absolute ns for a capture whose first packet is at `first_ts`.
    pub(crate) fn window(&self, first_ts: Option<i64>) -> (Option<i64>, Option<i64>) {
        (
            self.since.map(|b| b.resolve(first_ts)),
            self.until.map(|b| b.resolve(first_ts)),
        )
    }
}

impl std::fmt::Display for Filter {
    /// The conditions as command-line flags, e.g. `--server 10.0.0.1:443 --port 443`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(s) = &self.server {
            parts.push(format!("--server {s}"));
        }
        if let Some(c) = &self.client {
            parts.push(format!("--client {c}"));
        }
        if let Some(s) = &self.sni {
            parts.push(format!("--sni {s}"));
        }
        if let Some(p) = self.port {
            parts.push(format!("--port {p}"));
        }
        for (flag, b) in [("--since", self.since), ("--until", self.until)] {
            match b {
                Some(TimeBound::At(t)) => parts.push(format!(
                    "{flag} {}.{:09}",
                    t.div_euclid(1_000_000_000),
                    t.rem_euclid(1_000_000_000)
                )),
                Some(TimeBound::FromStart(d)) => {
                    parts.push(format!("{flag} +{}", crate::figures::format_duration(d)))
                }
                None => {}
            }
        }
        f.write_str(&parts.join(" "))
    }
}

/// Case-insensitive name match; `*.example.com` matches `a.example.com` (not `example.com`).
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    let name = name.trim_end_matches('.');
    if let Some(suffix) = pattern.strip_prefix("*.") {
        name.len() > suffix.len() + 1
            && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
    } else {
        name.eq_ignore_ascii_case(pattern)
    }
}

/// The host part of an HTTP `Host` header (port and brackets removed).
pub(crate) fn host_only(host: &str) -> &str {
    let h = host.trim().trim_end_matches('.');
    if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if h.matches(':').count() == 1 {
        h.split(':').next().unwrap_or(h)
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_names() {
        let net = Host::Net("10.88.0.0".parse().unwrap(), 16);
        assert!(net.contains(&"10.88.7.2".parse().unwrap()));
        assert!(!net.contains(&"10.89.7.2".parse().unwrap()));
        assert!(!net.contains(&"::1".parse().unwrap()));
        assert!(Host::Net("0.0.0.0".parse().unwrap(), 0).contains(&"1.2.3.4".parse().unwrap()));
        let v6 = Host::Net("fd00::".parse().unwrap(), 8);
        assert!(v6.contains(&"fd12::1".parse().unwrap()));
        assert!(name_matches("*.example.com", "a.Example.com."));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "aexample.com"));
        assert!(name_matches("example.com", "EXAMPLE.com"));
        assert_eq!(host_only("Example.com:8080"), "Example.com");
        assert_eq!(host_only("[::1]:80"), "::1");
    }
}
