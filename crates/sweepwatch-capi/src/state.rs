//! Saved state of an `sw_detector`: the core's state, then the events its
//! ordering window holds, to a buffer or a file descriptor and back.
//!
//! The core writes and checks its own part ([`Detector::save`]); the window
//! is the C ABI's, so its section is written here, after the core's,
//! integers little-endian:
//!
//! | part | bytes |
//! |---|---|
//! | magic | `SWWINDOW` |
//! | format version | `u32` ([`WINDOW_FORMAT`]) |
//! | held events | `u64` count, then each `sw_event` field by field (52 bytes), oldest first |
//! | clock | `u64` newest event time seen (µs), `u64` early releases |
//! | checksum | CRC-32 (IEEE) of the section's bytes before it, `u32` |
//!
//! Field by field rather than as the struct lies in memory, so that the
//! section does not depend on padding or byte order.

use super::config::{config_ref, sw_config};
use super::detector::{core_error, detector_ref, feeding, sw_detector, sw_verdict_callback, Fed};
use super::event::sw_event;
use super::ffi::{into_handle, null, slice};
use super::panic;
use super::result::{fail, sw_result};
use std::ffi::{c_int, c_void};
use std::io::{self, Read, Write};
use sweepwatch::order::Held;
use sweepwatch::{Detector, Error, Timestamp};

/// The first bytes of the window's section.
const WINDOW_MAGIC: [u8; 8] = *b"SWWINDOW";

/// The version of the window's section; another is refused, never misread.
/// Format 2 added each event's zone.
const WINDOW_FORMAT: u32 = 2;

/// Bytes of one held event in the section.
const EVENT_BYTES: usize = 52;

/// Held events read at once: the count is only trusted as far as the bytes
/// that follow it, so a corrupt count cannot make a restore reserve much.
const CHUNK: usize = 1024;

/// The events a window holds, as the section carries them.
type HeldEvents = Held<sw_event, ()>;

fn refused(message: impl Into<std::borrow::Cow<'static, str>>) -> sw_result {
    fail(sw_result::InvalidState, message)
}

fn io_error(e: &io::Error) -> sw_result {
    fail(sw_result::Io, e.to_string())
}

/// A failed read of the window's section: a stream that ends early is a
/// state cut short.
fn read_error(e: &io::Error) -> sw_result {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        refused("its ordering window is cut short (truncated)")
    } else {
        io_error(e)
    }
}

fn encode(ev: &sw_event, out: &mut Vec<u8>) {
    out.extend_from_slice(&ev.ts_us.to_le_bytes());
    out.extend_from_slice(&ev.src_addr);
    out.extend_from_slice(&ev.dst_addr);
    out.extend_from_slice(&ev.src_port.to_le_bytes());
    out.extend_from_slice(&ev.dst_port.to_le_bytes());
    out.extend_from_slice(&[ev.family, ev.proto, ev.outcome, ev.technique]);
    out.extend_from_slice(&ev.zone.to_le_bytes());
}

/// The event in `b`, [`EVENT_BYTES`] long.
fn decode(b: &[u8]) -> sw_event {
    let mut ev = sw_event::default();
    let mut ts = [0; 8];
    ts.copy_from_slice(&b[0..8]);
    ev.ts_us = u64::from_le_bytes(ts);
    ev.src_addr.copy_from_slice(&b[8..24]);
    ev.dst_addr.copy_from_slice(&b[24..40]);
    ev.src_port = u16::from_le_bytes([b[40], b[41]]);
    ev.dst_port = u16::from_le_bytes([b[42], b[43]]);
    [ev.family, ev.proto, ev.outcome, ev.technique] = [b[44], b[45], b[46], b[47]];
    ev.zone = u32::from_le_bytes([b[48], b[49], b[50], b[51]]);
    ev
}

