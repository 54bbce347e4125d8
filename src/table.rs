//! The fixed table of per-source records: 4-way set-associative, 64 bytes a record.
//!
//! A source hashes to one bucket of four adjacent records (256 bytes, four cache
//! lines that the hardware prefetcher fetches together). A full bucket evicts its
//! least valuable record: an idle one first, then the most benign-looking.

use crate::zeroed::{Zeroable, Zeroed};

/// Records per bucket.
pub(crate) const WAYS: usize = 4;

/// Everything the detector keeps about one source: 64 bytes, one cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct Record {
    /// The source address as 128 bits (IPv4 mapped).
    pub key: u128,
    /// Linear-counting bitmap of distinct target hosts.
    pub hosts: u64,
    /// Linear-counting bitmap of distinct destination ports.
    pub ports: u64,
    /// Seconds since the shard's epoch.
    pub first_seen: u32,
    /// Seconds since the shard's epoch.
    pub last_seen: u32,
    /// Distinct (target, port, protocol) attempts.
    pub probes: u32,
    pub refused: u32,
    pub unanswered: u32,
    pub succeeded: u32,
    /// Log-likelihood ratio of the sequential test, in 1/256 nat.
    pub llr: i16,
    /// Index + 1 of the source's extra record in the pool, 0 if none.
    pub extra: u16,
    /// `OCCUPIED` when the record holds a source.
    pub flags: u8,
    /// One bit per verdict kind already reported this episode.
    pub reported: u8,
}

pub(crate) const OCCUPIED: u8 = 1;

const _: () = assert!(std::mem::size_of::<Record>() == 64);

// SAFETY: integers only; zero is an empty record.
unsafe impl Zeroable for Record {}

impl Record {
    #[inline]
    pub(crate) fn occupied(&self) -> bool {
        self.flags & OCCUPIED != 0
    }

    #[inline]
    pub(crate) fn idle(&self, now: u32, timeout: u32) -> bool {
        now.saturating_sub(self.last_seen) > timeout
    }

    /// A fresh record for `key`, seen first at `now`.
    #[inline]
    pub(crate) fn fresh(key: u128, now: u32) -> Record {
        Record {
            key,
            first_seen: now,
            last_seen: now,
            flags: OCCUPIED,
            ..Record::default()
        }
    }

    /// How much the record is worth keeping when its bucket is full: higher keeps.
    #[inline]
    fn worth(&self, now: u32, timeout: u32) -> i64 {
        if !self.occupied() {
            return i64::MIN;
        }
        if self.idle(now, timeout) && self.reported == 0 {
            return i64::MIN + 1;
        }
        let reported = if self.reported != 0 { 1i64 << 40 } else { 0 };
        // Suspicion first, then recency.
        reported + (i64::from(self.llr) << 20) + i64::from(self.last_seen & 0xF_FFFF)
    }
}

/// Where a source's record is, or which record to replace for it.
pub(crate) enum Slot {
    Found(usize),
    Vacant(usize),
}

/// The tag of a source hash in its bucket: eight bits the bucket and shard
/// choice do not use, never 0 (0 marks an empty way).
#[inline]
pub(crate) fn tag_of(h: u64) -> u8 {
    match (h >> 8) as u8 {
        0 => 1,
        t => t,
    }
}

pub(crate) struct Table {
    records: Zeroed<Record>,
    /// One byte per record, four per bucket: a lookup reads this small array
    /// (about 1/64 of the table, so mostly cached) and then only the record whose
    /// tag matches, instead of all four records of the bucket.
    tags: Zeroed<u32>,
    buckets: u64,
}

