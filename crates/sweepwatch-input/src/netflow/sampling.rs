//! The packet sampling an exporter declares, as one packet in N, from
//! whichever information elements it uses.
//!
//! | Elements (IPFIX id) | Meaning | One in |
//! |---|---|---|
//! | `samplingInterval` (34), `samplerRandomInterval` (50); v9's `SAMPLING_INTERVAL`, `FLOW_SAMPLER_RANDOM_INTERVAL` | one packet in N | N |
//! | `samplingPacketInterval` (305) with `samplingPacketSpace` (306) | PSAMP systematic count-based (RFC 5476): I packets taken, then S skipped | (I + S) / I |
//! | `samplingPacketInterval` (305) alone | read as one packet in I | I |
//! | `samplingSize` (309) with `samplingPopulation` (310) | n packets taken out of each N | N / n |
//! | `samplingProbability` (311) | each packet taken with probability p | 1 / p |
//!
//! Ratios are rounded to the nearest whole number; 1 (or less) is no
//! sampling. Time-based selection (307, 308) gives no packet ratio and is
//! not read.

/// What one options or data record declared.
#[derive(Default)]
pub(super) struct Declared {
    one_in: Option<u64>,
    packet_interval: Option<u64>,
    packet_space: Option<u64>,
    size: Option<u64>,
    population: Option<u64>,
    probability: Option<f64>,
}

impl Declared {
    /// One packet in N, for N of 1 to N.
    pub(super) fn one_in(&mut self, n: u64) {
        self.one_in = Some(n);
    }

    /// PSAMP's packets taken in a row.
    pub(super) fn packet_interval(&mut self, n: u64) {
        self.packet_interval = Some(n);
    }

    /// PSAMP's packets skipped in a row.
    pub(super) fn packet_space(&mut self, n: u64) {
        self.packet_space = Some(n);
    }

    /// Packets taken out of each population.
    pub(super) fn size(&mut self, n: u64) {
        self.size = Some(n);
    }

    /// Packets each sample is taken from.
    pub(super) fn population(&mut self, n: u64) {
        self.population = Some(n);
    }

    /// Each packet's chance of being taken.
    pub(super) fn probability(&mut self, p: f64) {
        self.probability = Some(p);
    }

    /// Whether the record said anything about sampling.
    pub(super) fn any(&self) -> bool {
        self.one_in.is_some()
            || self.packet_interval.is_some()
            || self.size.is_some()
            || self.probability.is_some()
    }

    /// One packet in N, for N > 1; `None` for no sampling, or what gives
    /// no ratio.
    pub(super) fn interval(&self) -> Option<u32> {
        let ratio = if let Some(n) = self.one_in {
            n as f64
        } else if let (Some(taken), Some(skipped)) = (self.packet_interval, self.packet_space) {
            if taken == 0 {
                return None;
            }
            (taken as f64 + skipped as f64) / taken as f64
        } else if let Some(n) = self.packet_interval {
            n as f64
        } else if let (Some(n), Some(of)) = (self.size, self.population) {
            if n == 0 {
                return None;
            }
            of as f64 / n as f64
        } else if let Some(p) = self.probability {
            if !(p > 0.0 && p <= 1.0) {
                return None;
            }
            1.0 / p
        } else {
            return None;
        };
        let n = ratio.round();
        (n >= 2.0).then(|| n.min(f64::from(u32::MAX)) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_gives_one_packet_in_n() {
        let mut d = Declared::default();
        assert_eq!(d.interval(), None);
        assert!(!d.any());
        d.one_in(100);
        assert_eq!(d.interval(), Some(100));

        // softflowd -s 4 in IPFIX: one taken, three skipped.
        let mut d = Declared::default();
        d.packet_interval(1);
        d.packet_space(3);
        assert!(d.any());
        assert_eq!(d.interval(), Some(4));
        let mut d = Declared::default();
        d.packet_interval(2);
        d.packet_space(0);
        assert_eq!(d.interval(), None, "every packet taken");
        let mut d = Declared::default();
        d.packet_interval(0);
        d.packet_space(9);
        assert_eq!(d.interval(), None, "nothing taken gives no ratio");
        let mut d = Declared::default();
        d.packet_interval(64);
        assert_eq!(d.interval(), Some(64));

        let mut d = Declared::default();
        d.size(5);
        d.population(1000);
        assert_eq!(d.interval(), Some(200));

        let mut d = Declared::default();
        d.probability(0.001);
        assert_eq!(d.interval(), Some(1000));
        d.probability(f64::NAN);
        assert_eq!(d.interval(), None);
        d.probability(1e-300);
        assert_eq!(d.interval(), Some(u32::MAX), "saturates");
        d.one_in(1);
        assert_eq!(d.interval(), None, "1 in 1 is no sampling");
    }
}
