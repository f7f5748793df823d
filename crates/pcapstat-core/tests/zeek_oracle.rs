//! The whole pipeline against the other tools' expected outputs stored with the shared captures:
//! Zeek's ssl.log, http.log, dns.log and conn.log baselines (`testdata/expected/zeek/*.tsv`) and
//! the tls/http/dns/flow checks of suricata-verify's test.yaml (`testdata/expected/suricata/`),
//! both normalised by `scripts/gen-zeek-fixtures.py`.
//!
//! Zeek rows are paired with ours by connection 4-tuple (Zeek's baselines mask timestamps), then
//! in order: `trans_depth` ↔ `request_index + 1` for HTTP, transaction id then order for DNS, and
//! (conn.log) by duration among the connections of one 4-tuple. Every field that differs, and
//! every row only one side has, is a difference; each must be listed in the folder's
//! `KNOWN_DIFFERENCES.tsv` with a reason, and the test fails on an unlisted difference and on a
//! listed one that is gone. A suricata-verify filter is a count of events: we count our records
//! matching its comparable keys. See docs/{tls,http,dns,tcp}.md, "Agreement with Zeek and
//! Suricata", for the mapping of each field.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;

use common::Analysis;
use pcapstat_core::{ConnectionRecord, DnsTransport, Outcome, Side};

type Row = BTreeMap<String, String>;

fn fixture(dir: &str, name: &str) -> Vec<Row> {
    common::tsv(&common::testdata().join(format!("expected/{dir}/{name}.tsv")))
}

fn capture_path(rel: &str) -> PathBuf {
    let p = common::shared().join("captures").join(rel);
    assert!(p.is_file(), "shared capture missing: {}", p.display());
    p
}

/// Fixture rows grouped by capture, each capture analysed once.
fn by_capture(rows: Vec<Row>) -> Vec<(String, Analysis, Vec<Row>)> {
    let mut groups: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for r in rows {
        groups.entry(r["capture"].clone()).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(c, rows)| {
            let a = common::analyze(&capture_path(&c));
            (c, a, rows)
        })
        .collect()
}

fn tuple(
    a: impl std::fmt::Display,
    ap: impl std::fmt::Display,
    b: impl std::fmt::Display,
    bp: impl std::fmt::Display,
) -> String {
    format!("{a}:{ap}>{b}:{bp}")
}

fn zeek_tuple(r: &Row) -> String {
    tuple(&r["orig_h"], &r["orig_p"], &r["resp_h"], &r["resp_p"])
}

fn conn_tuple(c: &ConnectionRecord) -> String {
    tuple(c.client_ip, c.client_port, c.server_ip, c.server_port)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn tf(b: bool) -> String {
    b.to_string()
}

/// Counts and differences of one comparison.
#[derive(Default)]
struct Tally {
    captures: usize,
    rows: usize,
    fields: usize,
    agree: usize,
    diffs: BTreeSet<String>,
}

impl Tally {
    /// Compares one field of a paired row.
    fn field(
        &mut self,
        log: &str,
        capture: &str,
        at: &str,
        name: &str,
        ours: String,
        theirs: &str,
    ) {
        self.fields += 1;
        if ours == theirs {
            self.agree += 1;
        } else {
            self.diffs
                .insert(format!("{log}\t{capture}\t{at}\t{name}\t{ours}\t{theirs}"));
        }
    }
    /// A row only one side has.
    fn only(&mut self, log: &str, capture: &str, at: &str, who: &str, ours: &str, theirs: &str) {
        self.diffs
            .insert(format!("{log}\t{capture}\t{at}\t{who}\t{ours}\t{theirs}"));
    }
    fn check(&self, folder: &str, log: &str, tool: &str) {
        eprintln!(
            "{log}: {} captures, {} rows paired, {} fields compared, {} agree, {} differences",
            self.captures,
            self.rows,
            self.fields,
            self.agree,
            self.diffs.len()
        );
        // One file per folder; the Zeek one serves one test per log.
        let prefix = format!("{log}\t");
        common::check_known_differences(
            &common::testdata().join(format!("expected/{folder}/KNOWN_DIFFERENCES.tsv")),
            6,
            |k| folder != "zeek" || k.starts_with(&prefix),
            &self.diffs,
            &format!("log, capture, row, field, ours, {tool}"),
        );
    }
}

/// Pairs rows of one key in order: (ours, theirs) with `None` where one side has fewer.
fn zip_longest<'a, A, B>(
    a: &'a [A],
    b: &'a [B],
) -> impl Iterator<Item = (usize, Option<&'a A>, Option<&'a B>)> {
    (0..a.len().max(b.len())).map(move |i| (i, a.get(i), b.get(i)))
}

