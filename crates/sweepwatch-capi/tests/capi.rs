//! The C ABI called directly from Rust: NULL handling, event checks, batch
//! atomicity, verdict conversion, reentrancy and result messages.

use std::ffi::{c_char, c_void, CStr, CString};
use std::net::{IpAddr, Ipv6Addr};
use std::ptr;
use std::sync::Mutex;
use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp, Verdict};
use sweepwatch_capi::*;

mod common;
use common::*;

/// A configuration whose detector feeds events to the sequential test as they
/// come, so that a verdict arrives during the call that decided it: these
/// tests check what the test makes of events in a given order. The ordering
/// window has its own tests (`tests/order.rs`).
fn unordered_config() -> *mut sw_config {
    unsafe {
        let cfg = sw_config_new();
        assert!(!cfg.is_null());
        assert_eq!(sw_config_set_reorder(cfg, 0, 0), sw_result::Ok);
        cfg
    }
}

/// A detector with a fixed seed whose verdicts go to `sink`.
fn detector(sink: &Sink) -> *mut sw_detector {
    // SAFETY: handles are used as documented and the config freed once.
    unsafe {
        let cfg = unordered_config();
        assert!(!cfg.is_null());
        assert_eq!(sw_config_set_memory_bytes(cfg, 4 << 20), sw_result::Ok);
        assert_eq!(sw_config_set_shards(cfg, 2), sw_result::Ok);
        assert_eq!(sw_config_set_hash_seed(cfg, 42), sw_result::Ok);
        let mut det = ptr::null_mut();
        assert_eq!(
            sw_detector_new(cfg, Some(collect), user_data(sink), &mut det),
            sw_result::Ok
        );
        sw_config_free(cfg);
        det
    }
}

fn rust_config() -> Config {
    Config {
        memory_bytes: 4 << 20,
        shards: 2,
        hash_seed: Some(42),
        ..Config::default()
    }
}

/// 203.0.113.7 sweeps port 22 of 20 home hosts, all refused.
fn sweep() -> Vec<Event> {
    (1..=20u8)
        .map(|i| {
            Event::new(
                Timestamp::from_micros(T0 + u64::from(i) * 1_000_000),
                v4(203, 0, 113, 7),
                v4(10, 0, 0, i),
                22,
                Protocol::Tcp,
                Outcome::Refused,
            )
        })
        .collect()
}

fn c_events(events: &[Event]) -> Vec<sw_event> {
    events.iter().map(sw_event::from).collect()
}

#[test]
fn null_handles_and_pointers_are_refused() {
    let ev = sw_event::from(&sweep()[0]);
    let mut st = sw_stats::default();
    let mut det = ptr::null_mut();
    let mut cfg = ptr::null_mut();
    let home = CString::new("10.0.0.0/8").unwrap();
    // SAFETY: every pointer is NULL or valid; NULL is what is being tested.
    unsafe {
        sw_config_free(ptr::null_mut());
        sw_detector_free(ptr::null_mut());
        assert_eq!(
            sw_detector_observe(ptr::null(), &ev),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("`detector` is NULL"));
        assert_eq!(
            sw_detector_observe_batch(ptr::null(), &ev, 1),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_detector_advance(ptr::null(), T0),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_detector_stats(ptr::null(), &mut st),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_config_add_home_net(ptr::null_mut(), home.as_ptr()),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_config_set_min_targets(ptr::null_mut(), 5),
            sw_result::NullParameter
        );
        assert_eq!(sw_config_validate(ptr::null()), sw_result::NullParameter);
        assert_eq!(
            sw_config_from_toml(ptr::null(), &mut cfg, ptr::null_mut(), 0),
            sw_result::NullParameter
        );
        assert!(cfg.is_null());
        assert_eq!(
            sw_detector_new(ptr::null(), Some(collect), ptr::null_mut(), &mut det),
            sw_result::NullParameter
        );
        assert!(det.is_null());

        let sink = Sink::default();
        let cfg = unordered_config();
        assert_eq!(
            sw_config_add_home_net(cfg, ptr::null()),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_config_add_allow(cfg, home.as_ptr(), ptr::null(), 2),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_detector_new(cfg, None, ptr::null_mut(), &mut det),
            sw_result::NullParameter
        );
        assert!(message(sw_result::NullParameter).contains("callback"));
        assert_eq!(
            sw_detector_new(cfg, Some(collect), ptr::null_mut(), ptr::null_mut()),
            sw_result::NullParameter
        );
        sw_config_free(cfg);

        let det = detector(&sink);
        assert_eq!(
            sw_detector_observe(det, ptr::null()),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_detector_observe_batch(det, ptr::null(), 3),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_detector_observe_batch(det, ptr::null(), 0),
            sw_result::Ok
        );
        assert_eq!(
            sw_detector_stats(det, ptr::null_mut()),
            sw_result::NullParameter
        );
        assert_eq!(stats(det).events, 0);
        sw_detector_free(det);
    }
}

