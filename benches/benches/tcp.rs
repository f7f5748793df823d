//! TCP layer: the tracker alone over segments decoded beforehand (handshake, sequence analysis,
//! retransmissions, RTT, connection records), and the single-thread pipeline read → decode →
//! track. Throughput in segments (tracker) or frames and bytes (pipeline) per second.
//!
//! `cargo bench -p pcapstat-benches --bench tcp`; add `PCAPSTAT_BENCH_FILE=some.pcap` to include
//! a capture of your own.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pcapstat_benches::{all_inputs, OwnedSegments};
use pcapstat_core::fuzzing::{Decoder, TcpTracker, Transport};
use pcapstat_core::{Capture, DecodeLimits, TcpConfig};

fn tcp(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    for input in all_inputs() {
        let segs = OwnedSegments::from_capture(&input.bytes);
        if segs.is_empty() {
            continue;
        }
        group.throughput(Throughput::Elements(segs.len() as u64));
        group.bench_function(format!("track/{}", input.name), |b| {
            b.iter(|| {
                let mut tracker = TcpTracker::new(TcpConfig::default());
                for s in segs.iter() {
                    tracker.on_segment(&s);
                }
                black_box(tracker.finish(segs.end_ts()).records.len())
            });
        });
        group.throughput(Throughput::ElementsAndBytes {
            elements: input.frames,
            bytes: input.bytes.len() as u64,
        });
        group.bench_function(format!("pipeline/{}", input.name), |b| {
            b.iter_batched(
                || input.bytes.clone(),
                |bytes| {
                    let mut capture = Capture::from_bytes(bytes).expect("capture");
                    let mut decoder = Decoder::new(DecodeLimits::default());
                    let mut tracker = TcpTracker::new(TcpConfig::default());
                    let mut end = 0;
                    while let Some(frame) = capture.next_frame().expect("frame") {
                        end = frame.ts_ns;
                        if let Some(Transport::Tcp(seg)) = decoder.decode(&frame).transport {
                            tracker.on_segment(&seg);
                        }
                    }
                    black_box(tracker.finish(end).records.len())
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, tcp);
criterion_main!(benches);
