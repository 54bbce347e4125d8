//! Suricata EVE JSON: `flow` records to outcomes.
//!
//! Suricata writes one `flow` record per flow when the flow times out or closes,
//! with the TCP flags each side sent (`tcp.tcp_flags_ts`, to server;
//! `tcp.tcp_flags_tc`, to client) and packet counts. An attempt is counted only
//! where the record shows that the client opened it: a SYN, or a segment no
//! connection sends (nmap's stealth probes). From those:
//!
//! | protocol | record | outcome | technique |
//! |---|---|---|---|
//! | TCP | client sent SYN, server answered SYN+ACK | `Established` | `Connect` if the client also sent ACK, else `Syn` |
//! | TCP | client sent SYN, server answered RST without SYN | `Refused` | `Syn` |
//! | TCP | client sent SYN, nothing came back | `Unanswered` | `Syn` |
//! | TCP | client sent no SYN; its flags are FIN, NULL, Xmas or another set without ACK; server sent only RST (and ACK), no data | `Refused` | `Fin`, `Null`, `Xmas`, `TcpOther` |
//! | TCP | the same probe, nothing came back | `Unanswered` | as above |
//! | TCP | client sent ACK alone or FIN+ACK alone; server sent only RST (and ACK), no data | `Refused` | `Ack`, `Maimon` |
//! | TCP | those stealth shapes with any other answer, or ACK / FIN+ACK unanswered | none (a connection picked up midstream) | |
//! | TCP | client sent only RSTs (with ACK) and server no data, or client nothing and server SYN+ACK or RST | `Unsolicited` (backscatter) | |
//! | TCP | client's first packets were SYN+ACKs, nothing came back | `Unsolicited` | |
//! | TCP | no session (`tcp_flags` `00`, no `tcp.state`), or no `tcp` object | none | |
//! | UDP | `flow.state` `established` (both directions seen) | `Established` | `Udp` |
//! | UDP | not established, packets to the client (an ICMP error, which Suricata counts in the flow) | `Refused` | `Udp` |
//! | UDP | nothing to the client | `Unanswered` | `Udp` |
//! | UDP to traceroute's ports 33434–33534 | any | none: their answers tell of the path, and flow records do not say which ICMP error answered | |
//! | ICMP / IPv6-ICMP echo request | as for UDP | as for UDP | `IcmpEcho` |
//!
//! Flags `00` on the client's side are not a NULL probe: Suricata (7.0.10 as
//! configured by default, `stream.midstream: false`) keeps a TCP session, and
//! so flags, only for flows that begin with a SYN, and writes `00` on both
//! sides, with no `tcp.state`, for every flow that does not: FIN, NULL, Xmas,
//! ACK and Maimon probes alike, connections picked up midstream, and
//! backscatter: a FIN probe refused by RST and a spoofed flood's SYN-ACK
//! answered by RST are the same record, one packet each way of 60 bytes on
//! Ethernet. Those records tell nothing of what the client sent, and give no
//! event: from EVE as Suricata writes it by default, stealth scans are not
//! seen. With
//! `stream.midstream: true` Suricata also keeps sessions begun by an ACK, so
//! that ACK probes read as `10` to server and `04` to client (`Refused`, `Ack`);
//! FIN, NULL, Xmas and Maimon probes still read `00`.
//!
//! "No data" from the server: its flags hold nothing but RST and ACK, and its
//! packets average at most 100 bytes (`flow.bytes_toclient`, link layer
//! included), room for a bare segment's headers and no more.
//!
//! The event's time is `flow.start`: the probe's time, not the record's, which
//! is written only at flow timeout.

use super::json_scan::{self, Cursor};
use super::{read_lines, Emit, InputError, Parsed, ReadOptions, ReadStats, Zones};
use std::borrow::Cow;
use std::io::BufRead;
use std::net::IpAddr;
use sweepwatch::{Event, Outcome, Protocol, Technique, Timestamp};

use sweepwatch::tcp::{ACK, RST, SYN};

const SYN_ACK: u8 = SYN | ACK;
/// The flags a TCP segment can carry that Suricata logs (FIN to URG).
const FLAGS: u8 = 0x3f;

/// Largest average size, in bytes as Suricata counts them (link layer
/// included), of the server's packets for its answer to a stealth probe to
/// count as bare RSTs: Ethernet with two VLAN tags (22), IPv6 (40) and a TCP
/// header with timestamps (32) come to 94.
const MAX_BARE_SEGMENT: u64 = 100;

/// The fields of a record that decide its event; every other field is skipped.
#[derive(Default)]
struct Record<'a> {
    flow_id: Option<u64>,
    vlan: Option<Vlans>,
    tenant_id: Option<u32>,
    event_type: Option<Cow<'a, str>>,
    timestamp: Option<Cow<'a, str>>,
    src_ip: Option<Cow<'a, str>>,
    dest_ip: Option<Cow<'a, str>>,
    src_port: Option<u16>,
    dest_port: Option<u16>,
    proto: Option<Cow<'a, str>>,
    icmp_type: Option<u32>,
    flow: Option<Flow<'a>>,
    tcp: Option<Tcp<'a>>,
}

#[derive(Default)]
struct Flow<'a> {
    pkts_toclient: Option<u64>,
    bytes_toclient: Option<u64>,
    start: Option<Cow<'a, str>>,
    state: Option<Cow<'a, str>>,
}

#[derive(Default)]
struct Tcp<'a> {
    tcp_flags: Option<Cow<'a, str>>,
    tcp_flags_ts: Option<Cow<'a, str>>,
    tcp_flags_tc: Option<Cow<'a, str>>,
}

