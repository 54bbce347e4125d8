//! `sw_stats`: a detector's counters as a plain C struct.

use sweepwatch::Stats;

/// A snapshot of a detector's counters, summed over its shards, written by
/// sw_detector_stats(). New counters are only ever appended.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct sw_stats {
    /// Events received.
    pub events: u64,
    /// Events dropped by the ignored ports and networks.
    pub ignored: u64,
    /// Events from allow-listed sources: counted here, never reported.
    pub allowed: u64,
    /// Replies that answered no probe (backscatter): counted here, never probes.
    pub unsolicited: u64,
    /// Outcomes of a (source, target, port) already counted in this period.
    pub duplicates: u64,
    /// Sources tracked now.
    pub sources: u64,
    /// The most sources the memory budget can track at once.
    pub capacity: u64,
    /// Live sources dropped to make room for others.
    pub evicted: u64,
    /// Sources forgotten after their idle timeout.
    pub expired: u64,
    /// Sources with failures holding an evidence record from the pool now.
    pub heavy: u64,
    /// Times a source with a failure found the pool full of more suspicious ones.
    pub heavy_denied: u64,
    /// Verdicts delivered.
    pub verdicts: u64,
    /// Bytes of detector state, all allocated by sw_detector_new().
    pub memory_bytes: u64,
    /// Times the first-contact filter retired a generation.
    pub filter_rotations: u64,
    /// New sources not tracked because both their buckets held sources with
    /// more evidence than the newcomer's first event.
    pub turned_away: u64,
    /// Events of a source whose record, found by its hash, holds another
    /// address's evidence: the source was tracked under its second identity.
    pub collisions: u64,
}

impl From<Stats> for sw_stats {
    fn from(s: Stats) -> Self {
        sw_stats {
            events: s.events,
            ignored: s.ignored,
            allowed: s.allowed,
            unsolicited: s.unsolicited,
            duplicates: s.duplicates,
            sources: s.sources,
            capacity: s.capacity,
            evicted: s.evicted,
            expired: s.expired,
            heavy: s.with_evidence,
            heavy_denied: s.evidence_denied,
            verdicts: s.verdicts,
            memory_bytes: s.memory_bytes,
            filter_rotations: s.filter_rotations,
            turned_away: s.turned_away,
            collisions: s.collisions,
        }
    }
}
