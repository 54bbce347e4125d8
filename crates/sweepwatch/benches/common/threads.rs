//! The threads benches' shared part: one detector in 8 shards fed by 1, 2
//! or more threads. Before timing, each size prints the CPU time an event
//! costs with one thread, with two sharing the detector, and with two each
//! feeding a detector of its own: CPU time is charged only while a thread
//! runs, so it tells what sharing costs apart from whether this machine gave
//! the bench both cores.

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
    feed_timed(sources, events, threads, false).0
}

/// The wall time `threads` threads take to feed `events`, each every other
/// slice of 1,024, and the CPU seconds they use: to one fresh detector, or
/// with `separate`, each to a fresh detector of its own.
fn feed_timed(sources: u32, events: &[Event], threads: usize, separate: bool) -> (Duration, f64) {
    let n = if separate { threads } else { 1 };
    let dets: Vec<Detector> = (0..n)
        .map(|_| Detector::new(config(sources), |_| {}).unwrap())
        .collect();
    let chunks: Vec<&[Event]> = events.chunks(1024).collect();
    let start = Instant::now();
    let cpu = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (det, chunks) = (&dets[t % n], &chunks);
                s.spawn(move || {
                    for chunk in chunks.iter().skip(t).step_by(threads) {
                        det.observe_batch(chunk).unwrap();
                    }
                    thread_cpu_secs()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    (start.elapsed(), cpu)
}

/// CPU seconds the calling thread has used (Linux; 0 elsewhere).
pub fn thread_cpu_secs() -> f64 {
    #[cfg(target_os = "linux")]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec for the call to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    }
    #[cfg(not(target_os = "linux"))]
    0.0
}

/// Prints the least CPU time an event costs, in three runs each, with one
/// thread, two sharing a detector and two with a detector each.
fn print_cpu(sources: u32, events: &[Event]) {
    let least = |threads, separate| {
        (0..3)
            .map(|_| feed_timed(sources, events, threads, separate).1)
            .fold(f64::INFINITY, f64::min)
            * 1e9
            / events.len() as f64
    };
    let (one, shared, own) = (least(1, false), least(2, false), least(2, true));
    println!(
        "threads/{sources}: CPU time an event: 1 thread {one:.1} ns; 2 threads sharing \
         the detector {shared:.1} ns ({:+.0}%); 2 threads with a detector each {own:.1} ns",
        (shared / one - 1.0) * 100.0
    );
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
        print_cpu(sources, &events);
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
