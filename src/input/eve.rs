//! Suricata EVE JSON: `flow` records to outcomes.
//!
//! Suricata writes one `flow` record per flow when the flow times out or closes,
//! with the TCP flags each side sent (`tcp.tcp_flags_ts`, to server;
//! `tcp.tcp_flags_tc`, to client) and packet counts. From those:
//!
//! | protocol | record | outcome |
//! |---|---|---|
//! | TCP | client sent SYN, server answered SYN+ACK | `Established` |
//! | TCP | client sent SYN, server answered RST without SYN | `Refused` |
//! | TCP | client sent SYN, nothing came back | `Unanswered` |
//! | TCP | client sent no SYN, server sent SYN+ACK or RST | `Unsolicited` (backscatter) |
//! | TCP | client's first packets were SYN+ACKs, nothing came back | `Unsolicited` |
//! | TCP | `tcp_flags` `00`, no `tcp` object, other shapes | none (picked up midstream) |
//! | UDP | packets to client | `Established`, else `Unanswered` |
//! | ICMP / IPv6-ICMP echo request | packets to client | `Established`, else `Unanswered` |
//!
//! The event's time is `flow.start`: the probe's time, not the record's, which
//! is written only at flow timeout.

use super::{read_lines, Emit, InputError, OnMalformed, Parsed, ReadStats};
use crate::{Event, Outcome, Protocol, Timestamp};
use serde::Deserialize;
use std::borrow::Cow;
use std::io::BufRead;
use std::net::IpAddr;

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
const SYN_ACK: u8 = SYN | ACK;

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dest_ip: Option<Cow<'a, str>>,
    src_port: Option<u16>,
    dest_port: Option<u16>,
    #[serde(borrow)]
    proto: Option<Cow<'a, str>>,
    icmp_type: Option<u32>,
    #[serde(borrow)]
    flow: Option<Flow<'a>>,
    #[serde(borrow)]
    tcp: Option<Tcp<'a>>,
}

#[derive(Deserialize)]
struct Flow<'a> {
    pkts_toclient: Option<u64>,
    #[serde(borrow)]
    start: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Tcp<'a> {
    #[serde(borrow)]
    tcp_flags: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tcp_flags_ts: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tcp_flags_tc: Option<Cow<'a, str>>,
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
    s.parse()
        .map_err(|_| format!("{field} `{s}` is not an IP address"))
}

/// The outcome of a TCP flow from the flags each side sent; `None` when the
/// flow shows no attempt (picked up midstream, or one-sided traffic).
fn tcp_outcome(tcp: &Tcp<'_>, pkts_toclient: u64) -> Result<Option<Outcome>, String> {
    let ts = flags("tcp_flags_ts", &tcp.tcp_flags_ts)?;
    let tc = flags("tcp_flags_tc", &tcp.tcp_flags_tc)?;
    let all = match &tcp.tcp_flags {
        Some(_) => flags("tcp_flags", &tcp.tcp_flags)?,
        None => ts | tc,
    };
    if all == 0 {
        return Ok(None);
    }
    if ts & SYN == 0 {
        // The client never sent a SYN: a reply it received answers no probe of
        // its own (backscatter); anything else is a midstream pickup.
        return Ok(if tc & SYN_ACK == SYN_ACK || tc & RST != 0 {
            Some(Outcome::Unsolicited)
        } else {
            None
        });
    }
    if tc & SYN_ACK == SYN_ACK {
        return Ok(Some(Outcome::Established));
    }
    if tc & RST != 0 && tc & SYN == 0 {
        return Ok(Some(Outcome::Refused));
    }
    if tc == 0 && pkts_toclient == 0 {
        // SYN and ACK from the "client" with no reply at all is a host sending
        // SYN-ACKs (backscatter seen from its victim's side), not a probe;
        // data or FIN besides means a one-sided capture of a real session.
        return Ok(if ts & ACK == 0 {
            Some(Outcome::Unanswered)
        } else if ts & !(SYN_ACK | RST) == 0 {
            Some(Outcome::Unsolicited)
        } else {
            None
        });
    }
    // Replies without SYN+ACK or RST (an ACK, a FIN): no handshake to judge.
    Ok(None)
}

