//! Byte-string tests: handshakes built here, split at every byte boundary, truncated, garbage.
#![allow(clippy::unwrap_used)]

use super::*;

const C: Direction = Direction::ClientToServer;
const S: Direction = Direction::ServerToClient;

fn u16b(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

fn record(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 3, 3];
    r.extend_from_slice(&u16b(payload.len() as u16));
    r.extend_from_slice(payload);
    r
}

fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut m = vec![ty, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    m.extend_from_slice(body);
    m
}

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut e = u16b(ty).to_vec();
    e.extend_from_slice(&u16b(data.len() as u16));
    e.extend_from_slice(data);
    e
}

fn sni_ext(name: &str) -> Vec<u8> {
    let n = name.as_bytes();
    let mut d = u16b(n.len() as u16 + 3).to_vec();
    d.push(0);
    d.extend_from_slice(&u16b(n.len() as u16));
    d.extend_from_slice(n);
    ext(0, &d)
}

fn alpn_ext(protos: &[&str]) -> Vec<u8> {
    let mut list = Vec::new();
    for p in protos {
        list.push(p.len() as u8);
        list.extend_from_slice(p.as_bytes());
    }
    let mut d = u16b(list.len() as u16).to_vec();
    d.extend_from_slice(&list);
    ext(16, &d)
}

fn u16_list_ext(ty: u16, vals: &[u16], len_bytes: usize) -> Vec<u8> {
    let mut d = Vec::new();
    let n = vals.len() * 2;
    if len_bytes == 1 {
        d.push(n as u8);
    } else {
        d.extend_from_slice(&u16b(n as u16));
    }
    for v in vals {
        d.extend_from_slice(&u16b(*v));
    }
    ext(ty, &d)
}

fn client_hello(sid: &[u8], ciphers: &[u16], exts: &[Vec<u8>]) -> Vec<u8> {
    let mut b = u16b(0x0303).to_vec();
    b.extend_from_slice(&[7; 32]);
    b.push(sid.len() as u8);
    b.extend_from_slice(sid);
    b.extend_from_slice(&u16b(ciphers.len() as u16 * 2));
    for c in ciphers {
        b.extend_from_slice(&u16b(*c));
    }
    b.extend_from_slice(&[1, 0]);
    let all: Vec<u8> = exts.concat();
    b.extend_from_slice(&u16b(all.len() as u16));
    b.extend_from_slice(&all);
    handshake(1, &b)
}

fn server_hello(random: &[u8; 32], sid: &[u8], cipher: u16, exts: &[Vec<u8>]) -> Vec<u8> {
    let mut b = u16b(0x0303).to_vec();
    b.extend_from_slice(random);
    b.push(sid.len() as u8);
    b.extend_from_slice(sid);
    b.extend_from_slice(&u16b(cipher));
    b.push(0);
    let all: Vec<u8> = exts.concat();
    b.extend_from_slice(&u16b(all.len() as u16));
    b.extend_from_slice(&all);
    handshake(2, &b)
}

fn certificate(sizes: &[usize]) -> Vec<u8> {
    let mut list = Vec::new();
    for &n in sizes {
        list.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        list.extend(std::iter::repeat_n(0x30, n));
    }
    let n = list.len();
    let mut b = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8];
    b.extend_from_slice(&list);
    handshake(11, &b)
}

type Script = Vec<(i64, Direction, Vec<u8>)>;

fn chrome_like_hello(sid: &[u8], tls13: bool) -> Vec<u8> {
    let mut exts = vec![
        ext(0x2a2a, &[]),
        sni_ext("example.com"),
        ext(23, &[]),
        u16_list_ext(10, &[0x4a4a, 29, 23, 24], 2),
        ext(11, &[1, 0]),
        ext(35, &[]),
        alpn_ext(&["h2", "http/1.1"]),
        u16_list_ext(13, &[0x0403, 0x0804, 0x0401], 2),
    ];
    if tls13 {
        exts.push(u16_list_ext(43, &[0x6a6a, 0x0304, 0x0303], 1));
        exts.push(ext(51, &[0, 0]));
    }
    client_hello(sid, &[0x1a1a, 0x1301, 0xc02f, 0xc02b], &exts)
}

