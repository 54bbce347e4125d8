//! The flow tracker: probes awaiting an answer, and flows whose outcome is
//! already known, both bounded, both aged by capture time alone.
//!
//! Probes live in a map keyed by their direction (originator → target) and in
//! one deadline queue per protocol, so each protocol's queue is in deadline
//! order for an ordered capture. An answered probe leaves a stale queue entry
//! behind, recognised by its sequence number and dropped when reached; the
//! queues are compacted when stale entries outnumber live ones.
//!
//! Stealth probes (TCP segments that open no connection: FIN, NULL, Xmas,
//! other flag sets without ACK, and ACK or FIN+ACK segments, which a
//! connection also sends) are held in the same map without an `Attempt`, and
//! reported once their outcome is known: an RST refuses any of them; silence
//! (their timeout) or an ICMP unreachable leaves FIN, NULL, Xmas and other
//! probes unanswered or refused, and ACK and Maimon segments nothing; any
//! other answer shows a connection picked up midstream, and drops them.
//!
//! Settled flows (answered, refused, unanswered, backscatter already
//! reported, connections picked up midstream) are remembered by their
//! unordered endpoint pair for a while so that retransmitted SYNs,
//! retransmitted SYN-ACKs, the RSTs that answer backscatter, the segments of
//! a connection and later datagrams of a UDP conversation are not mistaken
//! for new probes or new backscatter.

use super::packet::{Packet, Quoted, Transport};
use super::PcapOptions;
use crate::Emit;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use sweepwatch::{tcp, Event, Outcome, Protocol, Technique, Timestamp};

/// The flow tables: keys carry their hash, made once per packet (on the
/// decoding thread), so a table only reads it.
type Map<V> = HashMap<Key, V, nohash_hasher::BuildNoHashHasher<Key>>;

/// What a key's hash is changed by when its originator is the larger
/// endpoint: the two directions of a flow hash apart, and either is had
/// from the other without hashing again.
const REVERSED: u64 = 0x9e37_79b9_7f4a_7c15;

/// How long a settled flow is remembered after its last packet (the memory
/// bound still applies): long enough that a server's or a cloud's late close
/// of a connection its client abandoned minutes earlier is known as the close
/// of a flow, not taken for a stealth probe. Load balancers and brokers close
/// idle connections after 4 to 10 minutes (AWS's 350 s, Azure's 4 minutes,
/// the 335 to 605 s seen from a smart-lock hub's cloud).
const SETTLED_IDLE_US: u64 = 900_000_000;

/// Queue entries are compacted when they exceed the live probes plus this.
const COMPACT_SLACK: usize = 1024;

/// Heap bytes of a hash table reserved for `items` entries of `entry` bytes:
/// a power of two of buckets at most 7/8 full, each with its entry and one
/// control byte, and one group of control bytes more.
fn table_bytes(items: u64, entry: u64) -> u64 {
    let buckets = if items < 4 {
        4
    } else if items < 8 {
        8
    } else {
        (items.saturating_mul(8) / 7).next_power_of_two()
    };
    buckets.saturating_mul(entry + 1).saturating_add(16)
}

/// The most heap bytes a tracker of `max` flows takes: both tables, reserved
/// at twice `max` so they never grow; the settled flows' queue, reserved at
/// `max`; and the probe queues, within `max` live entries and as many stale
/// ones plus slack each, at twice that while growing.
pub(crate) fn tracker_bytes(max: u64) -> u64 {
    let due = std::mem::size_of::<Due>() as u64;
    let probe = std::mem::size_of::<(Key, PendingProbe)>() as u64;
    let settled = std::mem::size_of::<(Key, Settled)>() as u64;
    let twice = max.saturating_mul(2);
    let queues = max.saturating_add(1).saturating_mul(due).saturating_add(
        twice
            .saturating_add(4 * COMPACT_SLACK as u64)
            .saturating_mul(2 * due),
    );
    table_bytes(twice, probe)
        .saturating_add(table_bytes(twice, settled))
        .saturating_add(queues)
}

/// One direction of a flow: for ICMP echo, `oport` is the echo identifier and
/// `rport` 0. Addresses are held as 128-bit numbers (IPv4 mapped), so that
/// comparing keys, done for nearly every packet, is a few integer
/// operations. Made by [`Keys`], with its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    orig: u128,
    resp: u128,
    /// The seeded hash of the unordered endpoints, changed by [`REVERSED`]
    /// when the originator is the larger one: a function of the other
    /// fields, so equal keys have equal hashes.
    hash: u64,
    oport: u16,
    rport: u16,
    proto: Protocol,
    /// The flow's zone: its VLAN id when VLANs are zones, else 0.
    zone: u16,
}

/// The tables' hasher reads the hash the key carries.
impl nohash_hasher::IsEnabled for Key {}

/// Makes flow keys with their hashes, seeded at random for each tracker (a
/// flood cannot aim at one bucket). The decoding thread has a copy: it keys
/// packets as it decodes them, which takes the hashing off the tracker's
/// thread.
#[derive(Clone)]
pub(crate) struct Keys {
    state: ahash::RandomState,
    /// Whether a packet's outermost VLAN id is its flow's zone.
    vlan_zones: bool,
}

impl Keys {
    pub(crate) fn new(vlan_zones: bool) -> Self {
        Keys {
            state: ahash::RandomState::new(),
            vlan_zones,
        }
    }

    fn key(
        &self,
        orig: IpAddr,
        resp: IpAddr,
        (oport, rport): (u16, u16),
        proto: Protocol,
        zone: u16,
    ) -> Key {
        let (orig, resp) = (bits(orig), bits(resp));
        let mut k = Key {
            orig,
            resp,
            hash: 0,
            oport,
            rport,
            proto,
            zone,
        };
        let (a, b) = if k.flipped() {
            ((resp, rport), (orig, oport))
        } else {
            ((orig, oport), (resp, rport))
        };
        let mut h = self.state.build_hasher();
        h.write_u128(a.0);
        h.write_u128(b.0);
        h.write_u64(
            u64::from(a.1) | u64::from(b.1) << 16 | (proto as u64) << 32 | u64::from(zone) << 40,
        );
        k.hash = h.finish() ^ k.reversal();
        k
    }

    /// The key [`Tracker::keyed`] takes for `p`: for TCP and UDP the flow
    /// in the packet's direction, for echoes the request's, for ICMP errors
    /// the quoted packet's (an error comes back on its probe's VLAN).
    pub(crate) fn of(&self, p: &Packet) -> Key {
        let zone = if self.vlan_zones { p.vlan } else { 0 };
        match p.transport {
            Transport::Tcp { sport, dport, .. } => {
                self.key(p.src, p.dst, (sport, dport), Protocol::Tcp, zone)
            }
            Transport::Udp { sport, dport } => {
                self.key(p.src, p.dst, (sport, dport), Protocol::Udp, zone)
            }
            Transport::EchoRequest { id } => self.key(p.src, p.dst, (id, 0), Protocol::Icmp, zone),
            Transport::EchoReply { id } => self.key(p.dst, p.src, (id, 0), Protocol::Icmp, zone),
            Transport::Unreachable(q) | Transport::TimeExceeded(q) => {
                self.key(q.src, q.dst, (q.sport, q.dport), q.proto, zone)
            }
        }
    }
}