// ---------------------------------------------------------------------------------------------
// ssl.log

/// Zeek's names of the TLS alert descriptions (base/protocols/ssl/consts.zeek).
fn alert_name(d: u8) -> String {
    let name = match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return format!("unknown-{d}"),
    };
    name.to_string()
}

#[test]
fn ssl_log_agrees() {
    need_shared!();
    let mut t = Tally::default();
    for (cap, a, rows) in by_capture(fixture("zeek", "ssl")) {
        t.captures += 1;
        let mut theirs: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
        for r in &rows {
            theirs.entry(zeek_tuple(r)).or_default().push(r);
        }
        let mut ours: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for r in &a.tls {
            ours.entry(conn_tuple(a.connection(r.conn_id).unwrap()))
                .or_default()
                .push(r);
        }
        let keys: BTreeSet<String> = theirs.keys().chain(ours.keys()).cloned().collect();
        for k in keys {
            let (o, z) = (
                ours.get(&k).map(Vec::as_slice).unwrap_or(&[]),
                theirs.get(&k).map(Vec::as_slice).unwrap_or(&[]),
            );
            for (i, o, z) in zip_longest(o, z) {
                let at = format!("{k}#{i}");
                match (o, z) {
                    (Some(r), Some(z)) => {
                        t.rows += 1;
                        let fields = [
                            (
                                "version",
                                opt(r.version.map(|v| format!("0x{:04x}", v.0))),
                                "version",
                            ),
                            (
                                "cipher",
                                opt(r.cipher.map(|v| format!("0x{:04x}", v.0))),
                                "cipher",
                            ),
                            (
                                "server_name",
                                r.sni.clone().unwrap_or_default(),
                                "server_name",
                            ),
                            ("resumed", opt(r.resumed), "resumed"),
                            (
                                "established",
                                tf(r.handshake_done_ts.is_some()),
                                "established",
                            ),
                            (
                                "next_protocol",
                                r.alpn.clone().unwrap_or_default(),
                                "next_protocol",
                            ),
                            (
                                "last_alert",
                                opt(r.alert.map(|a| alert_name(a.description.0))),
                                "last_alert",
                            ),
                        ];
                        for (name, ours, col) in fields {
                            t.field("ssl", &cap, &at, name, ours, &z[col]);
                        }
                    }
                    (Some(r), None) => {
                        t.only("ssl", &cap, &at, "only_ours", &opt(r.sni.clone()), "")
                    }
                    (None, Some(z)) => t.only("ssl", &cap, &at, "only_zeek", "", &z["server_name"]),
                    (None, None) => {}
                }
            }
        }
    }
    t.check("zeek", "ssl", "zeek");
    assert!(
        t.captures >= 9 && t.rows >= 10 && t.fields >= 70,
        "too little compared"
    );
}

// ---------------------------------------------------------------------------------------------
// http.log

