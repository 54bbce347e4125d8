//! Verdicts as EVE records of `event_type: "sweep"`.
//!
//! ```json
//! {"timestamp":"2017-09-10T17:52:38.063805+0000","host":"sensor-1","event_type":"sweep",
//!  "src_ip":"176.192.150.3","dest_ip":"192.168.27.86","proto":"TCP",
//!  "sweep":{"kind":"port_sweep","src":"176.192.150.3",
//!  "direction":"inbound","proto":"tcp","ports":[445],"targets":5,
//!  "ports_count":1,"failed":5,"succeeded":0,"unanswered":5,"probes":5,
//!  "first_seen":"2017-09-10T17:52:28.000000Z","ts":"2017-09-10T17:52:38.063805Z",
//!  "sample":["192.168.27.86","10.10.11.49"],"score":5.55,"technique":"syn",
//!  "final":false}}
//! ```
//!
//! `timestamp` is written the way Suricata writes its own (local time with a
//! numeric offset, microseconds) so that the record sorts and parses with the
//! rest of the file; `host` is Suricata's `sensor-name` when one is set, as in
//! Suricata's records; `dest_ip` is the first host of the sample (the scanned
//! host of a port scan, the latest failed target of a sweep) when there is
//! one; `proto` is Suricata's name of the protocol. The verdict itself is the
//! `sweep` object, in the library's JSON form (`sweepwatch::format`), as the
//! `sweepwatch` command writes it: EVE keeps each event type's own fields in
//! an object named after the type, and Suricata's schema admits no others at
//! the top.

use std::fmt::Write as _;
use sweepwatch::{Kind, Protocol, Timestamp, Verdict};
use sweepwatch_input::eve::FlowIds;

/// How decided verdicts are written (`sweepwatch.records`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style {
    /// `event_type: "sweep"` records (the default).
    #[default]
    Sweep,
    /// `event_type: "alert"` records that SIEM alert views list, with the
    /// verdict in a `sweep` object. Final extents stay sweep records: they
    /// summarise, they do not alert again.
    Alert,
}

/// First signature id of the alerts: one per kind, in [`Kind::ALL`] order
/// (9410001 port sweep, 9410002 port scan, 9410003 outbound sweep, 9410004
/// ICMP sweep), in the range Emerging Threats leaves to local rules.
pub const SID_BASE: u32 = 9_410_000;

/// The alert's signature, severity and id for a kind. Severity follows
/// Suricata's `network-scan` classification (3), except that an outbound
/// sweep, a home host looking for victims, is 2.
fn signature(kind: Kind) -> (&'static str, u8, u32) {
    let sid = SID_BASE + 1 + Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u32;
    match kind {
        Kind::PortSweep => ("SWEEPWATCH Port sweep: one port across many hosts", 3, sid),
        Kind::PortScan => ("SWEEPWATCH Port scan: many ports of one host", 3, sid),
        Kind::OutboundSweep => (
            "SWEEPWATCH Outbound sweep: a home host's first contacts mostly fail",
            2,
            sid,
        ),
        Kind::IcmpSweep => (
            "SWEEPWATCH ICMP sweep: echo requests across many hosts",
            3,
            sid,
        ),
    }
}

/// Suricata's name for a protocol in `proto`, if it has one here.
fn suricata_proto(p: Protocol, v6: bool) -> Option<&'static str> {
    match p {
        Protocol::Tcp => Some("TCP"),
        Protocol::Udp => Some("UDP"),
        Protocol::Icmp if v6 => Some("IPv6-ICMP"),
        Protocol::Icmp => Some("ICMP"),
        _ => None,
    }
}

