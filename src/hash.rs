//! The seeded hashes that place sources, pairs and targets in memory.

/// Mixes all 64 bits of `z` into all 64 (splitmix64's finaliser).
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 128-bit product of `a` and `b`, its halves folded together.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A seeded hash of 128-bit addresses: a folded multiplication (the
/// construction of foldhash and ahash's fallback), with keys drawn at random per
/// detector so that an attacker cannot aim sources at one bucket, nor targets
/// at one bit of a sketch.
#[derive(Clone, Debug)]
pub(crate) struct AddrHasher([u64; 4], [u64; 4]);

impl AddrHasher {
    /// Keys from `seed`, or random ones when it is `None`.
    pub(crate) fn new(seed: Option<u64>) -> AddrHasher {
        let seed = seed.unwrap_or_else(|| {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(0x5357_u64)
        });
        // Odd keys: a multiplication by an even key would drop a bit.
        let protocols = [0, 5, 6, 7].map(|i| if i == 0 { 0 } else { mix64(seed ^ mix64(i)) });
        AddrHasher([1, 2, 3, 4].map(|i| mix64(seed ^ mix64(i)) | 1), protocols)
    }

    /// One folded multiplication (foldhash's construction for one word): the
    /// high half of the product mixes every input bit, and folding it into the
    /// low half spreads that over all 64 bits.
    #[inline]
    pub(crate) fn hash(&self, key: u128) -> u64 {
        fold((key as u64) ^ self.0[0], ((key >> 64) as u64) ^ self.0[1])
    }

    /// The hash of a source tracked for one protocol (its
    /// [`index`](crate::Protocol)): a source's probes of each protocol are
    /// counted apart. The address's hash with a keyed word per protocol
    /// (none for TCP): one load and one exclusive or, on every event.
    #[inline]
    pub(crate) fn source(&self, key: u128, proto: u8) -> u64 {
        self.hash(key) ^ self.1[usize::from(proto & 3)]
    }

    /// The hash of a (source, target, service) triple, from the source's hash
    /// and the target's address: one folded multiplication, the target's upper
    /// half (zero for IPv4) folded in by a keyed one.
    #[inline]
    pub(crate) fn pair(&self, h_src: u64, dst: u128, service: u64) -> u64 {
        let dst = (dst as u64) ^ ((dst >> 64) as u64).wrapping_mul(self.0[3]);
        fold(
            h_src ^ service.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            dst ^ self.0[2],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_differ_by_each_part() {
        let h = AddrHasher::new(Some(7));
        let v4 = |a: u32| (0xffffu128 << 32) | u128::from(a);
        let base = h.pair(h.hash(v4(1)), v4(2), 22 << 2);
        assert_ne!(base, h.pair(h.hash(v4(3)), v4(2), 22 << 2), "source");
        assert_ne!(base, h.pair(h.hash(v4(1)), v4(4), 22 << 2), "target");
        assert_ne!(base, h.pair(h.hash(v4(1)), v4(2), 23 << 2), "service");
        // IPv6 targets that share a lower half.
        let (a, b) = (1u128 << 64 | 5, 2u128 << 64 | 5);
        assert_ne!(h.pair(1, a, 0), h.pair(1, b, 0));
        assert_ne!(
            AddrHasher::new(Some(8)).pair(1, a, 0),
            h.pair(1, a, 0),
            "seed"
        );
    }

    #[test]
    fn each_protocol_of_a_source_has_its_own_hash() {
        let h = AddrHasher::new(Some(3));
        let a = 0xffff_c0a8_0101u128;
        let hs: Vec<u64> = (0..4).map(|p| h.source(a, p)).collect();
        for i in 0..4 {
            for j in i + 1..4 {
                assert_ne!(hs[i], hs[j], "{i} {j}");
                // The fingerprint (low 32 bits) and the buckets differ too.
                assert_ne!(hs[i] as u32, hs[j] as u32, "{i} {j}");
            }
        }
        assert_eq!(hs[0], h.hash(a), "TCP costs nothing");
    }

    #[test]
    fn pair_bits_used_by_the_filter_spread_evenly() {
        // The filter takes its block from the low 32 bits and its three bit
        // positions from bits 40 to 57: targets of one subnet must spread.
        let h = AddrHasher::new(Some(1));
        let src = h.hash(0xffff_0a00_0001);
        let mut buckets = [0u32; 64];
        for t in 0..64_000u32 {
            let p = h.pair(
                src,
                (0xffffu128 << 32) | u128::from(0xC0A8_0000 + t),
                80 << 2,
            );
            buckets[((p >> 40) & 63) as usize] += 1;
        }
        let (lo, hi) = (buckets.iter().min().unwrap(), buckets.iter().max().unwrap());
        assert!(*lo > 800 && *hi < 1200, "{lo}..{hi}");
    }
}
