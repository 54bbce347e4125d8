//! Verdicts as EVE records of `event_type: "sweep"` (or `"alert"`): the
//! library's one EVE form ([`sweepwatch::format::eve`]), given the deciding
//! flow's ids, the sensor's name and the local time's offset, which only the
//! plugin knows.

use sweepwatch::format::eve::{write_record, Head};
#[cfg(test)]
use sweepwatch::Timestamp;
use sweepwatch::Verdict;
use sweepwatch_input::eve::FlowIds;

pub use sweepwatch::format::eve::Style;

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
    let mut s = String::with_capacity(768);
    let head = Head {
        flow_id: ids.and_then(|i| i.flow_id),
        vlan: ids.map_or(&[][..], |i| i.vlan.ids()),
        host,
        utc_offset_secs: local_offset(v.ts.as_secs()),
    };
    write_record(&mut s, v, &head, style);
    s.push('\n');
    out.extend_from_slice(s.as_bytes());
}

/// The local time's offset from UTC at `secs`, as Suricata writes its own
/// timestamps in local time (0 if the C library cannot say).
fn local_offset(secs: u64) -> i32 {
    let Ok(t) = libc::time_t::try_from(secs) else {
        return 0;
    };
    // SAFETY: an all-zero `tm` is a valid value (integers, and a null zone
    // name pointer that is only ever written by the C library).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; `localtime_r` is thread-safe
    // and writes only to `tm`.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return 0;
    }
    // `c_long` is 32 bits on some targets, so the conversion is not useless there.
    #[allow(clippy::useless_conversion)]
    let off = i64::from(tm.tm_gmtoff);
    i32::try_from(off).unwrap_or(0)
}

/// Suricata's EVE timestamp: `2021-06-06T16:38:55.855844+0000`, local time.
#[cfg(test)]
fn suricata_time(s: &mut String, ts: Timestamp) -> std::fmt::Result {
    sweepwatch::format::eve::write_suricata_time(s, ts, local_offset(ts.as_secs()));
    Ok(())
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
        let sids: Vec<u64> = Kind::ALL
            .iter()
            .map(|k| {
                let mut one = v;
                (one.kind, one.is_final) = (*k, false);
                let mut out = Vec::new();
                push_verdict(&mut out, &one, None, None, Style::Alert);
                let rec: serde_json::Value = serde_json::from_slice(&out).unwrap();
                rec["alert"]["signature_id"].as_u64().unwrap()
            })
            .collect();
        assert_eq!(sids, [9_410_001, 9_410_002, 9_410_003, 9_410_004]);
    }
}