#[test]
fn http_log_agrees() {
    need_shared!();
    let mut t = Tally::default();
    for (cap, a, rows) in by_capture(fixture("zeek", "http")) {
        t.captures += 1;
        // Requests pair in order per 4-tuple (connections on one 4-tuple one after the other);
        // Zeek's rows without a request (responses it could not pair) are differences of their own.
        let mut theirs: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
        for r in rows.iter().filter(|r| !r["method"].is_empty()) {
            theirs.entry(zeek_tuple(r)).or_default().push(r);
        }
        for r in rows.iter().filter(|r| r["method"].is_empty()) {
            let at = format!("{}#depth{}", zeek_tuple(r), r["trans_depth"]);
            let what = format!("response {}", r["status_code"]);
            t.only("http", &cap, &at, "only_zeek", "", what.trim());
        }
        let mut ours: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for r in &a.http {
            ours.entry(conn_tuple(a.connection(r.conn_id).unwrap()))
                .or_default()
                .push(r);
        }
        let keys: BTreeSet<_> = theirs.keys().chain(ours.keys()).cloned().collect();
        for k in keys {
            let (o, z) = (
                ours.get(&k).map(Vec::as_slice).unwrap_or(&[]),
                theirs.get(&k).map(Vec::as_slice).unwrap_or(&[]),
            );
            for (i, o, z) in zip_longest(o, z) {
                let at = format!("{k}#{i}");
                match (o, z) {
                    (Some(r), Some(z)) => {
                        t.rows += 1;
                        let fields = [
                            (
                                "trans_depth",
                                (r.request_index + 1).to_string(),
                                "trans_depth",
                            ),
                            (
                                "method",
                                r.method.as_deref().unwrap_or_default().to_string(),
                                "method",
                            ),
                            (
                                "host",
                                r.host.as_deref().unwrap_or_default().to_string(),
                                "host",
                            ),
                            (
                                "uri",
                                r.path.as_deref().unwrap_or_default().to_string(),
                                "uri",
                            ),
                            (
                                "version",
                                r.version.as_str().trim_start_matches("HTTP/").to_string(),
                                "version",
                            ),
                            ("status_code", opt(r.status), "status_code"),
                            (
                                "request_body_len",
                                r.request_body_bytes.to_string(),
                                "request_body_len",
                            ),
                            (
                                "response_body_len",
                                opt(r.response_body_bytes),
                                "response_body_len",
                            ),
                        ];
                        for (name, ours, col) in fields {
                            t.field("http", &cap, &at, name, ours, &z[col]);
                        }
                    }
                    (Some(r), None) => t.only(
                        "http",
                        &cap,
                        &at,
                        "only_ours",
                        &format!(
                            "{} {}",
                            r.method.as_deref().unwrap_or(""),
                            r.path.as_deref().unwrap_or("")
                        ),
                        "",
                    ),
                    (None, Some(z)) => t.only(
                        "http",
                        &cap,
                        &at,
                        "only_zeek",
                        "",
                        &format!("{} {} {}", z["method"], z["uri"], z["status_code"]),
                    ),
                    (None, None) => {}
                }
            }
        }
    }
    t.check("zeek", "http", "zeek");
    assert!(
        t.captures >= 8 && t.rows >= 15 && t.fields >= 120,
        "too little compared"
    );
}

// ---------------------------------------------------------------------------------------------
// dns.log

