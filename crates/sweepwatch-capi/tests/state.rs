//! Saved state through the C ABI: a detector saved, freed and restored goes
//! on as one that never stopped, with the events its ordering window held;
//! buffers too small report the size needed; states cut short, corrupt or
//! of another layout are refused with a message that says why.

use std::ffi::c_void;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::ptr;
use std::sync::Mutex;
use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp};
use sweepwatch_capi::*;

mod common;
use common::*;

const SECOND: u64 = 1_000_000;

/// A configuration of 4 MiB in 2 shards, without a seed (the keys come from
/// the state restored), with the default ordering window or none.
fn config(window: bool) -> *mut sw_config {
    // SAFETY: a fresh configuration, changed only here.
    unsafe {
        let cfg = sw_config_new();
        assert!(!cfg.is_null());
        assert_eq!(sw_config_set_memory_bytes(cfg, 4 << 20), sw_result::Ok);
        assert_eq!(sw_config_set_shards(cfg, 2), sw_result::Ok);
        assert_eq!(
            sw_config_add_home_net(cfg, c"10.0.0.0/8".as_ptr()),
            sw_result::Ok
        );
        if !window {
            assert_eq!(sw_config_set_reorder(cfg, 0, 0), sw_result::Ok);
        }
        cfg
    }
}

/// Two minutes and a half of traffic, one event a second: a sweeper of port
/// 22 across home hosts (one probe every 3 s from 50 s on), a scanner of
/// one home host's ports (every 4 s from the start), and answered clients.
/// Every probe is refused but the clients'.
fn traffic() -> Vec<sw_event> {
    let mut events = Vec::new();
    for t in 0..150u64 {
        let (src, dst, port, outcome) = if t >= 50 && t % 3 == 0 {
            let host = (t / 3) as u8;
            (v4(203, 0, 113, 7), v4(10, 0, 0, host), 22, Outcome::Refused)
        } else if t % 4 == 1 {
            let port = 1000 + (t / 4) as u16;
            (v4(198, 51, 100, 3), v4(10, 0, 1, 9), port, Outcome::Refused)
        } else {
            let c = (t % 7) as u8;
            (
                v4(10, 0, 2, c),
                v4(192, 0, 2, 80),
                443,
                Outcome::Established,
            )
        };
        let ev = Event::new(
            Timestamp::from_micros(T0 + t * SECOND),
            src,
            dst,
            port,
            Protocol::Tcp,
            outcome,
        );
        events.push(sw_event::from(&ev));
    }
    events
}

/// The index of the first event at or after `secs`.
fn at(events: &[sw_event], secs: u64) -> usize {
    events
        .iter()
        .position(|e| e.ts_us >= T0 + secs * SECOND)
        .unwrap()
}

fn feed(det: *const sw_detector, events: &[sw_event]) {
    for ev in events {
        // SAFETY: `det` is live; `ev` is a valid event.
        assert_eq!(unsafe { sw_detector_observe(det, ev) }, sw_result::Ok);
    }
}

/// The size of `det`'s state, asked with (NULL, 0).
fn size(det: *const sw_detector) -> usize {
    let mut len = 0usize;
    // SAFETY: `det` is live; (NULL, 0) asks for the size.
    let r = unsafe { sw_detector_save(det, ptr::null_mut(), 0, &mut len) };
    assert_eq!(r, sw_result::InsufficientSize);
    assert!(len > 0);
    len
}

/// `det`'s state, in a buffer of the size asked first.
fn save(det: *const sw_detector) -> Vec<u8> {
    let mut state = vec![0u8; size(det)];
    let mut len = 0usize;
    // SAFETY: `det` is live; `state` has `state.len()` writable bytes.
    let r = unsafe { sw_detector_save(det, state.as_mut_ptr(), state.len(), &mut len) };
    assert_eq!(r, sw_result::Ok);
    assert_eq!(len, state.len());
    state
}

/// A detector restored from `state` under `config(window)`, delivering to `sink`.
fn restore(window: bool, state: &[u8], sink: &Sink) -> *mut sw_detector {
    let mut det = ptr::null_mut();
    // SAFETY: a live configuration, freed once; `state` is readable; `sink`
    // outlives the detector in every test.
    unsafe {
        let cfg = config(window);
        let r = sw_detector_restore(
            cfg,
            state.as_ptr(),
            state.len(),
            Some(collect),
            user_data(sink),
            &mut det,
        );
        sw_config_free(cfg);
        assert_eq!(r, sw_result::Ok, "{}", message(r));
    }
    assert!(!det.is_null());
    det
}

