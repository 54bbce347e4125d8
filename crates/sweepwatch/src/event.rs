//! Connection events: what an engine tells the detector, one per attempt or outcome.

use crate::net::AddrKey;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A point in capture time, in microseconds since the Unix epoch.
///
/// The detector never reads the wall clock: every decision uses the events' own
/// timestamps, so replaying a capture decides exactly as the live run did.
///
/// # Examples
/// ```
/// use sweepwatch::Timestamp;
/// let t = Timestamp::from_secs_f64(1_700_000_000.25);
/// assert_eq!(t.as_micros(), 1_700_000_000_250_000);
/// assert_eq!(t.as_secs(), 1_700_000_000);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// A timestamp from whole microseconds since the Unix epoch.
    pub const fn from_micros(us: u64) -> Self {
        Timestamp(us)
    }

    /// A timestamp from whole seconds since the Unix epoch.
    pub const fn from_secs(s: u64) -> Self {
        Timestamp(s.saturating_mul(1_000_000))
    }

    /// A timestamp from fractional seconds, as Zeek logs write them. Negative and
    /// non-finite values give the epoch itself.
    pub fn from_secs_f64(s: f64) -> Self {
        if s.is_finite() && s > 0.0 {
            Timestamp((s * 1e6).round() as u64)
        } else {
            Timestamp(0)
        }
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }
}

/// Transport protocol of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP: an attempt is a SYN.
    Tcp,
    /// UDP: an attempt is the first datagram to a destination port.
    Udp,
    /// ICMP or ICMPv6 echo: an attempt is an echo request (port 0).
    Icmp,
    /// Any other IP protocol.
    Other,
}

impl Protocol {
    /// The lower-case name used in verdict output (`tcp`, `udp`, `icmp`, `other`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(sweepwatch::Protocol::Udp.as_str(), "udp");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Other => "other",
        }
    }

    pub(crate) const fn index(self) -> u8 {
        match self {
            Protocol::Tcp => 0,
            Protocol::Udp => 1,
            Protocol::Icmp => 2,
            Protocol::Other => 3,
        }
    }

    /// The protocol of [`index`](Self::index) `i`.
    pub(crate) const fn from_index(i: u8) -> Protocol {
        match i {
            0 => Protocol::Tcp,
            1 => Protocol::Udp,
            2 => Protocol::Icmp,
            _ => Protocol::Other,
        }
    }
}

/// How a probe was sent, in nmap's vocabulary: what a verdict's `technique`
/// names (the technique most of its probes used).
///
/// Stealth TCP probes (FIN, NULL, Xmas, Maimon, ACK) open no connection: a
/// benign host never sends such a segment to a port it has no connection with,
/// so each is a probe wherever a reader can see it.
///
/// # Examples
/// ```
/// use sweepwatch::{Protocol, Technique};
/// assert_eq!(Technique::for_protocol(Protocol::Udp), Technique::Udp);
/// assert_eq!(Technique::Xmas.as_str(), "xmas");
/// assert_eq!(Technique::from_tcp_flags(0x29), Some(Technique::Xmas));
/// assert_eq!(Technique::from_tcp_flags(0x02), Some(Technique::Syn));
/// assert_eq!(Technique::from_tcp_flags(0x18), None); // data on a connection
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Technique {
    /// TCP SYN whose handshake the prober did not complete (nmap `-sS`), or
    /// whose completion the engine does not tell.
    Syn,
    /// TCP SYN whose handshake the prober completed (nmap `-sT`).
    Connect,
    /// TCP segment with FIN alone (nmap `-sF`).
    Fin,
    /// TCP segment with no flags (nmap `-sN`).
    Null,
    /// TCP segment with FIN, PSH and URG (nmap `-sX`).
    Xmas,
    /// TCP segment with FIN and ACK (nmap `-sM`).
    Maimon,
    /// TCP segment with ACK alone (nmap `-sA`, `-sW`).
    Ack,
    /// Another TCP flag combination that opens no connection (nmap `--scanflags`).
    TcpOther,
    /// UDP datagram (nmap `-sU`).
    Udp,
    /// ICMP or ICMPv6 echo request (nmap `-PE`, ping).
    IcmpEcho,
    /// Another IP protocol (nmap `-sO`).
    IpProtocol,
}

impl Technique {
    /// Every technique, in numeric order.
    pub const ALL: [Technique; 11] = [
        Technique::Syn,
        Technique::Connect,
        Technique::Fin,
        Technique::Null,
        Technique::Xmas,
        Technique::Maimon,
        Technique::Ack,
        Technique::TcpOther,
        Technique::Udp,
        Technique::IcmpEcho,
        Technique::IpProtocol,
    ];

