//! Zeek `conn.log`, tab-separated (with its `#separator` and `#fields` header)
//! or JSON lines, to outcomes.
//!
//! An attempt is counted only where the record shows that its originator
//! opened it. For TCP, where the log has a `history` column (Zeek's default),
//! that is an originator SYN (`S`, upper case: the originator's letters are
//! upper case, the responder's lower case); `conn_state` then decides the
//! outcome:
//!
//! | `history` | `conn_state` | outcome | technique |
//! |---|---|---|---|
//! | has `S` | `S0`, `SH` (SYN, no SYN-ACK) | `Unanswered` | `Syn` |
//! | has `S` | `REJ`, `RSTOS0` (SYN, then RST; no SYN-ACK) | `Refused` | `Syn` |
//! | has `S` | `S1`, `SF`, `S2`, `S3`, `RSTO`, `RSTR` | `Established` | `Connect` if the originator acknowledged the SYN-ACK (`A` after `h`), else `Syn` |
//! | has `S` | `RSTRH`, `SHR` | `Unsolicited` | |
//! | no `S`, only SYN-ACKs and RSTs (`h`, `H`, `r`, `R`; no `a`, `d`, `f`, `s`, `i`, `q` either side) | `RSTRH`, `SHR` | `Unsolicited` (backscatter) | |
//! | no `S`: picked up midstream (`DFa`, `Dd`, `hADadfF`, `DR`, `f`…) | any | none | |
//! | any | `OTH` and anything else | none | |
//!
//! Without a `history` column (or with it unset on a record), `conn_state`
//! alone decides, as in the table's `has S` rows. A record with an originator
//! SYN whose outcome Zeek reports as `Established` but which shows no
//! handshake completion (a SYN scan's `ShR`) is technique `Syn`.
//!
//! `local_orig` and `local_resp`, where logged, give the events' `src_local`
//! and `dst_local` (`T` true, `F` false, unset or absent: left to the
//! configured home networks).
//!
//! UDP: `SF` (both sides sent) is `Established`, `S0` `Unanswered`, `SHR`
//! `Unsolicited`; records to traceroute's ports 33434–33534 make none (their
//! answers tell of the path; Zeek logs a router's time exceeded as a record
//! of its own). ICMP echo requests (`id.orig_p` 8, or 128 for ICMPv6) are
//! `Established` when the responder sent packets, else `Unanswered`, with port 0;
//! other ICMP records are skipped. Times are epoch seconds (ISO 8601 strings,
//! as Zeek's JSON writer can be set to use, are accepted too).

use super::{read_lines, Emit, InputError, Parsed, ReadOptions, ReadStats};
use serde::Deserialize;
use std::borrow::Cow;
use std::io::BufRead;
use std::net::IpAddr;
use sweepwatch::{Event, Outcome, Protocol, Technique, Timestamp};

/// What a TCP connection's `history` says, read in one pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct History {
    /// The originator sent a SYN (`S`).
    orig_syn: bool,
    /// The originator acknowledged after the responder's SYN-ACK (`A` after
    /// `h`): it completed the handshake.
    completed: bool,
    /// Only SYN-ACKs and RSTs, from either side, and at least one: replies
    /// that answer nothing seen (backscatter).
    replies_only: bool,
}

impl History {
    fn read(h: &str) -> History {
        let mut r = History::default();
        let mut syn_ack = false;
        let mut replies = false;
        let mut other = false;
        for c in h.bytes() {
            match c {
                b'S' => r.orig_syn = true,
                b'h' => {
                    syn_ack = true;
                    replies = true;
                }
                b'A' => {
                    r.completed |= syn_ack;
                    other = true;
                }
                b'H' | b'r' | b'R' => replies = true,
                // SYN, ACK, data, FIN, inconsistent or multi-flag segments:
                // more than replies.
                b's' | b'a' | b'd' | b'D' | b'f' | b'F' | b'i' | b'I' | b'q' | b'Q' => {
                    other = true;
                }
                // `^` (flipped), checksum, gap, retransmission, window and
                // other annotations of segments already lettered.
                _ => {}
            }
        }
        r.completed &= r.orig_syn;
        r.replies_only = replies && !other && !r.orig_syn;
        r
    }
}

