//! Scripted segment sequences built with a tiny test-only builder.

use std::net::{IpAddr, Ipv4Addr};

use crate::packet::{IpPair, TcpFlags, TcpSegment};
use crate::record::{ConnectionRecord, Failure, Outcome, Side};
use crate::tcp::{ConnMeta, Direction, SinkFactory, StreamSink, TcpConfig, TcpStats, TcpTracker};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data(Direction, Vec<u8>),
    Gap(Direction, u64),
    Close(Direction),
}

/// One raw sink event: kind (`d`ata, `g`ap, `c`lose), direction, capture time.
type Timed = (char, Direction, i64);

/// Events (merged per direction) and the raw events with their times.
#[derive(Debug, Default)]
struct Rec(Vec<Ev>, Vec<Timed>);

impl StreamSink for Rec {
    fn on_data(&mut self, ts: i64, dir: Direction, bytes: &[u8]) {
        self.1.push(('d', dir, ts));
        // merge adjacent data of the same direction to make assertions independent of chunking
        if let Some(Ev::Data(d, v)) = self.0.last_mut() {
            if *d == dir {
                v.extend_from_slice(bytes);
                return;
            }
        }
        self.0.push(Ev::Data(dir, bytes.to_vec()));
    }
    fn on_gap(&mut self, ts: i64, dir: Direction, len: u64) {
        self.1.push(('g', dir, ts));
        self.0.push(Ev::Gap(dir, len));
    }
    fn on_close(&mut self, ts: i64, dir: Direction) {
        self.1.push(('c', dir, ts));
        self.0.push(Ev::Close(dir));
    }
}

#[derive(Debug, Default)]
struct Fac(Vec<(ConnectionRecord, Vec<Ev>)>, Vec<(u64, Vec<Timed>)>);

impl SinkFactory for Fac {
    type Sink = Rec;
    fn open(&mut self, _: &ConnMeta) -> Rec {
        Rec::default()
    }
    fn close(&mut self, sink: Rec, record: &mut ConnectionRecord) {
        self.1.push((record.conn_id, sink.1));
        self.0.push((record.clone(), sink.0));
    }
}

/// Builder: `c`/`s` send a segment from the client/server at `us` microseconds.
struct Script<F: SinkFactory = Fac> {
    tr: TcpTracker<F>,
    frame: u64,
    cport: u16,
    sport: u16,
    win: u16,
    opts: Vec<u8>,
    wire: Option<u32>,
    last_ts: i64,
}

const CIP: [u8; 4] = [10, 0, 0, 1];
const SIP: [u8; 4] = [10, 0, 0, 2];

impl Script {
    fn new() -> Self {
        Self::with(TcpConfig::default())
    }
    fn with(cfg: TcpConfig) -> Self {
        Script::with_factory(cfg, Fac::default())
    }
}

impl<F: SinkFactory> Script<F> {
    fn with_factory(cfg: TcpConfig, factory: F) -> Self {
        Script {
            tr: TcpTracker::with_sinks(cfg, factory),
            frame: 0,
            cport: 40000,
            sport: 80,
            win: 1000,
            opts: Vec::new(),
            wire: None,
            last_ts: 0,
        }
    }
    /// Window for the following segments.
    fn win(&mut self, w: u16) -> &mut Self {
        self.win = w;
        self
    }
    /// Options for the next segment only.
    fn opts(&mut self, o: &[u8]) -> &mut Self {
        self.opts = o.to_vec();
        self
    }
    /// On-wire payload length for the next segment only (snap-length cut).
    fn wire(&mut self, n: u32) -> &mut Self {
        self.wire = Some(n);
        self
    }
    fn seg(
        &mut self,
        client: bool,
        us: i64,
        fl: &str,
        seq: u32,
        ack: u32,
        data: &[u8],
    ) -> &mut Self {
        let mut f = 0;
        for ch in fl.chars() {
            f |= match ch {
                'S' => TcpFlags::SYN,
                'A' => TcpFlags::ACK,
                'F' => TcpFlags::FIN,
                'R' => TcpFlags::RST,
                'P' => TcpFlags::PSH,
                _ => panic!("flag {ch}"),
            };
        }
        let (c, s) = (
            IpAddr::V4(Ipv4Addr::from(CIP)),
            IpAddr::V4(Ipv4Addr::from(SIP)),
        );
        let (ip, sp, dp) = if client {
            (IpPair { src: c, dst: s }, self.cport, self.sport)
        } else {
            (IpPair { src: s, dst: c }, self.sport, self.cport)
        };
        let opts = std::mem::take(&mut self.opts);
        let wire = self.wire.take().unwrap_or(data.len() as u32);
        let seg = TcpSegment {
            ts_ns: 1_700_000_000_000_000_000 + us * 1000,
            frame: self.frame,
            ip,
            src_port: sp,
            dst_port: dp,
            seq,
            ack,
            flags: TcpFlags(f),
            window: self.win,
            options: &opts,
            payload: data,
            payload_len: wire,
        };
        self.last_ts = seg.ts_ns;
        self.frame += 1;
        self.tr.on_segment(&seg);
        self
    }
    fn c(&mut self, us: i64, fl: &str, seq: u32, ack: u32, data: &[u8]) -> &mut Self {
        self.seg(true, us, fl, seq, ack, data)
    }
    fn s(&mut self, us: i64, fl: &str, seq: u32, ack: u32, data: &[u8]) -> &mut Self {
        self.seg(false, us, fl, seq, ack, data)
    }
    /// Standard handshake: client ISN 1000, server ISN 5000, SYN/ACK after 100 µs, ACK after 50.
    fn handshake(&mut self) -> &mut Self {
        self.c(0, "S", 1000, 0, b"")
            .s(100, "SA", 5000, 1001, b"")
            .c(150, "A", 1001, 5001, b"")
    }
    /// Twenty connections (client ports 40000–40019) through their handshakes, then forty
    /// rounds of one client segment each, `(seq, payload)` from `segment(round)`; `after` is
    /// called after every segment with the round and the connection.
    fn twenty_clients(
        &mut self,
        segment: impl Fn(u32) -> (u32, Vec<u8>),
        mut after: impl FnMut(&Self, u32, u16),
    ) {
        for i in 0..20u16 {
            self.cport = 40000 + i;
            self.handshake();
        }
        for k in 0..40u32 {
            for i in 0..20u16 {
                self.cport = 40000 + i;
                let (seq, data) = segment(k);
                let us = 10_000 + i64::from(k) * 100 + i64::from(i);
                self.c(us, "PA", seq, 5001, &data);
                after(self, k, i);
            }
        }
    }
}

impl Script {
    fn finish(self) -> (Vec<(ConnectionRecord, Vec<Ev>)>, TcpStats) {
        let end = self.last_ts;
        let out = self.tr.finish(end);
        let mut v = out.factory.0;
        v.sort_by_key(|(r, _)| r.conn_id);
        assert_eq!(
            v.iter().map(|(r, _)| r.conn_id).collect::<Vec<_>>(),
            out.records.iter().map(|r| r.conn_id).collect::<Vec<_>>()
        );
        (v, out.stats)
    }
    /// The one connection's raw events with their times, in µs after the script's origin.
    /// (See [`kinds_and_times`].)
    fn one_timed(self) -> Vec<Timed> {
        let end = self.last_ts;
        let out = self.tr.finish(end);
        assert_eq!(out.factory.1.len(), 1);
        let origin = 1_700_000_000_000_000_000;
        out.factory.1[0]
            .1
            .iter()
            .map(|&(k, d, t)| (k, d, (t - origin) / 1000))
            .collect()
    }
    fn one(self) -> (ConnectionRecord, Vec<Ev>) {
        let (mut v, _) = self.finish();
        assert_eq!(v.len(), 1, "{v:#?}");
        v.remove(0)
    }
}

