//! One detector fed by several threads decides as a single-threaded run does.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use sweepwatch::{AllowRule, Config, Detector, Error, Event, Kind, Outcome, Protocol, Verdict};

fn workload() -> Vec<Event> {
    let mut rng = Rng(77);
    let mut events = Vec::new();
    // 40 scanners of several kinds among 3,000 benign clients.
    for s in 0..40u8 {
        let src = v4(198, 51, 100, s);
        for i in 0..60u16 {
            let t = f64::from(s) + f64::from(i) * 0.05;
            let (dst, port) = if s % 2 == 0 {
                (v4(192, 168, s, i as u8), 22 + u16::from(s))
            } else {
                (v4(192, 168, 200, s), 1000 + i)
            };
            let o = if rng.chance(0.15) {
                Outcome::Established
            } else {
                Outcome::Refused
            };
            let source = Prober::new(src, Protocol::Tcp, true, 0.01);
            source.send(&mut events, t, dst, port, o);
        }
    }
    background(&mut rng, &mut events, 250, 40, 60.0);
    by_time(events)
}

type Key = (std::net::IpAddr, &'static str, &'static str, u16);

fn key(v: &Verdict) -> Key {
    // A scan's ports are many and equally probed: only a sweep's port is main.
    let port = if v.kind == Kind::PortScan {
        0
    } else {
        v.ports()[0]
    };
    (v.src, v.kind.as_str(), v.direction.as_str(), port)
}

fn collect() -> (
    Arc<Mutex<Vec<Verdict>>>,
    impl Fn(&Verdict) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    (seen, move |v: &Verdict| sink.lock().unwrap().push(*v))
}

