//! Zeek `conn.log`, tab-separated (with its `#separator` and `#fields` header)
//! or JSON lines, to outcomes.
//!
//! `conn_state` decides the outcome of TCP connections:
//!
//! | `conn_state` | outcome |
//! |---|---|
//! | `S0`, `SH` (SYN, no SYN-ACK) | `Unanswered` |
//! | `REJ`, `RSTOS0` (SYN, then RST; no SYN-ACK) | `Refused` |
//! | `S1`, `SF`, `S2`, `S3`, `RSTO`, `RSTR` | `Established` |
//! | `RSTRH`, `SHR` (responder only: backscatter) | `Unsolicited` |
//! | `OTH` and anything else (midstream) | none |
//!
//! UDP: `SF` (both sides sent) is `Established`, `S0` `Unanswered`, `SHR`
//! `Unsolicited`. ICMP echo requests (`id.orig_p` 8, or 128 for ICMPv6) are
//! `Established` when the responder sent packets, else `Unanswered`, with port 0;
//! other ICMP records are skipped. Times are epoch seconds (ISO 8601 strings,
//! as Zeek's JSON writer can be set to use, are accepted too).

use super::{read_lines, Emit, InputError, OnMalformed, Parsed, ReadStats};
use crate::{Event, Outcome, Protocol, Timestamp};
use serde::Deserialize;
use std::borrow::Cow;
use std::io::BufRead;
use std::net::IpAddr;

/// The outcome of a connection from its protocol and state, with the
/// destination port to report (ICMP reports 0); `None` if it carries no attempt.
fn outcome(
    proto: &str,
    state: &str,
    orig_p: u16,
    resp_p: u16,
    resp_pkts: u64,
) -> Option<(Protocol, Outcome, u16)> {
    if proto.eq_ignore_ascii_case("tcp") {
        let o = match state {
            "S0" | "SH" => Outcome::Unanswered,
            "REJ" | "RSTOS0" => Outcome::Refused,
            "S1" | "SF" | "S2" | "S3" | "RSTO" | "RSTR" => Outcome::Established,
            "RSTRH" | "SHR" => Outcome::Unsolicited,
            _ => return None,
        };
        Some((Protocol::Tcp, o, resp_p))
    } else if proto.eq_ignore_ascii_case("udp") {
        let o = match state {
            "SF" => Outcome::Established,
            "S0" => Outcome::Unanswered,
            "SHR" => Outcome::Unsolicited,
            _ => return None,
        };
        Some((Protocol::Udp, o, resp_p))
    } else if proto.eq_ignore_ascii_case("icmp") {
        // Zeek logs the ICMP type as the originator's "port".
        if orig_p != 8 && orig_p != 128 {
            return None;
        }
        let o = if resp_pkts > 0 {
            Outcome::Established
        } else {
            Outcome::Unanswered
        };
        Some((Protocol::Icmp, o, 0))
    } else {
        None
    }
}

/// Parses a Zeek time: epoch seconds with a fraction, or ISO 8601.
fn parse_ts(s: &str) -> Option<Timestamp> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Some(Timestamp::from_secs_f64(v)),
        Ok(_) => None,
        Err(_) => super::parse_datetime(s),
    }
}

fn parse_addr(field: &str, s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| format!("{field} `{s}` is not an IP address"))
}

fn parse_port(field: &str, s: &str) -> Result<u16, String> {
    s.parse()
        .map_err(|_| format!("{field} `{s}` is not a port number"))
}

/// The fields of one connection, however the line spelled them.
struct Conn<'a> {
    ts: Timestamp,
    orig_h: IpAddr,
    orig_p: u16,
    resp_h: IpAddr,
    resp_p: u16,
    proto: &'a str,
    state: &'a str,
    resp_pkts: u64,
}

impl Conn<'_> {
    fn event(&self) -> Option<Event> {
        let (proto, o, dst_port) = outcome(
            self.proto,
            self.state,
            self.orig_p,
            self.resp_p,
            self.resp_pkts,
        )?;
        let mut ev = Event::new(self.ts, self.orig_h, self.resp_h, dst_port, proto, o);
        if proto != Protocol::Icmp {
            ev.src_port = self.orig_p;
        }
        Some(ev)
    }
}

/// Where the needed columns sit in a tab-separated log, from its `#fields` line.
#[derive(Clone, Copy, Debug)]
struct Columns {
    ts: usize,
    orig_h: usize,
    orig_p: Option<usize>,
    resp_h: usize,
    resp_p: usize,
    proto: usize,
    state: usize,
    resp_pkts: Option<usize>,
}

