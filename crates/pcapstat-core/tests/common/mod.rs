//! Helpers shared by the integration tests: where the repository, its testdata and the shared
//! captures are, and a full scan of one capture.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use pcapstat_core::{
    Capture, CaptureError, CaptureSummary, DecodeLimits, Decoder, NullSinkFactory, TcpConfig,
    TcpOutput, TcpTracker, Transport,
};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `testdata/` of the repository.
pub fn testdata() -> PathBuf {
    repo().join("testdata")
}

/// The shared data (real captures and lab captures): `$PCAPSTAT_SHARED`, else `../shared` beside the
/// repository. Missing shared data fails the test that needs it: an oracle test must not pass by
/// having nothing to compare.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("PCAPSTAT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared"));
    assert!(
        dir.join("captures").is_dir(),
        "shared captures not found at {} (set PCAPSTAT_SHARED)",
        dir.display()
    );
    dir
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
