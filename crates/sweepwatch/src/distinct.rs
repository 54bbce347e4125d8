//! A distinct counter in fixed memory: exact while small, HyperLogLog
//! registers with the historic inverse probability estimate above.
//!
//! The decisions turn on small counts (a scanner retrying the same three ports
//! must show three, not an estimate near it), yet a sweep may reach hundreds of
//! thousands of targets. So the same words first hold the items themselves and,
//! once they no longer fit, HyperLogLog registers built from them.
//!
//! Items are 32-bit hashes that the caller has already mixed (addresses go
//! through the keyed `AddrHasher`), so their bits are used as they come: the top
//! bits choose a register and the rest give its rank. Unmixed values, such as
//! raw addresses, would crowd a few registers and be undercounted.

/// Marks `n` once the words hold registers.
const DENSE: u16 = u16::MAX;

/// Standard errors between a dense count and its lower bound
/// ([`Distinct::at_least`]): 3.1 leaves about one estimate in a thousand
/// above the truth if errors were normal; HIP's upper tail is thinner.
const MARGIN: f64 = 3.1;

/// HIP's variance over n²/m far from conversion: measured 3.70% relative
/// standard error at a million items with 512 registers (0.70 n²/m), as
/// the theory for HyperLogLog registers gives (Ting 2014, about 0.69).
const HIP_VARIANCE: f64 = 0.69;

/// The largest rank a four-bit register holds. Only an item whose remaining
/// bits start with 14 zeros reaches it, one in 16,384, so the cap costs nothing
/// at the sizes a register sees.
const MAX_RANK: u32 = 15;

/// Distinct 32-bit hashed items in 4*W bytes: exact while at most W items were
/// added (kept unsorted in `words`), then HyperLogLog with 8*W four-bit
/// registers packed into the same words.
#[derive(Clone, Copy, Debug, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Distinct<const W: usize> {
    words: [u32; W],
    /// Items held exactly; `u16::MAX` once the words hold registers.
    n: u16,
    /// Always 0: makes the padding a field, so the counter is plain bytes.
    _pad: u16,
    /// Once dense: the sum of 2^(15 - rank) over all registers, kept as
    /// registers grow, so that the chance of growing one costs no pass.
    sum: u32,
    /// Once dense: the historic inverse probability (HIP) estimate, the
    /// exact count at conversion plus, for each register that grew since,
    /// the inverse of the chance that a new item would grow one.
    hip: f32,
}

// SAFETY: repr(C) with no padding (every field's size is a multiple of the
// next one's alignment, checked below for the size the pool holds), and every
// bit pattern of its fields is a value.
unsafe impl<const W: usize> bytemuck::Pod for Distinct<W> {}
const _: () = assert!(std::mem::size_of::<Distinct<64>>() == 64 * 4 + 2 + 2 + 4 + 4);

impl<const W: usize> Default for Distinct<W> {
    /// Empty, and all zero: pool records start as zeroed memory.
    fn default() -> Self {
        Distinct {
            words: [0; W],
            n: 0,
            _pad: 0,
            sum: 0,
            hip: 0.0,
        }
    }
}

impl<const W: usize> Distinct<W> {
    /// log2 of the register count, 8W: the index bits taken from the top of a hash.
    const BITS: u32 = (8 * W).trailing_zeros();

    /// Fails the build for a W the layout cannot take: a power of two, so the
    /// registers are indexed by whole bits; at least 8, so there are at least
    /// 64 registers (fewer err by over 10%); at most 4096, so that the
    /// registers' sum fits `sum`.
    #[inline]
    fn check() {
        const {
            assert!(
                W >= 8 && W.is_power_of_two() && W <= 4096,
                "W must be a power of two from 8 to 4096"
            )
        }
    }

    /// Items held exactly at most.
    pub(crate) const CAPACITY: usize = W;

    /// The items held, while exact; None once dense.
    #[inline]
    pub(crate) fn items(&self) -> Option<&[u32]> {
        self.is_exact().then(|| &self.words[..usize::from(self.n)])
    }