/// The outcome of a connection from its protocol, state and (TCP) history,
/// with the destination port to report (ICMP reports 0) and the technique;
/// `None` if it carries no attempt.
fn outcome(
    proto: &str,
    state: &str,
    history: Option<&str>,
    orig_p: u16,
    resp_p: u16,
    resp_pkts: u64,
) -> Option<(Protocol, Outcome, u16, Technique)> {
    if proto.eq_ignore_ascii_case("tcp") {
        let o = match state {
            "S0" | "SH" => Outcome::Unanswered,
            "REJ" | "RSTOS0" => Outcome::Refused,
            "S1" | "SF" | "S2" | "S3" | "RSTO" | "RSTR" => Outcome::Established,
            "RSTRH" | "SHR" => Outcome::Unsolicited,
            _ => return None,
        };
        let mut technique = Technique::Syn;
        if let Some(h) = history {
            let h = History::read(h);
            if !h.orig_syn {
                // Picked up midstream, whatever the state says; replies alone
                // stay backscatter where the state says so too.
                if !(o == Outcome::Unsolicited && h.replies_only) {
                    return None;
                }
            } else if h.completed {
                technique = Technique::Connect;
            }
        }
        Some((Protocol::Tcp, o, resp_p, technique))
    } else if proto.eq_ignore_ascii_case("udp") {
        if super::traceroute_port(resp_p) {
            // Zeek logs a router's time exceeded as a record of its own.
            return None;
        }
        let o = match state {
            "SF" => Outcome::Established,
            "S0" => Outcome::Unanswered,
            "SHR" => Outcome::Unsolicited,
            _ => return None,
        };
        Some((Protocol::Udp, o, resp_p, Technique::Udp))
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
        Some((Protocol::Icmp, o, 0, Technique::IcmpEcho))
    } else {
        None
    }
}

