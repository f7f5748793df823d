//! The parallel pipeline: the same output for any thread count (records, counters, what the
//! sinks saw), the same records as one unsharded tracker, and errors that end it cleanly.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;

use pcapstat_core::fuzzing::{
    run_with_udp, ConnMeta, Decoder, Direction, PipelineConfig, PipelineOutput, SinkFactory,
    StreamSink, TcpTracker, Transport,
};
use pcapstat_core::{Capture, CaptureError, ConnectionRecord, DecodeLimits, TcpConfig};

mod common;

/// A sink that digests everything it is given, so that two runs can be compared.
/// (time, kind and direction, length, hash of the bytes).
type Event = (i64, u8, u64, u64);

#[derive(Debug, Default)]
struct Digest {
    conn: u64,
    events: Vec<Event>,
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn dir_code(d: Direction) -> u8 {
    match d {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

impl StreamSink for Digest {
    fn on_data(&mut self, ts: i64, dir: Direction, bytes: &[u8]) {
        self.events
            .push((ts, dir_code(dir), bytes.len() as u64, fnv(bytes)));
    }
    fn on_gap(&mut self, ts: i64, dir: Direction, len: u64) {
        self.events.push((ts, 2 + dir_code(dir), len, 0));
    }
    fn on_close(&mut self, ts: i64, dir: Direction) {
        self.events.push((ts, 4 + dir_code(dir), 0, 0));
    }
}

/// Collects the digests of the closed connections of one shard.
#[derive(Debug, Default)]
struct Digests(Vec<(u64, Vec<Event>)>);

impl SinkFactory for Digests {
    type Sink = Digest;
    fn open(&mut self, conn: &ConnMeta) -> Digest {
        Digest {
            conn: conn.conn_id,
            events: Vec::new(),
        }
    }
    fn close(&mut self, sink: Digest, record: &mut ConnectionRecord) {
        assert_eq!(sink.conn, record.conn_id);
        self.0.push((sink.conn, sink.events));
    }
}

fn run(path: &Path, threads: usize) -> Result<PipelineOutput<Digests>, CaptureError> {
    run_chunked(path, threads, 0)
}

fn run_chunked(
    path: &Path,
    threads: usize,
    chunk_frames: u64,
) -> Result<PipelineOutput<Digests>, CaptureError> {
    run_capture(Capture::open(path)?, threads, chunk_frames)
}

/// The capture held in memory, as a mapped file is: a legacy pcap capture is then walked
/// ahead of the scan by other threads, its regions taken whole as chunks.
fn run_in_memory(
    path: &Path,
    threads: usize,
    chunk_frames: u64,
) -> Result<PipelineOutput<Digests>, CaptureError> {
    let bytes = std::fs::read(path).map_err(CaptureError::Io)?;
    run_capture(Capture::from_bytes(bytes)?, threads, chunk_frames)
}

fn run_capture(
    mut capture: Capture,
    threads: usize,
    chunk_frames: u64,
) -> Result<PipelineOutput<Digests>, CaptureError> {
    let mut cfg = PipelineConfig::default();
    cfg.threads = threads;
    cfg.chunk_frames = chunk_frames;
    run_with_udp(&mut capture, &cfg, |_| Digests::default(), &mut ())
}

/// Everything a run produced, in a comparable form (shard order is part of the contract).
fn fingerprint(out: &PipelineOutput<Digests>) -> String {
    let mut digests: Vec<_> = out.factories.iter().flat_map(|f| f.0.iter()).collect();
    digests.sort_by_key(|(id, _)| *id);
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        out.summary, out.connections, out.tcp, digests
    )
}

fn check_thread_counts(files: &[std::path::PathBuf], counts: &[usize]) -> usize {
    check_chunked(files, counts, &[0])
}

/// With several threads the capture is read in chunks (of `chunk_frames`; 0: the default):
/// the output must not depend on where their boundaries fall either.
fn check_chunked(files: &[std::path::PathBuf], counts: &[usize], chunks: &[u64]) -> usize {
    let mut connections = 0;
    for path in files {
        let Ok(one) = run(path, 1) else { continue };
        connections += one.connections.len();
        let want = fingerprint(&one);
        for &n in counts {
            for &c in chunks {
                let got = fingerprint(&run_chunked(path, n, c).unwrap());
                assert!(
                    got == want,
                    "{}: output with {n} threads (chunks of {c} frames) differs from 1 thread",
                    path.display()
                );
                // Held in memory (a compressed file is read as a stream all the same).
                let out = run_in_memory(path, n, c).unwrap();
                assert!(
                    fingerprint(&out) == want,
                    "{}: in memory, output with {n} threads (chunks of {c} frames) differs from \
                     1 thread",
                    path.display()
                );
            }
        }
    }
    connections
}

#[test]
fn same_output_for_any_thread_count_on_testdata_and_lab() {
    let mut files = common::files_under(&common::testdata());
    files.retain(|p| !p.to_string_lossy().contains("/expected/"));
    // Without the shared lab (outside CI), the bundled captures alone.
    let lab = common::shared_opt("the lab part of this test").map(|d| d.join("lab"));
    if let Some(lab) = &lab {
        files.extend(common::files_under(lab));
    }
    files.retain(|p| {
        let s = p.to_string_lossy();
        s.ends_with(".pcap") || s.ends_with(".pcapng") || s.ends_with(".gz") || s.ends_with(".zst")
    });
    let (min_files, min_conns) = if lab.is_some() { (40, 400) } else { (20, 50) };
    assert!(files.len() > min_files, "{} captures", files.len());
    let conns = check_thread_counts(&files, &[2, 3, 8]);
    assert!(conns > min_conns, "only {conns} connections compared");
    // Chunk boundaries everywhere: after every frame, every 7th, every 64th.
    check_chunked(&files, &[2, 3], &[1, 7, 64]);
}

#[test]
fn same_output_for_any_thread_count_on_shared_captures() {
    need_shared!();
    let mut files = common::files_under(&common::shared().join("captures"));
    files.retain(|p| {
        let s = p.to_string_lossy();
        s.ends_with(".pcap") || s.ends_with(".pcapng") || s.ends_with(".cap")
    });
    assert!(files.len() > 100, "{} captures", files.len());
    let conns = check_thread_counts(&files, &[4]);
    assert!(conns > 500, "only {conns} connections compared");
    // These hold the IP fragments, tunnels and damaged files: chunk boundaries between
    // the fragments of a datagram, and at the damage.
    check_chunked(&files, &[2], &[1, 5]);
}

/// One unsharded tracker fed in capture order: the pipeline must give the same records.
fn single_tracker(path: &Path) -> Vec<ConnectionRecord> {
    let mut capture = Capture::open(path).unwrap();
    let mut decoder = Decoder::new(DecodeLimits::default());
    let mut t = TcpTracker::new(TcpConfig::default());
    let mut end = i64::MIN;
    while let Some(frame) = capture.next_frame().unwrap() {
        end = end.max(frame.ts_ns);
        if let Some(Transport::Tcp(seg)) = decoder.decode(&frame).transport {
            t.on_segment(&seg);
        }
    }
    t.finish(end).records
}

#[test]
fn sharded_records_equal_one_unsharded_tracker() {
    need_shared!();
    let lab = common::shared().join("lab");
    let mut n = 0;
    for path in common::files_under(&lab) {
        let s = path.to_string_lossy();
        if !(s.ends_with("capture.pcap") || s.ends_with("capture.pcapng")) {
            continue;
        }
        let want = single_tracker(&path);
        let got = run(&path, 3).unwrap().connections;
        assert_eq!(got, want, "{}", path.display());
        n += want.len();
    }
    assert!(n > 150, "only {n} connections");
}

/// A reader that fails after `left` bytes.
struct Failing {
    data: std::io::Cursor<Vec<u8>>,
    left: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.left);
        let got = self.data.read(&mut buf[..n])?;
        self.left -= got;
        Ok(got)
    }
}

