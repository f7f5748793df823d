//! Laying a [`Report`] out as text, markdown or JSON (the numbers all come from the report).

use std::fmt::Display;
use std::io::{self, Write};

use pcapstat::core::{CaptureSummary, DecodeProblem, LinkType, Outcome};
use pcapstat::figures::Percentiles;
use pcapstat::report::{ConnRow, HostRow, Share, Totals, WebSocketReport};
use pcapstat::Report;

use crate::term::{md, md_table, shorten, wrap, Color, Style};
use serde_json::{json, Value};

pub use pcapstat::time::rfc3339;

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
    report: &Report,
    filter: &pcapstat::Filter,
) -> io::Result<()> {
    let s = &report.summary;
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
    if !s.inputs.is_empty() {
        writeln!(
            out,
            "  merged        {} files, one timeline (format: the first file's)",
            s.inputs.len()
        )?;
        for i in &s.inputs {
            let range = match (i.first_ts, i.last_ts) {
                (Some(a), Some(b)) => format!(", {} .. {}", rfc3339(a), rfc3339(b)),
                _ => String::new(),
            };
            let damaged = if i.damaged.is_some() { ", damaged" } else { "" };
            writeln!(out, "    {}  {} frames{range}{damaged}", i.file, i.frames)?;
        }
    }
    let links: Vec<String> = s
        .link_types
        .iter()
        .map(|(lt, n)| format!("{lt}: {n}"))
        .collect();
    writeln!(out, "  link types    {}", or_dash(links.join(", ")))?;
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
        let share = Share::new(n, s.frames);
        writeln!(out, "  {name:<12}  {n}{}", pct(share))?;
    }
    writeln!(out, "{}", ctx.head("Decoding"))?;
    writeln!(
        out,
        "  truncated frames        {}{}",
        d.truncated,
        pct(Share::new(d.truncated, s.frames))
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
    let limits = report.limits_hit();
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
        match &dmg.file {
            None => writeln!(
                out,
                "  (the figures above cover the {} frames before the damage)",
                dmg.frame
            )?,
            Some(file) => writeln!(
                out,
                "  (the figures above cover the {} frames of {file} before the damage, and the \
                 other files)",
                dmg.frame
            )?,
        }
    }
    Ok(())
}

fn bytes(n: u64) -> String {
    pcapstat::core::format_bytes(n)
}

/// `n=12  p50 1.2ms  p90 ...  p95 ...  p99 ...  max ...`; a narrow terminal drops max (p95
/// and p99 always stay).
fn percentiles(ctx: &Ctx, p: Option<Percentiles>) -> String {
    let Some(p) = p else {
        return "- (none measured)".to_string();
    };
    let [p50, p90, p95, p99, max] = p.ranks().map(duration);
    let max = if ctx.wide() {
        format!("  max {max}")
    } else {
        String::new()
    };
    format!(
        "n={}  p50 {p50}  p90 {p90}  p95 {p95}  p99 {p99}{max}",
        p.count
    )
}

fn phase(out: &mut impl Write, ctx: &Ctx, name: &str, p: Option<Percentiles>) -> io::Result<()> {
    writeln!(out, "  {name:<13} {}", percentiles(ctx, p))
}