#[test]
fn malformed_events_are_refused_and_change_nothing() {
    let sink = Sink::default();
    let det = detector(&sink);
    let good = sw_event::from(&sweep()[0]);
    let cases = [
        (sw_event { family: 0, ..good }, "family 0"),
        (sw_event { family: 5, ..good }, "family 5"),
        (sw_event { proto: 4, ..good }, "proto 4"),
        (sw_event { outcome: 5, ..good }, "outcome 5"),
        (
            sw_event {
                outcome: 255,
                ..good
            },
            "outcome 255",
        ),
    ];
    for (ev, what) in cases {
        // SAFETY: `det` is live; `ev` is a readable event.
        assert_eq!(
            unsafe { sw_detector_observe(det, &ev) },
            sw_result::InvalidArgument
        );
        let msg = message(sw_result::InvalidArgument);
        assert!(msg.contains(what), "{msg}");
    }
    assert_eq!(stats(det).events, 0);
    // SAFETY: freed once.
    unsafe { sw_detector_free(det) };
}

#[test]
fn a_bad_event_in_a_batch_leaves_the_detector_unchanged() {
    let sink = Sink::default();
    let det = detector(&sink);
    let before = stats(det);
    let mut events = c_events(&sweep());
    events[17].outcome = 9;
    // SAFETY: `det` is live; `events` is a readable array of its length.
    let r = unsafe { sw_detector_observe_batch(det, events.as_ptr(), events.len()) };
    assert_eq!(r, sw_result::InvalidArgument);
    assert!(message(r).contains("events[17]: outcome 9"));
    assert_eq!(stats(det), before);
    assert_eq!(stats(det).events, 0);
    assert!(sink.lock().unwrap().is_empty());

    events[17].outcome = sw_outcome::Refused as u8;
    // SAFETY: as above.
    let r = unsafe { sw_detector_observe_batch(det, events.as_ptr(), events.len()) };
    assert_eq!(r, sw_result::Ok);
    assert_eq!(stats(det).events, 20);
    assert_eq!(sink.lock().unwrap().len(), 1);
    // SAFETY: freed once.
    unsafe { sw_detector_free(det) };
}

/// `v` as sw_verdict_to_json() writes it.
fn json(v: &sw_verdict) -> String {
    let mut buf = vec![0 as std::ffi::c_char; SW_VERDICT_JSON_MAX];
    let mut len = 0usize;
    // SAFETY: `v` is a verdict; `buf` has SW_VERDICT_JSON_MAX writable bytes.
    let rc = unsafe { sw_verdict_to_json(v, buf.as_mut_ptr(), buf.len(), &mut len) };
    assert_eq!(rc, sw_result::Ok);
    let bytes: Vec<u8> = buf[..len].iter().map(|&b| b as u8).collect();
    assert_eq!(buf[len], 0, "NUL after the JSON");
    String::from_utf8(bytes).unwrap()
}

