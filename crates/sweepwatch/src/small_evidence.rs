//! The small evidence record: what a suspect's first few probes show, held
//! exactly in two cache lines. Most sources with a failure never probe more
//! than a handful of (target, port) pairs, so they need no sketches; a source
//! that outgrows this record, or is about to be reported, moves its evidence
//! to a large record ([`Evidence`](crate::evidence::Evidence)).

use crate::event::Technique;
use crate::evidence::Flag;

/// Distinct targets a small record holds.
pub(crate) const HOSTS: usize = 4;
/// Distinct destination ports a small record holds.
pub(crate) const PORTS: usize = 7;

/// A suspect's evidence while it has probed at most [`HOSTS`] targets on at
/// most [`PORTS`] ports: its pairs are bits of a targets × ports grid, so
/// every count is exact and a retried pair is known however late it comes.
#[derive(Clone, Copy, Debug, Default, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C)]
pub(crate) struct SmallEvidence {
    /// The source address as 128 bits (IPv4 mapped).
    pub key: u128,
    /// The distinct targets, in the order first probed; their addresses,
    /// so that a large record built from them has its sample of failed
    /// targets.
    pub hosts: [u128; HOSTS],
    /// Pairs probed: bit `h * PORTS + p` for target `h` and port `p`.
    pub probed: u32,
    /// Pairs whose outcome was counted, bits as in `probed`.
    pub resolved: u32,
    /// Index of the owning record in the table.
    pub owner: u32,
    /// The distinct destination ports, in the order first probed.
    pub ports: [u16; PORTS],
    /// Probes by technique ([`Technique::index`]).
    pub techniques: [u8; Technique::ALL.len()],
    pub n_hosts: u8,
    pub n_ports: u8,
    pub refused: u8,
    pub unanswered: u8,
    pub succeeded: u8,
    /// Probes to targets in the home networks, and to targets outside them.
    pub to_home: u8,
    pub to_away: u8,
    /// The protocol of the probes ([`Protocol::index`](crate::Protocol::index)).
    pub proto: u8,
    /// Whether the source was at home at its latest probe.
    pub src_home: Flag,
    /// The latest distinct failed targets, newest first: two bits each,
    /// indexes into `hosts`.
    pub sample: u8,
    pub n_sample: u8,
}

const _: () = assert!(std::mem::size_of::<SmallEvidence>() == 128);

/// Where a probe falls in a small record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Its pair's bit (target and port held, or room to hold them).
    Bit(u32),
    /// The record cannot hold it: too many targets or ports.
    Full,
}

impl SmallEvidence {
    /// Whether the record's lengths and owner stay within its arrays and
    /// a table of `records` records.
    pub(crate) fn is_sound(&self, records: usize) -> bool {
        usize::from(self.n_hosts) <= HOSTS
            && usize::from(self.n_ports) <= PORTS
            && usize::from(self.n_sample) <= HOSTS
            && (self.owner as usize) < records
    }

    /// True if this evidence is that of source `key`'s probes of protocol
    /// `proto`.
    #[inline]
    pub(crate) fn is_of(&self, key: u128, proto: u8) -> bool {
        self.key == key && self.proto == proto
    }

    /// Empties the record for source `key`'s probes of protocol `proto`,
    /// owned by table record `owner`.
    pub(crate) fn start(&mut self, owner: u32, key: u128, proto: u8) {
        *self = SmallEvidence {
            key,
            owner,
            proto,
            ..SmallEvidence::default()
        };
    }

    /// The bit of pair (`dst`, `port`) if it was probed; None if not (or
    /// the record cannot tell, being full).
    #[inline]
    pub(crate) fn known(&self, dst: u128, port: u16) -> Option<u32> {
        let h = self.hosts[..usize::from(self.n_hosts)]
            .iter()
            .position(|x| *x == dst)?;
        let p = self.ports[..usize::from(self.n_ports)]
            .iter()
            .position(|x| *x == port)?;
        let bit = (h * PORTS + p) as u32;
        (self.probed & (1 << bit) != 0).then_some(bit)
    }

