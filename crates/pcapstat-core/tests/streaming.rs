//! `Analyzer::analyze_into`: records leave while the capture is read, in batches whose order
//! does not depend on the thread count, and which add up to `Analyzer::analyze`'s analysis.
//! Short idle and linger times make connections finish in the middle of the lab captures, so
//! that most records travel through the streaming path (the worker → collector merge, the
//! filter per batch, the request join per batch and the DNS hold).
#![allow(clippy::unwrap_used)]

use pcapstat_core::fuzzing::request_timings;
use pcapstat_core::{Analyzer, Capture, Filter, MmapChoice, RecordSink, Records, TcpConfig};

mod common;

#[derive(Default)]
struct Batches(Vec<Records>);

impl RecordSink for Batches {
    fn records(&mut self, records: Records) {
        self.0.push(records);
    }
}

fn analyzer(threads: usize) -> Analyzer {
    let mut tcp = TcpConfig::default();
    tcp.idle_timeout_ns = 2_000_000_000;
    tcp.closed_linger_ns = 1_000_000;
    Analyzer::new().threads(threads).tcp_config(tcp)
}

fn captures() -> Vec<std::path::PathBuf> {
    // Without the shared lab (outside CI), the bundled captures alone.
    let lab = common::shared_opt("the lab captures of this test").map(|d| d.join("lab"));
    let mut v: Vec<_> = [
        "a_http_newconn",
        "b_http_keepalive",
        "e_dns",
        "h_http2",
        "f_refused_syndrop",
        "j_quic",
    ]
    .iter()
    .filter_map(|s| Some(lab.as_ref()?.join(s).join("capture.pcap")))
    .collect();
    v.push(common::testdata().join("lab/d_tls_resumption/capture-with-keys.pcapng"));
    v.push(common::testdata().join("stream/connections.pcap"));
    v
}

fn stream(path: &std::path::Path, threads: usize, filter: &Filter) -> Vec<Records> {
    stream_capture(Capture::open(path).unwrap(), threads, filter)
}

fn stream_capture(capture: Capture, threads: usize, filter: &Filter) -> Vec<Records> {
    let mut sink = Batches::default();
    analyzer(threads)
        .analyze_into(capture, filter, &mut sink)
        .unwrap();
    sink.0
}

#[test]
fn batches_are_the_same_for_any_thread_count_and_add_up_to_the_analysis() {
    let mut streamed_before_end = 0;
    for path in captures() {
        let one = stream(&path, 1, &Filter::default());
        // With several threads the capture is read in chunks: of the default size, and small
        // (a boundary after every frame, every 7th) so that they fall everywhere.
        for (threads, chunk) in [(2, 0), (3, 0), (5, 0), (2, 1), (3, 7)] {
            let mut sink = Batches::default();
            analyzer(threads)
                .chunk_frames(chunk)
                .analyze_into(Capture::open(&path).unwrap(), &Filter::default(), &mut sink)
                .unwrap();
            assert_eq!(
                format!("{one:?}"),
                format!("{:?}", sink.0),
                "{}: batches differ with {threads} threads (chunks of {chunk} frames)",
                path.display()
            );
        }
        // The last batch holds the DNS records and the requests held for the DNS join; every
        // earlier one left memory before the end of the capture.
        streamed_before_end += one
            .iter()
            .rev()
            .skip(2)
            .map(|b| b.connections.len() + b.http.len())
            .sum::<usize>();
        let mut all = Records::default();
        for b in one {
            let base = all.http.len();
            all.connections.extend(b.connections);
            all.tls.extend(b.tls);
            all.dns.extend(b.dns);
            all.quic.extend(b.quic);
            all.http.extend(b.http);
            all.timings.extend(b.timings.into_iter().map(|mut t| {
                t.http_index += base;
                t
            }));
        }
        let a = analyzer(2).analyze(Capture::open(&path).unwrap()).unwrap();
        let name = path.display();
        assert_eq!(all.connections.len(), a.connections.len(), "{name}");
        assert_eq!(all.tls.len(), a.tls.len(), "{name}");
        assert_eq!(all.http.len(), a.http.len(), "{name}");
        assert_eq!(all.dns.len(), a.dns.len(), "{name}");
        all.quic.sort_by_key(|q| q.conn_id);
        assert_eq!(format!("{:?}", all.quic), format!("{:?}", a.quic), "{name}");
        all.connections.sort_by_key(|c| c.conn_id);
        assert_eq!(
            format!("{:?}", all.connections),
            format!("{:?}", a.connections)
        );
        // Each row's phases equal a join computed afresh over the whole analysis: the join per
        // batch (and the DNS hold) lose nothing.
        let fresh = request_timings(&a.connections, &a.tls, &a.http, &a.dns);
        assert_eq!(fresh, a.timings, "{name}");
        for (h, t) in all.http.iter().zip(&all.timings) {
            let i = a
                .http
                .iter()
                .position(|x| x.conn_id == h.conn_id && x.request_index == h.request_index)
                .unwrap();
            let expected = &a.timings[i];
            assert_eq!(
                (t.dns_ns, t.connect_ns, t.tls_ns, t.total_ns, t.reused),
                (
                    expected.dns_ns,
                    expected.connect_ns,
                    expected.tls_ns,
                    expected.total_ns,
                    expected.reused
                ),
                "{name}: conn {} request {}",
                h.conn_id,
                h.request_index
            );
        }
    }
    // testdata/stream: a shard sweeps its finished connections when its own next segment comes
    // (that keeps the order independent of the thread count), so about a third leave early.
    assert!(
        streamed_before_end > 80,
        "only {streamed_before_end} records left before the end"
    );
}

