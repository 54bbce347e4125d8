//! The C ABI: a thin layer over [`Detector`](sweepwatch::Detector) for IDS engines
//! written in C or C++.
//!
//! Every item here is exported under the `sw_` prefix and described in the
//! generated header `include/sweepwatch.h`; the doc comments below are the
//! header's documentation, so they speak of C types and calls.
//!
//! The layer keeps the conventions of rustls-ffi: opaque handles created by
//! `_new` and released by `_free` (freeing NULL does nothing), a result enum
//! with fixed numbers, out-parameters written only on success, a panic boundary
//! around every exported function, and plain `#[repr(C)]` structs whose enum
//! fields are integers checked on the way in.
//!
//! # Examples
//! ```
//! use std::ffi::c_void;
//! use std::ptr;
//! use sweepwatch_capi::*;
//!
//! unsafe extern "C" fn count(user_data: *mut c_void, _v: *const sw_verdict) {
//!     // SAFETY: user_data is the counter passed to sw_detector_new below.
//!     unsafe { *user_data.cast::<u32>() += 1 };
//! }
//!
//! let mut verdicts = 0u32;
//! unsafe {
//!     let cfg = sw_config_new();
//!     let mut det = ptr::null_mut();
//!     let user_data = ptr::addr_of_mut!(verdicts).cast::<c_void>();
//!     assert_eq!(sw_detector_new(cfg, Some(count), user_data, &mut det), sw_result::Ok);
//!     sw_config_free(cfg);
//!     for host in 1..=10u8 {
//!         let mut ev = sw_event::default();
//!         ev.ts_us = 1_700_000_000_000_000;
//!         ev.family = SW_FAMILY_IPV4;
//!         ev.src_addr[..4].copy_from_slice(&[203, 0, 113, 7]);
//!         ev.dst_addr[..4].copy_from_slice(&[10, 0, 0, host]);
//!         ev.dst_port = 22;
//!         ev.proto = sw_protocol::Tcp as u8;
//!         ev.outcome = sw_outcome::Refused as u8;
//!         assert_eq!(sw_detector_observe(det, &ev), sw_result::Ok);
//!     }
//!     // Events wait in the ordering window until event time moves on; at the
//!     // end of the input, flush feeds them (and reports final extents).
//!     assert_eq!(verdicts, 0);
//!     assert_eq!(sw_detector_flush(det), sw_result::Ok);
//!     sw_detector_free(det);
//! }
//! // The verdict as decided, then the source's final extent.
//! assert_eq!(verdicts, 2);
//! ```
#![allow(non_camel_case_types)]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod config;
mod detector;
mod event;
mod ffi;
mod json;
mod names;
mod panic;
mod publish;
mod result;
mod stage;
mod state;
mod stats;
mod verdict;

pub use config::*;
pub use detector::*;
pub use event::*;
pub use json::*;
pub use names::*;
pub use publish::*;
pub use result::*;
pub use stage::*;
pub use state::*;
pub use stats::*;
pub use verdict::*;

use std::ffi::c_char;

/// Major version of the library this header belongs to. Compare it with
/// sw_version() at run time to detect a mismatched shared library.
pub const SW_VERSION_MAJOR: u32 = 0;
/// Minor version of the library this header belongs to.
pub const SW_VERSION_MINOR: u32 = 1;
/// Patch version of the library this header belongs to.
pub const SW_VERSION_PATCH: u32 = 0;

/// Parses a decimal number at compile time.
const fn decimal(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

// The header's macros are written out for cbindgen; this keeps them equal to the
// package version, so a release cannot ship a header naming another version.
const _: () = assert!(
    SW_VERSION_MAJOR == decimal(env!("CARGO_PKG_VERSION_MAJOR"))
        && SW_VERSION_MINOR == decimal(env!("CARGO_PKG_VERSION_MINOR"))
        && SW_VERSION_PATCH == decimal(env!("CARGO_PKG_VERSION_PATCH")),
    "update SW_VERSION_* in src/lib.rs to the package version"
);

/// The library's version, such as "0.1.0": a static NUL-terminated string that
/// must not be freed. Thread-safe.
#[no_mangle]
pub extern "C" fn sw_version() -> *const c_char {
    panic::boundary_ptr(|| {
        concat!(env!("CARGO_PKG_VERSION"), "\0")
            .as_ptr()
            .cast::<c_char>()
    })
}