#[test]
fn dns_log_agrees() {
    need_shared!();
    let mut t = Tally::default();
    for (cap, a, rows) in by_capture(fixture("zeek", "dns")) {
        t.captures += 1;
        let mut theirs: BTreeMap<(String, String), Vec<&Row>> = BTreeMap::new();
        for r in &rows {
            theirs
                .entry((zeek_tuple(r), r["trans_id"].clone()))
                .or_default()
                .push(r);
        }
        let mut ours: BTreeMap<(String, String), Vec<_>> = BTreeMap::new();
        for r in &a.dns {
            let k = tuple(r.client_ip, r.client_port, r.server_ip, r.server_port);
            ours.entry((k, r.id.to_string())).or_default().push(r);
        }
        let keys: BTreeSet<_> = theirs.keys().chain(ours.keys()).cloned().collect();
        for k in keys {
            let (o, z) = (
                ours.get(&k).map(Vec::as_slice).unwrap_or(&[]),
                theirs.get(&k).map(Vec::as_slice).unwrap_or(&[]),
            );
            for (i, o, z) in zip_longest(o, z) {
                let at = format!("{}#id{}.{i}", k.0, k.1);
                match (o, z) {
                    (Some(r), Some(z)) => {
                        t.rows += 1;
                        let proto = match r.transport {
                            DnsTransport::Udp => "udp",
                            DnsTransport::Tcp => "tcp",
                        };
                        let addrs: Vec<String> =
                            r.addresses.iter().map(IpAddr::to_string).collect();
                        // Zeek prints the rtt with microseconds: compare at that resolution.
                        let rtt_us = |ns: i64| (ns + 500).div_euclid(1000) * 1000;
                        let fields = [
                            ("proto", proto.to_string(), "proto"),
                            ("query", r.qname.clone(), "query"),
                            ("qtype", r.qtype.0.to_string(), "qtype"),
                            ("rcode", opt(r.rcode.map(|c| c.0)), "rcode"),
                            ("answers", opt(r.answers), "answers"),
                            ("addresses", addrs.join("|"), "addresses"),
                            ("rtt_ns", opt(r.latency_ns.map(rtt_us)), "rtt_ns"),
                            // Zeek's TC and rejected default to F when no response was seen.
                            ("tc", tf(r.truncated.unwrap_or(false)), "tc"),
                            (
                                "rejected",
                                tf(r.rcode.is_some_and(|c| c.0 != 0)),
                                "rejected",
                            ),
                        ];
                        for (name, ours, col) in fields {
                            t.field("dns", &cap, &at, name, ours, &z[col]);
                        }
                    }
                    (Some(r), None) => t.only(
                        "dns",
                        &cap,
                        &at,
                        "only_ours",
                        &format!("{} {}", r.qname, opt(r.latency_ns)),
                        "",
                    ),
                    (None, Some(z)) => t.only(
                        "dns",
                        &cap,
                        &at,
                        "only_zeek",
                        "",
                        format!("{} {}", z["query"], z["rtt_ns"]).trim(),
                    ),
                    (None, None) => {}
                }
            }
        }
    }
    t.check("zeek", "dns", "zeek");
    assert!(
        t.captures >= 2 && t.rows >= 4 && t.fields >= 36,
        "too little compared"
    );
}

// ---------------------------------------------------------------------------------------------
// conn.log

/// The outcome a Zeek conn_state maps to, seen from Zeek's originator ("orig"/"resp" for who
/// reset); `None` for states with no counterpart.
fn zeek_outcome(state: &str) -> Option<&'static [&'static str]> {
    Some(match state {
        "SF" => &["closed"],
        "REJ" => &["refused"],
        // SYN(s) without any answer (SH: the originator also sent a FIN; RSTOS0: a RST). Zeek
        // does not tell a SYN left unanswered from a capture holding only the originator's
        // direction (its ACKs and data, history `SAD…`): ours does (`one_direction`).
        "S0" | "SH" => &["timeout", "one_direction"],
        "RSTOS0" => &["timeout"],
        "RSTO" => &["reset by orig"],
        "RSTR" | "RSTRH" => &["reset by resp"],
        // Established, not closed by both sides: open at the end or dropped by the idle timeout.
        "S1" | "S2" | "S3" => &["open", "established"],
        "OTH" | "SHR" => &["midstream"],
        _ => return None,
    })
}

/// History letters we can derive (set, not order nor repetition), upper case = orig.
const HISTORY: &str = "SsHhDdFfRrTtGgWw";

fn zeek_history(h: &str) -> String {
    HISTORY.chars().filter(|c| h.contains(*c)).collect()
}

/// Our connection seen from Zeek's originator: (orig, resp) statistics and whether the
/// originator is our client.
fn our_history(c: &ConnectionRecord, orig_is_client: bool) -> String {
    let (o, r) = if orig_is_client {
        (&c.c2s, &c.s2c)
    } else {
        (&c.s2c, &c.c2s)
    };
    let orig_side = if orig_is_client {
        Side::Client
    } else {
        Side::Server
    };
    let mut letters = BTreeSet::new();
    // A SYN is the client's; a SYN/ACK the server's. Zeek's S/s: SYN without ACK, H/h: SYN+ACK.
    let (syn, synack) = (
        c.c2s.handshake_options.is_some(),
        c.s2c.handshake_options.is_some(),
    );
    let upper = |l: char, side_is_orig: bool| {
        if side_is_orig {
            l
        } else {
            l.to_ascii_lowercase()
        }
    };
    if syn {
        letters.insert(upper('S', orig_is_client));
    }
    if synack {
        letters.insert(upper('H', !orig_is_client));
    }
    for (d, is_orig) in [(o, true), (r, false)] {
        if d.payload_bytes > 0 {
            letters.insert(upper('D', is_orig));
        }
        if d.fin_ts.is_some() {
            letters.insert(upper('F', is_orig));
        }
        if d.retransmissions > 0 {
            letters.insert(upper('T', is_orig));
        }
        if d.missed_bytes > 0 {
            letters.insert(upper('G', is_orig));
        }
        if d.zero_windows > 0 {
            letters.insert(upper('W', is_orig));
        }
    }
    if let Some(by) = c.reset_by {
        letters.insert(upper('R', by == orig_side));
    }
    HISTORY.chars().filter(|l| letters.contains(l)).collect()
}