/// An address as a key holds it: an IPv4 address in its IPv4-mapped form.
fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address a key holds (IPv4-mapped ones as IPv4).
fn addr(bits: u128) -> IpAddr {
    let v6 = std::net::Ipv6Addr::from(bits);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

impl Key {
    /// The originator is the larger endpoint.
    fn flipped(&self) -> bool {
        (self.orig, self.oport) > (self.resp, self.rport)
    }

    /// What [`REVERSED`] contributes to this key's hash.
    fn reversal(&self) -> u64 {
        if self.flipped() {
            REVERSED
        } else {
            0
        }
    }

    fn reversed(self) -> Key {
        let mut k = Key {
            orig: self.resp,
            resp: self.orig,
            hash: 0,
            oport: self.rport,
            rport: self.oport,
            proto: self.proto,
            zone: self.zone,
        };
        k.hash = self.hash ^ self.reversal() ^ k.reversal();
        k
    }

    /// The same key for both directions of a flow.
    fn unordered(self) -> Key {
        if (self.orig, self.oport) <= (self.resp, self.rport) {
            self
        } else {
            self.reversed()
        }
    }
}

/// A probe awaiting an answer; its queue entry carries its deadline.
#[derive(Clone, Copy)]
struct PendingProbe {
    seq: u64,
    /// When it was sent: its outcome is reported at this time, not when the
    /// answer or the timeout came, so that outcomes reach the detector (after
    /// the reorder window) in the order the probes were made. Answers come
    /// in milliseconds and timeouts seconds later; reported at their own
    /// times, a burst would read as all its answers and then all its failures.
    sent: u64,
    /// How it was sent; a stealth technique's probe is held: no `Attempt`
    /// was reported for it.
    technique: Technique,
}

/// What became of a probe: an answer from its target, or its timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// A TCP RST from the target.
    Rst,
    /// A TCP SYN-ACK from the target.
    SynAck,
    /// Another TCP segment from the target, or one with data or of a
    /// connection from the prober itself.
    Segment,
    /// A UDP datagram or echo reply back.
    Reply,
    /// An ICMP destination unreachable quoting the probe.
    Unreachable,
    /// Its timeout passed, the tracker was full, or the capture ended.
    Timeout,
    /// An ICMP time exceeded from a router on the path: the probe never
    /// reached its target, which it then tells nothing about.
    TimeExceeded,
}

/// What to do with a probe given an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Report this outcome; the flow is settled.
    Report(Outcome),
    /// No probe after all (a connection picked up midstream, or an ACK or
    /// Maimon segment nobody refused): report nothing; the flow is settled.
    Drop,
    /// Not an answer: keep waiting.
    Wait,
}

fn fate(t: Technique, a: Answer) -> Fate {
    use Technique::{Ack, Fin, Maimon, Null, TcpOther, Xmas};
    let stealth = matches!(t, Fin | Null | Xmas | TcpOther);
    let ack = matches!(t, Ack | Maimon);
    match a {
        Answer::Rst => Fate::Report(Outcome::Refused),
        Answer::SynAck if stealth || ack => Fate::Drop,
        Answer::SynAck | Answer::Reply => Fate::Report(Outcome::Established),
        // A SYN answered otherwise (a challenge ACK): keep waiting, as before.
        Answer::Segment if stealth || ack => Fate::Drop,
        Answer::Segment => Fate::Wait,
        Answer::Unreachable | Answer::Timeout if ack => Fate::Drop,
        Answer::Unreachable => Fate::Report(Outcome::Refused),
        Answer::Timeout => Fate::Report(Outcome::Unanswered),
        Answer::TimeExceeded => Fate::Drop,
    }
}

/// A segment that opens no connection, held as a possible probe until its
/// answer tells (`Attempt` is never reported for it).
fn held(t: Technique) -> bool {
    use Technique::{Ack, Fin, Maimon, Null, TcpOther, Xmas};
    matches!(t, Fin | Null | Xmas | TcpOther | Ack | Maimon)
}

/// Whether a stealth-looking segment along `fwd` is rather the late close of
/// a connection the tracker no longer remembers: a FIN, ACK or FIN+ACK from a
/// lower port to a higher one, as a server's close goes to its client's
/// ephemeral port. nmap's FIN, ACK and Maimon probes come from a high source
/// port to the ports they probe; NULL, Xmas and other flag sets no
/// connection sends stay probes whatever their ports.
fn late_close(fwd: Key, t: Technique) -> bool {
    matches!(t, Technique::Fin | Technique::Ack | Technique::Maimon) && fwd.oport < fwd.rport
}

#[derive(Clone, Copy)]
struct Settled {
    last: u64,
    seq: u64,
}

/// A queue entry: `key`'s entry with sequence number `seq` is due at `due`.
struct Due {
    due: u64,
    seq: u64,
    key: Key,
}

/// TrackerCounts kept by the tracker beyond its events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrackerCounts {
    pub events: u64,
    pub evicted: u64,
    /// Probes still within their answer window when the input ended.
    pub pending: u64,
}

pub(crate) struct Tracker {
    timeouts: [u64; 3],
    settled_idle: u64,
    max: usize,
    /// Probes pending at the end are reported `Unanswered`.
    pending_unanswered: bool,
    probes: Map<PendingProbe>,
    /// Deadlines of probes, one queue per protocol (TCP, UDP, ICMP).
    due: [VecDeque<Due>; 3],
    settled: Map<Settled>,
    keys: Keys,
    settled_due: VecDeque<Due>,
    seq: u64,
    /// The latest capture time seen.
    clock: u64,
    /// No deadline in any queue is earlier than this: until the clock
    /// passes it, nothing can expire and the queues need not be looked at
    /// (most packets). Lowered by every push, raised after every expiry.
    wake: u64,
    /// Events made by the last packet (or deadline), for [`drain`](Self::drain):
    /// the tracker outlives any one input's receiver.
    out: Vec<Event>,
    pub counts: TrackerCounts,
}

fn queue(p: Protocol) -> usize {
    match p {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        _ => 2,
    }
}

/// Multicast and limited-broadcast destinations: service discovery and
/// address configuration, never a probe of one host.
fn is_group(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast(),
    }
}

