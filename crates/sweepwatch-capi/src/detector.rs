//! `sw_detector`: the detector behind an opaque handle, its verdict callback,
//! and the calls that feed it.

use super::config::{config_error, config_ref, sw_config, CConfig};
use super::event::sw_event;
use super::ffi::{borrow, free_handle, into_handle, null, slice, Handle};
use super::panic;
use super::result::{fail, sw_result};
use super::stats::sw_stats;
use super::verdict::sw_verdict;
use std::cell::Cell;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use sweepwatch::order::Reorder;
use sweepwatch::{Config, Detector, Error, Timestamp, Verdict};

/// A detector: finds sources that sweep or scan, from one event at a time, in
/// fixed memory allocated by sw_detector_new().
///
/// Events are first held in a window that puts them back in the order their
/// probes were made (sw_config_set_reorder()), then fed to the sequential test.
///
/// Thread safety: sw_detector_observe(), sw_detector_observe_batch(),
/// sw_detector_advance(), sw_detector_stats() and sw_detector_save() may be
/// called from several threads at once on one detector (sources are split
/// into shards, each behind its own lock; the ordering window has one lock).
/// sw_detector_free() must not run concurrently with any other call on the
/// same detector.
pub struct sw_detector {
    _private: [u8; 0],
}

/// What a detector handle holds: the core's detector and, unless turned
/// off, the window that orders events before it.
pub(crate) struct Fed {
    pub(crate) det: Detector,
    pub(crate) order: Option<Mutex<Reorder<(), sw_event>>>,
}

impl Handle for sw_detector {
    type Target = Fed;
}

impl Fed {
    /// What sw_detector_new() and sw_detector_restore() share: checks the
    /// callback and the out-pointer, reserves the ordering window, and
    /// builds the detector with `make`, given the core's configuration and
    /// the sink that delivers to the callback.
    pub(crate) fn build<T>(
        cfg: &CConfig,
        callback: sw_verdict_callback,
        user_data: *mut c_void,
        out: *mut T,
        make: impl FnOnce(Config, Sink) -> Result<Detector, Error>,
    ) -> Result<Fed, sw_result> {
        let callback = callback.ok_or_else(|| null("callback"))?;
        if out.is_null() {
            return Err(null("detector_out"));
        }
        let sink = Sink {
            callback,
            user_data: UserData(user_data),
        };
        let order = match cfg.order.is_off() {
            true => None,
            false => Some(Mutex::new(Reorder::new(cfg.order).ok_or_else(|| {
                fail(
                    sw_result::NoMemory,
                    format!(
                        "reorder max_events: {} events cannot be held in this machine's memory",
                        cfg.order.max_events
                    ),
                )
            })?)),
        };
        let det = make(cfg.core.clone(), sink).map_err(core_error)?;
        Ok(Fed { det, order })
    }

    /// Runs `step` on the ordering window, feeding what it releases to the
    /// detector; `None` when ordering is off. A call from one of this
    /// detector's verdict callbacks is refused before the window's lock is
    /// taken (the callback runs with it held).
    pub(crate) fn ordered(
        &self,
        step: impl FnOnce(&mut Reorder<(), sw_event>, &mut dyn FnMut(&[sw_event], &[()])),
    ) -> Option<Result<(), Error>> {
        let order = self.order.as_ref()?;
        if self.det.is_delivering() {
            return Some(Err(Error::Reentrant));
        }
        let mut r = order.lock().unwrap_or_else(|e| e.into_inner());
        let det = &self.det;
        let mut result = Ok(());
        step(&mut r, &mut |batch, _| {
            if let Err(e) = det.observe_keyed_batch(batch, sw_event::keyed) {
                result = Err(e);
            }
        });
        Some(result)
    }

    /// Feeds checked events in order: into the ordering window, or with it
    /// off straight to the sequential test. The one path of
    /// sw_detector_observe_batch() and of a stage's hand-overs, so that both
    /// give the same verdicts.
    #[inline]
    pub(crate) fn feed_batch(&self, events: &[sw_event]) -> Result<(), Error> {
        match self.order {
            None => self.det.observe_keyed_batch(events, sw_event::keyed),
            Some(_) => self
                .ordered(|r, feed| {
                    for ev in events {
                        r.push(*ev, (), &mut *feed);
                    }
                })
                .unwrap_or(Ok(())),
        }
    }
}

