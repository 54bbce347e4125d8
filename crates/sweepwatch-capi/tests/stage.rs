//! `sw_stage`: a stage holds events no longer than its bounds (a full stage,
//! an event `max_delay_us` newer than the oldest, a flush, a free), its
//! hand-overs give the verdicts of feeding one by one, it refuses what the
//! rest of the ABI refuses, and it allocates nothing after sw_stage_new().

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::ffi::c_void;
use std::net::{IpAddr, Ipv6Addr};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use sweepwatch::{Event, Outcome, Protocol, Timestamp};
use sweepwatch_capi::*;

mod common;
use common::*;

/// Counts allocations made on a thread that armed it, for
/// `staging_allocates_nothing_after_sw_stage_new`: the harness allocates on
/// other threads.
struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(|a| a.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if ARMED.with(|a| a.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `dealloc`.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A detector with a fixed seed whose verdicts go to `sink`, its ordering
/// window on (the default) or off.
fn detector(sink: &Sink, ordered: bool) -> *mut sw_detector {
    // SAFETY: handles are used as documented and the config freed once.
    unsafe {
        let cfg = sw_config_new();
        assert!(!cfg.is_null());
        assert_eq!(sw_config_set_memory_bytes(cfg, 4 << 20), sw_result::Ok);
        assert_eq!(sw_config_set_shards(cfg, 2), sw_result::Ok);
        assert_eq!(sw_config_set_hash_seed(cfg, 42), sw_result::Ok);
        if !ordered {
            assert_eq!(sw_config_set_reorder(cfg, 0, 0), sw_result::Ok);
        }
        let mut det = ptr::null_mut();
        assert_eq!(
            sw_detector_new(cfg, Some(collect), user_data(sink), &mut det),
            sw_result::Ok
        );
        sw_config_free(cfg);
        det
    }
}

/// A stage of `det`.
fn stage(det: *mut sw_detector, capacity: usize, max_delay_us: u64) -> *mut sw_stage {
    let mut stage = ptr::null_mut();
    // SAFETY: `det` is live; `stage` is writable.
    let r = unsafe { sw_stage_new(det, capacity, max_delay_us, &mut stage) };
    assert_eq!(r, sw_result::Ok);
    assert!(!stage.is_null());
    stage
}

/// Stages `ev`; the result.
fn observe(stage: *mut sw_stage, ev: &sw_event) -> sw_result {
    // SAFETY: the tests pass live stages and valid events.
    unsafe { sw_stage_observe(stage, ev) }
}

fn len(stage: *const sw_stage) -> usize {
    // SAFETY: the tests pass live stages or NULL.
    unsafe { sw_stage_len(stage) }
}

/// 203.0.113.7 sweeps port 22 of 40 home hosts, all refused, one every
/// `gap_us` microseconds.
fn sweep(gap_us: u64) -> Vec<sw_event> {
    (1..=40u8)
        .map(|i| {
            let ev = Event::new(
                Timestamp::from_micros(T0 + u64::from(i) * gap_us),
                v4(203, 0, 113, 7),
                v4(192, 168, 1, i),
                22,
                Protocol::Tcp,
                Outcome::Refused,
            );
            sw_event::from(&ev)
        })
        .collect()
}

/// The verdicts in `sink` that decided (not final extents).
fn decided(sink: &Sink) -> Vec<sw_verdict> {
    let seen = sink.lock().unwrap();
    seen.iter().filter(|v| v.is_final == 0).copied().collect()
}

/// Checks the sweep's verdict: minimum 5 targets by default, so decided at
/// its fifth host, at that host's time.
fn is_the_sweeps_verdict(v: &sw_verdict, sweep: &[sw_event]) {
    assert_eq!(v.kind, sw_kind::PortSweep as u8);
    assert_eq!(v.src_addr[..4], [203, 0, 113, 7]);
    assert_eq!((v.n_ports, v.ports[0]), (1, 22));
    assert_eq!(v.targets, 5);
    assert_eq!(v.ts_us, sweep[4].ts_us);
    assert_eq!(v.is_final, 0);
}

#[test]
fn a_verdict_waits_for_a_full_stage_and_no_longer() {
    let sink = Sink::default();
    let det = detector(&sink, false);
    let sweep = sweep(1_000);
    let st = stage(det, 8, u64::MAX);
    for (i, ev) in sweep[..7].iter().enumerate() {
        assert_eq!(observe(st, ev), sw_result::Ok);
        assert_eq!(len(st), i + 1);
        assert!(sink.lock().unwrap().is_empty(), "handed over after {i}");
    }
    assert_eq!(stats(det).events, 0);
    // The eighth fills the stage: all eight go over, and the verdict decided
    // at the fifth comes with them.
    assert_eq!(observe(st, &sweep[7]), sw_result::Ok);
    assert_eq!(len(st), 0);
    assert_eq!(stats(det).events, 8);
    let v = decided(&sink);
    assert_eq!(v.len(), 1, "{v:?}");
    is_the_sweeps_verdict(&v[0], &sweep);
    // The next seven wait again.
    for ev in &sweep[8..15] {
        assert_eq!(observe(st, ev), sw_result::Ok);
    }
    assert_eq!((len(st), stats(det).events), (7, 8));
    assert_eq!(observe(st, &sweep[15]), sw_result::Ok);
    assert_eq!((len(st), stats(det).events), (0, 16));
    // SAFETY: freed once, the stage before its detector.
    unsafe {
        sw_stage_free(st);
        sw_detector_free(det);
    }
}

#[test]
fn a_verdict_waits_no_longer_than_the_delay_in_event_time() {
    const BOUND: u64 = 1_000_000;
    // One host every 0.3 s, then every 0.25 s (the fifth exactly one second
    // after the first), then every 0.2 s (the sixth).
    for gap in [300_000, 250_000, 200_000] {
        let sink = Sink::default();
        let det = detector(&sink, false);
        let sweep = sweep(gap);
        let due = sweep
            .iter()
            .position(|e| e.ts_us - sweep[0].ts_us >= BOUND)
            .unwrap();
        if gap == 300_000 {
            assert_eq!(due, 4);
        }
        let st = stage(det, 1000, BOUND);
        for ev in &sweep[..due] {
            assert_eq!(observe(st, ev), sw_result::Ok);
        }
        assert_eq!(len(st), due, "gap {gap}");
        assert_eq!(stats(det).events, 0);
        assert!(sink.lock().unwrap().is_empty());
        assert_eq!(observe(st, &sweep[due]), sw_result::Ok);
        assert_eq!(len(st), 0, "gap {gap}");
        assert_eq!(stats(det).events, due as u64 + 1);
        let v = decided(&sink);
        assert_eq!(v.len(), 1, "gap {gap}: {v:?}");
        is_the_sweeps_verdict(&v[0], &sweep);
        // SAFETY: freed once, the stage before its detector.
        unsafe {
            sw_stage_free(st);
            sw_detector_free(det);
        }
    }
}

#[test]
fn flush_and_free_hand_over_what_is_staged() {
    for ordered in [false, true] {
        let sink = Sink::default();
        let det = detector(&sink, ordered);
        let sweep = sweep(1_000);
        let st = stage(det, 1000, u64::MAX);
        for ev in &sweep[..5] {
            assert_eq!(observe(st, ev), sw_result::Ok);
        }
        assert_eq!(len(st), 5);
        // SAFETY: `st` is live.
        assert_eq!(unsafe { sw_stage_flush(st) }, sw_result::Ok);
        assert_eq!(len(st), 0);
        // SAFETY: as above; an empty stage flushes too.
        assert_eq!(unsafe { sw_stage_flush(st) }, sw_result::Ok);
        if !ordered {
            assert_eq!(stats(det).events, 5);
            is_the_sweeps_verdict(&decided(&sink)[0], &sweep);
        }
        // The rest of the sweep, staged in another stage and freed: every
        // event reaches the detector (with the window on, once it drains).
        let rest = stage(det, 1000, u64::MAX);
        for ev in &sweep[5..] {
            assert_eq!(observe(rest, ev), sw_result::Ok);
        }
        assert_eq!(len(rest), 35);
        // SAFETY: freed once, before the detector.
        unsafe { sw_stage_free(rest) };
        if ordered {
            // SAFETY: `det` is live.
            assert_eq!(unsafe { sw_detector_flush(det) }, sw_result::Ok);
        }
        assert_eq!(stats(det).events, 40, "ordered {ordered}");
        let v = decided(&sink);
        assert_eq!(v.len(), 1, "ordered {ordered}: {v:?}");
        is_the_sweeps_verdict(&v[0], &sweep);
        // SAFETY: freed once, the stage before its detector.
        unsafe {
            sw_stage_free(st);
            sw_detector_free(det);
        }
    }
}

/// Deterministic numbers for the workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Sources planted in [`mixed`] that must be reported: sweepers, port
/// scanners and an IPv6 sweeper.
fn planted() -> Vec<IpAddr> {
    let mut srcs: Vec<IpAddr> = (0..12).map(|s| v4(198, 51, 100, s)).collect();
    srcs.extend((0..4).map(|s| v4(198, 51, 100, 100 + s)));
    srcs.push(IpAddr::V6("2001:db8::bad".parse().unwrap()));
    srcs
}

/// About 30,000 events over two minutes, in the order an engine learns
/// them: 1,500 clients talking to a few servers (mostly answered), the
/// [`planted`] scanners (refused, or unanswered and learnt 3 s late but
/// stamped with their probe's time), and backscatter.
fn mixed() -> Vec<sw_event> {
    let mut rng = Rng(9);
    let mut events: Vec<(u64, Event)> = Vec::new();
    let mut push = |learnt: u64, ts: u64, src, dst, port, outcome| {
        let ev = Event::new(
            Timestamp::from_micros(ts),
            src,
            dst,
            port,
            Protocol::Tcp,
            outcome,
        );
        events.push((learnt, ev));
    };
    for i in 0..27_000u64 {
        let ts = T0 + i * 4_000 + rng.below(4_000);
        let c = rng.below(1_500) as u32;
        let src = v4(10, 1, (c >> 8) as u8, c as u8);
        let dst = v4(203, 0, 113, 10 + rng.below(20) as u8);
        let (outcome, late) = match rng.below(100) {
            0..=1 => (Outcome::Refused, 0),
            2..=3 => (Outcome::Unanswered, 3_000_000),
            _ => (Outcome::Established, 1_000),
        };
        push(ts + late, ts, src, dst, 443, outcome);
    }
    for (n, src) in planted().into_iter().enumerate() {
        let start = T0 + n as u64 * 6_000_000;
        for i in 0..60u64 {
            let ts = start + i * 50_000 + rng.below(50_000);
            let r = rng.below(1 << 16) as u16;
            let (dst, port) = match src {
                IpAddr::V6(_) => {
                    let dst = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, r);
                    (IpAddr::V6(dst), 445)
                }
                // Port scanners: one host, many ports.
                IpAddr::V4(a) if a.octets()[3] >= 100 => (v4(192, 168, 7, 1), 1 + i as u16),
                IpAddr::V4(a) => (
                    v4(192, 168, (r >> 8) as u8, r as u8),
                    [22, 445, 3389][usize::from(a.octets()[3]) % 3],
                ),
            };
            let (outcome, late) = if rng.below(3) == 0 {
                (Outcome::Unanswered, 3_000_000)
            } else {
                (Outcome::Refused, 500)
            };
            push(ts + late, ts, src, dst, port, outcome);
        }
    }
    for i in 0..2_000u64 {
        let ts = T0 + rng.below(110_000_000);
        let src = v4(100, 64, (i >> 8) as u8, i as u8);
        push(ts, ts, src, v4(10, 1, 0, 1), 80, Outcome::Unsolicited);
    }
    events.sort_by_key(|(learnt, _)| *learnt);
    events.iter().map(|(_, ev)| sw_event::from(ev)).collect()
}

/// A verdict as sortable text: sets of verdicts compare regardless of the
/// order of delivery between sources.
fn sorted(verdicts: &[sw_verdict]) -> Vec<String> {
    let mut v: Vec<String> = verdicts.iter().map(|v| format!("{v:?}")).collect();
    v.sort();
    v
}

/// Feeds `events` one by one with sw_detector_observe, then flushes: the
/// verdicts and counters.
fn one_by_one(events: &[sw_event], ordered: bool) -> (Vec<sw_verdict>, sw_stats) {
    let sink = Sink::default();
    let det = detector(&sink, ordered);
    for ev in events {
        // SAFETY: `det` is live and `ev` valid.
        assert_eq!(unsafe { sw_detector_observe(det, ev) }, sw_result::Ok);
    }
    // SAFETY: `det` is live, then freed once.
    unsafe { assert_eq!(sw_detector_flush(det), sw_result::Ok) };
    let st = stats(det);
    // SAFETY: freed once.
    unsafe { sw_detector_free(det) };
    (sink.into_inner().unwrap(), st)
}

#[test]
fn staged_verdicts_are_those_of_one_by_one() {
    let events = mixed();
    for ordered in [true, false] {
        let (want, want_stats) = one_by_one(&events, ordered);
        // The planted scanners are found, and only they among decisions.
        let reported: BTreeSet<[u8; 16]> = want
            .iter()
            .filter(|v| v.is_final == 0)
            .map(|v| v.src_addr)
            .collect();
        let planted: BTreeSet<[u8; 16]> = planted()
            .iter()
            .map(|ip| {
                let ev = Event::new(
                    Timestamp::from_micros(T0),
                    *ip,
                    *ip,
                    0,
                    Protocol::Tcp,
                    Outcome::Refused,
                );
                sw_event::from(&ev).src_addr
            })
            .collect();
        assert_eq!(reported, planted, "ordered {ordered}");
        assert_eq!(want_stats.events, events.len() as u64);

        for (capacity, max_delay_us) in [
            (0, u64::MAX),
            (7, u64::MAX),
            (256, 1_000_000),
            (1024, 20_000),
            (64, 0),
        ] {
            let sink = Sink::default();
            let det = detector(&sink, ordered);
            let st = stage(det, capacity, max_delay_us);
            for ev in &events {
                assert_eq!(observe(st, ev), sw_result::Ok);
                assert!(len(st) < capacity.max(1));
            }
            // SAFETY: freed once, before the detector, which is flushed
            // and freed once.
            unsafe {
                sw_stage_free(st);
                assert_eq!(sw_detector_flush(det), sw_result::Ok);
            }
            let what = format!("ordered {ordered}, stage of {capacity}, {max_delay_us} us");
            assert_eq!(stats(det), want_stats, "{what}");
            // SAFETY: freed once.
            unsafe { sw_detector_free(det) };
            let got = sink.into_inner().unwrap();
            assert_eq!(sorted(&got), sorted(&want), "{what}");
        }
    }
}

/// A detector handle sent to a feeding thread.
#[derive(Clone, Copy)]
struct Shared(*mut sw_detector);

// SAFETY: a detector may be fed from several threads at once.
unsafe impl Send for Shared {}

#[test]
fn many_stages_feed_one_detector_at_once() {
    let events = mixed();
    let (want, want_stats) = one_by_one(&events, false);
    let key = |v: &sw_verdict| (v.src_addr, v.kind);
    let want: BTreeSet<_> = want.iter().filter(|v| v.is_final == 0).map(key).collect();
    let sink = Sink::default();
    let det = Shared(detector(&sink, false));
    // Engines hash flows to workers: each thread has the events of a quarter
    // of the sources, in their order, and its own stage.
    std::thread::scope(|s| {
        for w in 0..4u8 {
            let events = &events;
            s.spawn(move || {
                let det = det;
                let st = stage(det.0, 256, 1_000_000);
                let mine = events.iter().filter(|e| {
                    let a = e.src_addr;
                    (a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[15]) % 4 == w
                });
                for ev in mine {
                    assert_eq!(observe(st, ev), sw_result::Ok);
                }
                // SAFETY: freed once, on the thread that used it.
                unsafe { sw_stage_free(st) };
            });
        }
    });
    // SAFETY: every stage is freed; `det` is live, then freed once.
    unsafe { assert_eq!(sw_detector_flush(det.0), sw_result::Ok) };
    assert_eq!(stats(det.0).events, want_stats.events);
    // SAFETY: freed once.
    unsafe { sw_detector_free(det.0) };
    let got = sink.into_inner().unwrap();
    let got: BTreeSet<_> = got.iter().filter(|v| v.is_final == 0).map(key).collect();
    assert_eq!(got, want);
}

#[test]
fn null_arguments_and_malformed_events_are_refused() {
    let sink = Sink::default();
    let det = detector(&sink, false);
    let good = sweep(1_000)[0];
    let dangling = ptr::NonNull::<sw_stage>::dangling().as_ptr();
    let mut out = dangling;
    // SAFETY: every pointer is NULL or valid; NULL is what is being tested.
    unsafe {
        assert_eq!(
            sw_stage_new(ptr::null_mut(), 8, 0, &mut out),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`detector` is NULL"));
        assert_eq!(
            sw_stage_new(det, 8, 0, ptr::null_mut()),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`stage_out` is NULL"));
        for capacity in [(1 << 24) + 1, usize::MAX] {
            assert_eq!(
                sw_stage_new(det, capacity, 0, &mut out),
                sw_result::InvalidArgument
            );
            let m = message(sw_result::InvalidArgument);
            assert!(m.contains(&format!("capacity: {capacity} events")), "{m}");
        }
        assert_eq!(out, dangling, "written on failure");
        assert_eq!(
            sw_stage_observe(ptr::null_mut(), &good),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`stage` is NULL"));
        assert_eq!(sw_stage_flush(ptr::null_mut()), sw_result::NullParameter);
        assert_eq!(sw_stage_len(ptr::null()), 0);
        sw_stage_free(ptr::null_mut());
    }

    let st = stage(det, 4, u64::MAX);
    assert_eq!(observe(st, &good), sw_result::Ok);
    // SAFETY: `st` is live; NULL is what is being tested.
    assert_eq!(
        unsafe { sw_stage_observe(st, ptr::null()) },
        sw_result::NullParameter
    );
    assert!(message(sw_result::NullParameter).contains("`event` is NULL"));
    let cases = [
        (sw_event { family: 0, ..good }, "event: family 0"),
        (sw_event { family: 5, ..good }, "event: family 5"),
        (sw_event { proto: 4, ..good }, "event: proto 4"),
        (sw_event { outcome: 5, ..good }, "event: outcome 5"),
        (
            sw_event {
                technique: 12,
                ..good
            },
            "event: technique 12",
        ),
    ];
    for (ev, what) in cases {
        assert_eq!(observe(st, &ev), sw_result::InvalidArgument);
        let m = message(sw_result::InvalidArgument);
        assert!(m.contains(what), "{m}");
        // Not staged.
        assert_eq!(len(st), 1);
    }
    // SAFETY: freed once, the stage before its detector.
    unsafe { sw_stage_free(st) };
    assert_eq!(stats(det).events, 1);
    assert!(sink.lock().unwrap().is_empty());

    // Capacity 0 means 1: every event goes over at once.
    let st = stage(det, 0, u64::MAX);
    assert_eq!(observe(st, &sweep(1_000)[1]), sw_result::Ok);
    assert_eq!((len(st), stats(det).events), (0, 2));
    // SAFETY: freed once, the stage before its detector.
    unsafe {
        sw_stage_free(st);
        sw_detector_free(det);
    }
}

/// What the reentrant callback does and sees: `outer` is the stage whose
/// hand-over delivers to it, `inner` and `timed` other stages of the same
/// detector.
struct Reentry {
    outer: *mut sw_stage,
    inner: *mut sw_stage,
    timed: *mut sw_stage,
    events: Vec<sw_event>,
    calls: u32,
    results: Vec<sw_result>,
    lens: Vec<usize>,
}

unsafe extern "C" fn reenter(user_data: *mut c_void, verdict: *const sw_verdict) {
    // SAFETY: user_data is the test's `Reentry`, reached only from here while
    // the detector delivers; `verdict` is valid during the call.
    let (r, v) = unsafe { (&mut *user_data.cast::<Reentry>(), &*verdict) };
    if v.is_final != 0 {
        return;
    }
    r.calls += 1;
    let evs = &r.events;
    // SAFETY: the stages are live; the events valid.
    unsafe {
        // Room in the stage: staged without a hand-over.
        for ev in &evs[..3] {
            r.results.push(sw_stage_observe(r.inner, ev));
        }
        r.lens.push(sw_stage_len(r.inner));
        // The fourth fills it: the hand-over is refused, nothing staged.
        r.results.push(sw_stage_observe(r.inner, &evs[3]));
        r.results.push(sw_stage_observe(r.inner, &evs[3]));
        r.results.push(sw_stage_flush(r.inner));
        r.lens.push(sw_stage_len(r.inner));
        // An event two seconds after the staged one: due, refused.
        r.results.push(sw_stage_observe(r.timed, &evs[4]));
        r.results.push(sw_stage_observe(r.timed, &evs[6]));
        r.lens.push(sw_stage_len(r.timed));
        // The stage handing over: refused, and not freed; its length is the
        // events being handed over.
        r.results.push(sw_stage_observe(r.outer, &evs[5]));
        r.results.push(sw_stage_flush(r.outer));
        sw_stage_free(r.outer);
        r.lens.push(sw_stage_len(r.outer));
    }
}

#[test]
fn calls_from_a_verdict_callback_are_reentrant_and_keep_the_events_staged() {
    let sweep = sweep(1_000);
    // Other sources' events for the stages the callback feeds: refused
    // hosts one second apart.
    let events: Vec<sw_event> = (0..7u8)
        .map(|i| {
            let ev = Event::new(
                Timestamp::from_micros(T0 + u64::from(i) * 1_000_000),
                v4(198, 51, 100, 1 + i),
                v4(192, 168, 2, 1),
                80,
                Protocol::Tcp,
                Outcome::Refused,
            );
            sw_event::from(&ev)
        })
        .collect();
    let mut reentry = Reentry {
        outer: ptr::null_mut(),
        inner: ptr::null_mut(),
        timed: ptr::null_mut(),
        events,
        calls: 0,
        results: Vec::new(),
        lens: Vec::new(),
    };
    // SAFETY: handles used as documented; `reentry` outlives the detector
    // and, while the detector delivers, is reached only through `ud`.
    unsafe {
        let cfg = sw_config_new();
        assert_eq!(sw_config_set_reorder(cfg, 0, 0), sw_result::Ok);
        let r = ptr::addr_of_mut!(reentry);
        let mut det = ptr::null_mut();
        assert_eq!(
            sw_detector_new(cfg, Some(reenter), r.cast(), &mut det),
            sw_result::Ok
        );
        sw_config_free(cfg);
        let outer = stage(det, 8, u64::MAX);
        let inner = stage(det, 4, u64::MAX);
        let timed = stage(det, 100, 1_000_000);
        (*r).outer = outer;
        (*r).inner = inner;
        (*r).timed = timed;
        for ev in &sweep[..8] {
            assert_eq!(sw_stage_observe(outer, ev), sw_result::Ok);
        }
        assert_eq!((*r).calls, 1);
        // The outer hand-over went through; the others kept what they had.
        assert_eq!(sw_stage_len(outer), 0);
        assert_eq!(stats(det).events, 8);
        assert_eq!((sw_stage_len(inner), sw_stage_len(timed)), (3, 1));
        // After the callback, the refused event is staged again and hands
        // the stage over.
        let evs = (*r).events.clone();
        assert_eq!(sw_stage_observe(inner, &evs[3]), sw_result::Ok);
        assert_eq!(sw_stage_len(inner), 0);
        assert_eq!(stats(det).events, 12);
        assert_eq!(sw_stage_observe(timed, &evs[6]), sw_result::Ok);
        assert_eq!(sw_stage_len(timed), 0);
        assert_eq!(stats(det).events, 14);
        sw_stage_free(outer);
        sw_stage_free(inner);
        sw_stage_free(timed);
        sw_detector_free(det);
    }
    use sw_result::{Ok as Fine, Reentrant};
    assert_eq!(
        reentry.results,
        [
            Fine, Fine, Fine, Reentrant, Reentrant, Reentrant, Fine, Reentrant, Reentrant,
            Reentrant
        ]
    );
    assert_eq!(reentry.lens, [3, 3, 1, 8]);
    assert!(message(Reentrant).contains("verdict callback"));
}

/// Counts verdicts without allocating.
unsafe extern "C" fn count(user_data: *mut c_void, _verdict: *const sw_verdict) {
    // SAFETY: user_data is the test's live counter.
    unsafe { &*user_data.cast::<AtomicU64>() }.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn staging_allocates_nothing_after_sw_stage_new() {
    let events = mixed();
    for ordered in [true, false] {
        let verdicts = AtomicU64::new(0);
        // SAFETY: handles used as documented; `verdicts` outlives the detector.
        unsafe {
            let cfg = sw_config_new();
            if !ordered {
                assert_eq!(sw_config_set_reorder(cfg, 0, 0), sw_result::Ok);
            }
            let mut det = ptr::null_mut();
            let ud = ptr::from_ref(&verdicts).cast_mut().cast();
            assert_eq!(
                sw_detector_new(cfg, Some(count), ud, &mut det),
                sw_result::Ok
            );
            sw_config_free(cfg);
            let st = stage(det, 256, 1_000_000);
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            ARMED.with(|a| a.set(true));
            for ev in &events {
                assert_eq!(sw_stage_observe(st, ev), sw_result::Ok);
            }
            assert_eq!(sw_stage_flush(st), sw_result::Ok);
            sw_stage_free(st);
            ARMED.with(|a| a.set(false));
            let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
            assert_eq!(allocated, 0, "ordered {ordered}");
            assert_eq!(sw_detector_flush(det), sw_result::Ok);
            sw_detector_free(det);
        }
        assert!(verdicts.load(Ordering::Relaxed) > 0);
    }
}

/// A stage holds copies: the caller's struct is free once the call returns.
#[test]
fn a_stage_keeps_copies() {
    let sink = Sink::default();
    let det = detector(&sink, false);
    let sweep = sweep(1_000);
    let st = stage(det, 5, u64::MAX);
    // One struct, overwritten with each event: a stage that kept pointers
    // would hand over five times the fifth host.
    let mut ev = sw_event::default();
    for e in &sweep[..5] {
        ev.clone_from(e);
        assert_eq!(observe(st, &ev), sw_result::Ok);
    }
    is_the_sweeps_verdict(&decided(&sink)[0], &sweep);
    // SAFETY: freed once, the stage before its detector.
    unsafe {
        sw_stage_free(st);
        sw_detector_free(det);
    }
}
