//! Puts events back in the order their probes were made.
//!
//! Engines learn a probe's outcome late: an answer comes in milliseconds, an
//! unanswered probe is declared failed only when its timeout passes, and Zeek
//! and Suricata log a connection when it ends. Fed as they come, a burst of
//! first contacts reads as all its answers, then all its failures, and the
//! walk of a source whose contacts are mostly answered crosses its threshold
//! on the failures alone. Each event carries the time its probe was sent;
//! [`Reorder`] holds events for a window of that time and releases them
//! oldest first, so that the walk sees outcomes in attempt order.
//!
//! Every front end uses it: the command (a window of events), the Suricata
//! plugin and the C ABI (a window of capture time, bounded in events).
//!
//! ```
//! use sweepwatch::order::{Reorder, Window};
//! use sweepwatch::{Event, Outcome, Protocol, Timestamp};
//!
//! let ev = |secs, port, outcome| Event::new(Timestamp::from_secs(secs),
//!     "10.0.0.5".parse().unwrap(), "198.51.100.7".parse().unwrap(), port,
//!     Protocol::Tcp, outcome);
//! let mut r = Reorder::<()>::new(Window { micros: 60_000_000, max_events: 1000 }).unwrap();
//! let mut out = Vec::new();
//! // An answer known at once, then a failure sent earlier, known at its timeout.
//! r.push(ev(105, 443, Outcome::Established), (), |b, _| out.extend_from_slice(b));
//! r.push(ev(100, 80, Outcome::Unanswered), (), |b, _| out.extend_from_slice(b));
//! r.drain(|b, _| out.extend_from_slice(b));
//! assert_eq!(out.iter().map(|e| e.dst_port).collect::<Vec<_>>(), [80, 443]);
//! ```

use crate::net::AddrKey;
use crate::{Event, Timestamp};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// How long events are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Microseconds of event time an event is held after newer ones arrive;
    /// `u64::MAX` holds events until the end (or until `max_events` are held).
    pub micros: u64,
    /// The most events held; 0 turns reordering off.
    pub max_events: usize,
}

impl Window {
    /// No reordering: events go straight through.
    pub const OFF: Window = Window {
        micros: 0,
        max_events: 0,
    };

    /// True when events go straight through.
    ///
    /// ```
    /// assert!(sweepwatch::order::Window::OFF.is_off());
    /// ```
    pub fn is_off(&self) -> bool {
        self.max_events == 0 || self.micros == 0
    }
}

/// How many released events are handed over at once: the detector's batch
/// path overlaps the memory reads of consecutive events.
const BATCH: usize = 32;

/// A held event's place in the order: its time, then a fixed (unkeyed) hash
/// of its addresses and port, so that the order in which an engine logs
/// events of equal time (often its own randomly seeded hash order) does not
/// change which ports a verdict lists; then arrival. The event waits in the
/// slab at its slot.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    ts: u64,
    tie: u64,
    seq: u64,
}

/// What [`Reorder`] holds: an event with its probe's time and a fixed order
/// among events of equal time.
pub trait Timed: Copy {
    /// When the probe was sent, in microseconds since the Unix epoch.
    fn micros(&self) -> u64;
    /// Orders events of equal time: the same events must give the same value
    /// in every run (no keyed hash).
    fn tie(&self) -> u64;
}

/// A fixed (unkeyed) mix of two addresses and a port for [`Timed::tie`]: the
/// same events sort the same way in every run, whichever front end made them.
/// Two rounds of a 64-bit finaliser, a few instructions an event.
///
/// ```
/// use sweepwatch::order::fixed_tie;
/// use sweepwatch::AddrKey;
///
/// let (a, b) = (AddrKey::from_ipv4_octets([10, 0, 0, 5]), AddrKey::from_ipv4_octets([10, 0, 0, 6]));
/// assert_eq!(fixed_tie(a, b, 80), fixed_tie(a, b, 80));
/// assert_ne!(fixed_tie(a, b, 80), fixed_tie(b, a, 80));
/// ```
#[inline]
pub fn fixed_tie(src: AddrKey, dst: AddrKey, port: u16) -> u64 {
    let (src, dst) = (src.bits(), dst.bits());
    let a = crate::hash::mix64(src as u64 ^ ((src >> 64) as u64).rotate_left(29));
    let b = dst as u64 ^ ((dst >> 64) as u64).rotate_left(43) ^ (u64::from(port) << 48);
    crate::hash::mix64(a ^ b.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15)
}

