//! Zeek `conn.log`, tab-separated or JSON lines, through `read_conn_log`.
#![no_main]

#[path = "../common/lines.rs"]
mod lines;

use libfuzzer_sys::fuzz_target;
use sweepwatch_input::zeek::read_conn_log;

fuzz_target!(|data: &[u8]| {
    lines::check(|d, opts, emit| read_conn_log(d, opts, emit), data);
});
