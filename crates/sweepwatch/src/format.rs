//! The forms of a verdict, shared by every front end: the one JSON form (the
//! `sweepwatch` command's `--json` lines, the Suricata plugin's EVE records and
//! any program that links the library) and Zeek's notice.log ([`notice`]). Hand-written into a `String`: every value is a
//! number, an address or one of the library's own ASCII names, so nothing
//! needs escaping, and no JSON library is pulled into engine builds.

pub mod eve;
pub mod notice;

use crate::event::Timestamp;
use crate::verdict::Verdict;
use std::fmt::Write as _;

/// Appends `ts` as RFC 3339 in UTC with microseconds, such as
/// `2021-06-06T14:38:55.855844Z`. Times past the year 9999 (garbage in an
/// input) are written as its last microsecond.
///
/// # Examples
/// ```
/// let mut s = String::new();
/// sweepwatch::format::write_rfc3339(&mut s, sweepwatch::Timestamp::from_micros(1_622_990_335_855_844));
/// assert_eq!(s, "2021-06-06T14:38:55.855844Z");
/// ```
pub fn write_rfc3339(out: &mut String, ts: Timestamp) {
    // 253402300800 is 10000-01-01T00:00:00Z.
    const END: u64 = 253_402_300_800;
    let us = ts.as_micros();
    let (secs, micros) = if us / 1_000_000 >= END {
        (END - 1, 999_999)
    } else {
        (us / 1_000_000, us % 1_000_000)
    };
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let day = secs % 86_400;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        day / 3600,
        day / 60 % 60,
        day % 60
    );
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (Howard
/// Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Appends the fields of `v`'s JSON object, without the braces, so that a
/// front end may put its own fields first (the plugin's EVE `timestamp`).
/// Fields, in this order, never renamed or removed (new ones are added at
/// the end): `kind`, `src`, `direction`, `proto`, `ports`, `targets`,
/// `ports_count`, `failed`, `succeeded`, `unanswered`, `probes`, `first_seen`,
/// `ts`, `sample`, `score`, `technique`, `final`, then `zone` when it is not
/// 0 (inputs without zones keep the form they had), then `sampling` when it
/// is not 0 ([`Verdict::sampling`]: the counts are of sampled packets).
pub fn write_json_fields(out: &mut String, v: &Verdict) {
    let _ = write!(
        out,
        "\"kind\":\"{}\",\"src\":\"{}\",\"direction\":\"{}\",\"proto\":\"{}\",\"ports\":[",
        v.kind.as_str(),
        v.src,
        v.direction.as_str(),
        v.proto.as_str()
    );
    for (i, p) in v.ports().iter().enumerate() {
        let _ = write!(out, "{}{p}", if i > 0 { "," } else { "" });
    }
    let _ = write!(
        out,
        "],\"targets\":{},\"ports_count\":{},\"failed\":{},\"succeeded\":{},\"unanswered\":{},\"probes\":{},\"first_seen\":\"",
        v.targets, v.ports_count, v.failed, v.succeeded, v.unanswered, v.probes
    );
    write_rfc3339(out, v.first_seen);
    out.push_str("\",\"ts\":\"");
    write_rfc3339(out, v.ts);
    out.push_str("\",\"sample\":[");
    for (i, ip) in v.sample().iter().enumerate() {
        let _ = write!(out, "{}\"{ip}\"", if i > 0 { "," } else { "" });
    }
    out.push_str("],\"score\":");
    if v.score.is_finite() {
        let _ = write!(out, "{}", v.score);
    } else {
        // JSON has no infinities; a saturated walk is still a verdict.
        out.push_str("null");
    }
    let _ = write!(
        out,
        ",\"technique\":\"{}\",\"final\":{}",
        v.technique.as_str(),
        v.is_final
    );
    if v.zone != 0 {
        let _ = write!(out, ",\"zone\":{}", v.zone);
    }
    if v.sampling != 0 {
        let _ = write!(out, ",\"sampling\":{}", v.sampling);
    }
}

/// `v` as one JSON object on one line (no newline): the verdict contract of
/// the `sweepwatch` command's `--json` output.
///
/// # Examples
/// ```
/// let v = sweepwatch::Verdict::empty();
/// let line = sweepwatch::format::verdict_json(&v);
/// assert!(line.starts_with("{\"kind\":\"port_sweep\",\"src\":\"0.0.0.0\""));
/// assert!(line.ends_with(",\"technique\":\"syn\",\"final\":false}"));
/// ```
pub fn verdict_json(v: &Verdict) -> String {
    let mut s = String::with_capacity(400);
    s.push('{');
    write_json_fields(&mut s, v);
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(us: u64) -> String {
        let mut s = String::new();
        write_rfc3339(&mut s, Timestamp::from_micros(us));
        s
    }

    #[test]
    fn times_in_utc_with_microseconds() {
        assert_eq!(rfc(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc(951_782_400_000_001), "2000-02-29T00:00:00.000001Z");
        assert_eq!(rfc(1_622_990_335_855_844), "2021-06-06T14:38:55.855844Z");
        assert_eq!(rfc(u64::MAX), "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn zone_and_sampling_come_last_and_only_when_set() {
        let mut v = Verdict::empty();
        assert!(!verdict_json(&v).contains("zone"));
        assert!(!verdict_json(&v).contains("sampling"));
        v.zone = 7;
        v.sampling = 100;
        assert!(
            verdict_json(&v).ends_with(",\"final\":false,\"zone\":7,\"sampling\":100}"),
            "{}",
            verdict_json(&v)
        );
    }

    #[test]
    fn dates_round_trip_through_every_day_of_four_centuries() {
        // Every day from 1970 to 2370, against the day count of its date.
        let mut expected = (1970i64, 1u32, 1u32);
        for day in 0..146_097i64 {
            assert_eq!(civil_from_days(day), expected, "day {day}");
            let (y, m, d) = expected;
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            expected = if d < len {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }
}
