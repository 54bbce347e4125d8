//! Suricata EVE JSON lines through `read_eve`.
#![no_main]

#[path = "../common/lines.rs"]
mod lines;

use libfuzzer_sys::fuzz_target;
use sweepwatch_input::eve::read_eve;

fuzz_target!(|data: &[u8]| {
    lines::check(|d, opts, emit| read_eve(d, opts, emit), data);
});
