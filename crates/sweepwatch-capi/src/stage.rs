//! `sw_stage`: one thread's events on their way to a detector, handed over in
//! batches on the path of sw_detector_observe_batch(), with a bound on how
//! long an event waits. The C form of the core's `Staged`.

use super::detector::{detector_ref, feeding, sw_detector, Fed};
use super::event::sw_event;
use super::ffi::{borrow, free_handle, into_handle, null, Handle};
use super::panic;
use super::result::{fail, sw_result};
use std::cell::{RefCell, RefMut};
use std::ptr;

/// The most events a stage holds: far more than batching gains from (256 to
/// 1,024 gain most of it), and few enough that a bad argument cannot reserve
/// gigabytes.
const MAX_CAPACITY: usize = 1 << 24;

/// A staging buffer: collects one thread's events and hands them to a
/// detector in batches, on the path of sw_detector_observe_batch() (through
/// the ordering window when it is on). At scale (a detector larger than the
/// cache) a batch's memory reads overlap, so engines that learn of one
/// connection at a time feed faster through a stage than with
/// sw_detector_observe(). Each source's events reach the detector in the
/// order they were staged, so the verdicts are those of feeding the same
/// events one by one; only their timing and, between sources, their order
/// differ.
///
/// Latency bound: the staged events are handed over, and the verdicts they
/// decide reach the callback, as soon as `capacity` events are staged, or an
/// event is staged whose `ts_us` is `max_delay_us` or more after the oldest
/// staged one's, or at sw_stage_flush() or sw_stage_free(). So while events
/// keep coming a verdict waits at most `capacity - 1` later events or
/// `max_delay_us` of event time, whichever comes first, plus the ordering
/// window's own delay when that is on (sw_config_set_reorder()). When events
/// stop (idle traffic, the end of a capture) staged events wait until
/// sw_stage_flush() or sw_stage_free(): call sw_stage_flush() when the input
/// goes idle, before sw_detector_advance() or sw_detector_flush().
///
/// Threads: one stage per thread. A stage must not be used by two threads at
/// once (it may move between threads between calls); many stages, on many
/// threads, may feed one detector at once. The detector must outlive its
/// stages: free them first.
///
/// Memory: the buffer (56 bytes an event) is allocated once, by
/// sw_stage_new(); the stage never allocates after that (but for a failure's
/// message, kept for sw_result_message()). Every sw_stage_ call catches
/// panics, as the others do: none crosses into C.
pub struct sw_stage {
    _private: [u8; 0],
}

/// What a stage handle holds.
pub(crate) struct Stage {
    /// The detector fed; sw_stage_new's caller keeps it alive longer than
    /// the stage.
    fed: *const Fed,
    /// The staged events, checked, oldest first. In a `RefCell` because a
    /// verdict callback run by this stage's own hand-over can reach the stage
    /// through its handle: such calls are refused rather than change the
    /// events being handed over.
    events: RefCell<Vec<sw_event>>,
    capacity: usize,
    max_delay_us: u64,
}

impl Handle for sw_stage {
    type Target = Stage;
}

impl Stage {
    /// The staged events, to change; refused while this stage hands them
    /// over (a call from a callback of that hand-over).
    fn events_mut(&self) -> Result<RefMut<'_, Vec<sw_event>>, sw_result> {
        self.events.try_borrow_mut().map_err(|_| {
            fail(
                sw_result::Reentrant,
                "called from a verdict callback of this stage's own hand-over",
            )
        })
    }

    /// Stages a checked event, and hands over if that makes a hand-over due.
    fn observe(&self, ev: &sw_event) -> Result<(), sw_result> {
        let mut events = self.events_mut()?;
        if events.len() == self.capacity {
            // Full only after a hand-over that panicked (a refused one
            // unstages the event that filled the stage): hand over first,
            // never grow.
            drop(events);
            self.hand_over()?;
            events = self.events_mut()?;
        }
        events.push(*ev);
        let due = events.len() == self.capacity
            || ev.ts_us.saturating_sub(events[0].ts_us) >= self.max_delay_us;
        drop(events);
        if due {
            if let Err(e) = self.hand_over() {
                if e == sw_result::Reentrant {
                    // A refused call changes nothing, as everywhere in the
                    // ABI: the caller stages the event again later.
                    self.events.borrow_mut().pop();
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Hands every staged event to the detector.
    fn hand_over(&self) -> Result<(), sw_result> {
        drop(self.events_mut()?);
        let r = {
            let events = self.events.borrow();
            if events.is_empty() {
                return Ok(());
            }
            // SAFETY: sw_stage_new's caller keeps the detector alive while
            // the stage lives, and sw_detector_free() does nothing from the
            // callbacks this hand-over runs.
            let fed = unsafe { &*self.fed };
            // A shared borrow during the hand-over: sw_stage_len() still
            // works from its callbacks.
            feeding(|| fed.feed_batch(&events))
        };
        match r {
            // Refused before any event was fed: they stay staged.
            Err(sw_result::Reentrant) => {}
            // Fed, even if delivering a verdict panicked: never feed them twice.
            _ => self.events.borrow_mut().clear(),
        }
        r
    }
}

/// The stage behind a handle.
///
/// # Safety
/// `stage` must be NULL or a live stage handle.
unsafe fn stage_ref<'a>(stage: *const sw_stage) -> Result<&'a Stage, sw_result> {
    // SAFETY: per this function's contract.
    unsafe { borrow(stage) }.ok_or_else(|| null("stage"))
}

/// Creates a stage of `capacity` events (0 means 1) that feeds `detector`,
/// holding no event longer than `max_delay_us` of event time while events
/// keep coming (0 hands over every event at once; UINT64_MAX bounds by
/// `capacity` alone): see sw_stage. Its buffer is allocated now, and never
/// again. 256 to 1,024 events gain most of what batching gives. On success
/// `*stage_out` receives the stage, to free with sw_stage_free() before the
/// detector.
///
/// Returns SW_RESULT_NULL_PARAMETER if `detector` or `stage_out` is NULL,
/// SW_RESULT_INVALID_ARGUMENT if `capacity` is over 16,777,216 (1 << 24),
/// SW_RESULT_NO_MEMORY if the buffer cannot be allocated (the process
/// carries on). `*stage_out` is written only on success. Thread-safe; may be
/// called from a verdict callback.
///
/// # Safety
/// `detector` must be NULL or a live detector that outlives the stage;
/// `stage_out` NULL or a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn sw_stage_new(
    detector: *mut sw_detector,
    capacity: usize,
    max_delay_us: u64,
    stage_out: *mut *mut sw_stage,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live detector or NULL.
        let fed = unsafe { detector_ref(detector) }?;
        if stage_out.is_null() {
            return Err(null("stage_out"));
        }
        if capacity > MAX_CAPACITY {
            return Err(fail(
                sw_result::InvalidArgument,
                format!("capacity: {capacity} events is more than a stage holds ({MAX_CAPACITY})"),
            ));
        }
        let capacity = capacity.max(1);
        let mut events = Vec::new();
        events.try_reserve_exact(capacity).map_err(|_| {
            fail(
                sw_result::NoMemory,
                format!(
                    "stage capacity: {capacity} events ({} bytes) cannot be allocated",
                    capacity * std::mem::size_of::<sw_event>()
                ),
            )
        })?;
        let stage = Stage {
            fed: ptr::from_ref(fed),
            events: RefCell::new(events),
            capacity,
            max_delay_us,
        };
        // SAFETY: checked non-NULL; the caller provides a writable pointer.
        unsafe { stage_out.write(into_handle(stage)) };
        Ok(())
    })
}

