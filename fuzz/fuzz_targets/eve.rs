//! Suricata EVE JSON lines through `read_eve_reporting`.
#![no_main]

#[path = "../common/lines.rs"]
mod lines;

use libfuzzer_sys::fuzz_target;
use sweepwatch_input::eve::read_eve_reporting;

fuzz_target!(|data: &[u8]| {
    lines::check(|d, emit, bad| read_eve_reporting(d, emit, bad), data);
});
