//! `pcapstat analyze` end to end: output, JSON keys and exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

fn testdata(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
        .display()
        .to_string()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcapstat"))
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS")
        .output()
        .expect("run pcapstat")
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn text_report_on_a_lab_capture() {
    let out = run(&["analyze", &testdata("lab/f_refused_syndrop/capture.pcap")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    // capinfos: 30 packets; tshark io,stat: 30 ip, 30 tcp.
    assert!(text.contains("frames        30"), "{text}");
    assert!(text.contains("TCP           30 (100.0%)"), "{text}");
    assert!(text.contains("Ethernet (1): 30"), "{text}");
    assert!(out.stderr.is_empty());
}

#[test]
fn json_has_the_documented_keys_and_values() {
    let out = run(&[
        "analyze",
        "--format",
        "json",
        &testdata("lab/e_dns/capture.pcap"),
        &testdata("compressed/compressed-zstd.bin"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let objs = json_lines(&out);
    assert_eq!(objs.len(), 2);
    for key in [
        "file", "format", "frames", "bytes", "ipv4", "ipv6", "tcp", "udp", "first_ts", "last_ts",
        "damaged",
    ] {
        assert!(objs[0].get(key).is_some(), "missing {key}");
    }
    // e_dns: 62 frames (capinfos).
    assert_eq!(objs[0]["frames"], 62);
    assert_eq!(objs[0]["format"], "pcap");
    assert!(objs[0]["damaged"].is_null());
    assert!(objs[0]["first_ts"].as_i64().unwrap() <= objs[0]["last_ts"].as_i64().unwrap());
    assert_eq!(objs[1]["compression"], "zstd");
    // compressed-zstd.bin is lab/f_refused_syndrop/capture.pcap under zstd (testdata/SOURCES.tsv).
    assert_eq!(objs[1]["format"], "pcap");
    assert_eq!(objs[1]["frames"], 30);
}

#[test]
fn not_a_capture_is_exit_2_with_the_first_bytes() {
    let out = run(&["analyze", &testdata("broken/text-file.pcap")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
    assert!(err.contains("text-file.pcap"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn damaged_capture_warns_and_strict_fails() {
    let file = testdata("broken/pcap-trunc-packet-data.pcap");
    let out = run(&["analyze", "--format", "json", &file]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("capture damaged at byte 1842 after frame 20"),
        "{err}"
    );
    let obj = &json_lines(&out)[0];
    assert_eq!(obj["frames"], 20);
    assert_eq!(obj["damaged"]["offset"], 1842);
    assert_eq!(obj["damaged"]["frame"], 20);

    let strict = run(&["analyze", "--strict", &file]);
    assert_eq!(strict.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("error"));
}

#[test]
fn standard_input_is_read() {
    use std::io::Write;
    use std::process::Stdio;
    let bytes = std::fs::read(testdata("compressed/f_refused_syndrop.pcap.gz")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pcapstat"))
        .args(["analyze", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let obj = &json_lines(&out)[0];
    assert_eq!(obj["frames"], 30);
    assert_eq!(obj["compression"], "gzip");
}

#[test]
fn help_has_examples_and_version_works() {
    let help = run(&["analyze", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));
    let version = run(&["--version"]);
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("pcapstat "));
}

#[test]
fn connections_in_json_match_tshark_and_curl() {
    // tshark (testdata/expected/tcp_conns/lab/f_refused_syndrop.tsv): streams 0-2 answered by a
    // server RST, stream 3 four SYNs without answer, streams 4-5 FIN both ways; curl exit codes
    // 7 (refused) x3 and 28 (timeout) agree.
    let out = run(&[
        "analyze",
        "--format",
        "json",
        &testdata("lab/f_refused_syndrop/capture.pcapng"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let obj = &json_lines(&out)[0];
    let tcp = &obj["tcp_connections"];
    assert_eq!(tcp["connections"], 6);
    assert_eq!(tcp["outcomes"]["refused"], 3);
    assert_eq!(tcp["outcomes"]["timeout"], 1);
    assert_eq!(tcp["outcomes"]["closed"], 2);
    assert_eq!(tcp["connect"]["count"], 2);
    assert_eq!(tcp["initial_rtt"]["count"], 2);
    // tshark tcp.analysis.initial_rtt of streams 4 and 5: 79 and 152 µs.
    let max = tcp["initial_rtt"]["max_ns"].as_i64().unwrap();
    assert_eq!((max + 500) / 1000, 152);
    let failures = tcp["failures"].as_array().unwrap();
    assert!(failures.contains(
        &serde_json::json!({"server": "10.88.7.2:81", "failure": "refused", "connections": 3})
    ));
    assert!(failures.contains(
        &serde_json::json!({"server": "10.88.7.2:82", "failure": "timeout", "connections": 1})
    ));
}

#[test]
fn text_report_has_connections_and_failures() {
    let out = run(&["analyze", &testdata("lab/f_refused_syndrop/capture.pcap")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("TCP connections  6 (closed 2, refused 3, timeout 1)"),
        "{text}"
    );
    assert!(text.contains("failed        4 of 6 (66.67%)"), "{text}");
    assert!(
        text.contains("  refused                    3  to 10.88.7.2:81"),
        "{text}"
    );
    assert!(
        text.contains("  timeout                    1  to 10.88.7.2:82"),
        "{text}"
    );
}

/// Issue #11, bug 9: the README's capture — 12 requests all answered 200 (curl's log in
/// ../shared/lab/d_tls_resumption), 11 connections ended by nginx with a reset — has no failed
/// connection; the resets are named as what they are.
#[test]
fn resets_after_complete_exchanges_are_not_failures_in_the_report() {
    let file = testdata("lab/d_tls_resumption/capture-with-keys.pcapng");
    let out = run(&["analyze", &file]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("reset 11"), "{text}");
    assert!(
        text.contains("failed        0 of 12 (0.00%); 11 reset after a complete exchange"),
        "{text}"
    );
    assert!(!text.contains("Failed connections"), "{text}");
    let out = run(&["analyze", "--format", "json", &file]);
    let obj = &json_lines(&out)[0];
    assert_eq!(obj["tcp_connections"]["failed"], 0);
    assert_eq!(obj["tcp_connections"]["reset_after_exchange"], 11);
    let figures = &obj["figures"];
    assert_eq!(figures["connections.failed"], 0, "{figures}");
    assert_eq!(figures["connections.failure_rate"], 0.0);
}

#[test]
fn output_is_identical_for_any_thread_count() {
    let file = testdata("lab/d_tls_resumption/capture.pcapng");
    let one = run(&["analyze", "--format", "json", "--threads", "1", &file]);
    assert_eq!(one.status.code(), Some(0));
    for n in ["2", "5"] {
        let many = run(&["analyze", "--format", "json", "--threads", n, &file]);
        assert_eq!(one.stdout, many.stdout, "--threads {n}");
    }
    // Read instead of mapped: the same (its frames stay in the reading buffers, which the
    // chunks hold while the stream reads on into others).
    for n in ["1", "2", "3"] {
        let read = run(&[
            "analyze",
            "--format",
            "json",
            "--no-mmap",
            "--threads",
            n,
            &file,
        ]);
        assert_eq!(one.stdout, read.stdout, "--no-mmap --threads {n}");
    }
}

#[test]
fn parquet_connections_table_is_written_and_reads_back() {
    use pcapstat::polars::prelude::{DataType, ParquetReader, SerReader, TimeUnit, TimeZone};
    let dir = std::env::temp_dir().join(format!("pcapstat-cli-parquet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let a = testdata("lab/f_refused_syndrop/capture.pcapng");
    let b = testdata("lab/d_tls_resumption/capture.pcap");
    let out = run(&[
        "analyze",
        "--format",
        "json",
        "--parquet",
        dir.to_str().unwrap(),
        &a,
        &b,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objs = json_lines(&out);
    let expected_rows: u64 = objs
        .iter()
        .map(|o| o["tcp_connections"]["connections"].as_u64().unwrap())
        .sum();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(
        names,
        ["connections", "dns", "http", "quic", "tls", "websocket"].map(|t| format!("{t}.parquet")),
        "one file per table, no temporary files left"
    );
    // tshark's ts_tls.tsv: 12 TLS streams in d_tls_resumption, 1 in f_refused_syndrop (the
    // handshake the server ends with an alert).
    let tls = ParquetReader::new(std::fs::File::open(dir.join("tls.parquet")).unwrap())
        .finish()
        .unwrap();
    assert_eq!(tls.height(), 13);
    let alerts = tls.column("alert").unwrap().str().unwrap().clone();
    // tshark: server:protocol_version(70)
    assert_eq!(alerts.get(0), Some("protocol_version"), "{tls}");
    let file = std::fs::File::open(dir.join("connections.parquet")).unwrap();
    let df = ParquetReader::new(file).finish().unwrap();
    assert_eq!(df.height() as u64, expected_rows);
    let schema = df.schema();
    assert_eq!(
        schema.get("start"),
        Some(&DataType::Datetime(
            TimeUnit::Nanoseconds,
            Some(TimeZone::UTC)
        ))
    );
    assert_eq!(
        schema.get("connect"),
        Some(&DataType::Duration(TimeUnit::Nanoseconds))
    );
    assert_eq!(schema.get("client_port"), Some(&DataType::UInt16));
    // the capture column names each row's file, in argument order
    let capture = df.column("capture").unwrap().str().unwrap().clone();
    assert_eq!(capture.get(0), Some(a.as_str()));
    assert_eq!(capture.get(df.height() - 1), Some(b.as_str()));
    let refused = df
        .column("outcome")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .filter(|o| *o == Some("refused"))
        .count();
    assert_eq!(refused, 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn partition_refuses_usage_it_cannot_honour() {
    let cap = testdata("lab/e_dns/capture.pcap");
    let dir = std::env::temp_dir().join(format!("pcapstat-partition-{}", std::process::id()));
    // The same input twice would write one partition over the other.
    let out = run(&[
        "analyze",
        "--partition",
        "--parquet",
        &dir.display().to_string(),
        &cap,
        &cap,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is given twice"));
    assert!(!dir.exists(), "nothing is written on a usage error");
    // Nothing to partition.
    let out = run(&["analyze", "--partition", &cap]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--partition needs"));
}

#[test]
fn partition_writes_one_directory_per_capture() {
    let a = testdata("lab/e_dns/capture.pcap");
    let b = testdata("lab/f_refused_syndrop/capture.pcap");
    let dir = std::env::temp_dir().join(format!("pcapstat-partition-ok-{}", std::process::id()));
    let out = run(&[
        "analyze",
        "--format",
        "json",
        "--partition",
        "--parquet",
        &dir.display().to_string(),
        &a,
        &b,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for table in ["connections", "tls", "http", "dns", "websocket", "quic"] {
        for cap in [&a, &b] {
            let part = dir
                .join(table)
                .join(format!("capture={}", pcapstat::partition_value(cap)))
                .join("part.parquet");
            assert!(part.is_file(), "{}", part.display());
        }
        assert_eq!(
            std::fs::read_dir(dir.join(table)).map(Iterator::count).ok(),
            Some(2)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keylog_decrypts_https_requests() {
    // d_tls_resumption: 12 HTTPS HTTP/1.1 requests (nginx access log), all encrypted.
    let requests = |args: &[&str]| {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&out)[0]["applications"]["http"]["requests"].clone()
    };
    let pcap = testdata("lab/d_tls_resumption/capture.pcap");
    let keys = testdata("lab/d_tls_resumption/sslkeylog.txt");
    assert_eq!(requests(&["analyze", "--format", "json", &pcap]), 0);
    assert_eq!(
        requests(&["analyze", "--format", "json", "--keylog", &keys, &pcap]),
        12
    );
    // The same keys embedded in the pcapng file (Decryption Secrets Block): no flag needed.
    let embedded = testdata("lab/d_tls_resumption/capture-with-keys.pcapng");
    assert_eq!(requests(&["analyze", "--format", "json", &embedded]), 12);
    // On standard input too (the DSB comes before the first packet).
    {
        use std::io::Write;
        use std::process::Stdio;
        let bytes = std::fs::read(&embedded).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pcapstat"))
            .args(["analyze", "--format", "json", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(json_lines(&out)[0]["applications"]["http"]["requests"], 12);
    }
    // A key log that cannot be read is an error (exit 2), named.
    let out = run(&["analyze", "--keylog", "/nonexistent/keys.txt", &pcap]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/keys.txt"), "{err}");
}

/// `--parquet` writes the table set all-or-nothing: a run killed at any moment leaves the
/// earlier run's four files as they were (never some new files beside old ones), and the next
/// run cleans up what the killed one left (docs/limits.md, "Table sets").
#[test]
#[cfg(unix)]
fn a_killed_run_leaves_the_old_table_set_whole() {
    use std::collections::BTreeMap;
    let base = std::env::temp_dir().join(format!("pcapstat-cli-killed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (old_dir, new_dir, out) = (base.join("old"), base.join("new"), base.join("out"));
    let old_input = [testdata("lab/e_dns/capture.pcap")];
    // Many inputs: the run spends long enough writing to be killed in the middle of it.
    let new_input: Vec<String> = (0..24)
        .map(|i| {
            let src = [
                "lab/d_tls_resumption/capture.pcapng",
                "lab/e_dns/capture.pcap",
            ][i % 2];
            testdata(src)
        })
        .collect();
    let write = |inputs: &[String], dir: &std::path::Path| {
        let mut args = vec!["analyze", "--format", "json", "--parquet"];
        let dir = dir.display().to_string();
        args.push(&dir);
        args.extend(inputs.iter().map(String::as_str));
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let tables = ["connections", "tls", "http", "dns", "websocket", "quic"];
    let read = |dir: &std::path::Path| -> BTreeMap<&str, Option<Vec<u8>>> {
        tables
            .iter()
            .map(|t| (*t, std::fs::read(dir.join(format!("{t}.parquet"))).ok()))
            .collect()
    };
    write(&old_input, &old_dir);
    write(&new_input, &new_dir);
    let (old, new) = (read(&old_dir), read(&new_dir));
    assert_ne!(old, new);
    let mut seen_old_after_kill = 0;
    for delay_ms in (0..60).step_by(3) {
        let _ = std::fs::remove_dir_all(&out);
        write(&old_input, &out);
        let mut args = vec!["analyze".to_string(), "--format".into(), "json".into()];
        args.extend(["--parquet".to_string(), out.display().to_string()]);
        args.extend(new_input.iter().cloned());
        let mut child = Command::new(env!("CARGO_BIN_EXE_pcapstat"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no destructor runs
        let _ = child.wait();
        let now = read(&out);
        assert!(
            now == old || now == new,
            "a mix after a kill at {delay_ms} ms"
        );
        seen_old_after_kill += usize::from(now == old);
        // The next run finds what the killed one left and cleans it up.
        write(&new_input, &out);
        assert_eq!(read(&out), new);
        let leftovers: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    assert!(seen_old_after_kill > 0, "no kill landed before the commit");
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn a_directory_stands_for_its_capture_files() {
    let dir = testdata("lab/d_tls_resumption");
    let out = run(&["analyze", "--format", "json", &dir]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let files: Vec<String> = json_lines(&out)
        .iter()
        .map(|o| o["file"].as_str().unwrap().to_string())
        .collect();
    // The key log beside them is not a capture; natural name order.
    let names: Vec<&str> = files
        .iter()
        .map(|f| f.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["capture-with-keys.pcapng", "capture.pcap", "capture.pcapng"]
    );
    // A directory without a capture is an error.
    let empty = std::env::temp_dir().join(format!("pcapstat-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "no capture here").unwrap();
    let out = run(&["analyze", empty.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&empty);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a directory without a capture file"));
}

/// Splits a little-endian pcap into files of `dir` named `names`, cut at the frame indices
/// `cuts` (as `editcap -c`, with uneven sizes).
#[allow(clippy::unwrap_used)]
fn split_pcap(whole: &str, cuts: &[usize], dir: &std::path::Path, names: &[&str]) -> Vec<String> {
    let bytes = std::fs::read(whole).unwrap();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut records = Vec::new();
    let mut pos = 24;
    while pos < bytes.len() {
        let len = 16 + u32_at(pos + 8);
        records.push(&bytes[pos..pos + len]);
        pos += len;
    }
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(records.len());
    std::fs::create_dir_all(dir).unwrap();
    bounds
        .windows(2)
        .zip(names)
        .map(|(w, name)| {
            let mut out = bytes[..24].to_vec();
            for r in &records[w[0]..w[1]] {
                out.extend_from_slice(r);
            }
            let path = dir.join(name);
            std::fs::write(&path, out).unwrap();
            path.display().to_string()
        })
        .collect()
}

/// The JSON report without what names the input.
#[allow(clippy::unwrap_used)]
fn without_names(mut v: serde_json::Value) -> serde_json::Value {
    let o = v.as_object_mut().unwrap();
    o.remove("file");
    o.remove("inputs");
    v
}

#[test]
fn merge_reads_rotated_files_as_one_capture() {
    let base = std::env::temp_dir().join(format!("pcapstat-cli-merge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dir = base.join("rotated");
    let whole = testdata("lab/d_tls_resumption/capture.pcap");
    // tcpdump -C names; the connections of this capture span the cuts.
    let parts = split_pcap(
        &whole,
        &[50, 120],
        &dir,
        &["trace.pcap", "trace.pcap1", "trace.pcap2"],
    );
    let dir_arg = format!("{}/", dir.display());
    let reference = run(&["analyze", "--format", "json", &whole]);
    let reference = without_names(json_lines(&reference).remove(0));
    let mut stdouts = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = run(&[
            "analyze",
            "--format",
            "json",
            "--merge",
            "--threads",
            threads,
            &dir_arg,
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let objs = json_lines(&out);
        assert_eq!(objs.len(), 1, "one capture");
        // Named by the directory, trailing `/` dropped; its files listed.
        assert_eq!(objs[0]["file"], dir.display().to_string());
        let inputs: Vec<&str> = objs[0]["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["file"].as_str().unwrap())
            .collect();
        assert_eq!(inputs, parts);
        assert_eq!(without_names(objs[0].clone()), reference);
        stdouts.push(out.stdout);
    }
    assert!(stdouts.windows(2).all(|w| w[0] == w[1]));
    // Without --merge: three captures, and other connections (the test can fail).
    let separate = run(&["analyze", "--format", "json", &dir_arg]);
    let separate = json_lines(&separate);
    assert_eq!(separate.len(), 3);
    let conns = |o: &serde_json::Value| o["tcp_connections"]["connections"].as_u64().unwrap();
    assert_ne!(
        separate.iter().map(conns).sum::<u64>(),
        conns(&reference),
        "a connection spans the files"
    );
    // Files given one by one: named by the first and how many more.
    let out = run(&[
        "analyze", "--format", "json", "--merge", &parts[0], &parts[1], &parts[2],
    ]);
    assert_eq!(json_lines(&out)[0]["file"], format!("{}+2", parts[0]));
    // One file: as without --merge.
    let one = run(&["analyze", "--format", "json", "--merge", &whole]);
    assert_eq!(
        one.stdout,
        run(&["analyze", "--format", "json", &whole]).stdout
    );
    // Standard input cannot be merged.
    let out = run(&["analyze", "--merge", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("standard input (-) cannot be merged"));
    // A partition per merge, named by the directory.
    let tables = base.join("out");
    let out = run(&[
        "analyze",
        "--merge",
        &dir_arg,
        "--partition",
        "--parquet",
        tables.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let partitions: Vec<String> = std::fs::read_dir(tables.join("connections"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let encoded = dir.display().to_string().replace('/', "%2F");
    assert_eq!(partitions, [format!("capture={encoded}")]);
    // Damage in one file: a warning naming it; the other files are read.
    let last = std::fs::read(&parts[1]).unwrap();
    std::fs::write(&parts[1], &last[..last.len() - 5]).unwrap();
    let out = run(&["analyze", "--format", "json", "--merge", &dir_arg]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("capture damaged in {} at byte", parts[1])),
        "{stderr}"
    );
    let obj = json_lines(&out).remove(0);
    assert_eq!(obj["damaged"]["file"], parts[1].as_str());
    assert_eq!(obj["damaged"]["frame"], 69);
    assert_eq!(obj["frames"], 196 - 1);
    assert!(obj["inputs"][1]["damaged"].is_object() && obj["inputs"][2]["damaged"].is_null());
    let strict = run(&["analyze", "--strict", "--merge", &dir_arg]);
    assert_eq!(strict.status.code(), Some(2));
    let check = run(&[
        "check",
        "--merge",
        &dir_arg,
        "--rules",
        "/nonexistent-rules.toml",
    ]);
    assert_eq!(check.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn har_is_one_capture_written_atomically() {
    let dir = std::env::temp_dir().join(format!("pcapstat-cli-har-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let har = dir.join("out.har");
    let har_arg = har.display().to_string();
    let capture = testdata("lab/d_tls_resumption/capture-with-keys.pcapng");
    let out = run(&["analyze", "--format", "json", &capture, "--har", &har_arg]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let report = &json_lines(&out)[0];
    let entries = doc["log"]["entries"].as_array().unwrap();
    assert_eq!(
        entries.len() as u64,
        report["applications"]["http"]["requests"].as_u64().unwrap()
    );
    assert!(!entries.is_empty());
    // `--har` keeps the headers: the request's and response's fields, the reason phrase.
    let names_of = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_string())
            .collect()
    };
    let first = &entries[0];
    assert_eq!(
        names_of(&first["request"]["headers"]),
        ["Host", "User-Agent", "Connection"]
    );
    assert!(names_of(&first["response"]["headers"]).contains(&"Content-Type".to_string()));
    assert_eq!(first["response"]["statusText"], "OK");
    assert_eq!(first["_pcapstat"]["headers_dropped"], 0);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["out.har"], "no temporary file left");

    // Filters apply to the HAR as to the tables.
    let out = run(&[
        "analyze",
        &capture,
        "--har",
        &har_arg,
        "--server",
        "192.0.2.99",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    assert_eq!(doc["log"]["entries"].as_array().map(Vec::len), Some(0));

    // Several captures: an error before anything is read, the file left as it was.
    std::fs::remove_file(&har).unwrap();
    let other = testdata("lab/e_dns/capture.pcap");
    let out = run(&["analyze", &capture, &other, "--har", &har_arg]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--har writes one capture") && err.contains("--merge"),
        "{err}"
    );
    assert!(!har.exists());

    // Not a capture: exit 2, no HAR.
    let out = run(&["analyze", &testdata("SOURCES.tsv"), "--har", &har_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!har.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The data blob of an HTML report (`--html`), as JSON.
fn html_data(path: &std::path::Path) -> serde_json::Value {
    let page = std::fs::read_to_string(path).expect("the page");
    let open = "<script type=\"application/json\" id=\"pcapstat-data\">";
    let start = page.find(open).expect("the data element") + open.len();
    let end = start + page[start..].find("</script>").expect("its end");
    serde_json::from_str(&page[start..end]).expect("the data is JSON")
}

#[test]
fn html_is_one_capture_written_atomically() {
    let dir = std::env::temp_dir().join(format!("pcapstat-cli-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    let html_arg = html.display().to_string();
    let capture = testdata("lab/d_tls_resumption/capture-with-keys.pcapng");
    let out = run(&["analyze", "--format", "json", &capture, "--html", &html_arg]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = &json_lines(&out)[0];
    let data = html_data(&html);
    let rows = data["waterfall"]["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert_eq!(
        rows.len() as u64,
        report["applications"]["http"]["requests"].as_u64().unwrap()
    );
    // The page's report is the JSON report (lists of the page's own length).
    assert_eq!(data["report"]["hosts"], report["hosts"]);
    assert_eq!(
        data["report"]["tcp_connections"]["connect"],
        report["tcp_connections"]["connect"]
    );
    assert_eq!(data["title"], capture.as_str());
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.html"], "no temporary file left");

    // The row cap, and a filter named on the page.
    let out = run(&[
        "analyze",
        &capture,
        "--html",
        &html_arg,
        "--html-max-rows",
        "3",
        "--port",
        "443",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let data = html_data(&html);
    assert_eq!(data["waterfall"]["rows"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        data["waterfall"]["requests"],
        report["applications"]["http"]["requests"]
    );
    assert!(data["waterfall"]["hidden"]["requests"].as_u64() > Some(0));
    assert_eq!(data["filter"], "port 443");

    // --merge: one page of several files.
    let other = testdata("lab/e_dns/capture.pcap");
    let out = run(&["analyze", "--merge", &capture, &other, "--html", &html_arg]);
    assert_eq!(out.status.code(), Some(0));
    let data = html_data(&html);
    assert_eq!(
        data["waterfall"]["rows"].as_array().map(Vec::len),
        Some(rows.len())
    );
    assert!(data["report"]["applications"]["dns"]["queries"].as_u64() > Some(0));

    // Several captures without --merge: an error before anything is read.
    std::fs::remove_file(&html).unwrap();
    let out = run(&["analyze", &capture, &other, "--html", &html_arg]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--html writes one capture") && err.contains("--merge"),
        "{err}"
    );
    assert!(!html.exists());

    // Not a capture: exit 2, no page.
    let out = run(&["analyze", &testdata("SOURCES.tsv"), "--html", &html_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!html.exists());
    // --html-max-rows needs --html.
    let out = run(&["analyze", &capture, "--html-max-rows", "3"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
