//! The filter flags shared by `analyze`, `check`, `diff` and `figures`. Their values are parsed
//! by `pcapstat::filter` (`pcapstat_core::Filter` lists the accepted forms),
//! also for the per-rule scopes of a rules file.

/// The conditions of a filter as command-line flags (`--server 10.0.0.1:443 --port 443`).
pub use pcapstat::filter::flags;
use pcapstat::filter::{
    parse_client, parse_name, parse_server, parse_time, Filter, Host, Server, TimeBound,
};

/// Record filters (all given conditions must hold).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Only connections to this server (and the DNS queries to it): an address (`10.0.0.1`,
    /// `::1`), a network (`10.0.0.0/8`, `2001:db8::/32`) or a name (matched against TLS SNI and
    /// HTTP Host; `*.example.com` for sub-domains), optionally with `:PORT` (IPv6 in brackets:
    /// `[::1]:443`); `:443` alone is any server on port 443.
    #[arg(long, value_name = "HOST[:PORT]", value_parser = parse_server, help_heading = "Filters")]
    pub server: Option<Server>,
    /// Only connections (and DNS queries) from this client address or network (`10.0.0.0/8`,
    /// `::1`, `fd00::/8`).
    #[arg(long, value_name = "HOST", value_parser = parse_client, help_heading = "Filters")]
    pub client: Option<Host>,
    /// Only TLS connections with this server name (`*.example.com` for sub-domains), and DNS
    /// queries for it.
    #[arg(long, value_name = "NAME", value_parser = parse_name, help_heading = "Filters")]
    pub sni: Option<String>,
    /// Only connections and DNS queries with this client or server port.
    #[arg(long, value_name = "PORT", help_heading = "Filters")]
    pub port: Option<u16>,
    /// Only records starting at or after TIME: RFC 3339 (`2026-12-01T08:00:00Z`), seconds
    /// since the epoch, or `+DURATION` after the capture's first packet (`+1.5s`).
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Filters")]
    pub since: Option<TimeBound>,
    /// Only records starting before TIME (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Filters")]
    pub until: Option<TimeBound>,
}

impl FilterArgs {
    pub fn filter(&self) -> Filter {
        Filter {
            server: self.server.clone(),
            client: self.client.clone(),
            sni: self.sni.clone(),
            port: self.port,
            since: self.since,
            until: self.until,
        }
    }
}
