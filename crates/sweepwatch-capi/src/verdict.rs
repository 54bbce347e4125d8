//! `sw_verdict`: a verdict as a plain C struct.

use super::event::{addr_bytes, sw_protocol, sw_technique};
use num_enum::{IntoPrimitive, TryFromPrimitive};
use sweepwatch::{Direction, Kind, Verdict, MAX_VERDICT_PORTS, MAX_VERDICT_SAMPLE};

/// What kind of reconnaissance a verdict reports (sw_verdict.kind).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoPrimitive, TryFromPrimitive)]
pub enum sw_kind {
    /// One port (or a few) probed across many hosts, with failures.
    PortSweep = 0,
    /// Many ports of one host (or of very few hosts) probed, with failures.
    PortScan = 1,
    /// A home host whose first contacts to external hosts mostly fail: the mark
    /// of a bot or worm looking for victims.
    OutboundSweep = 2,
    /// ICMP echo requests across many hosts, mostly unanswered.
    IcmpSweep = 3,
}

/// Where the source and its targets sit relative to the home networks
/// (sw_verdict.direction).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoPrimitive, TryFromPrimitive)]
pub enum sw_direction {
    /// Home source, external target.
    Outbound = 0,
    /// External source, home target.
    Inbound = 1,
    /// Home source, home target.
    Internal = 2,
    /// Neither side in the home networks.
    External = 3,
}

impl From<Kind> for sw_kind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::PortSweep => sw_kind::PortSweep,
            Kind::PortScan => sw_kind::PortScan,
            Kind::OutboundSweep => sw_kind::OutboundSweep,
            Kind::IcmpSweep => sw_kind::IcmpSweep,
        }
    }
}

impl From<Direction> for sw_direction {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Outbound => sw_direction::Outbound,
            Direction::Inbound => sw_direction::Inbound,
            Direction::Internal => sw_direction::Internal,
            Direction::External => sw_direction::External,
        }
    }
}

/// A decision that a source sweeps or scans, passed to the verdict callback.
///
/// The pointer the callback receives is valid only during the callback: copy
/// the struct (it holds no pointers) to keep it. Addresses are in network byte
/// order; an IPv4 address (family SW_FAMILY_IPV4) fills the first 4 bytes of
/// its array and the rest are zero. Enum fields are stored as `uint8_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct sw_verdict {
    /// Capture time of the attempt that decided, in microseconds since the Unix epoch.
    pub ts_us: u64,
    /// When the source was first seen in this episode, in microseconds since the Unix
    /// epoch (second resolution).
    pub first_seen_us: u64,
    /// A sw_kind value.
    pub kind: u8,
    /// A sw_direction value: where the source and most of its targets sit.
    pub direction: u8,
    /// A sw_protocol value: the protocol of every probe the verdict describes.
    pub proto: u8,
    /// Family of `src_addr`: SW_FAMILY_IPV4 or SW_FAMILY_IPV6.
    pub src_family: u8,
    /// The scanning host.
    pub src_addr: [u8; 16],
    /// Main destination ports, most probed first; `n_ports` are in use.
    pub ports: [u16; SW_MAX_VERDICT_PORTS],
    /// How many entries of `ports` are in use (at most SW_MAX_VERDICT_PORTS).
    pub n_ports: u8,
    /// How many entries of `sample_addrs` are in use (at most SW_MAX_VERDICT_SAMPLE).
    pub n_sample: u8,
    /// Families of `sample_addrs`.
    pub sample_families: [u8; SW_MAX_VERDICT_SAMPLE],
    /// Some targets whose first contact failed; `n_sample` are in use.
    pub sample_addrs: [[u8; 16]; SW_MAX_VERDICT_SAMPLE],
    /// Estimated distinct target hosts.
    pub targets: u32,
    /// Estimated distinct destination ports.
    pub ports_count: u32,
    /// First contacts that failed: refused plus unanswered. This and the other
    /// counts start at the source's first failed first contact of the episode
    /// (when its evidence record is taken), as do the target and port estimates.
    pub failed: u32,
    /// First contacts that succeeded.
    pub succeeded: u32,
    /// First contacts that got no answer (a subset of `failed`).
    pub unanswered: u32,
    /// Distinct (target, port) attempts seen from the source when deciding,
    /// including those whose outcome is not known yet; at least `failed +
    /// succeeded`. Within an episode (same source, protocol and
    /// `first_seen_us`) no count of a later verdict is below an earlier one's.
    pub probes: u32,
    /// Log-likelihood ratio of "scanner" against "benign" when deciding, in
    /// nats; the default decision threshold is ln 99, about 4.6.
    pub score: f32,
    /// A sw_technique value: the technique most of the probes used.
    pub technique: u8,
    /// 1 for a final extent: the source's evidence as its episode ended, after
    /// a verdict (delivered when the source comes back after idling past its
    /// timeout, is pushed out, goes idle under sw_detector_advance, or by
    /// sw_detector_flush); 0 for a verdict as decided.
    pub is_final: u8,
    /// The source's zone, as its events gave it (sw_event.zone).
    pub zone: u32,
}