impl Tracker {
    /// A tracker whose flow tables are allocated at their full size now, so
    /// that they never grow: its memory is bounded by
    /// [`PcapOptions::memory_bytes`] from the start.
    ///
    /// # Errors
    /// The memory for `max_flows` cannot be had.
    pub(crate) fn try_new(opts: &PcapOptions) -> Result<Self, String> {
        let us = |s: u32| u64::from(s) * 1_000_000;
        let timeouts = [
            us(opts.tcp_timeout_secs),
            us(opts.udp_timeout_secs),
            us(opts.icmp_timeout_secs),
        ];
        let max = opts.max_flows.max(1);
        let no_memory = |_| {
            format!(
                "the flow tracker's {} flows ({} bytes) cannot be allocated",
                max,
                opts.memory_bytes()
            )
        };
        // Twice the room: a table fuller than half, with deleted entries,
        // would grow when it rehashes, instead of rehashing in place.
        let mut probes = Map::default();
        probes.try_reserve(2 * max).map_err(no_memory)?;
        let mut settled = Map::default();
        settled.try_reserve(2 * max).map_err(no_memory)?;
        let mut settled_due = VecDeque::new();
        settled_due.try_reserve(max + 1).map_err(no_memory)?;
        Ok(Tracker {
            timeouts,
            settled_idle: timeouts.iter().copied().fold(SETTLED_IDLE_US, u64::max),
            max,
            pending_unanswered: opts.pending_unanswered,
            probes,
            due: Default::default(),
            settled,
            keys: Keys::new(opts.vlan_zones),
            settled_due,
            seq: 0,
            clock: 0,
            wake: u64::MAX,
            // A packet makes at most a few events.
            out: Vec::with_capacity(16),
            counts: TrackerCounts::default(),
        })
    }

    #[cfg(test)]
    pub(crate) fn new(opts: &PcapOptions) -> Self {
        Tracker::try_new(opts).expect("test tracker memory")
    }

    /// Hands the events made since the last call to `emit`, in order.
    #[inline]
    pub(crate) fn drain(&mut self, emit: Emit) {
        if self.out.is_empty() {
            return;
        }
        for ev in self.out.drain(..) {
            emit(ev);
        }
    }

    /// The latest capture time seen, in microseconds.
    pub(crate) fn clock(&self) -> u64 {
        self.clock
    }

    /// Capture time has reached `ts`: probes whose deadline it passed are
    /// unanswered, settled flows idle for long enough are forgotten.
    pub(crate) fn advance(&mut self, ts: u64) {
        if ts <= self.clock {
            return;
        }
        self.clock = ts;
        if self.wake >= ts {
            return;
        }
        self.expire_probes();
        self.expire_settled();
        let fronts = self.due.iter().chain([&self.settled_due]);
        self.wake = fronts
            .filter_map(|q| q.front().map(|d| d.due))
            .min()
            .unwrap_or(u64::MAX);
    }

    /// The keys this tracker's tables take, for the thread that decodes
    /// its packets.
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Handles one packet seen at `ts`; true if it produced an event.
    #[cfg(test)]
    pub(crate) fn packet(&mut self, ts: u64, p: &Packet) -> bool {
        let key = self.keys.of(p);
        self.keyed(ts, p, key)
    }

    /// Handles one packet seen at `ts`, whose key [`Keys::of`] made; true if
    /// it produced an event.
    pub(crate) fn keyed(&mut self, ts: u64, p: &Packet, key: Key) -> bool {
        match p.transport {
            Transport::Tcp { flags, data, .. } => {
                if flags & tcp::RST != 0 {
                    self.answer(ts, key, Answer::Rst)
                } else if flags & (tcp::SYN | tcp::ACK) == tcp::SYN | tcp::ACK {
                    self.answer(ts, key, Answer::SynAck)
                } else if flags & tcp::SYN != 0 {
                    self.request(ts, key, Technique::Syn)
                } else {
                    self.segment(ts, key, flags, data)
                }
            }
            Transport::Udp { .. } => {
                if let Some(reported) = self.resolve(ts, key.reversed(), Answer::Reply) {
                    return reported;
                }
                if is_group(p.dst) {
                    return false;
                }
                self.request(ts, key, Technique::Udp)
            }
            Transport::EchoRequest { .. } => {
                if is_group(p.dst) {
                    return false;
                }
                self.request(ts, key, Technique::IcmpEcho)
            }
            Transport::EchoReply { .. } => {
                if let Some(reported) = self.resolve(ts, key, Answer::Reply) {
                    return reported;
                }
                self.touch(key, ts);
                false
            }
            Transport::Unreachable(q) => self.unreachable(ts, p.src, q, key),
            Transport::TimeExceeded(_) => self.time_exceeded(ts, key),
        }
    }

    /// A packet that may start a probe (SYN, datagram, echo request, or a
    /// stealth segment, which is held without an `Attempt`).
    fn request(&mut self, ts: u64, key: Key, technique: Technique) -> bool {
        if self.touch(key, ts) {
            // More of a flow already settled.
            return false;
        }
        if key.proto == Protocol::Udp && crate::traceroute_port(key.rport) {
            // A traceroute probe: its answers tell of the path, not of a service.
            self.remember(key, ts);
            return false;
        }
        if self.probes.len() >= self.max {
            if self.probes.contains_key(&key) {
                return false;
            }
            self.evict_oldest();
        }
        let seq = self.seq + 1;
        match self.probes.entry(key) {
            // A retransmission.
            Entry::Occupied(_) => return false,
            Entry::Vacant(v) => {
                v.insert(PendingProbe {
                    seq,
                    sent: ts,
                    technique,
                });
            }
        }
        self.seq = seq;
        let due = ts.saturating_add(self.timeouts[queue(key.proto)]);
        self.due[queue(key.proto)].push_back(Due { due, seq, key });
        self.wake = self.wake.min(due);
        self.compact();
        if held(technique) {
            return false;
        }
        self.event(ts, key, Outcome::Attempt, technique);
        true
    }

    /// A SYN-ACK or RST sent along `fwd`: the answer to a probe in the other
    /// direction, more of a known flow, or backscatter.
    fn answer(&mut self, ts: u64, fwd: Key, answer: Answer) -> bool {
        let probe = fwd.reversed();
        if let Some(reported) = self.resolve(ts, probe, answer) {
            return reported;
        }
        if self.probes.contains_key(&fwd) || self.touch(fwd, ts) {
            // The originator giving up on its own probe, or a known flow.
            return false;
        }
        // Answers no probe of its receiver: the receiver's address was spoofed
        // in a flood, and the event is reported from the receiver's side.
        let t = Technique::for_protocol(probe.proto);
        self.event(ts, probe, Outcome::Unsolicited, t);
        self.remember(probe, ts);
        true
    }

    /// A TCP segment with neither SYN nor RST sent along `fwd`: more of a
    /// known flow, an answer that shows a connection, or a stealth probe.
    fn segment(&mut self, ts: u64, fwd: Key, flags: u8, data: bool) -> bool {
        if self.touch(fwd, ts) {
            // More of a settled flow or a known connection: the common case.
            return false;
        }
        // The target of a probe answering with something that is neither a
        // RST nor a SYN-ACK.
        if self.resolve(ts, fwd.reversed(), Answer::Segment).is_some() {
            return false;
        }
        let technique = Technique::from_tcp_flags(flags).filter(|t| held(*t));
        if let Some(p) = self.probes.get(&fwd) {
            // More from a prober: its probe again, or, for a stealth probe,
            // data or a connection's segment that show it is a connection.
            if held(p.technique) && (data || technique.is_none()) {
                self.resolve(ts, fwd, Answer::Segment);
            }
            return false;
        }
        match technique {
            Some(t) if !data && !late_close(fwd, t) => self.request(ts, fwd, t),
            _ => {
                // A connection picked up midstream: remember it, so that its
                // segments and its RSTs are known as such.
                self.remember(fwd, ts);
                false
            }
        }
    }

