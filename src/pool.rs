//! A bounded pool of larger records for the few sources that look suspicious:
//! their distinct targets and ports, counts, main ports, a sample of failed
//! targets and their reporting history. A source takes one at its first failed
//! first contact; its evidence counts from there. Records are about 1 KiB:
//! the distinct counts are exact while small, so that decisions near the
//! thresholds and the counts a verdict states never take a repeat for new.

use crate::distinct::Distinct;
use crate::event::Technique;
use crate::sketch::TopPorts;
use crate::table::{Table, Timeouts};
use crate::verdict::{Verdict, MAX_VERDICT_SAMPLE};
use crate::zeroed::{Zeroable, Zeroed};

/// Distinct target hosts: exact up to 64, then HyperLogLog with 512 registers.
pub(crate) type Hosts = Distinct<64>;
/// Distinct destination ports: exact up to 64, then HyperLogLog with 512 registers.
pub(crate) type Ports = Distinct<64>;
/// Distinct (target, port) pairs probed: exact up to 64, then HyperLogLog with
/// 512 registers. While exact they also keep repeats out of the evidence.
pub(crate) type Pairs = Distinct<64>;
/// Which of the pairs in [`Pairs`] (by their place there, while it is exact)
/// had their outcome counted: keeps retries of them out of the walk and the
/// counts for the source's first 64 pairs, however far apart in time; above,
/// the first-contact filter alone does (one dedup period).
pub(crate) type Resolved = u64;

/// The evidence against one suspicious source, for one protocol: a verdict
/// describes the probes of one protocol only.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Extra {
    /// The source address as 128 bits (IPv4 mapped).
    pub key: u128,
    /// Distinct target hosts.
    pub hosts: Hosts,
    /// Distinct destination ports.
    pub ports: Ports,
    /// Distinct (target, port) pairs probed.
    pub probes: Pairs,
    /// Which pairs of `probes` had their outcome counted, bit `i` for the
    /// `i`th pair added.
    pub resolved: Resolved,
    /// Index of the owning record in the table.
    pub owner: u32,
    pub refused: u32,
    pub unanswered: u32,
    pub succeeded: u32,
    /// Probes to targets in the home networks, and to targets outside them.
    pub to_home: u32,
    pub to_away: u32,
    /// When the last verdict about the source was delivered (shard seconds).
    pub last_report: u32,
    /// The size that verdict gave.
    pub last_targets: u32,
    /// Probes by technique ([`Technique::index`]).
    pub techniques: [u16; Technique::ALL.len()],
    pub top: TopPorts,
    /// One bit per verdict kind already reported this suppression period.
    pub reported: u8,
    pub n_sample: u8,
    /// The protocol of the probes ([`Protocol::index`]).
    pub proto: u8,
    /// Whether the source was at home at its latest probe.
    pub src_home: bool,
    /// A verdict was delivered in this episode and its final extent not yet.
    pub extent_due: bool,
    /// The largest counts delivered in this episode, below which no later
    /// verdict's estimates may fall.
    pub shown: Shown,
    /// The first-contact filter's generations retired when this evidence
    /// was taken (its low 32 bits): while none has been since, every outcome
    /// counted was of a distinct pair.
    pub since: u32,
    /// The latest distinct failed targets, newest first.
    pub sample: [u128; MAX_VERDICT_SAMPLE],
}

/// Counts a source's verdicts have stated in its current episode: its
/// evidence only grows, so no later verdict states less, whatever an
/// estimate does as it takes more items.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Shown {
    pub hosts: u32,
    pub ports: u32,
    pub probes: u32,
    pub failed: u32,
    pub succeeded: u32,
}

impl Shown {
    /// The counts `v` states.
    pub(crate) fn of(v: &Verdict) -> Shown {
        Shown {
            hosts: v.targets,
            ports: v.ports_count,
            probes: v.probes,
            failed: v.failed,
            succeeded: v.succeeded,
        }
    }
}

