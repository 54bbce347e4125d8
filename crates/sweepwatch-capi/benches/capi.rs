//! The cost of the C ABI: the same events fed through the Rust API and through
//! the exported `sw_` functions, one at a time and in batches.
//!
//! `cargo bench -p sweepwatch-capi --bench capi` runs it. Each iteration feeds the same 100,000
//! events from 10,000 sources, moved on in time, to one detector per path, so
//! both paths do the same work on warm memory. The `capi_1m` group does the
//! same with 3,000,000 events from 1,000,000 sources in the observe bench's
//! budget (about 30 bytes a source), where per-event callers meet cache
//! misses: `c_abi/observe` goes through the default ordering window, which
//! hands the detector batches; `c_abi/observe_unordered` has it off;
//! `rust/staged` calls once an event through a `Staged` buffer of 256, and
//! `c_abi/staged` and `c_abi/staged_unordered` through an `sw_stage` of 256,
//! with the window on and off.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::ffi::c_void;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::ptr;
use std::time::{Duration, Instant};
use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp};
use sweepwatch_capi::{
    sw_config_free, sw_config_new, sw_config_set_hash_seed, sw_config_set_memory_bytes,
    sw_config_set_reorder, sw_detector, sw_detector_free, sw_detector_new, sw_detector_observe,
    sw_detector_observe_batch, sw_event, sw_result, sw_stage_free, sw_stage_new, sw_stage_observe,
    sw_verdict,
};

const EVENTS: usize = 100_000;
const SOURCES: u32 = 10_000;
const BATCH: usize = 1024;
const MEMORY: u64 = 8 << 20;
const SEED: u64 = 7;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `events` events from `sources` sources in 10.0.0.0/8; one in a hundred
/// probes random hosts on a few ports and mostly fails, the rest talk to a
/// few servers and mostly succeed.
fn workload(sources: u32, events: usize) -> Vec<Event> {
    let mut rng = Rng(1);
    let t0 = 1_700_000_000_000_000u64;
    (0..events)
        .map(|i| {
            let n = (rng.next() % u64::from(sources)) as u32;
            let src = IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | n));
            let ts = Timestamp::from_micros(t0 + i as u64 * 1000);
            let r = rng.next();
            if n % 100 == 7 {
                let dst = IpAddr::V4(Ipv4Addr::from(0xC633_0000 | (r as u32 & 0xFFFF)));
                let port = [22u16, 445, 3389][((r >> 32) % 3) as usize];
                let outcome = if (r >> 40) % 4 == 0 {
                    Outcome::Unanswered
                } else {
                    Outcome::Refused
                };
                Event::new(ts, src, dst, port, Protocol::Tcp, outcome)
            } else {
                let dst = IpAddr::V4(Ipv4Addr::from(0xCB00_7100 | (r as u32 % 200)));
                let outcome = if (r >> 32) % 50 == 0 {
                    Outcome::Refused
                } else {
                    Outcome::Established
                };
                Event::new(ts, src, dst, 443, Protocol::Tcp, outcome)
            }
        })
        .collect()
}

fn config(memory: u64) -> Config {
    Config {
        memory_bytes: memory,
        hash_seed: Some(SEED),
        ..Config::default()
    }
}

unsafe extern "C" fn ignore(_user_data: *mut c_void, verdict: *const sw_verdict) {
    black_box(verdict);
}

/// A C ABI detector configured like [`config`], its ordering window on (the
/// default) or off.
fn c_detector(memory: u64, ordered: bool) -> *mut sw_detector {
    // SAFETY: each handle is used as the header documents and freed once.
    unsafe {
        let cfg = sw_config_new();
        assert_eq!(sw_config_set_memory_bytes(cfg, memory), sw_result::Ok);
        assert_eq!(sw_config_set_hash_seed(cfg, SEED), sw_result::Ok);
        if !ordered {
            assert_eq!(sw_config_set_reorder(cfg, 0, 0), sw_result::Ok);
        }
        let mut det = ptr::null_mut();
        let r = sw_detector_new(cfg, Some(ignore), ptr::null_mut(), &mut det);
        assert_eq!(r, sw_result::Ok);
        sw_config_free(cfg);
        det
    }
}

/// Times `feed` over the events, moving them two hours on before each
/// iteration so that every source starts a new episode: the detector's memory
/// stays warm and no iteration sees another's events as duplicates.
fn steady<T>(iters: u64, events: &mut [T], shift: fn(&mut T), feed: impl Fn(&[T])) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        events.iter_mut().for_each(shift);
        let start = Instant::now();
        feed(events);
        spent += start.elapsed();
    }
    spent
}

