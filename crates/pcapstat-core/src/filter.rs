//! Record filters as values: which servers, clients, TLS names, ports and time window to keep,
//! how they are written (`[2001:db8::1]:443`, `*.example.com`, `+1.5s`; `FromStr` on each
//! value type), how a name matches, and which records match ([`Filter::matches_connection`],
//! [`Filter::matches_tls`], [`Filter::matches_http`], [`Filter::matches_dns`]). No polars:
//! `pcapstat::filter` re-exports it and documents the meaning of each condition, and
//! `Analysis::filtered` applies it; the CLI parses its flags and the rules' scopes with
//! [`parse_server`], [`parse_client`], [`parse_name`] and [`parse_time`].

use std::net::IpAddr;

use crate::flow::Endpoint;
use crate::record::{ConnectionRecord, DnsRecord, HttpRecord, QuicRecord, TlsRecord};
use crate::units::{format_duration, parse_duration};

/// A filter value that is not one of the accepted forms (see [`Filter`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct FilterSpecError {
    /// What is wrong, quoting the value given.
    pub message: String,
}

fn spec_err(message: String) -> FilterSpecError {
    FilterSpecError { message }
}

/// A host: an address, a network (`10.0.0.0/8`), or a name (matched against TLS SNI, HTTP
/// `Host` and DNS question names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// One address.
    Ip(IpAddr),
    /// A network: address and prefix length.
    Net(IpAddr, u8),
    /// A host name, lower-case, without a trailing dot; `*.example.com` for the sub-domains.
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
    /// `10.0.0.1`, `[2001:db8::1]`, `10.0.0.0/8`, `[2001:db8::/32]`, `example.com`: IPv6 in
    /// brackets so that a `:PORT` may follow (the output parses back with [`parse_server`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
            Host::Net(a @ IpAddr::V6(_), len) => write!(f, "[{a}/{len}]"),
            Host::Net(a, len) => write!(f, "{a}/{len}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

impl std::str::FromStr for Host {
    type Err = FilterSpecError;

    /// [`parse_host`].
    fn from_str(s: &str) -> Result<Host, FilterSpecError> {
        parse_host(s)
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

impl std::str::FromStr for Server {
    type Err = FilterSpecError;

    /// [`parse_server`].
    fn from_str(s: &str) -> Result<Server, FilterSpecError> {
        parse_server(s)
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
    /// The bound in ns since the epoch, for a capture whose first packet is at `first_ts`.
    pub fn resolve(self, first_ts: Option<i64>) -> i64 {
        match self {
            TimeBound::At(t) => t,
            TimeBound::FromStart(d) => first_ts.unwrap_or(0).saturating_add(d),
        }
    }
}

/// Which records to keep; the default keeps everything. `pcapstat::filter` documents what
/// each condition selects.
///
/// Accepted forms of a server (`--server`):
///
/// | form | example | meaning |
/// |---|---|---|
/// | `ADDR` | `10.0.0.1`, `::1`, `2001:db8::1` | that address, any port |
/// | `NET` | `10.0.0.0/8`, `2001:db8::/32`, `::/0` | an address in that network |
/// | `ADDR:PORT`, `NET:PORT` | `10.0.0.1:443`, `10.0.0.0/8:443` | IPv4 with a port |
/// | `[V6]`, `[V6]:PORT`, `[NET]:PORT` | `[::1]:443`, `[2001:db8::/32]:443` | IPv6 with a port |
/// | `:PORT` | `:443` | any server on that port |
/// | `NAME`, `NAME:PORT` | `api.example.com`, `*.example.com:443` | TLS SNI or HTTP `Host` |
///
/// A bare IPv6 address (two colons or more) never has a port: write `[::1]:443`. Text made of
/// digits and dots that is not an IPv4 address (`999.1.1.1`, `1.2.3`, `010.0.0.1`) is an
/// error, not a name, and so is a prefix length out of range (`10.0.0.0/33`). A client
/// (`--client`) is an address or a network, never a name or a port.
///
/// Names are compared byte by byte, ASCII case-insensitively, whatever bytes the capture's
/// SNI or `Host` holds (`name_matches`): no byte offset of the capture's name is ever taken
/// as a character boundary.
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
    pub fn window(&self, first_ts: Option<i64>) -> (Option<i64>, Option<i64>) {
        (
            self.since.map(|b| b.resolve(first_ts)),
            self.until.map(|b| b.resolve(first_ts)),
        )
    }
}

impl std::fmt::Display for Filter {
    /// The conditions, e.g. `server 10.0.0.1:443, port 443, since +1.5s` (empty for none).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sep = "";
        for (name, value) in self.conditions() {
            write!(f, "{sep}{name} {value}")?;
            sep = ", ";
        }
        Ok(())
    }
}

impl std::fmt::Display for TimeBound {
    /// `+1.5s` after the first packet, or seconds since the epoch (`1795314480.500000000`);
    /// both parse back with [`parse_time`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            TimeBound::At(t) => write!(
                f,
                "{}.{:09}",
                t.div_euclid(1_000_000_000),
                t.rem_euclid(1_000_000_000)
            ),
            TimeBound::FromStart(d) => write!(f, "+{}", format_duration(d)),
        }
    }
}