/// Payloads read in place by the workers (a mapped file, whose pages a thread maps ahead of
/// the reader; bytes held in memory) give the batches of payloads copied from a stream.
#[test]
fn payloads_read_in_place_give_the_batches_of_copied_ones() {
    let run =
        |capture, threads| format!("{:?}", stream_capture(capture, threads, &Filter::default()));
    for path in captures() {
        let copied = run(Capture::open(&path).unwrap(), 2);
        // SAFETY: the test captures are not modified while the tests run.
        #[allow(unsafe_code)]
        let mmap = unsafe { MmapChoice::auto() };
        for threads in [2, 3] {
            let mapped = run(Capture::open_with(&path, mmap).unwrap(), threads);
            assert_eq!(
                copied,
                mapped,
                "{}: mapped, {threads} threads",
                path.display()
            );
        }
        let owned = run(
            Capture::from_bytes(std::fs::read(&path).unwrap()).unwrap(),
            2,
        );
        assert_eq!(copied, owned, "{}: in memory", path.display());
        // A legacy pcap file in memory is scanned in a loop of its own
        // (`Capture::frames_in_place`): chunk boundaries everywhere.
        for chunk in [1, 7] {
            let mut sink = Batches::default();
            analyzer(3)
                .chunk_frames(chunk)
                .analyze_into(
                    Capture::open_with(&path, mmap).unwrap(),
                    &Filter::default(),
                    &mut sink,
                )
                .unwrap();
            assert_eq!(
                copied,
                format!("{:?}", sink.0),
                "{}: mapped, chunks of {chunk}",
                path.display()
            );
        }
    }
}

#[test]
fn a_filter_keeps_the_same_records_streamed_or_not() {
    for path in captures() {
        let a = analyzer(2).analyze(Capture::open(&path).unwrap()).unwrap();
        let Some(first) = a.connections.first() else {
            continue;
        };
        let filter = Filter {
            server: Some(first.server_ip.to_string().parse().unwrap()),
            ..Filter::default()
        };
        let kept = a.filtered(&filter);
        let batches = stream(&path, 2, &filter);
        let count = |f: fn(&Records) -> usize| batches.iter().map(f).sum::<usize>();
        let name = path.display();
        assert_eq!(
            count(|b| b.connections.len()),
            kept.connections.len(),
            "{name}"
        );
        assert_eq!(count(|b| b.tls.len()), kept.tls.len(), "{name}");
        assert_eq!(count(|b| b.http.len()), kept.http.len(), "{name}");
        assert_eq!(count(|b| b.dns.len()), kept.dns.len(), "{name}");
    }
}

#[test]
fn the_first_request_after_a_lookup_waits_for_the_dns_join() {
    let path = common::testdata().join("stream/connections.pcap");
    let batches = stream(&path, 2, &Filter::default());
    assert!(batches.len() > 20, "{} batches", batches.len());
    // The lookup's row leaves once answered (at 30.25 s of 60 s), not at the end.
    let dns_at: Vec<usize> = (0..batches.len())
        .filter(|&i| !batches[i].dns.is_empty())
        .collect();
    assert_eq!(dns_at.len(), 1, "{dns_at:?}");
    assert_eq!(batches[dns_at[0]].dns.len(), 1);
    assert!(
        dns_at[0] + 5 < batches.len(),
        "{dns_at:?} of {}",
        batches.len()
    );
    // The first requests after it are joined while the capture is read: nothing waits for
    // the end but the connections finished there.
    let last = batches.last().unwrap();
    assert!(last.dns.is_empty());
    assert!(last.http.len() <= 4, "{} rows at the end", last.http.len());
    let with_dns: Vec<_> = batches
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.http.iter().zip(&b.timings).map(move |(h, t)| (i, h, t)))
        .filter(|(_, _, t)| t.dns_ns.is_some())
        .collect();
    assert!(
        with_dns.iter().all(|(i, _, _)| *i + 1 < batches.len()),
        "{with_dns:?}"
    );
    let with_dns: Vec<_> = with_dns.into_iter().map(|(_, h, t)| (h, t)).collect();
    // The keep-alive connections' requests leave while they are open (32 at a time), before
    // the connections' own rows.
    let live = batches
        .iter()
        .flat_map(|b| &b.http)
        .take_while(|h| h.client.ip.to_string() != "10.2.2.1" || h.request_index > 0)
        .filter(|h| h.client.ip.to_string() == "10.2.2.1")
        .count();
    // (61: those of the first keep-alive connection, whose first request leaves with its
    // connection's row, but the last ones.)
    assert!(
        live >= 60,
        "{live} requests of the keep-alive connection left early"
    );
    // 10.2.1.1 connects to b.test at 36 s and 48 s, both after its lookup at 30.25 s.
    assert_eq!(with_dns.len(), 2, "{with_dns:?}");
    for (h, t) in with_dns {
        assert_eq!(h.host.as_deref(), Some("b.test"));
        assert_eq!(h.client.ip.to_string(), "10.2.1.1");
        assert_eq!(t.dns_ns, Some(3_000_000));
    }
}