/// What sw_detector_restore() says of `state` under `cfg`; `*detector_out`
/// must stay untouched.
fn refused(cfg: *const sw_config, state: &[u8]) -> (sw_result, String) {
    let sink = Sink::default();
    let mut det = ptr::NonNull::<sw_detector>::dangling().as_ptr();
    let before = det;
    // SAFETY: `cfg` is live; `state` is readable.
    let r = unsafe {
        sw_detector_restore(
            cfg,
            state.as_ptr(),
            state.len(),
            Some(collect),
            user_data(&sink),
            &mut det,
        )
    };
    assert_eq!(det, before, "written on failure");
    (r, message(r))
}

/// The state of an empty detector under `config(window)`: its random keys,
/// restored in every run of a test, make the runs comparable.
fn blank(window: bool) -> Vec<u8> {
    let sink = Sink::default();
    let mut det = ptr::null_mut();
    // SAFETY: handles used as documented and freed once.
    unsafe {
        let cfg = config(window);
        assert_eq!(
            sw_detector_new(cfg, Some(collect), user_data(&sink), &mut det),
            sw_result::Ok
        );
        sw_config_free(cfg);
        let state = save(det);
        sw_detector_free(det);
        state
    }
}

fn sorted(sink: Sink) -> Vec<sw_verdict> {
    let mut v = sink.into_inner().unwrap();
    v.sort_by_key(|v| (v.ts_us, v.src_addr, v.kind, v.is_final, v.targets));
    v
}

/// The decisions (not final extents): kind and first four bytes of the source.
fn decided(verdicts: &[sw_verdict]) -> Vec<(u8, [u8; 4])> {
    let mut d: Vec<_> = verdicts
        .iter()
        .filter(|v| v.is_final == 0)
        .map(|v| {
            (
                v.kind,
                [v.src_addr[0], v.src_addr[1], v.src_addr[2], v.src_addr[3]],
            )
        })
        .collect();
    d.sort_unstable();
    d
}

/// The verdicts of the whole traffic fed to a detector restored from `blank`.
fn uninterrupted(window: bool, blank: &[u8], events: &[sw_event]) -> Vec<sw_verdict> {
    let sink = Sink::default();
    let det = restore(window, blank, &sink);
    feed(det, events);
    // SAFETY: `det` is live, then freed once.
    unsafe {
        assert_eq!(sw_detector_flush(det), sw_result::Ok);
        assert_eq!(stats(det).events, events.len() as u64);
        sw_detector_free(det);
    }
    sorted(sink)
}

#[test]
fn save_free_restore_goes_on_as_if_uninterrupted_with_the_window() {
    let events = traffic();
    let blank = blank(true);
    let want = uninterrupted(true, &blank, &events);
    // What the traffic holds: the sweeper and the scanner, decided once each.
    assert_eq!(
        decided(&want),
        [
            (sw_kind::PortSweep as u8, [203, 0, 113, 7]),
            (sw_kind::PortScan as u8, [198, 51, 100, 3]),
        ]
    );

    // Cut at 80 s: the window (60 s) still holds everything since 20 s,
    // among it the sweeper's eleven probes so far (50 s to 80 s).
    let cut = at(&events, 80);
    let held = events[..cut]
        .iter()
        .filter(|e| e.ts_us + 60 * SECOND > T0 + 79 * SECOND)
        .count();
    let sink = Sink::default();
    let first = restore(true, &blank, &sink);
    feed(first, &events[..cut]);
    let before = stats(first);
    assert!(before.events <= (cut - held) as u64, "{before:?}");
    assert!(
        sink.lock()
            .unwrap()
            .iter()
            .all(|v| v.src_addr[..4] != [203, 0, 113, 7]),
        "the sweep is decided by events the window still holds"
    );
    let state = save(first);
    // SAFETY: freed once; the held events go with it.
    unsafe { sw_detector_free(first) };

    let second = restore(true, &state, &sink);
    assert_eq!(stats(second).events, before.events);
    // Saved again at once, the state is the same bytes: nothing lost or added.
    assert!(save(second) == state, "the state changed in a round trip");
    feed(second, &events[cut..]);
    // SAFETY: `second` is live, then freed once.
    unsafe {
        assert_eq!(sw_detector_flush(second), sw_result::Ok);
        assert_eq!(stats(second).events, events.len() as u64);
        sw_detector_free(second);
    }
    let got = sorted(sink);
    assert_eq!(got, want);
}