fn tls12_full() -> Script {
    let mut server = server_hello(&[1; 32], &[9; 32], 0xc02f, &[alpn_ext(&["h2"])]);
    server.extend(certificate(&[100, 50]));
    server.extend(handshake(12, &[3, 0, 29, 1, 5]));
    server.extend(handshake(14, &[]));
    let mut cflight = record(22, &handshake(16, &[1, 4]));
    cflight.extend(record(20, &[1]));
    cflight.extend(record(22, &[0xee; 40]));
    let mut sflight = record(22, &handshake(4, &[0, 0, 0, 1, 0, 2, 8, 8]));
    sflight.extend(record(20, &[1]));
    sflight.extend(record(22, &[0xdd; 40]));
    vec![
        (100, C, record(22, &chrome_like_hello(&[], false))),
        (200, S, record(22, &server)),
        (300, C, cflight),
        (400, S, sflight),
        (500, C, record(23, &[0xab; 64])),
    ]
}

fn tls12_abbreviated() -> Script {
    let mut sflight = record(22, &server_hello(&[1; 32], &[5; 32], 0xc02f, &[]));
    sflight.extend(record(20, &[1]));
    sflight.extend(record(22, &[0xdd; 40]));
    let mut cflight = record(20, &[1]);
    cflight.extend(record(22, &[0xee; 40]));
    vec![
        (100, C, record(22, &chrome_like_hello(&[5; 32], false))),
        (200, S, sflight),
        (300, C, cflight),
    ]
}

fn tls13(psk: bool) -> Script {
    let mut sh_exts = vec![ext(43, &u16b(0x0304)), ext(51, &[0, 29, 0, 0])];
    if psk {
        sh_exts.push(ext(41, &[0, 0]));
    }
    let mut sflight = record(22, &server_hello(&[1; 32], &[5; 32], 0x1301, &sh_exts));
    sflight.extend(record(20, &[1]));
    sflight.extend(record(23, &[0xaa; 30]));
    let mut cflight = record(20, &[1]);
    cflight.extend(record(23, &[0xbb; 53]));
    vec![
        (100, C, record(22, &chrome_like_hello(&[5; 32], true))),
        (200, S, sflight),
        (250, S, record(23, &[0xaa; 3000])),
        (300, C, cflight),
        (400, S, record(23, &[0xaa; 200])),
    ]
}

fn run(script: &Script) -> TlsHandshake {
    let mut p = TlsParser::new();
    for (ts, dir, bytes) in script {
        p.on_data(*ts, *dir, bytes);
    }
    p.on_close(900, C);
    p.on_close(900, S);
    p.into_record()
}

#[test]
fn tls12_full_handshake() {
    let r = run(&tls12_full());
    assert_eq!(r.client_hello_ts, Some(100));
    assert_eq!(r.sni.as_deref(), Some("example.com"));
    assert_eq!(r.alpn_offered, vec!["h2", "http/1.1"]);
    assert_eq!(r.versions_offered, vec![TlsVersion(0x0303)]);
    assert_eq!(r.cipher_suites_offered, 4);
    assert_eq!(r.session_id_len, 0);
    assert!(!r.session_ticket_offered, "empty session_ticket extension");
    assert!(!r.psk_offered);
    assert_eq!(
        r.ja3.as_deref(),
        Some("771,4865-49199-49195,0-23-10-11-35-16-13,29-23-24,0")
    );
    assert_eq!(r.ja3_hash.as_deref().map(str::len), Some(32));
    let ja4 = r.ja4.clone().unwrap();
    assert!(ja4.starts_with("t12d0307h2_"), "{ja4}");
    assert_eq!(r.server_hello_ts, Some(200));
    assert_eq!(r.version, Some(TlsVersion(0x0303)));
    assert_eq!(r.cipher, Some(CipherSuite(0xc02f)));
    assert_eq!(r.alpn.as_deref(), Some("h2"));
    assert!(!r.session_id_echoed);
    assert_eq!(r.cert_count, Some(2));
    assert_eq!(r.cert_chain_bytes, Some(150));
    assert_eq!(r.resumed, Some(false));
    assert_eq!(r.client_finished_ts, Some(300));
    assert_eq!(r.server_finished_ts, Some(400));
    assert_eq!(r.handshake_done_ts, Some(400));
    assert_eq!(r.handshake_ns, Some(300));
    assert!(!r.incomplete);
    assert_eq!(r.alert, None);
}

