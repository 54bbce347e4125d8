//! A sensor's own first-contact filter: which events could tell a detector
//! elsewhere anything new, so that only those are sent on.

use crate::error::Error;
use crate::event::{KeyedEvent, Outcome};
use crate::first_contact::FirstContactFilter;
use crate::hash::{service, AddrHasher};
use crate::shard::EPOCH_SLACK;

/// Tells which events a detector would count: the first attempt of each
/// (source, target, port, protocol) and its first outcome, within a
/// dedup period or two, in fixed memory. A sensor that sends its events to
/// a detector elsewhere (on another machine) sends only those, since that
/// detector would settle the others as repeats without reading its
/// sources.
///
/// It is the detector's own filter: five bits a pair in 32-byte blocks, two
/// generations of `dedup_secs` each, under keys of its own. Like the
/// detector's, it may take a new pair for a repeat (about 1 in 10,000 at its
/// fill limit of 4 pairs a 64-bit word), never a repeat for new. Unsolicited
/// events, which a detector never counts, are never new.
///
/// # Examples
/// ```
/// use sweepwatch::{Event, FirstContacts, KeyedEvent, Outcome, Protocol, Timestamp};
/// let mut seen = FirstContacts::new(1 << 20, 1800).unwrap();
/// let ev = |outcome| Event::new(Timestamp::from_secs(1_700_000_000),
///     "203.0.113.7".parse().unwrap(), "10.0.0.1".parse().unwrap(), 22,
///     Protocol::Tcp, outcome);
/// assert!(seen.is_new(&KeyedEvent::from(&ev(Outcome::Attempt))));
/// assert!(!seen.is_new(&KeyedEvent::from(&ev(Outcome::Attempt))));
/// // Its outcome is news once.
/// assert!(seen.is_new(&KeyedEvent::from(&ev(Outcome::Refused))));
/// assert!(!seen.is_new(&KeyedEvent::from(&ev(Outcome::Refused))));
/// ```
pub struct FirstContacts {
    filter: FirstContactFilter,
    hasher: AddrHasher,
    dedup_secs: u32,
    /// Seconds of the first event less the detector's slack for events that
    /// come a little out of order: the filter's clock counts from it.
    epoch: Option<u64>,
}

impl FirstContacts {
    /// A filter of about `bytes` (at least 32) whose generations last
    /// `dedup_secs` seconds of the events' own time (at least 1), under
    /// random keys.
    ///
    /// # Errors
    /// [`Error::NoMemory`] if the memory cannot be had.
    pub fn new(bytes: u64, dedup_secs: u64) -> Result<FirstContacts, Error> {
        Ok(FirstContacts {
            filter: FirstContactFilter::with_bytes(bytes.max(32))?,
            hasher: AddrHasher::new(None),
            dedup_secs: dedup_secs.clamp(1, u64::from(u32::MAX)) as u32,
            epoch: None,
        })
    }

    /// Whether a detector would count `ev`: its pair's first attempt, or its
    /// first outcome, in the last one or two dedup periods. Marks it seen.
    pub fn is_new(&mut self, ev: &KeyedEvent) -> bool {
        if ev.outcome == Outcome::Unsolicited {
            return false;
        }
        let secs = ev.ts.as_secs();
        let epoch = *self.epoch.get_or_insert_with(|| {
            let e = secs.saturating_sub(EPOCH_SLACK);
            self.filter.start((secs - e) as u32, self.dedup_secs);
            e
        });
        let now = secs.saturating_sub(epoch).min(u64::from(u32::MAX)) as u32;
        self.filter.tick(now);
        let proto = ev.proto.index();
        let h_src = self.hasher.source(ev.src.bits(), ev.zone, proto);
        let pair = self
            .hasher
            .pair(h_src, ev.dst.bits(), service(ev.dst_port, proto));
        let look = self.filter.look(pair, ev.outcome != Outcome::Attempt);
        if look.repeat {
            return false;
        }
        self.filter.record(look);
        true
    }

    /// Bytes the filter holds.
    pub fn bytes(&self) -> u64 {
        self.filter.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Protocol, Timestamp};

    fn ev(secs: u64, port: u16, outcome: Outcome) -> KeyedEvent {
        KeyedEvent::from(&Event::new(
            Timestamp::from_secs(secs),
            "203.0.113.7".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
            port,
            Protocol::Tcp,
            outcome,
        ))
    }

    #[test]
    fn repeats_are_forgotten_after_two_periods() {
        let mut f = FirstContacts::new(1 << 16, 100).unwrap();
        assert!(f.is_new(&ev(1000, 22, Outcome::Attempt)));
        assert!(!f.is_new(&ev(1050, 22, Outcome::Attempt)));
        // Still known in the older generation.
        assert!(!f.is_new(&ev(1150, 22, Outcome::Attempt)));
        // Two periods on, news again.
        assert!(f.is_new(&ev(1400, 22, Outcome::Attempt)));
    }

    #[test]
    fn each_port_and_each_outcome_is_its_own_news() {
        let mut f = FirstContacts::new(1 << 16, 1800).unwrap();
        for port in 1..=1000 {
            assert!(f.is_new(&ev(1000, port, Outcome::Refused)), "port {port}");
        }
        let repeats = (1..=1000)
            .filter(|&p| f.is_new(&ev(1001, p, Outcome::Refused)))
            .count();
        assert_eq!(repeats, 0);
        assert!(!f.is_new(&ev(1001, 1, Outcome::Unsolicited)));
    }
}
