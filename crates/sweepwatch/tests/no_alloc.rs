//! After construction, observing events and delivering verdicts never allocates.

mod common;

use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Verdict};

struct Counting;

thread_local! {
    /// Counts only on the thread under test: the harness allocates elsewhere.
    static ARMED: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(|a| a.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if ARMED.with(|a| a.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A million events: benign clients, sweepers, scanners and backscatter.
fn million() -> Vec<Event> {
    let mut rng = Rng(42);
    let mut events = Vec::with_capacity(1_000_000);
    let mut t = 0.0;
    while events.len() < 1_000_000 {
        t += 0.0005;
        let r = rng.below(100);
        let (src, dst, port, outcome) = if r < 3 {
            // One of 500 scanners sweeping port 445.
            let s = rng.below(500) as u32;
            (
                v4(198, 18, (s >> 8) as u8, s as u8),
                rng.external(),
                445,
                Outcome::Refused,
            )
        } else if r < 4 {
            (rng.external(), v4(192, 168, 0, 1), 80, Outcome::Unsolicited)
        } else {
            let c = rng.below(20_000) as u32;
            let src = v4(10, (c >> 16) as u8, (c >> 8) as u8, c as u8);
            let o = if rng.chance(0.05) {
                Outcome::Unanswered
            } else {
                Outcome::Established
            };
            (src, rng.external(), 443, o)
        };
        events.push(ev(t, src, dst, port, Protocol::Tcp, outcome));
    }
    events
}

#[test]
fn a_million_events_allocate_nothing() {
    let events = million();
    let verdicts = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&verdicts);
    // The callback copies each verdict into a fixed array: delivery included.
    let last = Arc::new(std::sync::Mutex::new([Verdict::empty(); 16]));
    let keep = Arc::clone(&last);
    let det = Detector::new(Config::default(), move |v| {
        let n = count.fetch_add(1, Ordering::Relaxed);
        keep.lock().unwrap()[n % 16] = *v;
    })
    .unwrap();

    // A staging buffer allocates once, when made.
    let mut stage = det.staged(512, 1_000_000);
    ARMED.with(|a| a.set(true));
    for e in &events[..300_000] {
        det.observe(e).unwrap();
    }
    for e in &events[300_000..500_000] {
        stage.observe(e).unwrap();
    }
    stage.flush().unwrap();
    det.observe_batch(&events[500_000..]).unwrap();
    det.advance(events[999_999].ts).unwrap();
    let stats = det.stats().unwrap();
    ARMED.with(|a| a.set(false));
    drop(stage);

    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations while observing"
    );
    assert_eq!(stats.events, 1_000_000);
    assert!(
        verdicts.load(Ordering::Relaxed) >= 400,
        "verdicts: {verdicts:?}"
    );
    assert!(stats.sources > 10_000);
}

#[test]
fn a_restored_detector_allocates_nothing_either() {
    let events = million();
    let det = Detector::new(Config::default(), |_| {}).unwrap();
    det.observe_batch(&events[..300_000]).unwrap();
    let mut state = Vec::new();
    det.save(&mut state).unwrap();
    drop(det);
    let det = Detector::restore(Config::default(), &state[..], |_| {}).unwrap();

    ARMED.with(|a| a.set(true));
    det.observe_batch(&events[300_000..]).unwrap();
    let stats = det.stats().unwrap();
    ARMED.with(|a| a.set(false));

    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations while observing"
    );
    assert_eq!(stats.events, 1_000_000);
}
