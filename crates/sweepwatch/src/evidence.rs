//! The large evidence record ([`Evidence`], 1 KiB) of a source that looks
//! suspicious: its distinct targets and ports, counts, main ports, a sample
//! of failed targets and its reporting history. The records live in the
//! [`EvidencePool`](crate::evidence_pool::EvidencePool). A source takes a
//! small record
//! ([`SmallEvidence`](crate::small_evidence::SmallEvidence), 128 bytes) at its first failed first contact; its
//! evidence counts from there. One that probes more than a few targets or
//! ports, or is about to be reported, moves to a large record ([`Evidence`],
//! 1 KiB), whose distinct counts are exact up to 64 and estimated above.
//! Both are exact while small, so that decisions near the thresholds and the
//! counts a verdict states never take a repeat for new.

use crate::distinct::Distinct;
use crate::event::{Protocol, Technique};
use crate::top_ports::TopPorts;
use crate::verdict::{Direction, Kind, Verdict, MAX_VERDICT_SAMPLE};

/// Distinct target hosts: exact up to 64, then HyperLogLog with 512 registers.
pub(crate) type Hosts = Distinct<64>;
/// Distinct destination ports: exact up to 64, then HyperLogLog with 512 registers.
pub(crate) type Ports = Distinct<64>;
/// Distinct (target, port) pairs probed: exact up to 64, then HyperLogLog with
/// 512 registers. While exact they also keep repeats out of the evidence.
pub(crate) type Pairs = Distinct<64>;
/// Which of the pairs in [`Pairs`] (by their place there, while it is exact)
/// had their outcome counted: keeps retries of them out of the walk and the
/// counts for the source's first 64 pairs, however far apart in time; above,
/// the first-contact filter alone does (one dedup period).
pub(crate) type Resolved = u64;

/// The evidence against one suspicious source, for one protocol: a verdict
/// describes the probes of one protocol only.
#[derive(Clone, Copy, Debug, Default, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C)]
pub(crate) struct Evidence {
    /// The source address as 128 bits (IPv4 mapped).
    pub key: u128,
    /// Distinct target hosts.
    pub hosts: Hosts,
    /// Distinct destination ports.
    pub ports: Ports,
    /// Distinct (target, port) pairs probed.
    pub probes: Pairs,
    /// The source's zone ([`Event::zone`](crate::Event::zone)).
    pub zone: u32,
    /// Which pairs of `probes` had their outcome counted, bit `i` for the
    /// `i`th pair added.
    pub resolved: Resolved,
    /// Index of the owning record in the table.
    pub owner: u32,
    pub refused: u32,
    pub unanswered: u32,
    pub succeeded: u32,
    /// Probes to targets in the home networks, and to targets outside them.
    pub to_home: u32,
    pub to_away: u32,
    /// When the last verdict about the source was delivered (shard seconds).
    pub last_report: u32,
    /// The size that verdict gave.
    pub last_targets: u32,
    /// Probes by technique ([`Technique::index`]).
    pub techniques: [u16; Technique::ALL.len()],
    pub top: TopPorts,
    /// One bit per verdict kind already reported this suppression period.
    pub reported: u8,
    pub n_sample: u8,
    /// The protocol of the probes ([`Protocol::index`](crate::Protocol::index)).
    pub proto: u8,
    /// Whether the source was at home at its latest probe.
    pub src_home: Flag,
    /// A verdict was delivered in this episode and its final extent not yet.
    pub extent_due: Flag,
    /// Always 0, as is `_pad2`: padding made fields, so that the record is
    /// plain bytes.
    _pad1: [u8; 3],
    /// The largest counts delivered in this episode, below which no later
    /// verdict's estimates may fall.
    pub shown: Shown,
    /// Destination ports counted in the port map (while it has one).
    pub map_ports: u32,
    /// Index + 1 of the pool's exact port map holding the ports, once
    /// there were more than the counter holds exactly; 0 if none.
    pub port_map: u16,
    _pad2: u16,
    /// The first-contact filter's generations retired when this evidence
    /// was taken (its low 32 bits): while none has been since, every outcome
    /// counted was of a distinct pair.
    pub since: u32,
    /// The latest distinct failed targets, newest first.
    pub sample: [u128; MAX_VERDICT_SAMPLE],
}

/// A yes-or-no field of a pooled record, held in a byte so that every record
/// is plain bytes: a saved state is read straight into the pool, and any
/// byte there is a valid value (anything but 0 reads as yes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(transparent)]
pub(crate) struct Flag(u8);

impl Flag {
    pub(crate) const NO: Flag = Flag(0);
    pub(crate) const YES: Flag = Flag(1);

    #[inline]
    pub(crate) const fn new(yes: bool) -> Flag {
        Flag(yes as u8)
    }

    #[inline]
    pub(crate) const fn get(self) -> bool {
        self.0 != 0
    }
}

/// Counts a source's verdicts have stated in its current episode: its
/// evidence only grows, so no later verdict states less, whatever an
/// estimate does as it takes more items.
#[derive(Clone, Copy, Debug, Default, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C)]
pub(crate) struct Shown {
    pub hosts: u32,
    pub ports: u32,
    pub probes: u32,
    pub failed: u32,
    pub succeeded: u32,
}

impl Shown {
    /// The counts `v` states.
    pub(crate) fn of(v: &Verdict) -> Shown {
        Shown {
            hosts: v.targets,
            ports: v.ports_count,
            probes: v.probes,
            failed: v.failed,
            succeeded: v.succeeded,
        }
    }
}

