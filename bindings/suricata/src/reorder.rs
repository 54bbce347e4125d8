//! Puts flow events back in time order before detection.
//!
//! Suricata writes a flow record when the flow times out or closes, and the
//! flows still open at the end of a `-r` run in hash order, so the events
//! arrive out of order. The detector's decisions (which kind a source is
//! reported as, when it was first seen) follow capture time, so events are
//! held in a heap and released oldest first once capture time has moved on
//! by the window, or when the heap is full, or at shutdown.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
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

/// An event and its arrival number. Equal times are ordered by the event's
/// addresses and port, so that the order Suricata logs flows in (its flow
/// hash is seeded at random) does not change which ports a verdict lists;
/// arrival breaks what ties remain.
struct Held {
    seq: u64,
    ev: Event,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Held {
    fn cmp(&self, o: &Self) -> Ordering {
        let key = |h: &Held| (h.ev.ts, h.ev.src, h.ev.dst, h.ev.dst_port, h.seq);
        key(self).cmp(&key(o))
    }
}

/// The heap of held events.
pub struct Reorder {
    window: Window,
    heap: BinaryHeap<Reverse<Held>>,
    seq: u64,
    newest: u64,
}

impl Reorder {
    /// An empty buffer. Memory grows with use, up to `max_events` entries.
    pub fn new(window: Window) -> Reorder {
        Reorder {
            window,
            heap: BinaryHeap::new(),
            seq: 0,
            newest: 0,
        }
    }

    /// Adds `ev` and calls `release` for each event now due, oldest first.
    pub fn push(&mut self, ev: Event, mut release: impl FnMut(&Event)) {
        self.seq += 1;
        self.newest = self.newest.max(ev.ts.as_micros());
        self.heap.push(Reverse(Held { seq: self.seq, ev }));
        while let Some(Reverse(top)) = self.heap.peek() {
            let due = top.ev.ts.as_micros().saturating_add(self.window.micros) <= self.newest;
            if !due && self.heap.len() <= self.window.max_events {
                break;
            }
            if let Some(Reverse(h)) = self.heap.pop() {
                release(&h.ev);
            }
        }
    }

    /// Releases every held event, oldest first.
    pub fn drain(&mut self, mut release: impl FnMut(&Event)) {
        while let Some(Reverse(h)) = self.heap.pop() {
            release(&h.ev);
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
        for (t, p) in [(105, 1), (100, 2), (103, 3), (100, 4), (112, 5)] {
            r.push(ev(t, p), |e| out.push(e.dst_port));
        }
        // 112 arrived: events at or before 102 are due.
        assert_eq!(out, [2, 4]);
        r.drain(|e| out.push(e.dst_port));
        assert_eq!(out, [2, 4, 3, 1, 5]);
        assert!(r.heap.is_empty());
    }

    #[test]
    fn held_events_are_small() {
        // DEFAULT_REORDER_EVENTS entries then take at most 16 MiB.
        assert!(std::mem::size_of::<Reverse<Held>>() <= 64);
    }

    #[test]
    fn a_full_heap_releases_its_oldest() {
        let mut r = Reorder::new(Window {
            micros: u64::MAX,
            max_events: 2,
        });
        let mut out = Vec::new();
        for (t, p) in [(30, 1), (10, 2), (20, 3), (5, 4)] {
            r.push(ev(t, p), |e| out.push(e.dst_port));
        }
        assert_eq!(out, [2, 4]);
        r.drain(|e| out.push(e.dst_port));
        assert_eq!(out, [2, 4, 3, 1]);
    }
}
