//! Helpers shared by the integration tests: where the repository, its testdata and the shared
//! captures are, and a full scan of one capture.
#![allow(dead_code)]

pub mod ws;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pcapstat_core::fuzzing::{Decoder, NullSinkFactory, TcpOutput, TcpTracker, Transport};
pub use pcapstat_core::Analysis;
use pcapstat_core::{Analyzer, Capture, CaptureError, CaptureSummary, DecodeLimits, TcpConfig};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `testdata/` of the repository.
pub fn testdata() -> PathBuf {
    repo().join("testdata")
}

/// Where the shared data (real captures and lab captures) is looked for: `$PCAPSTAT_SHARED`,
/// else `../shared` beside the repository.
fn shared_dir() -> PathBuf {
    std::env::var_os("PCAPSTAT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared"))
}

/// The shared data. Missing shared data fails the test that needs it (an oracle test must not
/// pass by having nothing to compare): tests that can be skipped call [`need_shared!`] first.
pub fn shared() -> PathBuf {
    let dir = shared_dir();
    assert!(
        dir.join("captures").is_dir(),
        "shared captures not found at {} (set PCAPSTAT_SHARED)",
        dir.display()
    );
    dir
}

/// The shared data, or `None` when it is missing and this is not CI (`CI` unset or not
/// `true`): the caller skips, and says so on the terminal (past the test harness' capture).
/// In CI a missing `../shared` fails, as an oracle test must not pass by comparing nothing.
pub fn shared_opt(test: &str) -> Option<PathBuf> {
    let dir = shared_dir();
    if dir.join("captures").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "shared captures not found at {} (set PCAPSTAT_SHARED); CI=true: not skipped",
        dir.display()
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: it compares against the shared captures, not found at {} (clone \
         beside ../shared or set PCAPSTAT_SHARED)",
        dir.display()
    );
    None
}

/// Returns from the calling test when the shared data is missing outside CI (see
/// [`shared_opt`]).
#[macro_export]
macro_rules! need_shared {
    () => {
        if $crate::common::shared_opt(module_path!()).is_none() {
            return;
        }
    };
}

/// Resolves a fixture path: `testdata/...` in the repository, `captures/...` and `lab/...` in the
/// shared data.
pub fn resolve(path: &str) -> PathBuf {
    if let Some(rest) = path.strip_prefix("testdata/") {
        testdata().join(rest)
    } else {
        shared().join(path)
    }
}

/// Reads and decodes a whole capture.
pub fn scan(path: &Path) -> Result<CaptureSummary, CaptureError> {
    let mut capture = Capture::open(path)?;
    CaptureSummary::scan(&mut capture, &mut Decoder::new(DecodeLimits::default()))
}

/// Reads and decodes a capture held in memory.
pub fn scan_bytes(bytes: Vec<u8>) -> Result<CaptureSummary, CaptureError> {
    let mut capture = Capture::from_bytes(bytes)?;
    CaptureSummary::scan(&mut capture, &mut Decoder::new(DecodeLimits::default()))
}

/// The JSON values of a JSON-lines file (a lab's client log).
pub fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Rows of a TSV fixture (comment lines starting with `#` skipped), as header-keyed maps.
pub fn tsv(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<String> = lines
        .next()
        .expect("fixture has a header")
        .split('\t')
        .map(String::from)
        .collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split('\t').map(String::from))
                .collect()
        })
        .collect()
}

/// Every capture file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Reader → decoder → one `TcpTracker` (default configuration) over a capture, up to the end of
/// what is readable (as tshark reads a damaged file up to the damage).
pub fn track(path: &Path) -> TcpOutput<NullSinkFactory> {
    let mut capture =
        Capture::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut decoder = Decoder::new(DecodeLimits::default());
    let mut t = TcpTracker::new(TcpConfig::default());
    let mut end = 0;
    while let Ok(Some(frame)) = capture.next_frame() {
        end = frame.ts_ns;
        if let Some(Transport::Tcp(seg)) = decoder.decode(&frame).transport {
            t.on_segment(&seg);
        }
    }
    t.finish(end)
}

/// The whole analysis (TCP, then TLS / HTTP / DNS over TCP by the client's first bytes, DNS over
/// UDP, the request join) of one capture on two threads, as the library runs it, up to the end
/// of what is readable.
pub fn analyze(path: &Path) -> Analysis {
    Analyzer::new()
        .threads(2)
        .analyze_path(path)
        .unwrap_or_else(|e| panic!("cannot analyse {}: {e}", path.display()))
}

/// Checks the differences found against an oracle with the list of known ones.
///
/// `known` is a TSV file (`#` lines are comments) whose first `key_columns` columns identify a
/// difference the way the test formats it in `found` (tab-joined), followed by a reason. Only
/// listed lines for which `selects` is true take part (one file may serve several tests). Fails
/// when a difference is not listed, when a listed one is no longer found, and when a listed one
/// has no reason: a difference is either fixed or explained.
pub fn check_known_differences(
    known: &Path,
    key_columns: usize,
    selects: impl Fn(&str) -> bool,
    found: &BTreeSet<String>,
    columns: &str,
) {
    let text = std::fs::read_to_string(known).unwrap_or_default();
    let mut listed = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let cells: Vec<&str> = line.split('\t').collect();
        let key = cells
            .iter()
            .take(key_columns)
            .copied()
            .collect::<Vec<_>>()
            .join("\t");
        if !selects(&key) {
            continue;
        }
        assert!(
            cells.get(key_columns).is_some_and(|r| !r.trim().is_empty()),
            "{}: listed difference without a reason: {line}",
            known.display()
        );
        listed.insert(key);
    }
    let new: Vec<&str> = found.difference(&listed).map(String::as_str).collect();
    let gone: Vec<&str> = listed.difference(found).map(String::as_str).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "{}\nnew differences ({columns}):\n{}\nlisted but gone:\n{}",
        known.display(),
        new.join("\n"),
        gone.join("\n")
    );
}

/// The file header of a classic pcap (µs timestamps, snap length 262 144, Ethernet), for
/// captures built in memory.
pub fn pcap_header() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    for x in [0u32, 0, 262_144, 1] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}