impl Timed for Event {
    fn micros(&self) -> u64 {
        self.ts.as_micros()
    }

    /// The addresses and destination port.
    fn tie(&self) -> u64 {
        fixed_tie(
            AddrKey::from(self.src),
            AddrKey::from(self.dst),
            self.dst_port,
        )
    }
}

/// What a [`Reorder`] holds, to carry across a restart: see
/// [`Reorder::snapshot`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Held<E, T> {
    /// The held events and their payloads, oldest first.
    pub events: Vec<(E, T)>,
    /// The newest event time seen.
    pub newest: Timestamp,
    /// Events released before their window passed because the buffer was full.
    pub early: u64,
}

/// Events (`E`, by default [`Event`]) held in time order, each with a payload
/// `T` of the caller's (the Suricata plugin keeps its flow's ids there). All
/// memory is reserved by [`Reorder::new`]: holding and releasing events
/// allocates nothing.
pub struct Reorder<T: Copy, E: Timed = Event> {
    window: Window,
    /// Keys and slots of the events that came in order (each after the one
    /// before in the order), oldest first: most events do, and cost a push
    /// and a pop at the ends.
    run: VecDeque<(Key, u32)>,
    /// Keys and slots of the others, smallest first: 32 bytes an entry, so
    /// that sifting touches little memory.
    heap: BinaryHeap<Reverse<(Key, u32)>>,
    /// The held events and their payloads, by slot.
    slab: Vec<(E, T)>,
    free: Vec<u32>,
    /// Released events not yet handed over, and their payloads.
    batch: Vec<E>,
    batch_extra: Vec<T>,
    seq: u64,
    newest: u64,
    /// Events released before their window passed because the buffer was full.
    early: u64,
}

impl<T: Copy, E: Timed> Reorder<T, E> {
    /// An empty buffer with room for `window.max_events` events (about 100
    /// bytes each with a small payload), reserved now; `None` if that memory
    /// cannot be had. A window that [is off](Window::is_off) reserves nothing
    /// and passes events straight through.
    pub fn new(window: Window) -> Option<Reorder<T, E>> {
        let cap = if window.is_off() {
            0
        } else {
            window.max_events
        };
        let mut run = VecDeque::new();
        let mut heap = Vec::new();
        let mut slab = Vec::new();
        let mut free = Vec::new();
        // One more than the bound: an event is pushed before the oldest leaves.
        run.try_reserve_exact(cap + usize::from(cap > 0)).ok()?;
        heap.try_reserve_exact(cap + usize::from(cap > 0)).ok()?;
        slab.try_reserve_exact(cap + usize::from(cap > 0)).ok()?;
        free.try_reserve_exact(cap + usize::from(cap > 0)).ok()?;
        Some(Reorder {
            window,
            run,
            heap: BinaryHeap::from(heap),
            slab,
            free,
            batch: Vec::with_capacity(BATCH),
            batch_extra: Vec::with_capacity(BATCH),
            seq: 0,
            newest: 0,
            early: 0,
        })
    }

