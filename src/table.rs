//! The fixed table of per-source records: 16 bytes a source, four to a cache
//! line, each source with two candidate lines.
//!
//! A source hashes to two buckets of four records (one 64-byte cache line each)
//! and lives in one of them; a new source goes to the emptier one ("two
//! choices"): at 80% load about 1.5% of new sources find both buckets full, at
//! 90% about 4% (one choice would overflow 12% and 16%). When both buckets are full, the least valuable of their eight records
//! makes room: an idle one first, then the most benign-looking.

use crate::zeroed::{Zeroable, Zeroed};

/// Records per bucket.
pub(crate) const WAYS: usize = 4;

/// What the detector keeps about every source: 16 bytes. A source that looks
/// suspicious also holds a larger record from the pool (`extra`), where its
/// evidence (distinct targets and ports, counts, reporting history) is kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(16))]
pub(crate) struct Record {
    /// 32 bits of the source's hash that the bucket choice does not use; 0 marks
    /// an empty record.
    pub fp: u32,
    /// Seconds since the shard's epoch.
    pub first_seen: u32,
    /// Seconds since the shard's epoch.
    pub last_seen: u32,
    /// Log-likelihood ratio of the sequential test, in 1/256 nat.
    pub llr: i16,
    /// Index + 1 of the source's extra record in the pool, 0 if none.
    pub extra: u16,
}

const _: () = assert!(std::mem::size_of::<Record>() == 16);

// SAFETY: integers only; zero is an empty record.
unsafe impl Zeroable for Record {}

/// Bytes of a bucket: four records, one cache line.
const BUCKET_BYTES: u64 = (WAYS * std::mem::size_of::<Record>()) as u64;

impl Record {
    #[inline]
    pub(crate) fn occupied(&self) -> bool {
        self.fp != 0
    }

    #[inline]
    pub(crate) fn idle(&self, now: u32, timeout: u32) -> bool {
        now.saturating_sub(self.last_seen) > timeout
    }

    /// A fresh record for the source with fingerprint `fp`, seen first at `now`.
    #[inline]
    pub(crate) fn fresh(fp: u32, now: u32) -> Record {
        Record {
            fp,
            first_seen: now,
            last_seen: now,
            llr: 0,
            extra: 0,
        }
    }
}

/// The fingerprint of a source hash: its low 32 bits, never 0.
#[inline]
pub(crate) fn fp_of(h: u64) -> u32 {
    match h as u32 {
        0 => 1,
        f => f,
    }
}

/// Where a source's record is, or where one may go.
pub(crate) enum Slot {
    /// The source's record.
    Found(usize),
    /// An empty record for it.
    Vacant(usize),
    /// Both buckets are full: one of their records must make room.
    Full,
}

/// The first records of the two buckets of source hash `h` among `n` buckets.
#[inline]
fn buckets_of(h: u64, n: u64) -> (usize, usize) {
    let hi = h >> 32;
    let b1 = (hi * n) >> 32;
    // A second, independent-looking index from the same 32 bits.
    let hi2 = (hi.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) & 0xFFFF_FFFF;
    let b2 = (hi2 * n) >> 32;
    (b1 as usize * WAYS, b2 as usize * WAYS)
}

/// Prefetches both buckets of source hash `h` in a table of
/// [`Table::geometry`] `(base, n)`.
#[inline]
pub(crate) fn prefetch_at((base, n): (usize, u64), h: u64) {
    let (b1, b2) = buckets_of(h, n);
    let size = std::mem::size_of::<Record>();
    crate::prefetch::prefetch_addr(base + b1 * size);
    crate::prefetch::prefetch_addr(base + b2 * size);
}

pub(crate) struct Table {
    /// Bucket `b` is records `4b..4b + 4`; the array starts on a huge-page
    /// boundary, so each bucket is one cache line.
    records: Zeroed<Record>,
    n: u64,
}