#[test]
fn tls12_abbreviated_handshake_ends_with_client_finished() {
    let r = run(&tls12_abbreviated());
    assert!(r.session_id_echoed);
    assert_eq!(r.resumed, Some(true));
    assert_eq!(r.cert_count, None);
    assert_eq!(r.server_finished_ts, Some(200));
    assert_eq!(r.handshake_done_ts, Some(300));
    assert_eq!(r.handshake_ns, Some(200));
}

#[test]
fn tls12_ticket_resumption_without_session_id_echo() {
    let mut s = tls12_abbreviated();
    // Server does not echo; it sends a NewSessionTicket and CCS right after ServerHello.
    let mut sflight = record(22, &server_hello(&[1; 32], &[], 0xc02f, &[]));
    sflight.extend(record(22, &handshake(4, &[0, 0, 0, 1, 0, 2, 8, 8])));
    sflight.extend(record(20, &[1]));
    sflight.extend(record(22, &[0xdd; 40]));
    s[1].2 = sflight;
    let r = run(&s);
    assert!(!r.session_id_echoed);
    assert_eq!(r.resumed, Some(true));
    assert_eq!(r.handshake_done_ts, Some(300));
}

#[test]
fn tls13_full_and_psk() {
    let r = run(&tls13(false));
    assert_eq!(
        r.versions_offered,
        vec![TlsVersion(0x0304), TlsVersion(0x0303)]
    );
    assert_eq!(r.version, Some(TlsVersion(0x0304)));
    assert_eq!(r.cipher, Some(CipherSuite(0x1301)));
    assert_eq!(r.resumed, Some(false));
    assert!(r.session_id_echoed, "TLS 1.3 echoes the legacy session id");
    assert_eq!(r.server_finished_ts, Some(250));
    assert_eq!(r.client_finished_ts, Some(300));
    assert_eq!(r.handshake_done_ts, Some(300));
    assert_eq!(r.handshake_ns, Some(200));
    assert!(r.ja4.unwrap().starts_with("t13d0309h2_"));
    let r = run(&tls13(true));
    assert_eq!(r.resumed, Some(true));
}

#[test]
fn hello_retry_request() {
    let hrr = server_hello(&HRR_RANDOM, &[5; 32], 0x1302, &[ext(43, &u16b(0x0304))]);
    let mut s = tls13(false);
    let ch = s[0].clone();
    let mut second = record(20, &[1]);
    second.extend(record(22, &chrome_like_hello(&[5; 32], true)));
    s.insert(1, (150, S, record(22, &hrr)));
    s.insert(2, (170, C, second));
    let r = run(&s);
    assert_eq!(ch.0, 100);
    assert!(r.hello_retry);
    assert_eq!(r.client_hello_ts, Some(100));
    assert_eq!(r.server_hello_ts, Some(200));
    assert_eq!(
        r.cipher,
        Some(CipherSuite(0x1301)),
        "from the final ServerHello"
    );
    assert_eq!(r.handshake_done_ts, Some(300));
}

#[test]
fn alert_in_clear_and_who_sent_it() {
    let s: Script = vec![
        (100, C, record(22, &chrome_like_hello(&[], false))),
        (200, S, record(21, &[2, 70])),
    ];
    let r = run(&s);
    assert_eq!(
        r.alert,
        Some(Alert {
            level: AlertLevel(2),
            description: AlertDescription(70),
            by: Side::Server,
            ts: 200
        })
    );
    assert_eq!(r.server_hello_ts, None);
    assert_eq!(r.handshake_done_ts, None);
    assert!(!r.incomplete);
}

#[test]
fn gap_marks_incomplete_and_stops_that_direction() {
    let s = tls12_full();
    let mut p = TlsParser::new();
    p.on_data(s[0].0, C, &s[0].2);
    p.on_gap(150, S, 100);
    for (ts, dir, bytes) in &s[1..] {
        p.on_data(*ts, *dir, bytes);
    }
    let r = p.into_record();
    assert!(r.incomplete);
    assert_eq!(r.server_hello_ts, None);
    assert_eq!(r.handshake_done_ts, None);
    assert_eq!(r.sni.as_deref(), Some("example.com"));
}

