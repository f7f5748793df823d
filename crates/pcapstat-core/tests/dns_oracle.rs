//! DNS records against tshark (`testdata/expected/dns/<name>.tsv`, made by
//! `scripts/gen-httpdns-fixtures.py`) on the lab captures and the shared captures with DNS.
//!
//! Fed: UDP datagrams and TCP connections with port 53 (lab: also 5353 and 5354, the lab's
//! silent and closed DNS ports), and ICMP port-unreachable errors. Each tshark query must be a
//! record with the same frame, id, name and type; each tshark response with a `dns.time` must
//! have answered a record (the earliest query it answered) with the same id, rcode, answer count and latency (= `dns.time`, to
//! the nanosecond the capture carries). Every difference must be listed in
//! `testdata/expected/dns/KNOWN_DIFFERENCES.tsv` with its reason.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use pcapstat_core::fuzzing::{
    ConnMeta, Decoder, Direction, DnsConfig, DnsTcpMessage, DnsTcpParser, DnsTracker, Endpoint,
    SinkFactory, StreamSink, TcpTracker, Transport,
};
use pcapstat_core::{Capture, ConnectionRecord, DecodeLimits, DnsRecord, TcpConfig};

mod common;

#[derive(Debug)]
struct Sink {
    meta: ConnMeta,
    parser: DnsTcpParser,
    messages: Vec<DnsTcpMessage>,
}

impl StreamSink for Sink {
    fn on_data(&mut self, ts: i64, dir: Direction, bytes: &[u8]) {
        self.parser.on_data(ts, dir, bytes);
        self.messages.extend(self.parser.take_messages());
    }
    fn on_gap(&mut self, ts: i64, dir: Direction, len: u64) {
        self.parser.on_gap(ts, dir, len);
    }
    fn on_close(&mut self, ts: i64, dir: Direction) {
        self.parser.on_close(ts, dir);
    }
}

#[derive(Debug)]
struct Sinks {
    ports: &'static [u16],
    out: Vec<(ConnMeta, Vec<DnsTcpMessage>)>,
}

impl SinkFactory for Sinks {
    type Sink = Sink;
    fn open(&mut self, conn: &ConnMeta) -> Sink {
        Sink {
            meta: *conn,
            parser: DnsTcpParser::new(),
            messages: Vec::new(),
        }
    }
    fn close(&mut self, sink: Sink, _record: &mut ConnectionRecord) {
        if self.ports.contains(&sink.meta.server.port) {
            self.out.push((sink.meta, sink.messages));
        }
    }
}

fn run(path: &Path, ports: &'static [u16]) -> Vec<DnsRecord> {
    let mut capture = Capture::open(path).unwrap();
    let mut decoder = Decoder::new(DecodeLimits::default());
    let mut tcp = TcpTracker::with_sinks(
        TcpConfig::default(),
        Sinks {
            ports,
            out: Vec::new(),
        },
    );
    let mut dns = DnsTracker::new(DnsConfig::default());
    // The frame that delivered a TCP segment: the stream sink only gets its time.
    let mut tcp_frames: HashMap<(i64, u16, u16), u64> = HashMap::new();
    let mut end = i64::MIN;
    while let Ok(Some(frame)) = capture.next_frame() {
        end = end.max(frame.ts_ns);
        let d = decoder.decode(&frame);
        if let Some(icmp) = d.icmp_error {
            if icmp.is_port_unreachable() && icmp.quoted_protocol == Some(17) {
                if let (Some(ip), Some(sp), Some(dp)) =
                    (icmp.quoted_ip, icmp.quoted_src_port, icmp.quoted_dst_port)
                {
                    let src = Endpoint {
                        ip: ip.src,
                        port: sp,
                    };
                    let dst = Endpoint {
                        ip: ip.dst,
                        port: dp,
                    };
                    dns.on_icmp_unreachable(icmp.ts_ns, icmp.frame, src, dst);
                }
            }
        }
        match d.transport {
            Some(Transport::Udp(u))
                if ports.contains(&u.src_port) || ports.contains(&u.dst_port) =>
            {
                let src = Endpoint {
                    ip: u.ip.src,
                    port: u.src_port,
                };
                let dst = Endpoint {
                    ip: u.ip.dst,
                    port: u.dst_port,
                };
                dns.on_udp(u.ts_ns, u.frame, src, dst, u.payload);
            }
            Some(Transport::Tcp(seg)) => {
                if !seg.payload.is_empty() {
                    tcp_frames
                        .entry((seg.ts_ns, seg.src_port, seg.dst_port))
                        .or_insert(seg.frame);
                }
                tcp.on_segment(&seg);
            }
            _ => {}
        }
    }
    for (meta, msgs) in tcp.finish(end).factory.out {
        for m in msgs {
            let (sp, dp) = match m.dir {
                Direction::ClientToServer => (meta.client.port, meta.server.port),
                Direction::ServerToClient => (meta.server.port, meta.client.port),
            };
            let frame = tcp_frames
                .get(&(m.ts_ns, sp, dp))
                .copied()
                .unwrap_or(u64::MAX);
            dns.on_tcp_message(m.ts_ns, frame, meta.client, meta.server, m.dir, &m.bytes);
        }
    }
    dns.finish(end).0
}