#[test]
fn four_threads_find_what_one_thread_finds() {
    let events = workload();
    let (one, sink) = collect();
    let det = Detector::new(Config::default(), sink).unwrap();
    for e in &events {
        det.observe(e).unwrap();
    }
    let single: BTreeSet<Key> = one.lock().unwrap().iter().map(key).collect();
    assert_eq!(single.len(), 40, "{single:#?}");

    // One shard, the default, and more shards than a batch step holds events:
    // each takes its own grouping path in `observe_batch`.
    for (round, shards) in [1, 8, 8, 600, 600].into_iter().enumerate() {
        let (many, sink) = collect();
        let config = Config {
            shards,
            memory_bytes: Config::default().memory_bytes.max(u64::from(shards) << 18),
            ..Config::default()
        };
        let det = Arc::new(Detector::new(config, sink).unwrap());
        // Engines hash flows to workers: each thread gets every fourth event, and
        // half of the threads use the batch path.
        let handles: Vec<_> = (0..4)
            .map(|w| {
                let det = Arc::clone(&det);
                let mine: Vec<Event> = events.iter().skip(w).step_by(4).copied().collect();
                std::thread::spawn(move || {
                    if w % 2 == 0 {
                        for e in &mine {
                            det.observe(e).unwrap();
                        }
                    } else {
                        for chunk in mine.chunks(100) {
                            det.observe_batch(chunk).unwrap();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let multi: BTreeSet<Key> = many.lock().unwrap().iter().map(key).collect();
        assert_eq!(multi, single, "round {round}, {shards} shards");
        assert_eq!(det.stats().unwrap().events, events.len() as u64);
    }
}

#[test]
fn batches_decide_exactly_as_single_events_on_every_path() {
    let events = workload();
    // A shard in cache (screening loop, new events counted out of line), a
    // large one (prefetched steps, two passes), several (prefetched steps
    // sorted by shard, also 300 of them), and more shards than a step holds
    // events (steps sorted by key); with an allowed scanner and an ignored
    // port, so that screening has work.
    for (shards, memory_bytes) in [
        (1, 1 << 20),
        (1, 64 << 20),
        (8, 64 << 20),
        (300, 600 << 20),
        (600, 600 << 20),
    ] {
        let config = Config {
            shards,
            memory_bytes,
            allow: vec![AllowRule::Net("198.51.100.3".into())],
            ignore_ports: vec![24],
            // The same hashes, so that estimates match to the bit.
            hash_seed: Some(5),
            ..Config::default()
        };
        let (one, sink) = collect();
        let det = Detector::new(config.clone(), sink).unwrap();
        for e in &events {
            det.observe(e).unwrap();
        }
        let mut single = (one.lock().unwrap().clone(), det.stats().unwrap());
        let (many, sink) = collect();
        let det = Detector::new(config.clone(), sink).unwrap();
        for chunk in events.chunks(100) {
            det.observe_batch(chunk).unwrap();
        }
        let mut batched = (many.lock().unwrap().clone(), det.stats().unwrap());
        // And through a staging buffer, which hands over 256 events at a
        // time (or a second's worth), the last of them when dropped.
        let (many, sink) = collect();
        let det = Detector::new(config, sink).unwrap();
        {
            let mut stage = det.staged(256, 1_000_000);
            for e in &events {
                stage.observe(e).unwrap();
            }
        }
        let mut staged = (many.lock().unwrap().clone(), det.stats().unwrap());
        if shards > 1 {
            // Shards take their turns in a step: only their verdicts interleave
            // differently.
            let order = |v: &Verdict| (v.ts, v.src, v.kind);
            single.0.sort_by_key(order);
            batched.0.sort_by_key(order);
            staged.0.sort_by_key(order);
        }
        assert!(single.0.len() >= 35, "{shards} shards: {:#?}", single.0);
        assert!(single.1.allowed > 0 && single.1.ignored > 0);
        assert!(batched == single, "{shards} shards, {memory_bytes} bytes");
        assert!(
            staged == single,
            "staged: {shards} shards, {memory_bytes} bytes"
        );
    }
}

#[test]
fn a_callback_that_calls_back_is_refused_not_deadlocked() {
    let refused = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&refused);
    let inner: Arc<Mutex<Option<Arc<Detector>>>> = Arc::new(Mutex::new(None));
    let handle = Arc::clone(&inner);
    let det = Arc::new(
        Detector::new(Config::default(), move |v| {
            let det = handle.lock().unwrap().clone().unwrap();
            let again = Event::new(v.ts, v.src, v.src, 1, Protocol::Tcp, Outcome::Refused);
            log.lock()
                .unwrap()
                .push((det.observe(&again), det.stats().map(|_| ())));
        })
        .unwrap(),
    );
    *inner.lock().unwrap() = Some(Arc::clone(&det));
    for host in 1..=10u8 {
        det.observe(&ev(
            f64::from(host),
            ip("203.0.113.1"),
            v4(10, 0, 0, host),
            22,
            Protocol::Tcp,
            Outcome::Refused,
        ))
        .unwrap();
    }
    let calls = refused.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0], (Err(Error::Reentrant), Err(Error::Reentrant)));
    // After the callback returned, the detector works as before.
    assert_eq!(det.stats().unwrap().events, 10);
    *inner.lock().unwrap() = None;
}

#[test]
fn a_batch_runs_on_a_thread_with_a_small_stack() {
    // observe_batch's steps sit on the caller's stack (about 100 KiB, as
    // documented); a worker thread of 256 KiB, as some engines and C
    // libraries give, must hold them on every path.
    let events = workload();
    for (shards, memory_bytes) in [(1, 64 << 20), (8, 64 << 20), (600, 600 << 20)] {
        let config = Config {
            shards,
            memory_bytes,
            ..Config::default()
        };
        let (seen, sink) = collect();
        let det = Arc::new(Detector::new(config, sink).unwrap());
        let worker = Arc::clone(&det);
        let batch = events.clone();
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || worker.observe_batch(&batch).unwrap())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(det.stats().unwrap().events, events.len() as u64);
        assert!(seen.lock().unwrap().len() >= 35, "{shards} shards");
    }
}