fn same_verdict(c: &sw_verdict, r: &Verdict) {
    assert_eq!(*c, sw_verdict::from(r));
    // The C call's JSON is the Rust serializer's, which the command's
    // --json and the plugin's EVE records write: byte for byte.
    assert_eq!(json(c), sweepwatch::format::verdict_json(r));
    assert_eq!(c.kind, sw_kind::from(r.kind) as u8);
    assert_eq!(c.targets, r.targets);
    assert_eq!(c.ts_us, r.ts.as_micros());
    assert_eq!(&c.ports[..usize::from(c.n_ports)], r.ports());
    assert_eq!(usize::from(c.n_sample), r.sample().len());
}

#[test]
fn verdicts_match_the_rust_api_single_and_batch() {
    let events = sweep();
    let rust_seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let out = rust_seen.clone();
    let rust = Detector::new(rust_config(), move |v| out.lock().unwrap().push(*v)).unwrap();
    for e in &events {
        rust.observe(e).unwrap();
    }
    let rust_seen = rust_seen.lock().unwrap();
    assert_eq!(rust_seen.len(), 1);

    let single = Sink::default();
    let det = detector(&single);
    for e in c_events(&events) {
        // SAFETY: `det` is live; `e` is a valid event.
        assert_eq!(unsafe { sw_detector_observe(det, &e) }, sw_result::Ok);
    }
    // SAFETY: freed once.
    unsafe { sw_detector_free(det) };

    let batch = Sink::default();
    let det = detector(&batch);
    let evs = c_events(&events);
    // SAFETY: `det` is live; `evs` is a readable array of its length.
    assert_eq!(
        unsafe { sw_detector_observe_batch(det, evs.as_ptr(), evs.len()) },
        sw_result::Ok
    );
    // SAFETY: freed once.
    unsafe { sw_detector_free(det) };

    for sink in [single, batch] {
        let got = sink.into_inner().unwrap();
        assert_eq!(got.len(), 1);
        same_verdict(&got[0], &rust_seen[0]);
        let v = got[0];
        assert_eq!(v.kind, sw_kind::PortSweep as u8);
        assert_eq!(v.direction, sw_direction::Inbound as u8);
        assert_eq!(v.proto, sw_protocol::Tcp as u8);
        assert_eq!(v.src_family, SW_FAMILY_IPV4);
        assert_eq!(v.src_addr[..4], [203, 0, 113, 7]);
        assert_eq!(v.src_addr[4..], [0; 12]);
        assert_eq!((v.n_ports, v.ports[0]), (1, 22));
        assert!(v.n_sample >= 1);
        assert_eq!(v.sample_families[0], SW_FAMILY_IPV4);
        assert_eq!(v.sample_addrs[0][..3], [10, 0, 0]);
        assert!(v.score > 4.0);
    }
}

#[test]
fn ipv6_events_and_verdicts_round_trip() {
    let src: Ipv6Addr = "2001:db8::bad".parse().unwrap();
    let events: Vec<Event> = (1..=12u16)
        .map(|i| {
            let dst = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i);
            Event::new(
                Timestamp::from_micros(T0 + u64::from(i)),
                IpAddr::V6(src),
                IpAddr::V6(dst),
                445,
                Protocol::Tcp,
                Outcome::Unanswered,
            )
        })
        .collect();
    let c = c_events(&events);
    assert_eq!(c[0].family, SW_FAMILY_IPV6);
    assert_eq!(c[0].src_addr, src.octets());
    let sink = Sink::default();
    let det = detector(&sink);
    // SAFETY: `det` is live; `c` is a readable array of its length.
    assert_eq!(
        unsafe { sw_detector_observe_batch(det, c.as_ptr(), c.len()) },
        sw_result::Ok
    );
    // SAFETY: freed once.
    unsafe { sw_detector_free(det) };
    let got = sink.into_inner().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].src_family, SW_FAMILY_IPV6);
    assert_eq!(got[0].src_addr, src.octets());
    assert_eq!(got[0].sample_families[0], SW_FAMILY_IPV6);
    assert_eq!(got[0].unanswered, got[0].failed);
    let text = json(&got[0]);
    assert!(
        text.starts_with("{\"kind\":\"port_sweep\",\"src\":\"2001:db8::bad\",\"direction\":\"inbound\",\"proto\":\"tcp\",\"ports\":[445],"),
        "{text}"
    );
    assert!(text.contains("\"sample\":[\"fd00::"), "{text}");
}