const SHIFT_US: u64 = 2 * 3600 * 1_000_000;

fn shift_rust(e: &mut Event) {
    e.ts = Timestamp::from_micros(e.ts.as_micros() + SHIFT_US);
}

fn shift_c(e: &mut sw_event) {
    e.ts_us += SHIFT_US;
}

/// The paths over `events` from `sources` sources in `memory`.
fn paths(c: &mut Criterion, group: &str, sources: u32, events: usize, memory: u64) {
    let events = workload(sources, events);
    let c_events: Vec<sw_event> = events.iter().map(sw_event::from).collect();
    let mut group = c.benchmark_group(group);
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    let rust = || {
        Detector::new(config(memory), |v| {
            black_box(v);
        })
        .unwrap()
    };

    group.bench_function("rust/observe", |b| {
        let det = rust();
        let mut evs = events.clone();
        b.iter_custom(|iters| {
            steady(iters, &mut evs, shift_rust, |evs| {
                for e in evs {
                    det.observe(e).unwrap();
                }
            })
        })
    });
    for (name, ordered) in [("c_abi/observe", true), ("c_abi/observe_unordered", false)] {
        group.bench_function(name, |b| {
            let det = c_detector(memory, ordered);
            let mut evs = c_events.clone();
            b.iter_custom(|iters| {
                steady(iters, &mut evs, shift_c, |evs| {
                    for e in evs {
                        // SAFETY: `det` is live and `e` a valid event.
                        let r = unsafe { sw_detector_observe(det, e) };
                        assert_eq!(r, sw_result::Ok);
                    }
                })
            });
            // SAFETY: freed once, after its last use.
            unsafe { sw_detector_free(det) };
        });
    }
    group.bench_function("rust/staged", |b| {
        let det = rust();
        let mut evs = events.clone();
        b.iter_custom(|iters| {
            steady(iters, &mut evs, shift_rust, |evs| {
                // One event a call, handed over 256 at a time.
                let mut stage = det.staged(256, 1_000_000);
                for e in evs {
                    stage.observe(e).unwrap();
                }
            })
        })
    });
    for (name, ordered) in [("c_abi/staged", true), ("c_abi/staged_unordered", false)] {
        group.bench_function(name, |b| {
            let det = c_detector(memory, ordered);
            let mut evs = c_events.clone();
            b.iter_custom(|iters| {
                steady(iters, &mut evs, shift_c, |evs| {
                    // One event a call, handed over 256 at a time, as rust/staged.
                    let mut stage = ptr::null_mut();
                    // SAFETY: `det` is live and outlives the stage, freed
                    // below; each `e` is a valid event.
                    unsafe {
                        let r = sw_stage_new(det, 256, 1_000_000, &mut stage);
                        assert_eq!(r, sw_result::Ok);
                        for e in evs {
                            let r = sw_stage_observe(stage, e);
                            assert_eq!(r, sw_result::Ok);
                        }
                        sw_stage_free(stage);
                    }
                })
            });
            // SAFETY: freed once, after its last use.
            unsafe { sw_detector_free(det) };
        });
    }
    group.bench_function("rust/observe_batch", |b| {
        let det = rust();
        let mut evs = events.clone();
        b.iter_custom(|iters| {
            steady(iters, &mut evs, shift_rust, |evs| {
                for chunk in evs.chunks(BATCH) {
                    det.observe_batch(chunk).unwrap();
                }
            })
        })
    });
    group.bench_function("c_abi/observe_batch", |b| {
        let det = c_detector(memory, true);
        let mut evs = c_events.clone();
        b.iter_custom(|iters| {
            steady(iters, &mut evs, shift_c, |evs| {
                for chunk in evs.chunks(BATCH) {
                    // SAFETY: `det` is live and `chunk` a valid array.
                    let r = unsafe { sw_detector_observe_batch(det, chunk.as_ptr(), chunk.len()) };
                    assert_eq!(r, sw_result::Ok);
                }
            })
        });
        // SAFETY: freed once, after its last use.
        unsafe { sw_detector_free(det) };
    });
    group.finish();
}

fn capi(c: &mut Criterion) {
    paths(c, "capi", SOURCES, EVENTS, MEMORY);
    // The observe bench's budget rule at 1,000,000 sources.
    let million = 1_000_000u32;
    paths(
        c,
        "capi_1m",
        million,
        3_000_000,
        u64::from(million) * 16 * 100 / 85 * 16 / 10,
    );
}

criterion_group!(benches, capi);
criterion_main!(benches);
