//! The format sniffer, then the reader for whatever it recognised.
//!
//! The first byte chooses how the rest is handed over: odd, gzip-compressed
//! here first (so the fuzzer reaches every format through gzip without having
//! to keep CRCs right); even, as it is (real gzip streams among the seeds
//! still cover corrupt and multi-member gzip).
#![no_main]

use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use sweepwatch_input::pcap::PcapOptions;
use sweepwatch_input::sniff::{sniff, Format};
use sweepwatch_input::{Location, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let packed;
    let input: &[u8] = if mode & 1 == 1 {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(rest).expect("gzip into memory");
        packed = gz.finish().expect("gzip into memory");
        &packed
    } else {
        rest
    };
    let Ok(sniffed) = sniff(input) else {
        return;
    };
    let format = sniffed.format;
    let capture = matches!(format, Format::Pcap | Format::PcapNg);
    let mut emitted = 0u64;
    let mut reported = 0u64;
    let mut on_malformed = |at: Location, _why: &str| {
        // Captures locate records by byte offset, logs by line.
        assert_eq!(matches!(at, Location::Byte(_)), capture, "{format} at {at}");
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
    let result = sniffed.read(&mut opts, &mut |_| emitted += 1);
    let Ok(st) = result else {
        return;
    };
    assert_eq!(st.events, emitted, "events counted and emitted differ");
    assert_eq!(
        st.malformed, reported,
        "malformed counted and reported differ"
    );
    assert!(
        st.malformed <= st.skipped && st.skipped <= st.records,
        "{st:?}"
    );
    match format {
        Format::Pcap | Format::PcapNg | Format::FlowExport => {}
        Format::Empty => assert_eq!(st, Default::default()),
        Format::ZeekTsv | Format::ZeekJson | Format::Eve | Format::Argus | Format::Nfdump => {
            assert_eq!(st.records, st.events + st.skipped, "{st:?}");
            assert_eq!(st.pending, 0, "{st:?}");
        }
    }
});