#[test]
fn config_errors_name_the_field() {
    let mut err = [0 as c_char; 256];
    let mut cfg = ptr::null_mut();
    let bad = CString::new("min_targets = 1").unwrap();
    // SAFETY: valid string, out-pointer and buffer.
    let r = unsafe { sw_config_from_toml(bad.as_ptr(), &mut cfg, err.as_mut_ptr(), err.len()) };
    assert_eq!(r, sw_result::InvalidConfig);
    assert!(cfg.is_null());
    // SAFETY: NUL-terminated by sw_config_from_toml.
    let text = unsafe { CStr::from_ptr(err.as_ptr()) }.to_str().unwrap();
    assert!(
        text.starts_with("invalid configuration: min_targets:"),
        "{text}"
    );
    assert_eq!(message(r), text);

    let unparsable = CString::new("home_networks = [\"10.0.0.0/8\"\nshards = ").unwrap();
    // SAFETY: as above; a 16-byte buffer tests truncation.
    let r = unsafe { sw_config_from_toml(unparsable.as_ptr(), &mut cfg, err.as_mut_ptr(), 16) };
    assert_eq!(r, sw_result::InvalidConfig);
    // SAFETY: as above.
    let cut = unsafe { CStr::from_ptr(err.as_ptr()) }.to_str().unwrap();
    assert_eq!(cut, "invalid configu");
    assert!(message(r).contains("toml"));

    let good = CString::new("home_networks = [\"192.0.2.0/24\"]\nmin_targets = 8").unwrap();
    // SAFETY: as above.
    let r = unsafe { sw_config_from_toml(good.as_ptr(), &mut cfg, ptr::null_mut(), 0) };
    assert_eq!(r, sw_result::Ok);
    assert!(!cfg.is_null());
    // SAFETY: `cfg` is live until freed at the end.
    unsafe {
        assert_eq!(sw_config_validate(cfg), sw_result::Ok);
        let blk = CString::new("300.1.1.1/8").unwrap();
        assert_eq!(
            sw_config_add_home_net(cfg, blk.as_ptr()),
            sw_result::InvalidConfig
        );
        assert!(message(sw_result::InvalidConfig).contains("home_networks: `300.1.1.1/8`"));
        // Host bits past the prefix are refused here as in TOML and the command.
        let blk = CString::new("10.0.0.1/8").unwrap();
        assert_eq!(
            sw_config_add_home_net(cfg, blk.as_ptr()),
            sw_result::InvalidConfig
        );
        assert!(message(sw_result::InvalidConfig).contains("host bits set"));
        assert_eq!(sw_config_set_shards(cfg, 0), sw_result::Ok);
        assert_eq!(sw_config_validate(cfg), sw_result::InvalidConfig);
        assert!(message(sw_result::InvalidConfig).contains("shards"));
        let mut det = ptr::null_mut();
        let r = sw_detector_new(cfg, Some(collect), ptr::null_mut(), &mut det);
        assert_eq!(r, sw_result::InvalidConfig);
        assert!(det.is_null());
        assert_eq!(sw_config_set_shards(cfg, 4), sw_result::Ok);
        assert_eq!(sw_config_set_theta(cfg, 0.5, 0.6), sw_result::Ok);
        assert_eq!(sw_config_validate(cfg), sw_result::InvalidConfig);
        assert!(message(sw_result::InvalidConfig).contains("theta1"));
        assert_eq!(sw_config_set_theta(cfg, 0.8, 0.2), sw_result::Ok);
        assert_eq!(sw_config_validate(cfg), sw_result::Ok);
        sw_config_free(cfg);
    }
}

