//! Verdicts as Zeek `notice.log` records, in Zeek's tab-separated form (with
//! its header lines) and in its JSON form, so that `zeek-cut` and the SIEM
//! parsers of notice.log take them unchanged.
//!
//! Notes and messages read like those of the `bro-simple-scan` package that
//! Zeek's maintainers point to for scan detection: `Scan::Address_Scan` for a
//! sweep of many hosts (`p` its port when it has one), `Scan::Port_Scan` for
//! many ports of one host, and `Scan::Outbound_Sweep` for a home host whose
//! first contacts to the outside mostly fail. `n` is the count the note is
//! about (hosts for a sweep, ports for a scan), `sub` says whether the source
//! is `local` or `remote`. Final extents are not notices: a notice is a
//! decision, and these formats write one per verdict as decided.

use super::write_rfc3339;
use crate::event::{Protocol, Timestamp};
use crate::verdict::{Direction, Kind, Verdict};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Zeek's notice.log columns, in Zeek's order (Zeek 5 and later).
const FIELDS: [(&str, &str); 26] = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("fuid", "string"),
    ("file_mime_type", "string"),
    ("file_desc", "string"),
    ("proto", "enum"),
    ("note", "enum"),
    ("msg", "string"),
    ("sub", "string"),
    ("src", "addr"),
    ("dst", "addr"),
    ("p", "port"),
    ("n", "count"),
    ("peer_descr", "string"),
    ("actions", "set[enum]"),
    ("email_dest", "set[string]"),
    ("suppress_for", "interval"),
    ("remote_location.country_code", "string"),
    ("remote_location.region", "string"),
    ("remote_location.city", "string"),
    ("remote_location.latitude", "double"),
    ("remote_location.longitude", "double"),
];

/// What a verdict says as a notice.
struct Notice {
    note: &'static str,
    msg: String,
    sub: &'static str,
    dst: Option<IpAddr>,
    p: Option<u16>,
    n: u32,
    proto: Option<&'static str>,
}

/// The note of a verdict's kind.
///
/// ```
/// use sweepwatch::Kind;
/// use sweepwatch::format::notice::note;
/// assert_eq!(note(Kind::PortSweep), "Scan::Address_Scan");
/// assert_eq!(note(Kind::PortScan), "Scan::Port_Scan");
/// ```
pub fn note(kind: Kind) -> &'static str {
    match kind {
        Kind::PortSweep | Kind::IcmpSweep => "Scan::Address_Scan",
        Kind::PortScan => "Scan::Port_Scan",
        Kind::OutboundSweep => "Scan::Outbound_Sweep",
    }
}

/// `XmYs`, as Zeek's scan notices state how long a scan took.
fn mins_secs(from: Timestamp, to: Timestamp) -> String {
    let secs = to.as_micros().saturating_sub(from.as_micros()) / 1_000_000;
    format!("{}m{}s", secs / 60, secs % 60)
}

/// `port 445/tcp`, or `ports 80/tcp, 8080/tcp` for several main ports.
fn ports_text(v: &Verdict) -> String {
    let proto = v.proto.as_str();
    let list: Vec<String> = v.ports().iter().map(|p| format!("{p}/{proto}")).collect();
    match list.len() {
        1 => format!("port {}", list[0]),
        _ => format!("ports {}", list.join(", ")),
    }
}

impl Notice {
    fn of(v: &Verdict) -> Notice {
        let took = mins_secs(v.first_seen, v.ts);
        let one_port = match v.ports() {
            [p] if v.proto != Protocol::Icmp => Some(*p),
            _ => None,
        };
        let one_host = match v.sample() {
            [h, ..] if v.targets == 1 => Some(*h),
            _ => None,
        };
        let src = v.src;
        let (msg, n, p, dst) = match v.kind {
            Kind::PortScan => {
                let on = match one_host {
                    Some(h) => format!("host {h}"),
                    None => format!("{} hosts", v.targets),
                };
                let n = v.ports_count;
                (
                    format!("{src} scanned at least {n} unique ports on {on} in {took}"),
                    n,
                    None,
                    one_host,
                )
            }
            Kind::IcmpSweep => {
                let n = v.targets;
                (
                    format!(
                        "{src} swept at least {n} unique hosts with ICMP echo requests in {took}"
                    ),
                    n,
                    None,
                    None,
                )
            }
            Kind::PortSweep => {
                let n = v.targets;
                let on = ports_text(v);
                (
                    format!("{src} scanned at least {n} unique hosts on {on} in {took}"),
                    n,
                    one_port,
                    None,
                )
            }
            Kind::OutboundSweep => {
                let n = v.targets;
                let (failed, on) = (v.failed, ports_text(v));
                (
                    format!("{src} failed to reach {failed} first contacts among at least {n} unique hosts on {on} in {took}"),
                    n,
                    one_port,
                    None,
                )
            }
        };
        // Zeek's notice has no field for it; the message says it.
        let msg = if v.sampling > 1 {
            format!("{msg} (packets sampled 1 in {})", v.sampling)
        } else {
            msg
        };
        let sub = match v.direction {
            Direction::Outbound | Direction::Internal => "local",
            Direction::Inbound | Direction::External => "remote",
        };
        let proto = match v.proto {
            Protocol::Tcp => Some("tcp"),
            Protocol::Udp => Some("udp"),
            Protocol::Icmp => Some("icmp"),
            Protocol::Other => None,
        };
        Notice {
            note: note(v.kind),
            msg,
            sub,
            dst,
            p,
            n,
            proto,
        }
    }
}

