//! Zeek `conn.log`, tab-separated or JSON lines, through
//! `read_conn_log_reporting`.
#![no_main]

#[path = "../common/lines.rs"]
mod lines;

use libfuzzer_sys::fuzz_target;
use sweepwatch_input::zeek::read_conn_log_reporting;

fuzz_target!(|data: &[u8]| {
    lines::check(|d, emit, bad| read_conn_log_reporting(d, emit, bad), data);
});
