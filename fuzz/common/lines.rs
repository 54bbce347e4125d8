//! The checks shared by the line readers' targets: whatever the input, the
//! counts add up and malformed lines are reported once each, in order.

use sweepwatch_input::{Emit, InputError, Location, ReadOptions, ReadStats};

/// Runs `read` (a line reader's entry point: events out, malformed lines
/// reported) over `data` and checks its counts.
pub fn check(
    read: impl FnOnce(&[u8], &mut ReadOptions<'_>, Emit<'_>) -> Result<ReadStats, InputError>,
    data: &[u8],
) {
    let mut emitted = 0u64;
    let mut reported = 0u64;
    let mut last_line = 0u64;
    let mut on_malformed = |at: Location, _why: &str| {
        let Location::Line(line) = at else {
            panic!("a line reader reported {at}");
        };
        assert!(
            line > last_line,
            "line {line} reported after line {last_line}"
        );
        last_line = line;
        reported += 1;
    };
    let mut opts = ReadOptions {
        on_malformed: Some(&mut on_malformed),
        ..ReadOptions::default()
    };
    let result = read(data, &mut opts, &mut |_| emitted += 1);
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
    assert_eq!((st.pending, st.tracker_full), (0, 0), "{st:?}");
}