#[test]
fn gap_after_handshake_changes_nothing() {
    let s = tls12_full();
    let want = run(&s);
    let mut p = TlsParser::new();
    for (ts, dir, bytes) in &s {
        p.on_data(*ts, *dir, bytes);
    }
    p.on_gap(600, S, 1000);
    p.on_close(900, C);
    p.on_close(900, S);
    assert_eq!(p.into_record(), want);
}

/// Every script, with each event split in two at every byte boundary, and byte by byte,
/// gives the same record.
#[test]
fn split_at_every_byte_boundary_gives_the_same_record() {
    for script in [tls12_full(), tls12_abbreviated(), tls13(false), tls13(true)] {
        let want = run(&script);
        for i in 0..script.len() {
            for k in 0..=script[i].2.len() {
                let mut p = TlsParser::new();
                for (j, (ts, dir, bytes)) in script.iter().enumerate() {
                    if i == j {
                        p.on_data(*ts, *dir, &bytes[..k]);
                        p.on_data(*ts, *dir, &bytes[k..]);
                    } else {
                        p.on_data(*ts, *dir, bytes);
                    }
                }
                p.on_close(900, C);
                p.on_close(900, S);
                assert_eq!(p.into_record(), want, "event {i} split at {k}");
            }
        }
        let mut p = TlsParser::new();
        for (ts, dir, bytes) in &script {
            for b in bytes {
                p.on_data(*ts, *dir, std::slice::from_ref(b));
            }
        }
        p.on_close(900, C);
        p.on_close(900, S);
        assert_eq!(p.into_record(), want, "byte by byte");
    }
}

#[test]
fn truncated_streams_never_panic() {
    for script in [tls12_full(), tls12_abbreviated(), tls13(false)] {
        for i in 0..script.len() {
            for k in 0..script[i].2.len() {
                let mut p = TlsParser::new();
                for (ts, dir, bytes) in &script[..i] {
                    p.on_data(*ts, *dir, bytes);
                }
                p.on_data(script[i].0, script[i].1, &script[i].2[..k]);
                p.on_close(900, C);
                p.on_close(900, S);
                let r = p.into_record();
                assert!(r.handshake_done_ts.is_none() || i + 1 >= script.len() - 1);
            }
        }
    }
}

/// Random bytes (and random bytes behind a valid record header or ClientHello) never panic.
#[test]
fn garbage_never_panics() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || crate::testing::xorshift(&mut state);
    let hello = record(22, &chrome_like_hello(&[5; 32], true));
    for round in 0..3000 {
        let len = (next() % 300) as usize;
        let mut junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        match round % 4 {
            1 => junk
                .splice(0..0, [22, 3, 3, (len >> 8) as u8, len as u8, 2])
                .for_each(drop),
            2 => {
                // Corrupt a real ClientHello in a few places.
                junk = hello.clone();
                for _ in 0..4 {
                    let i = (next() as usize) % junk.len();
                    junk[i] = next() as u8;
                }
            }
            3 => junk
                .splice(0..0, [22, 3, 1, 0, 200, 11, 0, 0, 190])
                .for_each(drop),
            _ => {}
        }
        let _ = TlsParser::probe(&junk);
        let mut p = TlsParser::new();
        let cut = (next() as usize) % (junk.len() + 1);
        p.on_data(1, C, &junk[..cut]);
        p.on_data(2, S, &junk);
        p.on_data(3, C, &junk[cut..]);
        p.on_close(4, C);
        p.on_close(4, S);
        let _ = p.into_record();
    }
}

#[test]
fn probe_client_first_bytes() {
    let hello = record(22, &chrome_like_hello(&[], false));
    assert_eq!(TlsParser::probe(&hello), Probe::Yes);
    assert_eq!(TlsParser::probe(&hello[..10]), Probe::Yes);
    for k in 0..10 {
        assert_eq!(TlsParser::probe(&hello[..k]), Probe::NeedMore, "{k}");
    }
    assert_eq!(TlsParser::probe(b"GET / HTTP/1.1\r\n"), Probe::No);
    assert_eq!(TlsParser::probe(&record(23, &[0; 20])), Probe::No);
    // SSL 2.0-style hello.
    assert_eq!(TlsParser::probe(&[0x80, 0x2e, 1, 3, 1, 0, 0x15]), Probe::No);
    // A handshake record that is not a ClientHello.
    assert_eq!(
        TlsParser::probe(&record(22, &handshake(2, &[3, 3, 0]))),
        Probe::No
    );
}

