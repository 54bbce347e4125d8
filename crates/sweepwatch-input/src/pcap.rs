//! pcap and pcapng captures: packets to attempts and outcomes.
//!
//! The reader decodes each packet down to its transport header and follows
//! probes in capture time:
//!
//! | packets | event | technique |
//! |---|---|---|
//! | TCP SYN (no ACK), first for its 5-tuple | `Attempt` | `Syn` |
//! | SYN-ACK answering it | `Established` | `Syn` |
//! | RST answering it | `Refused` | `Syn` |
//! | TCP segment without payload that opens no connection (FIN, NULL, Xmas, another flag set without SYN, RST or ACK), first of its 5-tuple | none yet: held | |
//! | RST (or ICMP unreachable) answering it | `Refused` | `Fin`, `Null`, `Xmas`, `TcpOther` |
//! | no answer within the TCP timeout | `Unanswered` | as above |
//! | any other answer (data, ACK, SYN-ACK) | none: a connection picked up midstream | |
//! | bare ACK or FIN+ACK segment, first of its 5-tuple | none yet: held | |
//! | RST answering it | `Refused` | `Ack`, `Maimon` |
//! | anything else, or nothing | none: a connection's segment | |
//! | TCP segment with payload, or other segment of an unknown 5-tuple | none: a connection picked up midstream, remembered | |
//! | UDP datagram, first of its 5-tuple | `Attempt` | `Udp` |
//! | UDP datagram back along the same 5-tuple | `Established` | `Udp` |
//! | ICMP echo request, first of its (source, target, identifier) | `Attempt` | `IcmpEcho` |
//! | echo reply | `Established` | `IcmpEcho` |
//! | ICMP destination unreachable quoting a probe | `Refused` | the probe's |
//! | no answer within the protocol's timeout | `Unanswered` at probe time + timeout | the probe's |
//! | SYN-ACK or RST answering no probe of its receiver | `Unsolicited` (backscatter) | `Syn` |
//!
//! The originator of a flow is the sender of its first packet seen. A stealth
//! probe (nmap `-sF`, `-sN`, `-sX`, `-sA`, `-sM`, `--scanflags`) is held
//! without an `Attempt` until its outcome is known, and then reported by that
//! one event: a capture that begins in the middle of a connection shows bare
//! ACKs and FIN+ACKs too, and the answer (data or an ACK rather than a RST)
//! is what tells them apart, so that such a connection produces no event for
//! either side. An ACK or FIN+ACK that draws a RST is indistinguishable from
//! an ACK or Maimon probe and is reported as one. Stealth probes count
//! against [`PcapOptions::max_flows`] like any other.
//!
//! Retransmitted probes, repeated answers and the rest of a flow whose outcome
//! is known produce nothing. Datagrams and echo requests to multicast or
//! limited-broadcast addresses are not probes. Probes still waiting at the end
//! of the input are within their answer window: the input holds neither
//! their answer nor their timeout, so they get no outcome ([`CaptureReader`]
//! also carries them from one capture into the next). An ICMP
//! error whose quoted destination matches no probe is also tried against a
//! probe to the error's sender, since address translation and anonymisation
//! rewrite quoted headers.
//!
//! Formats: classic pcap (either byte order, microsecond or nanosecond
//! timestamps) and pcapng (any number of sections and interfaces, each with
//! its own link type and timestamp resolution). Link types: Ethernet with
//! stacked 802.1Q/802.1ad tags, raw IP (101, 12, 14, 228, 229), Linux cooked
//! (SLL, SLL2) and BSD loopback (NULL, LOOP). Of a fragmented packet only the
//! first fragment, which holds the transport header, counts; IPv6 hop-by-hop,
//! routing, destination-options and fragment headers are skipped.
//!
//! The clock is the capture's own: the latest packet time seen, never the wall
//! clock. Events come out in time order for a capture whose packets are; where
//! a capture's time goes backwards, each event keeps its own packet's time. A
//! pcapng simple packet block, which has no timestamp, is taken to be at the
//! latest time seen.

mod ahead;
mod export;
mod flows;
mod format;
mod packet;
mod tunnel;
pub(crate) use export::{each_datagram, looks_like_export};
pub use packet::link_name;

use super::{report, Emit, InputError, Location, OnMalformed, ReadOptions, ReadStats};
use ahead::{Record, Skip};
use std::io::Read;

/// Timeouts and bounds of the flow tracker.
///
/// # Examples
/// ```
/// use sweepwatch_input::pcap::PcapOptions;
/// // A tracker held to 16 MiB.
/// let opts = PcapOptions::with_memory_bytes(16 << 20);
/// assert!(opts.memory_bytes() <= 16 << 20);
/// assert!(opts.max_flows > 20_000);
/// ```
#[derive(Clone, Debug)]
pub struct PcapOptions {
    /// Seconds of capture time after which an unanswered TCP SYN or stealth
    /// probe is `Unanswered` (and a held ACK or FIN+ACK segment dropped).
    pub tcp_timeout_secs: u32,
    /// The same for a UDP datagram.
    pub udp_timeout_secs: u32,
    /// The same for an ICMP echo request.
    pub icmp_timeout_secs: u32,
    /// The most probes awaiting an answer at once; when a new probe finds the
    /// tracker full, the oldest one is reported `Unanswered` early (counted
    /// in [`ReadStats::tracker_full`]). Also the most settled flows
    /// remembered to recognise retransmissions; when full, the one settled
    /// longest ago is forgotten. [`memory_bytes`](Self::memory_bytes) tells
    /// what a count costs; [`with_memory_bytes`](Self::with_memory_bytes)
    /// finds the count for a budget.
    pub max_flows: usize,
    /// What a probe still within its answer window when the input ends
    /// becomes. `false` (the default): nothing, as the input holds neither
    /// its answer nor its timeout ([`CaptureReader::finish`]). `true`:
    /// `Unanswered`, as Zeek's conn.log marks such connections (`S0`); for
    /// captures filtered down to the probes, whose answers were never kept.
    pub pending_unanswered: bool,
    /// Whether each packet's outermost VLAN id is its zone
    /// ([`Event::zone`](sweepwatch::Event::zone)): where VLANs reuse each
    /// other's addresses, their flows and sources are then kept apart.
    /// [`read_capture`] sets it from [`ReadOptions::zones`]. `false` by default.
    pub vlan_zones: bool,
}

