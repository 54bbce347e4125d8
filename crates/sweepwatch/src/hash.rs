//! The seeded hashes that place sources, pairs and targets in memory.

use std::hash::BuildHasher;

/// Mixes all 64 bits of `z` into all 64 (splitmix64's finaliser).
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes all 32 bits of `h` into all 32 (MurmurHash3's finaliser): a
/// bijection, undone by [`unmix32`].
#[inline]
pub(crate) fn mix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// The `h` that [`mix32`] mixed into `m`.
#[inline]
pub(crate) fn unmix32(mut m: u32) -> u32 {
    m ^= m >> 16;
    // Multiplicative inverses of the two odd constants, modulo 2^32.
    m = m.wrapping_mul(0x7ED1_B41D);
    m ^= (m >> 13) ^ (m >> 26);
    m = m.wrapping_mul(0xA5CB_9243);
    m ^ (m >> 16)
}

/// The 128-bit product of `a` and `b`, its halves folded together.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The keyed hashes of addresses. Sources are hashed with aHash under 256-bit
/// keys, a keyed hash designed so that whoever does not know the keys can
/// neither aim addresses at one bucket nor make one address hash like
/// another, at a fraction of SipHash's cost (the README's *Events per
/// second* compares the two); the keys are drawn at random per detector
/// unless a seed fixes them for a replay.
/// Pairs and targets are hashed from the source's hash with a keyed folded
/// multiplication (foldhash's construction): their inputs already include a
/// secret.
#[derive(Clone, Debug)]
pub(crate) struct AddrHasher {
    /// One set of keys per protocol index (sources are tracked per
    /// protocol), and one more for a source's second identity.
    sources: [ahash::RandomState; 5],
    /// Keys of the folded multiplications (odd: a multiplication by an even
    /// key would drop a bit).
    folds: [u64; 4],
    /// What the keys above were made from, kept so that a saved state can
    /// carry them: sources and pairs placed under one set of keys are found
    /// only under the same keys.
    material: KeyMaterial,
}

/// The secret numbers an [`AddrHasher`]'s keys are made from.
pub(crate) type KeyMaterial = [u64; 24];

impl AddrHasher {
    /// Keys from `seed`, or random ones when it is `None`.
    pub(crate) fn new(seed: Option<u64>) -> AddrHasher {
        let random = std::collections::hash_map::RandomState::new();
        let mut material = [0; 24];
        for (j, k) in (0u64..).zip(material.iter_mut()) {
            // The numbering the keys have always had, so that a seed keeps
            // giving the same placement.
            let i = if j < 4 { j + 1 } else { j + 6 };
            *k = match seed {
                Some(seed) => mix64(seed ^ mix64(i)),
                None => random.hash_one(i),
            };
        }
        AddrHasher::from_material(material)
    }

    /// The hasher whose keys are made from `material`.
    pub(crate) fn from_material(material: KeyMaterial) -> AddrHasher {
        let k = |i: usize| material[i];
        AddrHasher {
            sources: [0, 1, 2, 3, 4].map(|i| {
                let b = 4 + 4 * i;
                ahash::RandomState::with_seeds(k(b), k(b + 1), k(b + 2), k(b + 3))
            }),
            folds: [0, 1, 2, 3].map(|i| k(i) | 1),
            material,
        }
    }

    /// What the keys are made from.
    pub(crate) fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// A keyed hash of one address, for counting targets in the evidence.
    #[inline]
    pub(crate) fn hash(&self, key: u128) -> u64 {
        fold(
            (key as u64) ^ self.folds[0],
            ((key >> 64) as u64) ^ self.folds[1],
        )
    }

    /// The hash of a source tracked for one protocol (its
    /// [`index`](crate::Protocol)) in one zone: a source's probes of each
    /// protocol are counted apart, each under its own key, and the same
    /// address in two zones is two sources. Zone 0 hashes the address
    /// alone (one write, the common case).
    #[inline]
    pub(crate) fn source(&self, key: u128, zone: u32, proto: u8) -> u64 {
        let keyed = &self.sources[usize::from(proto & 3)];
        match zone {
            0 => keyed.hash_one(key),
            z => keyed.hash_one((key, z)),
        }
    }

    /// A source's second identity, independent of the first: where it is
    /// tracked when another address's evidence holds its first.
    #[inline]
    pub(crate) fn second(&self, key: u128, zone: u32, proto: u8) -> u64 {
        match zone {
            0 => self.sources[4].hash_one(key ^ u128::from(proto)),
            z => self.sources[4].hash_one((key ^ u128::from(proto), z)),
        }
    }

    /// The hash of a (source, target, service) triple, `service` from
    /// [`service`], from the source's hash
    /// and the target's address: one folded multiplication, the target's upper
    /// half (zero for IPv4) folded in by a keyed one.
    #[inline]
    pub(crate) fn pair(&self, h_src: u64, dst: u128, service: u64) -> u64 {
        let dst = (dst as u64) ^ ((dst >> 64) as u64).wrapping_mul(self.folds[3]);
        fold(
            h_src ^ service.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            dst ^ self.folds[2],
        )
    }
}

/// A destination port and protocol ([`Protocol::index`](crate::Protocol::index))
/// as one service number for [`AddrHasher::pair`].
#[inline]
pub(crate) fn service(port: u16, proto: u8) -> u64 {
    (u64::from(port) << 2) | u64::from(proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmix32_undoes_mix32() {
        assert_eq!(0x85EB_CA6Bu32.wrapping_mul(0xA5CB_9243), 1);
        assert_eq!(0xC2B2_AE35u32.wrapping_mul(0x7ED1_B41D), 1);
        let mut x = 0x1234_5678u32;
        for i in 0..200_000u32 {
            x = x.wrapping_mul(0x9E37_79B9).wrapping_add(i);
            assert_eq!(unmix32(mix32(x)), x);
        }
        for port in 0..=u32::from(u16::MAX) {
            assert_eq!(unmix32(mix32(port ^ 0xDEAD_BEEF)) ^ 0xDEAD_BEEF, port);
        }
    }

    #[test]
    fn pairs_differ_by_each_part() {
        let h = AddrHasher::new(Some(7));
        let v4 = |a: u32| crate::AddrKey::from_ipv4_octets(a.to_be_bytes()).bits();
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
        let hs: Vec<u64> = (0..4).map(|p| h.source(a, 0, p)).collect();
        for i in 0..4 {
            for j in i + 1..4 {
                assert_ne!(hs[i], hs[j], "{i} {j}");
                // The fingerprint (low 32 bits) and the buckets differ too.
                assert_ne!(hs[i] as u32, hs[j] as u32, "{i} {j}");
            }
        }
        assert_ne!(h.second(a, 0, 0), hs[0], "a second identity");
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
                crate::AddrKey::from_ipv4_octets((0xC0A8_0000 + t).to_be_bytes()).bits(),
                80 << 2,
            );
            buckets[((p >> 40) & 63) as usize] += 1;
        }
        let (lo, hi) = (buckets.iter().min().unwrap(), buckets.iter().max().unwrap());
        assert!(*lo > 800 && *hi < 1200, "{lo}..{hi}");
    }
}
