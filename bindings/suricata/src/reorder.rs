//! Puts flow events back in time order before detection.
//!
//! Suricata writes a flow record when the flow times out or closes, and the
//! flows still open at the end of a `-r` run in hash order, so the events
//! arrive out of order. The detector's decisions (which kind a source is
//! reported as, when it was first seen) follow capture time, so events are
//! held in a heap and released oldest first once capture time has moved on
//! by the window, or when the heap is full, or at shutdown; released events
//! reach the detector [`BATCH`] at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use sweepwatch::input::eve::FlowIds;
use sweepwatch::Event;

/// How long events are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Capture-time microseconds an event is held after newer ones arrive;
    /// `u64::MAX` holds events until shutdown (or until the heap is full).
    pub micros: u64,
    /// The most events held; 0 turns reordering off.
    pub max_events: usize,
}

impl Window {
    /// True when events go straight to the detector.
    pub fn is_off(&self) -> bool {
        self.max_events == 0 || self.micros == 0
    }

    /// A few words for the start-up message.
    pub fn describe(&self) -> String {
        if self.is_off() {
            "flow events in arrival order".to_string()
        } else if self.micros == u64::MAX {
            format!(
                "flow events sorted until the end (at most {} held)",
                self.max_events
            )
        } else {
            format!(
                "flow events held {} s for ordering (at most {})",
                self.micros / 1_000_000,
                self.max_events
            )
        }
    }
}

/// How many released events are handed to the detector at once: its batch
/// path overlaps the memory reads of consecutive events, which one event at a
/// time cannot.
pub const BATCH: usize = 32;

/// A held event's place in the order, 24 bytes: its capture time, then a
/// fixed (unkeyed) hash of its addresses and port, so that the order Suricata
/// logs flows of equal time in (its flow hash is seeded at random) does not
/// change which ports a verdict lists; then arrival. The event itself waits in
/// the slab at `slot`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    ts: u64,
    tie: u64,
    seq: u64,
}

