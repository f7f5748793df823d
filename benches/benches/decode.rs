//! Decode layer: reading frames out of the container, and reading + decoding each frame
//! (link → IP → TCP/UDP). Throughput in frames and capture bytes per second.
//!
//! `cargo bench -p pcapstat-benches --bench decode`; add `PCAPSTAT_BENCH_FILE=some.pcap` to
//! include a capture of your own.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pcapstat_benches::all_inputs;
use pcapstat_core::fuzzing::Decoder;
use pcapstat_core::{Capture, DecodeLimits};

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    for input in all_inputs() {
        group.throughput(Throughput::ElementsAndBytes {
            elements: input.frames,
            bytes: input.bytes.len() as u64,
        });
        // Capture::from_bytes owns its buffer: the copy is made in the untimed setup.
        group.bench_function(format!("read/{}", input.name), |b| {
            b.iter_batched(
                || input.bytes.clone(),
                |bytes| {
                    let mut capture = Capture::from_bytes(bytes).expect("capture");
                    let mut n = 0u64;
                    while let Some(frame) = capture.next_frame().expect("frame") {
                        n += frame.data.len() as u64;
                    }
                    black_box(n)
                },
                BatchSize::PerIteration,
            );
        });
        group.bench_function(format!("read+decode/{}", input.name), |b| {
            b.iter_batched(
                || input.bytes.clone(),
                |bytes| {
                    let mut capture = Capture::from_bytes(bytes).expect("capture");
                    let mut decoder = Decoder::new(DecodeLimits::default());
                    let mut tcp = 0u64;
                    while let Some(frame) = capture.next_frame().expect("frame") {
                        tcp += u64::from(decoder.decode(&frame).transport.is_some());
                    }
                    black_box((tcp, decoder.stats().frames))
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
