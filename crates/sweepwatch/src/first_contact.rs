//! First-contact filter: has this source tried this (target, port) before?
//!
//! A blocked Bloom filter with two generations in each 32-byte block, so one
//! cache line answers both. Each pair sets five bits in one 64-bit word, for
//! "seen" (an attempt) and "resolved" (its outcome counted); a resolved pair
//! is always seen in the same generation, so one word of each generation says
//! whether an event is a repeat. When the current generation fills, or a dedup
//! period passes, the older generation is cleared and becomes current: a pair
//! is remembered for one to two periods. A false "seen before" (its rate at
//! the fill limit is in the README's *The steps*, from
//! this module's tests) drops one count, which a scanner near `min_targets`
//! cannot spare.

use crate::zeroed::Zeroed;

#[derive(Clone, Copy, Default, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C, align(32))]
struct Block {
    /// `[seen, resolved]` of the current generation, then of the older one.
    words: [u64; 4],
}

/// Bytes of a block.
pub(crate) const BLOCK_BYTES: u64 = std::mem::size_of::<Block>() as u64;

/// What the filter knew of a pair before it was marked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Marked {
    /// No attempt at this pair was recorded before.
    pub new_probe: bool,
    /// No outcome for this pair was counted before (only for outcomes).
    pub new_outcome: bool,
}

/// Average items per 64-bit word before a generation is retired.
const FILL_PER_WORD: u64 = 4;

/// The block of pair hash `h` among `n`.
#[inline]
fn block_of(h: u64, n: u64) -> usize {
    (((h & 0xFFFF_FFFF) * n) >> 32) as usize
}

/// Prefetches the block of pair hash `h` in a filter of [`FirstContactFilter::geometry`]
/// `(base, n)`.
#[inline]
pub(crate) fn prefetch_at((base, n): (usize, u64), h: u64) {
    crate::prefetch::prefetch_addr(base + block_of(h, n) * std::mem::size_of::<Block>());
}

/// A filter's state besides its blocks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FilterClock {
    blocks: u64,
    inserted: u64,
    period: u32,
    now: u32,
    deadline: u32,
    rotations: u64,
}

pub(crate) struct FirstContactFilter {
    blocks: Zeroed<Block>,
    inserted: u64,
    limit: u64,
    /// Seconds a generation serves.
    period: u32,
    /// The shard's clock at the latest tick.
    now: u32,
    /// When the current generation has served its period.
    deadline: u32,
    pub(crate) rotations: u64,
}

impl FirstContactFilter {
    /// A filter of at least one block that fits in `bytes` (when it can).
    ///
    /// # Errors
    /// [`Error::NoMemory`](crate::Error::NoMemory) if the memory cannot be had.
    pub(crate) fn with_bytes(bytes: u64) -> Result<FirstContactFilter, crate::Error> {
        let n = (bytes / std::mem::size_of::<Block>() as u64).max(1);
        Ok(FirstContactFilter {
            blocks: Zeroed::new(n as usize)?,
            inserted: 0,
            limit: n * FILL_PER_WORD,
            period: u32::MAX,
            now: 0,
            deadline: u32::MAX,
            rotations: 0,
        })
    }

    pub(crate) fn bytes(&self) -> u64 {
        (self.blocks.len() * std::mem::size_of::<Block>()) as u64
    }

    #[inline]
    fn index(&self, h: u64) -> usize {
        block_of(h, self.blocks.len() as u64)
    }

    /// The address of the filter's first block and the block count, for
    /// [`prefetch_at`].
    pub(crate) fn geometry(&self) -> (usize, u64) {
        (self.blocks.as_ptr() as usize, self.blocks.len() as u64)
    }