/// (kind, µs) of the events of one direction.
fn kinds_and_times(ev: &[Timed], dir: Direction) -> Vec<(char, i64)> {
    ev.iter()
        .filter(|e| e.1 == dir)
        .map(|e| (e.0, e.2))
        .collect()
}

fn data(dir: Direction, b: &[u8]) -> Ev {
    Ev::Data(dir, b.to_vec())
}

#[test]
fn handshake_request_response_close() {
    let mut t = Script::new();
    t.handshake()
        .c(200, "PA", 1001, 5001, b"GET /")
        .s(1200, "A", 5001, 1006, b"")
        .s(1300, "PA", 5001, 1006, b"HTTP/1.1 200")
        .c(1350, "A", 1006, 5013, b"")
        .c(2000, "FA", 1006, 5013, b"")
        .s(2100, "FA", 5013, 1007, b"")
        .c(2150, "A", 1007, 5014, b"");
    let (r, ev) = t.one();
    assert_eq!(r.outcome, Outcome::Closed);
    assert_eq!(r.conn_id, 0);
    assert_eq!((r.client_port, r.server_port, r.ip_version), (40000, 80, 4));
    assert!(r.handshake_seen && !r.client_guessed);
    assert_eq!(r.syn_retries, 0);
    assert_eq!(r.connect_ns, Some(150_000));
    assert_eq!(r.syn_to_synack_ns, Some(100_000));
    assert_eq!(r.synack_to_ack_ns, Some(50_000));
    assert_eq!(r.syn_to_ack_ns, Some(150_000));
    assert_eq!(r.reset_by, None);
    assert_eq!((r.c2s.packets, r.s2c.packets), (6, 4));
    assert_eq!((r.c2s.payload_bytes, r.s2c.payload_bytes), (5, 12));
    // client data acked by the server 1000 µs later; server data acked 50 µs later
    assert_eq!(r.c2s.rtt_samples, 1);
    assert_eq!(r.c2s.rtt_median_ns, Some(1_000_000));
    assert_eq!(r.s2c.rtt_min_ns, Some(50_000));
    assert_eq!(r.c2s.first_payload_ts, Some(r.start_ts + 200_000));
    assert_eq!(r.s2c.last_payload_ts, Some(r.start_ts + 1_300_000));
    assert_eq!(r.end_ts - r.start_ts, 2_150_000);
    let o = r.c2s.handshake_options.unwrap();
    assert_eq!(o.mss, None);
    assert_eq!(r.c2s.retransmissions + r.s2c.retransmissions, 0);
    assert_eq!(
        ev,
        vec![
            data(C2S, b"GET /"),
            data(S2C, b"HTTP/1.1 200"),
            Ev::Close(C2S),
            Ev::Close(S2C)
        ]
    );
}

#[test]
fn retransmission_is_counted_once_and_gives_no_rtt_sample() {
    let mut t = Script::new();
    t.handshake()
        .c(1_000, "PA", 1001, 5001, b"hello")
        .c(201_000, "PA", 1001, 5001, b"hello") // RTO
        .s(201_500, "A", 5001, 1006, b"");
    let (r, ev) = t.one();
    assert_eq!(r.c2s.retransmissions, 1);
    assert_eq!(r.c2s.retransmitted_bytes, 5);
    assert_eq!(r.c2s.fast_retransmissions, 0);
    assert_eq!(r.c2s.payload_bytes, 5);
    assert_eq!(r.c2s.rtt_samples, 0, "Karn: ambiguous ACK");
    assert_eq!(r.outcome, Outcome::Open);
    assert_eq!(ev[0], data(C2S, b"hello"));
}

/// Server data, segment 2 lost before the capture point; the client's 3 dup ACKs, then the
/// fast retransmission.
fn fast_retransmit_script() -> Script {
    let mut t = Script::new();
    t.handshake().c(200, "PA", 1001, 5001, b"GET");
    let seg = [b'a'; 10];
    t.s(1000, "A", 5001, 1004, &seg) // 5001..5011
        .c(1050, "A", 1004, 5011, b"")
        // 5011..5021 lost
        .s(1100, "A", 5021, 1004, &[b'c'; 10])
        .c(1150, "A", 1004, 5011, b"") // dup 1
        .s(1200, "A", 5031, 1004, &[b'd'; 10])
        .c(1250, "A", 1004, 5011, b"") // dup 2
        .s(1300, "A", 5041, 1004, &[b'e'; 10])
        .c(1350, "A", 1004, 5011, b"") // dup 3
        .s(5000, "A", 5011, 1004, &[b'b'; 10]) // fast retransmission
        .c(5050, "A", 1004, 5051, b"");
    t
}

#[test]
fn fast_retransmission_after_three_dup_acks() {
    let (r, ev) = fast_retransmit_script().one();
    assert_eq!(r.c2s.dup_acks, 3);
    assert_eq!(r.s2c.lost_segments, 1);
    assert_eq!(r.s2c.fast_retransmissions, 1);
    assert_eq!(
        r.s2c.retransmissions, 1,
        "fast retransmissions are retransmissions"
    );
    assert_eq!(r.s2c.out_of_order, 0);
    assert_eq!(r.s2c.payload_bytes, 50);
    assert_eq!(r.s2c.missed_bytes, 0);
    let mut expect = Vec::new();
    for ch in b"abcde" {
        expect.extend_from_slice(&[*ch; 10]);
    }
    assert_eq!(ev[1], data(S2C, &expect));
}

#[test]
fn spurious_retransmission_of_acked_data() {
    let mut t = Script::new();
    t.handshake()
        .c(1_000, "PA", 1001, 5001, b"hello")
        .s(2_000, "A", 5001, 1006, b"")
        .c(300_000, "PA", 1001, 5001, b"hello");
    let (r, _) = t.one();
    assert_eq!(r.c2s.spurious_retransmissions, 1);
    assert_eq!(r.c2s.retransmissions, 1);
    assert_eq!(r.c2s.payload_bytes, 5);
    assert_eq!(r.c2s.rtt_samples, 1);
    assert_eq!(r.c2s.rtt_max_ns, Some(1_000_000));
}

#[test]
fn overlap_with_different_bytes_keeps_first_copy() {
    let mut t = Script::new();
    t.handshake()
        .c(1_000, "PA", 1011, 5001, b"KLMNOPQRST") // offsets 10..20 first (hole 0..10)
        .c(1_100, "PA", 1006, 5001, b"fghijXXXXX") // 5..15: overlap 10..15 differs
        .c(1_200, "PA", 1001, 5001, b"abcde");
    let (r, ev) = t.one();
    assert_eq!(r.c2s.inconsistent_overlaps, 1);
    assert_eq!(r.c2s.payload_bytes, 20);
    assert_eq!(ev[0], data(C2S, b"abcdefghijKLMNOPQRST"));
}

