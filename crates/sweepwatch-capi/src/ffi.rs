//! Pointer helpers shared by the C objects: handles, slices, strings, buffers.

use super::result::{fail, sw_result};
use std::ffi::{c_char, CStr};

/// An opaque C handle type and the Rust object it stands for.
///
/// A handle pointer is a `Box<Target>` turned into a raw pointer and cast; the
/// C side never sees the layout.
pub(crate) trait Handle {
    type Target;
}

/// Moves `value` to the heap and returns it as a handle the caller owns.
pub(crate) fn into_handle<H: Handle>(value: H::Target) -> *mut H {
    Box::into_raw(Box::new(value)).cast::<H>()
}

/// Borrows the object behind a handle; `None` if the pointer is NULL.
///
/// # Safety
/// A non-NULL `p` must come from [`into_handle`] for the same `H`, not yet freed,
/// and no mutable borrow of it may be live.
pub(crate) unsafe fn borrow<'a, H: Handle>(p: *const H) -> Option<&'a H::Target> {
    // SAFETY: per this function's contract `p` is NULL or a live `Box<Target>`.
    unsafe { p.cast::<H::Target>().as_ref() }
}

/// Borrows the object behind a handle mutably; `None` if the pointer is NULL.
///
/// # Safety
/// As for [`borrow`], and no other borrow of it may be live.
pub(crate) unsafe fn borrow_mut<'a, H: Handle>(p: *mut H) -> Option<&'a mut H::Target> {
    // SAFETY: per this function's contract `p` is NULL or a live, unshared `Box<Target>`.
    unsafe { p.cast::<H::Target>().as_mut() }
}

/// Drops the object behind a handle; NULL is a no-op.
///
/// # Safety
/// A non-NULL `p` must come from [`into_handle`] for the same `H` and not be
/// used again.
pub(crate) unsafe fn free_handle<H: Handle>(p: *mut H) {
    if !p.is_null() {
        // SAFETY: per this function's contract `p` is the unique owner of a `Box<Target>`.
        drop(unsafe { Box::from_raw(p.cast::<H::Target>()) });
    }
}

/// Records that the argument `name` was NULL.
pub(crate) fn null(name: &str) -> sw_result {
    fail(sw_result::NullParameter, format!("`{name}` is NULL"))
}

/// The `n` elements at `p`: `(NULL, 0)` is the empty slice, `(NULL, n > 0)` an error.
///
/// # Safety
/// A non-NULL `p` must point to `n` initialised elements that stay unchanged
/// while the slice lives.
pub(crate) unsafe fn slice<'a, T>(p: *const T, n: usize, name: &str) -> Result<&'a [T], sw_result> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: per this function's contract `p` points to `n` valid elements.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// The NUL-terminated UTF-8 string at `p`.
///
/// # Safety
/// A non-NULL `p` must point to a NUL-terminated string that stays unchanged
/// while the result lives.
pub(crate) unsafe fn utf8<'a>(p: *const c_char, name: &str) -> Result<&'a str, sw_result> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: per this function's contract `p` is a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(p) };
    bytes.to_str().map_err(|e| {
        fail(
            sw_result::InvalidArgument,
            format!(
                "`{name}` is not UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Writes `s` into the caller's buffer as a NUL-terminated string, cut at a
/// character boundary to fit; returns the bytes written before the NUL. Writes
/// nothing if `len` is 0.
///
/// # Safety
/// If `len` is not 0, `buf` must point to `len` writable bytes.
pub(crate) unsafe fn write_str(buf: *mut c_char, len: usize, s: &str) -> usize {
    if len == 0 || buf.is_null() {
        return 0;
    }
    let mut n = s.len().min(len - 1);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: `n + 1 <= len` bytes fit in the caller's buffer, which cannot
    // overlap `s` (a Rust string the caller has no pointer to).
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
    n
}