impl std::str::FromStr for TimeBound {
    type Err = FilterSpecError;

    /// [`parse_time`].
    fn from_str(s: &str) -> Result<TimeBound, FilterSpecError> {
        parse_time(s)
    }
}

/// The names a connection answers to for a server *name* condition: its TLS SNI and the
/// `Host` headers of its HTTP requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnNames<'a> {
    /// The TLS server name.
    pub sni: Option<&'a str>,
    /// The connection's HTTP requests (their `host`, port removed, is a name).
    pub http: &'a [HttpRecord],
}

impl<'a> ConnNames<'a> {
    /// The names of connection `conn_id` in `tls` (sorted by `conn_id`) and `http` (sorted
    /// by `conn_id`, then `request_index`), as an analysis holds them.
    pub fn of(conn_id: u64, tls: &'a [TlsRecord], http: &'a [HttpRecord]) -> Self {
        let sni = tls
            .binary_search_by_key(&conn_id, |t| t.conn_id)
            .ok()
            .and_then(|i| tls.get(i))
            .and_then(|t| t.sni.as_deref());
        let lo = http.partition_point(|h| h.conn_id < conn_id);
        let hi = http.partition_point(|h| h.conn_id <= conn_id);
        ConnNames {
            sni,
            http: http.get(lo..hi).unwrap_or(&[]),
        }
    }

    fn any(&self, pattern: &str) -> bool {
        self.sni
            .into_iter()
            .chain(
                self.http
                    .iter()
                    .filter_map(|h| h.host.as_deref().map(host_only)),
            )
            .any(|n| name_matches(pattern, n))
    }
}

impl Filter {
    /// The conditions set, as (name, value) pairs in a fixed order (`server`, `client`, `sni`,
    /// `port`, `since`, `until`): what a caller formats (the CLI as `--server VALUE`).
    pub fn conditions(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut push = |name, v: Option<String>| {
            if let Some(v) = v {
                out.push((name, v));
            }
        };
        push("server", self.server.as_ref().map(ToString::to_string));
        push("client", self.client.as_ref().map(ToString::to_string));
        push("sni", self.sni.clone());
        push("port", self.port.map(|p| p.to_string()));
        push("since", self.since.map(|b| b.to_string()));
        push("until", self.until.map(|b| b.to_string()));
        out
    }

    /// Whether `ts` is in the time window, for a capture whose first packet is at `first_ts`.
    pub fn in_window(&self, first_ts: Option<i64>, ts: i64) -> bool {
        let (lo, hi) = self.window(first_ts);
        lo.is_none_or(|l| ts >= l) && hi.is_none_or(|h| ts < h)
    }

    /// The endpoint and name conditions on a connection between `client` and `server`.
    fn matches_endpoints(&self, client: Endpoint, server: Endpoint, names: &ConnNames) -> bool {
        let server_ok = self.server.as_ref().is_none_or(|s| {
            s.port.is_none_or(|p| p == server.port)
                && match &s.host {
                    None => true,
                    Some(Host::Name(n)) => names.any(n),
                    Some(h) => h.contains(&server.ip),
                }
        });
        server_ok
            && self.client.as_ref().is_none_or(|h| h.contains(&client.ip))
            && self
                .port
                .is_none_or(|p| client.port == p || server.port == p)
            && self
                .sni
                .as_ref()
                .is_none_or(|n| names.sni.is_some_and(|x| name_matches(n, x)))
    }