impl PcapOptions {
    /// The default tracker budget: 64 MiB, the detector's default.
    pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;

    /// Default timeouts, and as many flows as a tracker within `bytes` holds
    /// (at least one).
    pub fn with_memory_bytes(bytes: u64) -> PcapOptions {
        // The largest count whose worst case fits: costs rise with the count.
        let (mut lo, mut hi) = (1u64, bytes / 64 + 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if flows::tracker_bytes(mid) <= bytes {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        PcapOptions {
            tcp_timeout_secs: 5,
            udp_timeout_secs: 5,
            icmp_timeout_secs: 5,
            max_flows: usize::try_from(lo).unwrap_or(usize::MAX),
            pending_unanswered: false,
            vlan_zones: false,
        }
    }

    /// The most heap bytes the tracker takes with these options: its tables
    /// are allocated at full size when reading starts, its queues grow to at
    /// most their share.
    pub fn memory_bytes(&self) -> u64 {
        flows::tracker_bytes(self.max_flows as u64)
    }
}

impl Default for PcapOptions {
    fn default() -> Self {
        PcapOptions::with_memory_bytes(Self::DEFAULT_MEMORY_BYTES)
    }
}

/// Reads a decompressed pcap or pcapng stream and emits one event per probe and
/// one per outcome, in capture order.
///
/// Packets that produce no event (no probe or answer, retransmissions, the
/// rest of a known flow, stealth probes, which their answer or timeout
/// reports) and packets whose headers cannot be decoded are
/// counted as skipped, the latter also as malformed. A capture that ends
/// inside a record is not an error: everything before the record is emitted,
/// the partial record counts as one malformed
/// record, and [`truncated_at`](ReadStats::truncated_at) holds the offset
/// where it starts.
///
/// Each malformed record (a packet whose headers do not decode, a packet
/// record whose own fields are inconsistent, the record cut short at the end)
/// is told to [`ReadOptions::on_malformed`] once, in capture order, with the
/// [`Location::Byte`] offset where its record starts.
///
/// The flow tracker is made with `opts.pcap`; probes still within their
/// answer window at the end are counted in [`ReadStats::pending`].
///
/// # Errors
///
/// An input that is not a capture (`byte 0`), a record or block header with an
/// impossible length, a pcapng block whose trailing length disagrees, and I/O
/// errors, each with the byte offset where it was found. Events before the
/// error have been emitted; probes still pending then are not reported.
///
/// # Examples
/// ```
/// use sweepwatch_input::{pcap::read_capture, Location, ReadOptions};
/// use sweepwatch::Outcome;
///
/// // A classic pcap with one raw-IPv4 packet: a TCP SYN to port 22.
/// let mut cap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
/// cap.extend_from_slice(&[0; 8]);
/// cap.extend_from_slice(&65535u32.to_le_bytes());
/// cap.extend_from_slice(&228u32.to_le_bytes()); // LINKTYPE_IPV4
/// let mut pkt = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
/// pkt.extend_from_slice(&[0x9c, 0x40, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02]);
/// pkt.extend_from_slice(&[0; 6]);
/// cap.extend_from_slice(&1_700_000_000u32.to_le_bytes());
/// cap.extend_from_slice(&0u32.to_le_bytes());
/// cap.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
/// cap.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
/// cap.extend_from_slice(&pkt);
/// // A second packet, cut off in its IPv4 header, at byte 80.
/// cap.extend_from_slice(&1_700_000_001u32.to_le_bytes());
/// cap.extend_from_slice(&0u32.to_le_bytes());
/// cap.extend_from_slice(&10u32.to_le_bytes());
/// cap.extend_from_slice(&10u32.to_le_bytes());
/// cap.extend_from_slice(&pkt[..10]);
///
/// let (mut events, mut bad) = (Vec::new(), Vec::new());
/// let mut report = |at: Location, why: &str| bad.push(format!("{at}: {why}"));
/// let mut opts = ReadOptions {
///     on_malformed: Some(&mut report),
///     ..ReadOptions::default()
/// };
/// let stats = read_capture(&cap[..], &mut opts, &mut |e| events.push(e)).unwrap();
/// assert_eq!((stats.records, stats.malformed), (2, 1));
/// // The SYN; the capture ends within its answer window, so no outcome.
/// assert_eq!(events[0].outcome, Outcome::Attempt);
/// assert_eq!(events[0].dst_port, 22);
/// assert_eq!(events.len(), 1);
/// assert_eq!(stats.pending, 1);
/// assert_eq!(bad, ["byte 80: IPv4 header cut short"]);
/// ```
pub fn read_capture<R: Read + Send>(
    r: R,
    opts: &mut ReadOptions<'_>,
    emit: Emit,
) -> Result<ReadStats, InputError> {
    let mut captures = CaptureReader::new(&opts.capture_options())?;
    let mut st = captures.read(r, opts.handler(), emit)?;
    let before = captures.tracker.counts.events;
    st.pending = captures.finish(emit);
    // Timeouts that only the end of the input let pass are this capture's.
    st.events += captures.tracker.counts.events - before;
    Ok(st)
}

/// Reads captures one after another as one: a probe near the end of one is
/// answered, or times out, in the next, as for the parts of a capture rotated
/// by size or time. [`read_capture`] is one capture read so.
///
/// # Examples
/// ```
/// use sweepwatch_input::pcap::{CaptureReader, PcapOptions};
/// use sweepwatch::Outcome;
///
/// // A classic pcap of one raw-IPv4 TCP segment from `src` to `dst` (the
/// // last octets of 192.0.2.x) with `flags`, at `secs`.
/// fn part(secs: u32, src: u8, sport: u16, dst: u8, dport: u16, flags: u8) -> Vec<u8> {
///     let mut cap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
///     cap.extend_from_slice(&[0; 8]);
///     cap.extend_from_slice(&65535u32.to_le_bytes());
///     cap.extend_from_slice(&228u32.to_le_bytes()); // LINKTYPE_IPV4
///     let mut pkt = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 192, 0, 2, src, 192, 0, 2, dst];
///     pkt.extend_from_slice(&sport.to_be_bytes());
///     pkt.extend_from_slice(&dport.to_be_bytes());
///     pkt.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x50, flags, 0, 0, 0, 0, 0, 0]);
///     cap.extend_from_slice(&secs.to_le_bytes());
///     cap.extend_from_slice(&0u32.to_le_bytes());
///     cap.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
///     cap.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
///     cap.extend_from_slice(&pkt);
///     cap
/// }
///
/// // A SYN at the end of one part of a rotated capture, its SYN-ACK at the
/// // start of the next.
/// let first = part(1_700_000_000, 1, 40000, 2, 22, 0x02);
/// let second = part(1_700_000_001, 2, 22, 1, 40000, 0x12);
/// let mut captures = CaptureReader::new(&PcapOptions::default()).unwrap();
/// let mut events = Vec::new();
/// captures.read(&first[..], None, &mut |e| events.push(e)).unwrap();
/// captures.read(&second[..], None, &mut |e| events.push(e)).unwrap();
/// assert_eq!(captures.finish(&mut |e| events.push(e)), 0);
/// let outcomes: Vec<Outcome> = events.iter().map(|e| e.outcome).collect();
/// assert_eq!(outcomes, [Outcome::Attempt, Outcome::Established]);
///
/// // Read on its own, the first part ends within the SYN's answer window:
/// // no outcome, and one probe pending.
/// let mut alone = CaptureReader::new(&PcapOptions::default()).unwrap();
/// alone.read(&first[..], None, &mut |_| {}).unwrap();
/// assert_eq!(alone.finish(&mut |_| {}), 1);
/// ```
pub struct CaptureReader {
    tracker: flows::Tracker,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("counts", &self.tracker.counts)
            .finish_non_exhaustive()
    }
}

impl CaptureReader {
    /// A reader whose flow tracker has all the memory `opts` gives it now.
    ///
    /// # Errors
    /// That memory cannot be had (location `options`).
    pub fn new(opts: &PcapOptions) -> Result<CaptureReader, InputError> {
        let tracker = flows::Tracker::try_new(opts).map_err(|message| InputError {
            location: "options".to_string(),
            message,
        })?;
        Ok(CaptureReader { tracker })
    }