/// `ts` as Zeek writes a `time`: seconds since the epoch with microseconds.
fn epoch(out: &mut String, ts: Timestamp) {
    let us = ts.as_micros();
    let _ = write!(out, "{}.{:06}", us / 1_000_000, us % 1_000_000);
}

/// `ts` as Zeek's `#open` and `#close` lines write it: `2021-06-06-14-38-55`.
fn log_time(out: &mut String, ts: Timestamp) {
    let mut s = String::new();
    write_rfc3339(&mut s, ts);
    // 2021-06-06T14:38:55.855844Z -> 2021-06-06-14-38-55
    out.push_str(&s[..19].replace(['T', ':'], "-"));
}

/// The header lines of a notice.log in Zeek's tab-separated form, each ending
/// in a newline; `open` is when the log was opened (Zeek's `#open`).
///
/// # Examples
/// ```
/// use sweepwatch::format::notice::tsv_header;
/// use sweepwatch::Timestamp;
/// let h = tsv_header(Timestamp::from_secs(1_622_990_335));
/// assert!(h.starts_with("#separator \\x09\n#set_separator\t,\n"));
/// assert!(h.contains("#path\tnotice\n#open\t2021-06-06-14-38-55\n"));
/// assert!(h.contains("\tnote\tmsg\tsub\tsrc\tdst\tp\tn\t"));
/// ```
pub fn tsv_header(open: Timestamp) -> String {
    let mut s = String::from(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tnotice\n#open\t",
    );
    log_time(&mut s, open);
    s.push_str("\n#fields");
    for (name, _) in FIELDS {
        s.push('\t');
        s.push_str(name);
    }
    s.push_str("\n#types");
    for (_, ty) in FIELDS {
        s.push('\t');
        s.push_str(ty);
    }
    s.push('\n');
    s
}

/// The closing line of a notice.log in Zeek's tab-separated form, with its
/// newline; `close` is when the log was closed.
///
/// ```
/// let c = sweepwatch::format::notice::tsv_close(sweepwatch::Timestamp::from_secs(0));
/// assert_eq!(c, "#close\t1970-01-01-00-00-00\n");
/// ```
pub fn tsv_close(close: Timestamp) -> String {
    let mut s = String::from("#close\t");
    log_time(&mut s, close);
    s.push('\n');
    s
}

/// Appends `v` as one notice.log row in Zeek's tab-separated form (no
/// newline). Unset fields are `-`, as the header's `#unset_field` says.
///
/// # Examples
/// ```
/// use sweepwatch::format::notice::write_tsv;
/// let mut row = String::new();
/// write_tsv(&mut row, &sweepwatch::Verdict::empty());
/// let cols: Vec<&str> = row.split('\t').collect();
/// assert_eq!(cols.len(), 26);
/// assert_eq!((cols[10], cols[13]), ("Scan::Address_Scan", "0.0.0.0"));
/// ```
pub fn write_tsv(out: &mut String, v: &Verdict) {
    let nt = Notice::of(v);
    epoch(out, v.ts);
    // uid, id.*, fuid, file_mime_type, file_desc: a notice about a source,
    // not one connection or file.
    out.push_str("\t-\t-\t-\t-\t-\t-\t-\t-\t");
    out.push_str(nt.proto.unwrap_or("-"));
    let _ = write!(out, "\t{}\t{}\t{}\t{}\t", nt.note, nt.msg, nt.sub, v.src);
    match nt.dst {
        Some(d) => {
            let _ = write!(out, "{d}");
        }
        None => out.push('-'),
    }
    match nt.p {
        Some(p) => {
            let _ = write!(out, "\t{p}");
        }
        None => out.push_str("\t-"),
    }
    // peer_descr, actions, email_dest, suppress_for, remote_location.*.
    let _ = write!(
        out,
        "\t{}\t-\tNotice::ACTION_LOG\t(empty)\t-\t-\t-\t-\t-\t-",
        nt.n
    );
}

