//! Helpers shared by the C ABI's test files.
#![allow(dead_code)]

use std::ffi::{c_char, c_void, CStr};
use std::net::{IpAddr, Ipv4Addr};
use std::ptr;
use std::sync::Mutex;
use sweepwatch_capi::*;

pub const T0: u64 = 1_700_000_000_000_000;

/// Verdicts collected by [`collect`]; `user_data` points to one.
pub type Sink = Mutex<Vec<sw_verdict>>;

/// A verdict callback that pushes into the [`Sink`] behind `user_data`.
///
/// # Safety
/// `user_data` must point to a live `Sink`; `verdict` must be valid.
pub unsafe extern "C" fn collect(user_data: *mut c_void, verdict: *const sw_verdict) {
    // SAFETY: the tests pass a live `Sink` as user_data; the verdict is valid
    // during the callback.
    let (sink, v) = unsafe { (&*user_data.cast::<Sink>(), *verdict) };
    sink.lock().unwrap().push(v);
}

/// `sink` as the callback's user data.
pub fn user_data(sink: &Sink) -> *mut c_void {
    ptr::from_ref(sink).cast_mut().cast()
}

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// A live detector's counters.
pub fn stats(det: *const sw_detector) -> sw_stats {
    let mut st = sw_stats::default();
    // SAFETY: `det` is live; `st` is writable.
    assert_eq!(unsafe { sw_detector_stats(det, &mut st) }, sw_result::Ok);
    st
}

/// The message sw_result_message() renders for `r` on this thread.
pub fn message(r: sw_result) -> String {
    let mut buf = [0 as c_char; 512];
    let mut n = 0usize;
    // SAFETY: `buf` has 512 writable bytes.
    let rc = unsafe { sw_result_message(r as u32, buf.as_mut_ptr(), buf.len(), &mut n) };
    assert_eq!(rc, sw_result::Ok);
    // SAFETY: sw_result_message NUL-terminates within the buffer.
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(s.len(), n);
    s
}
