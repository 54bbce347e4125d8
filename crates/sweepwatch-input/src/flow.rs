//! Flow records, as routers, firewalls and probes export them (NetFlow v5
//! and v9, IPFIX), turned into the detector's events.
//!
//! A flow record counts the packets of one direction of a connection
//! (unidirectional: NetFlow v5 and v9, most IPFIX) or of both (an IPFIX
//! biflow, RFC 5103, with reverse counters), and the TCP flags seen over the
//! whole flow. A probe and its outcome are read from a record and the record
//! of its reverse direction (the same addresses and ports swapped), which
//! [`Pairer`] brings together: it holds each unidirectional record until its
//! reverse comes, or until event time has moved a window past its start.
//!
//! | record(s) | a probe? | outcome |
//! |---|---|---|
//! | TCP, the originator's flags with SYN | yes; technique `connect` when it also sent ACK and was answered by SYN | the reverse's flags with SYN (a SYN-ACK): established; else with RST: refused; no reverse within the window: unanswered; a reverse with other flags only: established |
//! | TCP, a record with SYN, ACK and PSH or FIN, no reverse | yes, `connect` (the exporter sees one direction only, as routers that export what enters an interface) | established |
//! | TCP, a record with SYN and ACK only, no reverse (or one without SYN) | no: a SYN-ACK that answered nothing seen (backscatter) | unsolicited (counted) |
//! | TCP, flags without SYN | no: the middle of a connection, or a stealth probe flow exports cannot tell from one | |
//! | UDP | yes | a reverse record (or reverse packets): established; else unanswered |
//! | ICMP echo request (type 8, or 128 for ICMPv6) | yes | an echo reply back (type 0 or 129): established; else unanswered |
//! | other ICMP (replies, errors) | no: they name no port of the flow they answer, so a UDP probe refused by port unreachable reads as unanswered (a failure either way) | |
//! | other IP protocols | no | |
//!
//! Which side is the originator: of a record and its reverse, the one that
//! started first; at the same millisecond, for TCP the one whose flags have
//! SYN without ACK, for ICMP the echo request, else the one sent to the lower
//! port (services listen on low ports), else the one that came first.
//! UDP to traceroute's ports (33434–33534) is never a probe.

use super::traceroute_port;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use sweepwatch::{Event, Outcome, Protocol, Technique, Timestamp};

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// IP protocol numbers.
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// What a flow record's reverse direction held, for records that carry
/// both directions (IPFIX biflows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reverse {
    /// Packets from the destination back to the source.
    pub packets: u64,
    /// TCP flags the destination sent (OR of all its packets).
    pub tcp_flags: u8,
}

/// One flow record, as a decoder read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// When the flow's first packet was seen.
    pub start: Timestamp,
    /// The host that sent this direction's packets.
    pub src: IpAddr,
    /// The host they went to.
    pub dst: IpAddr,
    /// Source port (0 without one).
    pub src_port: u16,
    /// Destination port (0 without one).
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub proto: u8,
    /// TCP flags of this direction's packets, ORed.
    pub tcp_flags: u8,
    /// ICMP type, for ICMP flows.
    pub icmp_type: Option<u8>,
    /// Packets in this direction.
    pub packets: u64,
    /// The reverse direction, for a record that carries both.
    pub reverse: Option<Reverse>,
    /// One packet in this many was looked at where the record was made (the
    /// sampling interval its exporter declared, in the record or in options
    /// records before it); 0 where none was declared.
    pub sampling: u32,
}

/// Both directions, normalised: a record's key and its reverse's are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    a: (IpAddr, u16),
    b: (IpAddr, u16),
    proto: u8,
}

impl FlowRecord {
    /// Ports as they pair: ICMP's are the type, which differs between a
    /// request and its reply, so none.
    fn ports(&self) -> (u16, u16) {
        if self.is_icmp() {
            (0, 0)
        } else {
            (self.src_port, self.dst_port)
        }
    }