/// `12.34%`, `-` without a whole.
fn ratio(share: Share) -> String {
    share
        .percent()
        .map_or("-".to_string(), |p| format!("{p:.2}%"))
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

/// `1 request`, `2 requests`.
pub fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One connection of a worst-offenders list: time, endpoints, what was bad.
fn conn_line(ctx: &Ctx, r: &ConnRow) -> String {
    let mut extra = String::new();
    if r.syn_retries > 0 {
        extra.push_str(&format!(
            ", {}",
            plural(r.syn_retries, "SYN retry", "SYN retries")
        ));
    }
    if r.retransmissions > 0 {
        extra.push_str(&format!(", {} retransmitted", r.retransmissions));
    }
    let ends = format!("{} -> {}", r.client, r.server);
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
pub fn connections_text(out: &mut impl Write, ctx: &Ctx, report: &Report) -> io::Result<()> {
    let rep = &report.connections;
    let outcomes = counts(rep.outcomes.iter().filter(|(_, n)| **n > 0));
    let outcomes = if outcomes.is_empty() {
        outcomes
    } else {
        format!(" ({outcomes})")
    };
    let head = ctx.head(&format!("TCP connections  {}", rep.connections));
    writeln!(out, "{head}{outcomes}")?;
    if rep.connections == 0 {
        return Ok(());
    }
    let failed = format!(
        "{} of {} ({})",
        rep.failed,
        rep.connections,
        ratio(rep.failure_rate())
    );
    let color = (rep.failed > 0).then_some(Color::Red);
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
    let t = &rep.both;
    let (segments, sent) = (t.retransmission_rate(), t.retransmission_byte_rate());
    let rate = format!(
        "{} of {} segments ({})",
        segments.part,
        segments.whole,
        ratio(segments)
    );
    let color = (t.retransmissions > 0).then_some(Color::Yellow);
    writeln!(
        out,
        "  retransmitted {}; fast {}, spurious {}",
        ctx.style.paint(color, &rate),
        t.fast_retransmissions,
        t.spurious_retransmissions,
    )?;
    writeln!(
        out,
        "                {} of {} payload sent ({})",
        bytes(sent.part),
        bytes(sent.whole),
        ratio(sent)
    )?;
    writeln!(
        out,
        "  reordering    out of order {}, dup ACKs {}, lost segments {}",
        t.out_of_order, t.dup_acks, t.lost_segments
    )?;
    writeln!(
        out,
        "  SYN retries   {};  zero windows {};  missed bytes {}",
        rep.syn_retries,
        t.zero_windows,
        bytes(t.missed_bytes)
    )?;
    direction(out, "client->server", &rep.c2s)?;
    direction(out, "server->client", &rep.s2c)?;
    if !rep.failures.is_empty() {
        writeln!(out, "{}", ctx.head("Failed connections per server"))?;
        for f in &rep.failures {
            let line = format!(
                "  {:<21} {:>6}  to {}",
                f.failure.as_str(),
                f.connections,
                f.server
            );
            writeln!(out, "{}", ctx.style.paint(Some(Color::Red), &line))?;
        }
    }
    if report.limits_hit() > 0 {
        writeln!(
            out,
            "{}",
            ctx.style.paint(Some(Color::Yellow), "Limits hit")
        )?;
        for l in &report.limits {
            writeln!(
                out,
                "  {} {} ({}: {})",
                l.count, l.message, l.name, l.setting
            )?;
        }
    }
    Ok(())
}

/// `name n, name n, ...`.
fn counts<K: Display, N: Display>(items: impl IntoIterator<Item = (K, N)>) -> String {
    let items: Vec<String> = items.into_iter().map(|(k, n)| format!("{k} {n}")).collect();
    items.join(", ")
}

/// The SNIs of the most handshakes, with their counts.
fn top_snis(tls: &pcapstat::report::TlsReport) -> String {
    counts(tls.top_snis.iter().map(|s| (&s.sni, s.handshakes)))
}

/// `s`, or `-` for nothing.
fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s
    }
}

/// ` (12.3%)`, nothing without a whole.
fn pct(share: Share) -> String {
    share
        .percent()
        .map_or(String::new(), |p| format!(" ({p:.1}%)"))
}