    /// Whether the connection matches the endpoint and name conditions (whatever its start
    /// time: a connection is kept when, besides, [`Filter::in_window`] holds for its
    /// `start_ts`).
    pub fn matches_connection(&self, c: &ConnectionRecord, names: &ConnNames) -> bool {
        self.matches_endpoints(c.client(), c.server(), names)
    }

    /// Whether the TLS handshake of connection `c` is kept: the connection matches the endpoint
    /// and name conditions, and the ClientHello (else the connection's first packet) is in the
    /// time window.
    pub fn matches_tls(
        &self,
        t: &TlsRecord,
        c: &ConnectionRecord,
        names: &ConnNames,
        first_ts: Option<i64>,
    ) -> bool {
        self.matches_connection(c, names)
            && self.in_window(first_ts, t.client_hello_ts.unwrap_or(c.start_ts))
    }

    /// Whether the QUIC connection (and its TLS row) is kept: its endpoints and its SNI match
    /// the endpoint and name conditions, and its first packet is in the time window.
    pub fn matches_quic(&self, q: &QuicRecord, sni: Option<&str>, first_ts: Option<i64>) -> bool {
        let names = ConnNames { sni, http: &[] };
        self.matches_endpoints(q.client, q.server, &names) && self.in_window(first_ts, q.start_ts)
    }

    /// Whether the HTTP request is kept: its connection matches the endpoint and name
    /// conditions, and its first byte is in the time window.
    pub fn matches_http(&self, h: &HttpRecord, names: &ConnNames, first_ts: Option<i64>) -> bool {
        self.matches_endpoints(h.client, h.server, names)
            && self.in_window(first_ts, h.request_start_ts)
    }

    /// Whether the DNS query is kept: by its server address and port (a server *name*, without
    /// a port, matches the question name), client address, either port, the question name
    /// for `sni`, and its query time in the window.
    pub fn matches_dns(&self, d: &DnsRecord, first_ts: Option<i64>) -> bool {
        let server_ok = self.server.as_ref().is_none_or(|s| {
            s.port.is_none_or(|p| p == d.server_port)
                && match &s.host {
                    None => true,
                    // A name matches the queries for it (not a DNS server on the port).
                    Some(Host::Name(n)) => s.port.is_none() && name_matches(n, &d.qname),
                    Some(h) => h.contains(&d.server_ip),
                }
        });
        server_ok
            && self
                .client
                .as_ref()
                .is_none_or(|h| h.contains(&d.client_ip))
            && self
                .port
                .is_none_or(|p| d.client_port == p || d.server_port == p)
            && self.sni.as_ref().is_none_or(|n| name_matches(n, &d.qname))
            && self.in_window(first_ts, d.query_ts)
    }
}

/// Whether `name` (a TLS SNI, an HTTP `Host` without its port, a DNS question name, as found in
/// the capture: any text) matches `pattern`: equal, ASCII case-insensitively, a trailing dot
/// ignored on either; `*.example.com` matches the sub-domains (`a.example.com`, not
/// `example.com`). Compares bytes, so a multi-byte character anywhere is just bytes that do
/// not match an ASCII pattern.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let trim = |b: &[u8]| -> usize { b.len() - b.iter().rev().take_while(|&&c| c == b'.').count() };
    let name = name.as_bytes();
    let name = &name[..trim(name)];
    let pattern = pattern.as_bytes();
    let pattern = &pattern[..trim(pattern)];
    match pattern.strip_prefix(b"*.") {
        Some(suffix) => match name.len().checked_sub(suffix.len() + 1) {
            // At least one byte of label before the dot.
            Some(dot) if dot > 0 => {
                name[dot] == b'.' && name[dot + 1..].eq_ignore_ascii_case(suffix)
            }
            _ => false,
        },
        None => name.eq_ignore_ascii_case(pattern),
    }
}

/// The host part of an HTTP `Host` header: the port, the brackets of an IPv6 literal and a
/// trailing dot removed (`Example.com:8080` → `Example.com`, `[::1]:80` → `::1`). Splits at
/// ASCII delimiters only, so any text is safe.
pub fn host_only(host: &str) -> &str {
    let h = host.trim().trim_end_matches('.');
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    // One colon: a name or IPv4 address with a port (more: an IPv6 address, kept whole).
    let mut colons = h.bytes().enumerate().filter(|&(_, b)| b == b':');
    match (colons.next(), colons.next()) {
        (Some((at, _)), None) => h.get(..at).unwrap_or(h).trim_end_matches('.'),
        _ => h,
    }
}