#[test]
fn grease_and_ja4_details() {
    assert!(is_grease(0x0a0a) && is_grease(0xfafa) && !is_grease(0x0a1a));
    let info = ClientHelloInfo {
        legacy_version: 0x0303,
        ciphers: vec![0x1301],
        ext_types: vec![],
        alpn: vec![vec![0xab, b'x', 0xcd]],
        ..Default::default()
    };
    // No extensions: empty c part; non-alphanumeric ALPN ends → first/last hex characters.
    assert_eq!(info.ja4().split('_').collect::<Vec<_>>()[0], "t12i0100ad");
    assert!(info.ja4().ends_with("_000000000000"));
}

// ---- decryption: RFC 8448 §3 (testdata/rfc8448/simple-1rtt.txt) ----

mod rfc8448 {
    use super::super::decrypt::{expand_label, prf12, Hash, RecordKey, Suite};
    use super::super::{AppData, KeyLog, TlsParser};
    use super::{C, S};
    use crate::tcp::StreamSink;
    use std::collections::HashMap;
    use std::sync::Arc;

    const FIXTURE: &str = include_str!("../../../../../testdata/rfc8448/simple-1rtt.txt");

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn vectors() -> HashMap<&'static str, Vec<u8>> {
        FIXTURE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('\t').unwrap();
                (k, unhex(v))
            })
            .collect()
    }

    fn split(record: &[u8]) -> ([u8; 5], &[u8]) {
        (record[..5].try_into().unwrap(), &record[5..])
    }

    #[test]
    fn record_keys_are_the_rfc_ones() {
        let v = vectors();
        for (secret, key, iv) in [
            (
                "server_handshake_traffic_secret",
                "server_handshake_key",
                "server_handshake_iv",
            ),
            (
                "client_handshake_traffic_secret",
                "client_handshake_key",
                "client_handshake_iv",
            ),
            (
                "server_application_traffic_secret",
                "server_application_key",
                "server_application_iv",
            ),
        ] {
            assert_eq!(
                expand_label(Hash::Sha256, &v[secret], "key", 16).unwrap(),
                v[key],
                "{key}"
            );
            assert_eq!(
                expand_label(Hash::Sha256, &v[secret], "iv", 12).unwrap(),
                v[iv],
                "{iv}"
            );
        }
    }

    #[test]
    fn tls12_prf_known_answer() {
        // The P_SHA256 vector circulated on the IETF TLS list (also `openssl kdf TLS1-PRF`).
        let out = prf12(
            Hash::Sha256,
            &unhex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            &unhex("a0ba9f936cda311827a6f796ffd5198c"),
            100,
        )
        .unwrap();
        assert_eq!(
            out,
            unhex(concat!(
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a",
                "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab",
                "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701",
                "87347b66"
            ))
        );
    }

    #[test]
    fn protected_records_decrypt_to_the_rfc_plaintext() {
        let v = vectors();
        let suite = Suite::of(0x1301).unwrap();
        let mut s_hs = RecordKey::tls13(suite, &v["server_handshake_traffic_secret"]).unwrap();
        let (h, p) = split(&v["server_flight_record"]);
        let (ty, plain) = s_hs.open(&h, p).unwrap();
        assert_eq!(ty, 22);
        assert_eq!(
            plain.len(),
            657,
            "RFC: payload (657 octets) of handshake messages"
        );
        assert_eq!(&plain[..4], &[0x08, 0, 0, 0x24], "EncryptedExtensions");
        assert_eq!(
            &plain[657 - 36..657 - 32],
            &[0x14, 0, 0, 0x20],
            "Finished last"
        );

        let mut c_hs = RecordKey::tls13(suite, &v["client_handshake_traffic_secret"]).unwrap();
        let (h, p) = split(&v["client_finished_record"]);
        let (ty, plain) = c_hs.open(&h, p).unwrap();
        assert_eq!((ty, &plain[..4]), (22, &[0x14, 0, 0, 0x20][..]));

        let mut s_ap = RecordKey::tls13(suite, &v["server_application_traffic_secret"]).unwrap();
        let (h, p) = split(&v["server_ticket_record"]);
        let (ty, plain) = s_ap.open(&h, p).unwrap();
        assert_eq!((ty, plain[0]), (22, 4), "NewSessionTicket, server seq 0");
        let (h, p) = split(&v["server_application_record"]);
        assert_eq!(
            s_ap.open(&h, p).unwrap(),
            (23, (0..50).collect()),
            "server seq 1"
        );

        let mut c_ap = RecordKey::tls13(suite, &v["client_application_traffic_secret"]).unwrap();
        let (h, p) = split(&v["client_application_record"]);
        assert_eq!(c_ap.open(&h, p).unwrap(), (23, (0..50).collect()));
        let (h, p) = split(&v["client_alert_record"]);
        assert_eq!(c_ap.open(&h, p).unwrap(), (21, vec![1, 0]), "close_notify");

        // Wrong sequence number, wrong key, flipped bit: authentication fails.
        let (h, p) = split(&v["client_application_record"]);
        assert!(c_ap.open(&h, p).is_none(), "replayed at seq 2");
        let mut wrong = RecordKey::tls13(suite, &v["server_application_traffic_secret"]).unwrap();
        assert!(wrong.open(&h, p).is_none());
        let mut bad = v["client_application_record"].clone();
        bad[20] ^= 1;
        let mut c_ap = RecordKey::tls13(suite, &v["client_application_traffic_secret"]).unwrap();
        let (h, p) = split(&bad);
        assert!(c_ap.open(&h, p).is_none());
    }

    fn keylog(v: &HashMap<&str, Vec<u8>>) -> KeyLog {
        let random = &v["client_hello"][6..38];
        let hx = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let r = hx(random);
        KeyLog::parse(&format!(
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {r} {}\n\
             CLIENT_TRAFFIC_SECRET_0 {r} {}\nSERVER_TRAFFIC_SECRET_0 {r} {}\n",
            hx(&v["client_handshake_traffic_secret"]),
            hx(&v["server_handshake_traffic_secret"]),
            hx(&v["client_application_traffic_secret"]),
            hx(&v["server_application_traffic_secret"]),
        ))
    }

    /// The RFC's handshake through the parser; the client's application record arrives in two
    /// segments (ts 60 and 61).
    fn run(keys: Option<KeyLog>) -> (TlsParser, Vec<AppData>) {
        let v = vectors();
        let mut p = TlsParser::with_keylog(keys.map(Arc::new));
        let mut ch = vec![22, 3, 1, 0, 196];
        ch.extend_from_slice(&v["client_hello"]);
        let mut out = Vec::new();
        p.on_data(10, C, &ch);
        p.on_data(20, S, &v["server_hello_record"]);
        p.on_data(30, S, &v["server_flight_record"]);
        p.on_data(40, C, &v["client_finished_record"]);
        p.on_data(50, S, &v["server_ticket_record"]);
        let app = &v["client_application_record"];
        p.on_data(60, C, &app[..30]);
        out.extend(p.take_app_data());
        p.on_data(61, C, &app[30..]);
        p.on_data(70, S, &v["server_application_record"]);
        p.on_data(80, C, &v["client_alert_record"]);
        out.extend(p.take_app_data());
        (p, out)
    }

    #[test]
    fn the_parser_decrypts_the_rfc_handshake() {
        let v = vectors();
        let (p, app) = run(Some(keylog(&v)));
        let r = p.record();
        assert_eq!(r.cipher, Some(crate::CipherSuite(0x1301)));
        assert_eq!(r.client_finished_ts, Some(40));
        assert_eq!(r.server_finished_ts, Some(30));
        assert_eq!(r.handshake_done_ts, Some(40));
        assert!(!r.incomplete);
        let st = p.decrypt_stats();
        assert_eq!(
            (st.sessions, st.records, st.auth_failures, st.no_key),
            (1, 6, 0, 0)
        );
        assert_eq!(st.app_bytes, 100);
        let data: Vec<u8> = (0..50).collect();
        assert_eq!(
            app,
            vec![
                AppData::Data {
                    dir: C,
                    first_ts: 60,
                    last_ts: 61,
                    bytes: data.clone()
                },
                AppData::Data {
                    dir: S,
                    first_ts: 70,
                    last_ts: 70,
                    bytes: data
                },
            ]
        );
    }

    #[test]
    fn without_or_with_wrong_keys_nothing_is_decrypted_and_timing_is_unchanged() {
        let v = vectors();
        let (plain, app) = run(None);
        assert!(app.is_empty());
        assert_eq!(plain.decrypt_stats().records, 0);
        let (other, _) = run(Some(KeyLog::parse("")));
        assert_eq!(other.decrypt_stats().no_key, 1);
        let mut wrong = v.clone();
        wrong.insert(
            "server_handshake_traffic_secret",
            v["client_handshake_traffic_secret"].clone(),
        );
        let (bad, app) = run(Some(keylog(&wrong)));
        assert_eq!(
            bad.decrypt_stats().auth_failures,
            1,
            "server flight, then that side stops"
        );
        assert!(app
            .iter()
            .any(|a| matches!(a, AppData::Lost { dir: S, .. })));
        // TLS_AES_128_CCM_SHA256 (0x1304) in the ServerHello: secrets found, suite not decrypted.
        let mut ccm = v.clone();
        let sh = ccm.get_mut("server_hello_record").unwrap();
        assert_eq!(&sh[44..46], &[0x13, 0x01]);
        sh[45] = 0x04;
        let keys = Arc::new(keylog(&v));
        let mut p = TlsParser::with_keylog(Some(keys));
        let mut ch = vec![22, 3, 1, 0, 196];
        ch.extend_from_slice(&v["client_hello"]);
        p.on_data(1, C, &ch);
        p.on_data(2, S, &ccm["server_hello_record"]);
        p.on_data(3, S, &v["server_flight_record"]);
        p.on_data(4, C, &v["client_finished_record"]);
        let st = p.decrypt_stats();
        assert_eq!((st.unsupported_cipher, st.sessions, st.records), (1, 0, 0));
        assert_eq!(p.record().handshake_done_ts, Some(4), "timed without keys");
        let with = run(Some(keylog(&v))).0;
        for r in [plain.record(), other.record(), bad.record()] {
            assert_eq!(r.handshake_done_ts, with.record().handshake_done_ts);
            assert_eq!(r.client_hello_ts, with.record().client_hello_ts);
        }
    }

    #[test]
    fn gaps_truncation_and_garbage_after_the_handshake() {
        let v = vectors();
        let keys = Arc::new(keylog(&v));
        let mut ch = vec![22, 3, 1, 0, 196];
        ch.extend_from_slice(&v["client_hello"]);
        let mut server = v["server_hello_record"].clone();
        server.extend_from_slice(&v["server_flight_record"]);
        let hs_end = server.len();
        server.extend_from_slice(&v["server_ticket_record"]);
        server.extend_from_slice(&v["server_application_record"]);
        // Every truncation of the server stream, then its close: never a panic, and a record cut
        // by the close is reported lost.
        for cut in 0..server.len() {
            let mut p = TlsParser::with_keylog(Some(keys.clone()));
            p.on_data(1, C, &ch);
            p.on_data(2, S, &server[..cut]);
            p.on_close(3, S);
            let app = p.take_app_data();
            // Decrypting from the end of the ServerHello; the record boundaries lose nothing.
            let sh = v["server_hello_record"].len();
            let boundaries = [hs_end, hs_end + v["server_ticket_record"].len()];
            let cut_inside = cut > sh && cut < server.len() && !boundaries.contains(&cut);
            assert_eq!(
                app.contains(&AppData::Lost { dir: S, ts: 3 }),
                cut_inside,
                "cut {cut}"
            );
        }
        // A gap after the handshake: the server side is lost, the client side goes on.
        let mut p = TlsParser::with_keylog(Some(keys.clone()));
        p.on_data(1, C, &ch);
        p.on_data(2, S, &server[..hs_end]);
        p.on_data(3, C, &v["client_finished_record"]);
        p.on_gap(4, S, 100);
        p.on_data(5, S, &v["server_application_record"]);
        p.on_data(6, C, &v["client_application_record"]);
        let app = p.take_app_data();
        assert_eq!(app[0], AppData::Lost { dir: S, ts: 4 });
        assert!(matches!(&app[1], AppData::Data { dir: C, bytes, .. } if bytes.len() == 50));
        assert_eq!(app.len(), 2);
        assert_eq!(p.record().handshake_done_ts, Some(3));
        assert!(!p.record().incomplete, "the gap came after the handshake");
        // Bytes that are not TLS after the handshake: that direction stops, nothing panics.
        let mut p = TlsParser::with_keylog(Some(keys));
        p.on_data(1, C, &ch);
        p.on_data(2, S, &server[..hs_end]);
        p.on_data(3, C, &v["client_finished_record"]);
        p.on_data(4, C, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(p.take_app_data(), vec![AppData::Lost { dir: C, ts: 4 }]);
    }

    #[test]
    fn any_split_gives_the_same_plaintext() {
        let v = vectors();
        let keys = Arc::new(keylog(&v));
        let mut stream = v["server_hello_record"].clone();
        stream.extend_from_slice(&v["server_flight_record"]);
        stream.extend_from_slice(&v["server_ticket_record"]);
        stream.extend_from_slice(&v["server_application_record"]);
        let mut ch = vec![22, 3, 1, 0, 196];
        ch.extend_from_slice(&v["client_hello"]);
        for cut in (1..stream.len()).step_by(7) {
            let mut p = TlsParser::with_keylog(Some(keys.clone()));
            p.on_data(1, C, &ch);
            p.on_data(2, S, &stream[..cut]);
            p.on_data(3, S, &stream[cut..]);
            let app = p.take_app_data();
            assert_eq!(app.len(), 1, "cut {cut}");
            assert!(matches!(&app[0], AppData::Data { bytes, .. } if bytes.len() == 50));
            assert_eq!(p.decrypt_stats().records, 3);
        }
    }
}