impl Table {
    /// A table of at least two buckets that fits in `bytes` (when it can).
    pub(crate) fn with_bytes(bytes: u64) -> Table {
        let n = (bytes / BUCKET_BYTES).max(2);
        Table {
            records: Zeroed::new(n as usize * WAYS),
            n,
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.n * BUCKET_BYTES
    }

    pub(crate) fn capacity(&self) -> usize {
        self.n as usize * WAYS
    }

    /// The first records of the two buckets of a source hash. They use the hash's upper half (the
    /// fingerprint is the lower), by multiply-shift range reduction: any bucket
    /// count, no modulo.
    #[inline]
    pub(crate) fn buckets_of(&self, h: u64) -> (usize, usize) {
        buckets_of(h, self.n)
    }

    /// The address of the first record and the bucket count, for
    /// [`prefetch_at`].
    pub(crate) fn geometry(&self) -> (usize, u64) {
        (self.records.as_ptr() as usize, self.n)
    }

    #[inline]
    fn bucket(&self, b: usize) -> &[Record; WAYS] {
        self.records[b..b + WAYS].try_into().expect("four ways")
    }

    #[inline]
    fn find_in(&self, b: usize, fp: u32) -> Option<usize> {
        let set = self.bucket(b);
        // Branch-free: at most one way of a bucket holds a fingerprint.
        let hit = (set[0].fp == fp) as usize
            | ((set[1].fp == fp) as usize) << 1
            | ((set[2].fp == fp) as usize) << 2
            | ((set[3].fp == fp) as usize) << 3;
        (hit != 0).then(|| b + hit.trailing_zeros() as usize)
    }

    #[inline]
    fn empties(&self, b: usize) -> u32 {
        self.bucket(b).iter().map(|r| (r.fp == 0) as u32).sum()
    }

    /// The record of the source with fingerprint `fp` in its buckets, else an
    /// empty record in the emptier bucket, else [`Slot::Full`].
    #[inline]
    pub(crate) fn locate(&self, fp: u32, (b1, b2): (usize, usize)) -> Slot {
        if let Some(i) = self.find_in(b1, fp) {
            return Slot::Found(i);
        }
        if let Some(i) = self.find_in(b2, fp) {
            return Slot::Found(i);
        }
        let (e1, e2) = (self.empties(b1), self.empties(b2));
        let b = if e2 > e1 { b2 } else { b1 };
        match self.bucket(b).iter().position(|r| r.fp == 0) {
            Some(w) => Slot::Vacant(b + w),
            None => Slot::Full,
        }
    }

    /// The record of both buckets that `worth` values least (the first on ties).
    #[inline]
    pub(crate) fn victim(&self, (b1, b2): (usize, usize), worth: impl Fn(&Record) -> i64) -> usize {
        let mut best = (i64::MAX, 0);
        for b in [b1, b2] {
            for (w, r) in self.bucket(b).iter().enumerate() {
                let v = worth(r);
                if v < best.0 {
                    best = (v, b + w);
                }
            }
        }
        best.1
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> &Record {
        &self.records[i]
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, i: usize) -> &mut Record {
        &mut self.records[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worth(r: &Record) -> i64 {
        i64::from(r.llr)
    }

    #[test]
    fn sources_fill_the_emptier_bucket_then_make_room() {
        let mut t = Table::with_bytes(4 * 64);
        assert_eq!(t.capacity(), 16);
        let b = (4, 12);
        let mut placed = Vec::new();
        for fp in 1..=8u32 {
            let i = match t.locate(fp, b) {
                Slot::Vacant(i) => i,
                _ => panic!("room for eight"),
            };
            *t.get_mut(i) = Record::fresh(fp, 0);
            t.get_mut(i).llr = fp as i16 * 10;
            placed.push(i / WAYS);
        }
        // Alternating: each new source goes where more ways are free.
        assert_eq!(placed.iter().filter(|&&b| b == 1).count(), 4);
        assert_eq!(placed.iter().filter(|&&b| b == 3).count(), 4);
        assert_eq!(t.buckets_of(u64::MAX).0 % WAYS, 0);
        for fp in 1..=8u32 {
            match t.locate(fp, b) {
                Slot::Found(i) => assert_eq!(t.get(i).fp, fp),
                _ => panic!("{fp} stored"),
            }
        }
        assert!(matches!(t.locate(9, b), Slot::Full));
        let v = t.victim(b, worth);
        assert_eq!(t.get(v).fp, 1, "the least worth goes");
        // Other buckets are not looked at.
        assert!(matches!(t.locate(3, (0, 8)), Slot::Vacant(_)));
    }

    #[test]
    fn the_two_buckets_spread_a_full_table_evenly() {
        let mut t = Table::with_bytes(1024 * 64);
        let mut h = 0x1234_5678_9ABC_DEF0u64;
        let mut stored = 0;
        let n = t.capacity() * 9 / 10;
        for _ in 0..n {
            h = crate::shard::mix64(h.wrapping_add(0x9E37_79B9_7F4A_7C15));
            let b = t.buckets_of(h);
            if let Slot::Vacant(i) = t.locate(fp_of(h), b) {
                *t.get_mut(i) = Record::fresh(fp_of(h), 0);
                stored += 1;
            }
        }
        // About 4% overflow at 90% load, where one choice would overflow 16%.
        assert!(stored * 100 >= n * 95, "{stored} of {n}");
    }
}
