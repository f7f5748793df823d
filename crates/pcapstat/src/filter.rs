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
//!
//! The types, their parsing from text (`--server [::1]:443`, `10.0.0.0/8`, `*.example.com`,
//! `+1.5s`; every accepted form is listed in [`pcapstat_core::Filter`]) and the name
//! matching (bytes, ASCII case-insensitive: any SNI or `Host` is safe) live in
//! `pcapstat-core`, without polars; this module re-exports them.

pub use pcapstat_core::{
    host_only, name_matches, parse_address, parse_client, parse_host, parse_name, parse_server,
    parse_time, ConnNames, Filter, FilterSpecError, Host, Server, TimeBound,
};

/// The conditions of `filter` as the command-line flags that set them, e.g.
/// `--server 10.0.0.1:443 --port 443` (empty without a condition): the `filter` key of the
/// JSON report, shared by the CLI and the Python package.
pub fn flags(filter: &Filter) -> String {
    let flags: Vec<String> = filter
        .conditions()
        .into_iter()
        .map(|(name, value)| format!("--{name} {value}"))
        .collect();
    flags.join(" ")
}
