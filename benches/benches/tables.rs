//! The cost of the tables (issue #5): building the four polars DataFrames from the records of an
//! analysis, and encoding them as zstd Parquet, timed apart so that the split between the two is
//! known. The analysis itself runs once, outside the timed part.
//!
//! `cargo bench -p pcapstat-benches --bench tables`; add `PCAPSTAT_BENCH_FILE=some.pcap` to
//! include a capture of your own (the benchmark capture of `benches/make-capture.sh`, say).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcapstat::{Analysis, Analyzer, ParquetSource};
use pcapstat_benches::all_inputs;

fn frames(a: &Analysis) -> [pcapstat::polars::prelude::DataFrame; 4] {
    [
        a.connections().expect("connections frame"),
        a.tls().expect("tls frame"),
        a.http().expect("http frame"),
        a.dns().expect("dns frame"),
    ]
}

fn tables(c: &mut Criterion) {
    let mut group = c.benchmark_group("tables");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    let dir = std::env::temp_dir().join(format!("pcapstat-bench-tables-{}", std::process::id()));
    for input in all_inputs() {
        let analysis = Analyzer::new()
            .threads(1)
            .analyze_bytes(input.bytes.clone())
            .expect("analysis");
        let rows = (analysis.connection_records().len() + analysis.http_records().len()) as u64;
        if rows == 0 {
            continue;
        }
        group.throughput(Throughput::Elements(rows));
        group.bench_function(format!("frames/{}", input.name), |b| {
            b.iter(|| black_box(frames(&analysis)));
        });
        let built = frames(&analysis);
        group.bench_function(format!("parquet/{}", input.name), |b| {
            b.iter(|| {
                for (name, df) in ["connections", "tls", "http", "dns"].iter().zip(&built) {
                    let mut df = df.clone();
                    pcapstat::write_parquet(&dir, name, &mut df, &ParquetSource::default())
                        .expect("write");
                }
            });
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, tables);
criterion_main!(benches);