    /// Reads one decompressed pcap or pcapng stream, emitting its events and
    /// telling `on_malformed` (if given) about its malformed records as
    /// [`read_capture`] does, except that probes still awaiting an answer at
    /// its end stay pending for the next capture or for
    /// [`finish`](Self::finish). Its counts are this capture's
    /// ([`pending`](ReadStats::pending) is 0), its locations offsets in this
    /// stream.
    ///
    /// It takes only the malformed-record handler of a [`ReadOptions`]: the
    /// tracker's options were fixed by [`new`](Self::new).
    ///
    /// # Errors
    /// As [`read_capture`].
    pub fn read<R: Read + Send>(
        &mut self,
        r: R,
        mut on_malformed: Option<OnMalformed<'_>>,
        emit: Emit,
    ) -> Result<ReadStats, InputError> {
        let tracker = &mut self.tracker;
        let before = tracker.counts;
        let mut st = ReadStats::default();
        // Framing and decoding run on another thread, ahead of the tracker.
        let keys = tracker.keys().clone();
        let ended = ahead::each_record(r, &keys, emit, |record, outbox| match *record {
            Record::Packet {
                ts, packet, key, ..
            } => {
                st.records += 1;
                let ts = ts.unwrap_or_else(|| tracker.clock());
                tracker.advance(ts);
                if !tracker.keyed(ts, &packet, key) {
                    st.skipped += 1;
                }
                tracker.drain(&mut |ev| outbox.push(ev));
            }
            Record::Skipped { at, ts, why } => {
                st.records += 1;
                st.skipped += 1;
                let ts = ts.unwrap_or_else(|| tracker.clock());
                tracker.advance(ts);
                match why {
                    Skip::Irrelevant => {}
                    Skip::Malformed(why) => {
                        st.malformed += 1;
                        report(&mut on_malformed, Location::Byte(at), why);
                    }
                    Skip::Link(link) => {
                        st.unsupported += 1;
                        st.unsupported_link.get_or_insert(link);
                    }
                }
                tracker.drain(&mut |ev| outbox.push(ev));
            }
            Record::Bad { at, why } => {
                st.records += 1;
                st.skipped += 1;
                st.malformed += 1;
                report(&mut on_malformed, Location::Byte(at), why);
            }
            Record::Truncated(at) => {
                st.records += 1;
                st.skipped += 1;
                st.malformed += 1;
                st.truncated_at = Some(at);
                report(
                    &mut on_malformed,
                    Location::Byte(at),
                    "record cut short by the end of the capture",
                );
            }
        });
        ended?;
        st.events = tracker.counts.events - before.events;
        st.tracker_full = tracker.counts.evicted - before.evicted;
        Ok(st)
    }