impl Extra {
    /// True if this evidence is that of source `key`'s probes of protocol
    /// `proto`.
    #[inline]
    pub(crate) fn is_of(&self, key: u128, proto: u8) -> bool {
        self.key == key && self.proto == proto
    }

    /// Empties the record for source `key`'s probes of protocol `proto`,
    /// owned by table record `owner`. Writes only what an empty record reads:
    /// the counters' headers, not the kilobyte of items and registers behind
    /// them, which taking an entry would otherwise rewrite each time.
    pub(crate) fn start(&mut self, owner: u32, key: u128, proto: u8) {
        self.keep_reports(owner, key, proto, 0, 0, 0);
    }

    /// Empties the record as [`start`](Self::start) does, keeping a
    /// reporting history: kinds `reported`, when (`last_report`) and at what
    /// size (`last_targets`).
    pub(crate) fn keep_reports(
        &mut self,
        owner: u32,
        key: u128,
        proto: u8,
        reported: u8,
        last_report: u32,
        last_targets: u32,
    ) {
        self.key = key;
        self.hosts.clear();
        self.ports.clear();
        self.probes.clear();
        self.resolved = 0;
        self.owner = owner;
        self.refused = 0;
        self.unanswered = 0;
        self.succeeded = 0;
        self.to_home = 0;
        self.to_away = 0;
        self.last_report = last_report;
        self.last_targets = last_targets;
        self.techniques = [0; Technique::ALL.len()];
        self.top = TopPorts::default();
        self.reported = reported;
        self.n_sample = 0;
        self.proto = proto;
        self.src_home = false;
        self.extent_due = false;
        self.shown = Shown::default();
    }

    /// Puts `target` first among the most recent distinct failed targets, so a
    /// verdict's sample shows what the source was doing when it was decided.
    #[inline]
    pub(crate) fn add_sample(&mut self, target: u128) {
        let n = usize::from(self.n_sample);
        let end = match self.sample[..n].iter().position(|t| *t == target) {
            Some(i) => i,
            None if n < MAX_VERDICT_SAMPLE => {
                self.n_sample += 1;
                n
            }
            None => MAX_VERDICT_SAMPLE - 1,
        };
        self.sample.copy_within(..end, 1);
        self.sample[0] = target;
    }

    /// The technique most probes used (the earlier one among equals).
    pub(crate) fn technique(&self) -> Technique {
        let mut best = 0;
        for (i, n) in self.techniques.iter().enumerate() {
            if *n > self.techniques[best] {
                best = i;
            }
        }
        Technique::ALL[best]
    }
}

// SAFETY: integers only.
unsafe impl Zeroable for Extra {}

/// Entries a pool may hold: the records store `index + 1` in a `u16`.
pub(crate) const MAX_EXTRAS: usize = u16::MAX as usize;

/// How many entries the clock hand inspects before giving up on a steal.
const STEAL_SCAN: usize = 16;

pub(crate) struct Pool {
    entries: Zeroed<Extra>,
    free: Vec<u16>,
    hand: usize,
}

impl Pool {
    /// A pool of as many entries as fit in `bytes` (at least one).
    ///
    /// # Errors
    /// [`Error::NoMemory`](crate::Error::NoMemory) if the memory cannot be had.
    pub(crate) fn with_bytes(bytes: u64) -> Result<Pool, crate::Error> {
        // Each entry costs its record and its slot in the free list.
        let each = (std::mem::size_of::<Extra>() + 2) as u64;
        let n = ((bytes / each) as usize).clamp(1, MAX_EXTRAS);
        let entries = Zeroed::new(n)?;
        // Filled once; pushes never exceed the capacity, so never reallocate.
        let mut free = Vec::new();
        free.try_reserve_exact(n)
            .map_err(|_| crate::Error::NoMemory {
                bytes: (n * 2) as u64,
            })?;
        free.extend((0..n as u16).rev());
        Ok(Pool {
            entries,
            free,
            hand: 0,
        })
    }