#[test]
fn not_utf8_is_an_invalid_argument() {
    let bytes = CString::new(vec![b'1', 0xff, b'/', b'8']).unwrap();
    // SAFETY: valid handles and strings.
    unsafe {
        let cfg = unordered_config();
        assert_eq!(
            sw_config_add_home_net(cfg, bytes.as_ptr()),
            sw_result::InvalidArgument
        );
        assert!(message(sw_result::InvalidArgument).contains("not UTF-8"));
        sw_config_free(cfg);
    }
}

#[test]
fn allow_list_and_ignores_apply() {
    let sink = Sink::default();
    // SAFETY: handles used as documented.
    let det = unsafe {
        let cfg = unordered_config();
        let net = CString::new("203.0.113.0/24").unwrap();
        let ports = [22u16];
        assert_eq!(
            sw_config_add_allow(cfg, net.as_ptr(), ports.as_ptr(), 1),
            sw_result::Ok
        );
        assert_eq!(sw_config_add_ignore_port(cfg, 23), sw_result::Ok);
        let mut det = ptr::null_mut();
        assert_eq!(
            sw_detector_new(cfg, Some(collect), user_data(&sink), &mut det),
            sw_result::Ok
        );
        sw_config_free(cfg);
        det
    };
    let mut events = c_events(&sweep());
    let mut telnet = events.clone();
    for e in &mut telnet {
        e.dst_port = 23;
    }
    events.extend(telnet);
    // SAFETY: `det` is live; `events` is a readable array of its length.
    assert_eq!(
        unsafe { sw_detector_observe_batch(det, events.as_ptr(), events.len()) },
        sw_result::Ok
    );
    let st = stats(det);
    assert_eq!((st.allowed, st.ignored, st.verdicts), (20, 20, 0));
    // SAFETY: freed once.
    unsafe { sw_detector_free(det) };
}

/// What the reentrant callback saw.
struct Reentry {
    det: *const sw_detector,
    results: Mutex<Vec<sw_result>>,
}

unsafe extern "C" fn reenter(user_data: *mut c_void, verdict: *const sw_verdict) {
    // SAFETY: user_data is the test's live `Reentry`.
    let r = unsafe { &*user_data.cast::<Reentry>() };
    let ev = sw_event::from(&sweep()[0]);
    let mut st = sw_stats::default();
    assert!(!verdict.is_null());
    // SAFETY: calls back into the live detector that is delivering: refused.
    let got = unsafe {
        [
            sw_detector_observe(r.det, &ev),
            sw_detector_observe_batch(r.det, &ev, 1),
            sw_detector_advance(r.det, T0),
            sw_detector_stats(r.det, &mut st),
        ]
    };
    // Refused without freeing: the detector is still delivering.
    // SAFETY: documented to do nothing from a callback.
    unsafe { sw_detector_free(r.det.cast_mut()) };
    r.results.lock().unwrap().extend(got);
}

#[test]
fn calls_from_the_callback_are_reentrant() {
    let mut reentry = Reentry {
        det: ptr::null(),
        results: Mutex::new(Vec::new()),
    };
    // SAFETY: handles used as documented; `reentry` outlives the detector and,
    // while the detector lives, is reached only through `ud`.
    unsafe {
        let cfg = unordered_config();
        let mut det = ptr::null_mut();
        let r = ptr::addr_of_mut!(reentry);
        let ud = r.cast::<c_void>();
        assert_eq!(
            sw_detector_new(cfg, Some(reenter), ud, &mut det),
            sw_result::Ok
        );
        sw_config_free(cfg);
        (*r).det = det;
        for e in c_events(&sweep()) {
            assert_eq!(sw_detector_observe(det, &e), sw_result::Ok);
        }
        assert_eq!(stats(det).verdicts, 1);
        assert_eq!(stats(det).events, 20);
        sw_detector_free(det);
    }
    let results = reentry.results.into_inner().unwrap();
    assert_eq!(results, vec![sw_result::Reentrant; 4]);
    assert!(message(sw_result::Reentrant).contains("verdict callback"));
}