/// Stores a field's value, refusing a second occurrence of its key.
#[inline]
fn set<T>(c: &mut Cursor<'_>, slot: &mut Option<T>, v: Option<T>) -> json_scan::Result<()> {
    if slot.is_some() {
        return c.fail("duplicate field");
    }
    *slot = v;
    Ok(())
}

fn port(c: &mut Cursor<'_>) -> json_scan::Result<Option<u16>> {
    Ok(c.opt_uint(u64::from(u16::MAX))?.map(|n| n as u16))
}

/// Whether the value at the cursor is `null` (consumed) rather than an
/// object (opened), for a nested object that may be either.
fn open_or_null(c: &mut Cursor<'_>) -> json_scan::Result<bool> {
    if c.null()? {
        return Ok(false);
    }
    c.object()?;
    Ok(true)
}

fn flow<'a>(c: &mut Cursor<'a>) -> json_scan::Result<Option<Flow<'a>>> {
    if !open_or_null(c)? {
        return Ok(None);
    }
    let mut f = Flow::default();
    while let Some(key) = c.key()? {
        match key {
            b"pkts_toclient" => {
                let v = c.opt_uint(u64::MAX)?;
                set(c, &mut f.pkts_toclient, v)?
            }
            b"bytes_toclient" => {
                let v = c.opt_uint(u64::MAX)?;
                set(c, &mut f.bytes_toclient, v)?
            }
            b"start" => {
                let v = c.opt_str()?;
                set(c, &mut f.start, v)?
            }
            b"state" => {
                let v = c.opt_str()?;
                set(c, &mut f.state, v)?
            }
            _ => c.skip()?,
        }
    }
    Ok(Some(f))
}

fn tcp<'a>(c: &mut Cursor<'a>) -> json_scan::Result<Option<Tcp<'a>>> {
    if !open_or_null(c)? {
        return Ok(None);
    }
    let mut t = Tcp::default();
    while let Some(key) = c.key()? {
        let slot = match key {
            b"tcp_flags" => &mut t.tcp_flags,
            b"tcp_flags_ts" => &mut t.tcp_flags_ts,
            b"tcp_flags_tc" => &mut t.tcp_flags_tc,
            _ => {
                c.skip()?;
                continue;
            }
        };
        let v = c.opt_str()?;
        set(c, slot, v)?;
    }
    Ok(Some(t))
}

/// The fields of one EVE record that decide its event, in one pass over the
/// text (see [`json_scan`]).
fn record<'a>(line: &'a str) -> Result<Record<'a>, String> {
    let mut c = Cursor::new(line);
    let mut r = Record::default();
    let walk = |c: &mut Cursor<'a>, r: &mut Record<'a>| -> json_scan::Result<()> {
        c.object()?;
        while let Some(key) = c.key()? {
            match key {
                b"event_type" | b"timestamp" | b"src_ip" | b"dest_ip" | b"proto" => {
                    let slot = match key {
                        b"event_type" => &mut r.event_type,
                        b"timestamp" => &mut r.timestamp,
                        b"src_ip" => &mut r.src_ip,
                        b"dest_ip" => &mut r.dest_ip,
                        _ => &mut r.proto,
                    };
                    let v = c.opt_str()?;
                    set(c, slot, v)?
                }
                b"src_port" => {
                    let v = port(c)?;
                    set(c, &mut r.src_port, v)?
                }
                b"flow_id" => {
                    let v = c.opt_uint(u64::MAX)?;
                    set(c, &mut r.flow_id, v)?
                }
                b"tenant_id" => {
                    let v = c.opt_uint(u64::from(u32::MAX))?.map(|n| n as u32);
                    set(c, &mut r.tenant_id, v)?
                }
                b"vlan" => {
                    let mut ids = Vlans::default();
                    let v = if c.opt_array(|c| {
                        let id = c.opt_uint(u64::from(u16::MAX))?;
                        ids.push(id.map_or(0, |n| n as u16));
                        Ok(())
                    })? {
                        Some(ids)
                    } else {
                        None
                    };
                    set(c, &mut r.vlan, v)?
                }
                b"dest_port" => {
                    let v = port(c)?;
                    set(c, &mut r.dest_port, v)?
                }
                b"icmp_type" => {
                    let v = c.opt_uint(u64::from(u32::MAX))?.map(|n| n as u32);
                    set(c, &mut r.icmp_type, v)?
                }
                b"flow" => {
                    let v = flow(c)?;
                    set(c, &mut r.flow, v)?
                }
                b"tcp" => {
                    let v = tcp(c)?;
                    set(c, &mut r.tcp, v)?
                }
                _ => c.skip()?,
            }
        }
        c.end()
    };
    match walk(&mut c, &mut r) {
        Ok(()) => Ok(r),
        Err(json_scan::Stop) => {
            let (at, what) = c.error();
            Err(format!("invalid JSON: {what} at byte {at}"))
        }
    }
}

fn flags(field: &str, v: &Option<Cow<'_, str>>) -> Result<u8, String> {
    match v {
        None => Ok(0),
        Some(s) => u8::from_str_radix(s, 16)
            .map_err(|_| format!("{field} `{s}` is not a hexadecimal byte")),
    }
}

fn addr(field: &str, v: &Option<Cow<'_, str>>) -> Result<IpAddr, String> {
    let s = v
        .as_deref()
        .ok_or_else(|| format!("flow record without {field}"))?;
    ipv4(s)
        .map(IpAddr::V4)
        .or_else(|| s.parse().ok())
        .ok_or_else(|| format!("{field} `{s}` is not an IP address"))
}