/// Writes the window's section; returns its bytes.
fn write_window(w: &mut impl Write, held: &HeldEvents) -> Result<u64, sw_result> {
    let mut out = Vec::new();
    out.try_reserve_exact(32 + held.events.len() * EVENT_BYTES)
        .map_err(|_| fail(sw_result::NoMemory, "the ordering window's copy"))?;
    out.extend_from_slice(&WINDOW_MAGIC);
    out.extend_from_slice(&WINDOW_FORMAT.to_le_bytes());
    out.extend_from_slice(&(held.events.len() as u64).to_le_bytes());
    for (ev, ()) in &held.events {
        encode(ev, &mut out);
    }
    out.extend_from_slice(&held.newest.as_micros().to_le_bytes());
    out.extend_from_slice(&held.early.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    w.write_all(&out)
        .and_then(|()| w.flush())
        .map_err(|e| io_error(&e))?;
    Ok(out.len() as u64)
}

/// Reads the window's section written by [`write_window`], exactly up to its
/// checksum, and checks it.
fn read_window(r: &mut impl Read) -> Result<HeldEvents, sw_result> {
    let mut crc = crc32fast::Hasher::new();
    let mut take = |buf: &mut [u8]| -> Result<(), sw_result> {
        r.read_exact(buf).map_err(|e| read_error(&e))?;
        crc.update(buf);
        Ok(())
    };
    let mut magic = [0; 8];
    take(&mut magic).map_err(|e| match e {
        sw_result::InvalidState => refused(
            "it ends before its ordering window (cut short, or not written by sw_detector_save())",
        ),
        e => e,
    })?;
    if magic != WINDOW_MAGIC {
        return Err(refused(
            "no ordering window follows the detector's state (not written by sw_detector_save())",
        ));
    }
    let mut word = [0; 4];
    take(&mut word)?;
    let format = u32::from_le_bytes(word);
    if format != WINDOW_FORMAT {
        return Err(refused(format!(
            "its ordering window has format {format}; this library reads format {WINDOW_FORMAT}"
        )));
    }
    let mut long = [0; 8];
    take(&mut long)?;
    let count = u64::from_le_bytes(long);
    let mut events = Vec::new();
    let mut chunk = vec![0u8; CHUNK * EVENT_BYTES];
    let mut left = count;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        let bytes = &mut chunk[..n * EVENT_BYTES];
        take(bytes)?;
        events.extend(bytes.chunks_exact(EVENT_BYTES).map(|b| (decode(b), ())));
        left -= n as u64;
    }
    take(&mut long)?;
    let newest = Timestamp::from_micros(u64::from_le_bytes(long));
    take(&mut long)?;
    let early = u64::from_le_bytes(long);
    let want = crc.finalize();
    r.read_exact(&mut word).map_err(|e| read_error(&e))?;
    if u32::from_le_bytes(word) != want {
        return Err(refused(
            "its ordering window's checksum fails: it is corrupt",
        ));
    }
    // Past the checksum only a state made by hand holds a malformed event;
    // the detector reads only checked ones.
    for (i, (ev, ())) in events.iter().enumerate() {
        ev.check().map_err(|e| {
            refused(format!(
                "held event {i} of its ordering window is malformed: {e}"
            ))
        })?;
    }
    Ok(Held {
        events,
        newest,
        early,
    })
}

/// Writes the detector's state and its window's to `w`; returns the bytes
/// written.
fn save(fed: &Fed, mut w: impl Write) -> Result<u64, sw_result> {
    // Refused before the window's lock is taken: a callback runs with it held.
    if fed.det.is_delivering() {
        return Err(core_error(Error::Reentrant));
    }
    // With the window on, every event reaches the detector under its lock:
    // holding it through the core's save makes the two parts one moment, so
    // no event is saved twice (held and fed) or not at all.
    let window = fed
        .order
        .as_ref()
        .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()));
    let held = match &window {
        Some(r) => r.snapshot(),
        None => Held {
            events: Vec::new(),
            newest: Timestamp::from_micros(0),
            early: 0,
        },
    };
    let core = fed.det.save(&mut w).map_err(core_error)?;
    drop(window);
    Ok(core + write_window(&mut w, &held)?)
}

