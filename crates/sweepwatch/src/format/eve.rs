//! Verdicts as Suricata EVE records of `event_type: "sweep"` (or `"alert"`),
//! the records the Suricata plugin writes into `eve.json` and the command's
//! `--format eve` writes:
//!
//! ```json
//! {"timestamp":"2017-09-10T17:52:38.063805+0000","host":"sensor-1","event_type":"sweep",
//!  "src_ip":"176.192.150.3","dest_ip":"192.168.27.86","proto":"TCP",
//!  "sweep":{"kind":"port_sweep","src":"176.192.150.3", ... ,"final":false}}
//! ```
//!
//! `timestamp` is written the way Suricata writes its own (local time with a
//! numeric offset, microseconds), so that the record sorts and parses with the
//! rest of the file; `host` is Suricata's `sensor-name` when one is set;
//! `dest_ip` is the first host of the sample (the scanned host of a port scan,
//! the latest failed target of a sweep) when there is one; `proto` is
//! Suricata's name of the protocol. The verdict itself is the `sweep` object,
//! in the library's one JSON form ([`write_json_fields`]): EVE keeps each
//! event type's own fields in an object named after the type, and Suricata's
//! schema admits no others at the top.

use super::{civil_from_days, write_json_fields};
use crate::event::{Protocol, Timestamp};
use crate::verdict::{Kind, Verdict};
use std::fmt::Write as _;

/// How decided verdicts are written.
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

/// What a record says besides the verdict.
///
/// ```
/// let head = sweepwatch::format::eve::Head { flow_id: Some(7), host: Some("sensor-1"), ..Default::default() };
/// assert_eq!(head.utc_offset_secs, 0);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Head<'a> {
    /// The deciding flow's `flow_id`, if known (never for a final extent).
    pub flow_id: Option<u64>,
    /// The deciding flow's `vlan` ids (empty for none).
    pub vlan: &'a [u16],
    /// The sensor's name (Suricata's `sensor-name`), if set.
    pub host: Option<&'a str>,
    /// The local time's offset from UTC at the verdict's time, in seconds,
    /// for `timestamp` (0 writes UTC, `+0000`).
    pub utc_offset_secs: i32,
}

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
        Protocol::Other => None,
    }
}

/// Appends `v` as one EVE record (no newline): an alert for a decided verdict
/// in [`Style::Alert`], else a sweep record.
///
/// # Examples
/// ```
/// use sweepwatch::format::eve::{write_record, Head, Style};
/// let mut rec = String::new();
/// write_record(&mut rec, &sweepwatch::Verdict::empty(), &Head::default(), Style::Sweep);
/// assert!(rec.starts_with("{\"timestamp\":\"1970-01-01T00:00:00.000000+0000\",\"event_type\":\"sweep\""));
/// assert!(rec.contains(",\"sweep\":{\"kind\":\"port_sweep\""));
/// ```
pub fn write_record(out: &mut String, v: &Verdict, head: &Head<'_>, style: Style) {
    if style == Style::Alert && !v.is_final {
        header(out, v, head, "alert");
        if !v.sample().is_empty() {
            if let Some(&port) = v.ports().first().filter(|_| v.kind == Kind::PortSweep) {
                let _ = write!(out, ",\"dest_port\":{port}");
            }
        }
        proto(out, v);
        let (text, severity, sid) = signature(v.kind);
        let _ = write!(
            out,
            ",\"alert\":{{\"action\":\"allowed\",\"gid\":1,\"signature_id\":{sid},\"rev\":1,\
             \"signature\":\"{text}\",\"category\":\"Detection of a Network Scan\",\
             \"severity\":{severity}}}"
        );
    } else {
        header(out, v, head, "sweep");
        proto(out, v);
    }
    // EVE keeps each type's own fields in an object named after it.
    out.push_str(",\"sweep\":{");
    write_json_fields(out, v);
    out.push_str("}}");
}

/// `proto` as Suricata writes it, when the protocol has a name there.
fn proto(out: &mut String, v: &Verdict) {
    if let Some(p) = suricata_proto(v.proto, v.src.is_ipv6()) {
        let _ = write!(out, ",\"proto\":\"{p}\"");
    }
}

/// `text` as a JSON string, quotes included.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The fields both record types start with, as Suricata orders its own:
/// `timestamp`, `flow_id` (of the deciding flow), `host`, `event_type`,
/// `vlan` (the deciding flow's), `src_ip` and `dest_ip`.
fn header(out: &mut String, v: &Verdict, head: &Head<'_>, event_type: &str) {
    out.push_str("{\"timestamp\":\"");
    write_suricata_time(out, v.ts, head.utc_offset_secs);
    out.push('"');
    if let Some(id) = head.flow_id {
        let _ = write!(out, ",\"flow_id\":{id}");
    }
    if let Some(host) = head.host {
        out.push_str(",\"host\":");
        json_string(out, host);
    }
    let _ = write!(out, ",\"event_type\":\"{event_type}\"");
    if !head.vlan.is_empty() {
        out.push_str(",\"vlan\":[");
        for (i, id) in head.vlan.iter().enumerate() {
            let _ = write!(out, "{}{id}", if i > 0 { "," } else { "" });
        }
        out.push(']');
    }
    let _ = write!(out, ",\"src_ip\":\"{}\"", v.src);
    if let Some(dst) = v.sample().first() {
        let _ = write!(out, ",\"dest_ip\":\"{dst}\"");
    }
}

/// Appends `ts` as Suricata's EVE timestamp, in the local time `offset_secs`
/// from UTC: `2021-06-06T16:38:55.855844+0200`.
///
/// ```
/// let mut s = String::new();
/// let ts = sweepwatch::Timestamp::from_micros(1_622_990_335_855_844);
/// sweepwatch::format::eve::write_suricata_time(&mut s, ts, 7200);
/// assert_eq!(s, "2021-06-06T16:38:55.855844+0200");
/// ```
pub fn write_suricata_time(out: &mut String, ts: Timestamp, offset_secs: i32) {
    let us = ts.as_micros();
    let local = (us / 1_000_000) as i64 + i64::from(offset_secs);
    let (days, day) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let off = offset_secs.unsigned_abs();
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}{sign}{:02}{:02}",
        day / 3600,
        day / 60 % 60,
        day % 60,
        us % 1_000_000,
        off / 3600,
        off / 60 % 60
    );
}