    /// The name used in verdict output (`syn`, `connect`, `fin`, `null`,
    /// `xmas`, `maimon`, `ack`, `tcp_other`, `udp`, `icmp_echo`, `ip_protocol`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Technique::Syn => "syn",
            Technique::Connect => "connect",
            Technique::Fin => "fin",
            Technique::Null => "null",
            Technique::Xmas => "xmas",
            Technique::Maimon => "maimon",
            Technique::Ack => "ack",
            Technique::TcpOther => "tcp_other",
            Technique::Udp => "udp",
            Technique::IcmpEcho => "icmp_echo",
            Technique::IpProtocol => "ip_protocol",
        }
    }

    /// The technique an engine that tells no more implies: a SYN for TCP.
    pub const fn for_protocol(proto: Protocol) -> Technique {
        match proto {
            Protocol::Tcp => Technique::Syn,
            Protocol::Udp => Technique::Udp,
            Protocol::Icmp => Technique::IcmpEcho,
            Protocol::Other => Technique::IpProtocol,
        }
    }

    /// The protocol a technique's probes use.
    pub const fn protocol(self) -> Protocol {
        match self {
            Technique::Udp => Protocol::Udp,
            Technique::IcmpEcho => Protocol::Icmp,
            Technique::IpProtocol => Protocol::Other,
            _ => Protocol::Tcp,
        }
    }

    /// The technique of the first TCP segment of a flow from its flags (FIN
    /// 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20; ECE and CWR
    /// ignored): `None` for segments that are part of a connection or answer
    /// one (SYN+ACK, RST, data with PSH+ACK), which are never probes.
    pub const fn from_tcp_flags(flags: u8) -> Option<Technique> {
        use crate::tcp::{ACK, FIN, PSH, RST, SYN, URG};
        const XMAS: u8 = FIN | PSH | URG;
        const MAIMON: u8 = FIN | ACK;
        let f = flags & 0x3f;
        if f & RST != 0 {
            return None;
        }
        if f & SYN != 0 {
            return if f & ACK != 0 {
                None
            } else {
                Some(Technique::Syn)
            };
        }
        Some(match f {
            0 => Technique::Null,
            FIN => Technique::Fin,
            XMAS => Technique::Xmas,
            MAIMON => Technique::Maimon,
            ACK => Technique::Ack,
            // PSH+ACK (data), FIN+PSH+ACK: a connection's segments.
            _ if f & ACK != 0 => return None,
            _ => Technique::TcpOther,
        })
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// What became of an attempt, as far as the engine knows when it reports it.
///
/// Engines may report an [`Attempt`](Outcome::Attempt) when the probe is seen and
/// its outcome later, or only the final outcome; the detector counts each
/// (source, destination, port) pair once either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// A probe was sent; its outcome is not known yet.
    Attempt,
    /// The target answered: TCP handshake completed, UDP reply, ICMP echo reply.
    Established,
    /// The target refused: TCP RST, ICMP destination unreachable.
    Refused,
    /// No answer before the engine's timeout.
    Unanswered,
    /// A reply that answers no probe from its receiver, such as a SYN-ACK or RST
    /// sent in response to a spoofed flood (backscatter). Counted, never a probe.
    Unsolicited,
}

impl Outcome {
    /// The lower-case name (`attempt`, `established`, `refused`, `unanswered`,
    /// `unsolicited`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Attempt => "attempt",
            Outcome::Established => "established",
            Outcome::Refused => "refused",
            Outcome::Unanswered => "unanswered",
            Outcome::Unsolicited => "unsolicited",
        }
    }

    /// True for refused and unanswered outcomes: the evidence of scanning.
    pub const fn is_failure(self) -> bool {
        matches!(self, Outcome::Refused | Outcome::Unanswered)
    }
}

/// An [`Event`] whose addresses are already [`AddrKey`]s: the form a front
/// end that holds raw address bytes feeds ([`Detector::observe_keyed`]),
/// without building [`IpAddr`]s. The fields mean what [`Event`]'s do.
///
/// [`Detector::observe_keyed`]: crate::Detector::observe_keyed
///
/// # Examples
/// ```
/// use sweepwatch::{AddrKey, Event, KeyedEvent, Outcome, Protocol, Timestamp};
///
/// let ev = Event::new(Timestamp::from_secs(1_700_000_000),
///     "203.0.113.7".parse().unwrap(), "10.0.0.1".parse().unwrap(),
///     22, Protocol::Tcp, Outcome::Refused);
/// let keyed = KeyedEvent::from(&ev);
/// assert_eq!(keyed.src, AddrKey::from_ipv4_octets([203, 0, 113, 7]));
/// assert_eq!(keyed.dst.ip(), ev.dst);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyedEvent {
    /// Capture time of the probe or of the outcome.
    pub ts: Timestamp,
    /// The originator of the attempt.
    pub src: AddrKey,
    /// The target of the attempt.
    pub dst: AddrKey,
    /// The originator's port (0 where the protocol has none).
    pub src_port: u16,
    /// The target's port (0 for ICMP echo and protocols without ports).
    pub dst_port: u16,
    /// Transport protocol.
    pub proto: Protocol,
    /// What became of the attempt.
    pub outcome: Outcome,
    /// How the probe was sent.
    pub technique: Technique,
    /// Whether the engine places the source in the local networks.
    pub src_local: Option<bool>,
    /// Whether the engine places the target in the local networks.
    pub dst_local: Option<bool>,
    /// The address space of both addresses ([`Event::zone`]).
    pub zone: u32,
}

