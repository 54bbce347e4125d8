//! pcap and pcapng captures through `read_capture`, with a flow tracker of 64
//! entries so that eviction runs as often as timeouts do, and a malformed-
//! record handler that must be told of each malformed record once, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sweepwatch_input::pcap::{read_capture, PcapOptions};
use sweepwatch_input::{Location, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let mut emitted = 0u64;
    let mut reported = 0u64;
    let mut last: Option<u64> = None;
    let mut on_malformed = |at: Location, why: &str| {
        let Location::Byte(offset) = at else {
            panic!("a capture reported {at}");
        };
        assert!(
            last < Some(offset),
            "byte {offset} reported after byte {last:?}"
        );
        assert!(
            offset < data.len() as u64,
            "byte {offset} of {}",
            data.len()
        );
        assert!(!why.is_empty(), "no reason at byte {offset}");
        last = Some(offset);
        reported += 1;
    };
    let mut opts = ReadOptions {
        on_malformed: Some(&mut on_malformed),
        pcap: PcapOptions {
            max_flows: 64,
            ..PcapOptions::default()
        },
        ..ReadOptions::default()
    };
    let Ok(r) = read_capture(data, &mut opts, &mut |_| emitted += 1) else {
        return;
    };
    assert_eq!(r.events, emitted, "events counted and emitted differ");
    assert_eq!(
        r.malformed, reported,
        "malformed counted and reported differ"
    );
    assert!(r.malformed <= r.skipped && r.skipped <= r.records, "{r:?}");
    // Probes reported early made their attempt and their outcome; pending
    // ones made at most their attempt.
    assert!(r.tracker_full <= r.events, "{r:?}");
    if let Some(at) = r.truncated_at {
        assert!(
            at <= data.len() as u64,
            "truncated at {at} of {}",
            data.len()
        );
        // The cut record is the last malformed one reported.
        assert_eq!(last, Some(at), "truncated at {at}, last reported {last:?}");
    }
});