/// "1795314466.084600000" → ns.
fn ns(s: &str) -> i64 {
    let (a, b) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{b:0<9}");
    a.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
}

#[test]
fn dns_records_match_tshark() {
    need_shared!();
    let dir = common::testdata().join("expected/dns");
    let mut diffs = BTreeSet::new();
    let (mut files, mut queries, mut answered) = (0, 0, 0);
    for fixture in common::files_under(&dir) {
        let name = fixture.file_stem().unwrap().to_string_lossy().to_string();
        if !fixture.to_string_lossy().ends_with(".tsv") || name == "KNOWN_DIFFERENCES" {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&fixture).unwrap();
        let source = text
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("# source: ");
        let ports: &'static [u16] = if source.starts_with("lab/") {
            &[53, 5353, 5354]
        } else {
            &[53]
        };
        let ours = run(&common::shared().join(source), ports);
        let mut seen = vec![false; ours.len()];
        for row in common::tsv(&fixture) {
            let sp: u16 = row["src_port"].parse().unwrap_or(0);
            let dp: u16 = row["dst_port"].parse().unwrap_or(0);
            if !(ports.contains(&sp) || ports.contains(&dp)) {
                continue;
            }
            let frame: u64 = row["frame"].parse::<u64>().unwrap() - 1;
            let at = format!("{name}\tframe {}", frame + 1);
            let qname = if row["qname"] == "<Root>" {
                "."
            } else {
                row["qname"].as_str()
            };
            if row["response"] == "0" {
                queries += 1;
                let Some(k) = ours.iter().position(|r| r.query_frame == frame) else {
                    diffs.insert(format!("{at}\tonly_tshark\t\tquery {} {qname}", row["id"]));
                    continue;
                };
                seen[k] = true;
                let r = &ours[k];
                for (f, a, b) in [
                    ("id", r.id.to_string(), row["id"].clone()),
                    ("qname", r.qname.clone(), qname.to_string()),
                    ("qtype", r.qtype.0.to_string(), row["qtype"].clone()),
                ] {
                    if a != b {
                        diffs.insert(format!("{at}\t{f}\t{a}\t{b}"));
                    }
                }
            } else if !row["dns_time"].is_empty() {
                answered += 1;
                let ts = ns(&row["time"]);
                let id: u16 = row["id"].parse().unwrap();
                let Some(r) = ours
                    .iter()
                    .filter(|r| r.response_ts == Some(ts) && r.id == id && r.client_port == dp)
                    .min_by_key(|r| r.query_ts)
                else {
                    diffs.insert(format!("{at}\tunmatched_response\t\t{id} {qname}"));
                    continue;
                };
                for (f, a, b) in [
                    (
                        "rcode",
                        r.rcode.map(|x| x.0.to_string()).unwrap_or_default(),
                        row["rcode"].clone(),
                    ),
                    (
                        "answers",
                        r.answers.map(|x| x.to_string()).unwrap_or_default(),
                        row["answers"].clone(),
                    ),
                    (
                        "latency_ns",
                        r.latency_ns.map(|x| x.to_string()).unwrap_or_default(),
                        ns(&row["dns_time"]).to_string(),
                    ),
                ] {
                    if a != b {
                        diffs.insert(format!("{at}\t{f}\t{a}\t{b}"));
                    }
                }
            }
        }
        for (k, r) in ours.iter().enumerate() {
            if !seen[k] {
                diffs.insert(format!(
                    "{name}\tframe {}\tonly_ours\tquery {} {}\t",
                    r.query_frame.wrapping_add(1),
                    r.id,
                    r.qname
                ));
            }
        }
    }
    eprintln!(
        "{files} captures, {queries} tshark queries, {answered} tshark responses with dns.time, {} differences",
        diffs.len()
    );
    common::check_known_differences(
        &dir.join("KNOWN_DIFFERENCES.tsv"),
        5,
        |_| true,
        &diffs,
        "capture, frame, field, ours, tshark",
    );
    assert!(
        files >= 25 && queries >= 250,
        "{files} files, {queries} queries"
    );
}