#[test]
fn read_error_ends_every_thread_count_with_the_error() {
    need_shared!();
    let path = common::shared().join("lab/g_load_tbf_retrans/capture.pcap");
    let bytes = std::fs::read(&path).unwrap();
    for threads in [1, 2, 4] {
        let reader = Failing {
            left: bytes.len() / 2,
            data: std::io::Cursor::new(bytes.clone()),
        };
        let mut capture = Capture::from_reader(reader).unwrap();
        let mut cfg = PipelineConfig::default();
        cfg.threads = threads;
        let err = run_with_udp(&mut capture, &cfg, |_| Digests::default(), &mut ()).unwrap_err();
        assert!(
            matches!(err, CaptureError::Io(_)),
            "{threads} threads: {err}"
        );
    }
}

#[test]
fn zero_threads_means_all_cores() {
    let cfg = PipelineConfig::default();
    assert_eq!(cfg.threads, 0);
    assert!(cfg.effective_threads() >= 1);
}

/// `PipelineConfig::progress` ends at the length of the capture (a plain file: every byte is
/// consumed), for the inline and the parallel reader.
#[test]
fn progress_reaches_the_capture_length() {
    need_shared!();
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let path = common::shared().join("lab/g_load_tbf_retrans/capture.pcap");
    let len = std::fs::metadata(&path).unwrap().len();
    for threads in [1, 2] {
        let progress = Arc::new(AtomicU64::new(0));
        let mut cfg = PipelineConfig::default();
        cfg.threads = threads;
        cfg.progress = Some(progress.clone());
        let mut capture = Capture::open(&path).unwrap();
        let out = run_with_udp(&mut capture, &cfg, |_| Digests::default(), &mut ()).unwrap();
        assert_eq!(out.summary.frames, 20348);
        assert_eq!(progress.load(Ordering::Relaxed), len, "{threads} threads");
    }
}