/// A Zeek boolean as the TSV writer spells it.
fn parse_bool(field: &str, s: &str) -> Result<bool, String> {
    match s {
        "T" => Ok(true),
        "F" => Ok(false),
        _ => Err(format!("{field} `{s}` is not T or F")),
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
    /// `None` where the log has no history, or leaves it unset.
    history: Option<&'a str>,
    resp_pkts: u64,
    local_orig: Option<bool>,
    local_resp: Option<bool>,
}

impl Conn<'_> {
    fn event(&self) -> Option<Event> {
        let (proto, o, dst_port, technique) = outcome(
            self.proto,
            self.state,
            self.history,
            self.orig_p,
            self.resp_p,
            self.resp_pkts,
        )?;
        let mut ev = Event::new(self.ts, self.orig_h, self.resp_h, dst_port, proto, o)
            .with_technique(technique);
        if proto != Protocol::Icmp {
            ev.src_port = self.orig_p;
        }
        ev.src_local = self.local_orig;
        ev.dst_local = self.local_resp;
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
    history: Option<usize>,
    local_orig: Option<usize>,
    local_resp: Option<usize>,
}

/// Most bytes a `#separator` or `#set_separator` may have (after unescaping).
/// Zeek writes one character; a long separator would make splitting every
/// line cost its length times the separator's.
const MAX_SEPARATOR: usize = 8;
/// Most columns a `#fields` line may name (a conn.log has about 20).
const MAX_FIELDS: usize = 1024;

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

/// A `#separator` or `#set_separator` value, unescaped and within
/// [`MAX_SEPARATOR`] bytes.
fn separator(name: &str, raw: &[u8]) -> Result<Vec<u8>, String> {
    let sep = unescape(raw);
    if sep.len() > MAX_SEPARATOR {
        return Err(format!(
            "{name} is {} bytes after unescaping; at most {MAX_SEPARATOR} are accepted \
             (Zeek writes one character)",
            sep.len()
        ));
    }
    Ok(sep)
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
        // Longer separators are compared at each position, which costs the
        // line's length times theirs: linear only because `separator` holds
        // them to MAX_SEPARATOR bytes.
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
            self.sep = separator("#separator", rest)?;
            if self.sep.is_empty() {
                return Err("#separator is empty".into());
            }
            return Ok(());
        }
        let mut parts = split(line, &self.sep);
        let key = parts.next().unwrap_or_default();
        match key {
            b"#unset_field" => {
                self.unset = parts.next().unwrap_or(b"-").to_vec();
            }
            b"#set_separator" => {
                // Not used (no needed field is a set), but held to the same
                // bound: a header that breaks it is not Zeek's.
                separator("#set_separator", parts.next().unwrap_or_default())?;
            }
            b"#fields" => {
                let names: Vec<&[u8]> = parts.by_ref().take(MAX_FIELDS).collect();
                if names.len() == MAX_FIELDS && parts.next().is_some() {
                    return Err(format!(
                        "#fields names more than {MAX_FIELDS} columns: not a conn.log"
                    ));
                }
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
                    history: find("history"),
                    local_orig: find("local_orig"),
                    local_resp: find("local_resp"),
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn row(&self, line: &[u8]) -> Result<Option<Event>, String> {
        let c = self.columns.ok_or("data line before the #fields header")?;
        let mut cells: [&[u8]; 11] = [b""; 11];
        let want = [
            Some(c.ts),
            Some(c.orig_h),
            c.orig_p,
            Some(c.resp_h),
            Some(c.resp_p),
            Some(c.proto),
            Some(c.state),
            c.resp_pkts,
            c.history,
            c.local_orig,
            c.local_resp,
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
            history: text(8)?,
            local_orig: text(9)?.map(|s| parse_bool("local_orig", s)).transpose()?,
            local_resp: text(10)?.map(|s| parse_bool("local_resp", s)).transpose()?,
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
    #[serde(borrow)]
    history: Option<Cow<'a, str>>,
    #[serde(borrow)]
    local_orig: Option<JsonBool<'a>>,
    #[serde(borrow)]
    local_resp: Option<JsonBool<'a>>,
}

/// A Zeek boolean in JSON: `true`/`false`, or the TSV spelling in a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonBool<'a> {
    Bool(bool),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

impl JsonBool<'_> {
    fn get(&self, field: &str) -> Result<bool, String> {
        match self {
            JsonBool::Bool(b) => Ok(*b),
            JsonBool::Text(s) => parse_bool(field, s),
        }
    }
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
        history: j.history.as_deref(),
        resp_pkts: j.resp_pkts.unwrap_or(0),
        local_orig: j
            .local_orig
            .as_ref()
            .map(|b| b.get("local_orig"))
            .transpose()?,
        local_resp: j
            .local_resp
            .as_ref()
            .map(|b| b.get("local_resp"))
            .transpose()?,
    };
    Ok(conn.event())
}

/// Reads a Zeek `conn.log`, tab-separated or JSON lines (each line decides for
/// itself, so concatenated logs of both kinds read too). Emits one event per
/// connection that carries an attempt; malformed lines are skipped, counted
/// and told to [`ReadOptions::on_malformed`] with their
/// [`Location::Line`](crate::Location::Line). `opts.pcap` is not used.
///
/// # Errors
/// An I/O error, a `#fields` header without the fields a conn.log has, or a
/// header beyond the bounds that keep reading linear: a `#separator` (or
/// `#set_separator`) longer than 8 bytes after unescaping, an empty
/// `#separator`, or `#fields` naming more than 1,024 columns.
///
/// # Examples
/// ```
/// use sweepwatch_input::{zeek::read_conn_log, Location, ReadOptions};
/// use sweepwatch::Outcome;
/// let log = "#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\n\
///            1700000000.5\t10.0.0.1\t50000\t10.0.0.2\t22\ttcp\tREJ\n\
///            1700000000.6\t10.0.0.1\t50000\t10.0.0.2\tssh\ttcp\tREJ\n";
/// let (mut out, mut bad) = (Vec::new(), Vec::new());
/// let mut report = |at: Location, why: &str| bad.push(format!("{at}: {why}"));
/// let mut opts = ReadOptions {
///     on_malformed: Some(&mut report),
///     ..ReadOptions::default()
/// };
/// let st = read_conn_log(log.as_bytes(), &mut opts, &mut |e| out.push(e)).unwrap();
/// assert_eq!((st.events, st.malformed), (1, 1));
/// assert_eq!(out[0].outcome, Outcome::Refused);
/// assert_eq!(bad, ["line 4: id.resp_p `ssh` is not a port number"]);
/// ```
pub fn read_conn_log<R: BufRead>(
    r: R,
    opts: &mut ReadOptions<'_>,
    emit: Emit,
) -> Result<ReadStats, InputError> {
    let mut tsv = Tsv::default();
    read_lines(r, opts, emit, |number, bytes| {
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
        let st = read_conn_log(text.as_bytes(), &mut ReadOptions::default(), &mut |e| {
            out.push(e)
        })
        .unwrap();
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
    fn traceroute_ports_make_no_probe() {
        // Unix traceroute's probes, unanswered in the log (the routers'
        // time exceeded are records of their own), and one reaching the
        // target; the same datagram to another port is a probe.
        let (st, ev) = tsv("1.5\tC1\t10.0.0.1\t50000\t192.0.2.9\t33434\tudp\tS0\t0\n\
             1.6\tC2\t10.0.0.1\t50000\t192.0.2.9\t33460\tudp\tS0\t0\n\
             1.7\tC3\t10.0.0.1\t50000\t192.0.2.9\t33534\tudp\tSF\t1\n\
             1.8\tC4\t10.0.0.1\t50000\t192.0.2.9\t33535\tudp\tS0\t0\n");
        assert_eq!((st.records, st.events, st.skipped), (4, 1, 3));
        assert_eq!(
            (ev[0].dst_port, ev[0].outcome),
            (33535, Outcome::Unanswered)
        );
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
        let err =
            read_conn_log(other.as_bytes(), &mut ReadOptions::default(), &mut |_| {}).unwrap_err();
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
        let mut report = |at: crate::Location, why: &str| bad.push((at, why.to_string()));
        let mut opts = ReadOptions {
            on_malformed: Some(&mut report),
            ..ReadOptions::default()
        };
        let st = read_conn_log(text.as_bytes(), &mut opts, &mut |e| out.push(e)).unwrap();
        assert_eq!((st.records, st.events, st.malformed), (3, 2, 1));
        assert_eq!(out[0].outcome, Outcome::Refused);
        assert_eq!(out[0].ts, Timestamp::from_micros(1_700_828_217_314_165));
        assert_eq!(
            (out[1].proto, out[1].outcome),
            (Protocol::Icmp, Outcome::Unanswered)
        );
        assert_eq!(out[1].ts, out[0].ts);
        assert_eq!(bad[0].0, crate::Location::Line(3));
    }

    const HEADER_HISTORY: &str = "#separator \\x09\n#unset_field\t-\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\tlocal_orig\tlocal_resp\thistory\tresp_pkts\n";

    /// One TCP record with the history column: (outcome, technique), if any.
    fn with_history(state: &str, history: &str) -> Option<(Outcome, Technique)> {
        let text = format!(
            "{HEADER_HISTORY}1.5\tC1\t10.0.0.1\t40000\t10.0.0.2\t80\ttcp\t{state}\tT\tF\t{history}\t1\n"
        );
        let mut out = Vec::new();
        let st = read_conn_log(text.as_bytes(), &mut ReadOptions::default(), &mut |e| {
            out.push(e)
        })
        .unwrap();
        assert_eq!((st.records, st.malformed), (1, 0));
        out.first().map(|e| (e.outcome, e.technique))
    }

    #[test]
    fn history_needs_an_originator_syn() {
        use Outcome::*;
        use Technique::{Connect, Syn};
        let cases = [
            // Originator SYN: conn_state decides, the handshake the technique.
            ("S0", "S", Some((Unanswered, Syn))),
            ("REJ", "Sr", Some((Refused, Syn))),
            ("RSTOS0", "SR", Some((Refused, Syn))),
            ("RSTO", "ShR", Some((Established, Syn))), // nmap -sS, open port
            ("RSTO", "ShAR", Some((Established, Connect))), // nmap -sT
            ("SF", "ShADadfF", Some((Established, Connect))),
            ("SF", "SADadfF", Some((Established, Syn))), // SYN-ACK not seen
            ("SH", "SF", Some((Unanswered, Syn))),
            ("S1", "Sh", Some((Established, Syn))),
            // Picked up midstream: no originator SYN, whatever the state.
            ("SF", "DFa", None),
            ("SF", "Dd", None),
            ("SF", "hADadfF", None),
            ("RSTO", "HdDaAfR", None),
            ("RSTO", "DR", None),
            ("SH", "Da", None),
            ("S2", "hADdaF", None),
            ("RSTOS0", "R", None),
            ("RSTOS0", "dR", None),
            ("REJ", "Ar", None),
            ("SHR", "f", None),
            ("SHR", "hADadf", None),
            ("RSTRH", "Dr", None),
            ("OTH", "h", None),
            ("SHR", "hA", None), // the originator acknowledged: not replies alone
            // A responder SYN is not the originator's.
            ("S0", "s", None),
            // Replies alone, where the state says backscatter.
            ("RSTRH", "r", Some((Unsolicited, Syn))),
            ("RSTRH", "hr", Some((Unsolicited, Syn))),
            ("RSTRH", "^hr", Some((Unsolicited, Syn))),
            ("SHR", "H", Some((Unsolicited, Syn))),
            ("RSTRH", "Hr", Some((Unsolicited, Syn))),
            ("RSTRH", "hR", Some((Unsolicited, Syn))),
        ];
        for (state, history, want) in cases {
            assert_eq!(with_history(state, history), want, "{state} {history}");
        }
        // An unset history falls back on conn_state.
        assert_eq!(with_history("S0", "-"), Some((Outcome::Unanswered, Syn)));
        // Lower-case `a` after `h` is the responder's: not a completion.
        assert_eq!(with_history("S1", "Sha"), Some((Outcome::Established, Syn)));
        // `A` before the SYN-ACK does not complete the handshake.
        assert_eq!(with_history("S1", "SAh"), Some((Outcome::Established, Syn)));
    }

    #[test]
    fn without_history_conn_state_alone_decides() {
        // HEADER has no history column: midstream states still read as now.
        let (_, ev) = tsv("1.5\tC1\t10.0.0.1\t40000\t10.0.0.2\t80\ttcp\tSF\t5\n");
        assert_eq!(
            (ev[0].outcome, ev[0].technique),
            (Outcome::Established, Technique::Syn)
        );
        assert_eq!((ev[0].src_local, ev[0].dst_local), (None, None));
        let (_, ev) = tsv("1.5\tC1\t10.0.0.1\t4000\t10.0.0.2\t53\tudp\tS0\t0\n");
        assert_eq!(ev[0].technique, Technique::Udp);
    }

    #[test]
    fn locality_from_local_orig_and_local_resp() {
        let row = |lo: &str, lr: &str| {
            let text = format!(
                "{HEADER_HISTORY}1.5\tC1\t10.0.0.1\t40000\t10.0.0.2\t80\ttcp\tS0\t{lo}\t{lr}\tS\t0\n"
            );
            let mut out = Vec::new();
            let st = read_conn_log(text.as_bytes(), &mut ReadOptions::default(), &mut |e| {
                out.push(e)
            })
            .unwrap();
            (st, out)
        };
        let (_, ev) = row("T", "F");
        assert_eq!(
            (ev[0].src_local, ev[0].dst_local),
            (Some(true), Some(false))
        );
        let (_, ev) = row("F", "T");
        assert_eq!(
            (ev[0].src_local, ev[0].dst_local),
            (Some(false), Some(true))
        );
        let (_, ev) = row("-", "-");
        assert_eq!((ev[0].src_local, ev[0].dst_local), (None, None));
        let (st, ev) = row("yes", "T");
        assert!(ev.is_empty());
        assert_eq!(st.malformed, 1);
    }

    #[test]
    fn json_history_and_locality() {
        let line = |state: &str, history: &str, lo: &str| {
            format!(
                r#"{{"ts":1.0,"id.orig_h":"192.168.1.9","id.orig_p":42982,"id.resp_h":"45.33.32.156","id.resp_p":80,"proto":"tcp","conn_state":"{state}","local_orig":{lo},"history":"{history}"}}"#
            )
        };
        let ev = json_row(&line("RSTO", "ShAR", "true")).unwrap().unwrap();
        assert_eq!(
            (ev.outcome, ev.technique, ev.src_local, ev.dst_local),
            (Outcome::Established, Technique::Connect, Some(true), None)
        );
        assert_eq!(json_row(&line("SF", "DdAaFf", "false")).unwrap(), None);
        let ev = json_row(&line("REJ", "Sr", "\"F\"")).unwrap().unwrap();
        assert_eq!(
            (ev.outcome, ev.technique, ev.src_local),
            (Outcome::Refused, Technique::Syn, Some(false))
        );
        assert!(json_row(&line("REJ", "Sr", "3")).is_err());
        // No history key: conn_state alone.
        let no_history = line("SF", "x", "true").replace(r#","history":"x""#, "");
        let ev = json_row(&no_history).unwrap().unwrap();
        assert_eq!(ev.outcome, Outcome::Established);
    }

    fn header_error(text: &str) -> InputError {
        let mut n = 0;
        let err = read_conn_log(text.as_bytes(), &mut ReadOptions::default(), &mut |_| {
            n += 1
        })
        .unwrap_err();
        assert_eq!(n, 0);
        err
    }

    #[test]
    fn header_bounds_are_errors_naming_the_bound() {
        // A 10 KB separator: splitting by it would cost length x separator.
        let long = "\\x09".repeat(2_500) + "|";
        let text = format!("#separator {long}\n#fields\tts\n1.0\n");
        let err = header_error(&text);
        assert_eq!(err.location, "line 1");
        assert!(err.message.contains("#separator"), "{err}");
        assert!(err.message.contains("2501 bytes"), "{err}");
        // Nine bytes after unescaping is one too many; eight read as usual.
        let err = header_error(&format!("#separator {}\n", "\\x09".repeat(9)));
        assert!(err.message.contains("#separator"), "{err}");
        let err = header_error("#separator \n");
        assert!(err.message.contains("#separator"), "{err}");
        let sep = "\t".repeat(8);
        let text = format!(
            "#separator {}\n#fields{sep}ts{sep}id.orig_h{sep}id.resp_h{sep}id.resp_p{sep}proto{sep}conn_state\n\
             1.0{sep}10.0.0.1{sep}10.0.0.2{sep}22{sep}tcp{sep}REJ\n",
            "\\x09".repeat(8)
        );
        let st = read_conn_log(text.as_bytes(), &mut ReadOptions::default(), &mut |_| {}).unwrap();
        assert_eq!((st.events, st.malformed), (1, 0));

        let err = header_error(&format!(
            "#separator \\x09\n#set_separator\t{}\n",
            ",".repeat(9)
        ));
        assert_eq!(err.location, "line 2");
        assert!(err.message.contains("#set_separator"), "{err}");

        let many: String = (0..MAX_FIELDS).map(|i| format!("\tf{i}")).collect();
        let text = format!("#separator \\x09\n#fields\tts{many}\n");
        let err = header_error(&text);
        assert_eq!(err.location, "line 2");
        assert!(err.message.contains("#fields"), "{err}");
        assert!(err.message.contains(&MAX_FIELDS.to_string()), "{err}");
        // Exactly the bound, with the needed fields, is a conn.log.
        let some: String = (0..MAX_FIELDS - 6).map(|i| format!("\tf{i}")).collect();
        let text = format!(
            "#separator \\x09\n#fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tconn_state{some}\n"
        );
        read_conn_log(text.as_bytes(), &mut ReadOptions::default(), &mut |_| {}).unwrap();
    }

    #[test]
    fn separators_unescape() {
        assert_eq!(unescape(b"\\x09"), b"\t");
        assert_eq!(unescape(b"\\x2c|"), b",|");
        assert_eq!(unescape(b"\\xZZ"), b"\\xZZ");
        assert_eq!(unescape(b"\\x"), b"\\x");
    }
}
