//! The fixed table of per-source records: 16 bytes a source, four to a cache
//! line, each source with two candidate lines.
//!
//! A source hashes to two buckets of four records (one 64-byte cache line each)
//! and lives in one of them; a new source goes to the emptier one ("two
//! choices"): at 80% load about 1.5% of new sources find both buckets full, at
//! 90% about 4% (one choice would overflow 12% and 16%). When both buckets are
//! full, the least valuable of their eight records makes room: an idle one
//! first, then the most benign-looking.
//!
//! A bucket stores its records field by field (four fingerprints, then four
//! first-seen times, and so on), so one 16-byte compare finds a source.

use crate::evidence_pool::{bits_of, EvidenceId};
use crate::zeroed::Zeroed;

/// Records per bucket.
pub(crate) const WAYS: usize = 4;

/// What the detector keeps about every source: 16 bytes. A source that looks
/// suspicious also holds a record from the pool (`evidence`), where its
/// evidence (distinct targets and ports, counts, reporting history) is kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Record {
    /// 32 bits of the source's hash that the bucket choice does not use; 0 marks
    /// an empty record.
    pub fp: u32,
    /// Seconds since the shard's epoch, up to [`FIRST_SEEN_MAX`].
    pub first_seen: u32,
    /// Seconds since the shard's epoch, of the latest first contact (repeats
    /// of known pairs do not read the record).
    pub last_seen: u32,
    /// Log-likelihood ratio of the sequential test, in 1/256 nat.
    pub llr: i16,
    /// The source's evidence record in the pool, if it has one.
    pub evidence: Option<EvidenceId>,
}

/// Evidence ids are below this: 20 bits, the 16 of a bucket's `evidence`
/// and 4 on top of its `first_seen`.
pub(crate) const HANDLE_LIMIT: u32 = 1 << 20;

/// The latest first-seen time a record keeps (about 8.5 years after the
/// shard's first event); later ones are stored as this. Its top 4 bits hold
/// the evidence id's.
pub(crate) const FIRST_SEEN_MAX: u32 = (1 << 28) - 1;

/// A bucket's `first_seen` and `evidence` words for a first-seen time and an
/// evidence id.
#[inline]
fn pack(first_seen: u32, evidence: Option<EvidenceId>) -> (u32, u16) {
    let bits = bits_of(evidence);
    (
        first_seen.min(FIRST_SEEN_MAX) | ((bits >> 16) << 28),
        bits as u16,
    )
}

/// The evidence id a bucket's `first_seen` and `evidence` words hold.
#[inline(always)]
fn evidence_of(first_seen: u32, evidence: u16) -> Option<EvidenceId> {
    EvidenceId::from_bits(((first_seen >> 28) << 16) | u32::from(evidence))
}

/// Four records, field by field: one cache line. `first_seen` holds the
/// evidence id's top 4 bits above its own 28 ([`pack`]).
#[derive(Clone, Copy, Default, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C, align(64))]
struct Bucket {
    fp: [u32; WAYS],
    first_seen: [u32; WAYS],
    last_seen: [u32; WAYS],
    llr: [i16; WAYS],
    evidence: [u16; WAYS],
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

/// Bytes of a bucket: four records, one cache line.
pub(crate) const BUCKET_BYTES: u64 = std::mem::size_of::<Bucket>() as u64;

impl Record {
    #[inline]
    pub(crate) fn occupied(&self) -> bool {
        self.fp != 0
    }

    /// True if the record has made no first contact within its timeout.
    #[inline]
    pub(crate) fn idle(&self, now: u32, t: Timeouts) -> bool {
        idle(self.last_seen, now, self.llr, t)
    }

    /// A fresh record for the source with fingerprint `fp`, seen first at `now`.
    #[inline]
    pub(crate) fn fresh(fp: u32, now: u32) -> Record {
        Record {
            fp,
            first_seen: now,
            last_seen: now,
            llr: 0,
            evidence: None,
        }
    }
}

/// What [`Table::visit`] finds of a known source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Visit {
    /// The record's index in the table.
    pub slot: usize,
    /// The record's walk.
    pub llr: i16,
    /// The record's evidence, if any.
    pub evidence: Option<EvidenceId>,
}