#[test]
fn reordering_is_out_of_order_and_reassembled() {
    let mut t = Script::new();
    t.handshake()
        .s(1_000, "PA", 5006, 1001, b"world") // arrives first
        .s(1_010, "PA", 5001, 1001, b"hello") // 10 µs later: within the 150 µs iRTT
        .c(1_050, "A", 1001, 5011, b"");
    let (r, ev) = t.one();
    assert_eq!(r.s2c.out_of_order, 1);
    assert_eq!(r.s2c.retransmissions, 0);
    assert_eq!(r.s2c.lost_segments, 1);
    assert_eq!(ev[0], data(S2C, b"helloworld"));
    // a late copy beyond the iRTT is a retransmission instead
    let mut t = Script::new();
    t.handshake()
        .s(1_000, "PA", 5006, 1001, b"world")
        .s(2_000, "PA", 5001, 1001, b"hello");
    let (r, _) = t.one();
    assert_eq!((r.s2c.out_of_order, r.s2c.retransmissions), (0, 1));
}

#[test]
fn sequence_numbers_wrap_at_2_32() {
    let isn = u32::MAX - 2; // first data byte at MAX-1
    let mut t = Script::new();
    t.c(0, "S", isn, 0, b"")
        .s(100, "SA", 7, isn.wrapping_add(1), b"")
        .c(150, "A", isn.wrapping_add(1), 8, b"")
        .c(200, "PA", isn.wrapping_add(1), 8, b"0123456789")
        .s(300, "A", 8, isn.wrapping_add(11), b"")
        .c(400, "PA", isn.wrapping_add(11), 8, b"abc")
        .s(500, "A", 8, isn.wrapping_add(14), b"")
        .c(600, "FA", isn.wrapping_add(14), 8, b"")
        .s(700, "FA", 8, isn.wrapping_add(15), b"")
        .c(800, "A", isn.wrapping_add(15), 9, b"");
    let (r, ev) = t.one();
    assert_eq!(r.outcome, Outcome::Closed);
    assert_eq!(r.c2s.payload_bytes, 13);
    assert_eq!(
        r.c2s.retransmissions + r.c2s.out_of_order + r.c2s.lost_segments,
        0
    );
    assert_eq!(r.c2s.rtt_samples, 2);
    assert_eq!(ev[0], data(C2S, b"0123456789abc"));
    assert_eq!(r.c2s.missed_bytes, 0);
}

#[test]
fn rst_answering_syn_is_refused() {
    let mut t = Script::new();
    t.sport = 81;
    t.c(0, "S", 1000, 0, b"").s(88, "RA", 0, 1001, b"");
    let (r, ev) = t.one();
    assert_eq!(r.outcome, Outcome::Refused);
    assert_eq!(r.reset_by, Some(Side::Server));
    assert_eq!(r.connect_ns, None);
    assert_eq!(r.syn_to_synack_ns, None);
    assert_eq!(r.syn_to_ack_ns, None);
    assert!(r.handshake_seen);
    assert_eq!(ev, vec![Ev::Close(C2S), Ev::Close(S2C)]);
}

#[test]
fn syn_retries_then_timeout() {
    let mut t = Script::new();
    t.c(0, "S", 1000, 0, b"")
        .c(1_000_000, "S", 1000, 0, b"")
        .c(3_000_000, "S", 1000, 0, b"");
    let (r, _) = t.one();
    assert_eq!(r.outcome, Outcome::Timeout);
    assert_eq!(r.syn_retries, 2);
    assert_eq!(r.c2s.retransmissions, 2, "tshark flags SYN retransmissions");
    assert_eq!(r.connect_ns, None);
    assert_eq!(r.s2c.packets, 0);
    assert_eq!(r.s2c.handshake_options, None);
}

#[test]
fn syn_retries_then_success() {
    let mut t = Script::new();
    t.c(0, "S", 1000, 0, b"")
        .c(1_000_000, "S", 1000, 0, b"")
        .s(1_000_400, "SA", 5000, 1001, b"")
        .c(1_000_450, "A", 1001, 5001, b"");
    let (r, _) = t.one();
    assert_eq!(r.outcome, Outcome::Open);
    assert_eq!(r.syn_retries, 1);
    assert_eq!(r.connect_ns, Some(1_000_450_000), "first SYN → ACK");
    assert_eq!(
        r.syn_to_synack_ns,
        Some(400_000),
        "from the answered (last) SYN"
    );
    assert_eq!(r.synack_to_ack_ns, Some(50_000));
    assert_eq!(
        r.syn_to_ack_ns,
        Some(450_000),
        "tshark iRTT uses the last SYN"
    );
}

#[test]
fn port_reuse_after_fin_rst_and_idle() {
    let cfg = TcpConfig {
        idle_timeout_ns: 60_000_000_000,
        ..TcpConfig::default()
    };
    let mut t = Script::with(cfg);
    t.handshake()
        .c(1_000, "FA", 1001, 5001, b"")
        .s(1_100, "FA", 5001, 1002, b"")
        .c(1_150, "A", 1002, 5002, b"");
    // new SYN after FIN both ways
    t.c(2_000, "S", 9000, 0, b"")
        .s(2_100, "SA", 3000, 9001, b"")
        .c(2_150, "A", 9001, 3001, b"")
        .c(3_000, "RA", 9001, 3001, b"");
    // new SYN after RST
    t.c(4_000, "S", 20000, 0, b"")
        .s(4_100, "SA", 30000, 20001, b"")
        .c(4_150, "A", 20001, 30001, b"")
        .c(5_000, "PA", 20001, 30001, b"x");
    // a segment after 61 s of silence: new (mid-stream) connection
    t.c(61_000_000, "PA", 20002, 30001, b"y");
    let (v, stats) = t.finish();
    let outcomes: Vec<_> = v.iter().map(|(r, _)| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Closed,
            Outcome::Reset,
            Outcome::Established,
            Outcome::Midstream
        ]
    );
    assert_eq!(v[1].0.reset_by, Some(Side::Client));
    assert_eq!(
        v.iter().map(|(r, _)| r.conn_id).collect::<Vec<_>>(),
        vec![0, 6, 10, 14]
    );
    assert_eq!(stats.connections, 4);
    assert_eq!(stats.port_reuses, 2);
    assert_eq!(stats.idle_timeouts, 1);
    assert_eq!(stats.midstream_connections, 1);
    assert_eq!(
        v[3].0.client_port, 40000,
        "guess: ephemeral port is the client"
    );
}

#[test]
fn midstream_pickup_guesses_client_from_ports() {
    let mut t = Script::new();
    t.cport = 51000;
    t.sport = 443;
    t.s(0, "PA", 7000, 3000, b"server data")
        .c(50, "A", 3000, 7011, b"")
        .c(100, "PA", 3000, 7011, b"req");
    let (r, ev) = t.one();
    assert_eq!(r.outcome, Outcome::Midstream);
    assert!(!r.handshake_seen && r.client_guessed);
    assert_eq!((r.client_port, r.server_port), (51000, 443));
    assert_eq!((r.s2c.payload_bytes, r.c2s.payload_bytes), (11, 3));
    assert_eq!(r.connect_ns, None);
    assert_eq!(r.s2c.handshake_options, None);
    assert_eq!(ev[0], data(S2C, b"server data"));
    // both ports unprivileged: the lower is the server
    let mut t = Script::new();
    t.cport = 50000;
    t.sport = 8080;
    t.c(0, "PA", 1, 1, b"x");
    let (r, _) = t.one();
    assert_eq!((r.client_port, r.server_port), (50000, 8080));
}

