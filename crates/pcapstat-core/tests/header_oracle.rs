//! The header capture (`Analyzer::capture_headers`, what `--har` writes) against tshark:
//! `testdata/expected/headers/<name>.tsv`, made by `scripts/gen-header-fixtures.py` from
//! tshark's `http.request.line` / `http.response.line` (HTTP/1.x) and `http2.header.name` /
//! `http2.header.value` (HTTP/2), decrypted with the captures' key logs.
//!
//! Heads are paired by (client port, server port, HTTP/1 request index or HTTP/2 stream id,
//! direction) and compared field by field, in order. The bundled captures (testdata/) always
//! run; the lab set runs when `../shared` is there (skipped without it, except with CI=true).
//! Every head on one side only and every field that differs fails the test, except those
//! listed in `KNOWN` with their reason.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pcapstat_core::{Analyzer, HeaderLimits};

mod common;

/// (client port, server port, key, direction) → fields in order.
type Heads = BTreeMap<(u16, u16, String, String), Vec<(String, String)>>;

/// Heads one side has and the other has not, with their reason: (fixture, client port, key,
/// direction, side, reason).
const KNOWN: &[(&str, u16, &str, &str, &str, &str)] = &[];

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The fixture's heads, and the capture and key log it names on its comment line
/// (`from CAPTURE[ with KEYLOG] (`), paths under testdata/ or the lab set.
fn fixture(path: &Path) -> (Heads, String, Option<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let comment = text.lines().next().unwrap();
    let from = comment.split(" from ").nth(1).unwrap();
    let from = from.split(" (").next().unwrap();
    let (capture, keylog) = match from.split_once(" with ") {
        Some((c, k)) => (c.to_string(), Some(k.to_string())),
        None => (from.to_string(), None),
    };
    let mut heads = Heads::new();
    for row in common::tsv(path) {
        let key = (
            row["client_port"].parse().unwrap(),
            row["server_port"].parse().unwrap(),
            row["key"].clone(),
            row["dir"].clone(),
        );
        heads
            .entry(key)
            .or_default()
            .push((unescape(&row["name"]), unescape(&row["value"])));
    }
    (heads, capture, keylog)
}

fn locate(rel: &str, shared: Option<&Path>) -> PathBuf {
    match rel.strip_prefix("testdata/") {
        Some(rest) => common::testdata().join(rest),
        None => shared.unwrap().join(rel),
    }
}

/// Our heads of a capture, header capture on with the default bounds.
fn ours(capture: &Path, keylog: Option<&Path>) -> Heads {
    let mut analyzer = Analyzer::new()
        .threads(2)
        .capture_headers(Some(HeaderLimits::default()));
    if let Some(k) = keylog {
        analyzer = analyzer.keylog_file(k).unwrap();
    }
    let analysis = analyzer.analyze_path(capture).unwrap();
    let mut heads = Heads::new();
    for h in &analysis.http {
        let key = match h.stream_id {
            Some(s) => format!("s{s}"),
            None => format!("r{}", h.request_index),
        };
        let Some(kept) = h.headers.as_deref() else {
            continue;
        };
        assert_eq!(kept.request.dropped + kept.response.dropped, 0);
        for (dir, list) in [("request", &kept.request), ("response", &kept.response)] {
            if dir == "response" && h.response_header_bytes.is_none() {
                continue;
            }
            let fields = list
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            heads.insert(
                (h.client.port, h.server.port, key.clone(), dir.to_string()),
                fields,
            );
        }
    }
    heads
}

#[derive(Default, Debug)]
struct Figures {
    heads: usize,
    requests: usize,
    fields: usize,
    mismatches: Vec<String>,
}

fn compare(name: &str, theirs: &Heads, ours: &Heads, f: &mut Figures) {
    for (key, t) in theirs {
        let Some(o) = ours.get(key) else {
            if !KNOWN.iter().any(|k| {
                k.0 == name && k.1 == key.0 && k.2 == key.2 && k.3 == key.3 && k.4 == "tshark"
            }) {
                f.mismatches
                    .push(format!("{name} {key:?}: only tshark has this head"));
            }
            continue;
        };
        f.heads += 1;
        f.requests += usize::from(key.3 == "request");
        for i in 0..t.len().max(o.len()) {
            f.fields += 1;
            if t.get(i) != o.get(i) {
                f.mismatches.push(format!(
                    "{name} {key:?} field {i}: tshark {:?}, ours {:?}",
                    t.get(i),
                    o.get(i)
                ));
            }
        }
    }
    for key in ours.keys().filter(|k| !theirs.contains_key(*k)) {
        if !KNOWN
            .iter()
            .any(|k| k.0 == name && k.1 == key.0 && k.2 == key.2 && k.3 == key.3 && k.4 == "ours")
        {
            f.mismatches
                .push(format!("{name} {key:?}: only pcapstat has this head"));
        }
    }
}

fn run(prefix: &str, shared: Option<&Path>) -> Figures {
    let dir = common::testdata().join("expected/headers");
    let mut figures = Figures::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".tsv"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {prefix}*.tsv in {}", dir.display());
    for path in files {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let (theirs, capture, keylog) = fixture(&path);
        let capture = locate(&capture, shared);
        let keylog = keylog.map(|k| locate(&k, shared));
        let ours = ours(&capture, keylog.as_deref());
        compare(&name, &theirs, &ours, &mut figures);
    }
    eprintln!(
        "header oracle ({prefix}*): {} requests, {} heads, {} fields compared, {} mismatches",
        figures.requests,
        figures.heads,
        figures.fields,
        figures.mismatches.len()
    );
    figures
}

#[test]
fn headers_equal_tshark_on_the_bundled_captures() {
    let f = run("bundled_", None);
    assert!(f.requests >= 15 && f.fields >= 200, "{f:?}");
    assert!(f.mismatches.is_empty(), "{:#?}", f.mismatches);
}

#[test]
fn headers_equal_tshark_on_the_lab_captures() {
    let Some(shared) = common::shared_opt(module_path!()) else {
        return;
    };
    let f = run("lab_", Some(&shared));
    assert!(f.requests >= 200 && f.fields >= 2000, "{f:?}");
    assert!(f.mismatches.is_empty(), "{:#?}", f.mismatches);
}
