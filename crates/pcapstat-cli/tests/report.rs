//! The report of `pcapstat analyze`: snapshots (text, JSON, markdown) of the testdata captures,
//! the 80-column layout, `--top`, the CI document's commands, and the lab's loaded capture
//! against tshark.
//!
//! Snapshots are plain files in `tests/snapshots/`; `UPDATE_SNAPSHOTS=1 cargo test -p
//! pcapstat-cli --test report` rewrites them (review the diff before committing).

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{repo, run};

const CAPTURES: [(&str, &str); 6] = [
    (
        "f_refused_syndrop",
        "testdata/lab/f_refused_syndrop/capture.pcap",
    ),
    (
        "d_tls_resumption",
        "testdata/lab/d_tls_resumption/capture.pcapng",
    ),
    ("e_dns", "testdata/lab/e_dns/capture.pcap"),
    ("link-null-http", "testdata/link-null-http.pcap"),
    (
        "snaplen-truncated-http",
        "testdata/snaplen-truncated-http.pcap",
    ),
    ("damaged", "testdata/broken/pcap-trunc-packet-data.pcap"),
];

fn snapshot(name: &str, actual: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("snapshots dir")).expect("mkdir");
        std::fs::write(&path, actual).expect("write snapshot");
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (run with UPDATE_SNAPSHOTS=1)", path.display()))?;
    if expected == actual {
        return Ok(());
    }
    let first = expected
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(expected.lines().count().min(actual.lines().count()));
    Err(format!(
        "{name} differs from the snapshot at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
         (UPDATE_SNAPSHOTS=1 rewrites it)",
        first + 1,
        expected.lines().nth(first),
        actual.lines().nth(first)
    ))
}