    /// An ICMP destination unreachable from `from` quoting `q`, whose key
    /// is `key`.
    fn unreachable(&mut self, ts: u64, from: IpAddr, q: Quoted, key: Key) -> bool {
        if let Some(reported) = self.resolve(ts, key, Answer::Unreachable) {
            return reported;
        }
        // The quoted destination may have been rewritten on the way (NAT,
        // anonymised traces); a target refusing for itself is still known by
        // its own address.
        if q.dst != from {
            let to_sender = self
                .keys
                .key(q.src, from, (q.sport, q.dport), q.proto, key.zone);
            if let Some(reported) = self.resolve(ts, to_sender, Answer::Unreachable) {
                return reported;
            }
        }
        false
    }

    /// An ICMP time exceeded quoting a probe (traceroute, mtr, path probing)
    /// whose key is `key`: the probe is dropped, neither a failure nor a
    /// success.
    fn time_exceeded(&mut self, ts: u64, key: Key) -> bool {
        self.resolve(ts, key, Answer::TimeExceeded).unwrap_or(false)
    }

    /// Applies `answer` to the probe `key` if it is awaiting one: `None` if
    /// there is no such probe, else whether an event was reported.
    fn resolve(&mut self, ts: u64, key: Key, answer: Answer) -> Option<bool> {
        let Entry::Occupied(e) = self.probes.entry(key) else {
            return None;
        };
        let PendingProbe {
            technique, sent, ..
        } = *e.get();
        let f = fate(technique, answer);
        if f == Fate::Wait {
            return Some(false);
        }
        e.remove();
        self.remember(key, ts);
        match f {
            Fate::Report(outcome) => {
                self.event(sent, key, outcome, technique);
                Some(true)
            }
            _ => Some(false),
        }
    }

    /// Refreshes the settled flow `key` belongs to; false if there is none.
    fn touch(&mut self, key: Key, ts: u64) -> bool {
        match self.settled.get_mut(&key.unordered()) {
            Some(s) => {
                s.last = s.last.max(ts);
                true
            }
            None => false,
        }
    }

    /// Remembers the flow of `key` as settled.
    fn remember(&mut self, key: Key, ts: u64) {
        let k = key.unordered();
        if self.settled.len() >= self.max {
            if self.touch(k, ts) {
                return;
            }
            self.evict_settled();
        }
        let seq = self.seq + 1;
        match self.settled.entry(k) {
            Entry::Occupied(mut e) => {
                let s = e.get_mut();
                s.last = s.last.max(ts);
            }
            Entry::Vacant(v) => {
                v.insert(Settled { last: ts, seq });
                self.seq = seq;
                let due = ts.saturating_add(self.settled_idle);
                self.settled_due.push_back(Due { due, seq, key: k });
                self.wake = self.wake.min(due);
            }
        }
    }

    /// Makes room among the settled flows: forgets the one settled longest
    /// ago, unless it has been seen since it was queued (a second chance, so
    /// that active flows outlive a burst of short ones).
    fn evict_settled(&mut self) {
        while self.settled.len() >= self.max {
            let Some(d) = self.settled_due.pop_front() else {
                self.settled.clear();
                break;
            };
            if let Entry::Occupied(e) = self.settled.entry(d.key) {
                let s = *e.get();
                if s.seq == d.seq {
                    let due = s.last.saturating_add(self.settled_idle);
                    if due > d.due {
                        self.settled_due.push_back(Due { due, ..d });
                        self.wake = self.wake.min(due);
                    } else {
                        e.remove();
                    }
                }
            }
        }
    }

    fn event(&mut self, ts: u64, key: Key, outcome: Outcome, technique: Technique) {
        let (src_port, dst_port) = if key.proto == Protocol::Icmp {
            (0, 0)
        } else {
            (key.oport, key.rport)
        };
        let mut ev = Event::new(
            Timestamp::from_micros(ts),
            addr(key.orig),
            addr(key.resp),
            dst_port,
            key.proto,
            outcome,
        );
        ev.src_port = src_port;
        ev.technique = technique;
        ev.zone = u32::from(key.zone);
        self.out.push(ev);
        self.counts.events += 1;
    }

    fn live(probes: &Map<PendingProbe>, d: &Due) -> bool {
        probes.get(&d.key).is_some_and(|p| p.seq == d.seq)
    }

    /// Drops stale entries from the front of each probe queue.
    fn trim_fronts(&mut self) {
        for q in &mut self.due {
            while q.front().is_some_and(|d| !Self::live(&self.probes, d)) {
                q.pop_front();
            }
        }
    }

    /// Probes past their deadline, earliest deadline first across protocols.
    /// Stale entries are dropped only once due, so that the common case (no
    /// deadline passed) costs three comparisons and no lookups.
    fn expire_probes(&mut self) {
        loop {
            let next = (0..3)
                .filter_map(|i| self.due[i].front().map(|d| (d.due, i)))
                .min();
            let Some((due, i)) = next else { break };
            if due >= self.clock {
                break;
            }
            let Some(d) = self.due[i].pop_front() else {
                break;
            };
            if Self::live(&self.probes, &d) {
                self.resolve(d.due, d.key, Answer::Timeout);
            }
        }
    }

    /// The tracker is full: the oldest probe is reported unanswered now (a
    /// held ACK or Maimon segment is dropped).
    fn evict_oldest(&mut self) {
        self.trim_fronts();
        let oldest = (0..3)
            .filter_map(|i| self.due[i].front().map(|d| (d.seq, i)))
            .min();
        if let Some((_, i)) = oldest {
            if let Some(d) = self.due[i].pop_front() {
                let ts = self.clock;
                if self.resolve(ts, d.key, Answer::Timeout) == Some(true) {
                    self.counts.evicted += 1;
                }
            }
        }
    }

    fn expire_settled(&mut self) {
        while let Some(d) = self.settled_due.front() {
            if d.due >= self.clock {
                break;
            }
            let Some(d) = self.settled_due.pop_front() else {
                break;
            };
            if let Entry::Occupied(e) = self.settled.entry(d.key) {
                let s = *e.get();
                if s.seq != d.seq {
                    continue;
                }
                let due = s.last.saturating_add(self.settled_idle);
                if due >= self.clock {
                    // Seen since it was queued: keep it for another idle period.
                    self.settled_due.push_back(Due { due, ..d });
                    self.wake = self.wake.min(due);
                } else {
                    e.remove();
                }
            }
        }
    }

    /// Answered probes leave their queue entries behind; rebuild the queues
    /// once those outnumber the live ones, and give back room a queue no
    /// longer needs, which keeps the queues within twice `max_flows` entries
    /// at an amortised constant cost per probe.
    fn compact(&mut self) {
        let queued: usize = self.due.iter().map(VecDeque::len).sum();
        if queued > self.probes.len() + COMPACT_SLACK {
            for q in &mut self.due {
                q.retain(|d| Self::live(&self.probes, d));
            }
        }
        for q in &mut self.due {
            if q.capacity() > 2 * q.len() + COMPACT_SLACK {
                q.shrink_to(q.len() + COMPACT_SLACK / 2);
            }
        }
    }

