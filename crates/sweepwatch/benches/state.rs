//! Saved state at 1,000,000 sources: its size, the time to save and to
//! restore it, and how long a thread feeding the detector waits while
//! another saves (shards are saved one at a time, each under its lock).
//!
//! `cargo bench -p sweepwatch --bench state` runs it; the size and the
//! longest waits are printed once before timing.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sweepwatch::{Config, Detector};

mod common;
use common::workload;

const SOURCES: u32 = 1_000_000;

/// The observe bench's budget rule (about 30 bytes a source) in `shards`.
fn config(shards: u32) -> Config {
    let bytes = u64::from(SOURCES) * 16 * 100 / 85 * 16 / 10;
    Config {
        memory_bytes: bytes,
        shards,
        hash_seed: Some(1),
        ..Config::default()
    }
}

/// A detector that has seen the workload's 3,000,000 events.
fn loaded(shards: u32) -> Detector {
    let det = Detector::new(config(shards), |_| {}).unwrap();
    for chunk in workload(SOURCES, 3 * SOURCES as usize).chunks(1024) {
        det.observe_batch(chunk).unwrap();
    }
    det
}

/// The longest time between two batches of a thread feeding `det`, over
/// `rounds` saves by another thread, or as long without saves.
fn longest_wait(det: &Arc<Detector>, rounds: u32, saving: bool) -> Duration {
    let events = workload(SOURCES, 2 * SOURCES as usize);
    let done = Arc::new(AtomicBool::new(false));
    let saver = {
        let (det, done) = (Arc::clone(det), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            for _ in 0..rounds {
                buf.clear();
                if saving {
                    det.save(&mut buf).unwrap();
                } else {
                    std::thread::sleep(Duration::from_millis(40));
                }
            }
            done.store(true, Ordering::Relaxed);
        })
    };
    let mut longest = Duration::ZERO;
    let mut last = Instant::now();
    for chunk in events.chunks(64).cycle() {
        if done.load(Ordering::Relaxed) {
            break;
        }
        det.observe_batch(chunk).unwrap();
        longest = longest.max(last.elapsed());
        last = Instant::now();
    }
    saver.join().unwrap();
    longest
}

fn report() {
    for shards in [1, 8] {
        let det = Arc::new(loaded(shards));
        let st = det.stats().unwrap();
        let mut state = Vec::new();
        let t = Instant::now();
        det.save(&mut state).unwrap();
        let save = t.elapsed();
        let t = Instant::now();
        let again = Detector::restore(config(shards), &state[..], |_| {}).unwrap();
        let restore = t.elapsed();
        assert_eq!(again.stats().unwrap(), st);
        let path =
            std::env::temp_dir().join(format!("sweepwatch-bench-{}.state", std::process::id()));
        let t = Instant::now();
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&state).unwrap();
        f.sync_all().unwrap();
        let to_disk = t.elapsed();
        let _ = std::fs::remove_file(&path);
        let with = longest_wait(&det, 10, true);
        let without = longest_wait(&det, 10, false);
        eprintln!(
            "state N={SOURCES}, {shards} shard(s): {} sources tracked, memory_bytes {:.1} MiB, \
             state {:.1} MiB; save to memory {:.1} ms, restore {:.1} ms, write and fsync {:.1} ms; \
             longest wait of a feeding thread: {:.2} ms while another saves, {:.2} ms without",
            st.sources,
            st.memory_bytes as f64 / 1048576.0,
            state.len() as f64 / 1048576.0,
            save.as_secs_f64() * 1e3,
            restore.as_secs_f64() * 1e3,
            to_disk.as_secs_f64() * 1e3,
            with.as_secs_f64() * 1e3,
            without.as_secs_f64() * 1e3,
        );
    }
}

fn state(c: &mut Criterion) {
    report();
    let mut group = c.benchmark_group("state");
    group.sample_size(10);
    let det = loaded(8);
    let mut state = Vec::new();
    det.save(&mut state).unwrap();
    let mut buf = Vec::with_capacity(state.len());
    group.bench_function(BenchmarkId::new("save", SOURCES), |b| {
        b.iter(|| {
            buf.clear();
            det.save(&mut buf).unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("restore", SOURCES), |b| {
        b.iter(|| Detector::restore(config(8), &state[..], |_| {}).unwrap())
    });
    group.finish();
}

criterion_group!(benches, state);
criterion_main!(benches);