#[test]
fn capture_gap_becomes_gap_event_when_acked() {
    let mut t = Script::new();
    t.handshake()
        .s(1_000, "PA", 5001, 1001, b"0123456789")
        // 5011..5021 never captured
        .s(1_100, "PA", 5021, 1001, b"ABCDEFGHIJ")
        .c(1_150, "A", 1001, 5031, b"");
    let (r, ev) = t.one();
    assert_eq!(r.s2c.missed_bytes, 10);
    assert_eq!(r.s2c.payload_bytes, 20);
    assert_eq!(r.s2c.lost_segments, 1);
    assert_eq!(r.c2s.ack_lost_segments, 1);
    assert_eq!(
        &ev[..3],
        &[
            data(S2C, b"0123456789"),
            Ev::Gap(S2C, 10),
            data(S2C, b"ABCDEFGHIJ")
        ]
    );
}

#[test]
fn hole_never_filled_is_flushed_as_gap_at_end() {
    let mut t = Script::new();
    t.handshake().s(1_000, "PA", 5011, 1001, b"late");
    let (r, ev) = t.one();
    assert_eq!(r.s2c.missed_bytes, 10);
    assert_eq!(
        ev,
        vec![
            Ev::Close(C2S),
            Ev::Gap(S2C, 10),
            data(S2C, b"late"),
            Ev::Close(S2C)
        ]
    );
}

#[test]
fn snap_length_cut_payload_is_data_then_gap() {
    let mut t = Script::new();
    t.handshake();
    t.wire(100).s(1_000, "PA", 5001, 1001, b"0123456789");
    t.s(1_100, "PA", 5101, 1001, b"next");
    let (r, ev) = t.one();
    assert_eq!(r.s2c.payload_bytes, 104);
    assert_eq!(r.s2c.missed_bytes, 90);
    assert_eq!(
        r.s2c.lost_segments, 0,
        "seq space is contiguous on the wire"
    );
    assert_eq!(
        &ev[..3],
        &[
            data(S2C, b"0123456789"),
            Ev::Gap(S2C, 90),
            data(S2C, b"next")
        ]
    );
}

#[test]
fn zero_window_is_counted() {
    let mut t = Script::new();
    t.handshake().s(1_000, "PA", 5001, 1001, b"abc");
    t.win(0).c(1_050, "A", 1001, 5004, b"");
    t.win(1000).c(9_000, "A", 1001, 5004, b"");
    let (r, _) = t.one();
    assert_eq!(r.c2s.zero_windows, 1);
    assert_eq!(r.c2s.window_updates, 1);
    assert_eq!(r.c2s.dup_acks, 0);
}

#[test]
fn keep_alive_is_not_a_retransmission() {
    let mut t = Script::new();
    t.handshake()
        .c(1_000, "PA", 1001, 5001, b"abc")
        .s(1_100, "A", 5001, 1004, b"")
        .c(60_000_000, "A", 1003, 5001, b"") // seq = next - 1, no data
        .s(60_000_100, "A", 5001, 1004, b"")
        .c(120_000_000, "A", 1003, 5001, b"x"); // one garbage byte
    let (r, ev) = t.one();
    assert_eq!(r.c2s.keep_alives, 2);
    assert_eq!(r.c2s.retransmissions, 0);
    assert_eq!(r.c2s.spurious_retransmissions, 0);
    assert_eq!(r.c2s.payload_bytes, 3);
    assert_eq!(ev[0], data(C2S, b"abc"));
}

#[test]
fn tfo_data_on_syn_is_delivered() {
    let mut t = Script::new();
    t.c(0, "S", 1000, 0, b"hello")
        .s(100, "SA", 5000, 1006, b"")
        .c(150, "A", 1006, 5001, b"");
    let (r, ev) = t.one();
    assert_eq!(r.c2s.payload_bytes, 5);
    assert_eq!(r.c2s.first_payload_ts, Some(r.start_ts));
    assert_eq!(r.c2s.retransmissions, 0);
    assert_eq!(r.connect_ns, Some(150_000));
    assert_eq!(ev[0], data(C2S, b"hello"));
}

#[test]
fn window_scaling_only_when_both_sides_announce_it() {
    // NOP, WS 7
    let ws7 = [1, 3, 3, 7];
    let run = |server_ws: bool| {
        let mut t = Script::new();
        t.opts(&ws7).c(0, "S", 1000, 0, b"");
        if server_ws {
            t.opts(&[1, 3, 3, 2]);
        }
        t.s(100, "SA", 5000, 1001, b"");
        // client window 10 << 7 = 1280 bytes
        t.win(10).c(150, "A", 1001, 5001, b"");
        t.win(1000).s(200, "A", 5001, 1001, &[0u8; 1280]);
        t.one().0
    };
    let r = run(true);
    assert_eq!(r.s2c.window_full, 1);
    assert_eq!(r.c2s.handshake_options.unwrap().window_scale, Some(7));
    assert_eq!(r.s2c.handshake_options.unwrap().window_scale, Some(2));
    let r = run(false);
    assert_eq!(r.s2c.window_full, 0, "unscaled: window is 10 bytes");
}

#[test]
fn ooo_limit_gives_up_holes_and_is_counted() {
    // Room for one 5-byte chunk with its bookkeeping, not two.
    let cfg = TcpConfig {
        ooo_limit_bytes: crate::tcp::reassembly::DATA_CHUNK_COST + 8,
        ..TcpConfig::default()
    };
    let mut t = Script::with(cfg);
    t.handshake()
        .s(1_000, "PA", 5011, 1001, b"abcde")
        .s(1_100, "PA", 5021, 1001, b"fghij");
    let (v, stats) = t.finish();
    let (r, ev) = &v[0];
    assert_eq!(stats.ooo_limit_hits, 1);
    assert_eq!(r.s2c.missed_bytes, 15);
    assert_eq!(
        &ev[..4],
        &[
            Ev::Gap(S2C, 10),
            data(S2C, b"abcde"),
            Ev::Gap(S2C, 5),
            data(S2C, b"fghij")
        ]
    );
}

#[test]
fn flow_table_bound_evicts_least_recent() {
    let cfg = TcpConfig {
        max_connections: 2,
        ..TcpConfig::default()
    };
    let mut t = Script::with(cfg);
    for i in 0..3u16 {
        t.cport = 40000 + i;
        t.handshake();
    }
    let (v, stats) = t.finish();
    assert_eq!(stats.evictions, 1);
    assert_eq!(stats.connections, 3);
    assert_eq!(stats.max_concurrent, 2);
    assert_eq!(v[0].0.client_port, 40000);
    assert_eq!(v[0].0.outcome, Outcome::Established);
    assert_eq!(v[1].0.outcome, Outcome::Open);
}

