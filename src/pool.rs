//! A bounded pool of larger records for the few sources that look suspicious:
//! their main ports, a sample of failed targets and their reporting history.

use crate::sketch::TopPorts;
use crate::table::Record;
use crate::verdict::MAX_VERDICT_SAMPLE;
use crate::zeroed::{Zeroable, Zeroed};

#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Extra {
    /// Index of the owning record in the table.
    pub owner: u32,
    /// When a verdict was last reported (seconds since the shard's epoch).
    pub last_report: u32,
    /// The main count (hosts or ports) at that verdict.
    pub last_targets: u32,
    pub top: TopPorts,
    pub n_sample: u8,
    pub sample: [u128; MAX_VERDICT_SAMPLE],
}

impl Extra {
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
    pub(crate) fn with_bytes(bytes: u64) -> Pool {
        // Each entry costs its record and its slot in the free list.
        let each = (std::mem::size_of::<Extra>() + 2) as u64;
        let n = ((bytes / each) as usize).clamp(1, MAX_EXTRAS);
        Pool {
            entries: Zeroed::new(n),
            // Filled once; pushes never exceed the capacity, so never reallocate.
            free: (0..n as u16).rev().collect(),
            hand: 0,
        }
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

    /// A cleared entry for the record at `owner`, taken from the free list or from
    /// a source that looks less suspicious than `llr` (which loses its entry).
    pub(crate) fn acquire(
        &mut self,
        owner: usize,
        llr: i16,
        records: &mut [Record],
        now: u32,
        idle: u32,
    ) -> Option<u16> {
        let index = match self.free.pop() {
            Some(i) => usize::from(i),
            None => {
                let n = self.entries.len();
                let mut found = None;
                for _ in 0..STEAL_SCAN.min(n) {
                    let i = self.hand;
                    self.hand = (self.hand + 1) % n;
                    let victim = &records[self.entries[i].owner as usize];
                    let cheap = victim.reported == 0 && victim.llr < llr;
                    if victim.idle(now, idle) || cheap {
                        found = Some(i);
                        break;
                    }
                }
                let i = found?;
                records[self.entries[i].owner as usize].extra = 0;
                i
            }
        };
        self.entries[index] = Extra {
            owner: owner as u32,
            ..Extra::default()
        };
        Some(index as u16 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_keeps_the_latest_distinct_targets() {
        let mut e = Extra::default();
        for t in [1u128, 2, 3, 2, 4, 5, 5] {
            e.add_sample(t);
        }
        assert_eq!(e.n_sample, 4);
        assert_eq!(e.sample, [5, 4, 2, 3]);
    }

    #[test]
    fn a_full_pool_steals_from_the_least_suspicious() {
        let mut pool = Pool::with_bytes(2 * (std::mem::size_of::<Extra>() as u64 + 2));
        let mut recs = vec![
            Record::fresh(1, 0),
            Record::fresh(2, 0),
            Record::fresh(3, 0),
        ];
        recs[0].llr = 800;
        recs[0].reported = 1;
        recs[1].llr = 100;
        let a = pool.acquire(0, 800, &mut recs, 0, 60).unwrap();
        recs[0].extra = a;
        let b = pool.acquire(1, 100, &mut recs, 0, 60).unwrap();
        recs[1].extra = b;
        assert_eq!(pool.in_use(), 2);
        // Source 2 is more suspicious than source 1, not than reported source 0.
        let c = pool.acquire(2, 400, &mut recs, 0, 60).unwrap();
        assert_eq!(c, b);
        assert_eq!(recs[1].extra, 0, "the loser forgets its entry");
        assert_eq!(recs[0].extra, a);
        assert_eq!(pool.get(c).owner, 2);
        // Nobody is less suspicious than a walk at -1: no entry.
        assert!(pool.acquire(1, -1, &mut recs, 0, 60).is_none());
        pool.release(c);
        assert_eq!(pool.in_use(), 1);
    }
}
