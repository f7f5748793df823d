//! Rendering an analysis as text or JSON.

use std::io::{self, Write};

use pcapstat::core::{CaptureSummary, ConnectionRecord, DecodeProblem, LinkType, Outcome};

use crate::report::{endpoint, AppReport, ConnReport, Percentiles, Totals};
use crate::term::{md, shorten, wrap, Color, Style};
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

/// Formats a duration in nanoseconds for people: three significant digits, `12.3ms`.
pub fn duration(ns: i64) -> String {
    pcapstat::figures::format_duration(ns)
}

/// How the report is laid out: colour, width, list lengths, the capture's start (for times).
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub style: Style,
    pub width: usize,
    pub first_ts: Option<i64>,
}

impl Ctx {
    fn head(&self, s: &str) -> String {
        self.style.paint(Some(Color::Bold), s)
    }

    /// `+1.234s` after the capture's first packet.
    fn at(&self, ts: i64) -> String {
        let d = ts - self.first_ts.unwrap_or(ts);
        format!(
            "+{}.{:03}s",
            d / 1_000_000_000,
            d % 1_000_000_000 / 1_000_000
        )
    }

    fn wide(&self) -> bool {
        self.width >= 100
    }
}

/// The human report.
pub fn text(
    out: &mut impl Write,
    ctx: &Ctx,
    file: &str,
    s: &CaptureSummary,
    l: &pcapstat::core::TcpStats,
    app_limit_hits: u64,
    filter: &pcapstat::Filter,
) -> io::Result<()> {
    let d = &s.decode;
    writeln!(out, "{}", ctx.head(&format!("Capture {file}")))?;
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
    if !filter.is_empty() {
        writeln!(out, "  filter        {}", crate::filter::flags(filter))?;
        writeln!(
            out,
            "                (the sections after Decoding cover the matching records only)"
        )?;
    }
    writeln!(out, "{}", ctx.head("Protocols (frames containing)"))?;
    for (name, n) in [
        ("IPv4", d.ipv4),
        ("IPv6", d.ipv6),
        ("TCP", d.tcp),
        ("UDP", d.udp),
        ("non-IP", d.other),
    ] {
        writeln!(out, "  {name:<12}  {n}{}", pct(n, s.frames))?;
    }
    writeln!(out, "{}", ctx.head("Decoding"))?;
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
        } else if problem == DecodeProblem::UndecodedEncapsulation {
            for (encap, n) in &d.undecoded_encapsulations {
                writeln!(out, "    undecoded {encap}: {n}")?;
            }
        } else {
            writeln!(out, "    {}: {n}", problem.name().replace('_', " "))?;
        }
    }
    let limits = l.evictions
        + l.ooo_limit_hits
        + l.rtt_sample_limit_hits
        + l.unacked_limit_hits
        + app_limit_hits
        + d.fragments_evicted;
    let line = format!("  limits hit              {limits}");
    let color = (limits > 0).then_some(Color::Yellow);
    writeln!(out, "{}", ctx.style.paint(color, &line))?;
    Ok(())
}

/// The closing warning of the human report for a damaged capture.
pub fn damage_text(out: &mut impl Write, ctx: &Ctx, s: &CaptureSummary) -> io::Result<()> {
    if let Some(dmg) = &s.damaged {
        let text = wrap(&format!("Warning: {dmg}"), ctx.width, 2);
        writeln!(out, "{}", ctx.style.paint(Some(Color::Yellow), &text))?;
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

/// `n=12  p50 1.2ms  p90 ...  p99 ...  max ...` (p95 too on a wide terminal).
fn percentiles(ctx: &Ctx, p: Option<Percentiles>) -> String {
    match p {
        None => "- (none measured)".to_string(),
        Some(p) => {
            let mut s = format!(
                "n={}  p50 {}  p90 {}",
                p.count,
                duration(p.p50),
                duration(p.p90)
            );
            if ctx.wide() {
                s.push_str(&format!("  p95 {}", duration(p.p95)));
            }
            s.push_str(&format!(
                "  p99 {}  max {}",
                duration(p.p99),
                duration(p.max)
            ));
            s
        }
    }
}

fn phase(out: &mut impl Write, ctx: &Ctx, name: &str, p: Option<Percentiles>) -> io::Result<()> {
    writeln!(out, "  {name:<13} {}", percentiles(ctx, p))
}

fn ratio(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.2}%", part as f64 * 100.0 / whole as f64)
    }
}

