//! `sw_event`: one connection event as a plain C struct, and its checked
//! conversion to [`Event`].

use num_enum::{IntoPrimitive, TryFromPrimitive};
use std::fmt;
use std::net::IpAddr;
use sweepwatch::{AddrKey, Event, KeyedEvent, Outcome, Protocol, Technique, Timestamp};

/// The `family` value of an IPv4 address: the address is in the first 4 bytes
/// of its 16-byte array.
pub const SW_FAMILY_IPV4: u8 = 4;
/// The `family` value of an IPv6 address: all 16 bytes, network order.
pub const SW_FAMILY_IPV6: u8 = 6;

/// Transport protocol of an attempt, as stored in sw_event.proto and
/// sw_verdict.proto.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoPrimitive, TryFromPrimitive)]
pub enum sw_protocol {
    /// TCP: an attempt is a SYN.
    Tcp = 0,
    /// UDP: an attempt is the first datagram to a destination port.
    Udp = 1,
    /// ICMP or ICMPv6 echo: an attempt is an echo request (port 0).
    Icmp = 2,
    /// Any other IP protocol.
    Other = 3,
}

/// What became of an attempt, as stored in sw_event.outcome.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoPrimitive, TryFromPrimitive)]
pub enum sw_outcome {
    /// A probe was sent; its outcome is not known yet. Report the outcome later
    /// in another event: each (source, target, port) is counted once.
    Attempt = 0,
    /// The target answered: TCP handshake completed, UDP reply, ICMP echo reply.
    Established = 1,
    /// The target refused: TCP RST, ICMP destination unreachable.
    Refused = 2,
    /// No answer before the engine's timeout.
    Unanswered = 3,
    /// A reply that answers no probe from its receiver (backscatter of a spoofed
    /// flood, such as a lone SYN-ACK). Counted, never a probe.
    Unsolicited = 4,
}

/// How a probe was sent, in nmap's vocabulary, as stored in sw_event.technique
/// and sw_verdict.technique.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoPrimitive, TryFromPrimitive)]
pub enum sw_technique {
    /// In an event: the protocol's plain probe (a SYN for TCP, a datagram for
    /// UDP, an echo request for ICMP). Never in a verdict.
    Default = 0,
    /// TCP SYN whose handshake the prober did not complete (nmap -sS).
    Syn = 1,
    /// TCP SYN whose handshake the prober completed (nmap -sT).
    Connect = 2,
    /// TCP FIN alone (nmap -sF).
    Fin = 3,
    /// TCP segment with no flags (nmap -sN).
    Null = 4,
    /// TCP FIN, PSH and URG (nmap -sX).
    Xmas = 5,
    /// TCP FIN and ACK (nmap -sM).
    Maimon = 6,
    /// TCP ACK alone (nmap -sA, -sW).
    Ack = 7,
    /// Another TCP flag combination that opens no connection.
    TcpOther = 8,
    /// UDP datagram (nmap -sU).
    Udp = 9,
    /// ICMP or ICMPv6 echo request.
    IcmpEcho = 10,
    /// Another IP protocol (nmap -sO).
    IpProtocol = 11,
}

impl From<Technique> for sw_technique {
    fn from(t: Technique) -> Self {
        match t {
            Technique::Syn => sw_technique::Syn,
            Technique::Connect => sw_technique::Connect,
            Technique::Fin => sw_technique::Fin,
            Technique::Null => sw_technique::Null,
            Technique::Xmas => sw_technique::Xmas,
            Technique::Maimon => sw_technique::Maimon,
            Technique::Ack => sw_technique::Ack,
            Technique::TcpOther => sw_technique::TcpOther,
            Technique::Udp => sw_technique::Udp,
            Technique::IcmpEcho => sw_technique::IcmpEcho,
            Technique::IpProtocol => sw_technique::IpProtocol,
        }
    }
}