impl Table {
    /// A table of at least one bucket that fits in `bytes`.
    pub(crate) fn with_bytes(bytes: u64) -> Table {
        let per_bucket = (64 * WAYS + 4) as u64;
        let buckets = (bytes / per_bucket).max(1);
        Table {
            records: Zeroed::new(buckets as usize * WAYS),
            tags: Zeroed::new(buckets as usize),
            buckets,
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        (self.records.len() * std::mem::size_of::<Record>() + self.tags.len() * 4) as u64
    }

    pub(crate) fn capacity(&self) -> usize {
        self.records.len()
    }

    /// First record of the bucket for a source hash.
    #[inline]
    pub(crate) fn bucket_of(&self, h: u64) -> usize {
        // Multiply-shift range reduction on the hash's upper half: any bucket
        // count, no modulo.
        (((h >> 32) * self.buckets) >> 32) as usize * WAYS
    }

    #[inline]
    fn tags(&self, bucket: usize) -> [u8; WAYS] {
        self.tags[bucket / WAYS].to_le_bytes()
    }

    /// Prefetches the tags of a bucket.
    #[inline]
    pub(crate) fn prefetch_tags(&self, bucket: usize) {
        crate::prefetch::prefetch(&self.tags[bucket / WAYS]);
    }

    /// Prefetches the record a lookup of `tag` will most likely read: the one
    /// with that tag, else the first empty way. Reads the bucket's tags.
    #[inline]
    pub(crate) fn prefetch_record(&self, bucket: usize, tag: u8) {
        let tags = self.tags(bucket);
        let way = tags
            .iter()
            .position(|t| *t == tag)
            .or_else(|| tags.iter().position(|t| *t == 0))
            .unwrap_or(0);
        crate::prefetch::prefetch(&self.records[bucket + way]);
    }

    /// The record of `key` in its bucket, or the one to replace: an empty way if
    /// there is one, else the least worth keeping.
    #[inline]
    pub(crate) fn locate(&self, key: u128, tag: u8, bucket: usize, now: u32, timeout: u32) -> Slot {
        let tags = self.tags(bucket);
        for (i, t) in tags.iter().enumerate() {
            if *t == tag && self.records[bucket + i].key == key {
                return Slot::Found(bucket + i);
            }
        }
        if let Some(i) = tags.iter().position(|t| *t == 0) {
            return Slot::Vacant(bucket + i);
        }
        let set = &self.records[bucket..bucket + WAYS];
        let (i, _) = set
            .iter()
            .enumerate()
            .min_by_key(|(_, r)| r.worth(now, timeout))
            .expect("four ways");
        Slot::Vacant(bucket + i)
    }

    /// Marks the record at `i` as holding a source with `tag` (0: empty).
    #[inline]
    pub(crate) fn set_tag(&mut self, i: usize, tag: u8) {
        let mut tags = self.tags(i - i % WAYS);
        tags[i % WAYS] = tag;
        self.tags[i / WAYS] = u32::from_le_bytes(tags);
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> &Record {
        &self.records[i]
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, i: usize) -> &mut Record {
        &mut self.records[i]
    }

    pub(crate) fn records_mut(&mut self) -> &mut [Record] {
        &mut self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_evicts_idle_then_benign() {
        let mut t = Table::with_bytes(260);
        assert_eq!(t.capacity(), 4);
        for (i, llr) in [(0usize, 300i16), (1, -200), (2, 0), (3, 500)] {
            let r = t.get_mut(i);
            *r = Record::fresh(i as u128 + 1, 100);
            r.llr = llr;
            t.set_tag(i, 7);
        }
        match t.locate(99, 7, 0, 110, 60) {
            Slot::Vacant(i) => assert_eq!(i, 1, "most benign goes first"),
            Slot::Found(_) => panic!("not stored"),
        }
        t.get_mut(3).last_seen = 10; // idle for 100 s > 60 s
        match t.locate(99, 7, 0, 110, 60) {
            Slot::Vacant(i) => assert_eq!(i, 3, "idle goes before benign"),
            Slot::Found(_) => panic!("not stored"),
        }
        assert!(matches!(t.locate(3, 7, 0, 110, 60), Slot::Found(2)));
        // A key under another tag is not looked at.
        assert!(matches!(t.locate(3, 8, 0, 110, 60), Slot::Vacant(3)));
        t.set_tag(2, 0);
        assert!(
            matches!(t.locate(99, 7, 0, 110, 60), Slot::Vacant(2)),
            "empty way first"
        );
    }
}