#[test]
fn several_filters_in_one_reading_give_what_each_gives_alone() {
    for path in captures() {
        let a = analyzer(2).analyze(Capture::open(&path).unwrap()).unwrap();
        let Some(c) = a.connections.first() else {
            continue;
        };
        let filters = [
            Filter::default(),
            Filter {
                server: Some(c.server_ip.to_string().parse().unwrap()),
                ..Filter::default()
            },
            Filter {
                client: Some(c.client_ip.to_string().parse().unwrap()),
                ..Filter::default()
            },
        ];
        let mut sinks: Vec<Batches> = filters.iter().map(|_| Batches::default()).collect();
        let mut outs: Vec<(&Filter, &mut (dyn RecordSink + Send))> = filters
            .iter()
            .zip(sinks.iter_mut())
            .map(|(f, s)| (f, s as &mut (dyn RecordSink + Send)))
            .collect();
        analyzer(2)
            .analyze_into_each(Capture::open(&path).unwrap(), &mut outs)
            .unwrap();
        for (f, s) in filters.iter().zip(&sinks) {
            let alone = stream(&path, 2, f);
            assert_eq!(
                format!("{:?}", s.0),
                format!("{alone:?}"),
                "{}: {f:?}",
                path.display()
            );
        }
    }
}

/// QUIC goes from the reading thread to the collecting one with DNS: the same batches for any
/// thread count and chunk boundaries anywhere (a chunk per frame, per 5, 7 and 64 frames), with
/// and without the key log (Handshake packets decrypted).
#[test]
fn quic_batches_are_the_same_for_any_thread_count_and_chunking() {
    let Some(lab) = common::shared_opt("quic_batches").map(|d| d.join("lab/j_quic")) else {
        return;
    };
    let path = lab.join("capture.pcap");
    let keylog = pcapstat_core::KeyLog::from_file(lab.join("sslkeylog.txt")).unwrap();
    for keys in [false, true] {
        let make = |threads: usize| {
            let a = analyzer(threads);
            if keys {
                a.keylog(keylog.clone())
            } else {
                a
            }
        };
        let mut one = Batches::default();
        make(1)
            .analyze_into(Capture::open(&path).unwrap(), &Filter::default(), &mut one)
            .unwrap();
        let quic: usize = one.0.iter().map(|b| b.quic.len()).sum();
        assert_eq!(quic, 9);
        // HTTP/3 rows only with the key log; their phases are the join computed afresh over
        // the whole analysis.
        let http: usize = one.0.iter().map(|b| b.http.len()).sum();
        assert_eq!(http, if keys { 17 } else { 0 });
        let a = make(2).analyze(Capture::open(&path).unwrap()).unwrap();
        assert_eq!(a.http.len(), http);
        let fresh = request_timings(&a.connections, &a.tls, &a.http, &a.dns);
        assert_eq!(fresh, a.timings, "keys {keys}");
        for (threads, chunk) in [(2, 1), (2, 5), (3, 7), (2, 64), (4, 0)] {
            let mut sink = Batches::default();
            make(threads)
                .chunk_frames(chunk)
                .analyze_into(Capture::open(&path).unwrap(), &Filter::default(), &mut sink)
                .unwrap();
            assert_eq!(
                format!("{:?}", one.0),
                format!("{:?}", sink.0),
                "keys {keys}: batches differ with {threads} threads (chunks of {chunk} frames)"
            );
        }
    }
}

/// A stream read a few bytes at a time, as from a pipe: with several threads its reading window
/// becomes each chunk's bytes (the frames are not copied), grows within a chunk and carries the
/// bytes not yet read into the next one. The batches are those of one thread.
#[test]
fn a_stream_read_in_small_pieces_gives_the_batches_of_one_thread() {
    for path in captures() {
        let one = format!("{:?}", stream(&path, 1, &Filter::default()));
        for (threads, chunk) in [(2, 0), (3, 7), (2, 1)] {
            let trickle = pcapstat_core::fuzzing::Pieces::new(std::fs::read(&path).unwrap(), 997);
            let mut sink = Batches::default();
            analyzer(threads)
                .chunk_frames(chunk)
                .analyze_into(
                    Capture::from_reader(trickle).unwrap(),
                    &Filter::default(),
                    &mut sink,
                )
                .unwrap();
            assert_eq!(
                one,
                format!("{:?}", sink.0),
                "{}: read in small pieces, {threads} threads, chunks of {chunk}",
                path.display()
            );
        }
    }
}