impl From<sw_technique> for Option<Technique> {
    /// The core's technique; `None` for the default (the protocol's plain
    /// probe).
    #[inline]
    fn from(t: sw_technique) -> Self {
        Some(match t {
            sw_technique::Default => return None,
            sw_technique::Syn => Technique::Syn,
            sw_technique::Connect => Technique::Connect,
            sw_technique::Fin => Technique::Fin,
            sw_technique::Null => Technique::Null,
            sw_technique::Xmas => Technique::Xmas,
            sw_technique::Maimon => Technique::Maimon,
            sw_technique::Ack => Technique::Ack,
            sw_technique::TcpOther => Technique::TcpOther,
            sw_technique::Udp => Technique::Udp,
            sw_technique::IcmpEcho => Technique::IcmpEcho,
            sw_technique::IpProtocol => Technique::IpProtocol,
        })
    }
}

impl From<sw_protocol> for Protocol {
    #[inline]
    fn from(p: sw_protocol) -> Self {
        match p {
            sw_protocol::Tcp => Protocol::Tcp,
            sw_protocol::Udp => Protocol::Udp,
            sw_protocol::Icmp => Protocol::Icmp,
            sw_protocol::Other => Protocol::Other,
        }
    }
}

impl From<sw_outcome> for Outcome {
    #[inline]
    fn from(o: sw_outcome) -> Self {
        match o {
            sw_outcome::Attempt => Outcome::Attempt,
            sw_outcome::Established => Outcome::Established,
            sw_outcome::Refused => Outcome::Refused,
            sw_outcome::Unanswered => Outcome::Unanswered,
            sw_outcome::Unsolicited => Outcome::Unsolicited,
        }
    }
}

/// The technique of an event's `technique` byte: `None` for the default
/// (the protocol's plain probe) and for values outside the enum.
#[inline]
pub(crate) fn technique(v: u8) -> Option<Technique> {
    sw_technique::try_from(v)
        .ok()
        .and_then(Option::<Technique>::from)
}

/// One connection event: an attempt from `src_addr` to `dst_addr`, or its
/// outcome. A plain struct the caller fills (zero it first, for example with
/// `sw_event ev = {0};`) and keeps: the detector copies what it needs.
///
/// `src_addr` is always the host that sent the probe, even when the engine
/// learned the outcome from the target's reply. Addresses are in network byte
/// order; with `family` SW_FAMILY_IPV4 only their first 4 bytes are read.
/// Events are checked on the way in: `family` other than 4 or 6, or `proto` or
/// `outcome` outside their enums, give SW_RESULT_INVALID_ARGUMENT.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct sw_event {
    /// Capture time of the probe, in microseconds since the Unix epoch; for
    /// an outcome, the time its probe was sent where the engine knows it (the
    /// ordering window then feeds outcomes in the order their probes were
    /// made, however late each was known; see sw_config_set_reorder()), else
    /// the time of the outcome. The detector never reads the clock: replays
    /// decide alike.
    pub ts_us: u64,
    /// The originator of the attempt.
    pub src_addr: [u8; 16],
    /// The target of the attempt.
    pub dst_addr: [u8; 16],
    /// The originator's port (0 where the protocol has none).
    pub src_port: u16,
    /// The target's port (0 for ICMP echo and protocols without ports).
    pub dst_port: u16,
    /// Address family of both addresses: SW_FAMILY_IPV4 or SW_FAMILY_IPV6.
    pub family: u8,
    /// A sw_protocol value.
    pub proto: u8,
    /// A sw_outcome value.
    pub outcome: u8,
    /// A sw_technique value; 0 (SW_TECHNIQUE_DEFAULT) for the protocol's plain
    /// probe. Stealth TCP probes (FIN, NULL, Xmas, Maimon, ACK) are reported
    /// with proto SW_PROTOCOL_TCP, their technique and their outcome.
    pub technique: u8,
    /// The address space of both addresses: a number the engine gives each
    /// VRF, tenant or VLAN whose addresses may overlap another's (the same
    /// address in two zones is two sources, reported apart, with their
    /// zone in sw_verdict.zone); 0 where addresses are unique.
    pub zone: u32,
}

