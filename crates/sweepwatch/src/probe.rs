//! One event as the shards read it: addresses as keys, the hashes that place
//! it, and the engine's word on where its hosts sit, all computed once outside
//! the shard's lock.

use crate::config::Settings;
use crate::event::{Outcome, Protocol, Technique, Timestamp};

/// One event as the shards read it: addresses as 128-bit keys and the hashes
/// that place them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    pub ts: Timestamp,
    pub src: u128,
    pub dst: u128,
    pub dst_port: u16,
    pub proto: Protocol,
    pub outcome: Outcome,
    pub technique: Technique,
    /// The engine's own locality of each side ([`locality`]).
    pub local: u8,
    /// The addresses' leading-byte indexes, for address-set lookups.
    pub src_lead: u16,
    pub dst_lead: u16,
    pub h_src: u64,
    pub pair: u64,
    /// The address space of both addresses ([`Event::zone`](crate::Event::zone)).
    pub zone: u32,
    /// The originator's port: a UDP datagram from a reply port is a reply.
    pub src_port: u16,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            ts: Timestamp(0),
            src: 0,
            dst: 0,
            dst_port: 0,
            proto: Protocol::Other,
            outcome: Outcome::Unsolicited,
            technique: Technique::IpProtocol,
            local: 0,
            src_lead: 0,
            dst_lead: 0,
            h_src: 0,
            pair: 0,
            zone: 0,
            src_port: 0,
        }
    }
}

/// [`Probe::local`] bits: the engine says whether the source (`SRC_*`) and
/// the target (`DST_*`) are local.
const SRC_KNOWN: u8 = 1;
const SRC_LOCAL: u8 = 2;
const DST_KNOWN: u8 = 4;
const DST_LOCAL: u8 = 8;

/// The engine's locality of both sides as [`Probe::local`] bits.
#[inline]
pub(crate) fn locality(src: Option<bool>, dst: Option<bool>) -> u8 {
    // Known, then local, as two bits: computed, not matched, since every
    // event of a batch passes here.
    let side = |v: Option<bool>| v.map_or(0, |l| 1 | u8::from(l) << 1);
    side(src) | side(dst) << 2
}
const _: () = assert!(SRC_KNOWN == 1 && SRC_LOCAL == 2 && DST_KNOWN == 4 && DST_LOCAL == 8);

impl Probe {
    /// Whether the source is at home: the engine's word, else the home networks.
    pub(crate) fn src_home(&self, s: &Settings) -> bool {
        if self.local & SRC_KNOWN != 0 {
            self.local & SRC_LOCAL != 0
        } else {
            s.home.contains_key(self.src)
        }
    }

    /// Whether the target is at home: the engine's word, else the home networks.
    pub(crate) fn dst_home(&self, s: &Settings) -> bool {
        if self.local & DST_KNOWN != 0 {
            self.local & DST_LOCAL != 0
        } else {
            s.home.contains_key(self.dst)
        }
    }
}