#[test]
fn flow_table_bound_evicts_the_least_recently_active_one_at_a_time() {
    let cfg = TcpConfig {
        max_connections: 3,
        ..TcpConfig::default()
    };
    let mut t = Script::with(cfg);
    // Three answered connections at 0, 1 and 2 ms; the first one then sends data at 3 ms.
    for i in 0..3u16 {
        t.cport = 40000 + i;
        let us = i64::from(i) * 1000;
        t.c(us, "S", 1000, 0, b"")
            .s(us + 100, "SA", 5000, 1001, b"")
            .c(us + 150, "A", 1001, 5001, b"");
    }
    t.cport = 40000;
    t.c(3000, "PA", 1001, 5001, b"x");
    // A fourth and a fifth: the least recently active (40001, then 40002) go, not 40000.
    for i in 3..5u16 {
        t.cport = 40000 + i;
        let us = i64::from(i) * 1000 + 1000;
        t.c(us, "S", 1000, 0, b"")
            .s(us + 100, "SA", 5000, 1001, b"");
        assert_eq!(t.tr.table_kinds().0 + t.tr.table_kinds().1, 3);
    }
    let (v, stats) = t.finish();
    assert_eq!(stats.evictions, 2);
    assert_eq!(stats.max_concurrent, 3);
    let outcome = |port: u16| {
        v.iter()
            .find(|(r, _)| r.client_port == port)
            .map(|(r, _)| r.outcome)
    };
    assert_eq!(outcome(40001), Some(Outcome::Established));
    assert_eq!(outcome(40002), Some(Outcome::Established));
    assert_eq!(outcome(40000), Some(Outcome::Open));
    assert_eq!(outcome(40003), Some(Outcome::Open));
    assert_eq!(outcome(40004), Some(Outcome::Open));
}

#[test]
fn syn_only_connections_stay_inline_until_a_second_segment() {
    // 10 SYNs: all SYN-only. The answer to one makes it full; the records are those of a
    // tracker that built every connection at once (same outcome, options, counters).
    let mut t = Script::new();
    for i in 0..10u16 {
        t.cport = 30000 + i;
        t.opts(&[2, 4, 5, 180, 1, 3, 3, 7]);
        t.c(i64::from(i) * 10, "S", 1000 + u32::from(i), 0, b"");
    }
    assert_eq!(t.tr.table_kinds(), (10, 0));
    t.cport = 30003;
    t.s(200, "SA", 5000, 1004, b"");
    assert_eq!(t.tr.table_kinds(), (9, 1));
    // A retried SYN also needs the full state (it is counted as a retransmission).
    t.cport = 30005;
    t.opts(&[2, 4, 5, 180, 1, 3, 3, 7]);
    t.c(300, "S", 1005, 0, b"");
    assert_eq!(t.tr.table_kinds(), (8, 2));
    let (v, stats) = t.finish();
    assert_eq!(stats.connections, 10);
    assert_eq!(v.len(), 10);
    for (r, ev) in &v {
        assert_eq!(r.c2s.handshake_options.and_then(|o| o.mss), Some(1460));
        assert_eq!(
            r.c2s.handshake_options.and_then(|o| o.window_scale),
            Some(7)
        );
        assert!(r.handshake_seen);
        // Every sink was opened and closed (both directions).
        assert_eq!(ev, &vec![Ev::Close(C2S), Ev::Close(S2C)]);
        match r.client_port {
            30003 => assert_eq!(r.outcome, Outcome::Open),
            30005 => {
                assert_eq!(r.outcome, Outcome::Timeout);
                assert_eq!(
                    (r.c2s.packets, r.c2s.retransmissions, r.syn_retries),
                    (2, 1, 1)
                );
            }
            _ => {
                assert_eq!(r.outcome, Outcome::Timeout);
                assert_eq!(r.failure, Some(Failure::Timeout));
                assert_eq!((r.c2s.packets, r.s2c.packets), (1, 0));
            }
        }
    }
}

/// The state of a SYN flood does not grow with it: 10x the SYNs through a table bounded at 64
/// keeps at most 64 connections, all SYN-only (no heap), and finishes the least recently active
/// one per new SYN (evictions in SYN order, each a `timeout`). Work and state are counted, not
/// timed (the wall-clock ratio is `scripts/synflood-ratio.sh`).
#[test]
fn syn_flood_state_is_bounded_and_evicts_in_order() {
    for n in [1_000u32, 10_000] {
        let cfg = TcpConfig {
            max_connections: 64,
            ..TcpConfig::default()
        };
        let mut t = Script::with(cfg);
        for i in 0..n {
            t.cport = 1024 + (i % 60_000) as u16;
            t.c(i64::from(i), "S", i, 0, b"");
            let (syn_only, full) = t.tr.table_kinds();
            assert_eq!((syn_only, full), ((i + 1).min(64) as usize, 0));
        }
        let out = t.tr.finish(t.last_ts);
        assert_eq!(out.stats.evictions, u64::from(n - 64));
        assert_eq!(out.stats.max_concurrent, 64);
        assert_eq!(out.records.len(), n as usize);
        assert!(out.records.iter().all(|r| r.outcome == Outcome::Timeout));
        // The evicted ones closed first, oldest first; the 64 left at the end close in id order.
        let closed: Vec<u64> = out.factory.1.iter().map(|(id, _)| *id).collect();
        assert_eq!(closed, (0..u64::from(n)).collect::<Vec<_>>());
    }
}

#[test]
fn stats_merge_adds() {
    let mut a = TcpStats {
        segments: 3,
        max_concurrent: 5,
        ..TcpStats::default()
    };
    let b = TcpStats {
        segments: 4,
        evictions: 1,
        max_concurrent: 2,
        ..TcpStats::default()
    };
    a.merge(&b);
    assert_eq!((a.segments, a.evictions, a.max_concurrent), (7, 1, 5));
}

#[test]
fn syn_retried_after_rst_with_same_isn_is_one_refused_attempt() {
    // Windows retries a refused connect with the same ISN; tshark keeps it in one stream.
    let mut t = Script::new();
    t.c(0, "S", 1000, 0, b"")
        .s(50, "RA", 0, 1001, b"")
        .c(500_000, "S", 1000, 0, b"")
        .s(500_050, "RA", 0, 1001, b"")
        .c(1_000_000, "S", 1000, 0, b"")
        .s(1_000_050, "RA", 0, 1001, b"");
    let (v, stats) = t.finish();
    assert_eq!(v.len(), 1);
    let r = &v[0].0;
    assert_eq!(r.outcome, Outcome::Refused);
    assert_eq!(r.syn_retries, 2);
    assert_eq!(r.c2s.retransmissions, 2);
    assert_eq!(stats.port_reuses, 0);
    // ... and a retried SYN that finally gets a SYN/ACK is not refused
    let mut t = Script::new();
    t.c(0, "S", 1000, 0, b"")
        .s(50, "RA", 0, 1001, b"")
        .c(500_000, "S", 1000, 0, b"")
        .s(500_100, "SA", 5000, 1001, b"")
        .c(500_150, "A", 1001, 5001, b"");
    let (r, _) = t.one();
    assert_eq!(r.outcome, Outcome::Open);
    assert_eq!(r.reset_by, None);
    assert_eq!(r.syn_to_ack_ns, Some(150_000));
}

#[test]
fn split_handshake_stays_one_connection() {
    let mut t = Script::new();
    t.c(0, "S", 1000, 0, b"")
        .s(10, "S", 3000, 0, b"")
        .c(20, "SA", 1000, 3001, b"")
        .s(30, "A", 3001, 1001, b"")
        .c(40, "A", 1001, 3001, b"data")
        .s(50, "A", 3001, 1005, b"");
    let (v, _) = t.finish();
    assert_eq!(v.len(), 1);
    let (r, ev) = &v[0];
    assert_eq!(r.outcome, Outcome::Open);
    assert_eq!(
        r.c2s.retransmissions, 1,
        "tshark: the client's SYN/ACK repeats its SYN"
    );
    assert_eq!(ev[0], data(C2S, b"data"));
}

