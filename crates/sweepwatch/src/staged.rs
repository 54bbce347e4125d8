//! A staging buffer for callers that have one event at a time: it gathers a
//! thread's events and hands them to the detector in batches, whose memory
//! reads overlap, with a bound on how long an event waits.

use crate::detector::Detector;
use crate::error::Error;
use crate::event::Event;

/// One thread's events on their way to a [`Detector`], handed over in
/// batches through [`Detector::observe_batch`]: at scale (a detector larger
/// than the cache) nearly twice as fast as [`Detector::observe`] per event,
/// for callers such as an engine's worker threads that learn of one
/// connection at a time. Make one per thread with [`Detector::staged`]; it
/// allocates its buffer once, there.
///
/// **Latency bound.** An event reaches the detector, and any verdict it
/// decides reaches the callback, as soon as one of these happens:
/// - `capacity` events are staged;
/// - an event is staged whose time is `max_delay_micros` or more after the
///   oldest staged event's;
/// - [`flush`](Staged::flush) is called, or the `Staged` is dropped.
///
/// So a verdict waits at most `capacity - 1` later events or
/// `max_delay_micros` of event time, whichever comes first, while events keep
/// coming. When they stop (idle traffic, the end of a capture), staged
/// events wait for a [`flush`](Staged::flush): call it when the input goes
/// idle, as you would [`Detector::advance`].
///
/// Each source's events reach the detector in the order they were staged,
/// so the verdicts are those of feeding the same events one by one; only
/// their timing and, between sources, their order differ.
///
/// # Examples
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp};
///
/// let decided = Arc::new(AtomicUsize::new(0));
/// let seen = Arc::clone(&decided);
/// let det = Detector::new(Config::default(), move |_| {
///     seen.fetch_add(1, Ordering::Relaxed);
/// })
/// .unwrap();
/// // At most 256 events, or one second of event time, before a hand-over.
/// let mut stage = det.staged(256, 1_000_000);
/// for i in 1..=10u8 {
///     let ts = Timestamp::from_micros(1_700_000_000_000_000 + u64::from(i));
///     let dst = std::net::Ipv4Addr::new(10, 0, 0, i).into();
///     let ev = Event::new(ts, "203.0.113.7".parse().unwrap(), dst, 22, Protocol::Tcp, Outcome::Refused);
///     stage.observe(&ev).unwrap();
/// }
/// assert_eq!(decided.load(Ordering::Relaxed), 0); // still staged
/// stage.flush().unwrap();
/// assert_eq!(decided.load(Ordering::Relaxed), 1);
/// ```
#[derive(Debug)]
pub struct Staged<'d> {
    det: &'d Detector,
    events: Vec<Event>,
    capacity: usize,
    max_delay_micros: u64,
}

impl Detector {
    /// A staging buffer of `capacity` events (at least one) that hands them
    /// to this detector in batches, holding none longer than
    /// `max_delay_micros` of event time while events keep coming: see
    /// [`Staged`]. 256 to 1,024 events gain most of what batching gives.
    pub fn staged(&self, capacity: usize, max_delay_micros: u64) -> Staged<'_> {
        let capacity = capacity.max(1);
        Staged {
            det: self,
            events: Vec::with_capacity(capacity),
            capacity,
            max_delay_micros,
        }
    }
}

impl Staged<'_> {
    /// Stages one event, and hands over the staged events if the buffer is
    /// full or the oldest has waited its `max_delay_micros`.
    ///
    /// # Errors
    /// [`Error::Reentrant`] if a hand-over is due from inside a verdict
    /// callback of this detector. A refused call changes nothing: `ev` is not
    /// staged (stage it again later), the events staged before stay, and the
    /// buffer never grows.
    pub fn observe(&mut self, ev: &Event) -> Result<(), Error> {
        self.events.push(*ev);
        let oldest = self.events[0].ts.as_micros();
        if self.events.len() == self.capacity
            || ev.ts.as_micros().saturating_sub(oldest) >= self.max_delay_micros
        {
            if let Err(e) = self.flush() {
                self.events.pop();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Hands every staged event to the detector now.
    ///
    /// # Errors
    /// [`Error::Reentrant`] if called from inside a verdict callback of this
    /// detector; the events stay staged.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.events.is_empty() {
            return Ok(());
        }
        self.det.observe_batch(&self.events)?;
        self.events.clear();
        Ok(())
    }

    /// Events staged and not yet handed over.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True if no event is staged.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl Drop for Staged<'_> {
    /// Hands over what is staged. Dropped inside a verdict callback of its
    /// own detector, where that is refused, the staged events are lost: flush
    /// first there to see the error.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