/// Receives each verdict, synchronously, on the thread whose event decided it,
/// while that source's shard lock is held (other threads feeding sources of the
/// same shard wait meanwhile, so return quickly).
///
/// `user_data` is the pointer given to sw_detector_new(), unchanged. `verdict`
/// is valid only until the callback returns; copy the struct to keep it.
///
/// The callback must not unwind or longjmp out (a C++ exception escaping it
/// aborts the process). It may call any sw_config_ function, and create, feed
/// and free other detectors. Calls into the detector delivering to it (observe,
/// batch, advance, flush, stats, a stage's hand-over), or into a detector whose
/// callback it runs inside, return SW_RESULT_REENTRANT instead of deadlocking,
/// and sw_detector_free() of such a detector does nothing.
pub type sw_verdict_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, verdict: *const sw_verdict)>;

/// The caller's `user_data`, carried to whichever thread delivers a verdict.
struct UserData(*mut c_void);

// SAFETY: sw_detector_new's contract makes the caller responsible for
// `user_data` being usable from every thread that feeds the detector; the
// library only hands it back.
unsafe impl Send for UserData {}
// SAFETY: as above; the library never dereferences the pointer.
unsafe impl Sync for UserData {}

impl UserData {
    fn get(&self) -> *mut c_void {
        self.0
    }
}

/// Where a detector's verdicts go: the caller's callback and its `user_data`.
pub(crate) struct Sink {
    callback: unsafe extern "C" fn(*mut c_void, *const sw_verdict),
    user_data: UserData,
}

impl Sink {
    /// Hands `v` to the callback; see [`deliver`].
    pub(crate) fn deliver(&self, v: &Verdict) {
        deliver(self.callback, &self.user_data, v)
    }
}

thread_local! {
    /// Set when delivering a verdict panicked, so the feeding call reports
    /// SW_RESULT_PANIC although the detector carried on.
    static DELIVERY_PANICKED: Cell<bool> = const { Cell::new(false) };
}

/// Converts a verdict and calls the C callback. A panic here is caught rather
/// than left to unwind through the detector's shard, so the remaining events of
/// the call are still processed.
fn deliver(
    callback: unsafe extern "C" fn(*mut c_void, *const sw_verdict),
    user_data: &UserData,
    v: &Verdict,
) {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let out = sw_verdict::from(v);
        // SAFETY: sw_detector_new's caller promised that `callback` may be called
        // with `user_data` from any feeding thread; `out` outlives the call.
        unsafe { callback(user_data.get(), &out) };
    }));
    if r.is_err() {
        DELIVERY_PANICKED.with(|p| p.set(true));
    }
}

/// Runs one feeding call and reports a panic in verdict delivery as SW_RESULT_PANIC.
#[inline]
pub(crate) fn feeding(f: impl FnOnce() -> Result<(), Error>) -> Result<(), sw_result> {
    let r = f();
    // The common case reads the flag once and writes nothing.
    if r.is_ok() && !DELIVERY_PANICKED.with(|p| p.get()) {
        return Ok(());
    }
    match r {
        // Refused before any delivery: the flag belongs to the call in progress
        // further up this thread's stack, if any, so it is left alone.
        Err(Error::Reentrant) => Err(core_error(Error::Reentrant)),
        r => {
            if DELIVERY_PANICKED.with(|p| p.replace(false)) {
                return Err(fail(sw_result::Panic, "a verdict could not be delivered"));
            }
            r.map_err(core_error)
        }
    }
}

/// Records a core error as the thread's last error.
pub(crate) fn core_error(e: Error) -> sw_result {
    match e {
        Error::Reentrant => fail(
            sw_result::Reentrant,
            "called from a verdict callback of this detector",
        ),
        e @ Error::Config { .. } => config_error(&e),
        Error::NoMemory { bytes } => fail(
            sw_result::NoMemory,
            format!("memory_bytes: {bytes} bytes cannot be allocated on this machine"),
        ),
        Error::State { message } => fail(sw_result::InvalidState, message),
        Error::Io { message, .. } => fail(sw_result::Io, message),
    }
}

/// The detector behind a handle.
///
/// # Safety
/// `detector` must be NULL or a live detector handle.
pub(crate) unsafe fn detector_ref<'a>(detector: *const sw_detector) -> Result<&'a Fed, sw_result> {
    // SAFETY: per this function's contract.
    unsafe { borrow(detector) }.ok_or_else(|| null("detector"))
}