/// Adversarial random segments (deterministic LCG): never panics; per direction the sink sees
/// at most one close, and gap events add up to `missed_bytes`.
#[test]
fn random_segments_never_panic_and_keep_invariants() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move |n: u64| crate::testing::xorshift(&mut x) % n.max(1);
    let cfg = TcpConfig {
        idle_timeout_ns: 5_000_000_000,
        max_connections: 4,
        ooo_limit_bytes: 3000,
        rtt_sample_limit: 16,
        unacked_limit: 8,
        ..TcpConfig::default()
    };
    let mut t = Script::with(cfg);
    let payload = vec![7u8; 2000];
    let flag_sets = ["S", "SA", "A", "PA", "FA", "RA", "R", "F", "SF", "SAFR", ""];
    let mut us = 0i64;
    for _ in 0..20_000 {
        // mostly forward in time, sometimes backwards, sometimes a long pause
        us += match rnd(100) {
            0 => -(rnd(1000) as i64),
            1 => 6_000_000,
            _ => rnd(3000) as i64,
        };
        t.cport = 40000 + rnd(6) as u16;
        t.sport = if rnd(10) == 0 { 40001 } else { 80 };
        let base: u32 = if rnd(2) == 0 { 1000 } else { u32::MAX - 3000 };
        let seq = base.wrapping_add(rnd(20_000) as u32);
        let ack = base.wrapping_add(rnd(20_000) as u32);
        let len = rnd(1500) as usize;
        let cap = if rnd(5) == 0 {
            rnd(len as u64 + 1) as usize
        } else {
            len
        };
        if rnd(8) == 0 {
            t.opts(&[2, 4, 5, 180, 1, 3, 3, rnd(20) as u8, 4, 2, 8]);
        }
        t.win(rnd(3) as u16 * 100);
        t.wire(len as u32);
        let fl = flag_sets[rnd(flag_sets.len() as u64) as usize];
        t.seg(rnd(2) == 0, us, fl, seq, ack, &payload[..cap]);
    }
    let (v, stats) = t.finish();
    assert_eq!(stats.segments, 20_000);
    assert_eq!(stats.connections as usize, v.len());
    assert!(stats.evictions > 0 && stats.idle_timeouts > 0 && stats.port_reuses > 0);
    for (r, ev) in &v {
        for (dir, st) in [(C2S, &r.c2s), (S2C, &r.s2c)] {
            let closes = ev.iter().filter(|e| **e == Ev::Close(dir)).count();
            assert_eq!(closes, 1, "{r:?}");
            let gaps: u64 = ev
                .iter()
                .map(|e| match e {
                    Ev::Gap(d, n) if *d == dir => *n,
                    _ => 0,
                })
                .sum();
            assert_eq!(gaps, st.missed_bytes);
            assert!(st.retransmissions >= st.fast_retransmissions + st.spurious_retransmissions);
            if let (Some(a), Some(m), Some(b)) = (st.rtt_min_ns, st.rtt_median_ns, st.rtt_max_ns) {
                assert!(a <= m && m <= b);
            }
        }
        assert!(r.end_ts >= r.start_ts);
    }
}

#[test]
fn closed_and_idle_connections_are_swept_so_the_table_stays_small() {
    let mut t = Script::with(TcpConfig {
        closed_linger_ns: 60_000_000_000,
        ..TcpConfig::default()
    });
    // 2000 short connections, one every 0.5 s: only those within the 60 s linger stay tracked.
    for i in 0..2000u16 {
        let b = i64::from(i) * 500_000;
        t.cport = 10_000 + i;
        t.c(b, "S", 1000, 0, b"")
            .s(b + 100, "SA", 5000, 1001, b"")
            .c(b + 150, "A", 1001, 5001, b"")
            .c(b + 200, "FA", 1001, 5001, b"")
            .s(b + 300, "FA", 5001, 1002, b"")
            .c(b + 350, "A", 1002, 5002, b"");
    }
    // A late ACK of the first connection, after its linger: a new mid-stream connection.
    t.cport = 10_000;
    t.c(1_000_000_000, "A", 1002, 5002, b"");
    // One connection left idle for 6 minutes while another one talks: found idle by a sweep.
    t.cport = 50_000;
    t.c(1_001_000_000, "S", 1000, 0, b"")
        .s(1_001_000_100, "SA", 5000, 1001, b"")
        .c(1_001_000_150, "A", 1001, 5001, b"");
    t.cport = 50_001;
    t.c(1_361_000_000, "S", 1000, 0, b"")
        .s(1_361_000_100, "SA", 5000, 1001, b"")
        .c(1_361_000_150, "A", 1001, 5001, b"");
    let (v, stats) = t.finish();
    assert_eq!(v.len(), 2003);
    assert!(v[..2000].iter().all(|(r, _)| r.outcome == Outcome::Closed));
    assert_eq!(v[2000].0.outcome, Outcome::Midstream);
    assert_eq!(v[2001].0.outcome, Outcome::Established, "idle, not open");
    assert_eq!(v[2002].0.outcome, Outcome::Open);
    // 60 s linger / 0.5 s per connection, plus up to one sweep interval of stragglers.
    assert!(
        (120..=124).contains(&stats.max_concurrent),
        "{}",
        stats.max_concurrent
    );
    // Each close completed (FINs both ways, acknowledged): finished by the first sweep after
    // its grace time, its entry kept (light) for the linger time; those closed in the last
    // seconds of the script are found by a sweep after their linger time.
    assert!(
        (1990..2000).contains(&stats.finished_at_close),
        "{}",
        stats.finished_at_close
    );
    assert_eq!(stats.finished_at_close + stats.closed_swept, 2000);
    assert_eq!(
        stats.idle_timeouts, 2,
        "the mid-stream ACK's and the idle connection"
    );
}

/// Issue #11, bug 3: bytes after a hole that is never filled keep the capture time of the
/// segment that carried them, not the time of the ACK (or end of tracking) that gave the hole up.
#[test]
fn data_after_unfilled_gap_keeps_its_own_capture_time() {
    let mut t = Script::new();
    t.handshake()
        .c(200, "PA", 1001, 5001, b"req1")
        // bytes 1005..1009 lost before the capture point
        .c(300, "PA", 1009, 5001, b"req3")
        .s(400, "PA", 5001, 1013, b"resp")
        .c(5_000_000, "A", 1013, 5005, b"");
    let ev = t.one_timed();
    let c2s = kinds_and_times(&ev, C2S);
    // The hole is evident when the bytes after it arrive (300 µs); they keep that time.
    assert_eq!(c2s[..3], [('d', 200), ('g', 300), ('d', 300)], "{ev:?}");
}

