//! Tunnels and link types that used to be dropped silently (issue #11): ERSPAN types I, II and
//! III, LINKTYPE_NFLOG, the 802.1ah / VN-tag / E-tag / Cisco MetaData / NSH tags, GTP-U and
//! L2TPv2, and an
//! encapsulation that is not decoded (GRE protocol 0x1234, ESP), which must be counted by name.
//!
//! The captures and tshark's view of them (`testdata/regress/tunnels/expected.tsv`: frame counts
//! per layer, then each tcp.stream's endpoints, packets per direction and HTTP status) come from
//! `scripts/make-regress-tunnels.py`. Every connection and HTTP status must match tshark's.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use pcapstat_core::{DecodeProblem, Encapsulation};

mod common;

fn dir() -> PathBuf {
    common::testdata().join("regress/tunnels")
}

/// The fixture's lines, split on tabs (comments skipped).
fn expected() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir().join("expected.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn tunnels_frame_counts_equal_tshark() {
    let rows = expected();
    let mut files = 0;
    for row in rows.iter().filter(|r| r[1] == "counts") {
        let s = common::scan(&dir().join(&row[0])).unwrap();
        let d = &s.decode;
        let ours = [s.frames, d.ipv4, d.ipv6, d.tcp, d.udp].map(|n| n.to_string());
        assert_eq!(
            ours.as_slice(),
            &row[2..7],
            "{}: frames ipv4 ipv6 tcp udp",
            row[0]
        );
        files += 1;
    }
    assert_eq!(files, 9);
}

#[test]
fn tunnels_connections_and_http_equal_tshark() {
    let rows = expected();
    let names: BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let mut compared = 0;
    for name in names {
        let want: BTreeSet<String> = rows
            .iter()
            .filter(|r| r[0] == name && r[1] == "stream")
            .map(|r| r[3..8].join(" "))
            .collect();
        let a = common::analyze(&dir().join(name));
        let mut status: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for h in &a.http {
            status
                .entry(h.conn_id)
                .or_default()
                .push(h.status.map_or("-".to_string(), |s| s.to_string()));
        }
        let ours: BTreeSet<String> = a
            .connections
            .iter()
            .map(|c| {
                let st = status
                    .get(&c.conn_id)
                    .map_or("-".to_string(), |v| v.join(","));
                format!(
                    "{}:{} {}:{} {} {} {st}",
                    c.client_ip,
                    c.client_port,
                    c.server_ip,
                    c.server_port,
                    c.c2s.packets,
                    c.s2c.packets
                )
            })
            .collect();
        assert_eq!(ours, want, "{name}: client server c2s s2c http_status");
        compared += want.len();
    }
    assert_eq!(compared, 14);
}

#[test]
fn undecoded_encapsulations_are_counted_by_name() {
    for row in expected().iter().filter(|r| r[1] == "counts") {
        let s = common::scan(&dir().join(&row[0])).unwrap();
        let d = &s.decode;
        if row[0] == "gre-unknown.pcap" {
            let want = BTreeMap::from([
                (Encapsulation::GreProtocol(0x1234), 3),
                (Encapsulation::IpProtocol(50), 1),
            ]);
            assert_eq!(d.undecoded_encapsulations, want);
            assert_eq!(d.undecodable.get(DecodeProblem::UndecodedEncapsulation), 4);
            // The keepalive (GRE protocol 0 with nothing inside) is not a problem.
            assert_eq!(d.undecodable.total(), 4);
            let names: Vec<String> = want.keys().map(|e| e.to_string()).collect();
            assert_eq!(names, ["gre protocol 0x1234", "ip protocol 50 (esp)"]);
        } else {
            assert_eq!(d.undecodable.total(), 0, "{}", row[0]);
            assert_eq!(d.other, 0, "{}", row[0]);
        }
    }
}
