//! The fixed table of per-source records: 4-way set-associative, 64 bytes a record.
//!
//! A source hashes to one bucket of four adjacent records (256 bytes, four cache
//! lines that the hardware prefetcher fetches together). A full bucket evicts its
//! least valuable record: an idle one first, then the most benign-looking.

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
    /// `OCCUPIED`, and one bit per protocol seen (`1 << (1 + proto index)`).
    pub flags: u8,
    /// One bit per verdict kind already reported this episode.
    pub reported: u8,
}

pub(crate) const OCCUPIED: u8 = 1;

const _: () = assert!(std::mem::size_of::<Record>() == 64);

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

pub(crate) struct Table {
    records: Box<[Record]>,
    buckets: u64,
}

impl Table {
    /// A table of at least one bucket that fits in `bytes`.
    pub(crate) fn with_bytes(bytes: u64) -> Table {
        let buckets = (bytes / (64 * WAYS as u64)).max(1);
        Table {
            records: vec![Record::default(); buckets as usize * WAYS].into_boxed_slice(),
            buckets,
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        (self.records.len() * std::mem::size_of::<Record>()) as u64
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

    /// Prefetches all four records of a bucket: a lookup may read each.
    #[inline]
    pub(crate) fn prefetch(&self, bucket: usize) {
        for r in &self.records[bucket..bucket + WAYS] {
            crate::prefetch::prefetch(r);
        }
    }

    /// The record of `key` in its bucket, or the one to replace.
    #[inline]
    pub(crate) fn locate(&self, key: u128, bucket: usize, now: u32, timeout: u32) -> Slot {
        let set = &self.records[bucket..bucket + WAYS];
        for (i, r) in set.iter().enumerate() {
            if r.key == key && r.occupied() {
                return Slot::Found(bucket + i);
            }
        }
        let (i, _) = set
            .iter()
            .enumerate()
            .min_by_key(|(_, r)| r.worth(now, timeout))
            .expect("four ways");
        Slot::Vacant(bucket + i)
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
        let mut t = Table::with_bytes(256);
        assert_eq!(t.capacity(), 4);
        for (i, llr) in [(0usize, 300i16), (1, -200), (2, 0), (3, 500)] {
            let r = t.get_mut(i);
            *r = Record::fresh(i as u128 + 1, 100);
            r.llr = llr;
        }
        match t.locate(99, 0, 110, 60) {
            Slot::Vacant(i) => assert_eq!(i, 1, "most benign goes first"),
            Slot::Found(_) => panic!("not stored"),
        }
        t.get_mut(3).last_seen = 10; // idle for 100 s > 60 s
        match t.locate(99, 0, 110, 60) {
            Slot::Vacant(i) => assert_eq!(i, 3, "idle goes before benign"),
            Slot::Found(_) => panic!("not stored"),
        }
        assert!(matches!(t.locate(3, 0, 110, 60), Slot::Found(2)));
    }
}