/// What the nesting callback saw: the detector delivering to it, and the
/// results of its calls.
struct Nesting {
    outer: *const sw_detector,
    inner_verdicts: Mutex<Vec<sw_verdict>>,
    results: Mutex<Vec<sw_result>>,
}

unsafe extern "C" fn nest(user_data: *mut c_void, _verdict: *const sw_verdict) {
    // SAFETY: user_data is the test's live `Nesting`.
    let n = unsafe { &*user_data.cast::<Nesting>() };
    let sink: Sink = Mutex::new(Vec::new());
    let events = c_events(&sweep());
    let mut st = sw_stats::default();
    // SAFETY: handles used as documented; the inner detector is freed here,
    // before `sink` goes.
    let got = unsafe {
        let inner = detector(&sink);
        let got = [
            sw_detector_observe_batch(inner, events.as_ptr(), events.len()),
            sw_detector_advance(inner, T0),
            sw_detector_flush(inner),
            sw_detector_stats(inner, &mut st),
            // The outer detector is still delivering: refused.
            sw_detector_observe(n.outer, &events[0]),
            sw_detector_stats(n.outer, &mut st),
        ];
        sw_detector_free(inner);
        got
    };
    n.inner_verdicts
        .lock()
        .unwrap()
        .extend(sink.into_inner().unwrap());
    n.results.lock().unwrap().extend(got);
}

#[test]
fn a_callback_may_create_feed_and_free_another_detector() {
    let mut nesting = Nesting {
        outer: ptr::null(),
        inner_verdicts: Mutex::new(Vec::new()),
        results: Mutex::new(Vec::new()),
    };
    // SAFETY: handles used as documented; `nesting` outlives the detector and,
    // while the detector lives, is reached only through `ud`.
    unsafe {
        let cfg = unordered_config();
        let mut det = ptr::null_mut();
        let r = ptr::addr_of_mut!(nesting);
        assert_eq!(
            sw_detector_new(cfg, Some(nest), r.cast(), &mut det),
            sw_result::Ok
        );
        sw_config_free(cfg);
        (*r).outer = det;
        for e in c_events(&sweep()) {
            assert_eq!(sw_detector_observe(det, &e), sw_result::Ok);
        }
        assert_eq!(stats(det).verdicts, 1);
        sw_detector_free(det);
    }
    let results = nesting.results.into_inner().unwrap();
    use sw_result::{Ok as Fine, Reentrant};
    assert_eq!(results, vec![Fine, Fine, Fine, Fine, Reentrant, Reentrant]);
    // The inner detector decided the sweep and reported its final extent.
    let inner = nesting.inner_verdicts.into_inner().unwrap();
    assert_eq!(inner.len(), 2, "{inner:?}");
    assert_eq!((inner[0].is_final, inner[1].is_final), (0, 1));
}

#[test]
fn memory_the_machine_lacks_is_no_memory_not_an_abort() {
    const TIB: u64 = 1 << 40;
    // The Rust API: an error, and the process lives on.
    let cfg = Config {
        memory_bytes: TIB,
        ..rust_config()
    };
    let e = Detector::new(cfg, |_| {}).unwrap_err();
    assert_eq!(e, sweepwatch::Error::NoMemory { bytes: TIB });
    assert!(e.to_string().contains("memory_bytes"), "{e}");
    // The C ABI: SW_RESULT_NO_MEMORY, and `*detector_out` untouched.
    let sink: Sink = Mutex::new(Vec::new());
    // SAFETY: handles used as documented.
    unsafe {
        let cfg = unordered_config();
        assert_eq!(sw_config_set_memory_bytes(cfg, TIB), sw_result::Ok);
        let mut det = ptr::NonNull::<sw_detector>::dangling().as_ptr();
        let before = det;
        assert_eq!(
            sw_detector_new(cfg, Some(collect), user_data(&sink), &mut det),
            sw_result::NoMemory
        );
        assert_eq!(det, before);
        sw_config_free(cfg);
    }
    assert_eq!(sw_result::NoMemory as u32, 6);
    assert_eq!(sw_result::from_u32(6), Some(sw_result::NoMemory));
    let m = message(sw_result::NoMemory);
    assert!(
        m.contains("out of memory") && m.contains("memory_bytes"),
        "{m}"
    );
    // A detector of plausible size still works afterwards.
    let det = detector(&sink);
    assert_eq!(stats(det).events, 0);
    // SAFETY: freed once.
    unsafe { sw_detector_free(det) };
}