    /// Adds `ev` with its payload, moves every event now due to the batch,
    /// oldest first, and calls `release` with the batch and its payloads
    /// whenever it holds 32 events (with the window off, at once).
    pub fn push(&mut self, ev: E, extra: T, mut release: impl FnMut(&[E], &[T])) {
        if self.window.is_off() {
            release(&[ev], &[extra]);
            return;
        }
        self.seq += 1;
        let ts = ev.micros();
        self.newest = self.newest.max(ts);
        let key = Key {
            ts,
            tie: ev.tie(),
            seq: self.seq,
        };
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = (ev, extra);
                i
            }
            None => {
                self.slab.push((ev, extra));
                // At most `max_events + 1` slots are ever in use.
                u32::try_from(self.slab.len() - 1).unwrap_or(u32::MAX)
            }
        };
        match self.run.back() {
            Some((last, _)) if *last > key => self.heap.push(Reverse((key, slot))),
            _ => self.run.push_back((key, slot)),
        }
        self.release_due(&mut release);
    }

    /// The oldest held event's key, and whether it heads the run (else the
    /// heap).
    fn oldest(&self) -> Option<(Key, bool)> {
        match (self.run.front(), self.heap.peek()) {
            (Some((r, _)), Some(Reverse((h, _)))) => {
                Some(if r < h { (*r, true) } else { (*h, false) })
            }
            (Some((r, _)), None) => Some((*r, true)),
            (None, Some(Reverse((h, _)))) => Some((*h, false)),
            (None, None) => None,
        }
    }

    fn held(&self) -> usize {
        self.run.len() + self.heap.len()
    }

    /// Event time has reached `ts` without events (an idle sensor): releases
    /// what is due by then. Call [`flush`](Self::flush) to hand over the batch.
    pub fn advance(&mut self, ts: Timestamp, mut release: impl FnMut(&[E], &[T])) {
        self.newest = self.newest.max(ts.as_micros());
        self.release_due(&mut release);
    }

    fn release_due(&mut self, release: &mut impl FnMut(&[E], &[T])) {
        while let Some((top, in_run)) = self.oldest() {
            let due = top.ts.saturating_add(self.window.micros) <= self.newest;
            if !due {
                if self.held() <= self.window.max_events {
                    break;
                }
                self.early += 1;
            }
            self.pop_one(in_run, release);
        }
    }

    fn pop_one(&mut self, in_run: bool, release: &mut impl FnMut(&[E], &[T])) {
        let slot = if in_run {
            self.run.pop_front().map(|(_, slot)| slot)
        } else {
            self.heap.pop().map(|Reverse((_, slot))| slot)
        };
        if let Some(slot) = slot {
            self.release_slot(slot, release);
        }
    }

    fn release_slot(&mut self, slot: u32, release: &mut impl FnMut(&[E], &[T])) {
        let (ev, extra) = self.slab[slot as usize];
        self.batch.push(ev);
        self.batch_extra.push(extra);
        self.free.push(slot);
        if self.batch.len() >= BATCH {
            self.hand_over(release);
        }
    }

    fn hand_over(&mut self, release: &mut impl FnMut(&[E], &[T])) {
        release(&self.batch, &self.batch_extra);
        self.batch.clear();
        self.batch_extra.clear();
    }

    /// Hands over the events released but still waiting in the batch.
    pub fn flush(&mut self, mut release: impl FnMut(&[E], &[T])) {
        if !self.batch.is_empty() {
            self.hand_over(&mut release);
        }
    }

    /// Releases every held event, oldest first, and hands over the batch.
    pub fn drain(&mut self, mut release: impl FnMut(&[E], &[T])) {
        // Everything goes at once: sorting the heap in place costs far less
        // than popping it, each pop a walk down its height through memory
        // (a whole capture's events are held when the window is large).
        // Keys are unique (`seq`), so the order is the pops' order.
        let mut sorted = std::mem::take(&mut self.heap).into_vec();
        // Ascending `Reverse`s: the oldest key last.
        sorted.sort_unstable();
        loop {
            let from_run = match (self.run.front(), sorted.last()) {
                (Some((r, _)), Some(Reverse((h, _)))) => r < h,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let slot = if from_run {
                self.run.pop_front().map(|(_, slot)| slot)
            } else {
                sorted.pop().map(|Reverse((_, slot))| slot)
            };
            if let Some(slot) = slot {
                self.release_slot(slot, &mut release);
            }
        }
        // Empty, with the room reserved at creation.
        self.heap = BinaryHeap::from(sorted);
        self.flush(release);
    }

    /// The events held now and their payloads, oldest first (released ones
    /// waiting in the batch first), with the newest time seen and the count
    /// of early releases: what a saved state keeps, so that
    /// [`resume`](Self::resume) holds them again after a restart.
    ///
    /// ```
    /// use sweepwatch::order::{Reorder, Window};
    /// use sweepwatch::{Event, Outcome, Protocol, Timestamp};
    ///
    /// let ev = |secs, port| Event::new(Timestamp::from_secs(secs),
    ///     "10.0.0.5".parse().unwrap(), "198.51.100.7".parse().unwrap(), port,
    ///     Protocol::Tcp, Outcome::Refused);
    /// let window = Window { micros: 60_000_000, max_events: 1000 };
    /// let mut r = Reorder::<()>::new(window).unwrap();
    /// r.push(ev(105, 443), (), |_, _| {});
    /// r.push(ev(100, 80), (), |_, _| {});
    /// let held = r.snapshot();
    ///
    /// let mut again = Reorder::<()>::new(window).unwrap();
    /// again.resume(held, |_, _| {});
    /// let mut out = Vec::new();
    /// again.drain(|b, _| out.extend_from_slice(b));
    /// assert_eq!(out.iter().map(|e| e.dst_port).collect::<Vec<_>>(), [80, 443]);
    /// ```
    pub fn snapshot(&self) -> Held<E, T> {
        let mut keyed: Vec<(Key, u32)> = self.run.iter().copied().collect();
        keyed.extend(self.heap.iter().map(|Reverse(k)| *k));
        keyed.sort_unstable();
        let mut events: Vec<(E, T)> = self
            .batch
            .iter()
            .copied()
            .zip(self.batch_extra.iter().copied())
            .collect();
        events.extend(keyed.iter().map(|&(_, slot)| self.slab[slot as usize]));
        Held {
            events,
            newest: Timestamp(self.newest),
            early: self.early,
        }
    }

    /// Holds again the events of a [`snapshot`](Self::snapshot), in their
    /// order, and takes its clock and counts; calls `release` for what is
    /// due (nothing, unless this window is shorter or smaller than the
    /// snapshot's).
    pub fn resume(&mut self, held: Held<E, T>, mut release: impl FnMut(&[E], &[T])) {
        for (ev, extra) in held.events {
            self.push(ev, extra, &mut release);
        }
        self.early += held.early;
        self.advance(held.newest, &mut release);
    }

    /// Events held now (released ones waiting in the batch included).
    pub fn len(&self) -> usize {
        self.held() + self.batch.len()
    }

    /// True when no event is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events released before their window passed because `max_events`
    /// were held: their order may be off.
    pub fn early(&self) -> u64 {
        self.early
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Outcome, Protocol};

    fn ev(secs: u64, port: u16) -> Event {
        Event::new(
            Timestamp::from_secs(secs),
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            port,
            Protocol::Tcp,
            Outcome::Refused,
        )
    }

    fn ports(out: &mut Vec<u16>) -> impl FnMut(&[Event], &[()]) + '_ {
        |b, _| out.extend(b.iter().map(|e| e.dst_port))
    }

    #[test]
    fn releases_in_time_order_once_the_window_has_passed() {
        let mut r = Reorder::new(Window {
            micros: 10_000_000,
            max_events: 100,
        })
        .unwrap();
        let mut out = Vec::new();
        let mut due = Vec::new();
        for (t, p) in [(105, 1), (100, 2), (103, 3), (100, 4), (112, 5)] {
            r.push(ev(t, p), (), ports(&mut out));
            due.push(r.batch.len());
        }
        // 112 arrived: events at or before 102 are due, waiting in the batch.
        assert_eq!(due, [0, 0, 0, 0, 2]);
        assert!(out.is_empty());
        r.drain(ports(&mut out));
        // Equal times (ports 2 and 4 at 100) go by the fixed tie hash.
        let (first, second) = if ev(100, 2).tie() < ev(100, 4).tie() {
            (2, 4)
        } else {
            (4, 2)
        };
        assert_eq!(out, [first, second, 3, 1, 5]);
        assert!(r.is_empty());
    }

    #[test]
    fn draining_gives_the_pops_order() {
        // Nearly sorted times, as a capture's events come, with late ones
        // and ties: the run and the heap both hold events when drained.
        let mut r = Reorder::new(Window {
            micros: u64::MAX,
            max_events: 10_000,
        })
        .unwrap();
        let mut x = 12_345u64;
        let mut pushed = Vec::new();
        for i in 0..5_000u64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let late = if x >> 60 < 6 { (x >> 40) % 30 } else { 0 };
            let e = ev((i / 3).saturating_sub(late), (x >> 20) as u16);
            pushed.push((e.micros(), e.tie(), pushed.len(), e.dst_port));
            r.push(e, (), |_, _| panic!("nothing is due"));
        }
        let mut out = Vec::new();
        r.drain(ports(&mut out));
        pushed.sort();
        let want: Vec<u16> = pushed.iter().map(|p| p.3).collect();
        assert_eq!(out, want);
        assert!(r.is_empty());
        // Drained, it holds and releases as before.
        r.push(ev(1, 7), (), |_, _| {});
        r.push(ev(0, 8), (), |_, _| {});
        let mut again = Vec::new();
        r.drain(ports(&mut again));
        assert_eq!(again, [8, 7]);
    }

    #[test]
    fn advancing_time_releases_what_is_due() {
        let mut r = Reorder::new(Window {
            micros: 10_000_000,
            max_events: 100,
        })
        .unwrap();
        let mut out = Vec::new();
        r.push(ev(100, 1), (), ports(&mut out));
        r.push(ev(104, 2), (), ports(&mut out));
        r.advance(Timestamp::from_secs(111), ports(&mut out));
        assert!(
            out.is_empty(),
            "released events wait for a batch or a flush"
        );
        r.flush(ports(&mut out));
        assert_eq!(out, [1]);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn held_events_are_small() {
        // Run and heap entries (room for all in either), slab slot (event
        // and no payload) and free-list slot.
        let each = 2 * std::mem::size_of::<Reverse<(Key, u32)>>()
            + std::mem::size_of::<(Event, ())>()
            + std::mem::size_of::<u32>();
        assert!(each <= 136, "{each}");
    }

    #[test]
    fn full_batches_are_released_as_they_fill_and_memory_is_reused() {
        let mut r = Reorder::new(Window {
            micros: 1,
            max_events: 1000,
        })
        .unwrap();
        let mut sizes = Vec::new();
        let mut order = Vec::new();
        let mut note = |b: &[Event], _: &[()]| {
            sizes.push(b.len());
            order.extend(b.iter().map(|e| e.ts.as_secs()));
        };
        for t in 0..(2 * BATCH as u64 + 5) {
            r.push(ev(t, t as u16), (), &mut note);
        }
        r.drain(&mut note);
        assert_eq!(sizes, [BATCH, BATCH, 5]);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        // Slots are reused: the slab never held more than the window needs.
        assert!(r.slab.len() <= 3, "{}", r.slab.len());
    }

    #[test]
    fn a_full_buffer_releases_its_oldest() {
        let mut r = Reorder::new(Window {
            micros: u64::MAX,
            max_events: 2,
        })
        .unwrap();
        let mut out = Vec::new();
        for (t, p) in [(30, 1), (10, 2), (20, 3), (5, 4)] {
            r.push(ev(t, p), (), ports(&mut out));
        }
        // Two were released (waiting in the batch), two are held.
        assert_eq!(
            r.batch.iter().map(|e| e.dst_port).collect::<Vec<_>>(),
            [2, 4]
        );
        assert_eq!(r.held(), 2);
        assert_eq!(r.early(), 2);
        r.drain(ports(&mut out));
        assert_eq!(out, [2, 4, 3, 1]);
    }

    #[test]
    fn an_off_window_passes_events_straight_through() {
        let mut r = Reorder::new(Window::OFF).unwrap();
        let mut out = Vec::new();
        for (t, p) in [(30, 1), (10, 2)] {
            r.push(ev(t, p), (), ports(&mut out));
        }
        assert_eq!(out, [1, 2]);
        assert!(r.is_empty());
    }

    #[test]
    fn a_window_too_large_for_memory_is_refused() {
        let w = Window {
            micros: 1,
            max_events: usize::MAX / 2,
        };
        assert!(Reorder::<()>::new(w).is_none());
    }
}