/// Builds a detector from the state in `r` (core, then window) and writes it
/// to `*detector_out`. The held events go back into the new window; with the
/// window off, straight to the detector, in their order.
///
/// # Safety
/// As for sw_detector_restore().
unsafe fn restore<R: Read>(
    config: *const sw_config,
    r: &mut R,
    callback: sw_verdict_callback,
    user_data: *mut c_void,
    detector_out: *mut *mut sw_detector,
    rest: impl FnOnce(&R) -> Result<(), sw_result>,
) -> Result<(), sw_result> {
    // SAFETY: the caller provides a live configuration.
    let cfg = unsafe { config_ref(config) }?;
    let fed = Fed::build(cfg, callback, user_data, detector_out, |core, sink| {
        Detector::restore(core, &mut *r, move |v| sink.deliver(v))
    })?;
    let held = read_window(r)?;
    rest(r)?;
    feeding(|| match fed.order {
        Some(_) => fed
            .ordered(|w, feed| w.resume(held, feed))
            .unwrap_or(Ok(())),
        None => {
            let events: Vec<sw_event> = held.events.iter().map(|(ev, ())| *ev).collect();
            fed.det.observe_keyed_batch(&events, sw_event::keyed)
        }
    })?;
    // SAFETY: checked non-NULL by Fed::build; the caller provides a writable
    // pointer.
    unsafe { detector_out.write(into_handle(fed)) };
    Ok(())
}

/// Writes into the caller's buffer while it has room, and counts every byte
/// offered, so that a buffer too small still learns the size needed.
struct Fill {
    buf: *mut u8,
    cap: usize,
    len: usize,
}

impl Write for Fill {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.len < self.cap {
            let n = data.len().min(self.cap - self.len);
            // SAFETY: `buf` has `cap` writable bytes (sw_detector_save's
            // contract) and `len + n <= cap`; `data` is the library's own
            // memory, which the caller's buffer cannot overlap.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.buf.add(self.len), n) };
        }
        self.len = self.len.saturating_add(data.len());
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the detector's whole state into `buf` (`cap` bytes): the sources,
/// their evidence, the hash keys, the configuration it was made with, and the
/// events its ordering window holds, with format versions and checksums.
/// sw_detector_restore() builds a detector that goes on from it as this one
/// would have. On success `*len_out` receives the bytes written.
///
/// Size: if the state does not fit in `cap` bytes, the call returns
/// SW_RESULT_INSUFFICIENT_SIZE and `*len_out` receives the size needed (the
/// one out-parameter written on that failure); the buffer's contents are then
/// unspecified. `buf` NULL with `cap` 0 asks for the size alone. The size
/// depends on the sources and held events, so it can grow between that query
/// and the save when other threads feed the detector meanwhile: allocate a
/// little more, or call again while the result is
/// SW_RESULT_INSUFFICIENT_SIZE. Every call, a query included, copies the
/// whole state (tens of megabytes for large `memory_bytes`) through the
/// buffer: prefer sw_detector_save_fd() for files.
///
/// The state holds the hash keys that make the detector's placement of
/// sources unpredictable: keep it as private as the process's memory.
///
/// Returns SW_RESULT_NULL_PARAMETER if `detector` or `len_out` is NULL or
/// `buf` is NULL with `cap` above 0, SW_RESULT_REENTRANT from a verdict
/// callback of this detector. The detector is never changed.
///
/// Thread-safe: may run while other threads feed the detector. With the
/// ordering window on, feeding calls wait for the whole save and the state
/// is one moment of the detector; with it off, each shard is saved at a
/// moment of its own (feeding calls wait for one shard's copy at a time), so
/// an event fed during the save may be in the state or not.
///
/// # Safety
/// `detector` must be NULL or a live detector; `buf` NULL or `cap` writable
/// bytes; `len_out` NULL or a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_save(
    detector: *const sw_detector,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live detector or NULL.
        let fed = unsafe { detector_ref(detector) }?;
        if buf.is_null() && cap != 0 {
            return Err(null("buf"));
        }
        if len_out.is_null() {
            return Err(null("len_out"));
        }
        let mut fill = Fill { buf, cap, len: 0 };
        save(fed, &mut fill)?;
        // SAFETY: checked non-NULL; the caller provides a writable size_t.
        unsafe { len_out.write(fill.len) };
        if fill.len > cap {
            return Err(fail(
                sw_result::InsufficientSize,
                format!("the state needs {} bytes, the buffer has {cap}", fill.len),
            ));
        }
        Ok(())
    })
}

