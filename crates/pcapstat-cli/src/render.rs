//! Rendering an analysis as text or JSON.

use std::io::{self, Write};

use pcapstat::core::{CaptureSummary, ConnectionRecord, DecodeProblem, LinkType};

use crate::report::{endpoint, AppReport, ConnReport, Percentiles, Totals};
use serde_json::{json, Map, Value};

/// Formats nanoseconds since the epoch as RFC 3339 UTC with nanoseconds.
pub fn rfc3339(ts_ns: i64) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats a duration in nanoseconds for people: `1.234567 s`, `12.345 ms`.
pub fn duration(ns: i64) -> String {
    let abs = ns.unsigned_abs();
    if abs >= 1_000_000_000 {
        format!("{:.6} s", ns as f64 / 1e9)
    } else if abs >= 1_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else {
        format!("{:.3} µs", ns as f64 / 1e3)
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        String::new()
    } else {
        format!(" ({:.1}%)", part as f64 * 100.0 / whole as f64)
    }
}

/// The human report.
pub fn text(out: &mut impl Write, file: &str, s: &CaptureSummary) -> io::Result<()> {
    let d = &s.decode;
    writeln!(out, "Capture {file}")?;
    let mut format = s.format.to_string();
    if s.compression != pcapstat::core::Compression::None {
        format.push_str(&format!(", {} compressed", s.compression));
    }
    if s.sections > 1 {
        format.push_str(&format!(", {} sections", s.sections));
    }
    writeln!(out, "  format        {format}")?;
    let links: Vec<String> = s
        .link_types
        .iter()
        .map(|(lt, n)| format!("{lt}: {n}"))
        .collect();
    writeln!(
        out,
        "  link types    {}",
        if links.is_empty() {
            "-".to_string()
        } else {
            links.join(", ")
        }
    )?;
    match (s.first_ts, s.last_ts, s.duration_ns()) {
        (Some(first), Some(last), Some(dur)) => {
            writeln!(out, "  first packet  {}", rfc3339(first))?;
            writeln!(out, "  last packet   {}", rfc3339(last))?;
            writeln!(out, "  duration      {}", duration(dur))?;
        }
        _ => writeln!(out, "  time range    - (no frames)")?,
    }
    if s.out_of_order_timestamps > 0 {
        writeln!(
            out,
            "  out-of-order timestamps  {}",
            s.out_of_order_timestamps
        )?;
    }
    writeln!(out, "  frames        {}", s.frames)?;
    writeln!(
        out,
        "  bytes         {} on the wire, {} captured",
        s.bytes, s.captured_bytes
    )?;
    writeln!(out, "Protocols (frames containing)")?;
    for (name, n) in [
        ("IPv4", d.ipv4),
        ("IPv6", d.ipv6),
        ("TCP", d.tcp),
        ("UDP", d.udp),
        ("non-IP", d.other),
    ] {
        writeln!(out, "  {name:<12}  {n}{}", pct(n, s.frames))?;
    }
    writeln!(out, "Decoding")?;
    writeln!(
        out,
        "  truncated frames        {}{}",
        d.truncated,
        pct(d.truncated, s.frames)
    )?;
    writeln!(out, "  IP fragments            {}", d.fragments)?;
    writeln!(out, "  datagrams reassembled   {}", d.reassembled)?;
    if d.fragments_expired + d.fragments_evicted > 0 {
        writeln!(
            out,
            "  fragments dropped       {} expired, {} evicted (limit)",
            d.fragments_expired, d.fragments_evicted
        )?;
    }
    writeln!(out, "  undecodable frames      {}", d.undecodable.total())?;
    for (problem, n) in d.undecodable.iter() {
        if problem == DecodeProblem::UnsupportedLinkType {
            for (lt, n) in &d.unsupported_link_types {
                writeln!(out, "    unsupported {}: {n}", LinkType(*lt))?;
            }
        } else {
            writeln!(out, "    {}: {n}", problem.name().replace('_', " "))?;
        }
    }
    Ok(())
}

/// The closing warning of the human report for a damaged capture.
pub fn damage_text(out: &mut impl Write, s: &CaptureSummary) -> io::Result<()> {
    if let Some(dmg) = &s.damaged {
        writeln!(out, "Warning: {dmg}")?;
        writeln!(
            out,
            "  (the figures above cover the {} frames before the damage)",
            dmg.frame
        )?;
    }
    Ok(())
}