fn direction(out: &mut impl Write, name: &str, t: &Totals) -> io::Result<()> {
    writeln!(
        out,
        "  {name:<14} {} segments, {} payload, {} retransmitted ({})",
        t.packets,
        bytes(t.payload_bytes),
        t.retransmissions,
        bytes(t.retransmitted_bytes),
    )
}

fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One connection of a worst-offenders list: time, endpoints, what was bad.
fn conn_line(ctx: &Ctx, r: &ConnectionRecord) -> String {
    let mut extra = String::new();
    if r.syn_retries > 0 {
        extra.push_str(&format!(
            ", {}",
            plural(r.syn_retries, "SYN retry", "SYN retries")
        ));
    }
    let retx = r.c2s.retransmissions + r.s2c.retransmissions;
    if retx > 0 {
        extra.push_str(&format!(", {retx} retransmitted"));
    }
    let ends = format!(
        "{} -> {}",
        endpoint(&r.client_ip, r.client_port),
        endpoint(&r.server_ip, r.server_port)
    );
    let outcome = match r.failure {
        // A reset is named by why it failed.
        Some(f) if r.outcome == Outcome::Reset => f.as_str(),
        _ => r.outcome.as_str(),
    };
    let tail = format!(
        "connect {}  {outcome}{extra}",
        r.connect_ns.map_or("-".to_string(), duration),
    );
    let one = format!("{:>9}  {ends}  {tail}", ctx.at(r.start_ts));
    // 2 columns of indent are added by the caller.
    if one.chars().count() + 2 <= ctx.width {
        one
    } else {
        let room = ctx.width.saturating_sub(2 + 11);
        format!(
            "{:>9}  {}\n{}{tail}",
            ctx.at(r.start_ts),
            shorten(&ends, room),
            " ".repeat(13)
        )
    }
}