/// Longest host name (RFC 1035: 253 characters written without the trailing dot).
const MAX_NAME: usize = 253;

/// An address or a network, never a name: `10.0.0.1`, `[::1]`, `::1`, `10.0.0.0/8`,
/// `2001:db8::/32`.
///
/// # Errors
/// [`FilterSpecError`] for anything else, with what is wrong.
pub fn parse_address(input: &str) -> Result<Host, FilterSpecError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(spec_err("empty address".to_string()));
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    if let Some((ip, len)) = bare.split_once('/') {
        let ip: IpAddr = ip.parse().map_err(|_| {
            spec_err(format!(
                "{s:?}: {ip:?} is not an IP address (a network is ADDRESS/LENGTH: 10.0.0.0/8, \
                 2001:db8::/32)"
            ))
        })?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = len
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max && len.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                spec_err(format!(
                    "{s:?}: {len:?} is not a prefix length (0 to {max} for IPv{})",
                    if ip.is_ipv4() { 4 } else { 6 }
                ))
            })?;
        return Ok(Host::Net(ip, len));
    }
    if looks_ipv4(bare) {
        return Err(not_ipv4(s));
    }
    if bare.contains(':') {
        return Err(spec_err(format!("{s:?} is not an IPv6 address")));
    }
    Err(spec_err(format!(
        "{s:?} is not an IP address or a network (10.0.0.1, 2001:db8::1, 10.0.0.0/8)"
    )))
}

/// Digits and dots only, with a dot: meant as an IPv4 address.
fn looks_ipv4(s: &str) -> bool {
    s.contains('.')
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn not_ipv4(s: &str) -> FilterSpecError {
    spec_err(format!(
        "{s:?} is not a valid IPv4 address (four numbers from 0 to 255, without leading zeros: \
         10.0.0.1)"
    ))
}

/// An address, a network, or a host name (see [`parse_address`] and [`parse_name`]).
///
/// # Errors
/// [`FilterSpecError`] for text that is none of them, such as `999.1.1.1` (digits and dots:
/// an address that is not one) or `10.0.0.0/33`.
pub fn parse_host(input: &str) -> Result<Host, FilterSpecError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(spec_err("empty host".to_string()));
    }
    // Anything with an address's punctuation is an address or an error, never a name.
    if s.contains(['/', ':', '[', ']']) || looks_ipv4(s) || s.parse::<IpAddr>().is_ok() {
        return parse_address(s);
    }
    name(s).map(Host::Name).map_err(|why| match why {
        NameError::Ipv4 => not_ipv4(s),
        NameError::Other(why) => spec_err(format!(
            "{s:?} is not an IP address, network or host name ({why})"
        )),
    })
}

/// A client: an address or a network, not a name.
///
/// # Errors
/// [`FilterSpecError`] for a name or anything that is not an address or a network.
pub fn parse_client(input: &str) -> Result<Host, FilterSpecError> {
    match parse_host(input)? {
        Host::Name(_) => Err(spec_err(format!(
            "{:?}: the client must be an IP address or a network (10.0.0.0/8), not a name",
            input.trim()
        ))),
        h => Ok(h),
    }
}

/// A DNS name, lower-cased, without a trailing dot: labels of letters, digits, `-` and `_`
/// (1 to 63 characters each, at most 253 in all), optionally starting with `*.` for the
/// sub-domains; the last label is not all digits (`1.2.3` is no name).
///
/// # Errors
/// [`FilterSpecError`] for anything else.
pub fn parse_name(input: &str) -> Result<String, FilterSpecError> {
    name(input).map_err(|why| match why {
        NameError::Ipv4 => not_ipv4(input.trim()),
        NameError::Other(why) => spec_err(format!("{:?} is not a host name ({why})", input.trim())),
    })
}

enum NameError {
    /// Digits and dots that are not an IPv4 address.
    Ipv4,
    Other(&'static str),
}

fn name(input: &str) -> Result<String, NameError> {
    let s = input.trim();
    let n = s.strip_suffix('.').unwrap_or(s);
    let body = n.strip_prefix("*.").unwrap_or(n);
    let bad = NameError::Other;
    if body.is_empty() {
        return Err(bad("empty name"));
    }
    if body.parse::<IpAddr>().is_ok() {
        return Err(bad("an IP address, where a name is expected"));
    }
    if n.len() > MAX_NAME {
        return Err(bad("longer than 253 characters"));
    }
    let mut last = "";
    for label in body.split('.') {
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        if label.len() > 63 {
            return Err(bad("a label longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad(
                "a name has letters, digits, '-', '_' and dots; '*.' only in front",
            ));
        }
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if looks_ipv4(body) {
            NameError::Ipv4
        } else {
            bad("its last label is all digits")
        });
    }
    Ok(n.to_ascii_lowercase())
}