    /// The end of the input. A probe whose deadline the capture's time
    /// passed is unanswered (in a capture whose time goes backwards, packets
    /// after it in the file can be earlier, and did not expire it). A probe
    /// still within its answer window is left out: the input holds neither
    /// its answer nor its timeout, so it is neither answered nor failed, only
    /// counted. Held ACK and Maimon segments are no probes yet and are dropped
    /// uncounted. With `pending_unanswered` it is reported `Unanswered`.
    pub(crate) fn finish(&mut self) {
        // Oldest first, across the queues, as `evict_oldest` takes them.
        loop {
            let next = (0..3)
                .filter_map(|i| self.due[i].front().map(|d| (d.seq, i)))
                .min();
            let Some((_, i)) = next else { break };
            let Some(d) = self.due[i].pop_front() else {
                break;
            };
            if !Self::live(&self.probes, &d) {
                continue;
            }
            if d.due < self.clock {
                self.resolve(d.due, d.key, Answer::Timeout);
                continue;
            }
            let Some(p) = self.probes.remove(&d.key) else {
                continue;
            };
            if let Fate::Report(outcome) = fate(p.technique, Answer::Timeout) {
                self.counts.pending += 1;
                if self.pending_unanswered {
                    self.event(p.sent, d.key, outcome, p.technique);
                }
            }
        }
    }

    #[cfg(test)]
    fn pending(&self) -> usize {
        self.probes.len()
    }