    /// The blocks as bytes, to save.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.blocks)
    }

    /// The blocks as bytes, to restore: any bytes are blocks.
    pub(crate) fn as_bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.blocks)
    }

    /// The filter's counters and clock, to save.
    pub(crate) fn clock(&self) -> FilterClock {
        FilterClock {
            blocks: self.blocks.len() as u64,
            inserted: self.inserted,
            period: self.period,
            now: self.now,
            deadline: self.deadline,
            rotations: self.rotations,
        }
    }

    /// Sets the counters and clock saved from a filter of the same size.
    ///
    /// # Errors
    /// Why `c` cannot be this filter's.
    pub(crate) fn set_clock(&mut self, c: &FilterClock) -> Result<(), &'static str> {
        if c.blocks != self.blocks.len() as u64 {
            return Err("its first-contact filter has another size");
        }
        self.inserted = c.inserted;
        self.period = c.period;
        self.now = c.now;
        self.deadline = c.deadline;
        self.rotations = c.rotations;
        Ok(())
    }

    /// Starts the generation clock at `now` (seconds) without clearing
    /// anything; generations last `period` seconds.
    pub(crate) fn start(&mut self, now: u32, period: u32) {
        self.period = period;
        self.now = now;
        self.deadline = now.saturating_add(period);
    }

    /// The clock reads `now`: retires the older generation if the current one
    /// has served its period.
    #[inline]
    pub(crate) fn tick(&mut self, now: u32) {
        self.now = now;
        if now >= self.deadline {
            self.rotate();
        }
    }

    /// Retires the older generation: the current one becomes the older and
    /// a cleared one current. Moving the words (a pass that clearing needs
    /// anyway) keeps the current generation at fixed indexes for lookups.
    #[cold]
    #[inline(never)]
    fn rotate(&mut self) {
        for b in self.blocks.iter_mut() {
            b.words = [0, 0, b.words[0], b.words[1]];
        }
        self.inserted = 0;
        self.deadline = self.now.saturating_add(self.period);
        self.rotations += 1;
    }

    /// Reads the pair with hash `h`: a repeat if its attempt (`outcome`
    /// false) or its outcome was counted in either generation. Only the words
    /// that answer that are read; [`record`](Self::record) works out the rest.
    #[inline(always)]
    pub(crate) fn look(&self, h: u64, outcome: bool) -> Look {
        // Five bits from hash bits the block index (the low 32) leaves.
        let mask = (1u64 << ((h >> 34) & 63))
            | (1u64 << ((h >> 40) & 63))
            | (1u64 << ((h >> 46) & 63))
            | (1u64 << ((h >> 52) & 63))
            | (1u64 << ((h >> 58) & 63));
        let block = self.index(h);
        let w = &self.blocks[block].words;
        // Words 0 and 2 say "seen", 1 and 3 "resolved"; a resolved pair is also
        // seen in the same generation, so one kind of word settles a repeat.
        let i = usize::from(outcome);
        let repeat = (w[i] & mask == mask) | (w[i + 2] & mask == mask);
        Look {
            repeat,
            outcome,
            block,
            mask,
        }
    }

    /// Counts a pair that [`look`](Self::look) found new, saying what was new
    /// about it.
    #[inline]
    pub(crate) fn record(&mut self, l: Look) -> Marked {
        debug_assert!(!l.repeat);
        let w = &mut self.blocks[l.block].words;
        let has = |x: u64| x & l.mask == l.mask;
        let marked = Marked {
            new_probe: !(has(w[0]) || has(w[2])),
            new_outcome: l.outcome,
        };
        if l.outcome {
            w[1] |= l.mask;
        }
        if !has(w[0]) {
            // Seen in this generation too, so a resolved pair is never only
            // resolved; an attempt seen only in the older generation counts
            // towards this one's fill as well.
            w[0] |= l.mask;
            self.inserted += 1;
            if self.inserted >= self.limit {
                // Full: the next pair goes to a fresh generation.
                self.rotate();
            }
        }
        marked
    }

    #[cfg(test)]
    fn mark(&mut self, h: u64, outcome: bool) -> Marked {
        let l = self.look(h, outcome);
        if l.repeat {
            Marked {
                new_probe: false,
                new_outcome: false,
            }
        } else {
            self.record(l)
        }
    }
}