/// Stages a copy of one event, and hands the staged events to the detector
/// if that makes a hand-over due (see sw_stage): as with
/// sw_detector_observe_batch(), verdicts of the events the hand-over feeds to
/// the sequential test (those the ordering window releases, when it is on)
/// reach the callback before this call returns. The stage never grows: an
/// event whose hand-over is refused is not staged.
///
/// Returns SW_RESULT_NULL_PARAMETER if `stage` or `event` is NULL,
/// SW_RESULT_INVALID_ARGUMENT if the event is malformed (as
/// sw_detector_observe()), SW_RESULT_REENTRANT if a hand-over is due from a
/// verdict callback of the detector, or the call comes from a callback of
/// this stage's own hand-over; in each case nothing is staged and the staged
/// events stay staged: stage the event again after the callback returns.
/// Not thread-safe for one stage; never allocates on success.
///
/// # Safety
/// `stage` must be NULL or a live stage, not in use by another thread;
/// `event` NULL or a readable sw_event.
#[no_mangle]
pub unsafe extern "C" fn sw_stage_observe(
    stage: *mut sw_stage,
    event: *const sw_event,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live stage or NULL.
        let stage = unsafe { stage_ref(stage) }?;
        // SAFETY: the caller provides a readable event or NULL.
        let ev = unsafe { event.as_ref() }.ok_or_else(|| null("event"))?;
        ev.check()
            .map_err(|e| fail(sw_result::InvalidArgument, format!("event: {e}")))?;
        stage.observe(ev)
    })
}

/// Hands every staged event to the detector now, as
/// sw_detector_observe_batch() would. Call it when the input goes idle
/// and at its end (then sw_detector_flush() for the ordering window).
///
/// Returns SW_RESULT_NULL_PARAMETER if `stage` is NULL, SW_RESULT_REENTRANT
/// from a verdict callback of the detector (the events stay staged). Not
/// thread-safe for one stage; never allocates on success.
///
/// # Safety
/// `stage` must be NULL or a live stage, not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn sw_stage_flush(stage: *mut sw_stage) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live stage or NULL.
        let stage = unsafe { stage_ref(stage) }?;
        stage.hand_over()
    })
}

/// The number of events staged and not yet handed over; 0 for NULL. May be
/// called from a verdict callback, that of this stage's own hand-over
/// included.
///
/// # Safety
/// `stage` must be NULL or a live stage, not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn sw_stage_len(stage: *const sw_stage) -> usize {
    panic::boundary(|| {
        // SAFETY: the caller provides a live stage or NULL.
        unsafe { borrow::<sw_stage>(stage) }
            .and_then(|s| s.events.try_borrow().ok().map(|e| e.len()))
            .unwrap_or(0)
    })
}

/// Hands over what is staged, then frees the stage. NULL is a no-op.
///
/// Errors of that hand-over are ignored: a caller who wants to see them
/// calls sw_stage_flush() first. From a verdict callback of the detector the
/// hand-over is refused and the staged events are lost; from a callback of
/// this stage's own hand-over the call does nothing (free the stage after
/// the call that handed over returns).
///
/// # Safety
/// `stage` must be NULL or a stage from sw_stage_new(), not in use by another
/// thread and not used again; its detector must still be live.
#[no_mangle]
pub unsafe extern "C" fn sw_stage_free(stage: *mut sw_stage) {
    panic::boundary(|| {
        // SAFETY: the caller provides a live stage or NULL.
        if let Some(s) = unsafe { borrow::<sw_stage>(stage) } {
            if s.events.try_borrow_mut().is_err() {
                // Handing over: freeing now would pull the events from under it.
                return;
            }
            let _ = s.hand_over();
        }
        // SAFETY: the caller hands over `stage`, which came from into_handle,
        // and no other call on it is running.
        unsafe { free_handle(stage) }
    })
}