#[test]
fn result_messages_fit_the_buffer() {
    let mut buf = [0x55 as c_char; 8];
    let mut n = 99usize;
    // SAFETY: `buf` has 8 writable bytes.
    unsafe {
        assert_eq!(
            sw_result_message(0, buf.as_mut_ptr(), buf.len(), &mut n),
            sw_result::Ok
        );
        assert_eq!(CStr::from_ptr(buf.as_ptr()).to_str().unwrap(), "success");
        assert_eq!(n, 7);
        assert_eq!(
            sw_result_message(1, buf.as_mut_ptr(), 4, &mut n),
            sw_result::Ok
        );
        assert_eq!(
            (CStr::from_ptr(buf.as_ptr()).to_bytes(), n),
            (&b"a r"[..], 3)
        );
        assert_eq!(
            sw_result_message(0, ptr::null_mut(), 0, &mut n),
            sw_result::Ok
        );
        assert_eq!(n, 0);
        assert_eq!(
            sw_result_message(0, ptr::null_mut(), 8, &mut n),
            sw_result::NullParameter
        );
        assert_eq!(
            sw_result_message(77, buf.as_mut_ptr(), buf.len(), ptr::null_mut()),
            sw_result::Ok
        );
    }
    assert!(!message(sw_result::Panic).is_empty());
    let mut big = [0 as c_char; 64];
    // SAFETY: as above.
    unsafe { sw_result_message(77, big.as_mut_ptr(), big.len(), ptr::null_mut()) };
    // SAFETY: NUL-terminated.
    assert_eq!(
        unsafe { CStr::from_ptr(big.as_ptr()) }.to_str().unwrap(),
        "unknown result 77"
    );
}

#[test]
fn messages_are_cut_at_character_boundaries() {
    // An IPv6 block with a non-ASCII character makes a detail with multibyte text.
    let blk = CString::new("fé80::/10").unwrap();
    // SAFETY: valid handle and string.
    unsafe {
        let cfg = unordered_config();
        assert_eq!(
            sw_config_add_ignore_net(cfg, blk.as_ptr()),
            sw_result::InvalidConfig
        );
        sw_config_free(cfg);
    }
    let full = message(sw_result::InvalidConfig);
    let at = full.find('é').unwrap();
    let mut buf = vec![0 as c_char; at + 2];
    let mut n = 0;
    // SAFETY: `buf` has `at + 2` writable bytes: room for the text before 'é'
    // and one of its two bytes, which must not be written.
    unsafe {
        sw_result_message(
            sw_result::InvalidConfig as u32,
            buf.as_mut_ptr(),
            buf.len(),
            &mut n,
        );
        assert_eq!(n, at);
        assert_eq!(CStr::from_ptr(buf.as_ptr()).to_str().unwrap(), &full[..at]);
    }
}

#[test]
fn version_matches_the_package() {
    // SAFETY: sw_version returns a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(sw_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    let macros = format!("{SW_VERSION_MAJOR}.{SW_VERSION_MINOR}.{SW_VERSION_PATCH}");
    assert_eq!(v, macros);
}