/// Issue #14: a ClientHello offering 30 000 cipher suites and 30 000 ALPN names and a 1000-byte
/// SNI keeps capped lists (flagged), while JA3 / JA4 / the suite count cover the whole message.
#[test]
fn client_hello_lists_are_capped_fingerprints_whole() {
    let ciphers: Vec<u16> = (0..30_000u16).map(|i| 0x0a0a + i).collect();
    let names: Vec<String> = (0..30_000)
        .map(|i| ((b'a' + (i % 26) as u8) as char).to_string())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let sni = "s".repeat(1000);
    let hello = client_hello(&[], &ciphers, &[alpn_ext(&names), sni_ext(&sni)]);
    let mut wire = Vec::new();
    for part in hello.chunks(16_000) {
        wire.extend(record(22, part));
    }
    let rec = run(&vec![(100, C, wire)]);
    assert!(rec.client_hello_truncated);
    assert_eq!(rec.alpn_offered.len(), MAX_KEPT_LIST);
    assert_eq!(rec.sni.as_deref().map(str::len), Some(MAX_KEPT_NAME_BYTES));
    assert!(rec
        .ja3
        .as_deref()
        .is_some_and(|j| j.len() <= MAX_KEPT_JA3_BYTES));
    assert_eq!(rec.cipher_suites_offered, 30_000);
    // The fingerprints of the whole message.
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
        parse_tls_message_handshake(&hello)
    else {
        panic!("hello does not parse");
    };
    let info = ClientHelloInfo::from_hello(&ch);
    assert!(info.ja3().len() > MAX_KEPT_JA3_BYTES);
    assert_eq!(rec.ja3_hash, Some(md5_hex(&info.ja3())));
    assert_eq!(rec.ja4, Some(info.ja4()));
    // An ordinary hello is not flagged.
    let small = client_hello(
        &[],
        &[0x1301],
        &[alpn_ext(&["h2", "http/1.1"]), sni_ext("example.com")],
    );
    let rec = run(&vec![(100, C, record(22, &small))]);
    assert!(!rec.client_hello_truncated);
    assert_eq!(rec.alpn_offered, ["h2", "http/1.1"]);
}
