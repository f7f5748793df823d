//! The column contract: docs/metrics.md and the frames built here agree; values are the
//! records' values with the documented types and nulls.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use polars::prelude::*;

use super::*;
use crate::Analyzer;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// One documented column: name (with `<dir>` expanded), type, and whether it may be null.
#[derive(Debug, Clone, PartialEq)]
struct DocColumn {
    name: String,
    dtype: String,
    never_null: bool,
}

/// The rows of the table under `## {section}` in docs/metrics.md, `<dir>` rows expanded to all
/// `_c2s` columns then all `_s2c` columns, after the other rows.
fn documented(section: &str) -> Vec<DocColumn> {
    let text = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    let start = text
        .find(&format!("\n## {section}\n"))
        .unwrap_or_else(|| panic!("no section {section}"));
    let body = &text[start + 1..];
    let body = &body[..body[3..].find("\n## ").map_or(body.len(), |i| i + 3)];
    let (mut plain, mut per_dir) = (Vec::new(), Vec::new());
    for line in body.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").map(str::trim).collect();
        let name = cells[0]
            .trim_start_matches("| ")
            .trim_matches('`')
            .to_string();
        let col = DocColumn {
            name,
            dtype: cells[1].to_string(),
            never_null: cells.last().unwrap().trim_end_matches(" |") == "never",
        };
        if col.name.ends_with("_<dir>") {
            per_dir.push(col);
        } else {
            plain.push(col);
        }
    }
    for dir in ["c2s", "s2c"] {
        for c in &per_dir {
            plain.push(DocColumn {
                name: c.name.replace("<dir>", dir),
                ..c.clone()
            });
        }
    }
    plain
}

fn in_code(df: &DataFrame) -> Vec<(String, String)> {
    df.schema()
        .iter()
        .map(|(n, t)| (n.to_string(), type_name(t)))
        .collect()
}

#[test]
fn connections_schema_equals_docs() {
    let doc: Vec<(String, String)> = documented("connections")
        .into_iter()
        .map(|c| (c.name, c.dtype))
        .collect();
    let code = in_code(&connections_frame(None, &[]).unwrap());
    assert!(doc.len() > 60, "{} documented columns", doc.len());
    for (i, (d, c)) in doc.iter().zip(&code).enumerate() {
        assert_eq!(d, c, "column {i}: docs/metrics.md vs code");
    }
    assert_eq!(doc.len(), code.len(), "number of columns");
}

fn assert_schema_equals_docs(section: &str, df: &DataFrame) {
    let doc: Vec<(String, String)> = documented(section)
        .into_iter()
        .map(|c| (c.name, c.dtype))
        .collect();
    let code = in_code(df);
    assert!(
        doc.len() > 10,
        "{section}: {} documented columns",
        doc.len()
    );
    for (i, (d, c)) in doc.iter().zip(&code).enumerate() {
        assert_eq!(d, c, "{section} column {i}: docs/metrics.md vs code");
    }
    assert_eq!(doc.len(), code.len(), "{section}: number of columns");
}

#[test]
fn application_schemas_equal_docs() {
    assert_schema_equals_docs("tls", &tls_frame(None, &[]).unwrap());
    assert_schema_equals_docs("http", &http_frame(None, &[], &[]).unwrap());
    assert_schema_equals_docs("dns", &dns_frame(None, &[]).unwrap());
    assert_schema_equals_docs("websocket", &websocket_frame(None, &[]).unwrap());
    assert_schema_equals_docs("quic", &quic_frame(None, &[]).unwrap());
}

fn lab_analysis() -> crate::Analysis {
    Analyzer::new()
        .threads(2)
        .analyze_path(repo().join("testdata/lab/f_refused_syndrop/capture.pcapng"))
        .unwrap()
}

#[test]
fn never_null_columns_have_no_nulls_and_nullable_ones_do() {
    let a = lab_analysis();
    let df = a.connections().unwrap();
    assert!(df.height() > 5);
    for c in documented("connections") {
        let nulls = df.column(&c.name).unwrap().null_count();
        if c.never_null {
            assert_eq!(nulls, 0, "{} is documented as never null", c.name);
        }
    }
    // A refused connection has no handshake times: null, not 0.
    let refused = a
        .connection_records()
        .iter()
        .position(|r| r.outcome == pcapstat_core::Outcome::Refused)
        .expect("the scenario has refused connections");
    let connect = df.column("connect").unwrap();
    assert!(connect.get(refused).unwrap().is_null());
    let reset_by = df.column("reset_by").unwrap();
    assert_eq!(reset_by.get(refused).unwrap(), AnyValue::String("server"));
}

#[test]
fn values_are_the_records_values() {
    let a = lab_analysis();
    let df = a.connections().unwrap();
    let recs = a.connection_records();
    let path = a.source().unwrap().to_string();
    for (i, r) in recs.iter().enumerate() {
        let get = |name: &str| df.column(name).unwrap().get(i).unwrap().into_static();
        assert_eq!(get("capture"), AnyValue::StringOwned(path.as_str().into()));
        assert_eq!(get("conn_id"), AnyValue::UInt64(r.conn_id));
        assert_eq!(get("client_port"), AnyValue::UInt16(r.client_port));
        assert_eq!(
            get("client_ip"),
            AnyValue::StringOwned(r.client_ip.to_string().into())
        );
        assert_eq!(
            get("start"),
            AnyValue::DatetimeOwned(
                r.start_ts,
                TimeUnit::Nanoseconds,
                Some(Arc::new(TimeZone::UTC))
            )
        );
        let dur = |v: Option<i64>| {
            v.map_or(AnyValue::Null, |n| {
                AnyValue::Duration(n, TimeUnit::Nanoseconds)
            })
        };
        assert_eq!(get("connect"), dur(r.connect_ns));
        assert_eq!(get("initial_rtt"), dur(r.syn_to_ack_ns));
        assert_eq!(get("duration"), dur(Some(r.end_ts - r.start_ts)));
        assert_eq!(get("rtt_min_s2c"), dur(r.s2c.rtt_min_ns));
        assert_eq!(get("packets_s2c"), AnyValue::UInt64(r.s2c.packets));
        assert_eq!(
            get("outcome"),
            AnyValue::StringOwned(r.outcome.as_str().into())
        );
        assert_eq!(
            get("mss_c2s"),
            r.c2s
                .handshake_options
                .and_then(|o| o.mss)
                .map_or(AnyValue::Null, AnyValue::UInt16)
        );
    }
}