/// Writes the detector's whole state, as sw_detector_save() does, to the
/// file descriptor `fd` from its current offset, with write(2) (retried when
/// interrupted) until all of it is written. `fd` is neither closed nor
/// synced: call fsync(2) before relying on the file after a crash, and write
/// to a temporary file renamed over the old state so that a crash during the
/// save leaves the old one whole.
///
/// Returns SW_RESULT_NULL_PARAMETER if `detector` is NULL,
/// SW_RESULT_INVALID_ARGUMENT if `fd` is negative or the platform is not
/// Unix (file descriptors are a Unix interface; use sw_detector_save()
/// elsewhere), SW_RESULT_IO if a write fails (sw_result_message() gives the
/// system's error; what was written is incomplete), SW_RESULT_REENTRANT from
/// a verdict callback of this detector. Thread-safe, as sw_detector_save().
///
/// # Safety
/// `detector` must be NULL or a live detector; `fd` an open descriptor that
/// no other thread closes during the call.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_save_fd(detector: *const sw_detector, fd: c_int) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live detector or NULL.
        let fed = unsafe { detector_ref(detector) }?;
        // SAFETY: the caller provides an open descriptor, borrowed for the call.
        let file = unsafe { fd::borrow(fd) }?;
        let mut w = io::BufWriter::with_capacity(1 << 16, &*file);
        save(fed, &mut w)?;
        w.flush().map_err(|e| io_error(&e))
    })
}

/// Creates a detector from a state written by sw_detector_save() or
/// sw_detector_save_fd(): the `len` bytes at `buf`, exactly one state. Like
/// sw_detector_new() in every other respect (`config` copied, `callback` and
/// `user_data` used alike, `*detector_out` written only on success, to free
/// with sw_detector_free()): it goes on as the saved detector would have, with
/// its sources, evidence, suppression, hash keys and held events.
///
/// `config` gives the thresholds, home networks, allow rules and ordering
/// window, which may differ from the saved ones; `memory_bytes`, `shards`
/// and `dedup_secs` must equal the saved ones (they place the sources), and
/// so must `hash_seed` if `config` sets one. The held events go back into the
/// new ordering window; if `config` turns ordering off, they go straight to
/// the sequential test, oldest first. Either way, verdicts of events the new
/// window releases at once (a shorter or smaller window than the saved one,
/// or none) reach `callback` during this call, on the calling thread.
///
/// Returns SW_RESULT_NULL_PARAMETER if `config`, `callback` or `detector_out`
/// is NULL or `buf` is NULL with `len` above 0; SW_RESULT_INVALID_STATE if the
/// bytes are not a state, are cut short, fail a checksum, have another format
/// version, are followed by other bytes, or were saved with another
/// `memory_bytes`, `shards`, `dedup_secs` or `hash_seed`
/// (sw_result_message() says which); SW_RESULT_INVALID_CONFIG and
/// SW_RESULT_NO_MEMORY as sw_detector_new(). Nothing is created on failure.
/// Thread-safe; may be called from a verdict callback.
///
/// # Safety
/// `config` must be a live configuration not being changed by another
/// thread; `buf` NULL or `len` readable bytes, unchanged during the call;
/// `detector_out` a writable pointer. `callback` must be safe to call with
/// `user_data` from every thread that will feed the detector, and from this
/// one during the call, until sw_detector_free() returns.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_restore(
    config: *const sw_config,
    buf: *const u8,
    len: usize,
    callback: sw_verdict_callback,
    user_data: *mut c_void,
    detector_out: *mut *mut sw_detector,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides `len` readable bytes or (NULL, 0).
        let mut bytes = unsafe { slice(buf, len, "buf") }?;
        // SAFETY: this function's contract is restore's.
        unsafe {
            restore(
                config,
                &mut bytes,
                callback,
                user_data,
                detector_out,
                |rest| match rest.len() {
                    0 => Ok(()),
                    n => Err(refused(format!(
                        "{n} bytes follow the state (pass the length sw_detector_save() gave)"
                    ))),
                },
            )
        }
    })
}