/// What [`FirstContactFilter::look`] found: a repeat, or where to record a new pair.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Look {
    /// Nothing new: the attempt, or the outcome, was counted before.
    pub repeat: bool,
    outcome: bool,
    block: usize,
    mask: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u64) -> u64 {
        let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z ^ (z >> 29)
    }

    #[test]
    fn attempt_then_outcome_counts_once() {
        let mut f = FirstContactFilter::with_bytes(1 << 16).unwrap();
        assert_eq!(
            f.mark(h(1), false),
            Marked {
                new_probe: true,
                new_outcome: false
            }
        );
        assert_eq!(
            f.mark(h(1), false),
            Marked {
                new_probe: false,
                new_outcome: false
            }
        );
        assert_eq!(
            f.mark(h(1), true),
            Marked {
                new_probe: false,
                new_outcome: true
            }
        );
        assert_eq!(
            f.mark(h(1), true),
            Marked {
                new_probe: false,
                new_outcome: false
            }
        );
        // Outcome only: one probe and one outcome.
        assert_eq!(
            f.mark(h(2), true),
            Marked {
                new_probe: true,
                new_outcome: true
            }
        );
    }

    #[test]
    fn false_repeats_stay_rare_at_the_fill_limit() {
        let mut f = FirstContactFilter::with_bytes(1 << 16).unwrap();
        let n = f.limit;
        let mut repeats = 0;
        for i in 0..n {
            if !f.mark(h(i), true).new_probe {
                repeats += 1;
            }
        }
        let rate = repeats as f64 / n as f64;
        assert!(rate < 0.01, "false repeat rate {rate}");
    }

    #[test]
    fn a_full_generation_takes_few_new_pairs_for_repeats() {
        // Filled to one short of its limit, then asked about pairs it never
        // saw: five bits a pair in words of four pairs on average answer
        // 0.43% of them wrongly (three bits: 0.79%; the words' uneven loads
        // make both more than a uniform load's 0.14% and 0.50%).
        let mut f = FirstContactFilter::with_bytes(1 << 16).unwrap();
        for i in 0..f.limit - 1 {
            f.mark(h(i), true);
        }
        let asked = 200_000;
        let repeats = (0..asked)
            .filter(|i| f.look(h(1 << 40 | i), true).repeat)
            .count();
        let rate = repeats as f64 / asked as f64;
        assert!(rate < 0.006, "false repeat rate {rate}");
    }

    #[test]
    fn a_full_generation_turns_over_at_once() {
        let mut f = FirstContactFilter::with_bytes(1 << 12).unwrap();
        f.start(0, 1800);
        let mut i = 0;
        while f.rotations == 0 {
            f.mark(h(i), true);
            i += 1;
            assert!(i <= 2 * f.limit, "never full");
        }
        // Rare false repeats are not inserted, so it may take a few more.
        assert!(i >= f.limit);
        assert_eq!(f.inserted, 0);
        // The filled generation is now the older one: still remembered.
        assert!(!f.mark(h(i - 1), true).new_outcome);
    }

    #[test]
    fn an_outcome_after_a_turnover_is_remembered_with_its_attempt() {
        let mut f = FirstContactFilter::with_bytes(1 << 12).unwrap();
        f.start(0, 100);
        assert!(f.mark(h(9), false).new_probe);
        f.tick(100);
        // The attempt is in the older generation; its outcome is new.
        let m = f.mark(h(9), true);
        assert_eq!((m.new_probe, m.new_outcome), (false, true));
        f.tick(200);
        // The attempt's generation is gone, but the outcome's still knows the
        // pair was seen: the same outcome again is a repeat, not a new probe.
        let m = f.mark(h(9), true);
        assert_eq!((m.new_probe, m.new_outcome), (false, false));
        assert_eq!(f.rotations, 2);
    }

    #[test]
    fn pairs_are_forgotten_after_two_periods() {
        let mut f = FirstContactFilter::with_bytes(1 << 12).unwrap();
        f.start(0, 100);
        assert!(f.mark(h(5), true).new_outcome);
        f.tick(99);
        assert_eq!(f.rotations, 0, "not before its period");
        f.tick(100);
        assert!(
            !f.mark(h(5), true).new_outcome,
            "still in the older generation"
        );
        f.tick(200);
        assert!(
            f.mark(h(5), true).new_outcome,
            "both generations turned over"
        );
        assert_eq!(f.rotations, 2);
    }
}