/// A fixed mix of the fields that order events of equal time (FNV-1a over
/// the addresses, then a final avalanche). Unkeyed on purpose: the same
/// events sort the same way in every run and every Suricata release.
fn tie(ev: &Event) -> u64 {
    fn bytes(h: &mut u64, b: &[u8]) {
        for &x in b {
            *h = (*h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn ip(h: &mut u64, a: &IpAddr) {
        match a {
            IpAddr::V4(a) => bytes(h, &a.octets()),
            IpAddr::V6(a) => bytes(h, &a.octets()),
        }
    }
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    ip(&mut h, &ev.src);
    ip(&mut h, &ev.dst);
    bytes(&mut h, &ev.dst_port.to_le_bytes());
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// The heap of held events.
pub struct Reorder {
    window: Window,
    /// Keys and slots, smallest first: 32 bytes an entry, so that sifting
    /// touches little memory.
    heap: BinaryHeap<Reverse<(Key, u32)>>,
    /// The held events and their flows' ids, by slot.
    slab: Vec<(Event, FlowIds)>,
    free: Vec<u32>,
    /// Released events not yet handed over, and their flows' ids.
    batch: Vec<Event>,
    batch_ids: Vec<FlowIds>,
    seq: u64,
    newest: u64,
    /// Events released before their window passed because the heap was full.
    early: u64,
}

impl Reorder {
    /// An empty buffer. Memory grows with use, up to `max_events` entries.
    pub fn new(window: Window) -> Reorder {
        Reorder {
            window,
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            batch: Vec::with_capacity(BATCH),
            batch_ids: Vec::with_capacity(BATCH),
            seq: 0,
            newest: 0,
            early: 0,
        }
    }

    /// Adds `ev` (with its flow's `ids`), moves every event now due to the
    /// batch, oldest first, and calls `release` with the batch and its ids
    /// whenever it holds [`BATCH`] events.
    pub fn push(&mut self, ev: Event, ids: FlowIds, mut release: impl FnMut(&[Event], &[FlowIds])) {
        self.seq += 1;
        let ts = ev.ts.as_micros();
        self.newest = self.newest.max(ts);
        let key = Key {
            ts,
            tie: tie(&ev),
            seq: self.seq,
        };
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = (ev, ids);
                i
            }
            None => {
                self.slab.push((ev, ids));
                // At most `max_events + 1` slots are ever in use.
                u32::try_from(self.slab.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.heap.push(Reverse((key, slot)));
        while let Some(Reverse((top, _))) = self.heap.peek() {
            let due = top.ts.saturating_add(self.window.micros) <= self.newest;
            if !due {
                if self.heap.len() <= self.window.max_events {
                    break;
                }
                self.early += 1;
            }
            self.pop_one(&mut release);
        }
    }

    fn pop_one(&mut self, release: &mut impl FnMut(&[Event], &[FlowIds])) {
        if let Some(Reverse((_, slot))) = self.heap.pop() {
            let (ev, ids) = self.slab[slot as usize];
            self.batch.push(ev);
            self.batch_ids.push(ids);
            self.free.push(slot);
            if self.batch.len() >= BATCH {
                self.release(release);
            }
        }
    }

    fn release(&mut self, release: &mut impl FnMut(&[Event], &[FlowIds])) {
        release(&self.batch, &self.batch_ids);
        self.batch.clear();
        self.batch_ids.clear();
    }

    /// Events released before their window passed because `max_events`
    /// were held: their order may be off, which the summary reports.
    pub fn early(&self) -> u64 {
        self.early
    }

    /// Releases every held event, oldest first, and the batch.
    pub fn drain(&mut self, mut release: impl FnMut(&[Event], &[FlowIds])) {
        while !self.heap.is_empty() {
            self.pop_one(&mut release);
        }
        if !self.batch.is_empty() {
            self.release(&mut release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweepwatch::{Outcome, Protocol, Timestamp};

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

    #[test]
    fn releases_in_time_order_once_the_window_has_passed() {
        let mut r = Reorder::new(Window {
            micros: 10_000_000,
            max_events: 100,
        });
        let mut out = Vec::new();
        let mut due = Vec::new();
        for (t, p) in [(105, 1), (100, 2), (103, 3), (100, 4), (112, 5)] {
            r.push(ev(t, p), FlowIds::default(), |b, _| {
                out.extend(b.iter().map(|e| e.dst_port))
            });
            due.push(r.batch.len());
        }
        // 112 arrived: events at or before 102 are due, waiting in the batch.
        assert_eq!(due, [0, 0, 0, 0, 2]);
        assert!(out.is_empty());
        r.drain(|b, _| out.extend(b.iter().map(|e| e.dst_port)));
        // Equal times (ports 2 and 4 at 100) go by the fixed tie hash.
        let (first, second) = if tie(&ev(100, 2)) < tie(&ev(100, 4)) {
            (2, 4)
        } else {
            (4, 2)
        };
        assert_eq!(out, [first, second, 3, 1, 5]);
        assert!(r.heap.is_empty() && r.batch.is_empty());
    }

    #[test]
    fn held_events_are_small() {
        // DEFAULT_REORDER_EVENTS entries then take at most 32 MiB: heap
        // entry, slab slot (event and flow ids) and free-list slot.
        let each = std::mem::size_of::<Reverse<(Key, u32)>>()
            + std::mem::size_of::<(Event, FlowIds)>()
            + std::mem::size_of::<u32>();
        assert!(each <= 128, "{each}");
    }

    #[test]
    fn full_batches_are_released_as_they_fill() {
        let mut r = Reorder::new(Window {
            micros: 1,
            max_events: 1000,
        });
        let mut sizes = Vec::new();
        let mut order = Vec::new();
        for t in 0..(2 * BATCH as u64 + 5) {
            r.push(ev(t, t as u16), FlowIds::default(), |b, _| {
                sizes.push(b.len());
                order.extend(b.iter().map(|e| e.ts.as_secs()));
            });
        }
        assert_eq!(sizes, [BATCH, BATCH]);
        r.drain(|b, _| {
            sizes.push(b.len());
            order.extend(b.iter().map(|e| e.ts.as_secs()));
        });
        assert_eq!(sizes, [BATCH, BATCH, 5]);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        // Slots are reused: the slab never held more than the window needs.
        assert!(r.slab.len() <= 3, "{}", r.slab.len());
    }

    #[test]
    fn a_full_heap_releases_its_oldest() {
        let mut r = Reorder::new(Window {
            micros: u64::MAX,
            max_events: 2,
        });
        let mut out = Vec::new();
        for (t, p) in [(30, 1), (10, 2), (20, 3), (5, 4)] {
            r.push(ev(t, p), FlowIds::default(), |b, _| {
                out.extend(b.iter().map(|e| e.dst_port))
            });
        }
        // Two were released (waiting in the batch), two are held.
        assert_eq!(
            r.batch.iter().map(|e| e.dst_port).collect::<Vec<_>>(),
            [2, 4]
        );
        assert_eq!(r.heap.len(), 2);
        assert_eq!(r.early(), 2);
        r.drain(|b, _| out.extend(b.iter().map(|e| e.dst_port)));
        assert_eq!(out, [2, 4, 3, 1]);
    }
}