/// A hole given up at the end of tracking: the buffered bytes keep their own times, and delivery
/// times never go backwards.
#[test]
fn hole_flushed_at_end_keeps_chunk_times_and_is_monotonic() {
    let mut t = Script::new();
    t.handshake()
        .c(200, "PA", 1001, 5001, b"aaaa")
        .c(300, "PA", 1009, 5001, b"cccc")
        .c(400, "PA", 1013, 5001, b"dddd")
        .s(900_000, "A", 5001, 1005, b"");
    let ev = t.one_timed();
    let c2s = kinds_and_times(&ev, C2S);
    assert_eq!(
        c2s[..4],
        [('d', 200), ('g', 300), ('d', 300), ('d', 400)],
        "{ev:?}"
    );
    assert!(c2s.windows(2).all(|w| w[0].1 <= w[1].1), "{c2s:?}");
}

/// Issue #11, bug 2: a SYN/ACK before its SYN in the file (capture-point reordering) is one
/// connection with its handshake, not a 1-packet mid-stream one plus a second one.
#[test]
fn synack_before_its_syn_is_one_connection_with_its_handshake() {
    let mut t = Script::new();
    t.s(100, "SA", 5000, 1001, b"")
        .c(120, "S", 1000, 0, b"")
        .c(300, "A", 1001, 5001, b"")
        .c(400, "PA", 1001, 5001, b"GET /")
        .s(900, "PA", 5001, 1006, b"HTTP/1.1 200");
    let (v, stats) = t.finish();
    assert_eq!(v.len(), 1, "{v:#?}");
    let r = &v[0].0;
    assert!(r.handshake_seen && !r.client_guessed);
    assert_eq!((r.client_port, r.server_port), (40000, 80));
    assert_eq!(r.syn_to_ack_ns, Some(180_000), "tshark's iRTT: SYN -> ACK");
    assert_eq!(r.connect_ns, Some(180_000));
    assert_eq!(r.synack_to_ack_ns, Some(200_000));
    assert_eq!(r.syn_to_synack_ns, None, "the SYN came after the SYN/ACK");
    assert_eq!(r.syn_retries, 0);
    assert_eq!(
        (stats.reordered_handshakes, stats.midstream_connections),
        (1, 0)
    );
    assert_eq!(v[0].1[0], data(C2S, b"GET /"));
}

/// A SYN with another ISN after a SYN/ACK (a new attempt on reused ports) is still a new
/// connection, and so is one that comes after the reordering window.
#[test]
fn synack_then_unrelated_syn_stays_two_connections() {
    let mut t = Script::new();
    t.s(100, "SA", 5000, 1001, b"").c(120, "S", 7000, 0, b"");
    let (v, stats) = t.finish();
    assert_eq!(v.len(), 2);
    assert_eq!(stats.reordered_handshakes, 0);
    let mut t = Script::new();
    t.s(100, "SA", 5000, 1001, b"")
        .c(2_000_000, "S", 1000, 0, b"");
    assert_eq!(t.finish().0.len(), 2);
}

/// Issue #11, bug 10: a capture holding only the client's direction is not a timeout.
#[test]
fn one_direction_capture_is_not_a_timeout() {
    let mut t = Script::new();
    t.c(0, "S", 1000, 0, b"")
        .c(150, "A", 1001, 5001, b"")
        .c(200, "PA", 1001, 5001, b"GET /")
        .c(900, "A", 1006, 5100, b"")
        .c(1000, "FA", 1006, 5100, b"");
    let (r, _) = t.one();
    assert_eq!(r.outcome, Outcome::OneDirection);
    assert_eq!(r.failure, None);
    // Only SYNs: a real timeout.
    let mut t = Script::new();
    t.c(0, "S", 1000, 0, b"").c(1_000_000, "S", 1000, 0, b"");
    let (r, _) = t.one();
    assert_eq!(
        (r.outcome, r.failure),
        (Outcome::Timeout, Some(Failure::Timeout))
    );
    // Only the server's side: SYN/ACK then data.
    let mut t = Script::new();
    t.s(100, "SA", 5000, 1001, b"")
        .s(900, "PA", 5001, 1006, b"HTTP/1.1 200");
    let (r, _) = t.one();
    assert_eq!(r.outcome, Outcome::OneDirection);
}

/// Issue #11, bug 9: a reset after a complete exchange (server FIN, then the client's late bytes
/// answered by RST, as nginx does) is not a failure; a reset before any response byte, or with
/// the client's last bytes unanswered and no FIN, is.
#[test]
fn reset_is_a_failure_only_before_the_response_or_with_a_request_unanswered() {
    let mut t = Script::new();
    t.handshake()
        .c(200, "PA", 1001, 5001, b"GET /")
        .s(900, "PA", 5001, 1006, b"HTTP/1.1 200")
        .s(950, "FA", 5013, 1006, b"")
        .c(960, "PA", 1006, 5014, b"bye")
        .s(970, "R", 5014, 0, b"");
    let (r, _) = t.one();
    assert_eq!((r.outcome, r.failure), (Outcome::Reset, None));

    let mut t = Script::new();
    t.handshake()
        .c(200, "PA", 1001, 5001, b"GET /")
        .s(900, "RA", 5001, 1006, b"");
    let (r, _) = t.one();
    assert_eq!(r.failure, Some(Failure::ResetBeforeResponse));

    let mut t = Script::new();
    t.handshake()
        .c(200, "PA", 1001, 5001, b"GET /")
        .s(900, "PA", 5001, 1006, b"HTTP/1.1 200")
        .c(1900, "PA", 1006, 5013, b"GET /2")
        .s(9900, "RA", 5013, 1012, b"");
    let (r, _) = t.one();
    assert_eq!(r.failure, Some(Failure::ResetUnanswered));

    let mut t = Script::new();
    t.c(0, "S", 1000, 0, b"").s(100, "RA", 0, 1001, b"");
    let (r, _) = t.one();
    assert_eq!(
        (r.outcome, r.failure),
        (Outcome::Refused, Some(Failure::Refused))
    );
}

#[test]
fn a_completed_close_finishes_the_connection_and_late_packets_are_counted() {
    let mut t = Script::new();
    t.handshake()
        .c(200, "PA", 1001, 5001, b"GET")
        .s(300, "PA", 5001, 1004, b"OK")
        .c(400, "FA", 1004, 5003, b"")
        .s(500, "FA", 5003, 1005, b"")
        .c(600, "A", 1005, 5004, b"");
    // The server's FIN again (its last ACK lost past the capture point) within the grace
    // time: it joins the connection.
    t.s(1_000_000, "FA", 5003, 1005, b"");
    // Again, and the client's ACK, after the grace time, within the linger: counted only.
    t.s(10_000_000, "FA", 5003, 1005, b"");
    t.c(10_000_050, "A", 1005, 5004, b"");
    // Then a new connection on the same ports.
    t.c(20_000_000, "S", 9000, 0, b"")
        .s(20_000_100, "SA", 7000, 9001, b"")
        .c(20_000_150, "A", 9001, 7001, b"");
    let (v, stats) = t.finish();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].0.outcome, Outcome::Closed);
    assert_eq!(v[0].0.c2s.packets + v[0].0.s2c.packets, 9);
    assert_eq!(v[1].0.outcome, Outcome::Open);
    assert_eq!(stats.finished_at_close, 1);
    assert_eq!(stats.late_after_close, 2);
    assert_eq!(stats.port_reuses, 1);
    assert_eq!(stats.midstream_connections, 0);
}