    fn key(&self) -> Key {
        let (sp, dp) = self.ports();
        let (x, y) = ((self.src, sp), (self.dst, dp));
        let (a, b) = if x <= y { (x, y) } else { (y, x) };
        Key {
            a,
            b,
            proto: self.proto,
        }
    }

    fn is_icmp(&self) -> bool {
        matches!(self.proto, ICMP | ICMPV6)
    }

    fn is_echo_request(&self) -> bool {
        self.is_icmp() && matches!(self.icmp_type, Some(8) if self.proto == ICMP)
            || matches!(self.icmp_type, Some(128) if self.proto == ICMPV6)
    }

    /// True if `self` rather than `other` (its reverse) opened the flow.
    fn opened_before(&self, other: &FlowRecord) -> bool {
        if self.start != other.start {
            return self.start < other.start;
        }
        let pure_syn = |r: &FlowRecord| r.tcp_flags & (SYN | ACK) == SYN;
        if self.proto == TCP && pure_syn(self) != pure_syn(other) {
            return pure_syn(self);
        }
        if self.is_icmp() && self.is_echo_request() != other.is_echo_request() {
            return self.is_echo_request();
        }
        if self.dst_port != other.dst_port {
            return self.dst_port < other.dst_port;
        }
        true
    }
}

/// The event `probe`'s record makes, answered as `back` says (its reverse
/// record, reverse counters, or nothing), or `None` if it is no probe.
fn event(probe: &FlowRecord, back: Option<Reverse>) -> Option<Event> {
    let (proto, outcome, technique) = match probe.proto {
        TCP => {
            let f = probe.tcp_flags;
            if f & SYN == 0 {
                return None;
            }
            let back_flags = back.map(|b| b.tcp_flags);
            if back_flags.is_none() && f & ACK != 0 && f & (PSH | FIN) != 0 {
                // SYN, ACK and data or FIN, and no reverse record: a
                // connection whose other direction this exporter does not
                // see (routers often export what enters an interface only).
                // Its originator talked: an answered probe, so that a
                // client's ordinary connections count for it.
                (Protocol::Tcp, Outcome::Established, Technique::Connect)
            } else if f & ACK != 0 && back_flags.is_none_or(|b| b & SYN == 0) {
                // SYN with ACK and nothing more, and no SYN back: a SYN-ACK
                // answering nothing seen here (a flooded server's
                // backscatter).
                (Protocol::Tcp, Outcome::Unsolicited, Technique::Syn)
            } else {
                let outcome = match back_flags {
                    None => Outcome::Unanswered,
                    Some(b) if b & SYN != 0 => Outcome::Established,
                    Some(b) if b & RST != 0 => Outcome::Refused,
                    Some(_) => Outcome::Established,
                };
                let technique = if outcome == Outcome::Established && f & ACK != 0 {
                    Technique::Connect
                } else {
                    Technique::Syn
                };
                (Protocol::Tcp, outcome, technique)
            }
        }
        UDP => {
            if traceroute_port(probe.dst_port) {
                return None;
            }
            let answered = back.is_some_and(|b| b.packets > 0);
            let outcome = if answered {
                Outcome::Established
            } else {
                Outcome::Unanswered
            };
            (Protocol::Udp, outcome, Technique::Udp)
        }
        ICMP | ICMPV6 if probe.is_echo_request() => {
            let answered = back.is_some_and(|b| b.packets > 0);
            let outcome = if answered {
                Outcome::Established
            } else {
                Outcome::Unanswered
            };
            (Protocol::Icmp, outcome, Technique::IcmpEcho)
        }
        _ => return None,
    };
    let port = if proto == Protocol::Icmp {
        0
    } else {
        probe.dst_port
    };
    let mut ev = Event::new(probe.start, probe.src, probe.dst, port, proto, outcome);
    ev.src_port = if proto == Protocol::Icmp {
        0
    } else {
        probe.src_port
    };
    ev.technique = technique;
    Some(ev)
}

/// A record waiting for its reverse.
struct Held {
    rec: FlowRecord,
    /// The start it was queued under: a queue entry with another is stale
    /// (its record was paired, and the key held again since).
    queued: u64,
}