/// A dotted-quad IPv4 address as the standard library reads it (four
/// decimal parts of at most three digits, no leading zeros, each at most
/// 255), in a fraction of its time; `None` for anything else, which then
/// goes to the standard parser.
fn ipv4(s: &str) -> Option<std::net::Ipv4Addr> {
    let b = s.as_bytes();
    let mut parts = [0u8; 4];
    let mut i = 0;
    for (k, part) in parts.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut n = 0u32;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 || i - start == 3 {
                break;
            }
            n = n * 10 + u32::from(d);
            i += 1;
        }
        if i == start || (i - start > 1 && b[start] == b'0') {
            return None;
        }
        *part = u8::try_from(n).ok()?;
    }
    (i == b.len()).then(|| parts.into())
}

/// What the server sent to the client, as far as the record tells.
#[derive(Clone, Copy)]
struct ToClient {
    flags: u8,
    pkts: u64,
    bytes: Option<u64>,
}

impl ToClient {
    /// Only RSTs (with or without ACK), and no data: the answer of a closed
    /// or refusing port to a segment that belongs to no connection.
    fn bare_rst(self) -> bool {
        self.flags & RST != 0
            && self.flags & FLAGS & !(RST | ACK) == 0
            && match self.bytes {
                Some(b) => b <= self.pkts.saturating_mul(MAX_BARE_SEGMENT),
                None => true,
            }
    }
}

/// The outcome and technique of a TCP flow from the flags each side sent;
/// `None` when the flow shows no attempt (picked up midstream, one-sided
/// traffic, or flags Suricata did not record).
fn tcp_outcome(
    tcp: &Tcp<'_>,
    flow: Option<&Flow<'_>>,
) -> Result<Option<(Outcome, Technique)>, String> {
    let pkts_toclient = flow.and_then(|f| f.pkts_toclient).unwrap_or(0);
    let bytes_toclient = flow.and_then(|f| f.bytes_toclient);
    let ts = flags("tcp_flags_ts", &tcp.tcp_flags_ts)?;
    let tc = flags("tcp_flags_tc", &tcp.tcp_flags_tc)?;
    let all = match &tcp.tcp_flags {
        Some(_) => flags("tcp_flags", &tcp.tcp_flags)?,
        None => ts | tc,
    };
    if all == 0 {
        // No session: Suricata recorded no flags at all (module doc).
        return Ok(None);
    }
    let to_client = ToClient {
        flags: tc,
        pkts: pkts_toclient,
        bytes: bytes_toclient,
    };
    if ts & SYN == 0 {
        return Ok(no_syn(ts, to_client));
    }
    let syn = |o| Ok(Some((o, Technique::Syn)));
    if tc & SYN_ACK == SYN_ACK {
        let technique = if ts & ACK != 0 {
            Technique::Connect
        } else {
            Technique::Syn
        };
        return Ok(Some((Outcome::Established, technique)));
    }
    if tc & RST != 0 && tc & SYN == 0 {
        return syn(Outcome::Refused);
    }
    if tc == 0 && pkts_toclient == 0 {
        // SYN and ACK from the "client" with no reply at all is a host sending
        // SYN-ACKs (backscatter seen from its victim's side), not a probe;
        // data or FIN besides means a one-sided capture of a real session.
        return if ts & ACK == 0 {
            syn(Outcome::Unanswered)
        } else if ts & !(SYN_ACK | RST) == 0 {
            syn(Outcome::Unsolicited)
        } else {
            Ok(None)
        };
    }
    // Replies without SYN+ACK or RST (an ACK, a FIN): no handshake to judge.
    Ok(None)
}

/// A TCP flow whose client sent no SYN (and whose flags were recorded): a
/// stealth probe, backscatter, or a connection picked up midstream.
fn no_syn(ts: u8, tc: ToClient) -> Option<(Outcome, Technique)> {
    if ts == 0 {
        // The client sent nothing Suricata recorded: the server's SYN-ACKs or
        // RSTs answer no probe of its (backscatter).
        return (tc.flags & SYN_ACK == SYN_ACK || tc.flags & RST != 0)
            .then_some((Outcome::Unsolicited, Technique::Syn));
    }
    match Technique::from_tcp_flags(ts) {
        Some(t @ (Technique::Fin | Technique::Null | Technique::Xmas | Technique::TcpOther)) => {
            if tc.bare_rst() {
                Some((Outcome::Refused, t))
            } else if tc.flags == 0 && tc.pkts == 0 {
                Some((Outcome::Unanswered, t))
            } else {
                None
            }
        }
        // Segments of a connection too: only a refusal makes them probes.
        Some(t @ (Technique::Ack | Technique::Maimon)) => {
            tc.bare_rst().then_some((Outcome::Refused, t))
        }
        Some(_) => None,
        None => {
            // The client's own segments were replies (RST, with or without
            // ACK) and the server sent no data: backscatter. Anything else
            // (data, FIN+PSH+ACK…) is a connection picked up midstream.
            let replies = ts & FLAGS & !(RST | ACK) == 0 && ts & RST != 0;
            let quiet = tc.flags & FLAGS & !(SYN_ACK | RST) == 0;
            (replies && quiet).then_some((Outcome::Unsolicited, Technique::Syn))
        }
    }
}

/// The VLAN ids of a flow, outermost first, as Suricata lists them in
/// `vlan` (at most three layers; more are not kept).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Vlans {
    ids: [u16; 3],
    len: u8,
}

impl Vlans {
    /// Appends one id, if there is room.
    fn push(&mut self, id: u16) {
        if let Some(slot) = self.ids.get_mut(usize::from(self.len)) {
            *slot = id;
            self.len += 1;
        }
    }

