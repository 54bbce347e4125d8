//! The observe benches' shared part: the naive exact detector
//! (`HashMap<source, HashSet<(target, port)>>` plus counters) making the same
//! decisions, the budget rule, the memory and recall line, and the timed
//! runs. `observe.rs` runs it at 1,000 to 1,000,000 sources, `observe_10m.rs`
//! at 10,000,000.

use criterion::{BenchmarkId, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sweepwatch::{Config, Detector, Event, Outcome};

use crate::common::workload;

/// Tracks live heap bytes so the naive baseline's memory can be measured.
struct Tracking;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// The obvious exact detector: each source's distinct (target, port) pairs in a
/// hash set plus counters, the same sequential test and thresholds. Distinct
/// hosts and ports are counted from the set when the test decides.
#[derive(Default)]
struct NaiveSource {
    pairs: HashSet<(IpAddr, u16)>,
    failed: u32,
    succeeded: u32,
    llr: f64,
    reported: bool,
}

#[derive(Default)]
struct Naive {
    sources: HashMap<IpAddr, NaiveSource>,
    verdicts: u64,
}

impl Naive {
    fn observe(&mut self, ev: &Event) {
        if ev.outcome == Outcome::Unsolicited || ev.outcome == Outcome::Attempt {
            return;
        }
        let s = self.sources.entry(ev.src).or_default();
        if !s.pairs.insert((ev.dst, ev.dst_port)) {
            return;
        }
        if ev.outcome == Outcome::Established {
            s.succeeded += 1;
            s.llr += (0.25f64).ln();
        } else {
            s.failed += 1;
            s.llr += 4f64.ln();
        }
        let (lo, hi) = ((0.01f64 / 0.99).ln(), 99f64.ln());
        if s.llr <= lo {
            s.llr = 0.0;
        }
        s.llr = s.llr.min(hi);
        if s.llr >= hi && !s.reported {
            let hosts: HashSet<IpAddr> = s.pairs.iter().map(|p| p.0).collect();
            let ports: HashSet<u16> = s.pairs.iter().map(|p| p.1).collect();
            if hosts.len().max(ports.len()) >= 5 {
                s.reported = true;
                self.verdicts += 1;
            }
        }
    }
}

fn config(sources: u32) -> Config {
    // A table for every source at 85% load (16-byte records, 10/16 of the
    // budget), but no less than 256 KiB: a quarter of that is the filter,
    // room for the 1,000-source workload's 4,000 benign pairs and the
    // scanners' churn. (The rule alone gives 30 KB there.)
    let rule = u64::from(sources) * 16 * 100 / 85 * 16 / 10;
    // `OBSERVE_BUDGET_SCALE=2` doubles the rule, for recall against memory.
    let scale: f64 = std::env::var("OBSERVE_BUDGET_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let bytes = ((rule as f64 * scale) as u64).max(256 << 10);
    // One core, one shard: nothing to share with other threads.
    Config {
        memory_bytes: bytes,
        shards: 1,
        hash_seed: Some(1),
        ..Config::default()
    }
}

fn report_memory(sources: u32, events: &[Event]) {
    let reported = Arc::new(Mutex::new(HashSet::new()));
    let into = Arc::clone(&reported);
    let det = Detector::new(config(sources), move |v| {
        into.lock().unwrap().insert(v.src);
    })
    .unwrap();
    for chunk in events.chunks(1024) {
        det.observe_batch(chunk).unwrap();
    }
    let s = det.stats().unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    let mut naive = Naive::default();
    for e in events {
        naive.observe(e);
    }
    let naive_bytes = LIVE.load(Ordering::Relaxed) - before;
    let tracked = naive.sources.len() as f64;
    // Recall by source: which of the exact detector's scanners sweepwatch
    // reported at all (it also reports growth, so verdicts are no measure).
    let reported = reported.lock().unwrap();
    let scanners: Vec<&IpAddr> = naive
        .sources
        .iter()
        .filter(|(_, s)| s.reported)
        .map(|(a, _)| a)
        .collect();
    let found = scanners.iter().filter(|a| reported.contains(**a)).count();
    // The missed scanners by how many distinct pairs they had probed by
    // the end: whether the misses sit near `min_targets`, where a count
    // lost to estimation or to a false repeat matters most.
    let mut missed: std::collections::BTreeMap<usize, usize> = Default::default();
    for a in scanners.iter().filter(|a| !reported.contains(**a)) {
        *missed.entry(naive.sources[*a].pairs.len()).or_default() += 1;
    }
    eprintln!(
        "memory N={sources}: {} sources seen; sweepwatch {:.1} MiB total = {:.1} B/source \
         ({} evicted, {} pool records), {} verdicts; naive {:.1} MiB = {:.0} B/source, {} verdicts; \
         recall {}/{} = {:.2}% of the naive detector's scanners; missed ones by pairs probed: {:?}",
        naive.sources.len(),
        s.memory_bytes as f64 / 1048576.0,
        s.memory_bytes as f64 / tracked,
        s.evicted,
        s.with_evidence,
        s.verdicts,
        naive_bytes as f64 / 1048576.0,
        naive_bytes as f64 / tracked,
        naive.verdicts,
        found,
        scanners.len(),
        100.0 * found as f64 / scanners.len().max(1) as f64,
        missed
    );
}

/// Time `feed` takes over `iters` fresh detectors (construction not timed).
fn timed(iters: u64, sources: u32, feed: impl Fn(&Detector)) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let det = Detector::new(config(sources), |_| {}).unwrap();
        let start = Instant::now();
        feed(&det);
        spent += start.elapsed();
    }
    spent
}

/// The bench at each of `sizes` sources: the memory and recall line, then
/// sweepwatch's batch and per-event paths and the naive detector, timed.
pub fn observe(c: &mut Criterion, sizes: &[u32]) {
    let mut group = c.benchmark_group("observe");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    for &sources in sizes {
        let events = workload(sources, (3 * sources as usize).max(3_000_000));
        report_memory(sources, &events);
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("sweepwatch", sources),
            &events,
            |b, evs| {
                b.iter_custom(|iters| {
                    timed(iters, sources, |det| {
                        for chunk in evs.chunks(1024) {
                            det.observe_batch(chunk).unwrap();
                        }
                    })
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("sweepwatch_single", sources),
            &events,
            |b, evs| {
                b.iter_custom(|iters| {
                    timed(iters, sources, |det| {
                        for e in evs {
                            det.observe(e).unwrap();
                        }
                    })
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("naive", sources), &events, |b, evs| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let mut naive = Naive::default();
                    let start = Instant::now();
                    for e in evs {
                        naive.observe(e);
                    }
                    spent += start.elapsed();
                    drop(naive);
                }
                spent
            })
        });
    }
    group.finish();
}