/// The TCP part of the human report.
pub fn connections_text(out: &mut impl Write, ctx: &Ctx, rep: &ConnReport) -> io::Result<()> {
    let outcomes: Vec<String> = rep
        .outcomes
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    writeln!(
        out,
        "{}{}",
        ctx.head(&format!("TCP connections  {}", rep.connections)),
        if outcomes.is_empty() {
            String::new()
        } else {
            format!(" ({})", outcomes.join(", "))
        }
    )?;
    if rep.connections == 0 {
        return Ok(());
    }
    let failed = format!(
        "{} of {} ({})",
        rep.failed_total,
        rep.connections,
        ratio(rep.failed_total as u64, rep.connections as u64)
    );
    let color = (rep.failed_total > 0).then_some(Color::Red);
    let after = match rep.reset_after_exchange {
        0 => String::new(),
        n => format!("; {n} reset after a complete exchange (not failed)"),
    };
    writeln!(
        out,
        "  failed        {}{after}",
        ctx.style.paint(color, &failed)
    )?;
    phase(out, ctx, "connect", rep.connect)?;
    phase(out, ctx, "initial RTT", rep.initial_rtt)?;
    let (c, s) = (&rep.c2s, &rep.s2c);
    let segments = c.packets + s.packets;
    let retx = c.retransmissions + s.retransmissions;
    let retx_bytes = c.retransmitted_bytes + s.retransmitted_bytes;
    let payload = c.payload_bytes + s.payload_bytes;
    let rate = format!("{retx} of {segments} segments ({})", ratio(retx, segments));
    let color = (retx > 0).then_some(Color::Yellow);
    writeln!(
        out,
        "  retransmitted {}; fast {}, spurious {}",
        ctx.style.paint(color, &rate),
        c.fast_retransmissions + s.fast_retransmissions,
        c.spurious_retransmissions + s.spurious_retransmissions,
    )?;
    writeln!(
        out,
        "                {} of {} payload sent ({})",
        bytes(retx_bytes),
        bytes(payload + retx_bytes),
        ratio(retx_bytes, payload + retx_bytes)
    )?;
    writeln!(
        out,
        "  reordering    out of order {}, dup ACKs {}, lost segments {}",
        c.out_of_order + s.out_of_order,
        c.dup_acks + s.dup_acks,
        c.lost_segments + s.lost_segments
    )?;
    writeln!(
        out,
        "  SYN retries   {};  zero windows {};  missed bytes {}",
        rep.syn_retries,
        c.zero_windows + s.zero_windows,
        bytes(c.missed_bytes + s.missed_bytes)
    )?;
    direction(out, "client->server", c)?;
    direction(out, "server->client", s)?;
    if !rep.failures.is_empty() {
        writeln!(out, "{}", ctx.head("Failed connections per server"))?;
        for ((server, failure), n) in &rep.failures {
            let line = format!("  {failure:<21} {n:>6}  to {server}");
            writeln!(out, "{}", ctx.style.paint(Some(Color::Red), &line))?;
        }
    }
    let l = &rep.limits;
    if l.evictions
        + l.ooo_limit_hits
        + l.rtt_sample_limit_hits
        + l.unacked_limit_hits
        + rep.probe_limit_hits
        + rep.http_heads_too_large
        + rep.http_pending_dropped
        > 0
    {
        writeln!(
            out,
            "{}",
            ctx.style.paint(Some(Color::Yellow), "Limits hit")
        )?;
        writeln!(
            out,
            "  {} connections evicted (flow table full)",
            l.evictions
        )?;
        writeln!(out, "  {} out-of-order buffer overflows", l.ooo_limit_hits)?;
        writeln!(
            out,
            "  {} RTT samples not kept for the median",
            l.rtt_sample_limit_hits
        )?;
        writeln!(
            out,
            "  {} segments not tracked for RTT",
            l.unacked_limit_hits
        )?;
        writeln!(
            out,
            "  {} connections whose protocol probing buffer was full",
            rep.probe_limit_hits
        )?;
        writeln!(
            out,
            "  {} HTTP heads too large, {} HTTP requests given up waiting",
            rep.http_heads_too_large, rep.http_pending_dropped
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

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        String::new()
    } else {
        format!(" ({:.1}%)", part as f64 * 100.0 / whole as f64)
    }
}

/// The phases of a request that were measured: `connect 24µs  wait 6.1ms  receive 6.74s`.
fn phases(t: Option<&pcapstat::core::RequestTiming>) -> String {
    let Some(t) = t else {
        return String::new();
    };
    [
        ("dns", t.dns_ns),
        ("connect", t.connect_ns),
        ("tls", t.tls_ns),
        ("send", t.send_ns),
        ("wait", t.wait_ns),
        ("receive", t.receive_ns),
    ]
    .iter()
    .filter_map(|(n, v)| v.map(|v| format!("{n} {}", duration(v))))
    .collect::<Vec<_>>()
    .join("  ")
}

/// The TLS, HTTP and DNS part of the human report (sections without rows are left out).
pub fn app_text(
    out: &mut impl Write,
    ctx: &Ctx,
    a: &AppReport,
    analysis: &pcapstat::Analysis,
) -> io::Result<()> {
    if a.tls_handshakes > 0 {
        writeln!(
            out,
            "{} ({})",
            ctx.head(&format!("TLS handshakes  {}", a.tls_handshakes)),
            counts(&a.tls_versions),
        )?;
        writeln!(
            out,
            "  resumed       {}{};  with an alert {}",
            a.tls_resumed,
            pct(a.tls_resumed as u64, a.tls_handshakes as u64),
            a.tls_alerts
        )?;
        let d = &a.tls_decrypt;
        if d.sessions + d.no_key + d.unsupported_cipher > 0 {
            // Only with a key log: how many connections it opened, and why others stayed shut.
            let mut line = format!(
                "  decrypted     {} of {}",
                d.sessions,
                plural(a.tls_handshakes as u64, "connection", "connections")
            );
            for (n, what) in [
                (d.no_key, "without a key"),
                (d.unsupported_cipher, "with an unsupported cipher"),
                (d.auth_failures, "records failing authentication"),
            ] {
                if n > 0 {
                    line.push_str(&format!("; {n} {what}"));
                }
            }
            writeln!(out, "{line}")?;
        }
        phase(out, ctx, "handshake", a.tls_handshake)?;
        let snis: Vec<String> = a
            .tls_top_snis
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        writeln!(out, "  top SNIs      {}", snis.join(", "))?;
        if !a.tls_alert_names.is_empty() {
            let line = format!("  alerts        {}", counts(&a.tls_alert_names));
            writeln!(out, "{}", ctx.style.paint(Some(Color::Red), &line))?;
        }
    }
    if a.http_requests > 0 {
        writeln!(
            out,
            "{} on {} ({:.2} per connection)",
            ctx.head(&format!(
                "HTTP requests  {} ({})",
                a.http_requests,
                counts(&a.http_versions)
            )),
            plural(a.http_connections as u64, "connection", "connections"),
            a.http_requests as f64 / a.http_connections.max(1) as f64,
        )?;
        writeln!(
            out,
            "  reused        {} on reused connections{}",
            plural(a.http_reused as u64, "request", "requests"),
            pct(a.http_reused as u64, a.http_requests as u64),
        )?;
        writeln!(out, "  status        {}", counts(&a.http_status))?;
        if a.http_incomplete > 0 {
            writeln!(
                out,
                "  incomplete    {} (response not seen whole: reset, gap or capture end)",
                a.http_incomplete
            )?;
        }
        let p = &a.http_parse;
        if p.bad_request_heads + p.bad_response_heads > 0 {
            writeln!(
                out,
                "  bad heads     {} request, {} response (unparseable even leniently; {} \
                 requests left unpaired after them)",
                p.bad_request_heads, p.bad_response_heads, p.unpaired_after_bad_head
            )?;
        }
        let h2 = &a.http2;
        let h2_limits = h2.header_lists_truncated
            + h2.header_budget_exhausted
            + h2.values_truncated
            + h2.header_blocks_too_large
            + h2.streams_over_limit;
        if h2_limits > 0 {
            let line = format!(
                "  HTTP/2 limits header lists read in part {}, values cut {}\n                \
                 out of header budget {}, blocks too large {}, streams over {}",
                h2.header_lists_truncated,
                h2.values_truncated,
                h2.header_budget_exhausted,
                h2.header_blocks_too_large,
                h2.streams_over_limit
            );
            writeln!(out, "{}", ctx.style.paint(Some(Color::Yellow), &line))?;
        }
        phase(out, ctx, "wait (TTFB)", a.http_wait)?;
        phase(out, ctx, "total", a.http_total)?;
        if !a.new_connections_per_server.is_empty() {
            let s: Vec<String> = a
                .new_connections_per_server
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            writeln!(out, "  new connections per server: {}", s.join(", "))?;
        }
        if !a.slowest_requests.is_empty() {
            writeln!(out, "{}", ctx.head("Slowest requests"))?;
            let http = analysis.http_records();
            let timings = analysis.request_timings();
            let conns: std::collections::HashMap<u64, &ConnectionRecord> = analysis
                .connection_records()
                .iter()
                .map(|c| (c.conn_id, c))
                .collect();
            for &i in &a.slowest_requests {
                let h = &http[i];
                let t = timings.get(i);
                let total = t.and_then(|t| t.total_ns).map_or("-".to_string(), duration);
                let status = h.status.map_or("-".to_string(), |s| s.to_string());
                let head = format!(
                    "{:>9}  {total:>6}  {status}  {} ",
                    ctx.at(h.request_start_ts),
                    h.method.as_deref().unwrap_or("")
                );
                let target = format!(
                    "{}{}",
                    h.host.as_deref().unwrap_or(""),
                    h.path.as_deref().unwrap_or("")
                );
                let room = ctx.width.saturating_sub(head.chars().count() + 2);
                writeln!(out, "  {head}{}", shorten(&target, room.max(10)))?;
                let ends = conns.get(&h.conn_id).map_or(String::new(), |c| {
                    format!(
                        "{} -> {}",
                        endpoint(&c.client_ip, c.client_port),
                        endpoint(&c.server_ip, c.server_port)
                    )
                });
                let detail = phases(t);
                let indent = " ".repeat(13);
                if ctx.width >= 13 + ends.chars().count() + 2 + detail.chars().count() {
                    writeln!(out, "{indent}{ends}  {detail}")?;
                } else {
                    writeln!(out, "{indent}{ends}")?;
                    writeln!(out, "{indent}{detail}")?;
                }
            }
        }
    }
    if a.dns_queries > 0 {
        writeln!(
            out,
            "{}; {} answered, {} unanswered, {} ICMP unreachable",
            ctx.head(&format!("DNS queries  {}", a.dns_queries)),
            a.dns_answered,
            a.dns_unanswered,
            a.dns_icmp,
        )?;
        writeln!(
            out,
            "  rcodes        {}",
            if a.dns_rcodes.is_empty() {
                "-".to_string()
            } else {
                counts(&a.dns_rcodes)
            }
        )?;
        writeln!(
            out,
            "  retries       {};  over TCP {};  truncated responses {}",
            a.dns_retries, a.dns_tcp, a.dns_truncated
        )?;
        phase(out, ctx, "latency", a.dns_latency)?;
    }
    Ok(())
}

/// The worst offenders: slowest connects, most retransmitting and failed connections.
pub fn offenders_text(
    out: &mut impl Write,
    ctx: &Ctx,
    rep: &ConnReport,
    records: &[ConnectionRecord],
) -> io::Result<()> {
    if rep.slowest.is_empty() && rep.most_retransmitted.is_empty() && rep.failed.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "{}",
        ctx.head("Worst offenders (time after the first packet)")
    )?;
    let lists = [
        ("Slowest connects", &rep.slowest),
        ("Most retransmissions", &rep.most_retransmitted),
        ("Failed connections", &rep.failed),
    ];
    for (title, list) in lists {
        if list.is_empty() {
            continue;
        }
        let more = if title == "Failed connections" && rep.failed_total > list.len() {
            format!(" (first {} of {})", list.len(), rep.failed_total)
        } else {
            String::new()
        };
        writeln!(out, "{title}{more}")?;
        for &i in list {
            writeln!(out, "  {}", conn_line(ctx, &records[i]))?;
        }
    }
    Ok(())
}