    #[cfg(test)]
    fn queued(&self) -> usize {
        self.due.iter().map(VecDeque::len).sum::<usize>() + self.settled_due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Packet {
        Packet {
            vlan: 0,
            src: ip(src),
            dst: ip(dst),
            transport: Transport::Tcp {
                sport,
                dport,
                flags,
                data: false,
            },
        }
    }

    /// A segment with payload.
    fn tcp_data(src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Packet {
        let mut p = tcp(src, sport, dst, dport, flags);
        if let Transport::Tcp { data, .. } = &mut p.transport {
            *data = true;
        }
        p
    }

    fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Packet {
        Packet {
            vlan: 0,
            src: ip(src),
            dst: ip(dst),
            transport: Transport::Udp { sport, dport },
        }
    }

    const S: u8 = tcp::SYN;
    const SA: u8 = tcp::SYN | tcp::ACK;
    const R: u8 = tcp::RST;
    const A: u8 = tcp::ACK;

    /// (µs, src, dst, dst_port, outcome)
    type Ev = (u64, String, String, u16, Outcome);

    /// Feeds packets (time in seconds, packet) and returns the events as
    /// (µs, src, dst, dst_port, outcome) plus the counts.
    fn run(opts: PcapOptions, pkts: &[(f64, Packet)]) -> (Vec<Ev>, TrackerCounts) {
        let (evs, counts) = run_t(opts, pkts);
        let evs = evs
            .into_iter()
            .map(|(ts, src, dst, port, outcome, _)| (ts, src, dst, port, outcome))
            .collect();
        (evs, counts)
    }

    fn ev(ts: f64, src: &str, dst: &str, port: u16, o: Outcome) -> Ev {
        ((ts * 1e6) as u64, src.into(), dst.into(), port, o)
    }

    #[test]
    fn handshake_refusal_silence_and_retransmission() {
        use Outcome::*;
        let (evs, c) = run(
            PcapOptions::default(),
            &[
                (0.0, tcp("10.0.0.1", 4000, "10.0.0.2", 22, S)),
                (0.1, tcp("10.0.0.2", 22, "10.0.0.1", 4000, SA)),
                (0.2, tcp("10.0.0.1", 4000, "10.0.0.2", 22, A)),
                (0.3, tcp("10.0.0.1", 4001, "10.0.0.3", 22, S)),
                (0.4, tcp("10.0.0.3", 22, "10.0.0.1", 4001, R | A)),
                (1.0, tcp("10.0.0.1", 4002, "10.0.0.4", 22, S)),
                (2.0, tcp("10.0.0.1", 4002, "10.0.0.4", 22, S)), // retransmission
                (9.0, tcp("10.0.0.1", 4002, "10.0.0.4", 22, S)), // after timeout: settled
                (9.5, tcp("10.0.0.2", 22, "10.0.0.1", 4000, SA)), // retransmitted SYN-ACK
                (9.6, tcp("10.0.0.2", 22, "10.0.0.1", 4000, R)), // server closes by RST
            ],
        );
        assert_eq!(
            evs,
            vec![
                ev(0.0, "10.0.0.1", "10.0.0.2", 22, Attempt),
                ev(0.0, "10.0.0.1", "10.0.0.2", 22, Established),
                ev(0.3, "10.0.0.1", "10.0.0.3", 22, Attempt),
                ev(0.3, "10.0.0.1", "10.0.0.3", 22, Refused),
                ev(1.0, "10.0.0.1", "10.0.0.4", 22, Attempt),
                ev(1.0, "10.0.0.1", "10.0.0.4", 22, Unanswered),
            ]
        );
        assert_eq!(c.events, 6);
    }

    #[test]
    fn backscatter_is_unsolicited_once_per_flow() {
        use Outcome::*;
        let (evs, _) = run(
            PcapOptions::default(),
            &[
                (0.0, tcp("203.0.113.5", 80, "192.0.2.7", 1234, SA)),
                (0.1, tcp("192.0.2.7", 1234, "203.0.113.5", 80, R)), // victim's answer
                (3.0, tcp("203.0.113.5", 80, "192.0.2.7", 1234, SA)), // retransmitted
                (4.0, tcp("203.0.113.5", 80, "192.0.2.8", 999, R | A)),
            ],
        );
        assert_eq!(
            evs,
            vec![
                ev(0.0, "192.0.2.7", "203.0.113.5", 80, Unsolicited),
                ev(4.0, "192.0.2.8", "203.0.113.5", 80, Unsolicited),
            ]
        );
    }

    /// (µs, src, dst, dst_port, outcome, technique)
    type Tev = (u64, String, String, u16, Outcome, Technique);

    /// As [`run`], with each event's technique.
    fn run_t(opts: PcapOptions, pkts: &[(f64, Packet)]) -> (Vec<Tev>, TrackerCounts) {
        let mut out = Vec::new();
        let mut sink = |e: Event| {
            out.push((
                e.ts.as_micros(),
                e.src.to_string(),
                e.dst.to_string(),
                e.dst_port,
                e.outcome,
                e.technique,
            ))
        };
        let counts = {
            let mut t = Tracker::new(&opts);
            for (s, p) in pkts {
                let ts = (s * 1e6) as u64;
                t.advance(ts);
                t.packet(ts, p);
                t.drain(&mut sink);
            }
            t.finish();
            t.drain(&mut sink);
            t.counts
        };
        (out, counts)
    }

    fn tev(ts: f64, src: &str, dst: &str, port: u16, o: Outcome, t: Technique) -> Tev {
        ((ts * 1e6) as u64, src.into(), dst.into(), port, o, t)
    }

    const F: u8 = 0x01;
    const P: u8 = 0x08;
    const U: u8 = 0x20;

    #[test]
    fn stealth_probes_are_held_until_their_outcome() {
        use Outcome::*;
        use Technique::*;
        let (s, t) = ("10.0.0.1", "10.0.0.2");
        let (evs, c) = run_t(
            PcapOptions::default(),
            &[
                // FIN refused: one event, no Attempt, not backscatter.
                (0.0, tcp(s, 4000, t, 21, F)),
                (0.001, tcp(t, 21, s, 4000, R | A)),
                // NULL, retransmitted, never answered.
                (0.1, tcp(s, 4001, t, 22, 0)),
                // Xmas answered by an ACK, PSH alone by a SYN-ACK: midstream.
                (0.2, tcp(s, 4002, t, 23, F | P | U)),
                (0.21, tcp(t, 23, s, 4002, A)),
                (0.3, tcp(s, 4003, t, 24, P)),
                (0.31, tcp(t, 24, s, 4003, SA)),
                // URG alone refused by an ICMP unreachable.
                (0.4, tcp(s, 4004, t, 25, U)),
                (
                    0.41,
                    Packet {
                        vlan: 0,
                        src: ip(t),
                        dst: ip(s),
                        transport: Transport::Unreachable(Quoted {
                            src: ip(s),
                            dst: ip(t),
                            sport: 4004,
                            dport: 25,
                            proto: Protocol::Tcp,
                        }),
                    },
                ),
                // A FIN with payload is no probe.
                (0.5, tcp_data(s, 4005, t, 26, F)),
                (1.1, tcp(s, 4001, t, 22, 0)),
                // Xmas, still within its answer window when the capture
                // ends: no outcome.
                (8.0, tcp(s, 4006, t, 27, F | P | U)),
                (9.0, tcp(s, 4006, t, 27, F | P | U)),
            ],
        );
        assert_eq!(
            evs,
            vec![
                tev(0.0, s, t, 21, Refused, Fin),
                tev(0.4, s, t, 25, Refused, TcpOther),
                // Its retransmission at 1.1 s changes neither send time nor deadline.
                tev(0.1, s, t, 22, Unanswered, Null),
            ]
        );
        assert_eq!((c.events, c.pending), (3, 1));
    }

    #[test]
    fn late_closes_of_forgotten_connections_are_no_probes() {
        use Outcome::*;
        let (hub, cloud) = ("10.0.0.5", "192.0.2.80");
        let (evs, c) = run(
            PcapOptions::default(),
            &[
                // A connection, idle after its last packet at 1 s...
                (0.0, tcp(hub, 49200, cloud, 8883, S)),
                (0.05, tcp(cloud, 8883, hub, 49200, SA)),
                (0.1, tcp(hub, 49200, cloud, 8883, A)),
                (1.0, tcp(cloud, 8883, hub, 49200, A)),
                // ...closed by the cloud 7 minutes later; the hub, which
                // dropped it, answers RST.
                (421.0, tcp(cloud, 8883, hub, 49200, F | A)),
                (421.01, tcp(hub, 49200, cloud, 8883, R)),
                // A connection from before the capture, closed the same way.
                (430.0, tcp(cloud, 8883, hub, 49201, F | A)),
                (430.01, tcp(hub, 49201, cloud, 8883, R)),
                (431.0, tcp(cloud, 443, hub, 52000, A)),
                (431.01, tcp(hub, 52000, cloud, 443, R)),
                // A Maimon probe from a high port to a service port still is one.
                (440.0, tcp(cloud, 41000, hub, 22, F | A)),
                (440.01, tcp(hub, 22, cloud, 41000, R)),
            ],
        );
        assert_eq!(
            evs,
            vec![
                ev(0.0, hub, cloud, 8883, Attempt),
                ev(0.0, hub, cloud, 8883, Established),
                ev(440.0, cloud, hub, 22, Refused),
            ]
        );
        assert_eq!(c.events, 3);
    }

    #[test]
    fn ack_and_maimon_are_probes_only_when_refused() {
        use Outcome::*;
        use Technique::*;
        let (s, t) = ("10.0.0.1", "10.0.0.2");
        let unreachable = |port| Packet {
            vlan: 0,
            src: ip(t),
            dst: ip(s),
            transport: Transport::Unreachable(Quoted {
                src: ip(s),
                dst: ip(t),
                sport: 5000 + port,
                dport: port,
                proto: Protocol::Tcp,
            }),
        };
        let (evs, c) = run_t(
            PcapOptions::default(),
            &[
                (0.0, tcp(s, 5001, t, 1, A)),
                (0.01, tcp(t, 1, s, 5001, R)),
                (0.1, tcp(s, 5002, t, 2, F | A)),
                (0.11, tcp(t, 2, s, 5002, R)),
                // Silence, an unreachable, an ACK back: nothing.
                (0.2, tcp(s, 5003, t, 3, A)),
                (0.3, tcp(s, 5004, t, 4, F | A)),
                (0.31, unreachable(4)),
                (0.4, tcp(s, 5005, t, 5, A)),
                (0.41, tcp(t, 5, s, 5005, A)),
                // Silent at the end of the capture: nothing either.
                (9.0, tcp(s, 5006, t, 6, F | A)),
            ],
        );
        assert_eq!(
            evs,
            vec![
                tev(0.0, s, t, 1, Refused, Ack),
                tev(0.1, s, t, 2, Refused, Maimon),
            ]
        );
        assert_eq!((c.events, c.pending), (2, 0));
    }

    #[test]
    fn connections_picked_up_midstream_make_no_probe() {
        let (a, b) = ("10.0.0.5", "10.0.0.12");
        let chat = [
            (0.0, tcp_data(a, 41341, b, 8080, P | A)),
            (0.01, tcp_data(b, 8080, a, 41341, P | A)),
            (0.02, tcp(a, 41341, b, 8080, A)),
            (0.5, tcp_data(a, 41341, b, 8080, P | A)),
            (0.51, tcp(b, 8080, a, 41341, A)),
            (0.52, tcp(a, 41341, b, 8080, F | A)),
            (0.53, tcp(b, 8080, a, 41341, F | A)),
            (0.54, tcp(a, 41341, b, 8080, A)),
            // A late RST on the closed connection.
            (0.6, tcp(b, 8080, a, 41341, R)),
        ];
        // First seen: a bare ACK from either side, then the other's data.
        let push = [
            (0.0, tcp(a, 55245, "10.0.0.13", 5000, A)),
            (0.3, tcp_data("10.0.0.13", 5000, a, 55245, P | A)),
            (0.31, tcp(a, 55245, "10.0.0.13", 5000, A)),
            (1.0, tcp("10.0.0.13", 5000, a, 55245, A)),
            (1.3, tcp_data(a, 55245, "10.0.0.13", 5000, P | A)),
            (30.0, tcp(a, 55245, "10.0.0.13", 5000, R | A)),
        ];
        // A bare ACK, then the same side's data: a connection too.
        let keepalive = [
            (0.0, tcp(a, 40000, b, 22, A)),
            (0.1, tcp_data(a, 40000, b, 22, P | A)),
            (0.2, tcp(b, 22, a, 40000, R)),
        ];
        for pkts in [&chat[..], &push[..], &keepalive[..]] {
            let (evs, c) = run_t(PcapOptions::default(), pkts);
            assert!(evs.is_empty(), "{evs:?}");
            assert_eq!(c.events, 0);
        }
    }

    #[test]
    fn backscatter_stays_unsolicited_beside_stealth_probes() {
        use Outcome::*;
        use Technique::*;
        let (evs, _) = run_t(
            PcapOptions::default(),
            &[
                (0.0, tcp("203.0.113.5", 80, "192.0.2.7", 1234, SA)),
                (0.1, tcp("203.0.113.5", 80, "192.0.2.8", 999, R | A)),
                // A FIN probe to 203.0.113.5 refused: not backscatter.
                (0.2, tcp("192.0.2.9", 777, "203.0.113.5", 80, F)),
                (0.3, tcp("203.0.113.5", 80, "192.0.2.9", 777, R | A)),
            ],
        );
        assert_eq!(
            evs,
            vec![
                tev(0.0, "192.0.2.7", "203.0.113.5", 80, Unsolicited, Syn),
                tev(0.1, "192.0.2.8", "203.0.113.5", 80, Unsolicited, Syn),
                tev(0.2, "192.0.2.9", "203.0.113.5", 80, Refused, Fin),
            ]
        );
    }

    #[test]
    fn held_segments_count_against_the_bound() {
        use Outcome::*;
        use Technique::*;
        let opts = PcapOptions {
            max_flows: 2,
            ..PcapOptions::default()
        };
        let (s, t) = ("10.0.0.1", "10.0.0.2");
        let (evs, c) = run_t(
            opts,
            &[
                (0.0, tcp(s, 1, t, 1, A)),
                (0.1, tcp(s, 2, t, 2, F)),
                // Full: the ACK is dropped silently, then the FIN reported.
                (0.2, tcp(s, 3, t, 3, S)),
                (0.3, tcp(s, 4, t, 4, 0)),
                // The dropped ACK's RST: a flow settled, neither probe nor
                // backscatter.
                (0.4, tcp(t, 1, s, 1, R)),
            ],
        );
        assert_eq!(
            evs,
            vec![
                tev(0.2, s, t, 3, Attempt, Syn),
                tev(0.1, s, t, 2, Unanswered, Fin),
            ]
        );
        // The SYN and the NULL were within their answer window at the end.
        assert_eq!((c.evicted, c.pending), (1, 2));
    }

    #[test]
    fn udp_reply_and_later_datagrams() {
        use Outcome::*;
        let (evs, _) = run(
            PcapOptions::default(),
            &[
                (0.0, udp("10.0.0.1", 5000, "10.0.0.53", 53)),
                (0.5, udp("10.0.0.1", 5000, "10.0.0.53", 53)), // retry: nothing
                (1.0, udp("10.0.0.53", 53, "10.0.0.1", 5000)),
                (2.0, udp("10.0.0.1", 5000, "10.0.0.53", 53)), // same conversation
                (3.0, udp("10.0.0.1", 5001, "224.0.0.251", 5353)), // multicast
                (3.0, udp("10.0.0.1", 5002, "10.0.0.54", 161)),
            ],
        );
        assert_eq!(
            evs,
            vec![
                ev(0.0, "10.0.0.1", "10.0.0.53", 53, Attempt),
                ev(0.0, "10.0.0.1", "10.0.0.53", 53, Established),
                // Within its answer window at the end of the capture: no outcome.
                ev(3.0, "10.0.0.1", "10.0.0.54", 161, Attempt),
            ]
        );
    }

    #[test]
    fn probes_a_router_answers_with_time_exceeded_tell_nothing() {
        use Outcome::*;
        let (host, target, router) = ("10.0.0.1", "192.0.2.9", "10.0.0.254");
        let exceeded = |dport, proto| Packet {
            vlan: 0,
            src: ip(router),
            dst: ip(host),
            transport: Transport::TimeExceeded(Quoted {
                src: ip(host),
                dst: ip(target),
                sport: 50_000,
                dport,
                proto,
            }),
        };
        let refused = |dport| Packet {
            vlan: 0,
            src: ip(target),
            dst: ip(host),
            transport: Transport::Unreachable(Quoted {
                src: ip(host),
                dst: ip(target),
                sport: 50_000,
                dport,
                proto: Protocol::Udp,
            }),
        };
        let (evs, _) = run(
            PcapOptions::default(),
            &[
                // Path probing on ports of its own (mtr -u, Skype): a router
                // answers the short-lived ones, the target the last.
                (0.0, udp(host, 50_000, target, 40_001)),
                (0.01, exceeded(40_001, Protocol::Udp)),
                (0.1, udp(host, 50_000, target, 40_002)),
                (0.12, refused(40_002)),
                // tcptraceroute: a SYN a router answers.
                (0.2, tcp(host, 50_000, target, 80, S)),
                (0.21, exceeded(80, Protocol::Tcp)),
                // Unix traceroute's own ports: no probe at all, whoever answers.
                (0.3, udp(host, 50_000, target, 33_434)),
                (0.31, exceeded(33_434, Protocol::Udp)),
                (0.4, udp(host, 50_000, target, 33_440)),
                (0.41, refused(33_440)),
            ],
        );
        assert_eq!(
            evs,
            vec![
                ev(0.0, host, target, 40_001, Attempt),
                ev(0.1, host, target, 40_002, Attempt),
                ev(0.1, host, target, 40_002, Refused),
                ev(0.2, host, target, 80, Attempt),
            ]
        );
    }

    #[test]
    fn unreachable_refuses_quoted_probe_and_falls_back_to_sender() {
        use Outcome::*;
        let quoted = |dst: &str, proto| Packet {
            vlan: 0,
            src: ip("10.0.0.9"),
            dst: ip("10.0.0.1"),
            transport: Transport::Unreachable(Quoted {
                src: ip("10.0.0.1"),
                dst: ip(dst),
                sport: 7000,
                dport: 80,
                proto,
            }),
        };
        let (evs, _) = run(
            PcapOptions::default(),
            &[
                (0.0, udp("10.0.0.1", 7000, "10.0.0.9", 80)),
                (0.1, quoted("10.0.0.9", Protocol::Udp)),
                (1.0, tcp("10.0.0.1", 7000, "10.0.0.9", 80, S)),
                // Quoted destination rewritten; the sender is the target.
                (1.1, quoted("172.16.0.9", Protocol::Tcp)),
                // No probe: nothing.
                (1.2, quoted("10.0.0.9", Protocol::Tcp)),
            ],
        );
        assert_eq!(
            evs,
            vec![
                ev(0.0, "10.0.0.1", "10.0.0.9", 80, Attempt),
                ev(0.0, "10.0.0.1", "10.0.0.9", 80, Refused),
                ev(1.0, "10.0.0.1", "10.0.0.9", 80, Attempt),
                ev(1.0, "10.0.0.1", "10.0.0.9", 80, Refused),
            ]
        );
    }

    #[test]
    fn full_tracker_flushes_oldest_probe() {
        use Outcome::*;
        let opts = PcapOptions {
            max_flows: 2,
            ..PcapOptions::default()
        };
        let (evs, c) = run(
            opts,
            &[
                (0.0, tcp("10.0.0.1", 1, "10.0.0.2", 80, S)),
                (0.1, udp("10.0.0.1", 2, "10.0.0.3", 53)),
                (0.2, tcp("10.0.0.1", 3, "10.0.0.4", 80, S)),
                (0.3, tcp("10.0.0.3", 53, "10.0.0.1", 2, SA)), // wrong protocol: backscatter
            ],
        );
        assert_eq!(c.evicted, 1);
        // Reported when the third probe came, at its own send time.
        assert_eq!(evs[2], ev(0.0, "10.0.0.1", "10.0.0.2", 80, Unanswered));
        assert_eq!(evs[3], ev(0.2, "10.0.0.1", "10.0.0.4", 80, Attempt));
        assert_eq!(evs[4].4, Unsolicited);
        // The UDP probe and the second SYN were awaiting answers at the end.
        assert_eq!(c.pending, 2);
    }

    #[test]
    fn active_flows_survive_churn_in_a_full_settled_table() {
        let opts = PcapOptions {
            max_flows: 4,
            ..PcapOptions::default()
        };
        let mut pkts = vec![
            (0.0, udp("10.0.0.1", 5000, "10.0.0.53", 53)),
            (0.0, udp("10.0.0.53", 53, "10.0.0.1", 5000)),
        ];
        for i in 0..20u16 {
            let t = 0.1 + f64::from(i) * 0.01;
            let dst = format!("10.0.1.{i}");
            pkts.push((t, tcp("10.0.0.1", 6000 + i, &dst, 80, S)));
            pkts.push((t, tcp(&dst, 80, "10.0.0.1", 6000 + i, R | A)));
            pkts.push((t, udp("10.0.0.1", 5000, "10.0.0.53", 53)));
        }
        let (evs, _) = run(opts, &pkts);
        let dns = evs.iter().filter(|e| e.3 == 53).count();
        assert_eq!(dns, 2, "{evs:?}"); // one attempt, one answer
        assert_eq!(evs.len(), 2 + 40);
    }

    #[test]
    fn deadlines_across_protocols_come_out_in_time_order() {
        let opts = PcapOptions {
            tcp_timeout_secs: 10,
            udp_timeout_secs: 2,
            icmp_timeout_secs: 5,
            max_flows: 100,
            pending_unanswered: false,
            vlan_zones: false,
        };
        let echo_req = Packet {
            vlan: 0,
            src: ip("10.0.0.1"),
            dst: ip("10.0.0.7"),
            transport: Transport::EchoRequest { id: 9 },
        };
        let (evs, _) = run(
            opts,
            &[
                (0.0, tcp("10.0.0.1", 1, "10.0.0.2", 80, S)),
                (0.0, echo_req),
                (0.0, udp("10.0.0.1", 2, "10.0.0.3", 53)),
                (20.0, tcp("10.0.0.9", 1, "10.0.0.8", 1, A)),
            ],
        );
        // Deadlines pass in their order (UDP at 2 s, ICMP at 5 s, TCP at
        // 10 s); each outcome carries its probe's send time.
        assert_eq!(
            evs[3..],
            [
                ev(0.0, "10.0.0.1", "10.0.0.3", 53, Outcome::Unanswered),
                ev(0.0, "10.0.0.1", "10.0.0.7", 0, Outcome::Unanswered),
                ev(0.0, "10.0.0.1", "10.0.0.2", 80, Outcome::Unanswered),
            ]
        );
    }

    #[test]
    fn a_key_turned_around_hashes_as_one_made_that_way() {
        let keys = Keys::new(false);
        let ends = [
            ("10.0.0.1", 1000),
            ("10.0.0.2", 80),
            ("10.0.0.2", 1000),
            ("::1", 53),
            ("10.0.0.1", 1000),
        ];
        for (a, ap) in ends {
            for (b, bp) in ends {
                for proto in [Protocol::Tcp, Protocol::Udp, Protocol::Icmp] {
                    let fwd = keys.key(ip(a), ip(b), (ap, bp), proto, 7);
                    let back = keys.key(ip(b), ip(a), (bp, ap), proto, 7);
                    // Equality covers the hash: a table finds a key only by it.
                    assert_eq!(fwd.reversed(), back, "{a}:{ap} {b}:{bp}");
                    assert_eq!(fwd.reversed().reversed(), fwd);
                    assert_eq!(fwd.unordered(), back.unordered());
                    if (a, ap) != (b, bp) {
                        assert_ne!(fwd.hash, back.hash, "the directions share a hash");
                    }
                }
            }
        }
        // Another tracker's keys are seeded apart.
        let other = Keys::new(false).key(ip("10.0.0.1"), ip("10.0.0.2"), (1, 2), Protocol::Tcp, 0);
        assert_ne!(
            other,
            keys.key(ip("10.0.0.1"), ip("10.0.0.2"), (1, 2), Protocol::Tcp, 0)
        );
        // Zones apart: the same flow in two VLANs is two keys.
        assert_ne!(
            keys.key(ip("10.0.0.1"), ip("10.0.0.2"), (1, 2), Protocol::Tcp, 10),
            keys.key(ip("10.0.0.1"), ip("10.0.0.2"), (1, 2), Protocol::Tcp, 20)
        );
    }

    #[test]
    fn answered_probes_do_not_accumulate() {
        let opts = PcapOptions {
            max_flows: 1 << 20,
            ..PcapOptions::default()
        };
        let mut n = 0u64;
        let mut sink = |_: Event| n += 1;
        let mut t = Tracker::new(&opts);
        // 100k refused probes, all from distinct ports, spread over 2,000 s
        // so that settled flows age out too.
        for i in 0..100_000u32 {
            let ts = u64::from(i) * 20_000;
            let sport = (i % 60_000) as u16;
            let dst = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let syn = Packet {
                vlan: 0,
                src: ip("192.0.2.1"),
                dst,
                transport: Transport::Tcp {
                    sport,
                    dport: 80,
                    flags: S,
                    data: false,
                },
            };
            let rst = Packet {
                vlan: 0,
                src: dst,
                dst: ip("192.0.2.1"),
                transport: Transport::Tcp {
                    sport: 80,
                    dport: sport,
                    flags: R | A,
                    data: false,
                },
            };
            t.advance(ts);
            t.packet(ts, &syn);
            t.packet(ts, &rst);
            t.drain(&mut sink);
        }
        assert_eq!(t.pending(), 0);
        // Stale probe entries are compacted; settled flows live 900 s (45k).
        assert!(t.queued() < 55_000, "{}", t.queued());
        t.finish();
        drop(t);
        assert_eq!(n, 200_000);
    }
}
