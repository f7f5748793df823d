//! The report's percentiles from a value store (`pcapstat_core::ValueStore`): the five nearest
//! ranks of a figure (p50, p90, p95, p99, max) read from stores of 10^5 to 4·10^6 request
//! durations, by the counting `select` a large store takes and by the k-way merge of its runs
//! (what `select` did for every store before); and the sort of a store's buffer as it becomes a
//! run (8 192 such durations: the radix sort the store takes, and `sort_unstable`). Throughput
//! in values per second.
//!
//! `cargo bench -p pcapstat-benches --bench values`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pcapstat_core::fuzzing::{select_by_merge, sort_values};
use pcapstat_core::ValueStore;

/// Durations in ns shaped like the request-heavy benchmark's: most around 0.4 ms, a tail to
/// 200 ms (SplitMix64, deterministic).
fn durations(n: usize) -> ValueStore {
    let mut store = ValueStore::new();
    for v in duration_values(n) {
        store.push(v);
    }
    store
}

fn duration_values(n: usize) -> Vec<i64> {
    let mut state = 0x1234_5678_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| {
            let r = next();
            let v = if r % 100 == 0 {
                1_000_000 + (r >> 8) % 200_000_000
            } else {
                300_000 + (r >> 8) % 300_000
            };
            v as i64
        })
        .collect()
}

fn ranks(n: usize) -> [usize; 5] {
    let rank = |p: usize| (n * p).div_ceil(100).clamp(1, n) - 1;
    [rank(50), rank(90), rank(95), rank(99), n - 1]
}

fn values(c: &mut Criterion) {
    let mut group = c.benchmark_group("values");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in [100_000, 1_000_000, 4_000_000] {
        let store = durations(n);
        let r = ranks(n);
        assert_eq!(store.select(r), select_by_merge(&store, r));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("select/{n}"), |b| {
            b.iter(|| black_box(store.select(black_box(r))))
        });
        group.bench_function(format!("merge/{n}"), |b| {
            b.iter(|| black_box(select_by_merge(&store, black_box(r))))
        });
    }
    let run = duration_values(8192);
    group.throughput(Throughput::Elements(run.len() as u64));
    group.bench_function("sort/radix/8192", |b| {
        b.iter_batched_ref(
            || run.clone(),
            |v| sort_values(black_box(v)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("sort/sort_unstable/8192", |b| {
        b.iter_batched_ref(
            || run.clone(),
            |v| black_box(v).sort_unstable(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, values);
criterion_main!(benches);