    /// Whether its count of exact items fits its words.
    pub(crate) fn is_sound(&self) -> bool {
        usize::from(self.n) <= W || self.n == DENSE
    }

    /// Empties the counter. Only the count is written: the words behind it
    /// are read only once that many were written again.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.n = 0;
    }

    /// Adds `h`; true if it was not there before (exact while exact; once dense,
    /// true if a register grew).
    #[inline]
    pub(crate) fn insert(&mut self, h: u32) -> bool {
        Self::check();
        if self.n == DENSE {
            // A new item grows a register with chance sum / (m * 2^15).
            let sum = self.sum;
            let grew = self.raise(h);
            if grew {
                self.hip += ((8 * W) as f32 * (1u32 << MAX_RANK) as f32) / sum as f32;
            }
            return grew;
        }
        let n = usize::from(self.n);
        if self.words[..n].contains(&h) {
            return false;
        }
        if n < W {
            self.words[n] = h;
            self.n += 1;
        } else {
            self.densify(h);
        }
        true
    }

    /// Whether `h` was added, while exact; None once dense.
    #[inline]
    pub(crate) fn contains(&self, h: u32) -> Option<bool> {
        self.is_exact()
            .then(|| self.words[..usize::from(self.n)].contains(&h))
    }

    /// Where `h` is held, while exact: `Some(Some(i))`, its place among the
    /// items in the order they were added (a place never changes while
    /// exact); `Some(None)` if it was not added; `None` once dense.
    #[inline]
    pub(crate) fn position(&self, h: u32) -> Option<Option<usize>> {
        self.is_exact().then(|| {
            self.words[..usize::from(self.n)]
                .iter()
                .position(|&w| w == h)
        })
    }

    #[inline]
    pub(crate) fn is_exact(&self) -> bool {
        self.n != DENSE
    }

    /// Distinct items: the exact count while exact; else the historic
    /// inverse probability estimate (Cohen 2015, Ting 2014) over the
    /// HyperLogLog registers, which uses the order the items came in and so
    /// has a fifth less error than the HyperLogLog estimate (relative
    /// standard error about 0.83/√m, 3.7% with 512 registers), and never
    /// falls as items are added. Rounded to nearest, never below W+1, the
    /// distinct items held at conversion.
    pub(crate) fn count(&self) -> u32 {
        Self::check();
        if self.is_exact() {
            return u32::from(self.n);
        }
        // Float to integer casts saturate.
        (self.hip.round() as u32).max(W as u32 + 1)
    }

    /// A count that rarely overstates the truth (39 times in the README's
    /// 561,500 trials of `bounds_over_many_trials`): exact while exact; once
    /// dense, the estimate less [`MARGIN`] standard errors of the part
    /// estimated since conversion, never below W+1.
    pub(crate) fn at_least(&self) -> u32 {
        let n = self.count();
        if self.is_exact() {
            return n;
        }
        let low = f64::from(n) - MARGIN * self.standard_error();
        (low.round() as u32).max(W as u32 + 1)
    }

    /// The estimate's standard error once dense. HIP's variance grows with
    /// what was estimated since the exact count at conversion, n₀ = W+1:
    /// taken as 0.69 (n² − n₀²) / m, which is what `bounds_over_many_trials`
    /// measures from ten thousand items on, and more than it measures below.
    fn standard_error(&self) -> f64 {
        let n = f64::from(self.hip);
        let n0 = (W + 1) as f64;
        let m = (8 * W) as f64;
        (HIP_VARIANCE * (n * n - n0 * n0).max(0.0) / m).sqrt()
    }

    /// Replaces the W held items and the new `h` by the registers they set.
    #[cold]
    fn densify(&mut self, h: u32) {
        let held = self.words;
        self.words = [0; W];
        self.n = DENSE;
        // Every register at rank 0 adds 2^15 to the sum.
        self.sum = (8 * W as u32) << MAX_RANK;
        for x in held.into_iter().chain(std::iter::once(h)) {
            self.raise(x);
        }
        // The W held items and `h` are distinct: the estimate starts exact.
        self.hip = (W + 1) as f32;
    }

    /// Raises `h`'s register to its rank, keeping the sum; true
    /// if it grew.
    #[inline]
    fn raise(&mut self, h: u32) -> bool {
        let i = (h >> (32 - Self::BITS)) as usize;
        // Index bits shifted out leave zeros below, so an all-zero rest ranks 15
        // through the cap, not past it.
        let rank = ((h << Self::BITS).leading_zeros() + 1).min(MAX_RANK);
        let shift = 4 * (i % 8) as u32;
        let word = &mut self.words[i / 8];
        let old = (*word >> shift) & 0xF;
        if rank <= old {
            return false;
        }
        *word = (*word & !(0xF << shift)) | (rank << shift);
        self.sum = self.sum - (1 << (MAX_RANK - old)) + (1 << (MAX_RANK - rank));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed-seed generator (splitmix64), as in the sketch tests.
    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn exact_up_to<const W: usize>(seed: u64) {
        let mut seed = seed;
        // Zero is an item like any other, not an empty slot.
        let items: Vec<u32> = std::iter::once(0)
            .chain((0..W).map(|_| splitmix(&mut seed) as u32))
            .collect();
        let mut d = Distinct::<W>::default();
        assert_eq!((d.count(), d.contains(0)), (0, Some(false)));
        for (i, &h) in items[..W].iter().enumerate() {
            assert!(d.insert(h));
            // Every earlier item again: a retry is not a new item.
            for &old in &items[..=i] {
                assert!(!d.insert(old));
                assert_eq!(d.contains(old), Some(true));
            }
            assert_eq!(d.contains(items[i + 1]), Some(false));
            assert_eq!(d.count(), i as u32 + 1);
            assert!(d.is_exact());
        }
        assert!(d.insert(items[W]));
        assert!(!d.is_exact());
        assert_eq!(d.contains(items[0]), None);
        // The registers were built from every held item: none is new again.
        for &h in &items {
            assert!(!d.insert(h));
        }
        assert!(d.count() > W as u32);
    }

    #[test]
    fn exact_while_at_most_w_items() {
        exact_up_to::<8>(1);
        exact_up_to::<32>(2);
        exact_up_to::<64>(3);
    }

    #[test]
    fn a_few_retried_ports_count_as_few() {
        let mut d = Distinct::<64>::default();
        for _ in 0..1000 {
            for port in [22u32, 80, 443] {
                d.insert(port.wrapping_mul(0x9E37_79B9));
            }
        }
        assert_eq!(d.count(), 3);
    }

    #[test]
    fn dense_counts_never_fall_below_the_conversion() {
        // Items that all land in register 0: the estimate alone says about one.
        let mut d = Distinct::<64>::default();
        let mut last = 0;
        for h in 0..=64u32 {
            d.insert(h);
            assert!(d.count() >= last, "count fell at item {h}");
            last = d.count();
        }
        assert!(!d.is_exact());
        assert_eq!(d.count(), 65);
        // Random items: monotone through the exact range and the conversion,
        // and above W after it.
        let mut seed = 11;
        for _ in 0..200 {
            let mut d = Distinct::<32>::default();
            let mut last = 0;
            for i in 1..=200u32 {
                d.insert(splitmix(&mut seed) as u32);
                let c = d.count();
                if i <= 33 {
                    assert!(c >= last);
                }
                assert!(i <= 32 || c >= 33, "count {c} after {i} items");
                last = c;
            }
        }
    }

    /// RMS and 95th percentile of |relative error| over `trials` counters of
    /// `n` random items each.
    fn errors<const W: usize>(n: u32, trials: usize, seed: &mut u64) -> (f64, f64) {
        let mut rel: Vec<f64> = (0..trials)
            .map(|_| {
                let mut d = Distinct::<W>::default();
                for _ in 0..n {
                    d.insert(splitmix(seed) as u32);
                }
                ((f64::from(d.count()) - f64::from(n)) / f64::from(n)).abs()
            })
            .collect();
        let rms = (rel.iter().map(|r| r * r).sum::<f64>() / trials as f64).sqrt();
        rel.sort_by(f64::total_cmp);
        (rms, rel[trials * 95 / 100 - 1])
    }

    /// For `at_least` with 512 registers: the share of trials that overstate
    /// at all, and the mean understatement.
    fn lower_bound_errors(n: u32, trials: usize, seed: &mut u64) -> (f64, f64) {
        let (mut over, mut short) = (0, 0.0);
        for _ in 0..trials {
            let mut d = Distinct::<64>::default();
            for _ in 0..n {
                d.insert(splitmix(seed) as u32);
            }
            over += usize::from(d.at_least() > n);
            short += f64::from(n - d.at_least().min(n)) / f64::from(n);
        }
        let t = trials as f64;
        (over as f64 / t, short / t)
    }

    #[test]
    fn at_least_rarely_overstates() {
        // The thorough measurement is `bounds_over_many_trials`.
        let mut seed = 99;
        let (mut over, mut total) = (0.0, 0.0);
        for n in SIZES {
            let t = trials(n);
            let (o, short) = lower_bound_errors(n, t, &mut seed);
            println!("at_least W=64 n={n:>6} trials={t:>4} over={o:.4} short={short:.4}");
            assert!(
                short <= 0.125,
                "n={n}: understates by {short:.4} on average"
            );
            over += o * t as f64;
            total += t as f64;
        }
        assert!(over / total <= 0.001, "{:.4} overstate", over / total);
        let mut d = Distinct::<64>::default();
        for h in 0..40u32 {
            d.insert(h.wrapping_mul(0x9E37_79B9));
        }
        assert_eq!(d.at_least(), 40, "exact while exact");
    }

    #[test]
    fn the_estimate_never_falls() {
        let mut seed = 7;
        for _ in 0..50 {
            let mut d = Distinct::<64>::default();
            let (mut last, mut last_low) = (0, 0);
            for _ in 0..5_000 {
                d.insert(splitmix(&mut seed) as u32);
                assert!(d.count() >= last && d.at_least() >= last_low);
                (last, last_low) = (d.count(), d.at_least());
            }
        }
    }

    const SIZES: [u32; 9] = [65, 100, 200, 500, 1000, 2000, 5000, 20_000, 100_000];

    /// Fewer trials for the large sizes keeps the test quick in debug builds.
    fn trials(n: u32) -> usize {
        (2_000_000 / n as usize).clamp(300, 1000)
    }

    #[test]
    fn dense_error_with_512_registers() {
        let mut seed = 64;
        for n in SIZES {
            let (rms, p95) = errors::<64>(n, trials(n), &mut seed);
            println!(
                "W=64 n={n:>6} trials={:>4} rms={rms:.4} p95={p95:.4}",
                trials(n)
            );
            assert!(rms <= 0.06, "n={n}: rms relative error {rms:.4}");
            assert!(p95 <= 0.10, "n={n}: 95th percentile {p95:.4}");
        }
    }

    #[test]
    fn dense_error_with_256_registers() {
        let mut seed = 32;
        for n in SIZES {
            let (rms, p95) = errors::<32>(n, trials(n), &mut seed);
            println!(
                "W=32 n={n:>6} trials={:>4} rms={rms:.4} p95={p95:.4}",
                trials(n)
            );
            assert!(rms <= 0.08, "n={n}: rms relative error {rms:.4}");
        }
    }

    #[test]
    fn the_kept_sum_matches_the_registers() {
        let mut seed = 5;
        let mut d = Distinct::<64>::default();
        for n in 0..20_000u32 {
            d.insert(splitmix(&mut seed) as u32);
            if n > 64 && n % 997 == 0 {
                let mut sum = 0u32;
                for w in d.words {
                    for k in 0..8 {
                        let rank = (w >> (4 * k)) & 0xF;
                        sum += 1 << (MAX_RANK - rank);
                    }
                }
                assert_eq!(d.sum, sum, "after {n}");
            }
        }
    }

    #[test]
    fn a_cleared_counter_is_empty_whatever_its_words_hold() {
        let mut seed = 11;
        let mut d = Distinct::<8>::default();
        let old: Vec<u32> = (0..100).map(|_| splitmix(&mut seed) as u32).collect();
        for &h in &old {
            d.insert(h);
        }
        assert!(!d.is_exact());
        d.clear();
        assert_eq!(
            (d.count(), d.is_exact(), d.contains(old[0])),
            (0, true, Some(false))
        );
        for &h in &old[..9] {
            assert!(d.insert(h));
        }
        assert!(!d.is_exact());
        assert!(d.count() >= 9);
        d.clear();
        for &h in &old[..3] {
            assert!(d.insert(h));
        }
        assert_eq!(d.count(), 3);
    }

    /// How the lower bound holds over many counters: at each size, the share
    /// of trials whose `at_least` exceeds the truth, its mean understatement
    /// and the estimate's RMS error, beside the same for the bound before
    /// HIP (the HyperLogLog estimate less one standard error). By hand, in
    /// release (5 s; SWEEPWATCH_TRIALS=5 gives the README's 561,500 trials):
    /// `cargo test --release --lib bounds_over_many_trials -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bounds_over_many_trials() {
        let scale: f64 = std::env::var("SWEEPWATCH_TRIALS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1.0);
        let mut seed = 2027;
        let (mut over, mut all, mut old_over) = (0u64, 0u64, 0u64);
        println!("| items | trials | above the truth | mean understatement | RMS error of the estimate | before: above the truth | before: mean understatement |");
        println!("|---|---|---|---|---|---|---|");
        for n in [
            65u32, 70, 80, 100, 150, 200, 500, 1_000, 2_000, 5_000, 10_000, 100_000, 1_000_000,
        ] {
            let t = ((match n {
                0..=10_000 => 10_000.0,
                10_001..=100_000 => 2_000.0,
                _ => 300.0,
            }) * scale) as u64;
            let (mut o, mut short, mut sq) = (0u64, 0.0f64, 0.0f64);
            let (mut oo, mut old_short) = (0u64, 0.0f64);
            for _ in 0..t {
                let mut d = Distinct::<64>::default();
                for _ in 0..n {
                    d.insert(splitmix(&mut seed) as u32);
                }
                let truth = f64::from(n);
                o += u64::from(d.at_least() > n);
                short += (truth - f64::from(d.at_least())) / truth;
                sq += ((f64::from(d.count()) - truth) / truth).powi(2);
                let old = hll_at_least(&d);
                oo += u64::from(old > n);
                old_short += (truth - f64::from(old)) / truth;
            }
            let pct = |k: u64| 100.0 * k as f64 / t as f64;
            println!(
                "| {n} | {t} | {:.3} % | {:.2} % | {:.2} % | {:.2} % | {:.2} % |",
                pct(o),
                100.0 * short / t as f64,
                100.0 * (sq / t as f64).sqrt(),
                pct(oo),
                100.0 * old_short / t as f64
            );
            old_over += oo;
            over += o;
            all += t;
        }
        println!(
            "all: {all} trials, at_least above the truth in {over} ({:.4} %); before: above in {old_over} ({:.2} %)",
            100.0 * over as f64 / all as f64,
            100.0 * old_over as f64 / all as f64
        );
    }

    /// The lower bound before HIP, for comparison: the HyperLogLog estimate
    /// (linear counting while at most 2.5 registers' worth) less one standard
    /// error, 1.04/√m.
    fn hll_at_least(d: &Distinct<64>) -> u32 {
        let m = 512.0;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m * f64::from(1u32 << MAX_RANK) / f64::from(d.sum);
        let zeros = d
            .words
            .iter()
            .map(|w| (0..8).filter(|k| (w >> (4 * k)) & 0xF == 0).count())
            .sum::<usize>();
        let est = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        let est = (est.round() as u32).max(65);
        ((f64::from(est) * (1.0 - 1.04 / m.sqrt())).round() as u32).max(65)
    }

    #[test]
    fn layout() {
        // Words, then the count, the registers' sum and the estimate.
        assert_eq!(std::mem::size_of::<Distinct<64>>(), 268);
        assert_eq!(std::mem::size_of::<Distinct<8>>(), 44);
        assert_eq!(std::mem::align_of::<Distinct<64>>(), 4);
    }
}