#[test]
fn save_free_restore_goes_on_as_if_uninterrupted_without_the_window() {
    let events = traffic();
    let blank = blank(false);
    let want = uninterrupted(false, &blank, &events);
    assert_eq!(
        decided(&want),
        [
            (sw_kind::PortSweep as u8, [203, 0, 113, 7]),
            (sw_kind::PortScan as u8, [198, 51, 100, 3]),
        ]
    );
    for secs in [1, 60, 100, 149] {
        let cut = at(&events, secs);
        let sink = Sink::default();
        let first = restore(false, &blank, &sink);
        feed(first, &events[..cut]);
        assert_eq!(stats(first).events, cut as u64);
        let state = save(first);
        // SAFETY: freed once.
        unsafe { sw_detector_free(first) };
        let second = restore(false, &state, &sink);
        assert_eq!(stats(second).events, cut as u64);
        feed(second, &events[cut..]);
        // SAFETY: `second` is live, then freed once.
        unsafe {
            assert_eq!(sw_detector_flush(second), sw_result::Ok);
            sw_detector_free(second);
        }
        assert_eq!(sorted(sink), want, "cut at {secs} s");
    }
}

#[test]
fn held_events_go_straight_to_a_detector_restored_without_the_window() {
    // Ten refused probes of port 22 within ten seconds: all held by the
    // window when saved, none seen by the sequential test yet.
    let events: Vec<sw_event> = (1..=10u8)
        .map(|i| {
            sw_event::from(&Event::new(
                Timestamp::from_micros(T0 + u64::from(i) * SECOND),
                v4(203, 0, 113, 7),
                v4(10, 0, 0, i),
                22,
                Protocol::Tcp,
                Outcome::Refused,
            ))
        })
        .collect();
    let sink = Sink::default();
    let first = restore(true, &blank(true), &sink);
    feed(first, &events);
    assert_eq!(stats(first).events, 0);
    let state = save(first);
    // SAFETY: freed once.
    unsafe { sw_detector_free(first) };
    assert!(sink.lock().unwrap().is_empty());

    // Restored with ordering off: fed during the restore, oldest first, and
    // the sweep decided there.
    let det = restore(false, &state, &sink);
    assert_eq!(stats(det).events, 10);
    let got = sink.lock().unwrap().clone();
    assert_eq!(
        decided(&got),
        [(sw_kind::PortSweep as u8, [203, 0, 113, 7])]
    );
    // SAFETY: freed once.
    unsafe { sw_detector_free(det) };
}

#[test]
fn a_buffer_too_small_reports_the_size_needed() {
    let sink = Sink::default();
    let det = restore(true, &blank(true), &sink);
    feed(det, &traffic()[..40]);
    let need = size(det);
    let mut buf = vec![0u8; need + 100];
    let mut len = 0usize;
    // SAFETY: `det` is live; `buf` has `need + 100` writable bytes.
    unsafe {
        for cap in [1, need / 2, need - 1] {
            len = 0;
            let r = sw_detector_save(det, buf.as_mut_ptr(), cap, &mut len);
            assert_eq!(r, sw_result::InsufficientSize, "cap {cap}");
            assert_eq!(len, need, "cap {cap}");
            let m = message(r);
            assert!(m.contains(&format!("needs {need} bytes")), "{m}");
        }
        assert_eq!(sw_result::InsufficientSize as u32, 9);
        assert_eq!(sw_result::from_u32(9), Some(sw_result::InsufficientSize));
        assert_eq!(
            sw_detector_save(det, buf.as_mut_ptr(), need, &mut len),
            sw_result::Ok
        );
        assert_eq!(len, need);
        let exact = buf[..need].to_vec();
        // A larger buffer: the same state, and its length.
        buf.fill(0xAA);
        assert_eq!(
            sw_detector_save(det, buf.as_mut_ptr(), buf.len(), &mut len),
            sw_result::Ok
        );
        assert_eq!((len, &buf[..need]), (need, &exact[..]));
        assert!(
            buf[need..].iter().all(|&b| b == 0xAA),
            "wrote past the state"
        );
        sw_detector_free(det);
    }
}

