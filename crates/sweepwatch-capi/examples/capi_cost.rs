//! Instructions per event through the Rust API and through the C ABI, for
//! `valgrind --tool=callgrind`, whose instruction counts, unlike timings, do not
//! depend on what else the machine is doing.
//!
//! ```sh
//! cargo build --release -p sweepwatch-capi --example capi_cost
//! for mode in none rust c_abi rust_batch c_abi_batch c_abi_unordered c_abi_batch_unordered; do
//!   for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/capi_cost $mode $n 2>&1 | grep refs
//! done; done
//! ```
//! The difference between the two sizes, divided by 100,000, is the cost of
//! one event, set-up excluded; mode `none` gives the cost of making the events,
//! to subtract. The C ABI modes end with `sw_detector_flush`, which feeds the
//! events its ordering window still holds; `_unordered` turns the window off.

use std::net::{IpAddr, Ipv4Addr};
use std::ptr;
use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp};
use sweepwatch_capi::{
    sw_config_free, sw_config_new, sw_config_set_hash_seed, sw_config_set_reorder,
    sw_detector_flush, sw_detector_free, sw_detector_new, sw_detector_observe,
    sw_detector_observe_batch, sw_event, sw_result,
};

unsafe extern "C" fn ignore(_: *mut std::ffi::c_void, _: *const sweepwatch_capi::sw_verdict) {}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "rust".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    // 10,000 sources, most talking to a few servers, one in a hundred scanning.
    let mut x = 1u64;
    let events: Vec<Event> = (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let s = (x % 10_000) as u32;
            let src = IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | s));
            let ts = Timestamp::from_micros(1_700_000_000_000_000 + i as u64 * 1000);
            if s % 100 == 7 {
                let dst = IpAddr::V4(Ipv4Addr::from(0xC633_0000 | (x >> 48) as u32));
                Event::new(ts, src, dst, 445, Protocol::Tcp, Outcome::Refused)
            } else {
                let dst = IpAddr::V4(Ipv4Addr::from(0xCB00_7100 | ((x >> 40) % 200) as u32));
                Event::new(ts, src, dst, 443, Protocol::Tcp, Outcome::Established)
            }
        })
        .collect();
    let c_events: Vec<sw_event> = events.iter().map(sw_event::from).collect();
    let config = Config {
        hash_seed: Some(7),
        ..Config::default()
    };
    match mode.as_str() {
        // The cost of making the events, to subtract from the others.
        "none" => {
            std::hint::black_box((&events, &c_events));
        }
        "rust" | "rust_batch" => {
            let det = Detector::new(config, |_| {}).unwrap();
            if mode == "rust" {
                events.iter().for_each(|e| det.observe(e).unwrap());
            } else {
                events
                    .chunks(1024)
                    .for_each(|c| det.observe_batch(c).unwrap());
            }
        }
        _ => {
            // SAFETY: handles are used as the header documents and freed once.
            unsafe {
                let cfg = sw_config_new();
                sw_config_set_hash_seed(cfg, 7);
                if mode.ends_with("_unordered") {
                    sw_config_set_reorder(cfg, 0, 0);
                }
                let mut det = ptr::null_mut();
                assert_eq!(
                    sw_detector_new(cfg, Some(ignore), ptr::null_mut(), &mut det),
                    sw_result::Ok
                );
                sw_config_free(cfg);
                if mode.starts_with("c_abi") && !mode.contains("batch") {
                    for e in &c_events {
                        assert_eq!(sw_detector_observe(det, e), sw_result::Ok);
                    }
                } else {
                    for c in c_events.chunks(1024) {
                        assert_eq!(
                            sw_detector_observe_batch(det, c.as_ptr(), c.len()),
                            sw_result::Ok
                        );
                    }
                }
                assert_eq!(sw_detector_flush(det), sw_result::Ok);
                sw_detector_free(det);
            }
        }
    }
}