/// Creates a detector from `config` (copied: free or reuse it afterwards),
/// allocating all its memory now. Each verdict goes to `callback` with
/// `user_data`, on the thread that fed the deciding event; see
/// sw_verdict_callback. On success `*detector_out` receives the detector, to
/// free with sw_detector_free().
///
/// Returns SW_RESULT_NULL_PARAMETER if `config`, `callback` or `detector_out`
/// is NULL, SW_RESULT_INVALID_CONFIG if a configuration value is out of range
/// (sw_result_message() names the field), SW_RESULT_NO_MEMORY if
/// `memory_bytes` is more than the machine's physical memory or cannot be
/// allocated (the process carries on). `*detector_out` is written only on
/// success. Thread-safe; may be called from a verdict callback.
///
/// # Safety
/// `config` must be a live configuration not being changed by another thread;
/// `detector_out` must point to a writable pointer. `callback` must be safe to
/// call with `user_data` from every thread that will feed the detector, until
/// sw_detector_free() returns.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_new(
    config: *const sw_config,
    callback: sw_verdict_callback,
    user_data: *mut c_void,
    detector_out: *mut *mut sw_detector,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live configuration.
        let cfg = unsafe { config_ref(config) }?;
        let fed = Fed::build(cfg, callback, user_data, detector_out, |core, sink| {
            Detector::new(core, move |v| sink.deliver(v))
        })?;
        // SAFETY: checked non-NULL by Fed::build; the caller provides a
        // writable pointer.
        unsafe { detector_out.write(into_handle(fed)) };
        Ok(())
    })
}

/// Frees a detector and all its memory. NULL is a no-op. Events still held
/// in its ordering window are dropped: call sw_detector_flush() first at the
/// end of an input. Free the detector's stages (sw_stage_free()) before it.
///
/// Not thread-safe: no other call on this detector may be running or start.
/// Called from a verdict callback of this detector (or from a callback running
/// inside one of its callbacks) it does nothing, since the detector is busy
/// delivering; free it after the feeding call returns. A callback may free
/// other detectors, such as one it created.
///
/// # Safety
/// `detector` must be NULL or a detector from sw_detector_new(), not used again.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_free(detector: *mut sw_detector) {
    panic::boundary(|| {
        // SAFETY: the caller provides a live detector or NULL.
        if let Some(fed) = unsafe { borrow::<sw_detector>(detector) } {
            if fed.det.is_delivering() {
                return;
            }
        }
        // SAFETY: the caller hands over `detector`, which came from into_handle,
        // and no other call on it is running.
        unsafe { free_handle(detector) }
    })
}

/// Feeds one event: into the ordering window (sw_config_set_reorder()), from
/// which the events it makes due go to the sequential test; with ordering off,
/// straight to it. Verdicts those events complete reach the callback before
/// this call returns.
///
/// Returns SW_RESULT_NULL_PARAMETER if `detector` or `event` is NULL,
/// SW_RESULT_INVALID_ARGUMENT if the event is malformed (family not 4 or 6,
/// `proto` or `outcome` out of range), SW_RESULT_REENTRANT from a verdict
/// callback; in each case the detector is unchanged. Thread-safe: several
/// threads may feed one detector at once. Never allocates on success.
///
/// # Safety
/// `detector` must be NULL or a live detector; `event` NULL or a readable sw_event.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_observe(
    detector: *const sw_detector,
    event: *const sw_event,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live detector or NULL.
        let det = unsafe { detector_ref(detector) }?;
        // SAFETY: the caller provides a readable event or NULL.
        let ev = unsafe { event.as_ref() }.ok_or_else(|| null("event"))?;
        ev.check()
            .map_err(|e| fail(sw_result::InvalidArgument, format!("event: {e}")))?;
        feeding(|| match det.order {
            None => det.det.observe_keyed(&ev.keyed()),
            Some(_) => det
                .ordered(|r, feed| r.push(*ev, (), feed))
                .unwrap_or(Ok(())),
        })
    })
}

/// Feeds `n_events` events from the array `events`; the same verdicts and
/// counters as feeding them one by one in order, but faster (each shard's lock
/// is taken once per group of events). Each source's events are taken in
/// order; verdicts of sources in different shards may arrive in another order.
/// `(NULL, 0)` is an empty batch. Uses about 100 KiB of the calling thread's
/// stack (events are taken in steps of 512).
///
/// Every event is checked before any is fed: if one is malformed the call
/// returns SW_RESULT_INVALID_ARGUMENT, sw_result_message() gives its index, and
/// the detector is unchanged. Returns SW_RESULT_NULL_PARAMETER if `detector` is
/// NULL or `events` is NULL with `n_events` above 0, SW_RESULT_REENTRANT from a
/// verdict callback (nothing fed). Thread-safe. Never allocates on success.
///
/// # Safety
/// `detector` must be NULL or a live detector; `events` NULL or `n_events`
/// readable sw_event structs, unchanged during the call.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_observe_batch(
    detector: *const sw_detector,
    events: *const sw_event,
    n_events: usize,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live detector or NULL.
        let det = unsafe { detector_ref(detector) }?;
        // SAFETY: the caller provides `n_events` readable events or (NULL, 0).
        let events = unsafe { slice(events, n_events, "events") }?;
        for (i, ev) in events.iter().enumerate() {
            ev.check()
                .map_err(|e| fail(sw_result::InvalidArgument, format!("events[{i}]: {e}")))?;
        }
        feeding(|| det.feed_batch(events))
    })
}