    /// The ids, outermost first.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch_input::eve::eve_flow;
    /// let line = r#"{"flow_id":7,"event_type":"flow","vlan":[10,20],"src_ip":"10.0.0.1",
    ///   "dest_ip":"10.0.0.2","dest_port":53,"proto":"UDP","flow":{"pkts_toclient":0,
    ///   "start":"2021-06-06T16:38:55Z"}}"#;
    /// let (_, ids) = eve_flow(line).unwrap().unwrap();
    /// assert_eq!(ids.vlan.ids(), &[10, 20]);
    /// ```
    pub fn ids(&self) -> &[u16] {
        &self.ids[..usize::from(self.len)]
    }
}

/// How Suricata names the flow an event came from, for records about it:
/// its `flow_id` and `vlan`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowIds {
    /// The record's `flow_id`, if it had one.
    pub flow_id: Option<u64>,
    /// The record's `vlan` ids (empty without them).
    pub vlan: Vlans,
}

/// [`eve_event`], with the ids of the flow the event came from.
///
/// # Examples
/// ```
/// use sweepwatch_input::eve::eve_flow;
/// let line = r#"{"flow_id":1234,"event_type":"flow","src_ip":"203.0.113.5",
///   "dest_ip":"192.168.1.129","dest_port":445,"proto":"TCP",
///   "flow":{"pkts_toclient":1,"start":"2021-06-06T17:34:31.140759+0200"},
///   "tcp":{"tcp_flags_ts":"02","tcp_flags_tc":"14"}}"#;
/// let (ev, ids) = eve_flow(line).unwrap().unwrap();
/// assert_eq!((ev.dst_port, ids.flow_id), (445, Some(1234)));
/// assert!(ids.vlan.ids().is_empty());
/// ```
pub fn eve_flow(line: &str) -> Result<Option<(Event, FlowIds)>, String> {
    let rec = record(line)?;
    let ids = FlowIds {
        flow_id: rec.flow_id,
        vlan: rec.vlan.unwrap_or_default(),
    };
    Ok(event(rec)?.map(|ev| (ev, ids)))
}

/// Maps one EVE record (one JSON line) to an event: `Ok(None)` for records that
/// are not flows or carry no attempt (midstream pickups), `Err` for malformed JSON
/// or a flow record without usable addresses or times.
///
/// # Examples
/// ```
/// use sweepwatch_input::eve::eve_event;
/// use sweepwatch::Outcome;
/// let line = r#"{"event_type":"flow","src_ip":"203.0.113.5","src_port":40000,
///   "dest_ip":"192.168.1.129","dest_port":445,"proto":"TCP",
///   "flow":{"pkts_toserver":1,"pkts_toclient":1,"start":"2021-06-06T17:34:31.140759+0200"},
///   "tcp":{"tcp_flags":"16","tcp_flags_ts":"02","tcp_flags_tc":"14"}}"#;
/// let ev = eve_event(line).unwrap().unwrap();
/// assert_eq!(ev.outcome, Outcome::Refused);
/// assert_eq!(ev.dst_port, 445);
/// assert!(eve_event(r#"{"event_type":"dns"}"#).unwrap().is_none());
/// assert!(eve_event("{\"event_type\":").is_err());
/// ```
pub fn eve_event(line: &str) -> Result<Option<Event>, String> {
    eve_event_in(line, Zones::None)
}

/// [`eve_event`], the event's zone taken as `zones` says: the record's first
/// `vlan` id or its `tenant_id` (0 without one).
///
/// # Examples
/// ```
/// use sweepwatch_input::{eve::eve_event_in, Zones};
/// let line = r#"{"event_type":"flow","tenant_id":3,"vlan":[120,7],"src_ip":"10.0.0.1",
///   "src_port":40000,"dest_ip":"10.0.0.2","dest_port":22,"proto":"TCP",
///   "flow":{"pkts_toclient":1,"start":"2021-06-06T17:34:31.140759+0200"},
///   "tcp":{"tcp_flags_ts":"02","tcp_flags_tc":"14"}}"#;
/// assert_eq!(eve_event_in(line, Zones::Tenant).unwrap().unwrap().zone, 3);
/// assert_eq!(eve_event_in(line, Zones::Vlan).unwrap().unwrap().zone, 120);
/// assert_eq!(eve_event_in(line, Zones::None).unwrap().unwrap().zone, 0);
/// ```
pub fn eve_event_in(line: &str, zones: Zones) -> Result<Option<Event>, String> {
    let rec = record(line)?;
    let zone = match zones {
        Zones::None => 0,
        Zones::Vlan => rec
            .vlan
            .as_ref()
            .and_then(|v| v.ids().first().copied())
            .map_or(0, u32::from),
        Zones::Tenant => rec.tenant_id.unwrap_or(0),
    };
    Ok(event(rec)?.map(|ev| ev.with_zone(zone)))
}