    pub(crate) fn bytes(&self) -> u64 {
        (self.entries.len() * std::mem::size_of::<Extra>() + self.free.capacity() * 2) as u64
    }

    pub(crate) fn in_use(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    #[inline]
    pub(crate) fn get(&self, handle: u16) -> &Extra {
        &self.entries[usize::from(handle) - 1]
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, handle: u16) -> &mut Extra {
        &mut self.entries[usize::from(handle) - 1]
    }

    /// Returns an entry to the pool.
    #[inline]
    pub(crate) fn release(&mut self, handle: u16) {
        if handle != 0 {
            self.free.push(handle - 1);
        }
    }

    /// A cleared entry for source `key`, whose record is at `owner`, taken from
    /// the free list, else from an idle source or an unreported one that looks no
    /// more suspicious than `llr` (which loses its entry): among equals the
    /// clock hand takes the longest held.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn acquire(
        &mut self,
        owner: usize,
        key: u128,
        proto: u8,
        llr: i16,
        table: &mut Table,
        now: u32,
        t: Timeouts,
    ) -> Option<u16> {
        let index = match self.free.pop() {
            Some(i) => usize::from(i),
            None => {
                let n = self.entries.len();
                let mut found = None;
                for _ in 0..STEAL_SCAN.min(n) {
                    let i = self.hand;
                    self.hand = (self.hand + 1) % n;
                    let e = &self.entries[i];
                    let victim = table.get(e.owner as usize);
                    let cheap = e.reported == 0 && victim.llr <= llr;
                    if victim.idle(now, t) || cheap {
                        found = Some(i);
                        break;
                    }
                }
                let i = found?;
                table.set_extra(self.entries[i].owner as usize, 0);
                i
            }
        };
        self.entries[index].start(owner as u32, key, proto);
        Some(index as u16 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Record;

    #[test]
    fn an_evidence_record_is_sixteen_cache_lines() {
        // The README and the configuration docs state this size.
        assert_eq!(std::mem::size_of::<Extra>(), 1024);
    }

    #[test]
    fn the_sample_keeps_the_latest_distinct_targets() {
        let mut e = Extra::default();
        for t in [1u128, 2, 3, 2, 4, 5, 5] {
            e.add_sample(t);
        }
        assert_eq!(e.n_sample, 4);
        assert_eq!(e.sample, [5, 4, 2, 3]);
    }

    const T: Timeouts = Timeouts {
        idle: 60,
        suspect: 600,
    };

    #[test]
    fn a_full_pool_steals_from_the_least_suspicious() {
        let mut pool = Pool::with_bytes(2 * (std::mem::size_of::<Extra>() as u64 + 2)).unwrap();
        let mut t = Table::with_bytes(2 * 64).unwrap();
        for i in 0..3 {
            t.set(i, Record::fresh(i as u32 + 1, 0));
        }
        t.set_llr(0, 800);
        t.set_llr(1, 100);
        let a = pool.acquire(0, 10, 0, 800, &mut t, 0, T).unwrap();
        t.set_extra(0, a);
        pool.get_mut(a).reported = 1;
        let b = pool.acquire(1, 11, 0, 100, &mut t, 0, T).unwrap();
        t.set_extra(1, b);
        assert_eq!(pool.in_use(), 2);
        // Source 2 is as suspicious as source 1, less than reported source 0.
        let c = pool.acquire(2, 12, 0, 100, &mut t, 0, T).unwrap();
        assert_eq!(c, b);
        assert_eq!(t.get(1).extra, 0, "the loser forgets its entry");
        assert_eq!(t.get(0).extra, a);
        assert_eq!((pool.get(c).owner, pool.get(c).key), (2, 12));
        // Nobody is as benign as a walk at -1: no entry.
        t.set_llr(2, 100);
        assert!(pool.acquire(1, 11, 0, -1, &mut t, 0, T).is_none());
        pool.release(c);
        assert_eq!(pool.in_use(), 1);
    }
}