impl Evidence {
    /// Empties the record for source `key`'s probes of protocol `proto`,
    /// owned by table record `owner`. Writes only what an empty record reads:
    /// the counters' headers, not the kilobyte of items and registers behind
    /// them, which taking an entry would otherwise rewrite each time.
    pub(crate) fn start(&mut self, owner: u32, key: u128, proto: u8) {
        self.keep_reports(owner, key, proto, 0, 0, 0);
    }

    /// Empties the record as [`start`](Self::start) does, keeping a
    /// reporting history: kinds `reported`, when (`last_report`) and at what
    /// size (`last_targets`).
    pub(crate) fn keep_reports(
        &mut self,
        owner: u32,
        key: u128,
        proto: u8,
        reported: u8,
        last_report: u32,
        last_targets: u32,
    ) {
        self.key = key;
        self.hosts.clear();
        self.ports.clear();
        self.probes.clear();
        self.resolved = 0;
        self.owner = owner;
        self.refused = 0;
        self.unanswered = 0;
        self.succeeded = 0;
        self.to_home = 0;
        self.to_away = 0;
        self.last_report = last_report;
        self.last_targets = last_targets;
        self.techniques = [0; Technique::ALL.len()];
        self.top = TopPorts::default();
        self.reported = reported;
        self.n_sample = 0;
        self.proto = proto;
        self.src_home = Flag::NO;
        self.extent_due = Flag::NO;
        self.shown = Shown::default();
        self.port_map = 0;
        self.map_ports = 0;
    }

    /// Whether the record's lengths and links stay within its arrays, the
    /// pool's `maps` port maps and a table of `records` records.
    pub(crate) fn is_sound(&self, records: usize, maps: usize) -> bool {
        self.hosts.is_sound()
            && self.ports.is_sound()
            && self.probes.is_sound()
            && self.top.is_sound()
            && usize::from(self.n_sample) <= MAX_VERDICT_SAMPLE
            && (self.owner as usize) < records
            && usize::from(self.port_map) <= maps
    }

    /// Puts `target` first among the most recent distinct failed targets, so a
    /// verdict's sample shows what the source was doing when it was decided.
    #[inline]
    pub(crate) fn add_sample(&mut self, target: u128) {
        let n = usize::from(self.n_sample);
        let end = match self.sample[..n].iter().position(|t| *t == target) {
            Some(i) => i,
            None if n < MAX_VERDICT_SAMPLE => {
                self.n_sample += 1;
                n
            }
            None => MAX_VERDICT_SAMPLE - 1,
        };
        self.sample.copy_within(..end, 1);
        self.sample[0] = target;
    }

    /// The technique most probes used (the earlier one among equals).
    pub(crate) fn technique(&self) -> Technique {
        let mut best = 0;
        for (i, n) in self.techniques.iter().enumerate() {
            if *n > self.techniques[best] {
                best = i;
            }
        }
        Technique::ALL[best]
    }
}

/// What a source's evidence shows, in the counts a verdict states.
pub(crate) struct Extent {
    pub kind: Kind,
    pub direction: Direction,
    pub proto: Protocol,
    pub hosts: u32,
    pub ports: u32,
    pub probes: u32,
    pub failed: u32,
    /// The count its kind is judged by: ports for a scan, hosts otherwise.
    pub size: u32,
}

impl Extent {
    /// The extent of `e`; `dst_home` breaks a tie between probes to home and
    /// elsewhere. `once_each`: every outcome counted was of a distinct pair.
    pub(crate) fn of(e: &Evidence, dst_home: bool, once_each: bool) -> Extent {
        // Above the exact range, counts a verdict can stand by: lower bounds
        // that overstate about once in ten thousand. Outcomes are counted once
        // per pair while the pairs are held exactly; above 64 pairs, once per
        // pair the first-contact filter has not forgotten. While it has
        // forgotten none they count distinct pairs, so the probes are at
        // least that many; after, they may count a pair twice, and the
        // probes are the bound alone.
        let failed = e.refused.saturating_add(e.unanswered);
        let low = e.probes.at_least().max(1);
        let probes = match once_each {
            true => low.max(failed.saturating_add(e.succeeded)),
            false => low,
        };
        let hosts = e.hosts.at_least().clamp(1, probes);
        // A port map counts every port exactly.
        let ports_exact = e.port_map != 0 || e.ports.is_exact();
        let ports = match e.port_map {
            0 => e.ports.at_least(),
            _ => e.map_ports,
        }
        .clamp(1, probes);
        let dst_home = match e.to_home.cmp(&e.to_away) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => dst_home,
        };
        let direction = Direction::of(e.src_home.get(), dst_home);
        let proto = Protocol::from_index(e.proto);
        // Many ports of few hosts is a port scan; a source touching many
        // hosts is a sweep. While both counts are exact they are compared as
        // they stand; once either is an estimate (a few percent off, and
        // keyed by the hash seed), ports must be at least twice the hosts, a
        // margin of many standard errors, so that a source touching about as
        // many hosts as ports (a peer-to-peer client, a worm picking hosts
        // and ports at random) is a sweep under every seed.
        let scan = if e.hosts.is_exact() && ports_exact {
            ports > hosts
        } else {
            u64::from(ports) >= 2 * u64::from(hosts)
        };
        let (kind, size) = if scan {
            (Kind::PortScan, ports)
        } else if direction == Direction::Outbound {
            (Kind::OutboundSweep, hosts)
        } else if proto == Protocol::Icmp {
            (Kind::IcmpSweep, hosts)
        } else {
            (Kind::PortSweep, hosts)
        };
        Extent {
            kind,
            direction,
            proto,
            hosts,
            ports,
            probes,
            failed,
            size,
        }
    }
}
