//! Small fixed-size sketches: 64-bit linear counters and a top-ports list.

/// Estimated distinct items in a 64-bit linear-counting bitmap (Whang et al.):
/// `-m ln(zero bits / m)`. Within about 10% up to ~40 items; a full bitmap gives
/// its ceiling, `64 ln 64 ≈ 266`, which the caller must treat as "at least".
#[inline]
pub(crate) fn lc64(bits: u64) -> f64 {
    let zeros = bits.count_zeros();
    if zeros == 0 {
        64.0 * 64f64.ln()
    } else {
        -64.0 * (f64::from(zeros) / 64.0).ln()
    }
}

/// Bit for an item with 64-bit hash `h` (its top six bits).
#[inline]
pub(crate) fn bit_of(h: u64) -> u64 {
    1u64 << (h >> 58)
}

/// A bitmap this full has lost its precision; estimates fall back on the count
/// of distinct pairs.
const SATURATED_ZEROS: u32 = 8;

/// What a source's evidence record knows about its targets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    /// Linear-counting bitmap of distinct target hosts.
    pub hosts: u64,
    /// Linear-counting bitmap of distinct destination ports.
    pub ports: u64,
    /// Exact count of distinct (host, port) pairs.
    pub pairs: u32,
    /// Exact count of distinct ports, while it is known (up to seven).
    pub exact_ports: Option<u32>,
    /// True if every failed target was one host.
    pub one_failed_host: bool,
}

/// Distinct hosts and ports of a source. Exact where one side has a single
/// value (a one-port sweep or a one-host scan, the common cases at the decision
/// thresholds) and ports while few; otherwise linear counting, and pairs divided
/// by the other side once a bitmap saturates. A single bit set in a bitmap
/// alone is not taken for a single value: two values share a bit one time in 64.
pub(crate) fn dimensions(s: &Shape) -> (u32, u32) {
    let pairs = s.pairs.max(1);
    if s.hosts.count_ones() <= 1 && s.one_failed_host {
        return (1, pairs);
    }
    let one_port = match s.exact_ports {
        Some(n) => n <= 1,
        None => s.ports.count_ones() <= 1,
    };
    if one_port {
        return (pairs, 1);
    }
    let mut h = lc64(s.hosts);
    let mut p = s.exact_ports.map_or_else(|| lc64(s.ports), f64::from);
    if s.hosts.count_zeros() <= SATURATED_ZEROS {
        h = h.max(f64::from(pairs) / p);
    }
    if s.exact_ports.is_none() && s.ports.count_zeros() <= SATURATED_ZEROS {
        p = p.max(f64::from(pairs) / h);
    }
    let cap = f64::from(pairs);
    (
        h.min(cap).round().max(1.0) as u32,
        p.min(cap).round().max(1.0) as u32,
    )
}

/// The eight most probed ports of a source (Space-Saving: a new port replaces
/// the least counted and inherits its count, so heavy ports are never lost).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct TopPorts {
    ports: [u16; 8],
    counts: [u16; 8],
    len: u8,
}

impl TopPorts {
    /// How many distinct ports were added, while fewer than eight were.
    #[inline]
    pub(crate) fn distinct(&self) -> Option<u32> {
        (usize::from(self.len) < self.ports.len()).then_some(u32::from(self.len))
    }

    #[inline]
    pub(crate) fn add(&mut self, port: u16) {
        let n = usize::from(self.len);
        if let Some(i) = self.ports[..n].iter().position(|p| *p == port) {
            self.counts[i] = self.counts[i].saturating_add(1);
            return;
        }
        if n < self.ports.len() {
            self.ports[n] = port;
            self.counts[n] = 1;
            self.len += 1;
            return;
        }
        // Among equal counts the newest entry goes, so the first ports seen stay.
        let (i, _) = self
            .counts
            .iter()
            .enumerate()
            .rev()
            .min_by_key(|(_, c)| **c)
            .expect("eight entries");
        self.ports[i] = port;
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    /// Writes the ports, most counted first, into `out`; returns how many.
    pub(crate) fn sorted_into(&self, out: &mut [u16; 8]) -> u8 {
        let n = usize::from(self.len);
        let mut idx = [0usize, 1, 2, 3, 4, 5, 6, 7];
        // Stable for equal counts: the earlier port stays first.
        idx[..n].sort_by_key(|&i| std::cmp::Reverse(self.counts[i]));
        for (o, &i) in out.iter_mut().zip(&idx[..n]) {
            *o = self.ports[i];
        }
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed-seed generator for the accuracy tests (splitmix64).
    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn linear_counting_is_within_ten_percent_near_thresholds() {
        let mut seed = 7;
        // The decision thresholds: min_targets (5) up to scan.zeek's 25 hosts.
        for n in [5u32, 10, 15, 20, 25, 30] {
            let trials = 4000;
            let mut sq = 0.0;
            for _ in 0..trials {
                let mut bits = 0u64;
                for _ in 0..n {
                    bits |= bit_of(splitmix(&mut seed));
                }
                let rel = (lc64(bits) - f64::from(n)) / f64::from(n);
                sq += rel * rel;
            }
            let rms = (sq / f64::from(trials)).sqrt();
            assert!(rms <= 0.10, "n={n}: rms relative error {rms:.3}");
        }
    }

    #[test]
    fn dimensions_are_exact_for_one_port_or_one_host() {
        let mut seed = 1;
        let mut hosts = 0u64;
        for _ in 0..200 {
            hosts |= bit_of(splitmix(&mut seed));
        }
        let one = bit_of(splitmix(&mut seed));
        let shape = |hosts, ports, pairs, one_failed_host| Shape {
            hosts,
            ports,
            pairs,
            exact_ports: None,
            one_failed_host,
        };
        assert_eq!(dimensions(&shape(hosts, one, 200, false)), (200, 1));
        assert_eq!(dimensions(&shape(one, hosts, 1000, true)), (1, 1000));
        // Two hosts whose bits collide are not one host; three ports known
        // exactly are three.
        let two = Shape {
            exact_ports: Some(3),
            ..shape(one, hosts, 6, false)
        };
        assert_eq!(dimensions(&two), (1, 3));
    }

    #[test]
    fn dimensions_of_a_grid_are_close() {
        // 30 hosts x 3 ports, every pair probed.
        let mut seed = 3;
        let hs: Vec<u64> = (0..30).map(|_| splitmix(&mut seed)).collect();
        let ps: Vec<u64> = (0..3).map(|_| splitmix(&mut seed)).collect();
        let hosts = hs.iter().fold(0, |b, h| b | bit_of(*h));
        let ports = ps.iter().fold(0, |b, p| b | bit_of(*p));
        let (h, p) = dimensions(&Shape {
            hosts,
            ports,
            pairs: 90,
            exact_ports: None,
            one_failed_host: false,
        });
        assert!((24..=36).contains(&h), "hosts {h}");
        assert!((2..=4).contains(&p), "ports {p}");
    }

    #[test]
    fn top_ports_keep_the_heavy_ones() {
        let mut t = TopPorts::default();
        for i in 0..100u16 {
            t.add(445);
            t.add(1000 + i); // a long tail of one-off ports
            if i % 2 == 0 {
                t.add(139);
            }
        }
        let mut out = [0; 8];
        let n = t.sorted_into(&mut out);
        assert_eq!(n, 8);
        assert_eq!(out[0], 445);
        assert_eq!(out[1], 139);
    }
}