/// The lab's DNS scenario end to end: retries, unanswered queries, ICMP, TC then TCP.
///
/// Retries against what the clients did (`gt_dns.jsonl`: each dig/kdig command, its
/// arguments and its "communications error" lines): a command that failed made one attempt per
/// error, one that succeeded one more; each attempt after the first is a retry. In the lab only
/// `dig -p 5353 +tries=2 +timeout=1` (id 1013) retried, once, on a new socket with the same
/// id; the other commands asking www.lab.test A (other ids, other ports) are other processes.
#[test]
fn lab_e_dns_outcomes() {
    need_shared!();
    let lab = common::shared().join("lab/e_dns");
    let recs = run(&lab.join("capture.pcap"), &[53, 5353, 5354]);
    let mut client_retries = HashMap::new();
    let gt = std::fs::read_to_string(lab.join("gt_dns.jsonl")).unwrap();
    for line in gt.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let errors = v["comm_errors"].as_array().map_or(0, Vec::len);
        let attempts = if v["exit"] == 0 { errors + 1 } else { errors };
        if attempts > 1 {
            let id = v["qid_requested"].as_u64().unwrap();
            client_retries.insert(u16::try_from(id).unwrap(), attempts - 1);
        }
    }
    assert_eq!(client_retries, HashMap::from([(1013, 1)]));
    let mut our_retries = HashMap::new();
    for r in recs.iter().filter(|r| r.retry_of.is_some()) {
        *our_retries.entry(r.id).or_insert(0) += 1;
    }
    assert_eq!(our_retries, client_retries, "retries per query id");

    let by_id = |id: u16| recs.iter().filter(move |r| r.id == id).collect::<Vec<_>>();
    let silent = by_id(1013);
    assert_eq!(silent.len(), 2);
    assert!(silent.iter().all(|r| r.unanswered()));
    assert_eq!(silent[1].retry_of, Some(silent[0].query_frame));
    assert_eq!(
        silent[0].waited_ns,
        Some(silent[1].query_ts - silent[0].query_ts)
    );
    // The last try waited until the end of the capture (dig gave up after 1 s; the capture
    // shows no more of it): not until the next, unrelated, query (id 1014).
    let end = recs.iter().filter_map(|r| r.response_ts).max().unwrap();
    assert_eq!(silent[1].waited_ns, Some(end - silent[1].query_ts));
    let icmp = by_id(1014);
    assert!(icmp[0].icmp_unreachable && !icmp[0].answered());
    assert_eq!(icmp[0].icmp_error_ns, Some(200_000));
    assert_eq!(icmp[0].latency_ns, None);
    let tc = by_id(1012);
    assert_eq!(tc.len(), 2);
    assert_eq!(tc[0].truncated, Some(true));
    assert_eq!(tc[1].transport, pcapstat_core::DnsTransport::Tcp);
    assert_eq!(tc[1].latency_ns, Some(641_000));
    assert_eq!(tc[1].retry_of, None);
}