/// What a [`Pairer`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairStats {
    /// Records given to it.
    pub records: u64,
    /// Records paired with their reverse.
    pub paired: u64,
    /// Records decided alone (their window passed, or the table was full).
    pub alone: u64,
    /// Records of a direction already held, merged into it.
    pub merged: u64,
    /// Records that carried both directions (biflows).
    pub biflows: u64,
    /// Events made.
    pub events: u64,
}

/// Pairs unidirectional flow records with their reverse and makes the
/// events they mean (see the module's table). Memory is bounded: at most
/// `max_held` records wait; when more come, the oldest is decided alone.
///
/// # Examples
/// ```
/// use sweepwatch::{Outcome, Timestamp};
/// use sweepwatch_input::flow::{FlowRecord, Pairer};
///
/// let syn = FlowRecord {
///     start: Timestamp::from_micros(1_700_000_000_000_000),
///     src: "203.0.113.9".parse().unwrap(),
///     dst: "10.0.0.1".parse().unwrap(),
///     src_port: 40000,
///     dst_port: 22,
///     proto: 6,
///     tcp_flags: 0x02, // SYN
///     icmp_type: None,
///     packets: 1,
///     reverse: None,
///     sampling: 0,
/// };
/// // The target's answer: RST+ACK, addresses and ports swapped.
/// let rst = FlowRecord {
///     src: syn.dst,
///     dst: syn.src,
///     src_port: 22,
///     dst_port: 40000,
///     tcp_flags: 0x14,
///     ..syn
/// };
/// let mut pairer = Pairer::new(60_000_000, 1 << 20);
/// let mut events = Vec::new();
/// pairer.push(syn, &mut |e| events.push(e));
/// assert!(events.is_empty()); // waiting for its reverse
/// pairer.push(rst, &mut |e| events.push(e));
/// assert_eq!((events[0].src, events[0].outcome), (syn.src, Outcome::Refused));
/// ```
pub struct Pairer {
    window_us: u64,
    max_held: usize,
    held: HashMap<Key, Held>,
    /// Keys in the order their records came, with their start, for the
    /// window; stale entries (paired meanwhile) are skipped.
    queue: VecDeque<(u64, Key)>,
    newest: u64,
    stats: PairStats,
}

