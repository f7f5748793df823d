//! `pcapstat check` and `pcapstat diff`: every exit code, rule parse errors, JUnit XML, and the
//! filters shared by all commands.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::run;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const REFUSED: &str = "testdata/lab/f_refused_syndrop/capture.pcap";
const TLS: &str = "testdata/lab/d_tls_resumption/capture.pcapng";
const DNS: &str = "testdata/lab/e_dns/capture.pcap";

/// Writes a rules file in a fresh temporary directory; returns its path.
fn rules(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pcapstat-check-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let path = dir.join("rules.toml");
    std::fs::write(&path, text).expect("write the rules file");
    path
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn check_passes_with_exit_0() {
    // f_refused_syndrop: 3 refused to :81, 1 timeout to :82, 2 closed to :80 (tshark).
    let r = rules(
        "pass",
        r#"
[[rule]]
rule = 'connections.refused <= 3'
[[rule]]
figure = "connections.refused"
op = "=="
limit = 0
server = ":80"
[[rule]]
rule = 'connect.p95 < "10ms"'
"#,
    );
    let out = run(&["check", REFUSED, "--rules", s(&r)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("3 rules on 1 capture: 3 passed, 0 failed"),
        "{text}"
    );
    assert!(
        text.contains("connections.refused == 0 (--server :80)"),
        "{text}"
    );
}

#[test]
fn check_fails_with_exit_1_and_a_table() {
    let r = rules("fail", "[[rule]]\nrule = 'connections.refused == 0'\n");
    let out = run(&["check", REFUSED, "--rules", s(&r)]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("RULE"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("connections.refused == 0"))
        .unwrap();
    assert!(
        line.contains(" 3 ") && line.contains("== 0") && line.ends_with("FAIL"),
        "{line}"
    );
    // no colour when stdout is not a terminal
    assert!(!text.contains('\x1b'), "{text}");
}

#[test]
fn check_missing_data_fails_unless_the_rule_says_pass() {
    let r = rules("missing", "[[rule]]\nrule = 'dns.latency.p99 < 200ms'\n");
    let out = run(&["check", REFUSED, "--rules", s(&r)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("NO DATA (fail)"), "{}", stdout(&out));
    let r = rules(
        "missing-pass",
        "missing = \"pass\"\n[[rule]]\nrule = 'dns.latency.p99 < 200ms'\n",
    );
    let out = run(&["check", REFUSED, "--rules", s(&r)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("no data (pass)"));
    // with DNS in the capture the figure has data: e_dns p99 is 51.7 ms
    let r = rules("dns", "[[rule]]\nrule = 'dns.latency.p99 < 200ms'\n");
    assert_eq!(
        run(&["check", DNS, "--rules", s(&r)]).status.code(),
        Some(0)
    );
}

#[test]
fn check_input_and_usage_errors_exit_2() {
    let r = rules("ok", "[[rule]]\nrule = 'connections.refused < 100'\n");
    // not a capture
    let out = run(&[
        "check",
        "testdata/broken/text-file.pcap",
        REFUSED,
        "--rules",
        s(&r),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a pcap or pcapng file"),
        "{}",
        stderr(&out)
    );
    // the readable capture is still checked
    assert!(stdout(&out).contains("connections.refused < 100"));
    // no rules file
    let out = run(&["check", REFUSED, "--rules", "/nonexistent/rules.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read rules file"),
        "{}",
        stderr(&out)
    );
    // --rules missing: a usage error
    assert_eq!(run(&["check", REFUSED]).status.code(), Some(2));
    // a damaged capture is an error with --strict
    let damaged = "testdata/broken/pcap-trunc-packet-data.pcap";
    assert_eq!(
        run(&["check", damaged, "--rules", s(&r)]).status.code(),
        Some(0)
    );
    assert_eq!(
        run(&["check", "--strict", damaged, "--rules", s(&r)])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn malformed_rules_point_at_line_and_column() {
    let cases = [
        // (file, expected "line:col", words of the message)
        (
            "[[rule]]\nrule = 'conect.p95 < \"100ms\"'\n",
            "2:9",
            "did you mean \"connect.p95\"",
        ),
        ("[[rule]]\nrule = 'connect.p95 < 100'\n", "2:23", "no unit"),
        (
            "\n[[rule]]\nfigure = \"connect.p95\"\nop = \"=<\"\nlimit = \"1s\"\n",
            "4:6",
            "op must be",
        ),
        (
            "[[rule]]\nrule = 'connect.p95 < 1s'\nport = 70000\n",
            "3:8",
            "not a port",
        ),
        ("[[rule]\n", "1:", ""),
        (
            "[[rule]]\nrule = 'http.reuse_rate > 1ms'\n",
            "2:27",
            "not a duration",
        ),
    ];
    for (i, (text, pos, words)) in cases.iter().enumerate() {
        let r = rules(&format!("bad{i}"), text);
        let out = run(&["check", REFUSED, "--rules", s(&r)]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("rules.toml:{pos}")),
            "{text}: expected {pos} in {err}"
        );
        assert!(err.contains(words), "{text}: {err}");
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn junit_xml_parses_with_one_suite_per_capture() {
    use quick_xml::events::Event;
    let r = rules(
        "junit",
        "[[rule]]\nrule = 'connections.refused == 0'\nname = 'no \"refused\" <connections> & co'\n[[rule]]\nrule = 'connect.p95 < 1s'\n",
    );
    let xml_path = r.with_file_name("report.xml");
    let out = run(&[
        "check",
        REFUSED,
        TLS,
        "--rules",
        s(&r),
        "--junit",
        s(&xml_path),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut suites, mut cases, mut failures) = (Vec::new(), 0, Vec::new());
    let mut depth = 0i32;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |name: &str| {
                    e.try_get_attribute(name)
                        .unwrap()
                        .map(|a| a.unescape_value().unwrap().into_owned())
                };
                match e.name().as_ref() {
                    b"testsuite" => suites.push((attr("name"), attr("tests"), attr("failures"))),
                    b"testcase" => cases += 1,
                    b"failure" => failures.push(attr("message").unwrap()),
                    _ => {}
                }
                depth += 1;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(depth > 0);
    assert_eq!(suites.len(), 2, "{xml}");
    assert_eq!(suites[0].0.as_deref(), Some(REFUSED));
    assert_eq!(suites[0].1.as_deref(), Some("2"));
    assert_eq!(suites[0].2.as_deref(), Some("1"));
    assert_eq!(suites[1].2.as_deref(), Some("0"));
    assert!(cases >= 3, "{xml}");
    assert_eq!(failures, ["measured 3, limit == 0"]);
    assert!(xml.contains("name=\"no &quot;refused&quot; &lt;connections&gt; &amp; co\""));
}

#[test]
fn check_markdown_and_json() {
    let r = rules("md", "[[rule]]\nrule = 'connections.refused == 0'\n");
    let out = run(&["check", REFUSED, "--rules", s(&r), "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(1));
    let md = stdout(&out);
    assert!(md.starts_with("### pcapstat check: failed\n"), "{md}");
    assert!(
        md.contains("| capture | rule | measured | limit | verdict |"),
        "{md}"
    );
    assert!(
        md.contains("| connections.refused == 0 | 3 | == 0 | :x: **fail** |"),
        "{md}"
    );
    let out = run(&["check", REFUSED, "--rules", s(&r), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["passed"], false);
    assert_eq!(v["captures"][0]["rules"][0]["measured"], 3);
    assert_eq!(v["captures"][0]["rules"][0]["verdict"], "fail");
    assert_eq!(v["captures"][0]["rules"][0]["line"], 1);
}

#[test]
fn rule_scopes_select_records() {
    // f_refused_syndrop: the timed-out connection (port 82) retried its SYN 3 times; the
    // first connection (refused, port 81) starts at the first packet.
    let r = rules(
        "scopes",
        r#"
[[rule]]
rule = 'tcp.syn_retries == 3'
port = 82
[[rule]]
rule = 'tcp.syn_retries == 0'
server = "10.88.7.2:81"
[[rule]]
rule = 'connections.count == 1'
until = "+1ns"
[[rule]]
rule = 'connections.count == 6'
client = "10.88.7.0/24"
[[rule]]
rule = 'tls.alerts == 1'
sni = "lab.test"
"#,
    );
    let out = run(&["check", REFUSED, "--rules", s(&r)]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn check_filters_from_the_command_line_scope_every_rule() {
    let r = rules("cli-filter", "[[rule]]\nrule = 'connections.count == 3'\n");
    let out = run(&[
        "check",
        REFUSED,
        "--rules",
        s(&r),
        "--server",
        "10.88.7.2:81",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = run(&["check", REFUSED, "--rules", s(&r)]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn diff_exit_codes() {
    // same capture: nothing changes, every gate passes
    let out = run(&["diff", TLS, TLS, "--fail-if", "connect.p95 > +10%"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // no gates: exit 0 whatever changed
    let out = run(&["diff", REFUSED, TLS]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for line in text.lines().skip(2) {
        assert!(line.chars().count() <= 80, "{line}");
    }
    // reset 0 -> 11 is worse; refused 3 -> 0 is better
    let reset = text
        .lines()
        .find(|l| l.contains("connections.reset"))
        .unwrap();
    assert!(reset.contains("+11") && reset.ends_with("worse"), "{reset}");
    let refused = text
        .lines()
        .find(|l| l.contains("connections.refused"))
        .unwrap();
    assert!(
        refused.contains("-3 (-100%)") && refused.ends_with("better"),
        "{refused}"
    );
    // a failing gate: exit 1
    let out = run(&["diff", REFUSED, TLS, "--fail-if", "connections.reset > 0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("1 gate: 0 passed, 1 failed"),
        "{}",
        stdout(&out)
    );
    // relative gate: connect.p50 went from 79 µs to 50 µs (-36.7 %)
    let out = run(&["diff", REFUSED, TLS, "--fail-if", "connect.p50 < -30%"]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["diff", REFUSED, TLS, "--fail-if", "connect.p50 > +1%"]);
    assert_eq!(out.status.code(), Some(0));
    // absolute duration gate
    let out = run(&["diff", TLS, REFUSED, "--fail-if", "connect.p50 > +20us"]);
    assert_eq!(out.status.code(), Some(1));
    // no data on a side: fails unless --missing pass
    let out = run(&["diff", REFUSED, TLS, "--fail-if", "http.total.p99 > +10%"]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&[
        "diff",
        REFUSED,
        TLS,
        "--fail-if",
        "http.total.p99 > +10%",
        "--missing",
        "pass",
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn diff_changed_lists_only_what_changed() {
    let all = stdout(&run(&["diff", TLS, TLS]));
    assert!(all.contains("connect.p95"), "{all}");
    let changed = run(&["diff", TLS, TLS, "--changed"]);
    assert_eq!(changed.status.code(), Some(0));
    let text = stdout(&changed);
    assert!(!text.contains("connect.p95"), "{text}");
}

#[test]
fn diff_errors_exit_2() {
    let out = run(&["diff", REFUSED, TLS, "--fail-if", "connect.p95 >> 10%"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("column 13"), "{err}");
    assert!(
        err.contains("  connect.p95 >> 10%\n              ^"),
        "{err}"
    );
    let out = run(&["diff", REFUSED, TLS, "--fail-if", "connect.p95 > 10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is a duration"), "{}", stderr(&out));
    let out = run(&["diff", REFUSED, "testdata/broken/text-file.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(run(&["diff", REFUSED]).status.code(), Some(2));
}

#[test]
fn diff_markdown_and_json() {
    let out = run(&[
        "diff",
        REFUSED,
        TLS,
        "--fail-if",
        "connections.reset > 0",
        "--format",
        "markdown",
    ]);
    let md = stdout(&out);
    assert!(md.starts_with("### pcapstat diff: failed\n"), "{md}");
    assert!(md.contains("| `connections.reset > +0` |"), "{md}");
    assert!(
        md.contains("| `connections.reset` | 0 | 11 | +11 | :small_red_triangle: worse |"),
        "{md}"
    );
    let out = run(&["diff", REFUSED, TLS, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reset = v["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["figure"] == "connections.reset")
        .unwrap();
    assert_eq!(reset["before"], 0);
    assert_eq!(reset["after"], 11);
    assert_eq!(reset["assessment"], "worse");
}

fn tcp(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["analyze", "--format", "json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn filters_apply_to_records() {
    // f_refused_syndrop (tshark): 3 refused to 10.88.7.2:81, 1 timeout to :82, 2 closed to :80
    let all = tcp(&[REFUSED]);
    assert_eq!(all["tcp_connections"]["connections"], 6);
    let v = tcp(&[REFUSED, "--server", "10.88.7.2:81"]);
    assert_eq!(v["tcp_connections"]["connections"], 3);
    assert_eq!(v["tcp_connections"]["outcomes"]["refused"], 3);
    // the capture summary is not filtered
    assert_eq!(v["frames"], all["frames"]);
    assert_eq!(
        tcp(&[REFUSED, "--port", "82"])["tcp_connections"]["connections"],
        1
    );
    assert_eq!(
        tcp(&[REFUSED, "--server", "10.88.7.0/24"])["tcp_connections"]["connections"],
        6
    );
    assert_eq!(
        tcp(&[REFUSED, "--client", "10.88.7.2"])["tcp_connections"]["connections"],
        0
    );
    assert_eq!(
        tcp(&[REFUSED, "--client", "10.88.7.1"])["tcp_connections"]["connections"],
        6
    );
    // time window: relative to the first packet, and absolute; the first connection starts at
    // the first packet
    let first = all["first_ts"].as_i64().unwrap();
    let v = tcp(&[REFUSED, "--until", "+1ns"]);
    assert_eq!(v["tcp_connections"]["connections"], 1);
    let since = format!("{}.{:09}", first / 1_000_000_000, first % 1_000_000_000 + 1);
    let v = tcp(&[REFUSED, "--since", &since]);
    assert_eq!(v["tcp_connections"]["connections"], 5);
    // the JSON names the filter as flags that give the same result again
    assert_eq!(v["filter"], format!("--since {since}"));
    assert!(all["filter"].is_null());
    // RFC 3339: f_refused_syndrop starts at 2026-11-22T02:27:54.6 or so; a day later is empty
    let v = tcp(&[REFUSED, "--since", "2026-11-23T00:00:00Z"]);
    assert_eq!(v["tcp_connections"]["connections"], 0);
    let v = tcp(&[REFUSED, "--until", "2026-11-23T00:00:00+01:00"]);
    assert_eq!(v["tcp_connections"]["connections"], 6);
    // SNI: all 12 handshakes of d_tls_resumption are for lab.test (tshark)
    let v = tcp(&[TLS, "--sni", "lab.test"]);
    assert_eq!(v["applications"]["tls"]["handshakes"], 12);
    assert_eq!(v["tcp_connections"]["connections"], 12);
    let v = tcp(&[TLS, "--sni", "*.test"]);
    assert_eq!(v["applications"]["tls"]["handshakes"], 12);
    let v = tcp(&[TLS, "--sni", "other.test"]);
    assert_eq!(v["applications"]["tls"]["handshakes"], 0);
    assert_eq!(v["tcp_connections"]["connections"], 0);
    // a server name matches the SNI
    let v = tcp(&[TLS, "--server", "lab.test:443"]);
    assert_eq!(v["tcp_connections"]["connections"], 12);
    // DNS queries by server port
    let dns = tcp(&[DNS]);
    let q = dns["applications"]["dns"]["queries"].as_u64().unwrap();
    assert!(q > 0);
    let v = tcp(&[DNS, "--port", "443"]);
    assert_eq!(v["applications"]["dns"]["queries"], 0);
}

#[test]
fn bad_filter_values_are_usage_errors() {
    for args in [
        ["--server", "10.0.0.1:99999"],
        ["--client", "example.com"],
        ["--since", "yesterday"],
        ["--port", "http"],
        ["--sni", "a b"],
    ] {
        let out = run(&["analyze", REFUSED, args[0], args[1]]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(args[0]), "{args:?}: {}", stderr(&out));
    }
}

/// Server, client and name filters on testdata/regress/filter/names-and-ipv6.pcap select the
/// connections tshark's display filters select (expected.tsv, written by
/// scripts/make-regress-filter.py). Before issue #11's fix `--server ::1` was refused as a bad
/// `:PORT` and `--server '*.example.com'` / `--sni '*.example.com'` panicked on the SNI and Host
/// names with a multi-byte character at the cut.
#[test]
fn filters_select_the_connections_tshark_selects() {
    const CAP: &str = "testdata/regress/filter/names-and-ipv6.pcap";
    let expected =
        std::fs::read_to_string(common::repo().join("testdata/regress/filter/expected.tsv"))
            .unwrap();
    assert_eq!(tcp(&[CAP])["tcp_connections"]["connections"], 9);
    let mut rows = 0;
    for line in expected.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (flag, value, streams) = (f[0], f[1], f[3].parse::<u64>().unwrap());
        let v = tcp(&[CAP, flag, value]);
        assert_eq!(
            v["tcp_connections"]["connections"], streams,
            "{flag} {value} (tshark -Y '{}')",
            f[2]
        );
        rows += 1;
    }
    assert!(rows >= 15, "{rows}");
}

#[test]
fn bad_server_and_client_forms_are_usage_errors_with_a_reason() {
    for (flag, value, says) in [
        ("--server", "999.1.1.1", "not a valid IPv4 address"),
        ("--server", "1.2.3", "not a valid IPv4 address"),
        ("--server", "999.1.1.1:443", "not a valid IPv4 address"),
        ("--server", "10.0.0.0/33", "not a prefix length (0 to 32"),
        ("--server", "::/129", "not a prefix length (0 to 128"),
        ("--server", "[::1", "missing ']'"),
        ("--server", "::1:443:x", "[ADDRESS]:PORT"),
        ("--server", "a..b", "empty label"),
        ("--client", "999.1.1.1", "not a valid IPv4 address"),
        ("--client", "::1:80x", "not an IPv6 address"),
        ("--client", "*.example.com", "not a name"),
        ("--sni", "10.0.0.1", "is not a host name (an IP address"),
        ("--sni", "999.1.1.1", "not a valid IPv4 address"),
    ] {
        let out = run(&["analyze", REFUSED, flag, value]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(
            err.contains(flag) && err.contains(says),
            "{flag} {value}: {err}"
        );
    }
    // IPv6 forms are accepted (f_refused_syndrop is IPv4: nothing matches).
    for (flag, value) in [
        ("--server", "::1"),
        ("--server", "::/0"),
        ("--server", "[::1]:443"),
        ("--server", "2001:db8::/32"),
        ("--server", "[2001:db8::/32]:443"),
        ("--client", "::1"),
        ("--client", "fd00::/8"),
    ] {
        assert_eq!(
            tcp(&[REFUSED, flag, value])["tcp_connections"]["connections"],
            0,
            "{flag} {value}"
        );
    }
    // A rule's scope is parsed the same way, the error at the value.
    let dir = std::env::temp_dir().join(format!("pcapstat-scope-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nrule = 'connect.p95 < \"1s\"'\nserver = \"999.1.1.1\"\n",
    )
    .unwrap();
    let out = run(&["check", REFUSED, "--rules", rules.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("3:10") && err.contains("not a valid IPv4 address"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn filters_apply_to_the_parquet_tables() {
    let dir = std::env::temp_dir().join(format!("pcapstat-filter-csv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run(&[
        "analyze",
        REFUSED,
        "--port",
        "81",
        "--csv",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let csv = std::fs::read_to_string(dir.join("connections.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn figures_lists_names_and_values() {
    let out = run(&["figures"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("connect.p95"), "{text}");
    assert!(
        text.contains("tcp.retransmission_rate        ratio, lower is better"),
        "{text}"
    );
    let out = run(&["figures", REFUSED, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["connections.refused"], 3);
    assert!(v["dns.latency.p99"].is_null());
    let out = run(&["figures", REFUSED, "--port", "82"]);
    let text = stdout(&out);
    assert!(
        text.contains("tcp.syn_retries                3\n"),
        "{text}"
    );
    assert!(
        text.contains("dns.latency.p99                no data\n"),
        "{text}"
    );
    assert_eq!(
        run(&["figures", "testdata/broken/text-file.pcap"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn junit_reports_an_unreadable_capture_as_an_error() {
    let r = rules(
        "junit-error",
        "[[rule]]\nrule = 'connections.refused < 100'\n",
    );
    let xml_path = r.with_file_name("report.xml");
    let out = run(&[
        "check",
        "testdata/broken/text-file.pcap",
        REFUSED,
        "--rules",
        s(&r),
        "--junit",
        s(&xml_path),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let xml = std::fs::read_to_string(&xml_path).expect("JUnit written despite the error");
    assert!(
        xml.contains(
            "<testsuites name=\"pcapstat check\" tests=\"2\" failures=\"0\" errors=\"1\">"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<error message=\"not a pcap or pcapng file"),
        "{xml}"
    );
    // still well-formed
    let mut reader = quick_xml::Reader::from_str(&xml);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Eof => break,
            _ => continue,
        }
    }
}

/// Issue #14: side files are read with a size limit: `check --rules /dev/zero` is a usage
/// error naming the limit, not memory growing until the process is killed.
#[cfg(unix)]
#[test]
fn endless_rules_file_is_an_error() {
    let out = run(&["check", REFUSED, "--rules", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("larger than 16777216 bytes"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_takes_a_directory_of_captures() {
    let dir = common::repo().join("testdata/lab/f_refused_syndrop");
    let rules =
        std::env::temp_dir().join(format!("pcapstat-dir-rules-{}.toml", std::process::id()));
    std::fs::write(&rules, "[[rule]]\nrule = 'connections.count > 0'\n").unwrap();
    let out = run(&[
        "check",
        "--format",
        "json",
        "--rules",
        rules.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&rules);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    // Both captures of the directory, each checked.
    assert!(
        text.contains("capture.pcap\"") && text.contains("capture.pcapng\""),
        "{text}"
    );
}

/// WebSocket figures in rules: the bundled k_websocket capture has one connection the server
/// dropped without a close frame and 1.5 s server stalls (docs/websocket.md).
#[test]
fn check_websocket_figures() {
    let cap = "testdata/lab/k_websocket/capture.pcap";
    let keys = "testdata/lab/k_websocket/sslkeylog.txt";
    let r = rules(
        "websocket",
        "[[rule]]\nrule = 'websocket.abnormal_closes == 0'\n\
         [[rule]]\nrule = 'websocket.max_idle.max < 1s'\n\
         [[rule]]\nrule = 'websocket.ping_rtt.p50 < 1ms'\n\
         [[rule]]\nrule = 'websocket.connections == 6'\n",
    );
    let out = run(&["check", cap, "--keylog", keys, "--rules", s(&r)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("2 passed, 2 failed"), "{text}");
    let line = |rule: &str| {
        text.lines()
            .find(|l| l.contains(rule))
            .unwrap_or_else(|| panic!("{rule}: {text}"))
            .to_string()
    };
    assert!(line("websocket.abnormal_closes").contains("FAIL"), "{text}");
    assert!(line("websocket.max_idle.max").contains("1.5s"), "{text}");
    assert!(line("websocket.ping_rtt.p50").contains("pass"), "{text}");
}

#[test]
fn check_gates_https_without_keys_on_the_inferred_figures() {
    // d_tls_resumption without its key log: the lab's 12 HTTPS requests (one per connection,
    // the nginx log) are inferred from the encrypted records; their figures are apart from the
    // parsed ones (http.requests stays 0) and can be gated on.
    let r = rules(
        "inferred-pass",
        r#"
[[rule]]
rule = 'http.inferred.requests == 12'
[[rule]]
rule = 'http.requests == 0'
[[rule]]
rule = 'http.inferred.wait.p95 < "50ms"'
[[rule]]
rule = 'http.inferred.total.p95 < "1s"'
"#,
    );
    let out = run(&["check", TLS, "--rules", s(&r)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // The loopback lab answers in well under a millisecond: a 10 µs budget fails.
    let r = rules(
        "inferred-fail",
        "[[rule]]\nrule = 'http.inferred.wait.p95 < \"10us\"'\n",
    );
    let out = run(&["check", TLS, "--rules", s(&r)]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("http.inferred.wait.p95"),
        "{}",
        stdout(&out)
    );
}