fn bytes(n: u64) -> String {
    match n {
        0..=9_999 => format!("{n} B"),
        10_000..=9_999_999 => format!("{:.1} kB", n as f64 / 1e3),
        10_000_000..=9_999_999_999 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
}

fn phase(out: &mut impl Write, name: &str, p: Option<Percentiles>) -> io::Result<()> {
    match p {
        None => writeln!(out, "  {name:<13} - (none measured)"),
        Some(p) => writeln!(
            out,
            "  {name:<13} n={}  p50 {}  p90 {}  p95 {}  p99 {}  max {}",
            p.count,
            duration(p.p50),
            duration(p.p90),
            duration(p.p95),
            duration(p.p99),
            duration(p.max)
        ),
    }
}

fn direction(out: &mut impl Write, name: &str, t: &Totals) -> io::Result<()> {
    writeln!(
        out,
        "  {name}  {} packets, {} payload; {} retransmissions ({} fast, {} spurious, {}); \
         {} out of order, {} dup ACKs, {} zero windows, {} lost segments, {} missed",
        t.packets,
        bytes(t.payload_bytes),
        t.retransmissions,
        t.fast_retransmissions,
        t.spurious_retransmissions,
        bytes(t.retransmitted_bytes),
        t.out_of_order,
        t.dup_acks,
        t.zero_windows,
        t.lost_segments,
        bytes(t.missed_bytes)
    )
}

fn conn_line(r: &ConnectionRecord) -> String {
    let mut extra = String::new();
    if r.syn_retries > 0 {
        extra.push_str(&format!(
            ", {} SYN retr{}",
            r.syn_retries,
            if r.syn_retries == 1 { "y" } else { "ies" }
        ));
    }
    let retx = r.c2s.retransmissions + r.s2c.retransmissions;
    if retx > 0 {
        extra.push_str(&format!(", {retx} retransmissions"));
    }
    format!(
        "{} -> {}  connect {}  {}{extra}",
        endpoint(&r.client_ip, r.client_port),
        endpoint(&r.server_ip, r.server_port),
        r.connect_ns.map_or("-".to_string(), duration),
        r.outcome.as_str()
    )
}

/// The TCP part of the human report.
pub fn connections_text(
    out: &mut impl Write,
    rep: &ConnReport,
    records: &[ConnectionRecord],
) -> io::Result<()> {
    let outcomes: Vec<String> = rep
        .outcomes
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    writeln!(
        out,
        "TCP connections  {}{}",
        rep.connections,
        if outcomes.is_empty() {
            String::new()
        } else {
            format!(" ({})", outcomes.join(", "))
        }
    )?;
    if rep.connections == 0 {
        return Ok(());
    }
    phase(out, "connect", rep.connect)?;
    phase(out, "initial RTT", rep.initial_rtt)?;
    direction(out, "client->server", &rep.c2s)?;
    direction(out, "server->client", &rep.s2c)?;
    if !rep.failures.is_empty() {
        writeln!(out, "Refused, timed out or reset")?;
        for ((server, outcome), n) in &rep.failures {
            writeln!(out, "  {outcome:<8} {n:>6}  to {server}")?;
        }
    }
    if !rep.slowest.is_empty() {
        writeln!(out, "Slowest connects")?;
        for &i in &rep.slowest {
            writeln!(out, "  {}", conn_line(&records[i]))?;
        }
    }
    if !rep.most_retransmitted.is_empty() {
        writeln!(out, "Most retransmissions")?;
        for &i in &rep.most_retransmitted {
            writeln!(out, "  {}", conn_line(&records[i]))?;
        }
    }
    let l = &rep.limits;
    if l.evictions + l.ooo_limit_hits + l.rtt_sample_limit_hits + l.unacked_limit_hits > 0 {
        writeln!(
            out,
            "Limits hit: {} connections evicted (flow table full), {} out-of-order buffer overflows, \
             {} RTT samples not kept for the median, {} segments not tracked for RTT",
            l.evictions, l.ooo_limit_hits, l.rtt_sample_limit_hits, l.unacked_limit_hits
        )?;
    }
    Ok(())
}

fn counts(m: &std::collections::BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The TLS, HTTP and DNS part of the human report (sections without rows are left out).
pub fn app_text(out: &mut impl Write, a: &AppReport) -> io::Result<()> {
    if a.tls_handshakes > 0 {
        writeln!(
            out,
            "TLS handshakes  {} ({}); {} resumed{}, {} with an alert",
            a.tls_handshakes,
            counts(&a.tls_versions),
            a.tls_resumed,
            pct(a.tls_resumed as u64, a.tls_handshakes as u64),
            a.tls_alerts
        )?;
        phase(out, "handshake", a.tls_handshake)?;
    }
    if a.http_requests > 0 {
        writeln!(
            out,
            "HTTP/1.x requests  {} on {} connections ({:.2} per connection); {} on reused connections{}; status {}",
            a.http_requests,
            a.http_connections,
            a.http_requests as f64 / a.http_connections.max(1) as f64,
            a.http_reused,
            pct(a.http_reused as u64, a.http_requests as u64),
            counts(&a.http_status)
        )?;
        if a.http_incomplete > 0 {
            writeln!(out, "  incomplete (capture gaps): {}", a.http_incomplete)?;
        }
        phase(out, "wait (TTFB)", a.http_wait)?;
        phase(out, "total", a.http_total)?;
        if !a.new_connections_per_server.is_empty() {
            let s: Vec<String> = a
                .new_connections_per_server
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            writeln!(out, "  new connections per server: {}", s.join(", "))?;
        }
    }
    if a.dns_queries > 0 {
        writeln!(
            out,
            "DNS queries  {}; {} answered, {} retries, {} ICMP unreachable; rcodes {}",
            a.dns_queries,
            a.dns_answered,
            a.dns_retries,
            a.dns_icmp,
            if a.dns_rcodes.is_empty() {
                "-".to_string()
            } else {
                counts(&a.dns_rcodes)
            }
        )?;
        phase(out, "latency", a.dns_latency)?;
    }
    Ok(())
}

/// The machine-readable report: one JSON object on one line.
pub fn json(
    out: &mut impl Write,
    file: &str,
    s: &CaptureSummary,
    tcp: &ConnReport,
    records: &[ConnectionRecord],
    app: &AppReport,
) -> io::Result<()> {
    let d = &s.decode;
    let mut undecodable = Map::new();
    for (problem, n) in d.undecodable.iter() {
        undecodable.insert(problem.to_string(), json!(n));
    }
    let unsupported: Map<String, Value> = d
        .unsupported_link_types
        .iter()
        .map(|(lt, n)| (lt.to_string(), json!(n)))
        .collect();
    let link_types: Vec<Value> = s
        .link_types
        .iter()
        .map(|(lt, n)| json!({"linktype": lt.0, "name": lt.name(), "frames": n}))
        .collect();
    let value = json!({
        "file": file,
        "format": format_key(s),
        "format_description": s.format.to_string(),
        "compression": s.compression.to_string(),
        "sections": s.sections,
        "link_types": link_types,
        "frames": s.frames,
        "bytes": s.bytes,
        "captured_bytes": s.captured_bytes,
        "first_ts": s.first_ts,
        "last_ts": s.last_ts,
        "duration_ns": s.duration_ns(),
        "out_of_order_timestamps": s.out_of_order_timestamps,
        "ipv4": d.ipv4,
        "ipv6": d.ipv6,
        "tcp": d.tcp,
        "udp": d.udp,
        "other": d.other,
        "truncated": d.truncated,
        "fragments": d.fragments,
        "reassembled": d.reassembled,
        "fragments_expired": d.fragments_expired,
        "fragments_evicted": d.fragments_evicted,
        "undecodable": undecodable,
        "unsupported_link_types": unsupported,
        "damaged": s.damaged.as_ref().map(|dm| json!({
            "offset": dm.offset,
            "frame": dm.frame,
            "reason": dm.reason.to_string(),
        })),
        "tcp_connections": tcp.json(records),
        "applications": app.json(),
    });
    serde_json::to_writer(&mut *out, &value)?;
    writeln!(out)
}

/// The JSON line for a file that could not be read.
pub fn json_error(out: &mut impl Write, file: &str, error: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &json!({"file": file, "error": error}))?;
    writeln!(out)
}

fn format_key(s: &CaptureSummary) -> &'static str {
    match s.format {
        pcapstat::core::CaptureFormat::PcapNg { .. } => "pcapng",
        _ => "pcap",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(duration(1_500_000_000), "1.500000 s");
        assert_eq!(duration(12_345_678), "12.346 ms");
        assert_eq!(duration(999), "0.999 µs");
    }
}
