//! Suricata EVE JSON lines through `read_eve_reporting`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sweepwatch::input::eve::read_eve_reporting;

fuzz_target!(|data: &[u8]| {
    let mut emitted = 0u64;
    let mut reported = 0u64;
    let mut last_line = 0u64;
    let result = read_eve_reporting(data, &mut |_| emitted += 1, &mut |line, _why| {
        assert!(
            line > last_line,
            "line {line} reported after line {last_line}"
        );
        last_line = line;
        reported += 1;
    });
    let Ok(st) = result else {
        return;
    };
    assert_eq!(st.events, emitted, "events counted and emitted differ");
    assert_eq!(
        st.malformed, reported,
        "malformed counted and reported differ"
    );
    assert_eq!(st.records, st.events + st.skipped, "{st:?}");
    assert!(st.malformed <= st.skipped, "{st:?}");
});
