//! A verdict's identity across aggregators, restarts and replays.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use sweepwatch::{AddrKey, Kind, Verdict};

/// The id of a verdict: a hash of its source (address, zone, protocol), its
/// kind, its episode (when the source was first seen in it), and its
/// growth level (the size it reports: targets of a sweep, ports of a scan;
/// a final extent has a level of its own). A replay of the same events
/// decides the same verdicts with the same ids, so an aggregator that takes
/// a partition over, or restarts from a checkpoint, skips those already
/// written.
///
/// # Examples
/// ```
/// use sweepwatch::Verdict;
/// use sweepwatch_nats::verdict_id;
/// let mut v = Verdict::empty();
/// v.targets = 5;
/// let first = verdict_id(&v);
/// v.targets = 50;
/// assert_ne!(verdict_id(&v), first);
/// v.targets = 5;
/// v.score = 7.0; // not part of the identity
/// assert_eq!(verdict_id(&v), first);
/// ```
pub fn verdict_id(v: &Verdict) -> u64 {
    // Fixed keys: ids must agree between processes; they are no secret.
    let mut h = SipHasher13::new_with_keys(0x7377_6565_7077_6174, 0x6368_2076_6572_6469);
    h.write(&AddrKey::from(v.src).bits().to_le_bytes());
    h.write_u32(v.zone);
    h.write_u8(v.proto as u8);
    h.write_u8(v.kind as u8);
    h.write_u64(v.first_seen.as_secs());
    h.write_u8(u8::from(v.is_final));
    let size = match v.kind {
        Kind::PortScan => v.ports_count,
        Kind::PortSweep | Kind::OutboundSweep | Kind::IcmpSweep => v.targets,
    };
    h.write_u32(if v.is_final { 0 } else { size });
    h.finish()
}