#[test]
fn advance_forgets_idle_sources() {
    let sink = Sink::default();
    let det = detector(&sink);
    let ev = sw_event::from(&sweep()[0]);
    // SAFETY: `det` is live and `ev` valid.
    unsafe {
        assert_eq!(sw_detector_observe(det, &ev), sw_result::Ok);
        assert_eq!(stats(det).sources, 1);
        // A failed first contact makes the source a suspect: two hours later,
        // past the one-hour idle timeout, it is still remembered.
        assert_eq!(sw_detector_advance(det, T0 + 7_200_000_000), sw_result::Ok);
        assert_eq!(stats(det).sources, 1);
        // A day and an hour later: past the one-day suspect timeout.
        assert_eq!(sw_detector_advance(det, T0 + 90_000_000_000), sw_result::Ok);
        let st = stats(det);
        assert_eq!((st.sources, st.expired), (0, 1));
        sw_detector_free(det);
    }
}

/// SSDP answers from UDP 1900 to a host's ephemeral ports are replies by
/// default (counted as unsolicited, never probes); without reply ports they
/// are probes and their source a scanner. A FIN scan's technique reaches the
/// C verdict, and sw_detector_flush delivers each reported source's final
/// extent.
#[test]
fn reply_ports_techniques_and_final_extents() {
    let replies: Vec<sw_event> = (0..30u16)
        .map(|i| {
            let mut e = Event::new(
                Timestamp::from_micros(T0 + u64::from(i) * 1_000_000),
                v4(192, 168, 1, 132),
                v4(192, 168, 1, 129),
                40_000 + i,
                Protocol::Udp,
                Outcome::Unanswered,
            );
            e.src_port = 1900;
            sw_event::from(&e)
        })
        .collect();
    let mut fin_scan: Vec<sw_event> = (1..=30u16)
        .map(|p| {
            let e = Event::new(
                Timestamp::from_micros(T0 + u64::from(p) * 1_000_000),
                v4(203, 0, 113, 9),
                v4(10, 0, 0, 1),
                p,
                Protocol::Tcp,
                Outcome::Refused,
            );
            sw_event::from(&e)
        })
        .collect();
    for e in &mut fin_scan {
        e.technique = sw_technique::Fin as u8;
    }
    for clear in [false, true] {
        let sink = Sink::default();
        // SAFETY: handles used as documented; arrays readable for their length.
        unsafe {
            let cfg = unordered_config();
            if clear {
                assert_eq!(sw_config_clear_reply_ports(cfg), sw_result::Ok);
            }
            let mut det = ptr::null_mut();
            assert_eq!(
                sw_detector_new(cfg, Some(collect), user_data(&sink), &mut det),
                sw_result::Ok
            );
            sw_config_free(cfg);
            let (ev, n) = (replies.as_ptr(), replies.len());
            assert_eq!(sw_detector_observe_batch(det, ev, n), sw_result::Ok);
            let (ev, n) = (fin_scan.as_ptr(), fin_scan.len());
            assert_eq!(sw_detector_observe_batch(det, ev, n), sw_result::Ok);
            assert_eq!(stats(det).unsolicited, if clear { 0 } else { 30 });
            assert_eq!(sw_detector_flush(det), sw_result::Ok);
            sw_detector_free(det);
        }
        let got = sink.lock().unwrap();
        let responder = got.iter().filter(|v| v.src_addr[..4] == [192, 168, 1, 132]);
        assert_eq!(responder.count() > 0, clear, "{got:?}");
        let scan: Vec<&sw_verdict> = got
            .iter()
            .filter(|v| v.src_addr[..4] == [203, 0, 113, 9])
            .collect();
        assert!(scan.iter().all(|v| v.technique == sw_technique::Fin as u8));
        let last = scan.last().unwrap();
        assert_eq!((last.is_final, last.ports_count, last.probes), (1, 30, 30));
        assert!(scan[..scan.len() - 1].iter().all(|v| v.is_final == 0));
    }
}