fn parse_port(s: &str) -> Result<u16, FilterSpecError> {
    s.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| s.parse().ok())
        .flatten()
        .ok_or_else(|| spec_err(format!("{s:?} is not a port number (0 to 65535)")))
}

/// A server: `ADDR`, `NET`, `ADDR:PORT` (IPv4), `[V6]`, `[V6]:PORT`, bare IPv6 (`::1`,
/// `2001:db8::/32`, `::/0`), `:PORT`, `NAME` or `NAME:PORT` (see [`Filter`]).
///
/// # Errors
/// [`FilterSpecError`] for anything else: an address that is not one (`999.1.1.1`), a prefix
/// length out of range, a missing `]`, a port out of range, a name with other characters.
pub fn parse_server(input: &str) -> Result<Server, FilterSpecError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(spec_err(
            "empty server: give an address, a network, a name or :PORT".to_string(),
        ));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(|| {
            spec_err(format!(
                "{s:?}: missing ']' (an IPv6 address with a port is [ADDRESS]:PORT)"
            ))
        })?;
        let host = Some(parse_address(inside)?);
        let port = match after.strip_prefix(':') {
            Some(p) => Some(parse_port(p)?),
            None if after.is_empty() => None,
            None => {
                return Err(spec_err(format!(
                    "{s:?}: expected ':PORT' after ']', found {after:?}"
                )))
            }
        };
        return Ok(Server { host, port });
    }
    // Two colons or more: a bare IPv6 address or network (`::1`, `::/0`), without a port.
    if s.matches(':').count() >= 2 {
        return parse_address(s)
            .map(|h| Server {
                host: Some(h),
                port: None,
            })
            .map_err(|e| {
                spec_err(format!(
                    "{}; an IPv6 address with a port is written [ADDRESS]:PORT",
                    e.message
                ))
            });
    }
    // `HOST`, `HOST:PORT` or `:PORT`.
    let (h, p) = s.split_once(':').map_or((s, None), |(h, p)| (h, Some(p)));
    let host = if h.is_empty() {
        None
    } else {
        Some(parse_host(h)?)
    };
    let port = p.map(parse_port).transpose()?;
    Ok(Server { host, port })
}