    /// The end of the input: emits the timeouts the capture's time has
    /// passed but no later packet expired (in a capture whose time goes
    /// backwards), and returns how many probes were still within their
    /// answer window. The input holds neither their answer nor their
    /// timeout, so they are left out: counted among the probes by the
    /// `Attempt` each made, neither answered nor failed (unless
    /// [`PcapOptions::pending_unanswered`] makes them `Unanswered`). Stealth
    /// probes, held without an `Attempt` until their outcome is known, leave
    /// nothing.
    pub fn finish(&mut self, emit: Emit) -> u64 {
        let before = self.tracker.counts.pending;
        self.tracker.finish();
        self.tracker.drain(emit);
        self.tracker.counts.pending - before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use sweepwatch::{Event, Outcome, Protocol, Timestamp};

    use sweepwatch::tcp::{ACK, RST, SYN};

    // ---- frames ----

    fn ipv4(proto: u8, src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (src.parse().unwrap(), dst.parse().unwrap()) else {
            panic!("not IPv4")
        };
        let mut v = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
        v.extend_from_slice(&s.octets());
        v.extend_from_slice(&d.octets());
        v.extend_from_slice(payload);
        let len = v.len() as u16;
        v[2..4].copy_from_slice(&len.to_be_bytes());
        v
    }

    /// IPv6 with a hop-by-hop options header before `next`.
    fn ipv6(next: u8, src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
        let (IpAddr::V6(s), IpAddr::V6(d)) = (src.parse().unwrap(), dst.parse().unwrap()) else {
            panic!("not IPv6")
        };
        let mut v = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
        v.extend_from_slice(&s.octets());
        v.extend_from_slice(&d.octets());
        v.extend_from_slice(&[next, 0, 5, 2, 0, 0, 0, 0]);
        v.extend_from_slice(payload);
        let len = (v.len() - 40) as u16;
        v[4..6].copy_from_slice(&len.to_be_bytes());
        v
    }

    fn tcp(sport: u16, dport: u16, flags: u8, window: u16) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 0x50;
        t[13] = flags;
        t[14..16].copy_from_slice(&window.to_be_bytes());
        t
    }

    fn udp(sport: u16, dport: u16) -> Vec<u8> {
        let mut u = vec![0u8; 12];
        u[0..2].copy_from_slice(&sport.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&12u16.to_be_bytes());
        u
    }

    fn icmp(ty: u8, code: u8, rest: [u8; 4], quote: &[u8]) -> Vec<u8> {
        let mut v = vec![ty, code, 0, 0];
        v.extend_from_slice(&rest);
        v.extend_from_slice(quote);
        v
    }