    /// The bit of pair (`dst`, `port`), adding the target and port if they
    /// are new and fit.
    #[inline]
    pub(crate) fn place(&mut self, dst: u128, port: u16) -> Place {
        let nh = usize::from(self.n_hosts);
        let np = usize::from(self.n_ports);
        let h = self.hosts[..nh].iter().position(|x| *x == dst);
        let p = self.ports[..np].iter().position(|x| *x == port);
        if (h.is_none() && nh == HOSTS) || (p.is_none() && np == PORTS) {
            return Place::Full;
        }
        let h = h.unwrap_or_else(|| {
            self.hosts[nh] = dst;
            self.n_hosts += 1;
            nh
        });
        let p = p.unwrap_or_else(|| {
            self.ports[np] = port;
            self.n_ports += 1;
            np
        });
        Place::Bit((h * PORTS + p) as u32)
    }

    /// Failed probes counted.
    #[inline]
    pub(crate) fn failed(&self) -> u32 {
        u32::from(self.refused) + u32::from(self.unanswered)
    }

    /// Counted outcomes on the `p`th port.
    pub(crate) fn port_outcomes(&self, p: usize) -> u32 {
        (0..HOSTS)
            .filter(|h| self.resolved & (1 << (h * PORTS + p)) != 0)
            .count() as u32
    }

    /// Puts target `h` (an index into `hosts`) first among the latest
    /// distinct failed targets.
    #[inline]
    pub(crate) fn add_sample(&mut self, h: u8) {
        let n = usize::from(self.n_sample);
        let mut list = [0u8; HOSTS];
        for (i, x) in list.iter_mut().enumerate().take(n) {
            *x = (self.sample >> (2 * i)) & 3;
        }
        let end = match list[..n].iter().position(|x| *x == h) {
            Some(i) => i,
            None => {
                self.n_sample += 1;
                n
            }
        };
        list.copy_within(..end, 1);
        list[0] = h;
        self.sample = list
            .iter()
            .enumerate()
            .fold(0, |acc, (i, x)| acc | (x << (2 * i)));
    }

    /// The latest distinct failed targets' indexes, newest first.
    pub(crate) fn sample(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        (0..usize::from(self.n_sample)).map(|i| usize::from((self.sample >> (2 * i)) & 3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_exact_until_the_grid_is_full() {
        let mut s = SmallEvidence::default();
        assert_eq!(s.known(1, 22), None);
        let Place::Bit(b) = s.place(1, 22) else {
            panic!("room")
        };
        s.probed |= 1 << b;
        assert_eq!(s.known(1, 22), Some(b));
        assert_eq!(s.known(1, 23), None, "the port is new");
        assert_eq!(s.known(2, 22), None, "the target is new");
        for h in 2..=HOSTS as u128 {
            assert!(matches!(s.place(h, 22), Place::Bit(_)));
        }
        assert_eq!(s.place(99, 22), Place::Full, "a fifth target");
        for p in 23..23 + PORTS as u16 - 1 {
            assert!(matches!(s.place(1, p), Place::Bit(_)));
        }
        assert_eq!(s.place(1, 80), Place::Full, "an eighth port");
        // Every cell of the grid has its own bit.
        let mut seen = 0u32;
        for h in 1..=HOSTS as u128 {
            for p in 22..22 + PORTS as u16 {
                let Place::Bit(b) = s.place(h, p) else {
                    panic!("held")
                };
                assert_eq!(seen & (1 << b), 0);
                seen |= 1 << b;
            }
        }
        assert_eq!(seen.count_ones() as usize, HOSTS * PORTS);
    }

    #[test]
    fn the_sample_keeps_the_latest_distinct_targets() {
        let mut s = SmallEvidence::default();
        for h in [0u8, 1, 2, 1, 3, 3] {
            s.add_sample(h);
        }
        assert_eq!(s.sample().collect::<Vec<_>>(), [3, 1, 2, 0]);
    }
}