/// Tells the detector that capture time has reached `now_us` (microseconds since the Unix
/// epoch) although no events came: events whose ordering window has passed
/// are fed, sources idle past their timeout are
/// forgotten, and the final extent of each reported one goes to the verdict
/// callback, on the calling thread. Its cost grows with the memory budget:
/// call it every few seconds at most, when traffic is idle.
///
/// Returns SW_RESULT_NULL_PARAMETER if `detector` is NULL, SW_RESULT_REENTRANT
/// from a verdict callback. Thread-safe.
///
/// # Safety
/// `detector` must be NULL or a live detector.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_advance(
    detector: *const sw_detector,
    now_us: u64,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live detector or NULL.
        let det = unsafe { detector_ref(detector) }?;
        let now = Timestamp::from_micros(now_us);
        feeding(|| {
            det.ordered(|r, feed| {
                r.advance(now, &mut *feed);
                r.flush(feed);
            })
            .unwrap_or(Ok(()))?;
            det.det.advance(now)
        })
    })
}

/// Feeds every event still held in the ordering window (as at the end of a
/// capture), then delivers to the verdict callback, on the calling thread, the final extent of
/// every source reported in its current episode (earlier episodes' extents
/// were delivered as they ended): an sw_verdict with `is_final`
/// 1 and the counts as they stand, so a scan that grew after its verdict is
/// reported as it ended. Call it at the end of a capture, or now and then on
/// live traffic; the detector's state is unchanged. Its cost is a pass over the
/// detector's memory, like sw_detector_advance().
///
/// Returns SW_RESULT_NULL_PARAMETER if `detector` is NULL, SW_RESULT_REENTRANT
/// from a verdict callback. Thread-safe.
///
/// # Safety
/// `detector` must be NULL or a live detector.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_flush(detector: *const sw_detector) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live detector or NULL.
        let det = unsafe { detector_ref(detector) }?;
        feeding(|| {
            det.ordered(|r, feed| r.drain(feed)).unwrap_or(Ok(()))?;
            det.det.flush()
        })
    })
}

/// Gives a running detector the configuration `config`, keeping its state:
/// every source, its evidence, the scans in progress and the events its
/// ordering window holds. Home networks, allow and ignore rules, reply
/// ports, thresholds and timeouts may change; `memory_bytes`, shards,
/// `dedup_secs` and a set hash seed may not (they lay out the state), and
/// the ordering window keeps the size it was made with. Each feeding call
/// reads the configuration in place when it starts: one running on another
/// thread ends under the old one. The new one is compiled before it is put
/// in place, so feeding calls wait for no more than that. `config` stays the
/// caller's.
///
/// ```c
/// sw_config *cfg = sw_config_new();
/// sw_config_add_home_net(cfg, "10.0.0.0/8");
/// sw_config_add_allow(cfg, "10.1.2.3/32", NULL, 0);
/// sw_result r = sw_detector_reconfigure(det, cfg);
/// if (r != SW_RESULT_OK) report(r);
/// sw_config_free(cfg);
/// ```
///
/// Returns SW_RESULT_NULL_PARAMETER if `detector` or `config` is NULL;
/// SW_RESULT_INVALID_CONFIG if `config` is invalid or changes the layout
/// (the detector keeps its configuration; sw_result_message() names each
/// change). Thread-safe; may be called from a verdict callback.
///
/// # Safety
/// `detector` must be NULL or a live detector; `config` NULL or a live
/// configuration.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_reconfigure(
    detector: *const sw_detector,
    config: *const sw_config,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live detector or NULL.
        let det = unsafe { detector_ref(detector) }?;
        // SAFETY: the caller provides a live configuration or NULL.
        let cfg = unsafe { config_ref(config) }?;
        det.det.reconfigure(cfg.core.clone()).map_err(core_error)
    })
}

/// Writes a snapshot of the detector's counters, summed over its shards, into
/// `*stats_out`.
///
/// Returns SW_RESULT_NULL_PARAMETER if `detector` or `stats_out` is NULL,
/// SW_RESULT_REENTRANT from a verdict callback; `*stats_out` is written only on
/// success. Thread-safe.
///
/// # Safety
/// `detector` must be NULL or a live detector; `stats_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sw_detector_stats(
    detector: *const sw_detector,
    stats_out: *mut sw_stats,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live detector or NULL.
        let det = unsafe { detector_ref(detector) }?;
        if stats_out.is_null() {
            return Err(null("stats_out"));
        }
        let stats = det.det.stats().map_err(core_error)?;
        // SAFETY: checked non-NULL; the caller provides a writable sw_stats.
        unsafe { stats_out.write(sw_stats::from(stats)) };
        Ok(())
    })
}
