//! The filter flags shared by `analyze`, `check` and `diff`, and the parsing of their values
//! (also used for the per-rule scopes of a rules file).

use std::net::IpAddr;

use pcapstat::figures::parse_duration;
use pcapstat::filter::{Filter, Host, Server, TimeBound};

/// Record filters (all given conditions must hold).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Only connections to this server (and the DNS queries to it): an address, a network
    /// (`10.0.0.0/8`) or a name (matched against TLS SNI and HTTP Host), optionally with
    /// `:PORT`; `:443` alone is any server on port 443.
    #[arg(long, value_name = "HOST[:PORT]", value_parser = parse_server, help_heading = "Filters")]
    pub server: Option<Server>,
    /// Only connections (and DNS queries) from this client address or network.
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

/// `10.0.0.1`, `10.0.0.0/8`, `::1`, `[::1]`, or a host name.
pub fn parse_host(s: &str) -> Result<Host, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty host".to_string());
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    if let Some((ip, len)) = s.split_once('/') {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("{len:?} is not a prefix length (0 to {max})"))?;
        return Ok(Host::Net(ip, len));
    }
    parse_name(s).map(Host::Name)
}

/// A DNS name: letters, digits, `-`, `_`, `.`, optionally starting with `*.`; lower-cased.
pub fn parse_name(s: &str) -> Result<String, String> {
    let n = s.trim().trim_end_matches('.');
    let body = n.strip_prefix("*.").unwrap_or(n);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!("{s:?} is not an IP address, network or host name"));
    }
    Ok(n.to_ascii_lowercase())
}

fn parse_client(s: &str) -> Result<Host, String> {
    match parse_host(s)? {
        Host::Name(_) => Err(format!(
            "{s:?}: the client must be an IP address or a network (10.0.0.0/8)"
        )),
        h => Ok(h),
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a port number (0 to 65535)"))
}

/// `HOST`, `HOST:PORT`, `[V6]:PORT` or `:PORT`.
pub fn parse_server(s: &str) -> Result<Server, String> {
    let s = s.trim();
    if let Some(port) = s.strip_prefix(':') {
        return Ok(Server {
            host: None,
            port: Some(parse_port(port)?),
        });
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{s:?}: missing ']'"))?;
        let host = parse_host(ip)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(parse_port(p)?),
            None if after.is_empty() => None,
            None => return Err(format!("{s:?}: expected ':PORT' after ']'")),
        };
        return Ok(Server {
            host: Some(host),
            port,
        });
    }
    // One colon: host:port; more: a bare IPv6 address.
    if s.matches(':').count() == 1 {
        if let Some((h, p)) = s.split_once(':') {
            return Ok(Server {
                host: Some(parse_host(h)?),
                port: Some(parse_port(p)?),
            });
        }
    }
    Ok(Server {
        host: Some(parse_host(s)?),
        port: None,
    })
}

/// `+DURATION` (after the first packet), seconds since the epoch, or RFC 3339.
pub fn parse_time(s: &str) -> Result<TimeBound, String> {
    let s = s.trim();
    if let Some(d) = s.strip_prefix('+') {
        return parse_duration(d)
            .map(TimeBound::FromStart)
            .map_err(|e| e.to_string());
    }
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return parse_duration(&format!("{s}s"))
            .map(TimeBound::At)
            .map_err(|e| e.to_string());
    }
    rfc3339(s).map(TimeBound::At).ok_or_else(|| {
        format!(
            "{s:?} is not a time: use RFC 3339 (2026-12-01T08:00:00Z), seconds since the epoch, \
             or +DURATION after the first packet (+1.5s)"
        )
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
    let mut rest = &s[19..];
    let mut frac_ns = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        if end == 0 {
            return None;
        }
        let digits = &r[..end.min(9)];
        frac_ns = format!("{digits:0<9}").parse().ok()?;
        rest = &r[end..];
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
            if oh.len() != 2 || om.len() != 2 {
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

    #[test]
    fn servers() {
        let s = parse_server("10.88.7.2:443").unwrap();
        assert_eq!(s.host, Some(Host::Ip("10.88.7.2".parse().unwrap())));
        assert_eq!(s.port, Some(443));
        assert_eq!(parse_server(":81").unwrap().port, Some(81));
        assert_eq!(parse_server(":81").unwrap().host, None);
        let v6 = parse_server("[fd00::2]:8443").unwrap();
        assert_eq!(v6.host, Some(Host::Ip("fd00::2".parse().unwrap())));
        assert_eq!(parse_server("fd00::2").unwrap().port, None);
        assert_eq!(
            parse_server("Example.COM").unwrap().host,
            Some(Host::Name("example.com".into()))
        );
        assert_eq!(
            parse_server("10.0.0.0/8").unwrap().host,
            Some(Host::Net("10.0.0.0".parse().unwrap(), 8))
        );
        for bad in ["10.0.0.1:99999", "a b", "10.0.0.0/33", "[::1", ""] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
        assert!(parse_client("example.com").is_err());
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
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