/// Maps one EVE record (one JSON line) to an event: `Ok(None)` for records that
/// are not flows or carry no attempt (midstream pickups), `Err` for malformed JSON
/// or a flow record without usable addresses or times.
///
/// # Examples
/// ```
/// use sweepwatch::input::eve::eve_event;
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
    let rec: Record<'_> = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
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
    let answered = if pkts_toclient > 0 {
        Outcome::Established
    } else {
        Outcome::Unanswered
    };
    let (outcome, dst_port) = match proto {
        Protocol::Tcp => match &rec.tcp {
            None => return Ok(None),
            Some(tcp) => match tcp_outcome(tcp, pkts_toclient)? {
                None => return Ok(None),
                Some(o) => (o, rec.dest_port.unwrap_or(0)),
            },
        },
        Protocol::Udp => (answered, rec.dest_port.unwrap_or(0)),
        _ => match rec.icmp_type {
            // Echo request (ICMP 8, ICMPv6 128); other ICMP flows carry no probe.
            Some(8 | 128) => (answered, 0),
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
    let mut ev = Event::new(ts, src, dst, dst_port, proto, outcome);
    if proto != Protocol::Icmp {
        ev.src_port = rec.src_port.unwrap_or(0);
    }
    Ok(Some(ev))
}

/// Reads EVE JSON lines, emitting one event per `flow` record that carries an
/// attempt. Malformed lines are skipped and counted; only I/O errors stop it.
pub fn read_eve<R: BufRead>(r: R, emit: Emit) -> Result<ReadStats, InputError> {
    read_eve_reporting(r, emit, &mut |_, _| {})
}

/// [`read_eve`], telling `on_malformed` about each malformed line it skips.
pub fn read_eve_reporting<R: BufRead>(
    r: R,
    emit: Emit,
    mut on_malformed: OnMalformed,
) -> Result<ReadStats, InputError> {
    read_lines(r, emit, &mut on_malformed, |_, bytes| {
        Ok(Parsed::Record(match std::str::from_utf8(bytes) {
            Ok(text) => eve_event(text),
            Err(_) => Err("not UTF-8".to_string()),
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(ts: &str, tc: &str, toclient: u64) -> Option<Outcome> {
        let line = format!(
            r#"{{"event_type":"flow","src_ip":"10.0.0.1","src_port":1234,"dest_ip":"10.0.0.2",
            "dest_port":80,"proto":"TCP","flow":{{"pkts_toserver":1,"pkts_toclient":{toclient},
            "start":"2021-06-06T16:38:55.855844+0200"}},
            "tcp":{{"tcp_flags_ts":"{ts}","tcp_flags_tc":"{tc}"}}}}"#
        );
        eve_event(&line).unwrap().map(|e| e.outcome)
    }

    #[test]
    fn tcp_flags_decide() {
        assert_eq!(tcp("02", "12", 1), Some(Outcome::Established));
        assert_eq!(tcp("1b", "1b", 5), Some(Outcome::Established));
        assert_eq!(tcp("02", "14", 1), Some(Outcome::Refused));
        assert_eq!(tcp("02", "04", 1), Some(Outcome::Refused));
        assert_eq!(tcp("02", "00", 0), Some(Outcome::Unanswered));
        assert_eq!(tcp("10", "14", 1), Some(Outcome::Unsolicited));
        assert_eq!(tcp("00", "12", 1), Some(Outcome::Unsolicited));
        assert_eq!(tcp("12", "00", 0), Some(Outcome::Unsolicited));
        assert_eq!(tcp("1a", "00", 0), None);
        assert_eq!(tcp("00", "00", 3), None);
        assert_eq!(tcp("18", "18", 3), None);
        assert_eq!(tcp("02", "10", 1), None);
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
        let st = read_eve_reporting(text.as_bytes(), &mut |e| events.push(e), &mut |n, _| {
            bad.push(n)
        })
        .unwrap();
        assert_eq!(
            (st.records, st.skipped, st.malformed, st.events),
            (3, 2, 1, 1)
        );
        assert_eq!(bad, vec![3]);
        assert_eq!(events.len(), 1);
    }
}
