//! Events per second of one detector fed by 1 and by 2 threads (more where
//! the machine has the cores), at 1,000,000 sources (and 10,000,000 with
//! `OBSERVE_10M=1`), with the observe bench's workload and budget rule, in
//! 8 shards. Each thread feeds every other slice of 1,024 events through
//! `observe_batch`, as an engine's workers would.
//!
//! `cargo bench -p sweepwatch --bench threads` runs it.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};
use sweepwatch::{Config, Detector, Event};

mod common;
use common::workload;

fn config(sources: u32) -> Config {
    Config {
        memory_bytes: u64::from(sources) * 16 * 100 / 85 * 16 / 10,
        shards: 8,
        hash_seed: Some(1),
        ..Config::default()
    }
}

/// Seconds `threads` threads take to feed `events` to a fresh detector.
fn feed(sources: u32, events: &[Event], threads: usize) -> Duration {
    let det = Detector::new(config(sources), |_| {}).unwrap();
    let chunks: Vec<&[Event]> = events.chunks(1024).collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (det, chunks) = (&det, &chunks);
            s.spawn(move || {
                for chunk in chunks.iter().skip(t).step_by(threads) {
                    det.observe_batch(chunk).unwrap();
                }
            });
        }
    });
    start.elapsed()
}

fn threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("threads");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut counts = vec![1, 2];
    counts.extend((4..=cores).step_by(2));
    let mut sizes = vec![1_000_000u32];
    if std::env::var_os("OBSERVE_10M").is_some() {
        sizes.push(10_000_000);
    }
    for sources in sizes {
        let events = workload(sources, 3 * sources as usize);
        group.throughput(Throughput::Elements(events.len() as u64));
        for &n in &counts {
            group.bench_with_input(
                BenchmarkId::new(format!("{n}_threads"), sources),
                &events,
                |b, evs| b.iter_custom(|iters| (0..iters).map(|_| feed(sources, evs, n)).sum()),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, threads);
criterion_main!(benches);