/// The report as markdown: headings and tables (for a CI job summary).
pub fn markdown(
    out: &mut impl Write,
    ctx: &Ctx,
    file: &str,
    analysis: &pcapstat::Analysis,
    rep: &ConnReport,
    app: &AppReport,
    filter: &pcapstat::Filter,
) -> io::Result<()> {
    let s = analysis.summary();
    let records = analysis.connection_records();
    let f = pcapstat::Figures::of(analysis);
    let v = |name: &str| {
        f.value(name)
            .flatten()
            .map_or("-".to_string(), |v| v.to_string())
    };
    let pct_row = |out: &mut dyn Write, label: &str, family: &str| -> io::Result<()> {
        writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} |",
            v(&format!("{family}.count")),
            v(&format!("{family}.p50")),
            v(&format!("{family}.p90")),
            v(&format!("{family}.p95")),
            v(&format!("{family}.p99")),
            v(&format!("{family}.max"))
        )
    };
    writeln!(out, "## pcapstat: `{}`", md(file))?;
    writeln!(out)?;
    let d = &s.decode;
    writeln!(out, "| capture | |")?;
    writeln!(out, "|---|---|")?;
    writeln!(out, "| format | {} |", md(&s.format.to_string()))?;
    writeln!(out, "| duration | {} |", v("capture.duration"))?;
    writeln!(out, "| frames | {} |", s.frames)?;
    writeln!(out, "| bytes | {} |", s.bytes)?;
    writeln!(
        out,
        "| decode problems | {} undecodable, {} truncated |",
        d.undecodable.total(),
        d.truncated
    )?;
    let not_decoded: Vec<String> = d
        .unsupported_link_types
        .iter()
        .map(|(lt, n)| format!("unsupported {} ×{n}", LinkType(*lt)))
        .chain(
            d.undecoded_encapsulations
                .iter()
                .map(|(e, n)| format!("{e} ×{n}")),
        )
        .collect();
    if !not_decoded.is_empty() {
        writeln!(out, "| not decoded | {} |", md(&not_decoded.join(", ")))?;
    }
    writeln!(out, "| limits hit | {} |", v("capture.limits_hit"))?;
    if let Some(dm) = &s.damaged {
        writeln!(out, "| **damaged** | {} |", md(&dm.to_string()))?;
    }
    if !filter.is_empty() {
        writeln!(out, "| filter | `{}` |", md(&crate::filter::flags(filter)))?;
    }
    writeln!(out)?;
    writeln!(out, "### Connections")?;
    writeln!(out)?;
    writeln!(
        out,
        "| connections | closed | open | established | midstream | reset | refused | timeout |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} |",
        v("connections.count"),
        v("connections.closed"),
        v("connections.open"),
        v("connections.established"),
        v("connections.midstream"),
        v("connections.reset"),
        v("connections.refused"),
        v("connections.timeout")
    )?;
    writeln!(out)?;
    writeln!(out, "| retransmitted segments | rate | retransmitted bytes | byte rate | SYN retries | zero windows | missed bytes |")?;
    writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|")?;
    writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} |",
        v("tcp.retransmissions"),
        v("tcp.retransmission_rate"),
        v("tcp.retransmitted_bytes"),
        v("tcp.retransmission_byte_rate"),
        v("tcp.syn_retries"),
        v("tcp.zero_windows"),
        v("tcp.missed_bytes")
    )?;
    writeln!(out)?;
    writeln!(out, "| phase | n | p50 | p90 | p95 | p99 | max |")?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|")?;
    pct_row(out, "connect", "connect")?;
    pct_row(out, "initial RTT", "initial_rtt")?;
    if app.tls_handshakes > 0 {
        pct_row(out, "TLS handshake", "tls.handshake")?;
    }
    if app.http_requests > 0 {
        pct_row(out, "HTTP wait (TTFB)", "http.wait")?;
        pct_row(out, "HTTP total", "http.total")?;
    }
    if app.dns_queries > 0 {
        pct_row(out, "DNS latency", "dns.latency")?;
    }
    if app.tls_handshakes > 0 {
        writeln!(out)?;
        writeln!(out, "### TLS")?;
        writeln!(out)?;
        writeln!(
            out,
            "| handshakes | versions | resumption rate | alerts | top SNIs |"
        )?;
        writeln!(out, "|---:|---|---:|---|---|")?;
        let snis: Vec<String> = app
            .tls_top_snis
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            app.tls_handshakes,
            md(&counts(&app.tls_versions)),
            v("tls.resumption_rate"),
            if app.tls_alert_names.is_empty() {
                "0".to_string()
            } else {
                md(&counts(&app.tls_alert_names))
            },
            md(&snis.join(", "))
        )?;
    }
    if app.http_requests > 0 {
        writeln!(out)?;
        writeln!(out, "### HTTP")?;
        writeln!(out)?;
        writeln!(out, "| requests | connections | per connection | reuse rate | 1xx | 2xx | 3xx | 4xx | 5xx | no response |")?;
        writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            v("http.requests"),
            v("http.connections"),
            v("http.requests_per_connection"),
            v("http.reuse_rate"),
            v("http.status_1xx"),
            v("http.status_2xx"),
            v("http.status_3xx"),
            v("http.status_4xx"),
            v("http.status_5xx"),
            v("http.no_response")
        )?;
        if !app.slowest_requests.is_empty() {
            writeln!(out)?;
            writeln!(out, "Slowest requests:")?;
            writeln!(out)?;
            writeln!(
                out,
                "| time | request | status | server | total | connect | tls | wait | receive |"
            )?;
            writeln!(out, "|---:|---|---:|---|---:|---:|---:|---:|---:|")?;
            let http = analysis.http_records();
            let timings = analysis.request_timings();
            let conns: std::collections::HashMap<u64, &ConnectionRecord> =
                records.iter().map(|c| (c.conn_id, c)).collect();
            for &i in &app.slowest_requests {
                let h = &http[i];
                let t = timings.get(i);
                let o = |x: Option<i64>| x.map_or("-".to_string(), duration);
                writeln!(
                    out,
                    "| {} | `{} {}{}` | {} | {} | {} | {} | {} | {} | {} |",
                    ctx.at(h.request_start_ts),
                    md(h.method.as_deref().unwrap_or("")),
                    md(h.host.as_deref().unwrap_or("")),
                    md(h.path.as_deref().unwrap_or("")),
                    h.status.map_or("-".to_string(), |s| s.to_string()),
                    conns
                        .get(&h.conn_id)
                        .map_or(String::new(), |c| endpoint(&c.server_ip, c.server_port)),
                    o(t.and_then(|t| t.total_ns)),
                    o(t.and_then(|t| t.connect_ns)),
                    o(t.and_then(|t| t.tls_ns)),
                    o(t.and_then(|t| t.wait_ns)),
                    o(t.and_then(|t| t.receive_ns)),
                )?;
            }
        }
    }
    if app.dns_queries > 0 {
        writeln!(out)?;
        writeln!(out, "### DNS")?;
        writeln!(out)?;
        writeln!(
            out,
            "| queries | answered | unanswered | retries | ICMP unreachable | over TCP | rcodes |"
        )?;
        writeln!(out, "|---:|---:|---:|---:|---:|---:|---|")?;
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            app.dns_queries,
            app.dns_answered,
            app.dns_unanswered,
            app.dns_retries,
            app.dns_icmp,
            app.dns_tcp,
            md(&counts(&app.dns_rcodes))
        )?;
    }
    let lists = [
        ("slowest connect", &rep.slowest),
        ("most retransmissions", &rep.most_retransmitted),
        ("failed", &rep.failed),
    ];
    if lists.iter().any(|(_, l)| !l.is_empty()) {
        writeln!(out)?;
        writeln!(out, "### Worst offenders")?;
        writeln!(out)?;
        writeln!(
            out,
            "| list | time | client | server | connect | outcome | SYN retries | retransmissions |"
        )?;
        writeln!(out, "|---|---:|---|---|---:|---|---:|---:|")?;
        for (title, list) in lists {
            for &i in list {
                let r = &records[i];
                writeln!(
                    out,
                    "| {title} | {} | {} | {} | {} | {} | {} | {} |",
                    ctx.at(r.start_ts),
                    endpoint(&r.client_ip, r.client_port),
                    endpoint(&r.server_ip, r.server_port),
                    r.connect_ns.map_or("-".to_string(), duration),
                    r.outcome.as_str(),
                    r.syn_retries,
                    r.c2s.retransmissions + r.s2c.retransmissions
                )?;
            }
        }
    }
    writeln!(out)
}

