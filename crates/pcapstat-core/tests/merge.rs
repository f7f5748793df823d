//! Several files of one capture point read as one timeline (`Capture::merge`,
//! `Analyzer::analyze_paths_merged`): a capture split in parts merges back into the whole
//! (same records, same summary, for any thread count, DSBs of the first part decrypting TLS
//! in later ones); interleaved files merge into mergecap's order; damage ends its own part.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pcapstat_core::{Analysis, Analyzer, Capture, CaptureItem, LinkType, MmapChoice};

mod common;

/// A temporary directory of this test process, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("pcapstat-merge-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The byte ranges of a capture file: its header (pcap: the 24-byte file header; pcapng: the
/// blocks before the first packet block other than DSBs), its DSBs before the first packet,
/// and one range per frame record (pcap record, or pcapng EPB). Little-endian files only.
struct Layout {
    header: Vec<u8>,
    secrets: Vec<u8>,
    frames: Vec<Vec<u8>>,
}

fn layout(bytes: &[u8]) -> Layout {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut l = Layout {
        header: Vec::new(),
        secrets: Vec::new(),
        frames: Vec::new(),
    };
    if u32_at(0) == 0x0A0D_0D0A {
        let mut pos = 0;
        while pos < bytes.len() {
            let (ty, len) = (u32_at(pos), u32_at(pos + 4));
            let block = bytes[pos..pos + len].to_vec();
            match ty {
                6 | 3 | 2 => l.frames.push(block),
                0xA if l.frames.is_empty() => l.secrets.extend(block),
                _ if l.frames.is_empty() => l.header.extend(block),
                // Statistics and the like after the packets: not needed by the tests.
                _ => {}
            }
            pos += len;
        }
    } else {
        assert_eq!(u32_at(0), 0xA1B2_C3D4, "little-endian µs pcap");
        l.header = bytes[..24].to_vec();
        let mut pos = 24;
        while pos < bytes.len() {
            let len = 16 + u32_at(pos + 8);
            l.frames.push(bytes[pos..pos + len].to_vec());
            pos += len;
        }
    }
    l
}

/// Splits `path` into parts at the frame indices `cuts` (`editcap -c` with uneven sizes),
/// written into `dir` as `part0.EXT`, `part1.EXT`...; the DSBs go into the first part only.
fn split(path: &Path, cuts: &[usize], dir: &Path) -> Vec<PathBuf> {
    let l = layout(&std::fs::read(path).unwrap());
    let ext = path.extension().unwrap().to_string_lossy();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(l.frames.len());
    bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let mut out = l.header.clone();
            if i == 0 {
                out.extend(&l.secrets);
            }
            for f in &l.frames[w[0]..w[1]] {
                out.extend(f);
            }
            let p = dir.join(format!("part{i}.{ext}"));
            std::fs::write(&p, out).unwrap();
            p
        })
        .collect()
}

/// Records of an analysis, comparable.
fn records(a: &Analysis) -> String {
    format!(
        "{:#?}\n{:#?}\n{:#?}\n{:#?}\n{:#?}",
        a.connections, a.tls, a.http, a.dns, a.timings
    )
}

fn analyzer(threads: usize) -> Analyzer {
    // Small chunks: chunk boundaries everywhere, also across the parts' boundaries.
    Analyzer::new().threads(threads).chunk_frames(7)
}