/// Creates a detector from a state read from the file descriptor `fd`, from
/// its current offset, as sw_detector_restore() does from a buffer. Exactly
/// the state is read (with read(2), retried when interrupted): `fd` is left
/// just past it, open, so other data may follow the state in the same file
/// or pipe.
///
/// Returns what sw_detector_restore() returns (a state cut short by the end
/// of the file is SW_RESULT_INVALID_STATE), and SW_RESULT_INVALID_ARGUMENT if
/// `fd` is negative or the platform is not Unix, SW_RESULT_IO if a read fails
/// (sw_result_message() gives the system's error). Nothing is created on
/// failure. Thread-safe; may be called from a verdict callback.
///
/// # Safety
/// As for sw_detector_restore(); `fd` must be an open descriptor that no
/// other thread closes during the call.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_restore_fd(
    config: *const sw_config,
    fd: c_int,
    callback: sw_verdict_callback,
    user_data: *mut c_void,
    detector_out: *mut *mut sw_detector,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides an open descriptor, borrowed for the call.
        let file = unsafe { fd::borrow(fd) }?;
        // Unbuffered: a buffer would read past the state's end.
        let mut r = &*file;
        // SAFETY: this function's contract is restore's.
        unsafe {
            restore(
                config,
                &mut r,
                callback,
                user_data,
                detector_out,
                |_| Ok(()),
            )
        }
    })
}

/// The caller's file descriptors, borrowed for one call.
mod fd {
    use super::super::result::{fail, sw_result};
    use std::ffi::c_int;

    /// The open descriptor `fd` as a file that is never closed here.
    ///
    /// # Safety
    /// `fd` must be open for the file's lifetime.
    #[cfg(unix)]
    pub(super) unsafe fn borrow(
        fd: c_int,
    ) -> Result<std::mem::ManuallyDrop<std::fs::File>, sw_result> {
        use std::os::fd::FromRawFd;
        if fd < 0 {
            return Err(fail(
                sw_result::InvalidArgument,
                format!("`fd` {fd} is not a file descriptor"),
            ));
        }
        // SAFETY: `fd` is open (this function's contract); ManuallyDrop keeps
        // the File from closing what the caller owns.
        Ok(std::mem::ManuallyDrop::new(unsafe {
            std::fs::File::from_raw_fd(fd)
        }))
    }

    /// File descriptors are a Unix interface.
    ///
    /// # Safety
    /// None needed; unsafe to match the Unix version.
    #[cfg(not(unix))]
    pub(super) unsafe fn borrow(
        _fd: c_int,
    ) -> Result<std::mem::ManuallyDrop<std::fs::File>, sw_result> {
        Err(fail(
            sw_result::InvalidArgument,
            "file descriptors are supported on Unix only: use sw_detector_save() and sw_detector_restore()",
        ))
    }
}