#[test]
fn corrupt_and_truncated_states_are_refused_saying_why() {
    let sink = Sink::default();
    let det = restore(true, &blank(true), &sink);
    feed(det, &traffic()[..40]);
    let state = save(det);
    // SAFETY: freed once.
    unsafe { sw_detector_free(det) };
    let cfg = config(true);

    // The window's section closes the state: 8 magic bytes, a format, a
    // count, the held events (40 events fed within 40 s: all held), the
    // clock, a checksum.
    let window = 8 + 4 + 8 + 40 * 52 + 8 + 8 + 4;
    assert_eq!(&state[state.len() - window..][..8], b"SWWINDOW");

    // A flipped byte in the core's part, then in each of the window's parts.
    for at in [100, state.len() / 2, state.len() - window - 2] {
        let mut bad = state.clone();
        bad[at] ^= 0x10;
        let (r, m) = refused(cfg, &bad);
        assert_eq!(r, sw_result::InvalidState, "byte {at}: {m}");
        assert!(m.starts_with("saved state refused: it"), "byte {at}: {m}");
    }
    for (at, why) in [
        (0, "not written by sw_detector_save()"),
        (8, "format"),
        (30, "checksum fails"),
        (window - 10, "checksum fails"),
        (window - 2, "checksum fails"),
    ] {
        let mut bad = state.clone();
        bad[state.len() - window + at] ^= 0x01;
        let (r, m) = refused(cfg, &bad);
        assert_eq!(r, sw_result::InvalidState, "window byte {at}: {m}");
        assert!(
            m.contains("saved state refused") && m.contains(why),
            "window byte {at}: {m}"
        );
    }

    // Cut short anywhere: in the core's part, at the window, in it.
    for len in [
        0,
        5,
        100,
        state.len() / 2,
        state.len() - window,
        state.len() - window + 20,
        state.len() - 1,
    ] {
        let (r, m) = refused(cfg, &state[..len]);
        assert_eq!(r, sw_result::InvalidState, "cut at {len}: {m}");
        assert!(
            m.contains("cut short") || m.contains("ends before"),
            "cut at {len}: {m}"
        );
    }

    // Followed by other bytes: the caller passed the wrong length.
    let mut longer = state.clone();
    longer.extend_from_slice(&[0; 3]);
    let (r, m) = refused(cfg, &longer);
    assert_eq!(r, sw_result::InvalidState);
    assert!(m.contains("3 bytes follow the state"), "{m}");

    // A state of the core alone (Detector::save) has no window.
    let core = Detector::new(
        Config {
            memory_bytes: 4 << 20,
            shards: 2,
            ..Config::default()
        },
        |_| {},
    )
    .unwrap();
    let mut alone = Vec::new();
    core.save(&mut alone).unwrap();
    let (r, m) = refused(cfg, &alone);
    assert_eq!(r, sw_result::InvalidState);
    assert!(m.contains("ordering window"), "{m}");

    // SAFETY: freed once.
    unsafe { sw_config_free(cfg) };
}

#[test]
fn another_layout_is_refused_naming_the_field() {
    let state = blank(true);
    // SAFETY: configurations changed here and freed once.
    unsafe {
        let cfg = config(true);
        assert_eq!(sw_config_set_memory_bytes(cfg, 8 << 20), sw_result::Ok);
        let (r, m) = refused(cfg, &state);
        assert_eq!(r, sw_result::InvalidState);
        assert!(m.contains("memory_bytes 4194304 (now 8388608)"), "{m}");
        sw_config_free(cfg);

        let cfg = config(true);
        assert_eq!(sw_config_set_shards(cfg, 4), sw_result::Ok);
        let (r, m) = refused(cfg, &state);
        assert_eq!(r, sw_result::InvalidState);
        assert!(m.contains("shards 2 (now 4)"), "{m}");
        sw_config_free(cfg);

        // Thresholds may differ: they are the new configuration's.
        let cfg = config(true);
        assert_eq!(sw_config_set_min_targets(cfg, 9), sw_result::Ok);
        let mut det = ptr::null_mut();
        let r = sw_detector_restore(
            cfg,
            state.as_ptr(),
            state.len(),
            Some(collect),
            ptr::null_mut(),
            &mut det,
        );
        assert_eq!(r, sw_result::Ok, "{}", message(r));
        sw_detector_free(det);
        sw_config_free(cfg);
    }
}