fn merged_equals_whole(whole: &Path, cuts: &[usize], keylog: Option<&Path>) {
    let dir = TempDir::new(&whole.file_name().unwrap().to_string_lossy());
    let parts = split(whole, cuts, &dir.0);
    let with_keys = |a: Analyzer| match keylog {
        Some(k) => a.keylog_file(k).unwrap(),
        None => a,
    };
    let reference = with_keys(analyzer(1)).analyze_path(whole).unwrap();
    assert!(!reference.connections.is_empty());
    // The test can fail: the parts read one by one give other rows (a connection spans a cut).
    let separate: usize = parts
        .iter()
        .map(|p| {
            with_keys(analyzer(1))
                .analyze_path(p)
                .unwrap()
                .connections
                .len()
        })
        .sum();
    assert_ne!(
        separate,
        reference.connections.len(),
        "{}: no connection spans the cuts {cuts:?}",
        whole.display()
    );
    for threads in [1, 2, 3] {
        // Mapped (the CLI's choice) and read through a buffer.
        #[allow(unsafe_code)]
        let mmap = unsafe { MmapChoice::auto() };
        for mmap in [MmapChoice::never(), mmap] {
            let merged = with_keys(analyzer(threads).memory_map(mmap))
                .analyze_paths_merged(&parts)
                .unwrap();
            let what = format!("{} threads {threads} {mmap:?}", whole.display());
            assert_eq!(records(&merged), records(&reference), "{what}");
            let (m, r) = (&merged.summary, &reference.summary);
            assert_eq!(
                (m.frames, m.bytes, m.captured_bytes, m.first_ts, m.last_ts),
                (r.frames, r.bytes, r.captured_bytes, r.first_ts, r.last_ts),
                "{what}"
            );
            assert_eq!(m.link_types, r.link_types);
            assert_eq!(format!("{:?}", m.decode), format!("{:?}", r.decode));
            assert_eq!(
                format!("{:?}", merged.stats),
                format!("{:?}", reference.stats),
                "{what}"
            );
            assert!(m.damaged.is_none() && r.inputs.is_empty());
            let names: Vec<_> = m.inputs.iter().map(|i| PathBuf::from(&i.file)).collect();
            assert_eq!(names, parts);
            let counts: Vec<u64> = m.inputs.iter().map(|i| i.frames).collect();
            let mut bounds = vec![0];
            bounds.extend(cuts.iter().map(|&c| c as u64));
            bounds.push(r.frames);
            let expected: Vec<u64> = bounds.windows(2).map(|w| w[1] - w[0]).collect();
            assert_eq!(counts, expected);
        }
    }
}

#[test]
fn parts_of_a_capture_merge_into_the_whole() {
    let t = common::testdata();
    merged_equals_whole(
        &t.join("lab/f_refused_syndrop/capture.pcap"),
        &[9, 20],
        None,
    );
    merged_equals_whole(&t.join("lab/e_dns/capture.pcap"), &[25], None);
    merged_equals_whole(&t.join("stream/connections.pcap"), &[500, 501, 1000], None);
    merged_equals_whole(
        &t.join("lab/d_tls_resumption/capture.pcapng"),
        &[60, 130],
        None,
    );
}

#[test]
fn secrets_in_the_first_part_decrypt_the_later_parts() {
    let t = common::testdata();
    let whole = t.join("lab/d_tls_resumption/capture-with-keys.pcapng");
    merged_equals_whole(&whole, &[60, 130], None);
    // The same records as with the key log given: the DSB of part 0 was used in parts 1, 2.
    let dir = TempDir::new("keys-check");
    let parts = split(&whole, &[60, 130], &dir.0);
    let merged = Analyzer::new()
        .threads(2)
        .analyze_paths_merged(&parts)
        .unwrap();
    assert!(!merged.http.is_empty());
    assert!(
        merged.http.iter().any(|h| h.conn_id >= 60),
        "decrypted requests of connections that start after the first part"
    );
    let keyed = Analyzer::new()
        .threads(2)
        .embedded_secrets(false)
        .keylog_file(t.join("lab/d_tls_resumption/sslkeylog.txt"))
        .unwrap()
        .analyze_paths_merged(&parts)
        .unwrap();
    assert_eq!(merged.http.len(), keyed.http.len());
}

/// (ts, link type, bytes, wire length) of every frame.
type Frames = Vec<(i64, LinkType, Vec<u8>, u32)>;

fn frames(c: &mut Capture) -> Frames {
    let mut out = Vec::new();
    while let Some(item) = c.next_item().unwrap() {
        if let CaptureItem::Frame(f) = item {
            assert_eq!(f.index, out.len() as u64);
            out.push((f.ts_ns, f.linktype, f.data.to_vec(), f.orig_len));
        }
    }
    out
}