/// A time bound: `+DURATION` after the capture's first packet (`+1.5s`), seconds since the
/// epoch (`1795314480.5`), or RFC 3339 (`2026-12-01T08:00:00Z`, `…+01:00`).
///
/// # Errors
/// [`FilterSpecError`] for anything else.
pub fn parse_time(input: &str) -> Result<TimeBound, FilterSpecError> {
    let s = input.trim();
    if let Some(d) = s.strip_prefix('+') {
        return parse_duration(d)
            .map(TimeBound::FromStart)
            .map_err(|e| spec_err(e.to_string()));
    }
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return parse_duration(&format!("{s}s"))
            .map(TimeBound::At)
            .map_err(|e| spec_err(e.to_string()));
    }
    rfc3339(s).map(TimeBound::At).ok_or_else(|| {
        spec_err(format!(
            "{s:?} is not a time: use RFC 3339 (2026-12-01T08:00:00Z), seconds since the epoch, \
             or +DURATION after the first packet (+1.5s)"
        ))
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` to ns since the epoch.
fn rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut frac_ns = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        if end == 0 {
            return None;
        }
        let digits = r.get(..end.min(9))?;
        frac_ns = format!("{digits:0<9}").parse().ok()?;
        rest = r.get(end..)?;
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest.get(1..)?.split_once(':')?;
            if oh.len() != 2
                || om.len() != 2
                || !oh.bytes().chain(om.bytes()).all(|c| c.is_ascii_digit())
            {
                return None;
            }
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn server(host: Option<Host>, port: Option<u16>) -> Server {
        Server { host, port }
    }

    #[test]
    fn networks_and_names() {
        let net = Host::Net(ip("10.88.0.0"), 16);
        assert!(net.contains(&ip("10.88.7.2")));
        assert!(!net.contains(&ip("10.89.7.2")));
        assert!(!net.contains(&ip("::1")));
        assert!(Host::Net(ip("0.0.0.0"), 0).contains(&ip("1.2.3.4")));
        let v6 = Host::Net(ip("fd00::"), 8);
        assert!(v6.contains(&ip("fd12::1")));
        assert!(Host::Net(ip("::"), 0).contains(&ip("2001:db8::1")));
        assert!(!Host::Net(ip("::"), 0).contains(&ip("10.0.0.1")));
        assert!(name_matches("*.example.com", "a.Example.com."));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", ".example.com"));
        assert!(!name_matches("*.example.com", "aexample.com"));
        assert!(name_matches("example.com", "EXAMPLE.com"));
        assert!(name_matches("example.com.", "EXAMPLE.com"));
        assert_eq!(host_only("Example.com:8080"), "Example.com");
        assert_eq!(host_only("Example.com.:8080"), "Example.com");
        assert_eq!(host_only("[::1]:80"), "::1");
        assert_eq!(host_only("2001:db8::1"), "2001:db8::1");
        assert_eq!(host_only("[::1"), "::1");
        // The colon count by bytes equals the former `matches(':').count()` form.
        let former = |host: &str| -> String {
            let h = host.trim().trim_end_matches('.');
            if let Some(rest) = h.strip_prefix('[') {
                rest.split(']').next().unwrap_or(rest).to_string()
            } else if h.matches(':').count() == 1 {
                h.split(':')
                    .next()
                    .unwrap_or(h)
                    .trim_end_matches('.')
                    .to_string()
            } else {
                h.to_string()
            }
        };
        let parts = [
            "", ":", "a", ".", " ", "é", "[", "]", "80", "::", "1.2.3.4", "😀", "x.",
        ];
        for a in parts {
            for b in parts {
                for c in parts {
                    let s = format!("{a}{b}{c}");
                    assert_eq!(host_only(&s), former(&s), "{s:?}");
                }
            }
        }
    }

    /// Regression (issue #11): `name_matches` sliced the capture's name as a `str` at
    /// `len - suffix.len()`, which panicked when a multi-byte character straddled the cut.
    #[test]
    fn multibyte_names_at_the_cut_do_not_panic() {
        // "é" is 2 bytes, its second byte at the cut of "example.com" (11 bytes).
        assert!(!name_matches("*.example.com", "aaéxample.com"));
        assert!(!name_matches("*.example.com", "aéxample.com"));
        assert!(!name_matches("*.example.com", "日本xample.com"));
        // A 4-byte emoji at the cut, and in every position around it.
        for pre in ["", "a", "ab", "abc"] {
            let name = format!("{pre}😀xample.com");
            assert!(!name_matches("*.example.com", &name), "{name}");
            assert!(!name_matches("example.com", &name), "{name}");
        }
        // A multi-byte label is still a label: it matches the wildcard.
        assert!(name_matches("*.example.com", "é.example.com"));
        assert!(name_matches("*.example.com", "😀.EXAMPLE.com."));
        assert!(name_matches(
            "*.xn--bcher-kva.example",
            "a.XN--BCHER-KVA.example"
        ));
        assert!(!name_matches("*.xn--bcher-kva.example", "bücher.example"));
        assert!(!name_matches("bücher.example", "BÜCHER.example"));
        assert!(name_matches("bücher.example", "bücher.example"));
        // The pattern may hold any text too (the Filter's fields are public).
        assert!(!name_matches("*.é", "aé"));
        assert!(name_matches("*.é", "a.é"));
        assert!(!name_matches("*.", "a"));
        assert!(!name_matches("", "a"));
        assert!(name_matches("*.a", "😀.a"));
        // Every prefix and suffix cut of names with multi-byte characters.
        let names = [
            "é.example.com",
            "xn--é😀.example.com",
            "😀😀😀",
            "a.é.b",
            "..é.",
        ];
        for name in names {
            for pat in [
                "*.example.com",
                "*.com",
                "*.é",
                "*.😀",
                "example.com",
                "*.b",
            ] {
                for n in 0..=name.len() {
                    let cut = name.as_bytes();
                    let s = String::from_utf8_lossy(&cut[n..]);
                    let _ = name_matches(pat, &s);
                    let _ = name_matches(&s, name);
                    let _ = host_only(&s);
                }
            }
        }
    }

    #[test]
    fn server_forms() {
        let ok = |s: &str| parse_server(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            ok("10.88.7.2:443"),
            server(Some(Host::Ip(ip("10.88.7.2"))), Some(443))
        );
        assert_eq!(
            ok("10.88.7.2"),
            server(Some(Host::Ip(ip("10.88.7.2"))), None)
        );
        assert_eq!(ok(":81"), server(None, Some(81)));
        assert_eq!(
            ok("[fd00::2]:8443"),
            server(Some(Host::Ip(ip("fd00::2"))), Some(8443))
        );
        assert_eq!(
            ok("[::1]:443"),
            server(Some(Host::Ip(ip("::1"))), Some(443))
        );
        assert_eq!(ok("[::1]"), server(Some(Host::Ip(ip("::1"))), None));
        assert_eq!(ok("::1"), server(Some(Host::Ip(ip("::1"))), None));
        assert_eq!(ok("::"), server(Some(Host::Ip(ip("::"))), None));
        assert_eq!(ok("fd00::2"), server(Some(Host::Ip(ip("fd00::2"))), None));
        assert_eq!(
            ok("::ffff:10.0.0.1"),
            server(Some(Host::Ip(ip("::ffff:10.0.0.1"))), None)
        );
        assert_eq!(ok("::/0"), server(Some(Host::Net(ip("::"), 0)), None));
        assert_eq!(
            ok("2001:db8::/32"),
            server(Some(Host::Net(ip("2001:db8::"), 32)), None)
        );
        assert_eq!(
            ok("[2001:db8::/32]:443"),
            server(Some(Host::Net(ip("2001:db8::"), 32)), Some(443))
        );
        assert_eq!(
            ok("10.0.0.0/8"),
            server(Some(Host::Net(ip("10.0.0.0"), 8)), None)
        );
        assert_eq!(
            ok("10.0.0.0/8:443"),
            server(Some(Host::Net(ip("10.0.0.0"), 8)), Some(443))
        );
        assert_eq!(
            ok("Example.COM"),
            server(Some(Host::Name("example.com".into())), None)
        );
        assert_eq!(
            ok("example.com.:443"),
            server(Some(Host::Name("example.com".into())), Some(443))
        );
        assert_eq!(
            ok("*.Example.com:443"),
            server(Some(Host::Name("*.example.com".into())), Some(443))
        );
        assert_eq!(
            ok("localhost"),
            server(Some(Host::Name("localhost".into())), None)
        );
        assert_eq!(
            ok("xn--bcher-kva.example"),
            server(Some(Host::Name("xn--bcher-kva.example".into())), None)
        );
        assert_eq!(
            ok("3com.com"),
            server(Some(Host::Name("3com.com".into())), None)
        );
        // The output of Display parses back to the same server.
        for s in [
            "10.0.0.1:443",
            "::1",
            "[::1]:443",
            "::/0",
            "[2001:db8::/32]:443",
            ":80",
            "*.example.com:443",
            "10.0.0.0/8",
        ] {
            let v = ok(s);
            assert_eq!(ok(&v.to_string()), v, "{s} → {v}");
        }
    }

    #[test]
    fn bad_servers_are_errors_not_names() {
        for (bad, says) in [
            ("999.1.1.1", "not a valid IPv4 address"),
            ("1.2.3", "not a valid IPv4 address"),
            ("10.0.0.256", "not a valid IPv4 address"),
            ("010.0.0.1", "not a valid IPv4 address"),
            ("1.2.3.4.5", "not a valid IPv4 address"),
            ("999.1.1.1:443", "not a valid IPv4 address"),
            ("10.0.0.0/33", "not a prefix length (0 to 32"),
            ("::/129", "not a prefix length (0 to 128"),
            ("10.0.0.0/+8", "not a prefix length"),
            ("10.0.0.0/", "not a prefix length"),
            ("999.0.0.0/8", "is not an IP address"),
            ("example.com/8", "is not an IP address"),
            ("[::1", "missing ']'"),
            ("[::1]443", "expected ':PORT' after ']'"),
            ("[example.com]:443", "not an IP address"),
            ("[]:443", "empty address"),
            ("10.0.0.1:99999", "not a port number"),
            ("10.0.0.1:+80", "not a port number"),
            (":", "not a port number"),
            (":0x50", "not a port number"),
            ("::1:443:x", "[ADDRESS]:PORT"),
            ("1.2.3.4::80", "[ADDRESS]:PORT"),
            ("a b", "host name"),
            ("a..b", "empty label"),
            ("*.", "host name"),
            (".", "empty name"),
            ("a.*.b", "host name"),
            ("exa_mple.c😀m", "host name"),
            ("example.123", "last label is all digits"),
            ("", "empty server"),
        ] {
            match parse_server(bad) {
                Ok(v) => panic!("{bad:?} parsed as {v:?}"),
                Err(e) => assert!(e.message.contains(says), "{bad:?}: {e}"),
            }
        }
        assert!(parse_name(&"a".repeat(64)).is_err());
        assert!(parse_name(&format!("{}.com", "a.".repeat(130))).is_err());
    }

    #[test]
    fn client_forms() {
        assert_eq!(parse_client("::1"), Ok(Host::Ip(ip("::1"))));
        assert_eq!(parse_client("[::1]"), Ok(Host::Ip(ip("::1"))));
        assert_eq!(parse_client("::/0"), Ok(Host::Net(ip("::"), 0)));
        assert_eq!(parse_client("10.0.0.0/8"), Ok(Host::Net(ip("10.0.0.0"), 8)));
        for (bad, says) in [
            ("example.com", "not a name"),
            ("999.1.1.1", "not a valid IPv4 address"),
            ("10.0.0.0/33", "prefix length"),
            ("10.0.0.1:80", "not an IPv6 address"),
            ("", "empty host"),
        ] {
            match parse_client(bad) {
                Ok(v) => panic!("{bad:?} parsed as {v:?}"),
                Err(e) => assert!(e.message.contains(says), "{bad:?}: {e}"),
            }
        }
    }

    #[test]
    fn sni_names() {
        assert_eq!(
            parse_name("*.Example.com."),
            Ok("*.example.com".to_string())
        );
        let e = parse_name("10.0.0.1").expect_err("an address");
        assert!(e.message.contains("an IP address, where a name"), "{e}");
        assert!(parse_name("::1").is_err());
        let e = parse_name("999.1.1.1").expect_err("not an address");
        assert!(e.message.contains("not a valid IPv4 address"), "{e}");
        assert!(parse_name("é.example.com").is_err());
        assert!(parse_name("*").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("+1.5s"), Ok(TimeBound::FromStart(1_500_000_000)));
        assert_eq!(
            parse_time("1795314480.5"),
            Ok(TimeBound::At(1_795_314_480_500_000_000))
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20.123456789Z"),
            Ok(TimeBound::At(1_700_000_000_123_456_789))
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20+01:00"),
            Ok(TimeBound::At(1_700_000_000_000_000_000))
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(TimeBound::At(0)));
        for bad in [
            "yesterday",
            "2023-13-01T00:00:00Z",
            "+5",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20+1:+1",
            "2023-11-14T22:13:2é0Z",
            "2023-11-14T22:13:20.é",
            "2023-11-14T22:13:20é",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn http_requests_match_by_their_endpoints_names_and_start() {
        let h = HttpRecord {
            conn_id: 1,
            client: ep("10.0.0.1", 40_000),
            server: ep("10.0.0.2", 443),
            exchange: crate::HttpExchange {
                request_start_ts: 2_000_000_000,
                host: Some("API.example.com:443".into()),
                ..Default::default()
            },
        };
        let http = [h.clone()];
        let names = ConnNames::of(1, &[], &http);
        let f = |spec: &str| Filter {
            server: Some(spec.parse().unwrap()),
            ..Filter::default()
        };
        assert!(f("10.0.0.2:443").matches_http(&h, &names, None));
        assert!(f("*.example.com").matches_http(&h, &names, None));
        assert!(!f(":80").matches_http(&h, &names, None));
        assert!(!f("other.example").matches_http(&h, &names, None));
        let window = Filter {
            since: Some("+1s".parse().unwrap()),
            until: Some("+2s".parse().unwrap()),
            ..Filter::default()
        };
        assert!(
            !window.matches_http(&h, &names, Some(0)),
            "until is exclusive"
        );
        assert!(window.matches_http(&h, &names, Some(500_000_000)));
        assert_eq!(
            window.to_string(),
            "since +1s, until +2s",
            "Display prints no CLI flags"
        );
    }
}
