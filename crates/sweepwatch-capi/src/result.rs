//! `sw_result`, the thread's last error, and rendering both as text.

use super::ffi::write_str;
use super::panic;
use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::c_char;

/// The result of every fallible call. The numbers are part of the ABI: they
/// never change and are never reused; new results get new numbers.
///
/// sw_result_message() renders a result as text, with the detail of the last
/// failure on the calling thread (such as the configuration field at fault).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum sw_result {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL. Nothing changed.
    NullParameter = 1,
    /// An argument was malformed: an event's address family, protocol or
    /// outcome out of range, a string that is not UTF-8, or a stage's
    /// capacity beyond its limit. Nothing changed.
    InvalidArgument = 2,
    /// A configuration value is out of range or unparsable; the detail names
    /// the field. Nothing changed.
    InvalidConfig = 3,
    /// A detector was called from a verdict callback. The call was refused and
    /// nothing changed; feed events after the callback returns instead.
    Reentrant = 4,
    /// The library panicked (a bug). The panic was caught at the boundary; the
    /// handle remains usable, but the call may have been carried out partly.
    Panic = 5,
    /// The detector's memory could not be allocated: `memory_bytes` is more
    /// than the machine's physical memory or than it will map. Nothing was
    /// created; try a smaller `memory_bytes`. Also a stage's buffer that
    /// could not be allocated (sw_stage_new()); the detail says which.
    NoMemory = 6,
    /// A saved state was refused: it is not a state, is cut short or corrupt
    /// (its checksum fails), has another format version, or was made with a
    /// configuration whose memory layout differs; the detail says which.
    /// Nothing was created: start with an empty detector.
    InvalidState = 7,
    /// Reading or writing a saved state failed (the file descriptor's or
    /// buffer's error is in the detail); what was written is incomplete.
    Io = 8,
    /// The caller's buffer is too small for what the call writes; the size
    /// needed went to the call's length out-parameter (see
    /// sw_detector_save()). Call again with a buffer at least that large.
    InsufficientSize = 9,
    /// A NATS server could not be reached, or refused the deployment's
    /// setup (sw_publisher_new()); batches still awaited acknowledgement
    /// when a flush's time ran out (sw_publisher_flush()); or this library
    /// was built without publishing. The detail says which. Detection at
    /// the sensor is unaffected.
    Unavailable = 10,
}

impl sw_result {
    /// The result with this number, if there is one.
    pub fn from_u32(n: u32) -> Option<sw_result> {
        Some(match n {
            0 => sw_result::Ok,
            1 => sw_result::NullParameter,
            2 => sw_result::InvalidArgument,
            3 => sw_result::InvalidConfig,
            4 => sw_result::Reentrant,
            5 => sw_result::Panic,
            6 => sw_result::NoMemory,
            7 => sw_result::InvalidState,
            8 => sw_result::Io,
            9 => sw_result::InsufficientSize,
            10 => sw_result::Unavailable,
            _ => return None,
        })
    }

    /// What the result means, without detail.
    pub fn description(self) -> &'static str {
        match self {
            sw_result::Ok => "success",
            sw_result::NullParameter => "a required pointer argument was NULL",
            sw_result::InvalidArgument => "invalid argument",
            sw_result::InvalidConfig => "invalid configuration",
            sw_result::Reentrant => {
                "the detector was called from its own verdict callback; the call was refused"
            }
            sw_result::Panic => "internal error: a panic was caught at the library boundary",
            sw_result::NoMemory => "out of memory",
            sw_result::InvalidState => "saved state refused",
            sw_result::Io => "reading or writing a saved state failed",
            sw_result::InsufficientSize => "the buffer is too small",
            sw_result::Unavailable => "publishing is unavailable",
        }
    }
}

struct LastError {
    code: sw_result,
    detail: Cow<'static, str>,
}

thread_local! {
    /// The most recent failure on this thread, for sw_result_message(). Kept per
    /// thread so that threads sharing a detector never see each other's errors.
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

/// Records `detail` as the calling thread's last error and returns `code`.
pub(crate) fn fail(code: sw_result, detail: impl Into<Cow<'static, str>>) -> sw_result {
    let detail = detail.into();
    // try_with: during thread teardown the detail is dropped, the code still returned.
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            *e = Some(LastError { code, detail });
        }
    });
    code
}

/// The calling thread's last error message for `code`, if its last failure had
/// that code.
pub(crate) fn last_detail(code: sw_result) -> Option<String> {
    LAST_ERROR
        .try_with(|e| {
            e.try_borrow().ok().and_then(|e| match &*e {
                Some(last) if last.code == code && !last.detail.is_empty() => {
                    Some(last.detail.to_string())
                }
                _ => None,
            })
        })
        .ok()
        .flatten()
}

/// The full message for `code`: its description, then the detail of the calling
/// thread's last failure if that failure had the same code.
pub(crate) fn message(code: sw_result) -> String {
    match last_detail(code) {
        Some(d) => format!("{}: {d}", code.description()),
        None => code.description().to_string(),
    }
}

/// Writes the message for `result` into `buf`: at most `len - 1` bytes of UTF-8
/// text (cut at a character boundary), then a NUL. If the calling thread's most
/// recent failure had this result, the message ends with its detail, such as
/// "invalid configuration: min_targets: 1 must be between 2 and 1000000".
/// 256 bytes hold every message but the longest details.
///
/// `result` is taken as an integer so that any value is safe to pass; unknown
/// numbers give "unknown result". `*written`, if `written` is not NULL, receives
/// the number of bytes written before the NUL. This call does not change the
/// thread's last error. Thread-safe.
///
/// Returns SW_RESULT_NULL_PARAMETER if `buf` is NULL and `len` is not 0;
/// with `len` 0 nothing is written and `*written` is 0.
///
/// # Safety
/// `buf` must point to `len` writable bytes; `written`, if not NULL, to a
/// writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn sw_result_message(
    result: u32,
    buf: *mut c_char,
    len: usize,
    written: *mut usize,
) -> sw_result {
    panic::boundary(|| {
        if buf.is_null() && len != 0 {
            // Not recorded: that would replace the detail the caller is after.
            return sw_result::NullParameter;
        }
        let text = match sw_result::from_u32(result) {
            Some(code) => message(code),
            None => format!("unknown result {result}"),
        };
        // SAFETY: the caller provides `len` writable bytes at `buf`.
        let n = unsafe { write_str(buf, len, &text) };
        if !written.is_null() {
            // SAFETY: checked non-NULL; the caller provides a writable size_t.
            unsafe { written.write(n) };
        }
        sw_result::Ok
    })
}