impl From<&Event> for KeyedEvent {
    #[inline(always)]
    fn from(ev: &Event) -> Self {
        KeyedEvent {
            ts: ev.ts,
            src: AddrKey::from(ev.src),
            dst: AddrKey::from(ev.dst),
            src_port: ev.src_port,
            dst_port: ev.dst_port,
            proto: ev.proto,
            outcome: ev.outcome,
            technique: ev.technique,
            src_local: ev.src_local,
            dst_local: ev.dst_local,
            zone: ev.zone,
        }
    }
}

/// One connection event: an attempt from `src` to `dst`, or its outcome.
///
/// `src` is always the host that sent the probe (the originator), even when the
/// engine learned the outcome from the target's reply.
///
/// # Examples
/// ```
/// use sweepwatch::{Event, Outcome, Protocol, Timestamp};
/// let ev = Event::new(
///     Timestamp::from_secs(1_700_000_000),
///     "10.0.0.5".parse().unwrap(),
///     "203.0.113.9".parse().unwrap(),
///     445,
///     Protocol::Tcp,
///     Outcome::Refused,
/// );
/// assert_eq!(ev.dst_port, 445);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event {
    /// Capture time of the probe or of the outcome.
    pub ts: Timestamp,
    /// The originator of the attempt.
    pub src: IpAddr,
    /// The target of the attempt.
    pub dst: IpAddr,
    /// The originator's port (0 where the protocol has none).
    pub src_port: u16,
    /// The target's port (0 for ICMP echo and protocols without ports).
    pub dst_port: u16,
    /// Transport protocol.
    pub proto: Protocol,
    /// What became of the attempt.
    pub outcome: Outcome,
    /// How the probe was sent; [`Event::new`] sets the protocol's plain probe
    /// ([`Technique::for_protocol`]).
    pub technique: Technique,
    /// Whether the engine itself places the source in the local networks
    /// (Zeek's `local_orig`); `None` leaves it to the configured home networks.
    pub src_local: Option<bool>,
    /// Whether the engine places the target in the local networks (Zeek's
    /// `local_resp`); `None` leaves it to the configured home networks.
    pub dst_local: Option<bool>,
    /// The address space the event belongs to: a number the engine gives to
    /// each VRF, tenant or VLAN whose addresses may overlap another's. The
    /// same address in two zones is two sources, tracked and reported
    /// apart; 0 (the default) where addresses are unique.
    pub zone: u32,
}

impl Event {
    /// An event with source port 0, the protocol's plain technique and no
    /// locality from the engine; set those fields when known.
    pub const fn new(
        ts: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        dst_port: u16,
        proto: Protocol,
        outcome: Outcome,
    ) -> Self {
        Event {
            ts,
            src,
            dst,
            src_port: 0,
            dst_port,
            proto,
            outcome,
            technique: Technique::for_protocol(proto),
            src_local: None,
            dst_local: None,
            zone: 0,
        }
    }

    /// The same event in zone `zone` (see [`Event::zone`]).
    ///
    /// # Examples
    /// ```
    /// use sweepwatch::{Event, Outcome, Protocol, Timestamp};
    /// let ev = Event::new(Timestamp::from_secs(1), "10.0.0.5".parse().unwrap(),
    ///     "10.0.0.9".parse().unwrap(), 80, Protocol::Tcp, Outcome::Refused)
    ///     .with_zone(7);
    /// assert_eq!(ev.zone, 7);
    /// ```
    pub const fn with_zone(mut self, zone: u32) -> Self {
        self.zone = zone;
        self
    }

    /// The same event with technique `t`.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch::{Event, Outcome, Protocol, Technique, Timestamp};
    /// let ev = Event::new(Timestamp::from_secs(1), "10.0.0.5".parse().unwrap(),
    ///     "10.0.0.9".parse().unwrap(), 80, Protocol::Tcp, Outcome::Refused)
    ///     .with_technique(Technique::Fin);
    /// assert_eq!(ev.technique, Technique::Fin);
    /// ```
    pub const fn with_technique(mut self, t: Technique) -> Self {
        self.technique = t;
        self
    }
}