/// Appends `v` as one EVE line, newline included, to `out`; `ids` are those
/// of the flow that decided it (none for a final extent); `host` is
/// Suricata's `sensor-name`, when set.
pub fn push_verdict(
    out: &mut Vec<u8>,
    v: &Verdict,
    ids: Option<&FlowIds>,
    host: Option<&str>,
    style: Style,
) {
    // Formatting into a String cannot fail.
    let mut s = String::with_capacity(768);
    let head = Head { ids, host };
    let _ = if style == Style::Alert && !v.is_final {
        write_alert(&mut s, v, head)
    } else {
        write_verdict(&mut s, v, head)
    };
    out.extend_from_slice(s.as_bytes());
}

/// A decided verdict as a Suricata alert record, the verdict itself in `sweep`.
fn write_alert(s: &mut String, v: &Verdict, head: Head<'_>) -> std::fmt::Result {
    header(s, v, head, "alert")?;
    if !v.sample().is_empty() {
        if let Some(&port) = v.ports().first().filter(|_| v.kind == Kind::PortSweep) {
            write!(s, ",\"dest_port\":{port}")?;
        }
    }
    proto(s, v)?;
    let (text, severity, sid) = signature(v.kind);
    write!(
        s,
        ",\"alert\":{{\"action\":\"allowed\",\"gid\":1,\"signature_id\":{sid},\"rev\":1,\
         \"signature\":\"{text}\",\"category\":\"Detection of a Network Scan\",\
         \"severity\":{severity}}}"
    )?;
    sweep_object(s, v);
    Ok(())
}

/// A verdict as a record of its own type, `sweep`.
fn write_verdict(s: &mut String, v: &Verdict, head: Head<'_>) -> std::fmt::Result {
    header(s, v, head, "sweep")?;
    proto(s, v)?;
    sweep_object(s, v);
    Ok(())
}

/// `proto` as Suricata writes it, when the protocol has a name there.
fn proto(s: &mut String, v: &Verdict) -> std::fmt::Result {
    match suricata_proto(v.proto, v.src.is_ipv6()) {
        Some(p) => write!(s, ",\"proto\":\"{p}\""),
        None => Ok(()),
    }
}

/// The verdict in the library's one JSON form, as the record's `sweep`
/// object (EVE keeps each type's own fields in an object named after it),
/// and the record's end.
fn sweep_object(s: &mut String, v: &Verdict) {
    s.push_str(",\"sweep\":{");
    sweepwatch::format::write_json_fields(s, v);
    s.push_str("}}\n");
}

/// `text` as a JSON string, quotes included.
fn json_string(s: &mut String, text: &str) -> std::fmt::Result {
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if u32::from(c) < 0x20 => write!(s, "\\u{:04x}", u32::from(c))?,
            c => s.push(c),
        }
    }
    s.push('"');
    Ok(())
}

/// What the common header says besides the verdict: the deciding flow's ids
/// and the sensor's name.
#[derive(Clone, Copy)]
struct Head<'a> {
    ids: Option<&'a FlowIds>,
    host: Option<&'a str>,
}

/// The fields both record types start with, as Suricata orders its own:
/// `timestamp`, `flow_id` (of the deciding flow), `host`, `event_type`,
/// `vlan` (the deciding flow's), `src_ip` and `dest_ip` (the scanned host of
/// a port scan; for a sweep, its latest failed target).
fn header(s: &mut String, v: &Verdict, head: Head<'_>, event_type: &str) -> std::fmt::Result {
    s.push_str("{\"timestamp\":\"");
    suricata_time(s, v.ts)?;
    s.push('"');
    if let Some(id) = head.ids.and_then(|i| i.flow_id) {
        write!(s, ",\"flow_id\":{id}")?;
    }
    if let Some(host) = head.host {
        s.push_str(",\"host\":");
        json_string(s, host)?;
    }
    write!(s, ",\"event_type\":\"{event_type}\"")?;
    if let Some(vlan) = head.ids.map(|i| i.vlan.ids()).filter(|v| !v.is_empty()) {
        s.push_str(",\"vlan\":[");
        for (i, id) in vlan.iter().enumerate() {
            write!(s, "{}{id}", if i > 0 { "," } else { "" })?;
        }
        s.push(']');
    }
    write!(s, ",\"src_ip\":\"{}\"", v.src)?;
    if let Some(dst) = v.sample().first() {
        write!(s, ",\"dest_ip\":\"{dst}\"")?;
    }
    Ok(())
}

