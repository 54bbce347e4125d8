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

/// What one options or data record declared, field by field.
#[derive(Default)]
pub(super) struct Declared {
    /// One packet in N.
    pub(super) one_in: Option<u64>,
    /// PSAMP's packets taken in a row.
    pub(super) packet_interval: Option<u64>,
    /// PSAMP's packets skipped in a row.
    pub(super) packet_space: Option<u64>,
    /// Packets taken out of each population.
    pub(super) size: Option<u64>,
    /// Packets each sample is taken from.
    pub(super) population: Option<u64>,
    /// Each packet's chance of being taken.
    pub(super) probability: Option<f64>,
}

impl Declared {
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
        let none = Declared::default();
        assert_eq!(none.interval(), None);
        assert!(!none.any());
        let form = |d: Declared| (d.any(), d.interval());
        assert_eq!(
            form(Declared {
                one_in: Some(100),
                ..Declared::default()
            }),
            (true, Some(100))
        );
        // softflowd -s 4 in IPFIX: one taken, three skipped.
        let psamp = |taken, skipped| Declared {
            packet_interval: Some(taken),
            packet_space: skipped,
            ..Declared::default()
        };
        assert_eq!(form(psamp(1, Some(3))), (true, Some(4)));
        assert_eq!(form(psamp(2, Some(0))), (true, None), "every packet taken");
        assert_eq!(
            form(psamp(0, Some(9))),
            (true, None),
            "nothing taken gives no ratio"
        );
        assert_eq!(form(psamp(64, None)), (true, Some(64)));
        assert_eq!(
            form(Declared {
                size: Some(5),
                population: Some(1000),
                ..Declared::default()
            }),
            (true, Some(200))
        );
        let chance = |p| {
            form(Declared {
                probability: Some(p),
                ..Declared::default()
            })
        };
        assert_eq!(chance(0.001), (true, Some(1000)));
        assert_eq!(chance(f64::NAN), (true, None));
        assert_eq!(chance(1e-300), (true, Some(u32::MAX)), "saturates");
        assert_eq!(
            form(Declared {
                one_in: Some(1),
                probability: Some(0.5),
                ..Declared::default()
            }),
            (true, None),
            "1 in 1 is no sampling, and comes first"
        );
    }
}
