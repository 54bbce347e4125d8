//! Connection events: what an engine tells the detector, one per attempt or outcome.

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
}

/// What became of an attempt, as far as the engine knows when it reports it.
///
/// Engines may report an [`Attempt`](Outcome::Attempt) when the probe is seen and
/// its outcome later, or only the final outcome; the detector counts each
/// (source, destination, port) pair once either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
}

impl Event {
    /// An event with source port 0; set [`src_port`](Event::src_port) when known.
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
        }
    }
}