impl Pairer {
    /// A pairer that waits `window_us` of event time (flow start times) for
    /// a record's reverse and holds at most `max_held` records.
    pub fn new(window_us: u64, max_held: usize) -> Pairer {
        Pairer {
            window_us,
            max_held: max_held.max(1),
            held: HashMap::new(),
            queue: VecDeque::new(),
            newest: 0,
            stats: PairStats::default(),
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> PairStats {
        self.stats
    }

    /// Records waiting for their reverse.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// True if no record waits.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    fn emit(&mut self, ev: Option<Event>, emit: &mut dyn FnMut(Event)) {
        if let Some(ev) = ev {
            self.stats.events += 1;
            emit(ev);
        }
    }

    /// Takes one record; calls `emit` for every event decided by it (its
    /// own, if its reverse was waiting; held records whose window passed).
    pub fn push(&mut self, rec: FlowRecord, emit: &mut dyn FnMut(Event)) {
        self.stats.records += 1;
        let start = rec.start.as_micros();
        self.newest = self.newest.max(start);
        if let Some(back) = rec.reverse {
            self.stats.biflows += 1;
            let ev = event(&rec, Some(back));
            self.emit(ev, emit);
        } else {
            let key = rec.key();
            match self.held.entry(key) {
                Entry::Occupied(mut e) => {
                    let h = e.get_mut();
                    if h.rec.src == rec.src && h.rec.src_port == rec.src_port {
                        // The same direction again: one flow.
                        h.rec.tcp_flags |= rec.tcp_flags;
                        h.rec.packets += rec.packets;
                        h.rec.start = h.rec.start.min(rec.start);
                        self.stats.merged += 1;
                    } else {
                        let h = e.remove();
                        self.stats.paired += 2;
                        let (probe, back) = if h.rec.opened_before(&rec) {
                            (h.rec, rec)
                        } else {
                            (rec, h.rec)
                        };
                        let reverse = Reverse {
                            packets: back.packets.max(1),
                            tcp_flags: back.tcp_flags,
                        };
                        let ev = event(&probe, Some(reverse));
                        self.emit(ev, emit);
                    }
                }
                Entry::Vacant(v) => {
                    v.insert(Held { rec, queued: start });
                    self.queue.push_back((start, key));
                }
            }
        }
        self.release(false, emit);
    }

    /// Decides held records whose window has passed (all of them if `all`,
    /// at the end of the input), and the oldest beyond `max_held`.
    fn release(&mut self, all: bool, emit: &mut dyn FnMut(Event)) {
        while let Some(&(start, key)) = self.queue.front() {
            let due = all
                || start.saturating_add(self.window_us) <= self.newest
                || self.held.len() > self.max_held;
            if !due {
                break;
            }
            self.queue.pop_front();
            if self.held.get(&key).is_some_and(|h| h.queued == start) {
                if let Some(h) = self.held.remove(&key) {
                    self.stats.alone += 1;
                    let ev = event(&h.rec, None);
                    self.emit(ev, emit);
                }
            }
        }
    }

    /// Event time has reached `now` without records (an idle exporter):
    /// decides what is due by then.
    pub fn advance(&mut self, now: Timestamp, emit: &mut dyn FnMut(Event)) {
        self.newest = self.newest.max(now.as_micros());
        self.release(false, emit);
    }

    /// Decides every held record alone: the end of the input.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Event)) {
        self.release(true, emit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ms: u64, src: &str, sp: u16, dst: &str, dp: u16, proto: u8, flags: u8) -> FlowRecord {
        FlowRecord {
            start: Timestamp::from_micros(ms * 1000),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: sp,
            dst_port: dp,
            proto,
            tcp_flags: flags,
            icmp_type: None,
            packets: 1,
            reverse: None,
            sampling: 0,
        }
    }

    fn run(records: &[FlowRecord]) -> (Vec<Event>, PairStats) {
        let mut p = Pairer::new(10_000_000, 1000);
        let mut out = Vec::new();
        for r in records {
            p.push(*r, &mut |e| out.push(e));
        }
        p.finish(&mut |e| out.push(e));
        (out, p.stats())
    }

    #[test]
    fn tcp_pairs_decide_outcomes_in_either_order() {
        let syn = rec(1000, "203.0.113.9", 40000, "10.0.0.1", 22, TCP, SYN);
        let rst = rec(1000, "10.0.0.1", 22, "203.0.113.9", 40000, TCP, RST | ACK);
        let synack = rec(1001, "10.0.0.1", 22, "203.0.113.9", 40000, TCP, SYN | ACK);
        for pair in [[syn, rst], [rst, syn]] {
            let (evs, st) = run(&pair);
            assert_eq!(evs.len(), 1);
            assert_eq!((evs[0].outcome, evs[0].dst_port), (Outcome::Refused, 22));
            assert_eq!(evs[0].src, syn.src);
            assert_eq!(st.paired, 2);
        }
        let (evs, _) = run(&[synack, syn]);
        assert_eq!(evs[0].outcome, Outcome::Established);
        let (evs, _) = run(&[syn]);
        assert_eq!(evs[0].outcome, Outcome::Unanswered);
    }

    #[test]
    fn a_completed_connection_is_one_connect_probe_from_its_client() {
        let client = rec(5, "10.0.0.5", 47392, "192.0.2.10", 80, TCP, 0x1b);
        let server = rec(5, "192.0.2.10", 80, "10.0.0.5", 47392, TCP, 0x1b);
        for pair in [[client, server], [server, client]] {
            let (evs, _) = run(&pair);
            assert_eq!(evs.len(), 1, "{pair:?}");
            assert_eq!(evs[0].src, client.src);
            assert_eq!(
                (evs[0].outcome, evs[0].technique),
                (Outcome::Established, Technique::Connect)
            );
        }
    }

    #[test]
    fn a_connection_seen_one_way_counts_for_its_client() {
        // Ingress-only export: the client's record of a whole connection
        // (SYN, ACK, PSH, FIN), its reverse never exported.
        let client = rec(5, "10.0.0.5", 47392, "192.0.2.10", 443, TCP, 0x1b);
        let (evs, _) = run(&[client]);
        assert_eq!(evs.len(), 1);
        assert_eq!(
            (evs[0].outcome, evs[0].technique),
            (Outcome::Established, Technique::Connect)
        );
    }

    #[test]
    fn backscatter_midstream_and_replies_are_no_probes() {
        let synack = rec(1, "198.51.100.1", 80, "10.0.0.7", 5555, TCP, SYN | ACK);
        let mid = rec(1, "10.0.0.5", 47392, "192.0.2.10", 80, TCP, ACK);
        let (evs, st) = run(&[synack, mid]);
        assert_eq!(
            evs.iter().map(|e| e.outcome).collect::<Vec<_>>(),
            [Outcome::Unsolicited]
        );
        assert_eq!(st.alone, 2);
        let mut reply = rec(1, "10.0.0.1", 0, "10.0.0.9", 0, ICMP, 0);
        reply.icmp_type = Some(0);
        let (evs, _) = run(&[reply]);
        assert!(evs.is_empty());
    }

    #[test]
    fn udp_and_icmp_echo() {
        let q = rec(1, "10.0.0.5", 5000, "10.0.0.53", 53, UDP, 0);
        let a = rec(2, "10.0.0.53", 53, "10.0.0.5", 5000, UDP, 0);
        let (evs, _) = run(&[a, q]);
        assert_eq!((evs[0].src, evs[0].outcome), (q.src, Outcome::Established));
        let tr = rec(1, "10.0.0.5", 5000, "10.0.0.9", 33434, UDP, 0);
        assert!(run(&[tr]).0.is_empty());
        let mut req = rec(1, "10.0.0.5", 0, "10.0.0.9", 2048, ICMP, 0);
        req.icmp_type = Some(8);
        let mut rep = rec(1, "10.0.0.9", 0, "10.0.0.5", 0, ICMP, 0);
        rep.icmp_type = Some(0);
        let (evs, _) = run(&[rep, req]);
        assert_eq!(
            (evs[0].src, evs[0].outcome, evs[0].dst_port),
            (req.src, Outcome::Established, 0)
        );
        let (evs, _) = run(&[req]);
        assert_eq!(evs[0].outcome, Outcome::Unanswered);
    }

    #[test]
    fn a_biflow_is_decided_at_once() {
        let mut b = rec(1, "203.0.113.9", 40000, "10.0.0.1", 22, TCP, SYN);
        b.reverse = Some(Reverse {
            packets: 1,
            tcp_flags: RST | ACK,
        });
        let mut p = Pairer::new(10_000_000, 10);
        let mut out = Vec::new();
        p.push(b, &mut |e| out.push(e));
        assert_eq!(out[0].outcome, Outcome::Refused);
        assert!(p.is_empty());
    }

    #[test]
    fn the_window_and_the_bound_decide_alone() {
        let mut p = Pairer::new(1_000_000, 2);
        let mut out = Vec::new();
        let syn = |ms, host: &str| rec(ms, "203.0.113.9", 40000, host, 22, TCP, SYN);
        p.push(syn(0, "10.0.0.1"), &mut |e| out.push(e));
        p.push(syn(500, "10.0.0.2"), &mut |e| out.push(e));
        assert!(out.is_empty());
        // A second later: the first is decided alone.
        p.push(syn(1000, "10.0.0.3"), &mut |e| out.push(e));
        assert_eq!(out.len(), 1);
        // Three held, the bound two: the oldest goes.
        p.push(syn(1100, "10.0.0.4"), &mut |e| out.push(e));
        p.push(syn(1200, "10.0.0.5"), &mut |e| out.push(e));
        assert_eq!(p.len(), 2);
        assert!(out.iter().all(|e| e.outcome == Outcome::Unanswered));
    }
}
