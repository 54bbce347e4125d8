//! Counters a detector keeps about its own work.

/// A snapshot of a detector's counters, summed over its shards.
///
/// # Examples
/// ```
/// use sweepwatch::{Config, Detector};
/// let det = Detector::new(Config::default(), |_| {}).unwrap();
/// let s = det.stats().unwrap();
/// assert_eq!(s.events, 0);
/// assert!(s.memory_bytes <= Config::default().memory_bytes);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events received.
    pub events: u64,
    /// Events dropped by `ignore_ports` or `ignore_networks`.
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
    pub with_evidence: u64,
    /// Times a source with a failure found the pool full of more suspicious ones.
    pub evidence_denied: u64,
    /// Verdicts delivered.
    pub verdicts: u64,
    /// Bytes of detector state, all allocated at construction.
    pub memory_bytes: u64,
    /// Times the first-contact filter retired a generation.
    pub filter_rotations: u64,
    /// New sources not tracked because both their buckets held sources with
    /// more evidence than the newcomer's first event (see the README's
    /// "Eviction" section).
    pub turned_away: u64,
    /// Events of a source whose record, found by its hash, holds another
    /// address's evidence: the source was tracked under its second identity.
    pub collisions: u64,
}