/// The phases of a request that were measured: `connect 24µs  wait 6.1ms  receive 6.74s`.
fn phases(t: &pcapstat::report::RequestRow) -> String {
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
pub fn app_text(out: &mut impl Write, ctx: &Ctx, report: &Report) -> io::Result<()> {
    let (tls, http, dns) = (
        &report.applications.tls,
        &report.applications.http,
        &report.applications.dns,
    );
    if tls.handshakes > 0 {
        writeln!(
            out,
            "{} ({})",
            ctx.head(&format!("TLS handshakes  {}", tls.handshakes)),
            counts(&tls.versions),
        )?;
        writeln!(
            out,
            "  resumed       {}{};  with an alert {}",
            tls.resumed,
            pct(tls.resumption_rate()),
            tls.alerts
        )?;
        let d = &tls.decryption;
        if d.sessions > 0 || d.no_key > 0 || d.unsupported_cipher > 0 {
            // Only with a key log: how many connections it opened, and why others stayed shut.
            let mut line = format!(
                "  decrypted     {} of {}",
                d.sessions,
                plural(tls.handshakes, "connection", "connections")
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
        phase(out, ctx, "handshake", tls.handshake)?;
        writeln!(out, "  top SNIs      {}", top_snis(tls))?;
        if !tls.alert_names.is_empty() {
            let line = format!("  alerts        {}", counts(&tls.alert_names));
            writeln!(out, "{}", ctx.style.paint(Some(Color::Red), &line))?;
        }
    }
    let inf = &http.inferred;
    if inf.requests > 0 {
        writeln!(
            out,
            "{}",
            ctx.head(&format!(
                "{} inferred from encrypted records (no keys)",
                plural(inf.requests, "request", "requests")
            )),
        )?;
        writeln!(
            out,
            "  on {}: estimates, kept out of the HTTP figures",
            plural(inf.connections, "TLS connection", "TLS connections"),
        )?;
        phase(out, ctx, "wait (TTFB)", inf.wait)?;
        phase(out, ctx, "total", inf.total)?;
    }
    if http.requests > 0 {
        // Requests on no connection's first request (a time window cut it off) read as one.
        let per_connection = http
            .requests_per_connection()
            .ratio()
            .unwrap_or(http.requests as f64);
        writeln!(
            out,
            "{} on {} ({per_connection:.2} per connection)",
            ctx.head(&format!(
                "HTTP requests  {} ({})",
                http.requests,
                counts(&http.versions)
            )),
            plural(http.connections, "connection", "connections"),
        )?;
        writeln!(
            out,
            "  reused        {} on reused connections{}",
            plural(http.reused_requests, "request", "requests"),
            pct(http.reuse_rate()),
        )?;
        writeln!(out, "  status        {}", counts(&http.status))?;
        if http.incomplete > 0 {
            writeln!(
                out,
                "  incomplete    {} (response not seen whole: reset, gap or capture end)",
                http.incomplete
            )?;
        }
        let p = &http.parse;
        if p.bad_request_heads > 0 || p.bad_response_heads > 0 {
            writeln!(
                out,
                "  bad heads     {} request, {} response (unparseable even leniently; {} \
                 requests left unpaired after them)",
                p.bad_request_heads, p.bad_response_heads, p.unpaired_after_bad_head
            )?;
        }
        phase(out, ctx, "wait (TTFB)", http.wait)?;
        phase(out, ctx, "total", http.total)?;
        if !http.new_connections_per_server.is_empty() {
            let per_server = http.new_connections_per_server.iter();
            let s = counts(per_server.map(|s| (&s.server, s.connections)));
            writeln!(out, "  new connections per server: {s}")?;
        }
        if !http.slowest_requests.is_empty() {
            writeln!(out, "{}", ctx.head("Slowest requests"))?;
            for h in &http.slowest_requests {
                let total = h.total_ns.map_or("-".to_string(), duration);
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
                let ends = format!("{} -> {}", h.client, h.server);
                let detail = phases(h);
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
    if dns.queries > 0 {
        writeln!(
            out,
            "{}; {} answered, {} unanswered, {} ICMP unreachable",
            ctx.head(&format!("DNS queries  {}", dns.queries)),
            dns.answered,
            dns.unanswered,
            dns.icmp_unreachable,
        )?;
        writeln!(out, "  rcodes        {}", or_dash(counts(&dns.rcodes)))?;
        writeln!(
            out,
            "  retries       {};  over TCP {};  truncated responses {}",
            dns.retries, dns.tcp_queries, dns.truncated
        )?;
        phase(out, ctx, "latency", dns.latency)?;
    }
    websocket_text(out, ctx, &report.applications.websocket)?;
    let quic = &report.applications.quic;
    if quic.connections > 0 {
        writeln!(
            out,
            "{} ({}); {}",
            ctx.head(&format!("QUIC connections  {}", quic.connections)),
            or_dash(counts(&quic.versions)),
            or_dash(counts(&quic.outcomes)),
        )?;
        writeln!(
            out,
            "  version negotiation {};  retry {};  decrypted: handshake {}, 1-RTT {} ({} packet numbers skipped)",
            quic.version_negotiation,
            quic.retry,
            quic.handshake_decrypted,
            quic.one_rtt_decrypted,
            quic.pn_gaps
        )?;
        if !quic.ended.is_empty() {
            writeln!(
                out,
                "  ended: {} closed by the client, {} by the server; {}",
                quic.closed_by_client,
                quic.closed_by_server,
                counts(&quic.ended),
            )?;
        }
        phase(out, ctx, "handshake", quic.handshake)?;
    }
    Ok(())
}

/// The WebSocket lines of the human report (none without WebSocket connections).
fn websocket_text(out: &mut impl Write, ctx: &Ctx, ws: &WebSocketReport) -> io::Result<()> {
    if ws.connections == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "{}; {} closed by the client, {} by the server, {} abnormal (no close frame)",
        ctx.head(&format!("WebSockets  {}", ws.connections)),
        ws.closed_by_client,
        ws.closed_by_server,
        ws.abnormal_closes,
    )?;
    writeln!(out, "  close codes   {}", or_dash(counts(&ws.close_codes)))?;
    writeln!(
        out,
        "  messages      {} client → server ({}), {} server → client ({})",
        ws.messages_c2s,
        bytes(ws.payload_bytes_c2s),
        ws.messages_s2c,
        bytes(ws.payload_bytes_s2c),
    )?;
    writeln!(out, "  ping RTTs     {}", ws.ping_rtts)?;
    phase(out, ctx, "ping RTT", ws.ping_rtt)?;
    phase(out, ctx, "stall", ws.max_idle)
}

/// Rows of the text and markdown per-server lists.
const HOST_ROWS: usize = 10;

/// `host:port` of a row (`[v6]:port` for an IPv6 address), `(other)` alone.
fn host_port(h: &HostRow) -> String {
    match h.port {
        None => h.host.clone(),
        Some(p) if h.host.contains(':') => format!("[{}]:{p}", h.host),
        Some(p) => format!("{}:{p}", h.host),
    }
}

/// `p50 1.2ms p95 5.0ms`, `-` without values.
fn p50_p95(p: Option<Percentiles>) -> String {
    p.map_or("-".to_string(), |p| {
        format!("p50 {} p95 {}", duration(p.p50), duration(p.p95))
    })
}

/// `12.3%`, `-` without a whole.
fn percent(share: Share) -> String {
    share
        .percent()
        .map_or("-".to_string(), |p| format!("{p:.1}%"))
}

/// The status classes of a row that counted something: `2xx 118, 4xx 2, none 1`.
fn status_classes(h: &HostRow) -> String {
    let s = h.status;
    let all = [
        ("1xx", s.s1xx),
        ("2xx", s.s2xx),
        ("3xx", s.s3xx),
        ("4xx", s.s4xx),
        ("5xx", s.s5xx),
        ("other", s.other),
        ("upgraded", s.upgraded),
        ("none", s.none),
    ];
    or_dash(counts(all.into_iter().filter(|(_, n)| *n > 0)))
}

/// The per-server rows the text and markdown reports show: the first [`HOST_ROWS`] by
/// requests (the report's order), and the first by total p95 (rows with a total only).
fn host_lists(report: &Report) -> (Vec<&HostRow>, Vec<&HostRow>) {
    let by_requests = report.hosts.iter().take(HOST_ROWS).collect();
    let mut by_p95: Vec<&HostRow> = report.hosts.iter().filter(|h| h.total.is_some()).collect();
    by_p95.sort_by_key(|h| std::cmp::Reverse(h.total.map(|p| p.p95)));
    by_p95.truncate(HOST_ROWS);
    (by_requests, by_p95)
}

/// `parts` after `indent` spaces, joined by `;  ` when they fit the width, else one a line.
fn joined_lines(ctx: &Ctx, indent: usize, parts: &[String]) -> String {
    let pad = " ".repeat(indent);
    let one = format!("{pad}{}", parts.join(";  "));
    if one.chars().count() <= ctx.width {
        one
    } else {
        parts
            .iter()
            .map(|p| format!("{pad}{p}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The per-server part of the human report, and the DNS names that failed or were slowest.
pub fn hosts_text(out: &mut impl Write, ctx: &Ctx, report: &Report) -> io::Result<()> {
    let (by_requests, by_p95) = host_lists(report);
    if !by_requests.is_empty() {
        let shown = if by_requests.len() < report.hosts.len() {
            format!("the first {} by requests", by_requests.len())
        } else {
            "by requests".to_string()
        };
        let head = format!("Servers  {} ({shown})", report.hosts.len());
        writeln!(out, "{}", ctx.head(&head))?;
        for h in &by_requests {
            let name = shorten(&host_port(h), ctx.width.saturating_sub(4).max(10));
            writeln!(out, "  {name}")?;
            if h.requests > 0 {
                let parts = [
                    format!(
                        "{} on {} new (reuse {})",
                        plural(h.requests, "request", "requests"),
                        h.new_connections,
                        percent(h.reuse_rate()),
                    ),
                    status_classes(h),
                ];
                writeln!(out, "{}", joined_lines(ctx, 4, &parts))?;
                writeln!(
                    out,
                    "    wait {};  total {}",
                    p50_p95(h.wait),
                    p50_p95(h.total)
                )?;
            }
            if h.connections > 0 {
                let mut parts = vec![format!(
                    "{}, {} failed",
                    plural(h.connections, "connection", "connections"),
                    h.failed_connections
                )];
                if h.tls_connections > 0 {
                    parts.push(format!("TLS resumed {}", percent(h.resumption_rate())));
                }
                let retx = percent(h.retransmission_rate());
                parts.push(format!("{retx} segments retransmitted"));
                let color = (h.failed_connections > 0).then_some(Color::Red);
                let text = joined_lines(ctx, 4, &parts);
                writeln!(out, "{}", ctx.style.paint(color, &text))?;
            }
        }
    }
    if !by_p95.is_empty() {
        writeln!(out, "{}", ctx.head("Slowest servers (by total p95)"))?;
        for h in &by_p95 {
            let tail = format!(
                "  total {}  n={}",
                p50_p95(h.total),
                h.total.map_or(0, |p| p.count)
            );
            let room = ctx.width.saturating_sub(2 + tail.chars().count()).max(10);
            writeln!(out, "  {}{tail}", shorten(&host_port(h), room))?;
        }
    }
    let dns = &report.applications.dns;
    if !dns.failed_names.is_empty() {
        writeln!(out, "{}", ctx.head("DNS names that failed"))?;
        for f in &dns.failed_names {
            let kinds = [
                ("NXDOMAIN", f.nxdomain),
                ("SERVFAIL", f.servfail),
                ("other rcode", f.other_rcode),
                ("unanswered", f.unanswered),
                ("ICMP unreachable", f.icmp_unreachable),
            ];
            let tail = format!(
                "  {} ({})",
                f.failures,
                counts(kinds.into_iter().filter(|(_, n)| *n > 0))
            );
            let room = ctx.width.saturating_sub(2 + tail.chars().count()).max(10);
            writeln!(out, "  {}{tail}", shorten(&f.name, room))?;
        }
    }
    if !dns.slowest_names.is_empty() {
        writeln!(out, "{}", ctx.head("Slowest DNS names (longest answer)"))?;
        for s in &dns.slowest_names {
            let tail = format!("  max {}  ({} answered)", duration(s.max_ns), s.answered);
            let room = ctx.width.saturating_sub(2 + tail.chars().count()).max(10);
            writeln!(out, "  {}{tail}", shorten(&s.name, room))?;
        }
    }
    Ok(())
}

/// The per-server and DNS name tables of the markdown report.
fn hosts_markdown(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let (by_requests, by_p95) = host_lists(report);
    let row = |h: &&HostRow| {
        let o = |p: Option<Percentiles>, f: fn(Percentiles) -> i64| {
            p.map_or("-".to_string(), |p| duration(f(p)))
        };
        vec![
            md(&h.host),
            h.port.map_or("-".to_string(), |p| p.to_string()),
            h.requests.to_string(),
            h.new_connections.to_string(),
            percent(h.reuse_rate()),
            percent(h.resumption_rate()),
            md(&status_classes(h)),
            o(h.wait, |p| p.p50),
            o(h.wait, |p| p.p95),
            o(h.total, |p| p.p50),
            o(h.total, |p| p.p95),
            h.failed_connections.to_string(),
            percent(h.retransmission_rate()),
        ]
    };
    let head = "host | port | requests | new conns | reuse | TLS resumed | status | wait p50 | wait p95 | total p50 | total p95 | failed conns | retransmitted";
    for (title, rows) in [
        ("Servers by requests", &by_requests),
        ("Servers by total p95", &by_p95),
    ] {
        if rows.is_empty() {
            continue;
        }
        writeln!(
            out,
            "
### {title}
"
        )?;
        let rows: Vec<Vec<String>> = rows.iter().map(row).collect();
        md_table(out, head, "lrrrrrlrrrrrr", &rows)?;
    }
    let dns = &report.applications.dns;
    if !dns.failed_names.is_empty() {
        writeln!(
            out,
            "
### DNS names that failed
"
        )?;
        let rows: Vec<Vec<String>> = dns
            .failed_names
            .iter()
            .map(|f| {
                let mut r = vec![md(&f.name)];
                r.extend(
                    [
                        f.failures,
                        f.nxdomain,
                        f.servfail,
                        f.other_rcode,
                        f.unanswered,
                        f.icmp_unreachable,
                    ]
                    .map(|n| n.to_string()),
                );
                r
            })
            .collect();
        md_table(
            out,
            "name | failed | NXDOMAIN | SERVFAIL | other rcode | unanswered | ICMP unreachable",
            "lrrrrrr",
            &rows,
        )?;
    }
    if !dns.slowest_names.is_empty() {
        writeln!(
            out,
            "
### Slowest DNS names
"
        )?;
        let rows: Vec<Vec<String>> = dns
            .slowest_names
            .iter()
            .map(|s| vec![md(&s.name), duration(s.max_ns), s.answered.to_string()])
            .collect();
        md_table(out, "name | max latency | answered", "lrr", &rows)?;
    }
    Ok(())
}

/// The worst-N lists of connections, with their titles for text and markdown.
fn conn_lists(report: &Report) -> [(&'static str, &'static str, &[ConnRow]); 3] {
    let c = &report.connections;
    [
        ("Slowest connects", "slowest connect", &c.slowest_connects),
        (
            "Most retransmissions",
            "most retransmissions",
            &c.most_retransmissions,
        ),
        ("Failed connections", "failed", &c.failed_connections),
    ]
}

/// The worst offenders: slowest connects, most retransmitting and failed connections.
pub fn offenders_text(out: &mut impl Write, ctx: &Ctx, report: &Report) -> io::Result<()> {
    let lists = conn_lists(report);
    if lists.iter().all(|(_, _, l)| l.is_empty()) {
        return Ok(());
    }
    writeln!(
        out,
        "{}",
        ctx.head("Worst offenders (time after the first packet)")
    )?;
    let failed = report.connections.failed;
    for (title, _, list) in lists {
        if list.is_empty() {
            continue;
        }
        let more = if title == "Failed connections" && failed > list.len() as u64 {
            format!(" (first {} of {failed})", list.len())
        } else {
            String::new()
        };
        writeln!(out, "{title}{more}")?;
        for r in list {
            writeln!(out, "  {}", conn_line(ctx, r))?;
        }
    }
    Ok(())
}

/// The report as markdown: headings and tables (for a CI job summary).
pub fn markdown(
    out: &mut impl Write,
    ctx: &Ctx,
    file: &str,
    report: &Report,
    filter: &pcapstat::Filter,
) -> io::Result<()> {
    let s = &report.summary;
    let (tls, http, dns) = (
        &report.applications.tls,
        &report.applications.http,
        &report.applications.dns,
    );
    let v = |name: &str| {
        report
            .figures
            .value(name)
            .flatten()
            .map_or("-".to_string(), |v| v.to_string())
    };
    // The figures `{family}.{key}` of each key (space-separated).
    let vs = |family: &str, keys: &str| -> Vec<String> {
        keys.split(' ')
            .map(|k| v(&format!("{family}.{k}")))
            .collect()
    };
    writeln!(out, "## pcapstat: `{}`", md(file))?;
    writeln!(out)?;
    let d = &s.decode;
    writeln!(out, "| capture | |")?;
    writeln!(out, "|---|---|")?;
    writeln!(out, "| format | {} |", md(&s.format.to_string()))?;
    if !s.inputs.is_empty() {
        let files: Vec<&str> = s.inputs.iter().map(|i| i.file.as_str()).collect();
        writeln!(
            out,
            "| merged | {} files: {} |",
            files.len(),
            md(&files.join(", "))
        )?;
    }
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
    writeln!(out, "\n### Connections\n")?;
    md_table(
        out,
        "connections | closed | open | established | midstream | reset | refused | timeout",
        "rrrrrrrr",
        &[vs(
            "connections",
            "count closed open established midstream reset refused timeout",
        )],
    )?;
    writeln!(out)?;
    md_table(
        out,
        "retransmitted segments | rate | retransmitted bytes | byte rate | SYN retries | zero windows | missed bytes",
        "rrrrrrr",
        &[vs(
            "tcp",
            "retransmissions retransmission_rate retransmitted_bytes retransmission_byte_rate syn_retries zero_windows missed_bytes",
        )],
    )?;
    writeln!(out)?;
    let mut phases = vec![("connect", "connect"), ("initial RTT", "initial_rtt")];
    if tls.handshakes > 0 {
        phases.push(("TLS handshake", "tls.handshake"));
    }
    if http.requests > 0 {
        phases.extend([
            ("HTTP wait (TTFB)", "http.wait"),
            ("HTTP total", "http.total"),
        ]);
    }
    if dns.queries > 0 {
        phases.push(("DNS latency", "dns.latency"));
    }
    if report.applications.quic.connections > 0 {
        phases.push(("QUIC handshake", "quic.handshake"));
    }
    let rows: Vec<Vec<String>> = phases
        .iter()
        .map(|(label, family)| {
            let mut row = vec![label.to_string()];
            row.extend(vs(family, "count p50 p90 p95 p99 max"));
            row
        })
        .collect();
    md_table(
        out,
        "phase | n | p50 | p90 | p95 | p99 | max",
        "lrrrrrr",
        &rows,
    )?;
    if tls.handshakes > 0 {
        writeln!(out, "\n### TLS\n")?;
        let alerts = if tls.alert_names.is_empty() {
            "0".to_string()
        } else {
            md(&counts(&tls.alert_names))
        };
        let row = vec![
            tls.handshakes.to_string(),
            md(&counts(&tls.versions)),
            v("tls.resumption_rate"),
            alerts,
            md(&top_snis(tls)),
        ];
        md_table(
            out,
            "handshakes | versions | resumption rate | alerts | top SNIs",
            "rlrll",
            &[row],
        )?;
    }
    let inf = &http.inferred;
    if inf.requests > 0 {
        let p50 = |p: Option<Percentiles>| p.map_or("-".to_string(), |p| duration(p.p50));
        writeln!(
            out,
            "\n{} inferred from encrypted records (no keys) on {}: estimates, kept out of the \
             HTTP figures (wait p50 {}, total p50 {}).",
            plural(inf.requests, "request", "requests"),
            plural(inf.connections, "TLS connection", "TLS connections"),
            p50(inf.wait),
            p50(inf.total),
        )?;
    }
    if http.requests > 0 {
        writeln!(out, "\n### HTTP\n")?;
        md_table(
            out,
            "requests | connections | per connection | reuse rate | 1xx | 2xx | 3xx | 4xx | 5xx | no response",
            "rrrrrrrrrr",
            &[vs(
            "http",
            "requests connections requests_per_connection reuse_rate status_1xx status_2xx status_3xx status_4xx status_5xx no_response",
        )],
        )?;
        if !http.slowest_requests.is_empty() {
            writeln!(out, "\nSlowest requests:\n")?;
            let o = |x: Option<i64>| x.map_or("-".to_string(), duration);
            let text = |x: &Option<String>| md(x.as_deref().unwrap_or(""));
            let rows: Vec<Vec<String>> = http
                .slowest_requests
                .iter()
                .map(|h| {
                    vec![
                        ctx.at(h.request_start_ts),
                        format!("`{} {}{}`", text(&h.method), text(&h.host), text(&h.path)),
                        h.status.map_or("-".to_string(), |s| s.to_string()),
                        h.server.clone(),
                        o(h.total_ns),
                        o(h.connect_ns),
                        o(h.tls_ns),
                        o(h.wait_ns),
                        o(h.receive_ns),
                    ]
                })
                .collect();
            md_table(
                out,
                "time | request | status | server | total | connect | tls | wait | receive",
                "rlrlrrrrr",
                &rows,
            )?;
        }
    }
    if dns.queries > 0 {
        writeln!(out, "\n### DNS\n")?;
        let numbers = [
            dns.queries,
            dns.answered,
            dns.unanswered,
            dns.retries,
            dns.icmp_unreachable,
            dns.tcp_queries,
        ];
        let mut row: Vec<String> = numbers.iter().map(u64::to_string).collect();
        row.push(md(&counts(&dns.rcodes)));
        md_table(
            out,
            "queries | answered | unanswered | retries | ICMP unreachable | over TCP | rcodes",
            "rrrrrrl",
            &[row],
        )?;
    }
    let ws = &report.applications.websocket;
    if ws.connections > 0 {
        writeln!(out, "\n### WebSocket\n")?;
        let mut row: Vec<String> = [
            ws.connections,
            ws.closed_by_client,
            ws.closed_by_server,
            ws.abnormal_closes,
            ws.messages_c2s,
            ws.messages_s2c,
            ws.ping_rtts,
        ]
        .iter()
        .map(u64::to_string)
        .collect();
        row.push(p50_p95(ws.ping_rtt));
        row.push(p50_p95(ws.max_idle));
        row.push(md(&counts(&ws.close_codes)));
        md_table(
            out,
            "connections | closed by client | closed by server | abnormal | messages c→s | messages s→c | ping RTTs | ping RTT p50 / p95 | longest stall p50 / p95 | close codes",
            "rrrrrrrrrl",
            &[row],
        )?;
    }
    let quic = &report.applications.quic;
    if quic.connections > 0 {
        writeln!(out, "\n### QUIC\n")?;
        let mut row: Vec<String> = [
            quic.connections,
            quic.outcome(pcapstat::core::QuicOutcome::Established),
            quic.failed(),
            quic.version_negotiation,
            quic.retry,
        ]
        .iter()
        .map(u64::to_string)
        .collect();
        row.push(md(&counts(&quic.versions)));
        md_table(
            out,
            "connections | established | failed | version negotiation | retry | versions",
            "rrrrrl",
            &[row],
        )?;
    }
    hosts_markdown(out, report)?;
    let lists = conn_lists(report);
    if lists.iter().any(|(_, _, l)| !l.is_empty()) {
        writeln!(out, "\n### Worst offenders\n")?;
        let rows: Vec<Vec<String>> = lists
            .iter()
            .flat_map(|(_, title, list)| {
                list.iter().map(move |r| {
                    vec![
                        title.to_string(),
                        ctx.at(r.start_ts),
                        r.client.clone(),
                        r.server.clone(),
                        r.connect_ns.map_or("-".to_string(), duration),
                        r.outcome.as_str().to_string(),
                        r.syn_retries.to_string(),
                        r.retransmissions.to_string(),
                    ]
                })
            })
            .collect();
        md_table(
            out,
            "list | time | client | server | connect | outcome | SYN retries | retransmissions",
            "lrllrlrr",
            &rows,
        )?;
    }
    writeln!(out)
}

/// The machine-readable report: one JSON object on one line (the report's keys, sorted, with
/// the file and the filter).
pub fn json(
    out: &mut impl Write,
    file: &str,
    report: &Report,
    filter: &pcapstat::Filter,
) -> io::Result<()> {
    let mut value = serde_json::to_value(report)?;
    if let Value::Object(m) = &mut value {
        m.insert("file".into(), json!(file));
        m.insert(
            "filter".into(),
            json!((!filter.is_empty()).then(|| crate::filter::flags(filter))),
        );
    }
    serde_json::to_writer(&mut *out, &value)?;
    writeln!(out)
}

/// The JSON line for a file that could not be read.
pub fn json_error(out: &mut impl Write, file: &str, error: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &json!({"file": file, "error": error}))?;
    writeln!(out)
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