/// The most ports a verdict lists (the size of sw_verdict.ports).
pub const SW_MAX_VERDICT_PORTS: usize = 8;
/// The most failed targets a verdict samples (the size of sw_verdict.sample_addrs).
pub const SW_MAX_VERDICT_SAMPLE: usize = 4;

// The C struct's arrays must hold everything a core verdict can carry.
const _: () = assert!(
    SW_MAX_VERDICT_PORTS == MAX_VERDICT_PORTS && SW_MAX_VERDICT_SAMPLE == MAX_VERDICT_SAMPLE
);

impl From<&Verdict> for sw_verdict {
    /// The C form of a verdict: no allocation, every field written.
    #[inline]
    fn from(v: &Verdict) -> Self {
        let (src_addr, src_family) = addr_bytes(v.src);
        let mut sample_addrs = [[0u8; 16]; MAX_VERDICT_SAMPLE];
        let mut sample_families = [0u8; MAX_VERDICT_SAMPLE];
        let sample = v.sample();
        for ((a, f), ip) in sample_addrs
            .iter_mut()
            .zip(&mut sample_families)
            .zip(sample)
        {
            (*a, *f) = addr_bytes(*ip);
        }
        let ports = v.ports();
        let mut port_list = [0u16; MAX_VERDICT_PORTS];
        port_list[..ports.len()].copy_from_slice(ports);
        sw_verdict {
            ts_us: v.ts.as_micros(),
            first_seen_us: v.first_seen.as_micros(),
            kind: sw_kind::from(v.kind) as u8,
            direction: sw_direction::from(v.direction) as u8,
            proto: sw_protocol::from(v.proto) as u8,
            src_family,
            src_addr,
            ports: port_list,
            n_ports: ports.len() as u8,
            n_sample: sample.len() as u8,
            sample_families,
            sample_addrs,
            targets: v.targets,
            ports_count: v.ports_count,
            failed: v.failed,
            succeeded: v.succeeded,
            unanswered: v.unanswered,
            probes: v.probes,
            score: v.score,
            technique: sw_technique::from(v.technique) as u8,
            is_final: u8::from(v.is_final),
            zone: v.zone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each of the core's kinds and directions has the C value of the same
    /// name, and every C value is some core variant's.
    #[test]
    fn every_kind_and_direction_has_its_c_value() {
        let mut kinds = Vec::new();
        for k in Kind::ALL {
            let c = sw_kind::from(k);
            assert_eq!(format!("{c:?}"), format!("{k:?}"));
            assert_eq!(sw_kind::try_from(u8::from(c)), Ok(c));
            kinds.push(u8::from(c));
        }
        kinds.sort_unstable();
        let all_kinds: Vec<u8> = (0..=u8::MAX)
            .filter(|v| sw_kind::try_from(*v).is_ok())
            .collect();
        assert_eq!(kinds, all_kinds);
        let mut dirs = Vec::new();
        for d in [
            Direction::Outbound,
            Direction::Inbound,
            Direction::Internal,
            Direction::External,
        ] {
            let c = sw_direction::from(d);
            assert_eq!(format!("{c:?}"), format!("{d:?}"));
            dirs.push(u8::from(c));
        }
        dirs.sort_unstable();
        let all_dirs: Vec<u8> = (0..=u8::MAX)
            .filter(|v| sw_direction::try_from(*v).is_ok())
            .collect();
        assert_eq!(dirs, all_dirs);
    }
}
