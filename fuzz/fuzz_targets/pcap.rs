//! pcap and pcapng captures through `read_capture_detailed`, with a flow
//! tracker of 64 entries so that eviction runs as often as timeouts do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sweepwatch_input::pcap::{read_capture_detailed, PcapOptions};

fuzz_target!(|data: &[u8]| {
    let opts = PcapOptions {
        max_flows: 64,
        ..PcapOptions::default()
    };
    let mut emitted = 0u64;
    let Ok(st) = read_capture_detailed(data, &opts, &mut |_| emitted += 1) else {
        return;
    };
    let r = st.read;
    assert_eq!(r.events, emitted, "events counted and emitted differ");
    assert!(r.malformed <= r.skipped && r.skipped <= r.records, "{r:?}");
    // Probes reported early made their attempt and their outcome; pending
    // ones made at most their attempt.
    assert!(r.tracker_full <= r.events, "{st:?}");
    if let Some(at) = r.truncated_at {
        assert!(
            at <= data.len() as u64,
            "truncated at {at} of {}",
            data.len()
        );
    }
});