/// Broken-down time from the C library: `localtime_r` when `local`, else
/// `gmtime_r`. Returns the fields and the offset from UTC in seconds.
fn broken_down(secs: u64, local: bool) -> Option<(libc::tm, i64)> {
    let t = libc::time_t::try_from(secs).ok()?;
    // SAFETY: an all-zero `tm` is a valid value (integers, and a null zone
    // name pointer that is only ever written by the C library).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; the `_r` variants are
    // thread-safe and write only to `tm`.
    let ok = unsafe {
        if local {
            !libc::localtime_r(&t, &mut tm).is_null()
        } else {
            !libc::gmtime_r(&t, &mut tm).is_null()
        }
    };
    // `c_long` is 32 bits on some targets, so the conversion is not useless there.
    #[allow(clippy::useless_conversion)]
    let off = i64::from(tm.tm_gmtoff);
    ok.then_some((tm, off))
}

fn write_date_time(s: &mut String, tm: &libc::tm) -> std::fmt::Result {
    write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Suricata's EVE timestamp: `2021-06-06T16:38:55.855844+0000`, local time.
pub fn suricata_time(s: &mut String, ts: Timestamp) -> std::fmt::Result {
    let us = ts.as_micros() % 1_000_000;
    match broken_down(ts.as_secs(), true) {
        Some((tm, off)) => {
            write_date_time(s, &tm)?;
            let sign = if off < 0 { '-' } else { '+' };
            let off = off.unsigned_abs();
            write!(s, ".{us:06}{sign}{:02}{:02}", off / 3600, off / 60 % 60)
        }
        None => write!(s, "1970-01-01T00:00:00.{us:06}+0000"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweepwatch::{Direction, Kind, Protocol};

    #[test]
    fn suricata_times_have_an_offset_and_microseconds() {
        let mut s = String::new();
        suricata_time(&mut s, Timestamp::from_micros(1_623_000_000_000_042)).unwrap();
        assert_eq!(s.len(), "2021-06-06T16:38:55.855844+0000".len(), "{s}");
        assert!(s.contains(".000042"), "{s}");
        let off = &s[s.len() - 5..];
        assert!(off.starts_with('+') || off.starts_with('-'), "{s}");
    }

    #[test]
    fn verdicts_are_one_json_line() {
        let mut v = Verdict::empty();
        v.kind = Kind::PortScan;
        v.src = "192.168.2.154".parse().unwrap();
        v.direction = Direction::Inbound;
        v.proto = Protocol::Tcp;
        v.port_list[..3].copy_from_slice(&[22, 80, 443]);
        v.n_ports = 3;
        v.targets = 1;
        v.ports_count = 6;
        v.failed = 5;
        v.unanswered = 1;
        v.probes = 6;
        v.first_seen = Timestamp::from_secs(1_500_000_000);
        v.ts = Timestamp::from_micros(1_500_000_003_250_000);
        v.sample_list[0] = "192.168.2.22".parse().unwrap();
        v.n_sample = 1;
        v.score = 5.5;
        let mut out = Vec::new();
        push_verdict(&mut out, &v, None, None, Style::Sweep);
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with("}\n") && line.matches('\n').count() == 1);
        let tail = line.split_once(",\"event_type\"").unwrap().1;
        assert_eq!(
            tail,
            ":\"sweep\",\"src_ip\":\"192.168.2.154\",\"dest_ip\":\"192.168.2.22\",\"proto\":\"TCP\",\
             \"sweep\":{\"kind\":\"port_scan\",\"src\":\"192.168.2.154\",\
             \"direction\":\"inbound\",\"proto\":\"tcp\",\"ports\":[22,80,443],\"targets\":1,\
             \"ports_count\":6,\"failed\":5,\"succeeded\":0,\"unanswered\":1,\"probes\":6,\
             \"first_seen\":\"2017-07-14T02:40:00.000000Z\",\"ts\":\"2017-07-14T02:40:03.250000Z\",\
             \"sample\":[\"192.168.2.22\"],\"score\":5.5,\"technique\":\"syn\",\"final\":false}}\n"
        );
        v.score = f32::INFINITY;
        let mut out = Vec::new();
        push_verdict(
            &mut out,
            &v,
            None,
            Some("sensor \"1\"\\a\u{1}"),
            Style::Sweep,
        );
        let line = String::from_utf8(out).unwrap();
        assert!(line.contains("\"score\":null,"));
        assert!(
            line.contains(",\"host\":\"sensor \\\"1\\\"\\\\a\\u0001\",\"event_type\""),
            "{line}"
        );
        // The deciding flow's id and VLANs go where Suricata puts its own.
        let tagged = sweepwatch_input::eve::eve_flow(
            r#"{"flow_id":77,"event_type":"flow","vlan":[5,6],"src_ip":"10.0.0.1",
            "dest_ip":"10.0.0.2","dest_port":53,"proto":"UDP","flow":{"start":"2021-06-06T16:38:55Z"}}"#,
        )
        .unwrap()
        .unwrap()
        .1;
        let mut out = Vec::new();
        push_verdict(&mut out, &v, Some(&tagged), None, Style::Sweep);
        let line = String::from_utf8(out).unwrap();
        let tail = line.split_once("+").unwrap().1;
        assert!(
            tail.contains("\",\"flow_id\":77,\"event_type\":\"sweep\",\"vlan\":[5,6],\"src_ip\""),
            "{line}"
        );
        // No sample, no dest_ip.
        v.n_sample = 0;
        let mut out = Vec::new();
        push_verdict(&mut out, &v, None, None, Style::Sweep);
        assert!(!String::from_utf8(out).unwrap().contains("dest_ip"));
    }

    #[test]
    fn alerts_carry_the_signature_and_the_verdict() {
        let mut v = Verdict::empty();
        v.kind = Kind::PortScan;
        v.src = "192.168.2.154".parse().unwrap();
        v.proto = Protocol::Tcp;
        v.sample_list[0] = "192.168.2.22".parse().unwrap();
        v.n_sample = 1;
        let mut out = Vec::new();
        push_verdict(&mut out, &v, None, Some("s1"), Style::Alert);
        let line = String::from_utf8(out).unwrap();
        let tail = line.split_once(",\"host\"").unwrap().1;
        assert!(
            tail.starts_with(
                ":\"s1\",\"event_type\":\"alert\",\"src_ip\":\"192.168.2.154\",\
                 \"dest_ip\":\"192.168.2.22\",\"proto\":\"TCP\",\"alert\":{\"action\":\"allowed\",\
                 \"gid\":1,\"signature_id\":9410002,\"rev\":1,\
                 \"signature\":\"SWEEPWATCH Port scan: many ports of one host\",\
                 \"category\":\"Detection of a Network Scan\",\"severity\":3},\
                 \"sweep\":{\"kind\":\"port_scan\",\"src\":\"192.168.2.154\","
            ),
            "{line}"
        );
        assert!(line.ends_with("}}\n"), "{line}");
        // Final extents stay sweep records.
        v.is_final = true;
        let mut out = Vec::new();
        push_verdict(&mut out, &v, None, None, Style::Alert);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("\"event_type\":\"sweep\""));
        // One id per kind.
        let sids: Vec<u32> = Kind::ALL.iter().map(|k| signature(*k).2).collect();
        assert_eq!(sids, [9_410_001, 9_410_002, 9_410_003, 9_410_004]);
    }
}