#[test]
fn interleaved_files_merge_in_mergecaps_order() {
    // testdata/merge/make.py: two captures of different hosts at the same time, with different
    // interface tables, one going back in time once; mergecap.pcapng is mergecap's merge.
    let dir = common::testdata().join("merge");
    let (a, b) = (dir.join("a.pcapng"), dir.join("b.pcapng"));
    let expected = frames(&mut Capture::open(dir.join("mergecap.pcapng")).unwrap());
    let mut merged = Capture::open_merged(&[&a, &b], MmapChoice::never()).unwrap();
    let got = frames(&mut merged);
    assert_eq!(got.len(), 30 + 62);
    assert_eq!(got, expected);
    // Interleaved indeed, and a's own step back kept.
    let from_a = |f: &(i64, LinkType, Vec<u8>, u32)| f.0 >= 1_795_314_473_079_354_000;
    assert!(got.iter().take(10).any(from_a) && !got.iter().take(10).all(from_a));
    assert_eq!(
        got.windows(2).filter(|w| w[1].0 < w[0].0).count(),
        1,
        "a.pcapng goes back once"
    );
    let s = merged.inputs();
    assert_eq!((s[0].frames, s[1].frames), (30, 62));
    assert_eq!(merged.sections(), 2);
}

#[test]
fn interfaces_of_the_inputs_are_numbered_apart() {
    let t = common::testdata();
    let a = t.join("merge/a.pcapng"); // interface 0: Ethernet
    let b = t.join("merge/b.pcapng"); // 0: NULL (unused), 1: Ethernet (ns)
    let c = t.join("pcapng-le-eth-sll-tsresol9.pcapng"); // Ethernet and Linux cooked
    let mut merged = Capture::open_merged(&[&a, &b, &c], MmapChoice::never()).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    let mut n = 0;
    let mut frames = Vec::new();
    while let Some(f) = merged.next_frame().unwrap() {
        frames.push((f.interface, f.linktype));
    }
    for (interface, linktype) in frames {
        let iface = merged.interfaces()[interface as usize];
        assert_eq!(iface.linktype, linktype);
        seen.insert(interface, (linktype, iface.units_per_sec));
        n += 1;
    }
    // a's interface 0 and b's interface 1 are two interfaces (both Ethernet, µs and ns);
    // c has two more: four numbers, 0..4 in the order met.
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3],
        "{seen:?}"
    );
    assert!(seen.values().any(|v| *v == (LinkType::ETHERNET, 1_000_000)));
    assert!(seen
        .values()
        .any(|v| *v == (LinkType::ETHERNET, 1_000_000_000)));
    assert!(seen.values().any(|(lt, _)| *lt == LinkType::LINUX_SLL));
    assert_eq!(n, 30 + 62 + 159);
}

#[test]
fn damage_in_one_part_ends_that_part_only() {
    let t = common::testdata();
    let whole = t.join("stream/connections.pcap");
    let dir = TempDir::new("damaged");
    let parts = split(&whole, &[700], &dir.0);
    // Part 0 loses the last 10 bytes: its last record is cut.
    let p0 = std::fs::read(&parts[0]).unwrap();
    std::fs::write(&parts[0], &p0[..p0.len() - 10]).unwrap();
    let last_len = layout(&p0).frames.last().unwrap().len() as u64;
    for threads in [1, 3] {
        let a = analyzer(threads).analyze_paths_merged(&parts).unwrap();
        let d = a.summary.damaged.as_ref().expect("damage reported");
        assert_eq!(d.file.as_deref(), Some(parts[0].to_str().unwrap()));
        assert_eq!(d.frame, 699, "frames of part 0 read before the damage");
        assert_eq!(d.offset, p0.len() as u64 - last_len);
        assert!(d.to_string().contains("part0.pcap"), "{d}");
        // Everything else is read: part 1 whole.
        assert_eq!(a.summary.frames, 1472 - 1);
        let inputs = &a.summary.inputs;
        assert_eq!((inputs[0].frames, inputs[1].frames), (699, 772));
        assert!(inputs[0].damaged.is_some() && inputs[1].damaged.is_none());
    }
}

#[test]
fn a_merge_of_one_capture_is_that_capture() {
    let path = common::testdata().join("lab/e_dns/capture.pcap");
    let one = Analyzer::new().threads(2).analyze_path(&path).unwrap();
    let merged = Analyzer::new()
        .threads(2)
        .analyze_paths_merged(&[&path])
        .unwrap();
    assert_eq!(records(&one), records(&merged));
    assert_eq!(merged.summary.inputs.len(), 1);
    let none: [&Path; 0] = [];
    assert!(matches!(
        Capture::open_merged(&none, MmapChoice::never()),
        Err(pcapstat_core::CaptureError::NoInput)
    ));
    let err = Capture::open_merged(
        &[path.as_path(), Path::new("/nonexistent.pcap")],
        MmapChoice::never(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent.pcap: "), "{err}");
}