/// How long records are kept without a first contact: sources whose walk
/// leans towards "scanner" (`llr` above 0) for `suspect` seconds, others for
/// `idle` (never longer than `suspect`). Keeping suspects longer lets slow scans add up; benign sources,
/// most of the table, still make room after `idle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub idle: u32,
    pub suspect: u32,
}

/// True if a record last seen at `last_seen`, whose walk stands at `llr`, has
/// outlived its timeout at `now`. The suspect timeout is never the shorter, so
/// a source seen within the idle timeout (nearly every visit) costs one
/// comparison, as before suspects were kept longer.
#[inline(always)]
fn idle(last_seen: u32, now: u32, llr: i16, t: Timeouts) -> bool {
    let age = now.saturating_sub(last_seen);
    age > t.idle && (llr <= 0 || age > t.suspect)
}

/// The fingerprint of a source hash: its low 32 bits, never 0.
#[inline]
pub(crate) fn fp_of(h: u64) -> u32 {
    (h as u32).max(1)
}

/// The ways of `bucket` whose fingerprint is `fp`, one bit each: one vector
/// compare of the four fingerprints.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn matches(bucket: &Bucket, fp: u32) -> u32 {
    use std::arch::x86_64::{
        _mm_castsi128_ps, _mm_cmpeq_epi32, _mm_loadu_si128, _mm_movemask_ps, _mm_set1_epi32,
    };
    // SAFETY: SSE2 is part of x86_64; the load reads the 16 bytes of `fp`,
    // and an unaligned load has no other requirement.
    unsafe {
        let v = _mm_loadu_si128(bucket.fp.as_ptr().cast());
        let eq = _mm_cmpeq_epi32(v, _mm_set1_epi32(fp as i32));
        _mm_movemask_ps(_mm_castsi128_ps(eq)) as u32
    }
}

/// The ways of `bucket` whose fingerprint is `fp`, one bit each.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn matches(bucket: &Bucket, fp: u32) -> u32 {
    let f = &bucket.fp;
    (f[0] == fp) as u32
        | ((f[1] == fp) as u32) << 1
        | ((f[2] == fp) as u32) << 2
        | ((f[3] == fp) as u32) << 3
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

/// The first bucket of source hash `h` among `n` buckets, from the hash's upper
/// half (the fingerprint is the lower), by multiply-shift range reduction: any
/// bucket count, no modulo.
#[inline]
fn first_bucket(h: u64, n: u64) -> usize {
    (((h >> 32) * n) >> 32) as usize
}

/// The second bucket: an independent-looking index from the same 32 bits.
#[inline]
fn second_bucket(h: u64, n: u64) -> usize {
    let hi2 = ((h >> 32).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) & 0xFFFF_FFFF;
    ((hi2 * n) >> 32) as usize
}

/// Prefetches both buckets of source hash `h` in a table of
/// [`Table::geometry`] `(base, n)`.
#[inline]
pub(crate) fn prefetch_at((base, n): (usize, u64), h: u64) {
    let size = BUCKET_BYTES as usize;
    crate::prefetch::prefetch_addr(base + first_bucket(h, n) * size);
    crate::prefetch::prefetch_addr(base + second_bucket(h, n) * size);
}

pub(crate) struct Table {
    /// The array starts on a huge-page boundary, so each bucket is one cache line.
    buckets: Zeroed<Bucket>,
    n: u64,
}

impl Table {
    /// A table of at least two buckets that fits in `bytes` (when it can).
    ///
    /// # Errors
    /// [`Error::NoMemory`](crate::Error::NoMemory) if the memory cannot be had.
    pub(crate) fn with_bytes(bytes: u64) -> Result<Table, crate::Error> {
        let n = (bytes / BUCKET_BYTES).max(2);
        Ok(Table {
            buckets: Zeroed::new(n as usize)?,
            n,
        })
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.n * BUCKET_BYTES
    }