fn our_outcome(c: &ConnectionRecord, orig_is_client: bool) -> String {
    match c.outcome {
        Outcome::Reset => {
            let by_orig = (c.reset_by == Some(Side::Client)) == orig_is_client;
            format!("reset by {}", if by_orig { "orig" } else { "resp" })
        }
        o => o.as_str().to_string(),
    }
}

#[test]
fn conn_log_agrees() {
    need_shared!();
    let mut t = Tally::default();
    let mut skipped = 0;
    for (cap, a, rows) in by_capture(fixture("zeek", "conn")) {
        let rows: Vec<&Row> = rows.iter().filter(|r| r["proto"] == "tcp").collect();
        if rows.is_empty() {
            skipped += 1;
            continue;
        }
        t.captures += 1;
        // Our connections by unordered 4-tuple, and whether Zeek's orig is our client.
        let unordered = |a: String, b: String| if a <= b { (a.clone(), b) } else { (b, a) };
        let mut ours: BTreeMap<(String, String), Vec<&ConnectionRecord>> = BTreeMap::new();
        for c in &a.connections {
            let k = unordered(
                format!("{}:{}", c.client_ip, c.client_port),
                format!("{}:{}", c.server_ip, c.server_port),
            );
            ours.entry(k).or_default().push(c);
        }
        let mut theirs: BTreeMap<(String, String), Vec<&Row>> = BTreeMap::new();
        for r in &rows {
            let k = if r["which"] == "first" {
                // A zeek-cut output without the 4-tuple: Zeek's first uid, the earliest connection.
                let c = a
                    .connections
                    .iter()
                    .min_by_key(|c| (c.start_ts, c.conn_id))
                    .expect("the capture has a TCP connection");
                unordered(
                    format!("{}:{}", c.client_ip, c.client_port),
                    format!("{}:{}", c.server_ip, c.server_port),
                )
            } else {
                unordered(
                    format!("{}:{}", r["orig_h"], r["orig_p"]),
                    format!("{}:{}", r["resp_h"], r["resp_p"]),
                )
            };
            theirs.entry(k).or_default().push(r);
        }
        let keys: BTreeSet<_> = theirs.keys().chain(ours.keys()).cloned().collect();
        for k in keys {
            let mut o: Vec<&ConnectionRecord> = ours.get(&k).cloned().unwrap_or_default();
            let mut z: Vec<&Row> = theirs.get(&k).cloned().unwrap_or_default();
            // Timestamps are masked in the baselines: connections of one 4-tuple pair by duration.
            o.sort_by_key(|c| (c.end_ts - c.start_ts, c.conn_id));
            z.sort_by_key(|r| r["duration_ns"].parse::<i64>().unwrap_or(i64::MAX));
            for (i, o, z) in zip_longest(&o, &z) {
                let at = format!("{}<>{}#{i}", k.0, k.1);
                match (o, z) {
                    (Some(c), Some(z)) => {
                        t.rows += 1;
                        let orig_is_client = z["which"] == "first"
                            || format!("{}:{}", z["orig_h"], z["orig_p"])
                                == format!("{}:{}", c.client_ip, c.client_port);
                        let (od, rd) = if orig_is_client {
                            (&c.c2s, &c.s2c)
                        } else {
                            (&c.s2c, &c.c2s)
                        };
                        if z["which"] != "first" {
                            t.field(
                                "conn",
                                &cap,
                                &at,
                                "orig_is_client",
                                tf(orig_is_client),
                                "true",
                            );
                        }
                        let state = z["conn_state"].as_str();
                        if !state.is_empty() {
                            let ours = our_outcome(c, orig_is_client);
                            let want = zeek_outcome(state).unwrap_or(&[]);
                            let theirs = if want.contains(&ours.as_str()) {
                                ours.clone()
                            } else {
                                format!("{state}={}", want.join("|"))
                            };
                            t.field("conn", &cap, &at, "conn_state", ours, &theirs);
                        }
                        // Zeek counts stream bytes from sequence numbers: bytes it did not see count.
                        // Zeek stops a TCP connection's clock once both sides have closed
                        // (`did_close`): what follows the later first FIN is not in its duration.
                        let end = match (c.c2s.fin_ts, c.s2c.fin_ts) {
                            (Some(a), Some(b)) => a.max(b),
                            _ => c.end_ts,
                        };
                        let fields = [
                            (
                                "duration_ns",
                                ((end - c.start_ts) / 1000 * 1000).to_string(),
                            ),
                            (
                                "orig_bytes",
                                (od.payload_bytes + od.missed_bytes).to_string(),
                            ),
                            (
                                "resp_bytes",
                                (rd.payload_bytes + rd.missed_bytes).to_string(),
                            ),
                            (
                                "missed_bytes",
                                (od.missed_bytes + rd.missed_bytes).to_string(),
                            ),
                            ("orig_pkts", od.packets.to_string()),
                            ("resp_pkts", rd.packets.to_string()),
                        ];
                        for (name, ours) in fields {
                            // Empty: the column is not in that baseline (zeek-cut output).
                            if !z[name].is_empty() {
                                t.field("conn", &cap, &at, name, ours, &z[name]);
                            }
                        }
                        if !z["history"].is_empty() {
                            let ours = our_history(c, orig_is_client);
                            t.field(
                                "conn",
                                &cap,
                                &at,
                                "history",
                                ours,
                                &zeek_history(&z["history"]),
                            );
                        }
                    }
                    // Only the captures' Zeek rows are the reference: our other connections in a
                    // capture whose baseline lists them all are differences too.
                    (Some(c), None) => {
                        if !rows.iter().any(|r| r["which"] == "first") {
                            t.only("conn", &cap, &at, "only_ours", c.outcome.as_str(), "");
                        }
                    }
                    (None, Some(z)) => t.only("conn", &cap, &at, "only_zeek", "", &z["conn_state"]),
                    (None, None) => {}
                }
            }
        }
    }
    eprintln!("conn: {skipped} captures with UDP rows only, not compared");
    t.check("zeek", "conn", "zeek");
    assert!(
        t.captures >= 11 && t.rows >= 19 && t.fields >= 147,
        "too little compared"
    );
}