/// Why an `sw_event` was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventError {
    Family(u8),
    Protocol(u8),
    Outcome(u8),
    Technique(u8),
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::Family(v) => write!(f, "family {v} is neither 4 (IPv4) nor 6 (IPv6)"),
            EventError::Protocol(v) => write!(f, "proto {v} is not an sw_protocol (0 to 3)"),
            EventError::Outcome(v) => write!(f, "outcome {v} is not an sw_outcome (0 to 4)"),
            EventError::Technique(v) => {
                write!(f, "technique {v} is not an sw_technique (0 to 11)")
            }
        }
    }
}

/// The address of a verdict or event field as bytes and family.
#[inline]
pub(crate) fn addr_bytes(ip: IpAddr) -> ([u8; 16], u8) {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (b, SW_FAMILY_IPV4)
        }
        IpAddr::V6(v6) => (v6.octets(), SW_FAMILY_IPV6),
    }
}

impl From<Protocol> for sw_protocol {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Tcp => sw_protocol::Tcp,
            Protocol::Udp => sw_protocol::Udp,
            Protocol::Icmp => sw_protocol::Icmp,
            Protocol::Other => sw_protocol::Other,
        }
    }
}

impl From<Outcome> for sw_outcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Attempt => sw_outcome::Attempt,
            Outcome::Established => sw_outcome::Established,
            Outcome::Refused => sw_outcome::Refused,
            Outcome::Unanswered => sw_outcome::Unanswered,
            Outcome::Unsolicited => sw_outcome::Unsolicited,
        }
    }
}

/// The protocol of an event's `proto` byte, `None` outside the enum.
#[inline]
pub(crate) fn protocol(v: u8) -> Option<Protocol> {
    sw_protocol::try_from(v).ok().map(Protocol::from)
}

/// The outcome of an event's `outcome` byte, `None` outside the enum.
#[inline]
pub(crate) fn outcome(v: u8) -> Option<Outcome> {
    sw_outcome::try_from(v).ok().map(Outcome::from)
}

impl sw_event {
    /// The event's addresses as the core's keys, or `None` for a bad family.
    #[inline(always)]
    fn keys(&self) -> Option<(AddrKey, AddrKey)> {
        let v4 = |b: &[u8; 16]| AddrKey::from_ipv4_octets([b[0], b[1], b[2], b[3]]);
        match self.family {
            SW_FAMILY_IPV4 => Some((v4(&self.src_addr), v4(&self.dst_addr))),
            SW_FAMILY_IPV6 => Some((
                AddrKey::from_ipv6_octets(self.src_addr),
                AddrKey::from_ipv6_octets(self.dst_addr),
            )),
            _ => None,
        }
    }

    /// The event as the core's [`KeyedEvent`], for one that passed
    /// [`check`](sw_event::check): straight from the bytes, without building
    /// the Rust API's `Event`. Total, so that an event changed after its check
    /// (a data race in the caller) still gives a valid event: an unsolicited
    /// reply, which is only counted.
    #[inline(always)]
    pub(crate) fn keyed(&self) -> KeyedEvent {
        let (src, dst, outcome) = match self.keys() {
            Some((src, dst)) => (
                src,
                dst,
                outcome(self.outcome).unwrap_or(Outcome::Unsolicited),
            ),
            None => (AddrKey::default(), AddrKey::default(), Outcome::Unsolicited),
        };
        let proto = protocol(self.proto).unwrap_or(Protocol::Other);
        KeyedEvent {
            ts: Timestamp::from_micros(self.ts_us),
            src,
            dst,
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto,
            outcome,
            technique: technique(self.technique).unwrap_or(Technique::for_protocol(proto)),
            src_local: None,
            dst_local: None,
            zone: self.zone,
        }
    }

    /// Checks the event without building it.
    #[inline]
    pub(crate) fn check(&self) -> Result<(), EventError> {
        if !matches!(self.family, SW_FAMILY_IPV4 | SW_FAMILY_IPV6) {
            return Err(EventError::Family(self.family));
        }
        if sw_protocol::try_from(self.proto).is_err() {
            return Err(EventError::Protocol(self.proto));
        }
        if sw_outcome::try_from(self.outcome).is_err() {
            return Err(EventError::Outcome(self.outcome));
        }
        if sw_technique::try_from(self.technique).is_err() {
            return Err(EventError::Technique(self.technique));
        }
        Ok(())
    }
}

