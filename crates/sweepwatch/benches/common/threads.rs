//! The threads benches' shared part: one detector in 8 shards fed by 1, 2
//! or more threads.

use criterion::{BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};
use sweepwatch::{Config, Detector, Event};

use crate::common::workload;

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

/// The bench at each of `sizes` sources, with 1, 2 and (where the machine
/// has them) more threads.
pub fn threads(c: &mut Criterion, sizes: &[u32]) {
    let mut group = c.benchmark_group("threads");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut counts = vec![1, 2];
    counts.extend((4..=cores).step_by(2));
    for &sources in sizes {
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