    pub(crate) fn capacity(&self) -> usize {
        self.n as usize * WAYS
    }

    /// The two buckets of a source hash, as the index of their first records.
    #[inline]
    pub(crate) fn buckets_of(&self, h: u64) -> (usize, usize) {
        (
            first_bucket(h, self.n) * WAYS,
            second_bucket(h, self.n) * WAYS,
        )
    }

    /// The address of the first bucket and the bucket count, for
    /// [`prefetch_at`].
    pub(crate) fn geometry(&self) -> (usize, u64) {
        (self.buckets.as_ptr() as usize, self.n)
    }

    /// The records as bytes, to save.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.buckets)
    }

    /// The records as bytes, to restore: any bytes are records.
    pub(crate) fn as_bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.buckets)
    }

    /// The ways of bucket `b` whose fingerprint is `fp`, one bit each.
    #[inline]
    fn matches(&self, b: usize, fp: u32) -> u32 {
        matches(&self.buckets[b], fp)
    }

    /// The live record of the source with hash `h` and fingerprint `fp`, if it
    /// is in its first bucket (the usual case, and the cheapest) and was seen
    /// within its timeout of `now`: marks it seen at `now` and returns its
    /// index, walk and pool link.
    #[inline(always)]
    pub(crate) fn visit(&mut self, h: u64, fp: u32, now: u32, t: Timeouts) -> Option<Visit> {
        let b = first_bucket(h, self.n);
        let bucket = &mut self.buckets[b];
        let hit = matches(bucket, fp);
        if hit == 0 {
            return None;
        }
        let w = hit.trailing_zeros() as usize % WAYS;
        if idle(bucket.last_seen[w], now, bucket.llr[w], t) {
            return None;
        }
        bucket.last_seen[w] = bucket.last_seen[w].max(now);
        Some(Visit {
            slot: b * WAYS + w,
            llr: bucket.llr[w],
            evidence: evidence_of(bucket.first_seen[w], bucket.evidence[w]),
        })
    }

    /// The record of the source with fingerprint `fp` in its buckets, else an
    /// empty record in the emptier bucket, else [`Slot::Full`].
    pub(crate) fn locate(&self, fp: u32, (r1, r2): (usize, usize)) -> Slot {
        let (b1, b2) = (r1 / WAYS, r2 / WAYS);
        for b in [b1, b2] {
            let hit = self.matches(b, fp);
            if hit != 0 {
                return Slot::Found(b * WAYS + hit.trailing_zeros() as usize);
            }
        }
        let (e1, e2) = (self.matches(b1, 0), self.matches(b2, 0));
        let (b, e) = if e2.count_ones() > e1.count_ones() {
            (b2, e2)
        } else {
            (b1, e1)
        };
        if e == 0 {
            Slot::Full
        } else {
            Slot::Vacant(b * WAYS + e.trailing_zeros() as usize)
        }
    }

    /// The record of both buckets that `worth` values least (the first on ties).
    pub(crate) fn victim(&self, (r1, r2): (usize, usize), worth: impl Fn(&Record) -> i64) -> usize {
        let mut best = (i64::MAX, 0);
        for first in [r1, r2] {
            for i in first..first + WAYS {
                let v = worth(&self.get(i));
                if v < best.0 {
                    best = (v, i);
                }
            }
        }
        best.1
    }

    /// Record `i`.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Record {
        let (b, w) = (&self.buckets[i / WAYS], i % WAYS);
        Record {
            fp: b.fp[w],
            first_seen: b.first_seen[w] & FIRST_SEEN_MAX,
            last_seen: b.last_seen[w],
            llr: b.llr[w],
            evidence: evidence_of(b.first_seen[w], b.evidence[w]),
        }
    }

    /// Overwrites record `i`.
    #[inline]
    pub(crate) fn set(&mut self, i: usize, r: Record) {
        let (b, w) = (&mut self.buckets[i / WAYS], i % WAYS);
        b.fp[w] = r.fp;
        (b.first_seen[w], b.evidence[w]) = pack(r.first_seen, r.evidence);
        b.last_seen[w] = r.last_seen;
        b.llr[w] = r.llr;
    }

    /// True if record `i` made no first contact within its timeout of `now`.
    #[inline(always)]
    pub(crate) fn is_idle(&self, i: usize, now: u32, t: Timeouts) -> bool {
        let (b, w) = (&self.buckets[i / WAYS], i % WAYS);
        idle(b.last_seen[w], now, b.llr[w], t)
    }

    /// Record `i` was seen at `now`.
    #[inline]
    pub(crate) fn touch(&mut self, i: usize, now: u32) {
        let (b, w) = (&mut self.buckets[i / WAYS], i % WAYS);
        b.last_seen[w] = b.last_seen[w].max(now);
    }

    /// Sets the walk of record `i`.
    #[inline(always)]
    pub(crate) fn set_llr(&mut self, i: usize, llr: i16) {
        self.buckets[i / WAYS].llr[i % WAYS] = llr;
    }

    /// Links record `i` to the pool's record `evidence`.
    #[inline]
    pub(crate) fn set_evidence(&mut self, i: usize, evidence: Option<EvidenceId>) {
        let (b, w) = (&mut self.buckets[i / WAYS], i % WAYS);
        (b.first_seen[w], b.evidence[w]) = pack(b.first_seen[w] & FIRST_SEEN_MAX, evidence);
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
        let mut t = Table::with_bytes(4 * 64).unwrap();
        assert_eq!(t.capacity(), 16);
        let b = (4, 12);
        let mut placed = Vec::new();
        for fp in 1..=8u32 {
            let i = match t.locate(fp, b) {
                Slot::Vacant(i) => i,
                _ => panic!("room for eight"),
            };
            t.set(i, Record::fresh(fp, 0));
            t.set_llr(i, fp as i16 * 10);
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
    fn records_keep_20_bit_evidence_ids_beside_their_first_seen_time() {
        let id = |bits| EvidenceId::from_bits(bits);
        let mut t = Table::with_bytes(2 * 64).unwrap();
        let mut r = Record::fresh(7, 1_700_000);
        r.evidence = id(HANDLE_LIMIT - 1);
        t.set(5, r);
        assert_eq!(t.get(5), r);
        t.set_evidence(5, id(0x1_2345));
        assert_eq!(
            (t.get(5).first_seen, t.get(5).evidence),
            (1_700_000, id(0x1_2345))
        );
        t.set_evidence(5, None);
        assert_eq!(t.get(5).evidence, None);
        let late = Record::fresh(7, u32::MAX);
        t.set(
            5,
            Record {
                evidence: id(3),
                ..late
            },
        );
        assert_eq!(
            (t.get(5).first_seen, t.get(5).evidence),
            (FIRST_SEEN_MAX, id(3))
        );
    }

    #[test]
    fn the_two_buckets_spread_a_full_table_evenly() {
        let mut t = Table::with_bytes(1024 * 64).unwrap();
        let mut h = 0x1234_5678_9ABC_DEF0u64;
        let mut stored = 0;
        let n = t.capacity() * 9 / 10;
        for _ in 0..n {
            h = crate::hash::mix64(h.wrapping_add(0x9E37_79B9_7F4A_7C15));
            let b = t.buckets_of(h);
            if let Slot::Vacant(i) = t.locate(fp_of(h), b) {
                t.set(i, Record::fresh(fp_of(h), 0));
                stored += 1;
            }
        }
        // About 4% overflow at 90% load, where one choice would overflow 16%.
        assert!(stored * 100 >= n * 95, "{stored} of {n}");
    }
}