impl sweepwatch::order::Timed for sw_event {
    fn micros(&self) -> u64 {
        self.ts_us
    }

    /// The addresses' keys and destination port, as [`Event`]'s (only
    /// checked events are held, so their family is known).
    fn tie(&self) -> u64 {
        let (src, dst) = self.keys().unwrap_or_default();
        sweepwatch::order::fixed_tie(src, dst, self.dst_port)
    }
}

impl From<&Event> for sw_event {
    /// The C form of a core event (for tests and benchmarks). Both addresses take
    /// the source's family; an event mixing IPv4 and IPv6 stores the IPv4 side
    /// as an IPv4-mapped IPv6 address, which the detector treats as the same host.
    fn from(ev: &Event) -> Self {
        let (src_addr, family, dst_addr) = match (ev.src, ev.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                let (s, f) = addr_bytes(ev.src);
                (s, f, addr_bytes(ev.dst).0)
            }
            // The key's 16 bytes are the address IPv4-mapped.
            _ => (
                AddrKey::from(ev.src).bits().to_be_bytes(),
                SW_FAMILY_IPV6,
                AddrKey::from(ev.dst).bits().to_be_bytes(),
            ),
        };
        sw_event {
            ts_us: ev.ts.as_micros(),
            src_addr,
            dst_addr,
            src_port: ev.src_port,
            dst_port: ev.dst_port,
            family,
            proto: sw_protocol::from(ev.proto) as u8,
            outcome: sw_outcome::from(ev.outcome) as u8,
            technique: sw_technique::from(ev.technique) as u8,
            zone: ev.zone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte: a value of the C enum maps to the core's variant of the
    /// same name and back to itself; any other byte is refused.
    #[test]
    fn every_c_enum_value_round_trips_by_name() {
        let mut seen = [0usize; 3];
        for v in 0..=u8::MAX {
            match sw_protocol::try_from(v) {
                Ok(c) => {
                    let core = protocol(v).unwrap();
                    assert_eq!(format!("{c:?}"), format!("{core:?}"));
                    assert_eq!(u8::from(sw_protocol::from(core)), v);
                    seen[0] += 1;
                }
                Err(_) => assert_eq!(protocol(v), None),
            }
            match sw_outcome::try_from(v) {
                Ok(c) => {
                    let core = outcome(v).unwrap();
                    assert_eq!(format!("{c:?}"), format!("{core:?}"));
                    assert_eq!(u8::from(sw_outcome::from(core)), v);
                    seen[1] += 1;
                }
                Err(_) => assert_eq!(outcome(v), None),
            }
            match sw_technique::try_from(v) {
                Ok(sw_technique::Default) => assert_eq!(technique(v), None),
                Ok(c) => {
                    let core = technique(v).unwrap();
                    assert_eq!(format!("{c:?}"), format!("{core:?}"));
                    assert_eq!(u8::from(sw_technique::from(core)), v);
                    seen[2] += 1;
                }
                Err(_) => assert_eq!(technique(v), None),
            }
        }
        assert_eq!(seen, [4, 5, Technique::ALL.len()]);
    }

    /// Each checked field refuses exactly the bytes outside its enum.
    #[test]
    fn events_are_refused_exactly_outside_the_enums() {
        for v in 0..=u8::MAX {
            let ev = |f: &dyn Fn(&mut sw_event)| {
                let mut e = sw_event {
                    family: SW_FAMILY_IPV4,
                    ..sw_event::default()
                };
                f(&mut e);
                e.check()
            };
            assert_eq!(ev(&|e| e.proto = v).is_ok(), v <= 3, "proto {v}");
            assert_eq!(ev(&|e| e.outcome = v).is_ok(), v <= 4, "outcome {v}");
            assert_eq!(ev(&|e| e.technique = v).is_ok(), v <= 11, "technique {v}");
        }
    }
}