/// The event of a record's fields, if it is a flow with an attempt.
fn event(rec: Record<'_>) -> Result<Option<Event>, String> {
    if rec.event_type.as_deref() != Some("flow") {
        return Ok(None);
    }
    let proto_name = rec.proto.as_deref().unwrap_or("");
    let proto = if proto_name.eq_ignore_ascii_case("TCP") {
        Protocol::Tcp
    } else if proto_name.eq_ignore_ascii_case("UDP") {
        Protocol::Udp
    } else if proto_name.eq_ignore_ascii_case("ICMP")
        || proto_name.eq_ignore_ascii_case("IPv6-ICMP")
    {
        Protocol::Icmp
    } else {
        return Ok(None);
    };
    let flow = rec.flow.as_ref();
    let pkts_toclient = flow.and_then(|f| f.pkts_toclient).unwrap_or(0);
    // Suricata counts an ICMP error about a UDP or ICMP flow among the flow's
    // packets to the client, but only a reply makes the flow established;
    // records without a state say only whether packets came back.
    let answered = match (flow.and_then(|f| f.state.as_deref()), pkts_toclient) {
        (_, 0) => Outcome::Unanswered,
        (None | Some("established" | "closed"), _) => Outcome::Established,
        (Some(_), _) => Outcome::Refused,
    };
    let (outcome, technique, dst_port) = match proto {
        Protocol::Tcp => match &rec.tcp {
            None => return Ok(None),
            Some(tcp) => match tcp_outcome(tcp, flow)? {
                None => return Ok(None),
                Some((o, t)) => (o, t, rec.dest_port.unwrap_or(0)),
            },
        },
        Protocol::Udp => {
            let port = rec.dest_port.unwrap_or(0);
            if super::traceroute_port(port) {
                // Suricata counts a router's time exceeded among the flow's
                // packets to the client, as it does a port unreachable.
                return Ok(None);
            }
            (answered, Technique::Udp, port)
        }
        _ => match rec.icmp_type {
            // Echo request (ICMP 8, ICMPv6 128); other ICMP flows carry no probe.
            Some(8 | 128) => (answered, Technique::IcmpEcho, 0),
            _ => return Ok(None),
        },
    };
    let src = addr("src_ip", &rec.src_ip)?;
    let dst = addr("dest_ip", &rec.dest_ip)?;
    let when = flow
        .and_then(|f| f.start.as_deref())
        .or(rec.timestamp.as_deref())
        .ok_or("flow record without flow.start or timestamp")?;
    let ts: Timestamp = super::parse_datetime(when).ok_or_else(|| format!("bad time `{when}`"))?;
    let mut ev = Event::new(ts, src, dst, dst_port, proto, outcome).with_technique(technique);
    if proto != Protocol::Icmp {
        ev.src_port = rec.src_port.unwrap_or(0);
    }
    Ok(Some(ev))
}