#[test]
fn keylog_gives_https_rows_in_the_http_table() {
    let dir = repo().join("testdata/lab/d_tls_resumption");
    let plain = Analyzer::new()
        .threads(1)
        .analyze_path(dir.join("capture.pcap"))
        .unwrap();
    // Without keys: the 12 exchanges inferred from the encrypted records, and nothing else.
    let http = plain.http().unwrap();
    assert_eq!(http.height(), 12);
    let inferred = http.column("inferred").unwrap().bool().unwrap();
    assert_eq!(inferred.sum(), Some(12));
    assert_eq!(http.column("method").unwrap().null_count(), 12);
    assert_eq!(
        http.column("request_header_bytes").unwrap().null_count(),
        12
    );
    assert_eq!(http.column("request_bytes").unwrap().null_count(), 0);
    assert_eq!(plain.stats().keylog, Default::default());
    let keyed = Analyzer::new()
        .threads(2)
        .keylog_file(dir.join("sslkeylog.txt"))
        .unwrap()
        .analyze_path(dir.join("capture.pcap"))
        .unwrap();
    let http = keyed.http().unwrap();
    assert_eq!(http.height(), 12);
    // nginx $ssl_session_reused: 'r' for 3 s_client and 4 curl connections.
    let resumed = http.column("tls_resumed").unwrap().bool().unwrap().sum();
    assert_eq!(resumed, Some(7));
    assert_eq!(keyed.stats().app.tls_decrypt.sessions, 12);
    assert_eq!(keyed.stats().keylog.malformed, 0);
    // Embedded keys (Decryption Secrets Block) give the same table; turned off, inferred rows
    // only.
    let embedded = Analyzer::new()
        .analyze_path(dir.join("capture-with-keys.pcapng"))
        .unwrap();
    assert_eq!(embedded.http_records(), keyed.http_records());
    assert_eq!(embedded.stats().keylog.dsb_blocks, 1);
    let off = Analyzer::new()
        .embedded_secrets(false)
        .analyze_path(dir.join("capture-with-keys.pcapng"))
        .unwrap();
    assert!(off.http_records().iter().all(|h| h.inferred));
    assert_eq!(off.http_records(), plain.http_records());
    // An unreadable key log is a typed error naming the file.
    let err = Analyzer::new()
        .keylog_file(dir.join("missing.txt"))
        .unwrap_err();
    assert!(matches!(err, crate::Error::KeyLog(_)), "{err}");
    assert!(err.to_string().contains("missing.txt"));
}

/// One definition of answered / unanswered / ICMP error: the dns table's columns and the
/// `dns.*` figures count the same rows (an ICMP error is not an answer and has no latency).
#[test]
fn dns_table_and_figures_agree_on_answered_and_icmp() {
    use crate::figures::{Figures, Value};
    for name in ["icmp-unreachable", "retries", "waited"] {
        let path = repo().join(format!("testdata/regress/dns/{name}.pcap"));
        let a = Analyzer::new().threads(2).analyze_path(&path).unwrap();
        let df = a.dns().unwrap();
        let answered = df.column("answered").unwrap().bool().unwrap().clone();
        let icmp = df
            .column("icmp_unreachable")
            .unwrap()
            .bool()
            .unwrap()
            .clone();
        let icmp_error = df.column("icmp_error").unwrap();
        let latency = df.column("latency").unwrap();
        let (mut n_answered, mut n_icmp, mut n_unanswered) = (0u64, 0u64, 0u64);
        for i in 0..df.height() {
            let (ans, failed) = (answered.get(i).unwrap(), icmp.get(i).unwrap());
            assert!(!(ans && failed), "{name} row {i}: answered and failed");
            assert_eq!(latency.get(i).unwrap().is_null(), !ans, "{name} row {i}");
            assert_eq!(
                icmp_error.get(i).unwrap().is_null(),
                !failed,
                "{name} row {i}"
            );
            n_answered += u64::from(ans);
            n_icmp += u64::from(failed);
            n_unanswered += u64::from(!ans && !failed);
        }
        let f = Figures::of(&a);
        let count = |n: &str| f.value(n).flatten();
        assert_eq!(
            count("dns.answered"),
            Some(Value::Count(n_answered)),
            "{name}"
        );
        assert_eq!(
            count("dns.icmp_unreachable"),
            Some(Value::Count(n_icmp)),
            "{name}"
        );
        assert_eq!(
            count("dns.unanswered"),
            Some(Value::Count(n_unanswered)),
            "{name}"
        );
        assert_eq!(
            count("dns.latency.count"),
            Some(Value::Count(n_answered)),
            "{name}"
        );
    }
}