/// Header state of a tab-separated log.
struct Tsv {
    sep: Vec<u8>,
    unset: Vec<u8>,
    columns: Option<Columns>,
}

impl Default for Tsv {
    fn default() -> Self {
        Tsv {
            sep: b"\t".to_vec(),
            unset: b"-".to_vec(),
            columns: None,
        }
    }
}

/// Decodes the `\xHH` escapes Zeek writes in its `#separator` line.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'x') && i + 4 <= s.len() {
            if let Some(b) = std::str::from_utf8(&s[i + 2..i + 4])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn split<'a>(line: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let r = rest?;
        if sep.is_empty() {
            rest = None;
            return Some(r);
        }
        // Nearly always one byte (a tab): a byte scan, not slice comparisons.
        let found = match sep {
            [b] => r.iter().position(|c| c == b),
            _ => r.windows(sep.len()).position(|w| w == sep),
        };
        match found {
            Some(i) => {
                rest = Some(&r[i + sep.len()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

impl Tsv {
    /// Takes in a `#` directive. A `#fields` line that lacks a needed field is
    /// an error: the file is some other Zeek log.
    fn directive(&mut self, line: &[u8]) -> Result<(), String> {
        if let Some(rest) = line.strip_prefix(b"#separator") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            self.sep = unescape(rest);
            return Ok(());
        }
        let mut parts = split(line, &self.sep);
        let key = parts.next().unwrap_or_default();
        match key {
            b"#unset_field" => {
                self.unset = parts.next().unwrap_or(b"-").to_vec();
            }
            b"#fields" => {
                let names: Vec<&[u8]> = parts.collect();
                let find = |n: &str| names.iter().position(|f| *f == n.as_bytes());
                let required = [
                    "ts",
                    "id.orig_h",
                    "id.resp_h",
                    "id.resp_p",
                    "proto",
                    "conn_state",
                ];
                let missing: Vec<String> = required
                    .iter()
                    .filter(|n| find(n).is_none())
                    .map(|n| format!("`{n}`"))
                    .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "#fields lacks {}: not a conn.log",
                        missing.join(", ")
                    ));
                }
                let need = |n: &str| find(n).unwrap_or_default();
                self.columns = Some(Columns {
                    ts: need("ts"),
                    orig_h: need("id.orig_h"),
                    orig_p: find("id.orig_p"),
                    resp_h: need("id.resp_h"),
                    resp_p: need("id.resp_p"),
                    proto: need("proto"),
                    state: need("conn_state"),
                    resp_pkts: find("resp_pkts"),
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn row(&self, line: &[u8]) -> Result<Option<Event>, String> {
        let c = self.columns.ok_or("data line before the #fields header")?;
        let mut cells: [&[u8]; 8] = [b""; 8];
        let want = [
            Some(c.ts),
            Some(c.orig_h),
            c.orig_p,
            Some(c.resp_h),
            Some(c.resp_p),
            Some(c.proto),
            Some(c.state),
            c.resp_pkts,
        ];
        let last = want.iter().flatten().copied().max().unwrap_or(0);
        let mut found = 0usize;
        for (i, cell) in split(line, &self.sep).enumerate().take(last + 1) {
            for (k, w) in want.iter().enumerate() {
                if *w == Some(i) {
                    cells[k] = cell;
                }
            }
            found = i + 1;
        }
        if found <= last {
            return Err(format!("{found} fields, expected at least {}", last + 1));
        }
        let text = |k: usize| -> Result<Option<&str>, String> {
            let cell = cells[k];
            if want[k].is_none() || cell == self.unset.as_slice() || cell.is_empty() {
                return Ok(None);
            }
            std::str::from_utf8(cell)
                .map(Some)
                .map_err(|_| "field is not UTF-8".to_string())
        };
        let need = |k: usize, name: &str| -> Result<&str, String> {
            text(k)?.ok_or_else(|| format!("{name} is unset"))
        };
        let ts_s = need(0, "ts")?;
        let conn = Conn {
            ts: parse_ts(ts_s).ok_or_else(|| format!("bad ts `{ts_s}`"))?,
            orig_h: parse_addr("id.orig_h", need(1, "id.orig_h")?)?,
            orig_p: text(2)?
                .map(|s| parse_port("id.orig_p", s))
                .transpose()?
                .unwrap_or(0),
            resp_h: parse_addr("id.resp_h", need(3, "id.resp_h")?)?,
            resp_p: parse_port("id.resp_p", need(4, "id.resp_p")?)?,
            proto: need(5, "proto")?,
            state: text(6)?.unwrap_or(""),
            resp_pkts: match text(7)? {
                None => 0,
                Some(s) => s
                    .parse()
                    .map_err(|_| format!("resp_pkts `{s}` is not a count"))?,
            },
        };
        Ok(conn.event())
    }
}

/// A Zeek time in JSON: a number, or a string when Zeek writes ISO 8601.
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonTs<'a> {
    Secs(f64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

#[derive(Deserialize)]
struct JsonConn<'a> {
    #[serde(borrow)]
    ts: JsonTs<'a>,
    #[serde(rename = "id.orig_h", borrow)]
    orig_h: Cow<'a, str>,
    #[serde(rename = "id.orig_p")]
    orig_p: Option<u16>,
    #[serde(rename = "id.resp_h", borrow)]
    resp_h: Cow<'a, str>,
    #[serde(rename = "id.resp_p")]
    resp_p: u16,
    #[serde(borrow)]
    proto: Cow<'a, str>,
    #[serde(borrow)]
    conn_state: Option<Cow<'a, str>>,
    resp_pkts: Option<u64>,
}

fn json_row(line: &str) -> Result<Option<Event>, String> {
    let j: JsonConn<'_> = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let ts = match &j.ts {
        JsonTs::Secs(v) if v.is_finite() && *v >= 0.0 => Some(Timestamp::from_secs_f64(*v)),
        JsonTs::Secs(_) => None,
        JsonTs::Text(s) => parse_ts(s),
    }
    .ok_or("bad ts")?;
    let conn = Conn {
        ts,
        orig_h: parse_addr("id.orig_h", &j.orig_h)?,
        orig_p: j.orig_p.unwrap_or(0),
        resp_h: parse_addr("id.resp_h", &j.resp_h)?,
        resp_p: j.resp_p,
        proto: &j.proto,
        state: j.conn_state.as_deref().unwrap_or(""),
        resp_pkts: j.resp_pkts.unwrap_or(0),
    };
    Ok(conn.event())
}

/// Reads a Zeek `conn.log`, tab-separated or JSON lines (each line decides for
/// itself, so concatenated logs of both kinds read too). Emits one event per
/// connection that carries an attempt; malformed lines are skipped and counted.
///
/// # Errors
/// An I/O error, or a `#fields` header without the fields a conn.log has.
///
/// # Examples
/// ```
/// use sweepwatch::input::zeek::read_conn_log;
/// use sweepwatch::Outcome;
/// let log = "#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\n\
///            1700000000.5\t10.0.0.1\t50000\t10.0.0.2\t22\ttcp\tREJ\n";
/// let mut out = Vec::new();
/// let st = read_conn_log(log.as_bytes(), &mut |e| out.push(e)).unwrap();
/// assert_eq!(st.events, 1);
/// assert_eq!(out[0].outcome, Outcome::Refused);
/// ```
pub fn read_conn_log<R: BufRead>(r: R, emit: Emit) -> Result<ReadStats, InputError> {
    read_conn_log_reporting(r, emit, &mut |_, _| {})
}

/// [`read_conn_log`], telling `on_malformed` about each malformed line it skips.
pub fn read_conn_log_reporting<R: BufRead>(
    r: R,
    emit: Emit,
    mut on_malformed: OnMalformed,
) -> Result<ReadStats, InputError> {
    let mut tsv = Tsv::default();
    read_lines(r, emit, &mut on_malformed, |number, bytes| {
        if bytes[0] == b'#' {
            tsv.directive(bytes).map_err(|message| InputError {
                location: format!("line {number}"),
                message,
            })?;
            return Ok(Parsed::Directive);
        }
        Ok(Parsed::Record(if bytes[0] == b'{' {
            match std::str::from_utf8(bytes) {
                Ok(text) => json_row(text),
                Err(_) => Err("not UTF-8".to_string()),
            }
        } else {
            tsv.row(bytes)
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#unset_field\t-\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\tresp_pkts\n";

    fn tsv(rows: &str) -> (ReadStats, Vec<Event>) {
        let mut out = Vec::new();
        let text = format!("{HEADER}{rows}");
        let st = read_conn_log(text.as_bytes(), &mut |e| out.push(e)).unwrap();
        (st, out)
    }

    #[test]
    fn states_map_to_outcomes() {
        let cases = [
            ("tcp", "S0", 0, Some(Outcome::Unanswered)),
            ("tcp", "SH", 0, Some(Outcome::Unanswered)),
            ("tcp", "REJ", 1, Some(Outcome::Refused)),
            ("tcp", "RSTOS0", 0, Some(Outcome::Refused)),
            ("tcp", "SF", 5, Some(Outcome::Established)),
            ("tcp", "RSTR", 5, Some(Outcome::Established)),
            ("tcp", "RSTRH", 1, Some(Outcome::Unsolicited)),
            ("tcp", "SHR", 1, Some(Outcome::Unsolicited)),
            ("tcp", "OTH", 1, None),
            ("udp", "SF", 1, Some(Outcome::Established)),
            ("udp", "S0", 0, Some(Outcome::Unanswered)),
            ("udp", "OTH", 0, None),
            ("icmp", "OTH", 1, Some(Outcome::Established)),
            ("icmp", "OTH", 0, Some(Outcome::Unanswered)),
        ];
        for (proto, state, pkts, want) in cases {
            let row = format!("1.5\tC1\t10.0.0.1\t8\t10.0.0.2\t0\t{proto}\t{state}\t{pkts}\n");
            let (st, ev) = tsv(&row);
            assert_eq!(ev.first().map(|e| e.outcome), want, "{proto} {state}");
            assert_eq!(st.records, 1);
            assert_eq!(st.skipped, u64::from(want.is_none()));
        }
        // ICMP types other than echo request carry no probe.
        let (_, ev) = tsv("1.5\tC1\t10.0.0.1\t3\t10.0.0.2\t1\ticmp\tOTH\t0\n");
        assert!(ev.is_empty());
    }

    #[test]
    fn fields_found_by_name_and_unset_values() {
        let (st, ev) = tsv("1700000000.25\tC1\t10.0.0.1\t-\t192.0.2.9\t443\ttcp\tS0\t-\n");
        assert_eq!(st.events, 1);
        assert_eq!(ev[0].ts, Timestamp::from_micros(1_700_000_000_250_000));
        assert_eq!((ev[0].src_port, ev[0].dst_port), (0, 443));
        let (st, _) = tsv("1.0\tC1\tnot-an-ip\t1\t10.0.0.2\t22\ttcp\tS0\t0\n1.0\tC1\t10.0.0.1\n");
        assert_eq!((st.records, st.malformed), (2, 2));
        let other = "#separator \\x09\n#fields\tts\tuid\tquery\n1.0\tC1\texample.com\n";
        let err = read_conn_log(other.as_bytes(), &mut |_| {}).unwrap_err();
        assert!(err.message.contains("conn_state"), "{err}");
        assert_eq!(err.location, "line 2");
    }

    #[test]
    fn json_lines() {
        let text = concat!(
            r#"{"ts":1700828217.314165,"id.orig_h":"192.168.1.9","id.orig_p":50820,"id.resp_h":"45.33.32.156","id.resp_p":443,"proto":"tcp","conn_state":"REJ","resp_pkts":1}"#,
            "\n",
            r#"{"ts":"2023-11-24T12:16:57.314165Z","id.orig_h":"fd00::1","id.orig_p":128,"id.resp_h":"fd00::2","id.resp_p":0,"proto":"icmp","conn_state":"OTH","resp_pkts":0}"#,
            "\n{\"ts\":1.0,\"id.orig_h\":\"10.0.0.1\"\n"
        );
        let mut out = Vec::new();
        let mut bad = Vec::new();
        let st = read_conn_log_reporting(text.as_bytes(), &mut |e| out.push(e), &mut |n, m| {
            bad.push((n, m.to_string()))
        })
        .unwrap();
        assert_eq!((st.records, st.events, st.malformed), (3, 2, 1));
        assert_eq!(out[0].outcome, Outcome::Refused);
        assert_eq!(out[0].ts, Timestamp::from_micros(1_700_828_217_314_165));
        assert_eq!(
            (out[1].proto, out[1].outcome),
            (Protocol::Icmp, Outcome::Unanswered)
        );
        assert_eq!(out[1].ts, out[0].ts);
        assert_eq!(bad[0].0, 3);
    }

    #[test]
    fn separators_unescape() {
        assert_eq!(unescape(b"\\x09"), b"\t");
        assert_eq!(unescape(b"\\x2c|"), b",|");
        assert_eq!(unescape(b"\\xZZ"), b"\\xZZ");
        assert_eq!(unescape(b"\\x"), b"\\x");
    }
}