    /// Ethernet with the given VLAN tags (outer first; TPID, VID).
    fn eth(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        for &(tpid, vid) in tags {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&vid.to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        while f.len() < 60 {
            f.push(0); // padding to the Ethernet minimum
        }
        f
    }

    fn sll(proto: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        f.extend_from_slice(&proto.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn sll2(proto: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = proto.to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    // ---- containers ----

    fn u32b(v: u32, le: bool) -> [u8; 4] {
        if le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    }

    /// A classic pcap; times in microseconds.
    fn pcap(le: bool, nanos: bool, link: u32, pkts: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let magic = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut v = u32b(magic, le).to_vec();
        let ver: [u8; 4] = if le { [2, 0, 4, 0] } else { [0, 2, 0, 4] };
        v.extend_from_slice(&ver);
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&u32b(65535, le));
        v.extend_from_slice(&u32b(link, le));
        for (us, data) in pkts {
            let frac = if nanos {
                us % 1_000_000 * 1000 + 999
            } else {
                us % 1_000_000
            };
            v.extend_from_slice(&u32b((us / 1_000_000) as u32, le));
            v.extend_from_slice(&u32b(frac as u32, le));
            v.extend_from_slice(&u32b(data.len() as u32, le));
            v.extend_from_slice(&u32b(data.len() as u32, le));
            v.extend_from_slice(data);
        }
        v
    }

    fn block(out: &mut Vec<u8>, le: bool, ty: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = (body.len() + 12) as u32;
        out.extend_from_slice(&u32b(ty, le));
        out.extend_from_slice(&u32b(len, le));
        out.extend_from_slice(&body);
        out.extend_from_slice(&u32b(len, le));
    }

    fn shb(out: &mut Vec<u8>, le: bool) {
        let mut body = u32b(0x1a2b_3c4d, le).to_vec();
        body.extend_from_slice(if le { &[1, 0, 0, 0] } else { &[0, 1, 0, 0] });
        body.extend_from_slice(&[0xff; 8]); // section length unknown
        block(out, le, 0x0a0d_0d0a, &body);
    }

    fn idb(out: &mut Vec<u8>, le: bool, link: u16, tsresol: Option<u8>) {
        let l = if le {
            link.to_le_bytes()
        } else {
            link.to_be_bytes()
        };
        let mut body = vec![l[0], l[1], 0, 0];
        body.extend_from_slice(&u32b(262_144, le));
        if let Some(r) = tsresol {
            let opt = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
            body.extend_from_slice(&opt(9));
            body.extend_from_slice(&opt(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        }
        block(out, le, 1, &body);
    }

    fn epb(out: &mut Vec<u8>, le: bool, iface: u32, ticks: u64, data: &[u8]) {
        let mut body = u32b(iface, le).to_vec();
        body.extend_from_slice(&u32b((ticks >> 32) as u32, le));
        body.extend_from_slice(&u32b(ticks as u32, le));
        body.extend_from_slice(&u32b(data.len() as u32, le));
        body.extend_from_slice(&u32b(data.len() as u32, le));
        body.extend_from_slice(data);
        block(out, le, 6, &body);
    }

    fn spb(out: &mut Vec<u8>, le: bool, data: &[u8]) {
        let mut body = u32b(data.len() as u32, le).to_vec();
        body.extend_from_slice(data);
        block(out, le, 3, &body);
    }

    // ---- running ----

    fn read(bytes: &[u8]) -> (Vec<Event>, ReadStats) {
        read_with(bytes, &PcapOptions::default())
    }

    fn read_with(bytes: &[u8], opts: &PcapOptions) -> (Vec<Event>, ReadStats) {
        let mut evs = Vec::new();
        let mut opts = ReadOptions {
            pcap: opts.clone(),
            ..ReadOptions::default()
        };
        let st = read_capture(bytes, &mut opts, &mut |e| evs.push(e)).unwrap();
        assert_eq!(st.events, evs.len() as u64);
        (evs, st)
    }

    fn ev(
        ts_us: u64,
        src: &str,
        sport: u16,
        dst: &str,
        dport: u16,
        proto: Protocol,
        o: Outcome,
    ) -> Event {
        let mut ev = Event::new(
            Timestamp::from_micros(ts_us),
            src.parse().unwrap(),
            dst.parse().unwrap(),
            dport,
            proto,
            o,
        );
        ev.src_port = sport;
        ev
    }

    const T0: u64 = 1_700_000_000_000_000;
    use Outcome::*;
    use Protocol::{Icmp, Tcp, Udp};

    /// SYN answered, SYN refused, SYN unanswered; ARP and a midstream ACK.
    fn tcp_frames(wrap: impl Fn(u16, Vec<u8>) -> Vec<u8>) -> Vec<(u64, Vec<u8>)> {
        let t = |sp, dp, f, w| wrap(0x0800, ipv4(6, "10.1.0.5", "10.1.0.9", &tcp(sp, dp, f, w)));
        let back = |sp, dp, f| {
            wrap(
                0x0800,
                ipv4(6, "10.1.0.9", "10.1.0.5", &tcp(sp, dp, f, 1000)),
            )
        };
        vec![
            (T0, t(40000, 22, SYN, 0)), // zero window: still a SYN
            (T0 + 10, back(22, 40000, SYN | ACK)),
            (T0 + 20, t(40000, 22, ACK, 500)),
            (T0 + 100, t(40001, 23, SYN, 1024)),
            (T0 + 150, back(23, 40001, RST | ACK)),
            (T0 + 200, t(40002, 80, SYN, 1024)),
            (T0 + 1_000_000, t(40002, 80, SYN, 1024)), // retransmitted
            (T0 + 1_100_000, wrap(0x0806, vec![0; 28])), // ARP
            (T0 + 9_000_000, t(50000, 443, ACK, 1024)), // midstream
        ]
    }

    fn tcp_expected() -> Vec<Event> {
        vec![
            ev(T0, "10.1.0.5", 40000, "10.1.0.9", 22, Tcp, Attempt),
            // Outcomes carry the time their probe was sent.
            ev(T0, "10.1.0.5", 40000, "10.1.0.9", 22, Tcp, Established),
            ev(T0 + 100, "10.1.0.5", 40001, "10.1.0.9", 23, Tcp, Attempt),
            ev(T0 + 100, "10.1.0.5", 40001, "10.1.0.9", 23, Tcp, Refused),
            ev(T0 + 200, "10.1.0.5", 40002, "10.1.0.9", 80, Tcp, Attempt),
            ev(T0 + 200, "10.1.0.5", 40002, "10.1.0.9", 80, Tcp, Unanswered),
        ]
    }

    #[test]
    fn link_types_not_decoded_are_counted_and_named() {
        let frames: Vec<(u64, Vec<u8>)> = (0..3).map(|i| (i * 1_000_000, vec![0x08; 40])).collect();
        let (evs, st) = read(&pcap(true, false, 105, &frames));
        assert!(evs.is_empty());
        assert_eq!((st.records, st.skipped, st.malformed), (3, 3, 0));
        assert_eq!((st.unsupported, st.unsupported_link), (3, Some(105)));
        assert_eq!(link_name(105), Some("IEEE 802.11"));
        // A decoded link type counts none.
        let (_, st) = read(&pcap(true, false, 1, &frames));
        assert_eq!((st.unsupported, st.unsupported_link), (0, None));
    }

    #[test]
    fn pcap_ethernet_with_stacked_vlans() {
        let frames = tcp_frames(|ty, p| eth(&[(0x88a8, 100), (0x8100, 200)], ty, &p));
        for le in [true, false] {
            let (evs, st) = read(&pcap(le, false, 1, &frames));
            assert_eq!(evs, tcp_expected(), "little-endian: {le}");
            assert_eq!(
                st,
                ReadStats {
                    records: 9,
                    skipped: 4, // ACK, retransmission, ARP, midstream
                    malformed: 0,
                    unsupported: 0,
                    unsupported_link: None,
                    events: 6,
                    truncated_at: None,
                    tracker_full: 0,
                    pending: 0,
                    undated: 0,
                }
            );
        }
    }

    #[test]
    fn stealth_probes_in_padded_frames() {
        use sweepwatch::tcp::{FIN, PSH, URG};
        use sweepwatch::Technique;
        let (s, t) = ("10.2.0.1", "10.2.0.10");
        let probe = |sp, dp, f| eth(&[], 0x0800, &ipv4(6, s, t, &tcp(sp, dp, f, 1024)));
        let back = |sp, dp, f| eth(&[], 0x0800, &ipv4(6, t, s, &tcp(sp, dp, f, 0)));
        // A data segment whose capture the snapshot length cut to its headers.
        let mut data = tcp(443, 41000, PSH | ACK, 512);
        data.extend_from_slice(&[0x17; 100]);
        let mut cut = eth(&[], 0x0800, &ipv4(6, t, s, &data));
        cut.truncate(14 + 20 + 20);
        let frames = vec![
            (T0, probe(50000, 21, FIN)), // padded to 60 bytes: still no payload
            (T0 + 100, back(21, 50000, RST | ACK)),
            (T0 + 200, probe(50000, 22, FIN | PSH | URG)),
            (T0 + 300, probe(50000, 23, 0)),
            (T0 + 400, back(23, 50000, RST | ACK)),
            (T0 + 500, probe(50001, 80, ACK)),
            (T0 + 600, back(80, 50001, RST)),
            (T0 + 700, probe(50002, 81, ACK)), // silent: nothing
            (T0 + 800, cut),                   // midstream, then its RST
            (T0 + 900, probe(41000, 443, RST | ACK)),
        ];
        let (evs, st) = read(&pcap(true, false, 1, &frames));
        let stealth = |ts, sp, dp, o, t: Technique| {
            ev(T0 + ts, s, sp, "10.2.0.10", dp, Tcp, o).with_technique(t)
        };
        assert_eq!(
            evs,
            vec![
                stealth(0, 50000, 21, Refused, Technique::Fin),
                stealth(300, 50000, 23, Refused, Technique::Null),
                stealth(500, 50001, 80, Refused, Technique::Ack),
                // The Xmas at T0 + 200 is within its answer window when the
                // capture ends: no outcome.
            ]
        );
        assert_eq!((st.records, st.skipped, st.events), (10, 7, 3));
    }

    #[test]
    fn pcap_nanoseconds_and_linux_cooked() {
        let frames = tcp_frames(|ty, p| sll(ty, &p));
        let (evs, _) = read(&pcap(false, true, 113, &frames));
        assert_eq!(evs, tcp_expected());
        let frames = tcp_frames(|ty, p| sll2(ty, &p));
        let (evs, _) = read(&pcap(true, true, 276, &frames));
        assert_eq!(evs, tcp_expected());
    }

    #[test]
    fn pcap_udp_and_icmp_over_sll() {
        let probe = ipv4(17, "192.168.7.2", "192.168.7.3", &udp(3333, 161));
        let pkts = vec![
            (T0, sll(0x0800, &probe)),
            (
                T0 + 5,
                sll(
                    0x0800,
                    &ipv4(1, "192.168.7.3", "192.168.7.2", &icmp(3, 3, [0; 4], &probe)),
                ),
            ),
            (
                T0 + 10,
                sll(
                    0x0800,
                    &ipv4(17, "192.168.7.2", "192.168.7.4", &udp(3334, 53)),
                ),
            ),
            (
                T0 + 20,
                sll(
                    0x0800,
                    &ipv4(17, "192.168.7.4", "192.168.7.2", &udp(53, 3334)),
                ),
            ),
            (
                T0 + 30,
                sll(
                    0x0800,
                    &ipv4(
                        1,
                        "192.168.7.2",
                        "192.168.7.5",
                        &icmp(8, 0, [0x12, 0x34, 0, 1], &[]),
                    ),
                ),
            ),
            (
                T0 + 40,
                sll(
                    0x0800,
                    &ipv4(
                        1,
                        "192.168.7.5",
                        "192.168.7.2",
                        &icmp(0, 0, [0x12, 0x34, 0, 1], &[]),
                    ),
                ),
            ),
            (
                T0 + 50,
                sll(
                    0x0800,
                    &ipv4(
                        1,
                        "192.168.7.2",
                        "192.168.7.6",
                        &icmp(8, 0, [0, 7, 0, 1], &[]),
                    ),
                ),
            ),
        ];
        let (evs, st) = read(&pcap(true, false, 113, &pkts));
        assert_eq!(
            evs,
            vec![
                ev(T0, "192.168.7.2", 3333, "192.168.7.3", 161, Udp, Attempt),
                ev(T0, "192.168.7.2", 3333, "192.168.7.3", 161, Udp, Refused),
                ev(
                    T0 + 10,
                    "192.168.7.2",
                    3334,
                    "192.168.7.4",
                    53,
                    Udp,
                    Attempt
                ),
                ev(
                    T0 + 10,
                    "192.168.7.2",
                    3334,
                    "192.168.7.4",
                    53,
                    Udp,
                    Established
                ),
                ev(T0 + 30, "192.168.7.2", 0, "192.168.7.5", 0, Icmp, Attempt),
                ev(
                    T0 + 30,
                    "192.168.7.2",
                    0,
                    "192.168.7.5",
                    0,
                    Icmp,
                    Established
                ),
                // Within its answer window when the capture ends: no outcome.
                ev(T0 + 50, "192.168.7.2", 0, "192.168.7.6", 0, Icmp, Attempt),
            ]
        );
        assert_eq!((st.records, st.skipped), (7, 0));
    }

    #[test]
    fn pcapng_sections_interfaces_and_resolutions() {
        let mut v = Vec::new();
        // Section 1, little-endian: Ethernet at µs, raw IPv6 at ns.
        shb(&mut v, true);
        idb(&mut v, true, 1, None);
        idb(&mut v, true, 101, Some(9));
        block(&mut v, true, 0x0bad, &[1, 2, 3]); // unknown block: skipped
        let syn4 = eth(
            &[(0x8100, 5)],
            0x0800,
            &ipv4(6, "10.9.0.1", "10.9.0.2", &tcp(1111, 25, SYN, 64)),
        );
        epb(&mut v, true, 0, T0, &syn4);
        let a = "2001:db8::a";
        let b = "2001:db8::b";
        let syn6 = ipv6(6, a, b, &tcp(2222, 443, SYN, 64));
        epb(&mut v, true, 1, (T0 + 1) * 1000 + 123, &syn6);
        let rst6 = ipv6(6, b, a, &tcp(443, 2222, RST | ACK, 0));
        epb(&mut v, true, 1, (T0 + 2) * 1000, &rst6);
        let echo6 = ipv6(58, a, "2001:db8::c", &icmp(128, 0, [0, 9, 0, 1], &[]));
        epb(&mut v, true, 1, (T0 + 3) * 1000, &echo6);
        let unreach6 = ipv6(58, "2001:db8::1", a, &icmp(1, 3, [0; 4], &echo6[..]));
        epb(&mut v, true, 1, (T0 + 4) * 1000, &unreach6);
        // A simple packet block: interface 0, no timestamp of its own.
        let sa4 = eth(
            &[],
            0x0800,
            &ipv4(6, "10.9.0.2", "10.9.0.1", &tcp(25, 1111, SYN | ACK, 64)),
        );
        spb(&mut v, true, &sa4);
        // An obsolete packet block (16-bit interface id, then a drop count).
        let syn4b = eth(
            &[],
            0x0800,
            &ipv4(6, "10.9.0.1", "10.9.0.2", &tcp(1112, 25, SYN, 64)),
        );
        let mut opb = vec![0, 0, 0, 0];
        opb.extend_from_slice(&u32b(((T0 + 5) >> 32) as u32, true));
        opb.extend_from_slice(&u32b((T0 + 5) as u32, true));
        opb.extend_from_slice(&u32b(syn4b.len() as u32, true));
        opb.extend_from_slice(&u32b(syn4b.len() as u32, true));
        opb.extend_from_slice(&syn4b);
        block(&mut v, true, 2, &opb);
        // Section 2, big-endian, Linux cooked v2 with 2^-10 s ticks.
        shb(&mut v, false);
        idb(&mut v, false, 276, Some(0x80 | 10));
        let udp4 = sll2(0x0800, &ipv4(17, "10.9.0.1", "10.9.0.3", &udp(5353, 69)));
        let ticks = (T0 / 1_000_000 + 10) * 1024 + 512; // T0 + 10.5 s
        epb(&mut v, false, 0, ticks, &udp4);
        // Packet on an interface the section does not have.
        epb(&mut v, false, 3, ticks, &udp4);

        let (evs, st) = read(&v);
        let t10 = T0 + 10_500_000;
        assert_eq!(
            evs,
            vec![
                ev(T0, "10.9.0.1", 1111, "10.9.0.2", 25, Tcp, Attempt),
                ev(T0 + 1, a, 2222, b, 443, Tcp, Attempt),
                ev(T0 + 1, a, 2222, b, 443, Tcp, Refused),
                ev(T0 + 3, a, 0, "2001:db8::c", 0, Icmp, Attempt),
                ev(T0 + 3, a, 0, "2001:db8::c", 0, Icmp, Refused),
                ev(T0, "10.9.0.1", 1111, "10.9.0.2", 25, Tcp, Established),
                ev(T0 + 5, "10.9.0.1", 1112, "10.9.0.2", 25, Tcp, Attempt),
                // Its deadline passes in the next section.
                ev(T0 + 5, "10.9.0.1", 1112, "10.9.0.2", 25, Tcp, Unanswered),
                // Within its answer window when the capture ends.
                ev(t10, "10.9.0.1", 5353, "10.9.0.3", 69, Udp, Attempt),
            ]
        );
        assert_eq!((st.records, st.skipped, st.malformed), (9, 1, 1));
    }

    #[test]
    fn not_a_capture() {
        for bad in [&b""[..], b"\xd4\xc3", b"GET / HTTP/1.1\r\n", &[0u8; 100]] {
            let err = read_capture(bad, &mut ReadOptions::default(), &mut |_| {}).unwrap_err();
            assert_eq!(err.location, "byte 0");
            assert_eq!(err.message, "not a pcap or pcapng capture");
        }
    }

    #[test]
    fn absurd_lengths_are_errors_with_offsets() {
        let frames = tcp_frames(|ty, p| eth(&[], ty, &p));
        let mut cap = pcap(true, false, 1, &frames[..2]);
        let second = 24 + 16 + frames[0].1.len();
        cap[second + 8..second + 12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        let mut n = 0;
        let err = read_capture(&cap[..], &mut ReadOptions::default(), &mut |_| n += 1).unwrap_err();
        assert_eq!(err.location, format!("byte {second}"));
        assert_eq!(n, 1, "the first packet's event comes before the error");

        let mut ng = Vec::new();
        shb(&mut ng, true);
        idb(&mut ng, true, 1, None);
        let at = ng.len();
        epb(&mut ng, true, 0, T0, &frames[0].1);
        // Trailer disagrees with the leading length.
        let end = ng.len();
        ng[end - 4..].copy_from_slice(&8u32.to_le_bytes());
        let err = read_capture(&ng[..], &mut ReadOptions::default(), &mut |_| {}).unwrap_err();
        assert_eq!(err.location, format!("byte {at}"));
        // A length that is not a multiple of 4.
        ng[at + 4..at + 8].copy_from_slice(&13u32.to_le_bytes());
        let err = read_capture(&ng[..], &mut ReadOptions::default(), &mut |_| {}).unwrap_err();
        assert_eq!(err.location, format!("byte {at}"));
        // A section header without a byte-order magic.
        let mut bom = Vec::new();
        shb(&mut bom, true);
        bom[8] = 0;
        let err = read_capture(&bom[..], &mut ReadOptions::default(), &mut |_| {}).unwrap_err();
        assert_eq!(err.location, "byte 8");
    }

    #[test]
    fn lengths_beyond_the_snaplen_and_the_file_are_errors_with_offsets() {
        let frames = tcp_frames(|ty, p| eth(&[], ty, &p));
        let len = frames[1].1.len();
        for le in [true, false] {
            let cap = pcap(le, false, 1, &frames[..3]);
            let second = 24 + 16 + frames[0].1.len();
            // The second record claims 100 bytes more than the snaplen allows
            // (far under the sanity limit), and more than the file holds:
            // believed, the rest would be lost as "truncated".
            let mut bad = cap.clone();
            bad[second + 8..second + 12].copy_from_slice(&u32b(65_635, le));
            let mut n = 0;
            let err =
                read_capture(&bad[..], &mut ReadOptions::default(), &mut |_| n += 1).unwrap_err();
            assert_eq!(err.location, format!("byte {second}"));
            assert!(err.message.contains("snaplen"), "{err}");
            assert_eq!(n, 1, "the first packet's event comes before the error");
            // A snaplen of 0 sets no bound: the same record reads as
            // truncated by the end of the file, as before.
            bad[16..20].copy_from_slice(&u32b(0, le));
            let (_, st) = read(&bad);
            assert_eq!(st.truncated_at, Some(second as u64));
            // A snaplen below records that are really there: read as they
            // are, as libpcap reads them.
            let mut small = cap.clone();
            small[16..20].copy_from_slice(&u32b(len as u32 - 1, le));
            let (evs, st) = read(&small);
            assert_eq!((st.records, st.truncated_at), (3, None));
            assert_eq!(evs, read(&cap).0);
        }
    }

    #[test]
    fn truncated_capture_emits_what_came_before() {
        let frames = tcp_frames(|ty, p| eth(&[], ty, &p));
        let cap = pcap(true, false, 1, &frames[..6]);
        let last = cap.len() - 16 - frames[5].1.len();
        // Cut inside the last record's data, then inside its header.
        for cut in [cap.len() - 3, last + 5] {
            let (evs, st) = read(&cap[..cut]);
            assert_eq!(st.truncated_at, Some(last as u64));
            assert_eq!(st.malformed, 1);
            assert_eq!(st.records, 6);
            // Everything before the third probe; the capture is cut before
            // its deadline.
            assert_eq!(evs, tcp_expected()[..4].to_vec());
        }
        // Inside the file header.
        let (evs, st) = read(&cap[..10]);
        assert_eq!((evs.len(), st.truncated_at), (0, Some(0)));

        let mut ng = Vec::new();
        shb(&mut ng, false);
        idb(&mut ng, false, 1, None);
        epb(&mut ng, false, 0, T0, &frames[0].1);
        let at = ng.len();
        epb(&mut ng, false, 0, T0 + 10, &frames[1].1);
        let (evs, st) = read(&ng[..ng.len() - 1]);
        assert_eq!(st.truncated_at, Some(at as u64));
        // The SYN, within its answer window where the capture is cut.
        assert_eq!(evs, vec![tcp_expected()[0]]);
    }

    #[test]
    fn malformed_packets_are_skipped() {
        let good = ipv4(6, "10.0.0.1", "10.0.0.2", &tcp(1, 2, SYN, 0));
        let pkts = vec![
            (T0, good[..30].to_vec()), // TCP header cut short
            (T0, vec![0x45, 0, 0]),    // IPv4 header cut short
            (T0, vec![0x4f; 20]),      // header length beyond the packet
            (T0, vec![]),              // empty
            (T0 + 1, good.clone()),
        ];
        let cap = pcap(true, false, 101, &pkts);
        let (evs, st) = read(&cap);
        // The SYN's attempt; the capture ends within its answer window.
        assert_eq!(evs.len(), 1);
        assert_eq!((st.records, st.skipped, st.malformed), (5, 4, 4));

        // Each is reported once, at the start of its record (a 24-byte file
        // header, then a 16-byte header before each packet).
        let mut bad = Vec::new();
        let mut report = |at: Location, why: &str| bad.push((at, why.to_string()));
        let mut opts = ReadOptions {
            on_malformed: Some(&mut report),
            ..ReadOptions::default()
        };
        read_capture(&cap[..], &mut opts, &mut |_| {}).unwrap();
        let want = [
            (24, "TCP header cut short"),
            (24 + 16 + 30, "IPv4 header cut short"),
            (24 + 32 + 33, "IPv4 header length inconsistent"),
            (24 + 48 + 53, "empty packet"),
        ];
        let want: Vec<(Location, String)> = want
            .iter()
            .map(|&(at, why)| (Location::Byte(at), why.to_string()))
            .collect();
        assert_eq!(bad, want);
    }

    /// A small deterministic generator for the robustness tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn never_panics_on_damaged_input() {
        let frames = tcp_frames(|ty, p| eth(&[(0x8100, 1)], ty, &p));
        let mut ng = Vec::new();
        shb(&mut ng, true);
        idb(&mut ng, true, 1, Some(9));
        idb(&mut ng, true, 113, None);
        for (i, (t, f)) in frames.iter().enumerate() {
            epb(&mut ng, true, 0, t * 1000, f);
            spb(
                &mut ng,
                true,
                &sll(0x86dd, &ipv6(6, "::1", "::2", &tcp(i as u16, 80, SYN, 0))),
            );
        }
        let seeds = [
            pcap(true, false, 1, &frames),
            pcap(false, true, 0, &frames),
            ng,
        ];
        let mut opts = ReadOptions {
            pcap: PcapOptions {
                max_flows: 3,
                ..PcapOptions::default()
            },
            ..ReadOptions::default()
        };
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for seed in &seeds {
            // Every truncation point.
            for cut in 0..seed.len() {
                let _ = read_capture(&seed[..cut], &mut opts, &mut |_| {});
            }
            // Random byte flips.
            for _ in 0..2000 {
                let mut m = seed.clone();
                for _ in 0..1 + rng.next() % 8 {
                    let i = (rng.next() % m.len() as u64) as usize;
                    m[i] = rng.next() as u8;
                }
                let _ = read_capture(&m[..], &mut opts, &mut |_| {});
            }
        }
        // Random bytes behind each valid magic.
        for magic in [
            [0xd4, 0xc3, 0xb2, 0xa1],
            [0xa1, 0xb2, 0x3c, 0x4d],
            [0x0a, 0x0d, 0x0d, 0x0a],
        ] {
            for _ in 0..500 {
                let mut m = magic.to_vec();
                let n = rng.next() % 400;
                m.extend((0..n).map(|_| rng.next() as u8));
                let _ = read_capture(&m[..], &mut opts, &mut |_| {});
            }
        }
    }
}