// ---------------------------------------------------------------------------------------------
// suricata-verify

/// Whether a filter cell (empty = no condition) accepts our value.
fn accepts(want: &str, ours: &str) -> bool {
    want.is_empty() || want == ours
}

fn endpoints_accept(f: &Row, src: (IpAddr, u16), dst: (IpAddr, u16)) -> bool {
    accepts(&f["src_ip"], &src.0.to_string())
        && accepts(&f["src_port"], &src.1.to_string())
        && accepts(&f["dest_ip"], &dst.0.to_string())
        && accepts(&f["dest_port"], &dst.1.to_string())
}

/// Our count of events matching one suricata-verify filter.
fn suricata_count(ev: &str, f: &Row, a: &Analysis) -> usize {
    let client = |c: &ConnectionRecord| (c.client_ip, c.client_port);
    let server = |c: &ConnectionRecord| (c.server_ip, c.server_port);
    match ev {
        "tls" => a
            .tls
            .iter()
            .filter(|r| {
                let c = a.connection(r.conn_id).unwrap();
                endpoints_accept(f, client(c), server(c))
                    && accepts(&f["sni"], r.sni.as_deref().unwrap_or(""))
                    && accepts(
                        &f["version"],
                        &opt(r.version.map(|v| format!("0x{:04x}", v.0))),
                    )
                    && accepts(&f["ja4"], r.ja4.as_deref().unwrap_or(""))
                    && accepts(&f["client_alpns"], &r.alpn_offered.join("|"))
                    && accepts(&f["server_alpns"], r.alpn.as_deref().unwrap_or(""))
            })
            .count(),
        "http" => a
            .http
            .iter()
            .filter(|r| {
                let c = a.connection(r.conn_id).unwrap();
                // Suricata's hostname: the Host header without the port.
                let host = r.host.as_deref().unwrap_or("");
                let host = host.rsplit_once(':').map_or(host, |(h, p)| {
                    if p.bytes().all(|b| b.is_ascii_digit()) {
                        h
                    } else {
                        host
                    }
                });
                endpoints_accept(f, client(c), server(c))
                    && accepts(&f["method"], r.method.as_deref().unwrap_or(""))
                    && accepts(&f["hostname"], &host.to_ascii_lowercase())
                    && accepts(&f["url"], r.path.as_deref().unwrap_or(""))
                    && accepts(&f["status"], &opt(r.status))
                    && accepts(&f["protocol"], r.version.as_str())
                    && accepts(&f["length"], &opt(r.response_body_bytes))
            })
            .count(),
        "dns" => a
            .dns
            .iter()
            .map(|r| {
                let cl = (r.client_ip, r.client_port);
                let sv = (r.server_ip, r.server_port);
                let common =
                    accepts(&f["id"], &r.id.to_string()) && accepts(&f["rrname"], &r.qname);
                let request = accepts(&f["type"], "request")
                    && f["answers_len"].is_empty()
                    && f["rcode"].is_empty()
                    && endpoints_accept(f, cl, sv);
                let response = r.response_ts.is_some()
                    && accepts(&f["type"], "response")
                    && accepts(&f["rcode"], &opt(r.rcode.map(|c| c.0)))
                    && accepts(&f["answers_len"], &opt(r.answers))
                    && endpoints_accept(f, sv, cl);
                usize::from(common && request) + usize::from(common && response)
            })
            .sum(),
        "flow" => a
            .connections
            .iter()
            .filter(|c| {
                let app = if a.tls.iter().any(|t| t.conn_id == c.conn_id) {
                    "tls"
                } else if a.http.iter().any(|h| h.conn_id == c.conn_id) {
                    "http"
                } else {
                    ""
                };
                // Suricata's flow.age: whole seconds between the first and last packet's seconds.
                let age = c.end_ts.div_euclid(1_000_000_000) - c.start_ts.div_euclid(1_000_000_000);
                endpoints_accept(f, client(c), server(c))
                    && accepts(&f["app_proto"], app)
                    && accepts(&f["pkts_toserver"], &c.c2s.packets.to_string())
                    && accepts(&f["pkts_toclient"], &c.s2c.packets.to_string())
                    && accepts(&f["age"], &age.to_string())
            })
            .count(),
        _ => unreachable!("event type {ev}"),
    }
}

#[test]
fn suricata_checks_agree() {
    need_shared!();
    let mut t = Tally::default();
    let mut per_type = BTreeMap::new();
    for ev in ["tls", "http", "dns", "flow"] {
        let mut n = 0;
        for (cap, a, rows) in by_capture(fixture("suricata", ev)) {
            t.captures += 1;
            for (i, f) in rows.iter().enumerate() {
                n += 1;
                t.rows += 1;
                let at = format!("filter#{i}");
                let ours = suricata_count(ev, f, &a).to_string();
                t.field(ev, &cap, &at, "count", ours, &f["count"]);
            }
        }
        per_type.insert(ev, n);
    }
    eprintln!("suricata filters per event type: {per_type:?}");
    t.check("suricata", "suricata", "suricata");
    eprintln!(
        "suricata: {} (capture, event type) pairs, {} filters, {} agree",
        t.captures, t.rows, t.agree
    );
    assert!(
        t.rows >= 39 && per_type.values().all(|&n| n >= 7),
        "too little compared"
    );
}
