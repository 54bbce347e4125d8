//! The Suricata plugin's flow-record step (`sweepwatch_suricata::flow_event`,
//! what its EVE `Write` runs on every record), one record per input line,
//! with and without a configured prefix, parsed by the EVE reader the plugin
//! uses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sweepwatch_input::eve::eve_flow;
use sweepwatch_suricata::{flow_event, Seen};

const PREFIX: &[u8] = b"@cee: ";

fuzz_target!(|data: &[u8]| {
    for rec in data.split(|&b| b == b'\n') {
        let plain = flow_event(rec, b"", eve_flow);
        if let Seen::Event(..) = plain {
            // The same record behind the prefix gives the same event.
            let mut prefixed = PREFIX.to_vec();
            prefixed.extend_from_slice(rec);
            assert_eq!(flow_event(&prefixed, PREFIX, eve_flow), plain);
        }
        let _ = flow_event(rec, PREFIX, eve_flow);
    }
});
