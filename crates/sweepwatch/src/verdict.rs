//! Verdicts: what the detector reports about a source that sweeps or scans.

use crate::event::{Protocol, Technique, Timestamp};
use std::net::{IpAddr, Ipv4Addr};

/// The most ports a verdict lists.
pub const MAX_VERDICT_PORTS: usize = 8;
/// The most targets a verdict samples.
pub const MAX_VERDICT_SAMPLE: usize = 4;

/// What kind of reconnaissance a verdict reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// One port (or a few) probed across many hosts, with failures.
    PortSweep,
    /// Many ports of one host (or of very few hosts) probed, with failures.
    PortScan,
    /// A home host whose first contacts to external hosts mostly fail: the mark of
    /// a bot or worm looking for victims.
    OutboundSweep,
    /// ICMP echo requests across many hosts, mostly unanswered.
    IcmpSweep,
}

impl Kind {
    /// Every kind, in numeric order.
    pub const ALL: [Kind; 4] = [
        Kind::PortSweep,
        Kind::PortScan,
        Kind::OutboundSweep,
        Kind::IcmpSweep,
    ];

    /// The snake-case name used in JSON output (`port_sweep`, `port_scan`,
    /// `outbound_sweep`, `icmp_sweep`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(sweepwatch::Kind::OutboundSweep.as_str(), "outbound_sweep");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::PortSweep => "port_sweep",
            Kind::PortScan => "port_scan",
            Kind::OutboundSweep => "outbound_sweep",
            Kind::IcmpSweep => "icmp_sweep",
        }
    }

    pub(crate) const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Where the source and its targets sit relative to the home networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Home source, external target.
    Outbound,
    /// External source, home target.
    Inbound,
    /// Home source, home target.
    Internal,
    /// Neither side in the home networks.
    External,
}

impl Direction {
    /// The lower-case name used in JSON output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
            Direction::Internal => "internal",
            Direction::External => "external",
        }
    }

    /// The direction of an attempt from a host that is (or is not) at home to a
    /// target that is (or is not) at home.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch::Direction;
    /// assert_eq!(Direction::of(true, false), Direction::Outbound);
    /// assert_eq!(Direction::of(false, true), Direction::Inbound);
    /// ```
    pub const fn of(src_home: bool, dst_home: bool) -> Self {
        match (src_home, dst_home) {
            (true, false) => Direction::Outbound,
            (false, true) => Direction::Inbound,
            (true, true) => Direction::Internal,
            (false, false) => Direction::External,
        }
    }
}

/// A decision that a source sweeps or scans, describing one protocol's probes.
///
/// Every count is of distinct first contacts up to `ts`: exact up to 64 hosts,
/// 64 ports and 64 probes; above, what the source did at least (estimates
/// less 3.1 standard errors, which overstated the truth 7 times in 100,000
/// trials and understate it by 11% on average), never above the probes
/// seen. A repeat of a (target, port) pair never adds to them while they are
/// exact, nor to the outcome counts while the source has probed at most 64
/// pairs. Within an episode no count of a later verdict is below an earlier
/// one's.
///
/// Fixed-size and `Copy`: the detector builds it on the stack and hands a
/// reference to the callback, so delivering one never allocates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// What was seen.
    pub kind: Kind,
    /// The scanning host.
    pub src: IpAddr,
    /// Where the source and most of its targets sit.
    pub direction: Direction,
    /// Protocol of every probe the verdict describes.
    pub proto: Protocol,
    /// Main destination ports, most probed first; see [`ports`](Verdict::ports).
    pub port_list: [u16; MAX_VERDICT_PORTS],
    /// How many entries of `port_list` are in use.
    pub n_ports: u8,
    /// Distinct target hosts.
    pub targets: u32,
    /// Distinct destination ports.
    pub ports_count: u32,
    /// First contacts that failed: refused plus unanswered. This and the other
    /// counts start at the source's first failed first contact of the episode
    /// (when its evidence record is taken), as do the target and port counts.
    pub failed: u32,
    /// First contacts that succeeded.
    pub succeeded: u32,
    /// First contacts that got no answer (a subset of `failed`).
    pub unanswered: u32,
    /// Distinct (target, port) attempts seen from the source when deciding,
    /// including those whose outcome is not known yet; at least `failed +
    /// succeeded`. Within an episode no count of a later verdict is below an
    /// earlier one's.
    pub probes: u32,
    /// When the source was first seen in this episode (second resolution).
    pub first_seen: Timestamp,
    /// Capture time of the attempt that decided; for a final extent, of the
    /// source's latest first contact (second resolution).
    pub ts: Timestamp,
    /// The latest distinct failed targets; see [`sample`](Verdict::sample).
    pub sample_list: [IpAddr; MAX_VERDICT_SAMPLE],
    /// How many entries of `sample_list` are in use.
    pub n_sample: u8,
    /// Log-likelihood ratio of "scanner" against "benign" when deciding, in nats;
    /// the default decision threshold is ln 99 ≈ 4.6.
    pub score: f32,
    /// The technique most of the probes used.
    pub technique: Technique,
    /// True for a final extent: the source's evidence as its episode ended,
    /// after a verdict was reported, delivered when the source comes back
    /// after idling past its timeout, is pushed out, goes idle under
    /// [`Detector::advance`](crate::Detector::advance), or by
    /// [`Detector::flush`](crate::Detector::flush).
    pub is_final: bool,
    /// The source's zone ([`Event::zone`](crate::Event::zone)): 0 where
    /// addresses are unique.
    pub zone: u32,
    /// One packet in this many reached the input, where the input declared
    /// packet sampling (a flow exporter's sampling interval); 0 where it
    /// declared none. The detector never sets it: a front end that reads
    /// sampled telemetry does, so that every count above is read as a count
    /// of sampled probes, not of all of them.
    pub sampling: u32,
}

impl Verdict {
    /// The main destination ports, most probed first.
    ///
    /// # Examples
    /// ```
    /// # use sweepwatch::Verdict;
    /// let v = Verdict::empty();
    /// assert!(v.ports().is_empty());
    /// ```
    pub fn ports(&self) -> &[u16] {
        &self.port_list[..usize::from(self.n_ports).min(MAX_VERDICT_PORTS)]
    }

    /// Distinct targets whose first contact failed, most recent first.
    pub fn sample(&self) -> &[IpAddr] {
        &self.sample_list[..usize::from(self.n_sample).min(MAX_VERDICT_SAMPLE)]
    }

    /// A verdict with every count zero, for callers that need a placeholder.
    pub const fn empty() -> Self {
        const ZERO: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        Verdict {
            kind: Kind::PortSweep,
            src: ZERO,
            direction: Direction::External,
            proto: Protocol::Tcp,
            port_list: [0; MAX_VERDICT_PORTS],
            n_ports: 0,
            targets: 0,
            ports_count: 0,
            failed: 0,
            succeeded: 0,
            unanswered: 0,
            probes: 0,
            first_seen: Timestamp(0),
            ts: Timestamp(0),
            sample_list: [ZERO; MAX_VERDICT_SAMPLE],
            n_sample: 0,
            score: 0.0,
            technique: Technique::Syn,
            is_final: false,
            zone: 0,
            sampling: 0,
        }
    }
}