#[test]
fn report_snapshots() {
    let mut errors = Vec::new();
    for (name, file) in CAPTURES {
        for format in ["text", "json", "markdown"] {
            let out = run(&["analyze", "--format", format, file]);
            assert_eq!(out.status.code(), Some(0), "{file}");
            let mut text = String::from_utf8(out.stdout).expect("UTF-8 output");
            let ext = match format {
                "text" => "txt",
                "json" => {
                    // pretty-printed, so that a change reads as a diff of one key
                    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                    text = serde_json::to_string_pretty(&v).expect("pretty JSON") + "\n";
                    "json"
                }
                _ => "md",
            };
            if let Err(e) = snapshot(&format!("{name}.{ext}"), &text) {
                errors.push(e);
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// A tunnel that is not decoded is named in every format, never silent (issue #11).
#[test]
fn undecoded_encapsulations_are_named_in_every_format() {
    let file = "testdata/regress/tunnels/gre-unknown.pcap";
    let text = run(&["analyze", file]);
    let text = String::from_utf8(text.stdout).expect("UTF-8 output");
    assert!(
        text.contains("    undecoded gre protocol 0x1234: 3\n"),
        "{text}"
    );
    assert!(
        text.contains("    undecoded ip protocol 50 (esp): 1\n"),
        "{text}"
    );
    let json = run(&["analyze", "--format", "json", file]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        v["undecoded_encapsulations"],
        serde_json::json!({"gre protocol 0x1234": 3, "ip protocol 50 (esp)": 1})
    );
    assert_eq!(v["undecodable"]["undecoded_encapsulation"], 4);
    let md = run(&["analyze", "--format", "markdown", file]);
    let md = String::from_utf8(md.stdout).expect("UTF-8 output");
    assert!(
        md.contains("| not decoded | gre protocol 0x1234 ×3, ip protocol 50 (esp) ×1 |"),
        "{md}"
    );
}

#[test]
fn report_is_deterministic_and_fits_80_columns() {
    for (_, file) in CAPTURES {
        let a = run(&["analyze", file]);
        let b = run(&["analyze", "--threads", "3", file]);
        assert_eq!(a.stdout, b.stdout, "{file}");
        let text = String::from_utf8_lossy(&a.stdout);
        assert!(!text.contains('\x1b'), "colour without a terminal: {file}");
        for line in text.lines() {
            // the capture's own path may be long; everything else fits
            if line.starts_with("Capture ") {
                continue;
            }
            assert!(
                line.chars().count() <= 80,
                "{file}: {} columns: {line}",
                line.chars().count()
            );
        }
    }
}

#[test]
fn report_has_every_section() {
    let out = run(&["analyze", "testdata/lab/f_refused_syndrop/capture.pcap"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for section in [
        "Capture ",
        "TCP connections  6",
        "  retransmitted ",
        "  SYN retries   3",
        "TLS handshakes  1",
        "  alerts        server: protocol_version 1",
        "HTTP requests  1 (HTTP/1.1 1)",
        "Slowest requests",
        "Worst offenders",
        "Slowest connects",
        "Most retransmissions",
        "Failed connections",
    ] {
        assert!(text.contains(section), "missing {section:?} in\n{text}");
    }
    let dns = run(&["analyze", "testdata/lab/e_dns/capture.pcap"]);
    let text = String::from_utf8_lossy(&dns.stdout);
    assert!(text.contains("DNS queries  20"), "{text}");
    assert!(
        text.contains("  rcodes        NOERROR 16, NXDOMAIN 1"),
        "{text}"
    );
}

/// The report's sections and the named figures come from the same records: they agree.
#[test]
fn figures_agree_with_the_report_sections() {
    let dns_regress = [
        "testdata/regress/dns/retries.pcap",
        "testdata/regress/dns/waited.pcap",
        "testdata/regress/dns/icmp-unreachable.pcap",
    ];
    for file in CAPTURES.iter().map(|(_, f)| *f).chain(dns_regress) {
        let out = run(&["analyze", "--format", "json", file]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let f = &v["figures"];
        let tcp = &v["tcp_connections"];
        let app = &v["applications"];
        let both = |k: &str| {
            tcp["c2s"][k].as_u64().expect("count") + tcp["s2c"][k].as_u64().expect("count")
        };
        let pairs = [
            ("capture.frames", v["frames"].clone()),
            ("connections.count", tcp["connections"].clone()),
            ("connections.refused", tcp["outcomes"]["refused"].clone()),
            ("connections.reset", tcp["outcomes"]["reset"].clone()),
            ("connect.count", tcp["connect"]["count"].clone()),
            ("connect.p50", tcp["connect"]["p50_ns"].clone()),
            ("connect.p95", tcp["connect"]["p95_ns"].clone()),
            ("connect.max", tcp["connect"]["max_ns"].clone()),
            ("initial_rtt.p99", tcp["initial_rtt"]["p99_ns"].clone()),
            ("tcp.retransmissions", both("retransmissions").into()),
            ("tcp.zero_windows", both("zero_windows").into()),
            ("tcp.missed_bytes", both("missed_bytes").into()),
            ("tcp.syn_retries", tcp["syn_retries"].clone()),
            ("tls.handshakes", app["tls"]["handshakes"].clone()),
            ("tls.resumed", app["tls"]["resumed"].clone()),
            (
                "tls.handshake.p90",
                app["tls"]["handshake"]["p90_ns"].clone(),
            ),
            ("http.requests", app["http"]["requests"].clone()),
            (
                "http.reused_requests",
                app["http"]["reused_requests"].clone(),
            ),
            ("http.wait.p99", app["http"]["wait"]["p99_ns"].clone()),
            ("http.total.max", app["http"]["total"]["max_ns"].clone()),
            ("dns.queries", app["dns"]["queries"].clone()),
            ("dns.answered", app["dns"]["answered"].clone()),
            ("dns.unanswered", app["dns"]["unanswered"].clone()),
            ("dns.retries", app["dns"]["retries"].clone()),
            (
                "dns.icmp_unreachable",
                app["dns"]["icmp_unreachable"].clone(),
            ),
            ("dns.latency.count", app["dns"]["latency"]["count"].clone()),
            ("dns.latency.p50", app["dns"]["latency"]["p50_ns"].clone()),
        ];
        for (name, section) in pairs {
            assert_eq!(f[name], section, "{file}: {name}");
        }
    }
}

#[test]
fn a_wide_terminal_gets_max_and_one_line_requests() {
    let file = "testdata/link-null-http.pcap";
    let narrow = String::from_utf8(run(&["analyze", file]).stdout).expect("UTF-8");
    // p95 is always there; a narrow terminal drops max.
    assert!(
        narrow.contains("  connect       n=1  p50 55µs  p90 55µs  p95 55µs  p99 55µs\n"),
        "{narrow}"
    );
    assert!(!narrow.contains("  max "), "{narrow}");
    let out = Command::new(env!("CARGO_BIN_EXE_pcapstat"))
        .args(["analyze", file])
        .current_dir(repo())
        .env("COLUMNS", "120")
        .output()
        .expect("run");
    let wide = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        wide.contains("  connect       n=1  p50 55µs  p90 55µs  p95 55µs  p99 55µs  max 55µs"),
        "{wide}"
    );
    assert!(
        wide.contains("127.0.0.1:54588 -> 127.0.0.1:8008  connect 55µs  send 0ns  wait 91µs"),
        "{wide}"
    );
    assert!(wide.lines().all(|l| l.chars().count() <= 120));
}

/// At 60 columns every percentile line still has p50, p95 and p99 (and fits), and the
/// per-server lists keep their p95.
#[test]
fn a_narrow_terminal_keeps_p95() {
    for file in [
        "testdata/link-null-http.pcap",
        "testdata/lab/d_tls_resumption/capture-with-keys.pcapng",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_pcapstat"))
            .args(["analyze", file])
            .current_dir(repo())
            .env("COLUMNS", "60")
            .output()
            .expect("run");
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(" n=")).collect();
        assert!(lines.len() >= 3, "{text}");
        for l in lines {
            assert!(l.contains(" p95 "), "{file}: {l}");
            if l.contains("  p50 ") {
                assert!(l.contains(" p50 ") && l.contains(" p99 "), "{file}: {l}");
                assert!(l.chars().count() <= 80, "{file}: {l}");
            }
        }
        assert!(text.contains("Slowest servers (by total p95)"), "{text}");
    }
}

#[test]
fn top_sets_the_list_lengths() {
    let file = "testdata/lab/f_refused_syndrop/capture.pcap";
    let json = |top: &str| -> serde_json::Value {
        let out = run(&["analyze", "--format", "json", "--top", top, file]);
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let one = json("1");
    assert_eq!(
        one["tcp_connections"]["failed_connections"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        one["tcp_connections"]["slowest_connects"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let all = json("10");
    assert_eq!(
        all["tcp_connections"]["failed_connections"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let out = run(&["analyze", "--top", "1", file]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Failed connections (first 1 of 4)"), "{text}");
}

#[test]
fn colour_is_forced_by_clicolor_force_and_no_color_wins() {
    let run_env = |vars: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pcapstat"));
        c.args(["analyze", "testdata/lab/f_refused_syndrop/capture.pcap"])
            .current_dir(repo())
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE");
        for (k, v) in vars {
            c.env(k, v);
        }
        String::from_utf8(c.output().expect("run").stdout).expect("UTF-8")
    };
    let coloured = run_env(&[("CLICOLOR_FORCE", "1")]);
    assert!(
        coloured.contains("\x1b[1mTCP connections  6\x1b[0m"),
        "{coloured}"
    );
    assert!(coloured.contains("\x1b[31m  refused                    3  to 10.88.7.2:81\x1b[0m"));
    assert!(!run_env(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
    assert!(!run_env(&[("CLICOLOR_FORCE", "0")]).contains('\x1b'));
}

#[test]
fn no_color_and_pipes_get_no_escape_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_pcapstat"))
        .args(["analyze", "testdata/lab/f_refused_syndrop/capture.pcap"])
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
    // and no progress bar on a stderr that is not a terminal
    assert!(out.stderr.is_empty());
}

/// Splits a shell command line into words (single and double quotes, `$VAR` kept as is).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// The `pcapstat` commands of the GitHub Actions job in docs/ci.md, continuation lines joined.
fn ci_doc_commands() -> Vec<String> {
    let doc = std::fs::read_to_string(repo().join("docs/ci.md")).expect("docs/ci.md");
    let yaml = doc
        .split("```yaml")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml block in docs/ci.md");
    let mut commands = Vec::new();
    let mut pending: Option<String> = None;
    for line in yaml.lines() {
        let t = line.trim();
        if let Some(p) = pending.as_mut() {
            p.push(' ');
            p.push_str(t.trim_end_matches('\\'));
            if !t.ends_with('\\') {
                commands.extend(pending.take());
            }
        } else if t.starts_with("pcapstat ") {
            if t.ends_with('\\') {
                pending = Some(t.trim_end_matches('\\').to_string());
            } else {
                commands.push(t.to_string());
            }
        }
    }
    commands
}

#[test]
fn ci_doc_commands_pass_on_testdata() {
    let commands = ci_doc_commands();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert!(commands[0].contains("--rules ci/rules.toml"));
    let dir = std::env::temp_dir().join(format!("pcapstat-ci-doc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let summary = dir.join("summary.md");
    for command in &commands {
        let mut words = shell_words(command);
        // `>> "$GITHUB_STEP_SUMMARY"`: the test appends stdout to a file itself
        let redirect = words
            .iter()
            .position(|w| w == ">>")
            .expect(">> in the command");
        assert_eq!(words[redirect + 1], "$GITHUB_STEP_SUMMARY");
        words.truncate(redirect);
        assert_eq!(words[0], "pcapstat");
        // the JUnit file goes to the temporary directory
        let junit = dir.join("report.xml");
        for w in words.iter_mut() {
            if w == "report.xml" {
                *w = junit.display().to_string();
            }
        }
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut s = std::fs::read(&summary).unwrap_or_default();
        s.extend_from_slice(&out.stdout);
        std::fs::write(&summary, s).expect("summary");
    }
    let summary = std::fs::read_to_string(&summary).expect("summary");
    assert!(summary.contains("### pcapstat check: passed"), "{summary}");
    assert!(summary.contains("### pcapstat diff: passed"), "{summary}");
    let xml = std::fs::read_to_string(dir.join("report.xml")).expect("JUnit written");
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
    // the rules file of the doc is the one in the repository, and it parses
    let rules = std::fs::read_to_string(repo().join("ci/rules.toml")).expect("ci/rules.toml");
    assert!(rules.contains("rule = 'connect.p95 < \"100ms\"'"));
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn shell_words_split_like_bash() {
    assert_eq!(
        shell_words(r#"pcapstat diff a b --fail-if 'connect.p95 > +50%' >> "$X""#),
        [
            "pcapstat",
            "diff",
            "a",
            "b",
            "--fail-if",
            "connect.p95 > +50%",
            ">>",
            "$X"
        ]
    );
}

/// The shared lab data: `$PCAPSTAT_SHARED`, else `../shared` beside the repository; `None`
/// when missing outside CI (the test says it skipped, on the terminal). In CI (`CI=true`)
/// missing data fails the test: it must not pass by having nothing to compare.
fn shared(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("PCAPSTAT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared"));
    if dir.join("lab").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "shared lab data not found at {} (set PCAPSTAT_SHARED); CI=true: not skipped",
        dir.display()
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: it compares against the shared lab captures, not found at {} (clone \
         beside ../shared or set PCAPSTAT_SHARED)",
        dir.display()
    );
    None
}

/// Seconds with 6 decimals (tshark's epoch times) to ns.
fn epoch_ns(s: &str) -> i64 {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{frac:0<9}");
    secs.parse::<i64>().expect("seconds") * 1_000_000_000 + frac[..9].parse::<i64>().expect("frac")
}

#[test]
fn loaded_lab_capture_matches_tshark() {
    // g_load_tbf_retrans: wrk through a tbf-limited link, 986 retransmissions (tshark).
    let Some(shared) = shared("loaded_lab_capture_matches_tshark") else {
        return;
    };
    let lab = shared.join("lab/g_load_tbf_retrans");
    let capture = lab.join("capture.pcap");
    let out = run(&[
        "analyze",
        "--format",
        "json",
        "--top",
        "1000",
        capture.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let ts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.join("ts_summary.json")).expect("ts_summary.json"),
    )
    .expect("tshark summary");
    let counts = &ts["tcp_analysis_counts"];
    let tcp = &report["tcp_connections"];
    let both = |key: &str| {
        tcp["c2s"][key].as_u64().expect("count") + tcp["s2c"][key].as_u64().expect("count")
    };
    assert_eq!(
        both("retransmissions"),
        counts["retransmission"].as_u64().expect("n")
    );
    assert_eq!(both("retransmissions"), 986);
    assert_eq!(
        both("fast_retransmissions"),
        counts["fast_retransmission"].as_u64().expect("n")
    );
    assert_eq!(
        both("spurious_retransmissions"),
        counts["spurious_retransmission"].as_u64().expect("n")
    );
    assert_eq!(
        both("out_of_order"),
        counts["out_of_order"].as_u64().expect("n")
    );
    assert_eq!(
        both("dup_acks"),
        counts["duplicate_ack"].as_u64().expect("n")
    );
    assert_eq!(
        both("lost_segments"),
        counts["lost_segment"].as_u64().expect("n")
    );
    assert_eq!(
        both("zero_windows"),
        counts["zero_window"].as_u64().expect("n")
    );
    assert_eq!(tcp["connections"], ts["tcp_streams"]);
    let figures = &report["figures"];
    assert_eq!(figures["tcp.retransmissions"], 986);
    assert_eq!(figures["http.requests"], ts["http_requests"]);
    // the segments figure counts every TCP frame (all 20348 frames are TCP)
    assert_eq!(figures["tcp.segments"], ts["frames"]);

    // The slowest requests: tshark's ts_http.tsv has, per request, its time (t_request) and the
    // last response frame (t_last, when tshark reassembled the response). Every such request is
    // in our list (--top 1000 lists them all) with the same response end to the microsecond.
    // The list holds the complete requests only: a response cut by wrk's resets at the end has
    // no total (docs/metrics.md).
    let slowest = report["applications"]["http"]["slowest_requests"]
        .as_array()
        .expect("slowest_requests");
    let incomplete = report["applications"]["http"]["incomplete"]
        .as_u64()
        .expect("incomplete");
    assert!(
        incomplete > 0 && incomplete <= 32,
        "at most one per reset connection"
    );
    assert_eq!(slowest.len() as u64, 207 - incomplete);
    let ours: std::collections::HashMap<i64, Option<i64>> = slowest
        .iter()
        .map(|r| {
            (
                r["request_start_ts"].as_i64().expect("start") / 1000,
                r["response_end_ts"].as_i64().map(|t| t / 1000),
            )
        })
        .collect();
    let tsv = std::fs::read_to_string(lab.join("ts_http.tsv")).expect("ts_http.tsv");
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (t_req, t_last, total) = (col("t_request"), col("t_last"), col("total"));
    let mut tshark_slowest: Option<(i64, i64)> = None; // (total µs, request µs)
    let mut completed = std::collections::HashSet::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        if f.get(t_last).is_none_or(|s| s.is_empty()) {
            continue;
        }
        let req_us = epoch_ns(f[t_req]) / 1000;
        let last_us = epoch_ns(f[t_last]) / 1000;
        let ours_end = ours
            .get(&req_us)
            .unwrap_or_else(|| panic!("request at {req_us} µs not in the report"));
        assert_eq!(*ours_end, Some(last_us), "request at {req_us} µs");
        completed.insert(req_us);
        let tot = epoch_ns(f[total]) / 1000;
        if tshark_slowest.is_none_or(|(t, _)| tot > t) {
            tshark_slowest = Some((tot, req_us));
        }
    }
    assert!(completed.len() > 100, "{}", completed.len());
    // The slowest of those requests by tshark's total (request to last response frame): ours,
    // by request start to last response byte, is the same request with the same time to the µs.
    let (tot_us, req_us) = tshark_slowest.expect("a complete request");
    let ours_slowest = slowest
        .iter()
        .filter_map(|r| {
            let start = r["request_start_ts"].as_i64()? / 1000;
            let end = r["response_end_ts"].as_i64()? / 1000;
            completed.contains(&start).then_some((end - start, start))
        })
        .max()
        .expect("our slowest");
    assert_eq!(ours_slowest, (tot_us, req_us));
    assert_eq!(tot_us, 6_750_610);
}