#[test]
fn a_close_with_a_hole_waits_for_the_retransmission() {
    let mut t = Script::new();
    // The server's data is lost before the capture point; both FINs come, the client cannot
    // acknowledge the server's (a hole before it): the close completes only when the lost
    // bytes are resent and the FIN acknowledged.
    t.handshake()
        .c(200, "PA", 1001, 5001, b"GET")
        .c(400, "FA", 1004, 5001, b"")
        .s(500, "FA", 5003, 1005, b"")
        .c(600, "A", 1005, 5001, b"")
        .s(5_000_000, "PA", 5001, 1005, b"OK")
        .c(5_000_100, "A", 1005, 5004, b"");
    // Another connection, whose packets make the sweeps run.
    t.cport = 40_001;
    t.c(20_000_000, "S", 1000, 0, b"");
    let (v, stats) = t.finish();
    assert_eq!(v.len(), 2);
    assert_eq!(
        v[0].0.s2c.packets, 3,
        "the resent data joins its connection"
    );
    assert_eq!(v[0].0.c2s.packets, 6);
    assert_eq!(stats.finished_at_close, 1);
    assert_eq!(stats.late_after_close, 0);
}

/// The out-of-order buffers of all the connections of a tracker together stay within
/// `ooo_total_limit_bytes`: without it, memory grows with the connections times each one's own
/// limit (500 connections with a hole and 511 KiB beyond it each: 313 MB peak RSS). The tracker's
/// count equals what its connections hold after every segment; a connection that would go past
/// the total gives up its holes, counted as an out-of-order limit hit.
#[test]
fn ooo_total_limit_bounds_the_buffers_of_all_connections() {
    let run = |total: usize| {
        let cfg = TcpConfig {
            ooo_limit_bytes: 64 << 10,
            ooo_total_limit_bytes: total,
            ..TcpConfig::default()
        };
        let mut t = Script::with(cfg);
        let mut peak = 0;
        // A hole at 1001: every piece waits beyond it.
        t.twenty_clients(
            |k| (1001 + 1000 * (k + 1), vec![b'x'; 1000]),
            |t, k, i| {
                let held: usize = t.tr.table.entries().map(|e| e.value.ooo_cost()).sum();
                assert_eq!(held, t.tr.ooo_held, "at piece {k} of connection {i}");
                peak = peak.max(held);
            },
        );
        let (v, stats) = t.finish();
        let missed: u64 = v.iter().map(|(r, _)| r.c2s.missed_bytes).sum();
        (peak, stats.ooo_limit_hits, missed)
    };
    let (peak, hits, _) = run(usize::MAX);
    assert!(peak > 600_000, "{peak}");
    assert_eq!(hits, 0);
    let (peak, hits, missed) = run(200_000);
    assert!(peak <= 200_000, "{peak}");
    assert!(hits > 0);
    // Every connection's hole is a gap in the end, given up or not.
    assert!(missed >= 20 * 1000, "{missed}");
}

/// Twenty clients through the application parsers with `app_total_limit_bytes` = `total`, each
/// sending `segment(k)` in turn; the tracker's count is checked against what its connections'
/// parsers hold after every segment. Returns the peak held, the limit's hits and the rows
/// taken from live connections.
fn app_total_run(total: usize, segment: impl Fn(u32) -> (u32, Vec<u8>)) -> (usize, u64, usize) {
    use crate::app::{AppConfig, AppFactory};
    let cfg = TcpConfig {
        app_total_limit_bytes: total,
        ..TcpConfig::default()
    };
    let mut t = Script::with_factory(cfg, AppFactory::new(AppConfig::default()));
    let mut peak = 0;
    t.twenty_clients(segment, |t, k, i| {
        let held: usize = t.tr.table.entries().map(|e| e.value.app_held()).sum();
        assert_eq!(held, t.tr.app_held, "at segment {k} of connection {i}");
        peak = peak.max(held);
    });
    let hits = t.tr.stats().app_total_limit_hits;
    let early = t.tr.factory.open.iter().map(|o| o.http.len()).sum();
    (peak, hits, early)
}

/// The unfinished application messages of all the connections of a tracker together stay
/// within `app_total_limit_bytes`: each HTTP head below is within its own 64 KiB limit, but
/// twenty of them are not within the total. The connection that would go past the total drops
/// its unfinished head, counted.
#[test]
fn app_total_limit_bounds_the_unfinished_messages_of_all_connections() {
    let head = |k| {
        let mut piece = vec![b'a'; 1000];
        if k == 0 {
            piece[..21].copy_from_slice(b"GET / HTTP/1.1\r\nX-A: ");
        }
        (1001 + 1000 * k, piece)
    };
    let (peak, hits, _) = app_total_run(usize::MAX, head);
    assert!(peak > 600_000, "{peak}");
    assert_eq!(hits, 0);
    let (peak, hits, _) = app_total_run(200_000, head);
    assert!(peak <= 200_000, "{peak}");
    assert!(hits > 0);
}

/// The request records kept by the application parsers count in the same total: twenty
/// connections each sending 40 requests of 1 000 bytes that get no response (each within
/// `max_pending`) hold about 1 MB of records without it. With it, the connection that would go
/// past the total gives its waiting requests up; they leave at once as final (incomplete) rows
/// (left until 32 are kept, as a live connection's are, the peak would pass 750 KB).
#[test]
fn app_total_limit_bounds_the_waiting_requests_of_all_connections() {
    let request = |k| {
        let mut req = b"GET /".to_vec();
        req.resize(987, b'a');
        req.extend(b" HTTP/1.1\r\n\r\n");
        (1001 + 1000 * k, req)
    };
    let (peak, hits, early) = app_total_run(usize::MAX, request);
    assert!(peak > 800_000, "{peak}");
    assert_eq!((hits, early), (0, 0));
    let (peak, hits, early) = app_total_run(200_000, request);
    assert!(peak <= 200_000, "{peak}");
    assert!(hits > 0);
    assert!(early > 400, "{early} rows left before the end");
}

/// The unacknowledged-segment lists (RTT sampling) of all the connections of a tracker together
/// stay within `unacked_total_limit_bytes`: twenty connections each sending 40 segments that
/// are never acknowledged hold about 30 KB of lists without it (a list grows to 96 KiB a
/// direction at `unacked_limit`: 1 000 such connections held 100 MB). The tracker's count
/// equals what its connections hold after every segment; a list that would grow past the
/// total remembers no more segments, counted as at its own limit.
#[test]
fn unacked_total_limit_bounds_the_rtt_lists_of_all_connections() {
    let run = |total: usize| {
        let cfg = TcpConfig {
            unacked_total_limit_bytes: total,
            ..TcpConfig::default()
        };
        let mut t = Script::with(cfg);
        let mut peak = 0;
        t.twenty_clients(
            |k| (1001 + 1000 * k, vec![b'x'; 1000]),
            |t, k, i| {
                let held: usize = t.tr.table.entries().map(|e| e.value.rtt_cost()).sum();
                assert_eq!(held, t.tr.rtt_held, "at segment {k} of connection {i}");
                peak = peak.max(held);
            },
        );
        let (_, stats) = t.finish();
        (peak, stats.unacked_limit_hits)
    };
    let (peak, hits) = run(usize::MAX);
    assert!(peak > 25_000, "{peak}");
    assert_eq!(hits, 0);
    let (peak, hits) = run(10_000);
    assert!(peak <= 10_000, "{peak}");
    assert!(hits > 0);
}
