//! Argus flow records (`ra -c ,`, CTU-13's binetflow) through `read_argus`.
#![no_main]

#[path = "../common/lines.rs"]
mod lines;

use libfuzzer_sys::fuzz_target;
use sweepwatch_input::argus::read_argus;

fuzz_target!(|data: &[u8]| {
    lines::check(|d, opts, emit| read_argus(d, opts, emit), data);
});