/// `{name: value}` of every figure (durations in ns, null for no data).
pub fn figures_json(f: &pcapstat::Figures) -> Value {
    let mut m = Map::new();
    for fig in f.iter() {
        m.insert(fig.def.name.clone(), crate::check::value_json(fig.value));
    }
    Value::Object(m)
}

/// The machine-readable report: one JSON object on one line.
pub fn json(
    out: &mut impl Write,
    file: &str,
    analysis: &pcapstat::Analysis,
    tcp: &ConnReport,
    app: &AppReport,
    filter: &pcapstat::Filter,
) -> io::Result<()> {
    let s = analysis.summary();
    let records = analysis.connection_records();
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
    let encapsulations: Map<String, Value> = d
        .undecoded_encapsulations
        .iter()
        .map(|(e, n)| (e.to_string(), json!(n)))
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
        "undecoded_encapsulations": encapsulations,
        "damaged": s.damaged.as_ref().map(|dm| json!({
            "offset": dm.offset,
            "frame": dm.frame,
            "reason": dm.reason.to_string(),
        })),
        "tcp_connections": tcp.json(records),
        "applications": app.json(analysis),
        "filter": (!filter.is_empty()).then(|| crate::filter::flags(filter)),
        "figures": figures_json(&pcapstat::Figures::of(analysis)),
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
        assert_eq!(duration(1_500_000_000), "1.5s");
        assert_eq!(duration(12_345_678), "12.3ms");
        assert_eq!(duration(999), "999ns");
    }
}