/// A file in the temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("sweepwatch-capi-{}-{name}", std::process::id()));
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_file_descriptor_round_trip_leaves_the_offset_after_the_state() {
    let events = traffic();
    let blank = blank(true);
    let want = uninterrupted(true, &blank, &events);
    let cut = at(&events, 80);

    let sink = Sink::default();
    let first = restore(true, &blank, &sink);
    feed(first, &events[..cut]);
    let in_buffer = save(first);
    let path = Scratch::new("fd-round-trip");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path.0)
        .unwrap();
    // A prefix of the caller's, the state, then more of the caller's data.
    file.write_all(b"header").unwrap();
    // SAFETY: `first` is live; the descriptor is open and stays so.
    unsafe {
        assert_eq!(sw_detector_save_fd(first, file.as_raw_fd()), sw_result::Ok);
        sw_detector_free(first);
    }
    file.write_all(b"trailer").unwrap();
    let written = std::fs::read(&path.0).unwrap();
    assert_eq!(&written[6..written.len() - 7], &in_buffer[..]);

    file.seek(SeekFrom::Start(6)).unwrap();
    let mut second = ptr::null_mut();
    // SAFETY: a live configuration freed once; the descriptor is open.
    unsafe {
        let cfg = config(true);
        let r = sw_detector_restore_fd(
            cfg,
            file.as_raw_fd(),
            Some(collect),
            user_data(&sink),
            &mut second,
        );
        sw_config_free(cfg);
        assert_eq!(r, sw_result::Ok, "{}", message(r));
    }
    assert_eq!(
        file.stream_position().unwrap(),
        6 + in_buffer.len() as u64,
        "read past the state"
    );
    feed(second, &events[cut..]);
    // SAFETY: `second` is live, then freed once.
    unsafe {
        assert_eq!(sw_detector_flush(second), sw_result::Ok);
        sw_detector_free(second);
    }
    assert_eq!(sorted(sink), want);

    // The file cut short within the state.
    let short = Scratch::new("fd-short");
    std::fs::write(&short.0, &in_buffer[..in_buffer.len() - 20]).unwrap();
    let file = File::open(&short.0).unwrap();
    let mut det = ptr::null_mut();
    // SAFETY: a live configuration freed once; the descriptor is open.
    unsafe {
        let cfg = config(true);
        let r = sw_detector_restore_fd(
            cfg,
            file.as_raw_fd(),
            Some(collect),
            ptr::null_mut(),
            &mut det,
        );
        assert_eq!(r, sw_result::InvalidState);
        assert!(message(r).contains("cut short"), "{}", message(r));
        assert!(det.is_null());
        sw_config_free(cfg);
    }
}

#[test]
fn file_descriptor_errors() {
    let sink = Sink::default();
    let det = restore(true, &blank(true), &sink);
    let path = Scratch::new("fd-errors");
    std::fs::write(&path.0, b"").unwrap();
    let read_only = File::open(&path.0).unwrap();
    let mut out = ptr::null_mut();
    // SAFETY: `det` and the configuration are live; the descriptors are open
    // or negative.
    unsafe {
        assert_eq!(sw_detector_save_fd(det, -1), sw_result::InvalidArgument);
        assert!(message(sw_result::InvalidArgument).contains("`fd` -1"));
        // Writing to a descriptor opened for reading: the system's error.
        assert_eq!(
            sw_detector_save_fd(det, read_only.as_raw_fd()),
            sw_result::Io
        );
        assert!(!message(sw_result::Io).is_empty());
        let cfg = config(true);
        assert_eq!(
            sw_detector_restore_fd(cfg, -3, Some(collect), ptr::null_mut(), &mut out),
            sw_result::InvalidArgument
        );
        // An empty file is no state.
        let r = sw_detector_restore_fd(
            cfg,
            read_only.as_raw_fd(),
            Some(collect),
            ptr::null_mut(),
            &mut out,
        );
        assert_eq!(r, sw_result::InvalidState);
        assert!(out.is_null());
        sw_config_free(cfg);
        sw_detector_free(det);
    }
}

