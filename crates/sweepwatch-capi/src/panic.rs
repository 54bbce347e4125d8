//! The panic boundary: no unwinding crosses into C.

use super::result::{fail, sw_result};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What an exported function returns when it catches a panic.
pub(crate) trait OnPanic {
    fn on_panic() -> Self;
}

impl OnPanic for sw_result {
    fn on_panic() -> Self {
        sw_result::Panic
    }
}

impl OnPanic for () {
    fn on_panic() -> Self {}
}

impl OnPanic for usize {
    fn on_panic() -> Self {
        0
    }
}

impl<T> OnPanic for *mut T {
    fn on_panic() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> OnPanic for *const T {
    fn on_panic() -> Self {
        std::ptr::null()
    }
}

/// Runs `f`, turning a panic into the return type's failure value and the
/// thread's last error.
///
/// `AssertUnwindSafe` holds because the handles stay consistent across a panic:
/// the detector's shards tolerate poisoned locks, and configurations are plain
/// values whose fields are each assigned whole.
pub(crate) fn boundary<R: OnPanic>(f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            fail(sw_result::Panic, sweepwatch::panic_message(&*payload));
            R::on_panic()
        }
    }
}

/// [`boundary`] for functions whose body returns early with `?`.
pub(crate) fn run(f: impl FnOnce() -> Result<(), sw_result>) -> sw_result {
    boundary(|| match f() {
        Ok(()) => sw_result::Ok,
        Err(code) => code,
    })
}

/// [`boundary`] for functions returning a pointer.
pub(crate) fn boundary_ptr<T>(f: impl FnOnce() -> *const T) -> *const T {
    boundary(f)
}
