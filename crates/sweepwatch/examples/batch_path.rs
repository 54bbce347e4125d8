//! Times the batch path alone on the observe bench's workload and budget
//! rule, for profiling: `cargo run --release -p sweepwatch --example
//! batch_path -- SOURCES [RUNS] [SHARDS] [THREADS] [SLICE]` (defaults
//! 10,000,000 sources, 3 runs, 1 shard, 1 thread, slices of 1,024). Each run
//! feeds a fresh detector `3 × SOURCES` events, each thread every other
//! slice, and prints events per second and CPU time per event. With
//! `SEPARATE=1` each thread feeds a detector of its own (the same budget)
//! instead of sharing one: the difference is what sharing costs.

use std::time::Instant;
use sweepwatch::{Config, Detector};

#[path = "../benches/common/mod.rs"]
mod common;
#[path = "../benches/common/threads.rs"]
#[allow(dead_code)]
mod shared;
use shared::thread_cpu_secs;

fn main() {
    let arg = |i: usize, default: u64| -> u64 {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let sources = arg(1, 10_000_000) as u32;
    let (runs, shards, threads) = (arg(2, 3), arg(3, 1) as u32, arg(4, 1) as usize);
    let slice = arg(5, 1024).max(1) as usize;
    let events = common::workload(sources, (3 * sources as usize).max(3_000_000));
    let bytes = (u64::from(sources) * 16 * 100 / 85 * 16 / 10).max(256 << 10);
    let separate = std::env::var_os("SEPARATE").is_some_and(|v| v == "1");
    let detector = || {
        Detector::new(
            Config {
                memory_bytes: bytes,
                shards,
                hash_seed: Some(1),
                ..Config::default()
            },
            |_| {},
        )
        .expect("detector")
    };
    // One detector, or with SEPARATE one for each thread.
    let n = if separate { threads } else { 1 };
    for _ in 0..runs {
        let dets: Vec<Detector> = (0..n).map(|_| detector()).collect();
        let start = Instant::now();
        let cpu: f64 = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (det, events) = (&dets[t % n], &events);
                    s.spawn(move || {
                        for chunk in events.chunks(slice).skip(t).step_by(threads) {
                            det.observe_batch(chunk).expect("observe");
                        }
                        thread_cpu_secs()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("worker")).sum()
        });
        let spent = start.elapsed();
        println!(
            "  CPU time {:.1} ns an event over all threads; wall {:.1} ns an event",
            cpu * 1e9 / events.len() as f64,
            spent.as_secs_f64() * 1e9 / events.len() as f64
        );
        // Over every detector fed.
        let sum = |f: fn(&sweepwatch::Stats) -> u64| -> u64 {
            dets.iter().map(|d| f(&d.stats().expect("stats"))).sum()
        };
        println!(
            "{sources} sources, {shards} shards, {threads} threads: {:.2} M events/s ({} verdicts, {} evicted, {} repeats, {} turned away, {} filter rotations)",
            events.len() as f64 / spent.as_secs_f64() / 1e6,
            sum(|s| s.verdicts),
            sum(|s| s.evicted),
            sum(|s| s.duplicates),
            sum(|s| s.turned_away),
            sum(|s| s.filter_rotations)
        );
        // Whether the state got transparent huge pages (Linux).
        if let Ok(m) = std::fs::read_to_string("/proc/self/smaps_rollup") {
            for l in m
                .lines()
                .filter(|l| l.starts_with("AnonHugePages") || l.starts_with("Rss"))
            {
                println!("  {l}");
            }
        }
    }
}