#[test]
fn null_arguments_are_refused() {
    let sink = Sink::default();
    let state = blank(true);
    let det = restore(true, &state, &sink);
    let mut buf = [0u8; 16];
    let mut len = 7usize;
    let mut out = ptr::null_mut();
    // SAFETY: every pointer is NULL or valid; NULL is what is being tested.
    unsafe {
        assert_eq!(
            sw_detector_save(ptr::null(), buf.as_mut_ptr(), buf.len(), &mut len),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`detector` is NULL"));
        assert_eq!(
            sw_detector_save(det, ptr::null_mut(), 16, &mut len),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`buf` is NULL"));
        assert_eq!(
            sw_detector_save(det, buf.as_mut_ptr(), buf.len(), ptr::null_mut()),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`len_out` is NULL"));
        assert_eq!(len, 7, "written on failure");
        assert_eq!(
            sw_detector_save_fd(ptr::null(), 1),
            sw_result::NullParameter
        );

        let cfg = config(true);
        let rs = |c, b: *const u8, n, cb, o| sw_detector_restore(c, b, n, cb, ptr::null_mut(), o);
        assert_eq!(
            rs(
                ptr::null(),
                state.as_ptr(),
                state.len(),
                Some(collect),
                &mut out
            ),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`config` is NULL"));
        assert_eq!(
            rs(cfg, ptr::null(), 10, Some(collect), &mut out),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`buf` is NULL"));
        assert_eq!(
            rs(cfg, state.as_ptr(), state.len(), None, &mut out),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`callback` is NULL"));
        assert_eq!(
            rs(
                cfg,
                state.as_ptr(),
                state.len(),
                Some(collect),
                ptr::null_mut()
            ),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`detector_out` is NULL"));
        // (NULL, 0) is an empty state: cut short.
        assert_eq!(
            rs(cfg, ptr::null(), 0, Some(collect), &mut out),
            sw_result::InvalidState
        );
        assert!(out.is_null());
        assert_eq!(
            sw_detector_restore_fd(ptr::null(), 0, Some(collect), ptr::null_mut(), &mut out),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_detector_restore_fd(cfg, 0, None, ptr::null_mut(), &mut out),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_detector_restore_fd(cfg, 0, Some(collect), ptr::null_mut(), ptr::null_mut()),
            sw_result::NullParameter
        );
        sw_config_free(cfg);
        sw_detector_free(det);
    }
}

/// What the reentrant callback saw.
struct Reentry {
    det: *const sw_detector,
    results: Mutex<Vec<sw_result>>,
}

unsafe extern "C" fn save_from_callback(user_data: *mut c_void, _verdict: *const sw_verdict) {
    // SAFETY: user_data is the test's live `Reentry`.
    let r = unsafe { &*user_data.cast::<Reentry>() };
    let mut len = 0usize;
    // SAFETY: calls back into the live detector that is delivering: refused.
    let got = unsafe {
        [
            sw_detector_save(r.det, ptr::null_mut(), 0, &mut len),
            sw_detector_save_fd(r.det, 1),
        ]
    };
    r.results.lock().unwrap().extend(got);
}

#[test]
fn saving_from_the_callback_is_reentrant() {
    for window in [true, false] {
        let mut reentry = Reentry {
            det: ptr::null(),
            results: Mutex::new(Vec::new()),
        };
        // SAFETY: handles used as documented; `reentry` outlives the detector
        // and, while the detector lives, is reached only through `ud`.
        unsafe {
            let cfg = config(window);
            let mut det = ptr::null_mut();
            let r = ptr::addr_of_mut!(reentry);
            let ud = r.cast::<c_void>();
            assert_eq!(
                sw_detector_new(cfg, Some(save_from_callback), ud, &mut det),
                sw_result::Ok
            );
            sw_config_free(cfg);
            (*r).det = det;
            // With the window on, the verdict comes during the flush, with
            // the window's lock held: refused, not deadlocked.
            feed(det, &traffic());
            assert_eq!(sw_detector_flush(det), sw_result::Ok);
            sw_detector_free(det);
        }
        let results = reentry.results.into_inner().unwrap();
        assert!(!results.is_empty());
        assert!(
            results.iter().all(|&r| r == sw_result::Reentrant),
            "{results:?}"
        );
    }
}