/// Appends `v` as one notice.log record in Zeek's JSON form (one object, no
/// newline): the fields that are set, under Zeek's names, `ts` in seconds
/// since the epoch.
///
/// # Examples
/// ```
/// use sweepwatch::format::notice::write_json;
/// let mut rec = String::new();
/// write_json(&mut rec, &sweepwatch::Verdict::empty());
/// assert!(rec.starts_with("{\"ts\":0.000000,\"proto\":\"tcp\",\"note\":\"Scan::Address_Scan\""));
/// ```
pub fn write_json(out: &mut String, v: &Verdict) {
    let nt = Notice::of(v);
    out.push_str("{\"ts\":");
    epoch(out, v.ts);
    if let Some(p) = nt.proto {
        let _ = write!(out, ",\"proto\":\"{p}\"");
    }
    // Messages hold addresses, numbers and ASCII words only: no escaping.
    let _ = write!(
        out,
        ",\"note\":\"{}\",\"msg\":\"{}\",\"sub\":\"{}\",\"src\":\"{}\"",
        nt.note, nt.msg, nt.sub, v.src
    );
    if let Some(d) = nt.dst {
        let _ = write!(out, ",\"dst\":\"{d}\"");
    }
    if let Some(p) = nt.p {
        let _ = write!(out, ",\"p\":{p}");
    }
    let _ = write!(
        out,
        ",\"n\":{},\"actions\":[\"Notice::ACTION_LOG\"]}}",
        nt.n
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep() -> Verdict {
        let mut v = Verdict::empty();
        v.src = "176.192.150.3".parse().unwrap();
        v.direction = Direction::Inbound;
        v.port_list[0] = 445;
        v.n_ports = 1;
        v.targets = 9;
        v.first_seen = Timestamp::from_secs(1_000);
        v.ts = Timestamp::from_micros(1_125_500_000);
        v
    }

    #[test]
    fn a_sweep_reads_like_bro_simple_scan() {
        let mut row = String::new();
        write_tsv(&mut row, &sweep());
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!(cols.len(), FIELDS.len());
        assert_eq!(cols[0], "1125.500000");
        assert_eq!(cols[10], "Scan::Address_Scan");
        assert_eq!(
            cols[11],
            "176.192.150.3 scanned at least 9 unique hosts on port 445/tcp in 2m5s"
        );
        assert_eq!(
            (cols[12], cols[13], cols[15], cols[16]),
            ("remote", "176.192.150.3", "445", "9")
        );
    }

    #[test]
    fn a_sampled_verdict_says_so_in_its_message() {
        let mut v = sweep();
        v.sampling = 1000;
        let mut row = String::new();
        write_tsv(&mut row, &v);
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!(
            cols[11],
            "176.192.150.3 scanned at least 9 unique hosts on port 445/tcp in 2m5s \
             (packets sampled 1 in 1000)"
        );
    }

    #[test]
    fn a_scan_names_its_host_and_counts_ports() {
        let mut v = sweep();
        v.kind = Kind::PortScan;
        v.targets = 1;
        v.ports_count = 10;
        v.port_list[1] = 22;
        v.n_ports = 2;
        v.sample_list[0] = "192.168.2.22".parse().unwrap();
        v.n_sample = 1;
        v.direction = Direction::Internal;
        let mut rec = String::new();
        write_json(&mut rec, &v);
        assert!(rec.contains("\"note\":\"Scan::Port_Scan\""), "{rec}");
        assert!(
            rec.contains("unique ports on host 192.168.2.22 in 2m5s\""),
            "{rec}"
        );
        assert!(
            rec.contains(
                "\"sub\":\"local\",\"src\":\"176.192.150.3\",\"dst\":\"192.168.2.22\",\"n\":10"
            ),
            "{rec}"
        );
        assert!(!rec.contains("\"p\":"), "{rec}");
    }
}