/// Reads EVE JSON lines, emitting one event per `flow` record that carries an
/// attempt. Malformed lines are skipped, counted and told to
/// [`ReadOptions::on_malformed`] with their
/// [`Location::Line`](crate::Location::Line); only I/O errors stop it.
/// `opts.pcap` is not used.
///
/// # Errors
/// An I/O error, with the line where it happened.
///
/// # Examples
/// ```
/// use sweepwatch_input::{eve::read_eve, Location, ReadOptions};
/// use sweepwatch::Outcome;
/// let log = concat!(
///     r#"{"event_type":"dns"}"#, "\n",
///     r#"{"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","dest_port":53,"#,
///     r#""proto":"UDP","flow":{"pkts_toclient":1,"start":"2021-06-06T16:38:55Z"}}"#, "\n",
///     "{not json\n",
/// );
/// let (mut out, mut bad) = (Vec::new(), Vec::new());
/// let mut report = |at: Location, _why: &str| bad.push(at);
/// let mut opts = ReadOptions {
///     on_malformed: Some(&mut report),
///     ..ReadOptions::default()
/// };
/// let st = read_eve(log.as_bytes(), &mut opts, &mut |e| out.push(e)).unwrap();
/// assert_eq!((st.records, st.events, st.skipped, st.malformed), (3, 1, 2, 1));
/// assert_eq!(out[0].outcome, Outcome::Established);
/// assert_eq!(bad, [Location::Line(3)]);
/// ```
pub fn read_eve<R: BufRead>(
    r: R,
    opts: &mut ReadOptions<'_>,
    emit: Emit,
) -> Result<ReadStats, InputError> {
    let zones = opts.zones;
    read_lines(r, opts, emit, |_, bytes| {
        Ok(Parsed::Record(match std::str::from_utf8(bytes) {
            Ok(text) => eve_event_in(text, zones),
            Err(_) => Err("not UTF-8".to_string()),
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceroute_ports_make_no_probe() {
        // A UDP flow answered by an ICMP error, which Suricata counts to the
        // client whether it was a router's time exceeded or the target's port
        // unreachable.
        let line = |port: u16| {
            format!(
                r#"{{"event_type":"flow","src_ip":"10.0.0.1","src_port":50000,"dest_ip":"192.0.2.9",
                "dest_port":{port},"proto":"UDP","flow":{{"pkts_toserver":1,"pkts_toclient":1,
                "start":"2021-06-06T16:38:55.855844+0200","state":"new"}}}}"#
            )
        };
        for port in [33434, 33500, 33534] {
            assert!(eve_event(&line(port)).unwrap().is_none(), "{port}");
        }
        let ev = eve_event(&line(33535)).unwrap().unwrap();
        assert_eq!(ev.outcome, Outcome::Refused);
    }

    fn flow_line(ts: &str, tc: &str, toclient: u64, bytes: Option<u64>) -> String {
        let bytes = bytes.map_or(String::new(), |b| format!(r#","bytes_toclient":{b}"#));
        format!(
            r#"{{"event_type":"flow","src_ip":"10.0.0.1","src_port":1234,"dest_ip":"10.0.0.2",
            "dest_port":80,"proto":"TCP","flow":{{"pkts_toserver":1,"pkts_toclient":{toclient}{bytes},
            "start":"2021-06-06T16:38:55.855844+0200"}},
            "tcp":{{"tcp_flags_ts":"{ts}","tcp_flags_tc":"{tc}"}}}}"#
        )
    }

    fn tcp_with(
        ts: &str,
        tc: &str,
        toclient: u64,
        bytes: Option<u64>,
    ) -> Option<(Outcome, Technique)> {
        eve_event(&flow_line(ts, tc, toclient, bytes))
            .unwrap()
            .map(|e| (e.outcome, e.technique))
    }

    fn tcp(ts: &str, tc: &str, toclient: u64) -> Option<Outcome> {
        tcp_with(ts, tc, toclient, None).map(|(o, _)| o)
    }

    #[test]
    fn tcp_flags_decide() {
        assert_eq!(tcp("02", "12", 1), Some(Outcome::Established));
        assert_eq!(tcp("1b", "1b", 5), Some(Outcome::Established));
        assert_eq!(tcp("02", "14", 1), Some(Outcome::Refused));
        assert_eq!(tcp("02", "04", 1), Some(Outcome::Refused));
        assert_eq!(tcp("02", "00", 0), Some(Outcome::Unanswered));
        assert_eq!(tcp("00", "12", 1), Some(Outcome::Unsolicited));
        assert_eq!(tcp("12", "00", 0), Some(Outcome::Unsolicited));
        assert_eq!(tcp("1a", "00", 0), None);
        assert_eq!(tcp("00", "00", 3), None);
        assert_eq!(tcp("18", "18", 3), None);
        assert_eq!(tcp("02", "10", 1), None);
    }

    #[test]
    fn handshake_completion_is_a_connect() {
        use Technique::{Connect, Syn};
        // nmap -sT: SYN, SYN-ACK, ACK, then the client's RST+ACK.
        assert_eq!(
            tcp_with("16", "12", 1, None),
            Some((Outcome::Established, Connect))
        );
        assert_eq!(
            tcp_with("1b", "1b", 5, None),
            Some((Outcome::Established, Connect))
        );
        // nmap -sS: SYN, SYN-ACK, the client's bare RST (test6 has these).
        assert_eq!(
            tcp_with("06", "12", 1, None),
            Some((Outcome::Established, Syn))
        );
        assert_eq!(tcp_with("02", "14", 1, None), Some((Outcome::Refused, Syn)));
        assert_eq!(
            tcp_with("c2", "00", 0, None),
            Some((Outcome::Unanswered, Syn))
        );
    }

    #[test]
    fn stealth_probes_without_syn() {
        use Outcome::{Refused, Unanswered, Unsolicited};
        use Technique::*;
        let bare = Some(54);
        // FIN, NULL-like (URG alone: other), Xmas, PSH: refused by RST…
        assert_eq!(tcp_with("01", "14", 1, bare), Some((Refused, Fin)));
        assert_eq!(tcp_with("29", "04", 1, bare), Some((Refused, Xmas)));
        assert_eq!(tcp_with("08", "14", 1, None), Some((Refused, TcpOther)));
        assert_eq!(tcp_with("20", "04", 1, bare), Some((Refused, TcpOther)));
        // …unanswered when nothing came back…
        assert_eq!(tcp_with("01", "00", 0, Some(0)), Some((Unanswered, Fin)));
        assert_eq!(tcp_with("29", "00", 0, None), Some((Unanswered, Xmas)));
        // …and midstream on any other answer, or data with the RST.
        assert_eq!(tcp_with("01", "10", 1, bare), None);
        assert_eq!(tcp_with("01", "12", 1, bare), None);
        assert_eq!(tcp_with("01", "1c", 2, bare), None);
        assert_eq!(tcp_with("01", "14", 3, Some(3 * 1500)), None);
        assert_eq!(tcp_with("01", "00", 1, None), None);
        // ACK and FIN+ACK: probes only when refused without data.
        assert_eq!(tcp_with("10", "14", 1, bare), Some((Refused, Ack)));
        assert_eq!(tcp_with("10", "04", 1, None), Some((Refused, Ack)));
        assert_eq!(tcp_with("11", "04", 1, bare), Some((Refused, Maimon)));
        assert_eq!(tcp_with("10", "00", 0, Some(0)), None);
        assert_eq!(tcp_with("11", "00", 0, None), None);
        assert_eq!(tcp_with("10", "10", 1, bare), None);
        assert_eq!(tcp_with("11", "11", 1, bare), None);
        assert_eq!(tcp_with("10", "14", 9, Some(9 * 800)), None);
        assert_eq!(tcp_with("11", "1c", 2, bare), None);
        // Replies sent by the "client": backscatter; with data, midstream.
        assert_eq!(tcp_with("04", "00", 0, None), Some((Unsolicited, Syn)));
        assert_eq!(tcp_with("14", "12", 1, None), Some((Unsolicited, Syn)));
        assert_eq!(tcp_with("14", "18", 3, None), None);
        assert_eq!(tcp_with("1c", "18", 3, None), None);
        assert_eq!(tcp_with("19", "19", 3, None), None);
    }

    /// Flow records Suricata 7.0.10 wrote for nmap -sN and -sA scans and a
    /// capture begun midstream (tests/data/fixtures; the `-sA` and midstream
    /// records with `--set stream.midstream=true`), trimmed.
    #[test]
    fn real_suricata_records() {
        let rec = |src: &str, sp: u16, dst: &str, dp: u16, flow: &str, tcp: &str| {
            format!(
                r#"{{"timestamp":"2026-12-01T14:36:35.577334+0000","event_type":"flow","src_ip":"{src}","src_port":{sp},"dest_ip":"{dst}","dest_port":{dp},"proto":"TCP","flow":{{{flow},"start":"2026-12-01T14:36:35.581943+0000","reason":"shutdown","alerted":false}},"tcp":{{{tcp}}}}}"#
            )
        };
        let scanner = "10.10.0.1";
        let target = "10.20.0.10";
        // nmap -sN: a closed port's RST and a silent port look the same as
        // any flow without a session: flags 00, no tcp.state. Not probes.
        let null_closed = rec(
            scanner,
            63589,
            target,
            74,
            r#""pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":54,"bytes_toclient":54,"state":"new""#,
            r#""tcp_flags":"00","tcp_flags_ts":"00","tcp_flags_tc":"00""#,
        );
        assert_eq!(eve_event(&null_closed).unwrap(), None);
        let null_silent = rec(
            scanner,
            63591,
            target,
            91,
            r#""pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":54,"bytes_toclient":0,"state":"new""#,
            r#""tcp_flags":"00","tcp_flags_ts":"00","tcp_flags_tc":"00""#,
        );
        assert_eq!(eve_event(&null_silent).unwrap(), None);
        // nmap -sA with midstream pickup: refused, or silent (filtered).
        let ack_closed = rec(
            scanner,
            43332,
            target,
            32,
            r#""pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":54,"bytes_toclient":54,"state":"closed""#,
            r#""tcp_flags":"14","tcp_flags_ts":"10","tcp_flags_tc":"04","rst":true,"ack":true,"state":"closed""#,
        );
        let e = eve_event(&ack_closed).unwrap().unwrap();
        assert_eq!(
            (e.src_port, e.dst_port, e.outcome, e.technique),
            (43332, 32, Outcome::Refused, Technique::Ack)
        );
        let ack_filtered = rec(
            scanner,
            43334,
            target,
            93,
            r#""pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":54,"bytes_toclient":0,"state":"established""#,
            r#""tcp_flags":"10","tcp_flags_ts":"10","tcp_flags_tc":"00","ack":true,"state":"established""#,
        );
        assert_eq!(eve_event(&ack_filtered).unwrap(), None);
        // Two connections picked up midstream (with midstream pickup).
        let chat = rec(
            "10.10.0.5",
            41341,
            "10.20.0.12",
            8080,
            r#""pkts_toserver":82,"pkts_toclient":42,"bytes_toserver":5972,"bytes_toclient":3492,"state":"closed""#,
            r#""tcp_flags":"19","tcp_flags_ts":"19","tcp_flags_tc":"19","fin":true,"psh":true,"ack":true,"state":"closed""#,
        );
        assert_eq!(eve_event(&chat).unwrap(), None);
        let push = rec(
            "10.20.0.13",
            5000,
            "10.10.0.5",
            55245,
            r#""pkts_toserver":24,"pkts_toclient":24,"bytes_toserver":2232,"bytes_toclient":1674,"state":"established""#,
            r#""tcp_flags":"18","tcp_flags_ts":"18","tcp_flags_tc":"18","psh":true,"ack":true,"state":"established""#,
        );
        assert_eq!(eve_event(&push).unwrap(), None);
    }

    #[test]
    fn udp_icmp_and_others() {
        let udp = |n: u64| {
            let l = format!(
                r#"{{"event_type":"flow","src_ip":"10.0.0.1","src_port":5353,"dest_ip":"10.0.0.2",
                "dest_port":53,"proto":"UDP","flow":{{"pkts_toclient":{n},"start":"2021-06-06T16:38:55Z"}}}}"#
            );
            eve_event(&l).unwrap().unwrap()
        };
        assert_eq!(udp(1).outcome, Outcome::Established);
        let e = udp(0);
        assert_eq!(
            (e.outcome, e.dst_port, e.src_port),
            (Outcome::Unanswered, 53, 5353)
        );
        let icmp = r#"{"event_type":"flow","src_ip":"fd00::1","dest_ip":"fd00::2","proto":"IPv6-ICMP",
            "icmp_type":128,"flow":{"pkts_toclient":0,"start":"2021-06-06T16:38:55Z"}}"#;
        let e = eve_event(icmp).unwrap().unwrap();
        assert_eq!(
            (e.proto, e.outcome, e.dst_port),
            (Protocol::Icmp, Outcome::Unanswered, 0)
        );
        let unreach = icmp.replace("128", "1");
        assert!(eve_event(&unreach).unwrap().is_none());
        let notcp = r#"{"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"TCP",
            "flow":{"start":"2021-06-06T16:38:55Z"}}"#;
        assert!(eve_event(notcp).unwrap().is_none());
        assert!(eve_event(r#"{"event_type":"alert","src_ip":"x"}"#)
            .unwrap()
            .is_none());
        let bad_ip = notcp
            .replace("10.0.0.2", "10.0.0.999")
            .replace("\"TCP\"", "\"UDP\"");
        assert!(eve_event(&bad_ip).unwrap_err().contains("dest_ip"));
        assert!(eve_event("[1,2]").is_err());
    }

    #[test]
    fn reader_counts_malformed_lines() {
        let text = "{\"event_type\":\"dns\"}\n\nnot json\n{\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\",\"dest_ip\":\"10.0.0.2\",\"dest_port\":53,\"proto\":\"UDP\",\"flow\":{\"pkts_toclient\":1,\"start\":\"2021-06-06T16:38:55Z\"}}\n";
        let mut events = Vec::new();
        let mut bad = Vec::new();
        let mut report = |at: crate::Location, _: &str| bad.push(at);
        let mut opts = ReadOptions {
            on_malformed: Some(&mut report),
            ..ReadOptions::default()
        };
        let st = read_eve(text.as_bytes(), &mut opts, &mut |e| events.push(e)).unwrap();
        assert_eq!(
            (st.records, st.skipped, st.malformed, st.events),
            (3, 2, 1, 1)
        );
        assert_eq!(bad, vec![crate::Location::Line(3)]);
        assert_eq!(events.len(), 1);
    }

    /// Every real EVE record: the fields the one-pass reader picks out are
    /// the ones `serde_json`'s full tree holds, and every cut of a record is
    /// refused as `serde_json` refuses it.
    #[test]
    fn one_pass_reader_agrees_with_a_full_parse_on_real_records() {
        use serde_json::Value;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(root.join("../../tests/data/fixtures"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".eve.json"))
            .collect();
        let slips = root.join("../shared/data/slips/test6-malicious.suricata.json");
        if slips.exists() {
            files.push(slips);
        }
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let num = |v: Option<&Value>| v.and_then(Value::as_u64);
        let (mut lines, mut flows) = (0, 0);
        for path in &files {
            for line in std::fs::read_to_string(path).unwrap().lines() {
                lines += 1;
                let tree: Value = serde_json::from_str(line).unwrap();
                let r = record(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                let s = |c: &Option<Cow<'_, str>>| c.as_deref().map(str::to_string);
                assert_eq!(s(&r.event_type), text(tree.get("event_type")));
                assert_eq!(s(&r.timestamp), text(tree.get("timestamp")));
                assert_eq!(s(&r.src_ip), text(tree.get("src_ip")));
                assert_eq!(s(&r.dest_ip), text(tree.get("dest_ip")));
                assert_eq!(s(&r.proto), text(tree.get("proto")));
                assert_eq!(r.src_port.map(u64::from), num(tree.get("src_port")));
                assert_eq!(r.dest_port.map(u64::from), num(tree.get("dest_port")));
                assert_eq!(r.icmp_type.map(u64::from), num(tree.get("icmp_type")));
                assert_eq!(r.flow_id, num(tree.get("flow_id")));
                let vlan: Option<Vec<u64>> = tree
                    .get("vlan")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_u64).collect());
                assert_eq!(
                    r.vlan
                        .map(|v| v.ids().iter().map(|&n| u64::from(n)).collect()),
                    vlan
                );
                let flow = tree.get("flow");
                assert_eq!(r.flow.is_some(), flow.is_some(), "{line}");
                if let (Some(f), Some(v)) = (&r.flow, flow) {
                    flows += 1;
                    assert_eq!(f.pkts_toclient, num(v.get("pkts_toclient")));
                    assert_eq!(f.bytes_toclient, num(v.get("bytes_toclient")));
                    assert_eq!(s(&f.start), text(v.get("start")));
                    assert_eq!(s(&f.state), text(v.get("state")));
                }
                let tcp = tree.get("tcp");
                assert_eq!(r.tcp.is_some(), tcp.is_some(), "{line}");
                if let (Some(t), Some(v)) = (&r.tcp, tcp) {
                    assert_eq!(s(&t.tcp_flags), text(v.get("tcp_flags")));
                    assert_eq!(s(&t.tcp_flags_ts), text(v.get("tcp_flags_ts")));
                    assert_eq!(s(&t.tcp_flags_tc), text(v.get("tcp_flags_tc")));
                }
                // Every proper prefix that is not the whole record less
                // trailing space is refused by both.
                if lines % 50 == 0 {
                    for cut in 0..line.trim_end().len() {
                        if line.is_char_boundary(cut) {
                            assert!(record(&line[..cut]).is_err(), "{}", &line[..cut]);
                            assert!(serde_json::from_str::<Value>(&line[..cut]).is_err());
                        }
                    }
                }
            }
        }
        assert!(lines > 100 && flows > 50, "{lines} lines, {flows} flows");
    }

    #[test]
    fn fields_of_the_wrong_type_or_given_twice_are_malformed() {
        let flow = r#"{"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","dest_port":53,"proto":"UDP","flow":{"pkts_toclient":1,"start":"2021-06-06T16:38:55Z"}}"#;
        assert!(eve_event(flow).unwrap().is_some());
        for bad in [
            flow.replace("53", "\"53\""),
            flow.replace("53", "65536"),
            flow.replace("53", "-53"),
            flow.replace("\"pkts_toclient\":1", "\"pkts_toclient\":1.5"),
            flow.replace("\"UDP\"", "17"),
            flow.replace("\"proto\"", "\"src_ip\":\"10.0.0.3\",\"proto\""),
            flow.replace("{\"pkts", "[{\"pkts")
                .replace("Z\"}}", "Z\"}]}"),
            flow.replace("{\"event_type", "{\"vlan\":[1,\"2\"],\"event_type"),
            flow.replace("{\"event_type", "{\"vlan\":[1,],\"event_type"),
            flow.replace("{\"event_type", "{\"flow_id\":-1,\"event_type"),
        ] {
            assert!(
                eve_event(&bad).unwrap_err().starts_with("invalid JSON"),
                "{bad}"
            );
        }
        // Escapes in a needed field are decoded; null is as if absent.
        let escaped = flow.replace("10.0.0.2", "10.0.0\\u002e2");
        assert_eq!(
            eve_event(&escaped).unwrap().unwrap().dst.to_string(),
            "10.0.0.2"
        );
        let nulled = flow.replace("\"dest_port\":53", "\"dest_port\":null");
        assert_eq!(eve_event(&nulled).unwrap().unwrap().dst_port, 0);
        // Ids: four VLAN layers keep the outer three; none at all is empty.
        let tagged = flow.replace(
            "{\"event_type",
            "{\"flow_id\":9,\"vlan\":[1,2,3,4],\"event_type",
        );
        let (_, ids) = eve_flow(&tagged).unwrap().unwrap();
        assert_eq!((ids.flow_id, ids.vlan.ids()), (Some(9), &[1, 2, 3][..]));
        assert_eq!(eve_flow(flow).unwrap().unwrap().1, FlowIds::default());
    }

    #[test]
    fn dotted_quads_read_as_the_standard_library_reads_them() {
        for s in [
            "10.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.4 ",
            "a.b.c.d",
            "1.2.3.-4",
            "::1",
            "1000.1.1.1",
            "",
            "1.2.3.00",
            "1.2.3.0",
            "10.20.30.040",
            ".1.2.3",
            "1.2.3.",
            "192.168.001.1",
        ] {
            let std = s.parse::<std::net::Ipv4Addr>().ok();
            assert_eq!(ipv4(s), std, "{s:?}");
        }
    }
}
