//! Argus bidirectional flow records as `ra -c ,` prints them (the
//! `binetflow` CSV in which CTU-13 and its kin are published).
//!
//! The first line names the columns (`StartTime,Flgs,Proto,SrcAddr,Sport,
//! Dir,DstAddr,Dport,TotPkts,TotBytes,State` by default); they are found by
//! name, in any order, separated by commas or tabs. `StartTime`, `Proto`,
//! `SrcAddr`, `DstAddr`, `Dport` and `State` are needed; `Sport`, `Dir`,
//! `TotPkts`, `SrcPkts` and `DstPkts` are read where present.
//!
//! # What a record means
//!
//! Argus makes the host that sent a flow's first packet its source, and
//! marks with `?` in `Dir` a flow whose direction it could not tell (one
//! it picked up midstream). Those, and `<-` flows (only the destination
//! sent), are never probes. For the rest:
//!
//! | `Proto` | `State` | a probe? | outcome |
//! |---|---|---|---|
//! | tcp | flags (`ra -Z b`: source's `_` destination's), the source's with `S` | yes; technique `connect` when the source also acknowledged and the destination sent `S` | destination `S` (SYN-ACK): established; else `R`: refused; nothing back: unanswered; other flags only: established |
//! | tcp | flags, the source's with `S` and `A`, the destination's without `S` | no: a SYN-ACK that answered nothing seen (backscatter) | unsolicited (counted) |
//! | tcp | flags, the source's without `S` | no (midstream) | |
//! | tcp | `REQ` | yes | unanswered (a SYN, nothing back) |
//! | tcp | `RST` with at most 3 packets | yes | refused (a SYN answered by RST; an nmap half-open probe of an open port, SYN, SYN-ACK, RST, reads the same: flags tell them apart) |
//! | tcp | `RST` with more packets, `ACC`, `EST`, `CON`, `FIN`, `CLO` | yes | established |
//! | tcp | `TIM` and others | no (a report of a flow already under way) | |
//! | udp | `Dir` `<->` or destination packets > 0 | yes | established |
//! | udp | `UR…` (an ICMP unreachable folded in) | yes | refused |
//! | udp | otherwise (`INT`, `REQ` one way) | yes | unanswered |
//! | icmp, ipv6-icmp | `ECO` | yes (echo request) | answered if `<->` or destination packets > 0, else unanswered |
//! | icmp | `ECR`, `UR…`, `TXD`, … | no: replies and errors, which carry no port of the flow they answer (a refused UDP probe is then read as unanswered: a failure either way) | |
//! | `man`, arp, others | | no | |
//!
//! UDP to traceroute's ports (33434–33534) is never a probe, as for the
//! other logs.
//!
//! # Times and ports
//!
//! `StartTime` may be Unix seconds (`ra -u`), a date and time
//! (`2018/09/27 22:40:52.362768` or with dashes; `ra` prints local time, so
//! run it with `TZ=UTC`, as these are read as UTC), or a time of day alone
//! (`ra`'s default, `%T.%f`): then the day is unknown, so the first record's
//! day is taken as 1970-01-01 and each time that goes back more than 12
//! hours starts the next day; such records are counted in
//! [`ReadStats::undated`](crate::ReadStats::undated). Ports are numbers,
//! `0x` hexadecimal (ICMP types), or the service names `ra` prints without
//! `-n`, looked up in `/etc/services` as `ra` did.

use super::{read_lines, traceroute_port, Emit, InputError, Parsed, ReadOptions, ReadStats};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;
use sweepwatch::{Event, Outcome, Protocol, Technique, Timestamp};

/// True if `line` is the header `ra -c` prints: it starts with `StartTime`
/// and names `SrcAddr` and `DstAddr`.
pub(crate) fn is_header(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    text.starts_with("StartTime")
        && text.contains("SrcAddr")
        && text.contains("DstAddr")
        && separator(&text).is_some()
}

fn separator(header: &str) -> Option<char> {
    header.chars().find(|c| matches!(c, ',' | '\t' | ';' | '|'))
}

/// Where the columns are.
#[derive(Clone, Copy, Debug)]
struct Columns {
    sep: char,
    start: usize,
    proto: usize,
    saddr: usize,
    sport: Option<usize>,
    dir: Option<usize>,
    daddr: usize,
    dport: usize,
    state: usize,
    pkts: Option<usize>,
    spkts: Option<usize>,
    dpkts: Option<usize>,
}

impl Columns {
    fn from_header(line: &str) -> Result<Columns, String> {
        let sep = separator(line).ok_or("no separator in the header")?;
        let names: Vec<&str> = line.split(sep).map(str::trim).collect();
        let find = |n: &str| names.iter().position(|c| c.eq_ignore_ascii_case(n));
        let need = |n: &str| {
            find(n).ok_or_else(|| {
                format!(
                    "the header has no `{n}` column (ra -c , prints StartTime, Proto, \
                     SrcAddr, Dport, DstAddr and State by default)"
                )
            })
        };
        Ok(Columns {
            sep,
            start: need("StartTime")?,
            proto: need("Proto")?,
            saddr: need("SrcAddr")?,
            sport: find("Sport"),
            dir: find("Dir"),
            daddr: need("DstAddr")?,
            dport: need("Dport")?,
            state: need("State")?,
            pkts: find("TotPkts"),
            spkts: find("SrcPkts"),
            dpkts: find("DstPkts"),
        })
    }
}

/// The reader's state across lines: the columns, and the clock of records
/// that give a time of day alone.
#[derive(Default)]
struct Argus {
    columns: Option<Columns>,
    /// Days added to times of day (each step back by more than 12 h).
    day: u64,
    /// The last time of day read, in microseconds.
    last_tod: Option<u64>,
    undated: u64,
}

const DAY_US: u64 = 86_400_000_000;

impl Argus {
    fn time(&mut self, s: &str) -> Result<Timestamp, String> {
        let s = s.trim();
        let bad = || format!("StartTime `{s}` is not a time");
        let b = s.as_bytes();
        // A time of day alone: `HH:MM:SS[.frac]`.
        if b.len() >= 8 && b[2] == b':' && b[5] == b':' {
            let (h, m) = (digits(&s[0..2]), digits(&s[3..5]));
            let (sec, frac) = match s[6..].split_once('.') {
                Some((sec, frac)) => (digits(sec), micros(frac)),
                None => (digits(&s[6..]), Some(0)),
            };
            let (Some(h), Some(m), Some(sec), Some(frac)) = (h, m, sec, frac) else {
                return Err(bad());
            };
            if h > 23 || m > 59 || sec > 60 {
                return Err(bad());
            }
            let tod = ((h * 60 + m) * 60 + sec) * 1_000_000 + frac;
            if let Some(last) = self.last_tod {
                if tod + DAY_US / 2 < last {
                    self.day += 1;
                }
            }
            self.last_tod = Some(tod);
            self.undated += 1;
            return Ok(Timestamp::from_micros(
                self.day.saturating_mul(DAY_US).saturating_add(tod),
            ));
        }
        if s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            return match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Timestamp::from_secs_f64(v)),
                _ => Err(bad()),
            };
        }
        // `2018/09/27 22:40:52.362768`: ISO's dashes for the date's slashes.
        let dashed: String = s
            .char_indices()
            .map(|(i, c)| if i < 10 && c == '/' { '-' } else { c })
            .collect();
        super::parse_datetime(&dashed).ok_or_else(bad)
    }

    fn row(&mut self, line: &[u8]) -> Result<Option<Event>, String> {
        let c = self.columns.ok_or("a record before the header line")?;
        let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
        let cells: Vec<&str> = text.split(c.sep).map(str::trim).collect();
        let cell = |i: usize| cells.get(i).copied();
        let need = |i: usize, name: &str| {
            cell(i).ok_or_else(|| format!("{} fields, no {name}", cells.len()))
        };
        let proto = match need(c.proto, "Proto")?.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" | "ipv6-icmp" | "icmp6" => Protocol::Icmp,
            // Argus's management records, ARP and other protocols.
            _ => return Ok(None),
        };
        let dir = c.dir.and_then(cell).unwrap_or("->");
        if dir.contains('?') || !dir.contains('>') {
            // Direction unknown, or only the destination sent.
            return Ok(None);
        }
        let both_ways = dir.contains('<');
        let state = need(c.state, "State")?;
        let count = |col: Option<usize>| -> Result<Option<u64>, String> {
            match col.and_then(cell) {
                None | Some("") => Ok(None),
                Some(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("packet count `{v}` is not a number")),
            }
        };
        let (pkts, dpkts) = (count(c.pkts)?, count(c.dpkts)?);
        let spkts = count(c.spkts)?;
        let answered = both_ways || dpkts.is_some_and(|n| n > 0);
        let (outcome, technique) = match proto {
            Protocol::Tcp => match tcp(state, pkts.or(spkts.zip(dpkts).map(|(s, d)| s + d))) {
                Some(o) => o,
                None => return Ok(None),
            },
            Protocol::Udp => {
                let o = if state.starts_with("UR") {
                    Outcome::Refused
                } else if answered {
                    Outcome::Established
                } else {
                    Outcome::Unanswered
                };
                (o, Technique::Udp)
            }
            _ => {
                if state != "ECO" {
                    return Ok(None);
                }
                let o = if answered {
                    Outcome::Established
                } else {
                    Outcome::Unanswered
                };
                (o, Technique::IcmpEcho)
            }
        };
        let ts = self.time(need(c.start, "StartTime")?)?;
        let src = addr("SrcAddr", need(c.saddr, "SrcAddr")?)?;
        let dst = addr("DstAddr", need(c.daddr, "DstAddr")?)?;
        let dst_port = if proto == Protocol::Icmp {
            0
        } else {
            port(need(c.dport, "Dport")?, proto)?
        };
        if proto == Protocol::Udp && traceroute_port(dst_port) {
            return Ok(None);
        }
        let src_port = match c.sport.and_then(cell) {
            Some(p) if proto != Protocol::Icmp => port(p, proto)?,
            _ => 0,
        };
        let mut ev = Event::new(ts, src, dst, dst_port, proto, outcome);
        ev.src_port = src_port;
        ev.technique = technique;
        Ok(Some(ev))
    }
}

/// A TCP record's outcome and technique, or `None` if it is no probe.
fn tcp(state: &str, pkts: Option<u64>) -> Option<(Outcome, Technique)> {
    if let Some((src, dst)) = state.split_once('_') {
        // `ra -Z b`: each side's TCP flags.
        if !src.contains('S') {
            return None;
        }
        if src.contains('A') && !dst.contains('S') {
            // The source's SYN came with an ACK: a SYN-ACK that answered
            // nothing seen here (a flooded server's backscatter).
            return Some((Outcome::Unsolicited, Technique::Syn));
        }
        let outcome = if dst.contains('S') {
            Outcome::Established
        } else if dst.contains('R') {
            Outcome::Refused
        } else if dst.is_empty() {
            Outcome::Unanswered
        } else {
            Outcome::Established
        };
        let connect = outcome == Outcome::Established && src.contains('A') && dst.contains('S');
        let technique = if connect {
            Technique::Connect
        } else {
            Technique::Syn
        };
        return Some((outcome, technique));
    }
    let outcome = match state {
        "REQ" => Outcome::Unanswered,
        "RST" if pkts.is_some_and(|n| n <= 3) => Outcome::Refused,
        "RST" | "ACC" | "EST" | "CON" | "FIN" | "CLO" => Outcome::Established,
        _ => return None,
    };
    Some((outcome, Technique::Syn))
}

fn digits(s: &str) -> Option<u64> {
    (!s.is_empty() && s.len() <= 4 && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A fraction's digits as microseconds.
fn micros(frac: &str) -> Option<u64> {
    if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut us = 0u64;
    for (i, c) in frac.bytes().take(6).enumerate() {
        us += u64::from(c - b'0') * 10u64.pow(5 - i as u32);
    }
    Some(us)
}

fn addr(field: &str, s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| format!("{field} `{s}` is not an IP address"))
}

/// A port as `ra` prints it: a number, `0x` hexadecimal, empty (none), or
/// a service name from `/etc/services`.
fn port(s: &str, proto: Protocol) -> Result<u16, String> {
    if s.is_empty() {
        return Ok(0);
    }
    if let Ok(n) = s.parse() {
        return Ok(n);
    }
    if let Some(hex) = s.strip_prefix("0x") {
        return u16::from_str_radix(hex, 16).map_err(|_| format!("port `{s}` is not a number"));
    }
    let key = (s.to_string(), proto == Protocol::Udp);
    services().get(&key).copied().ok_or_else(|| {
        format!("port `{s}` is no number, nor a service /etc/services names (run ra with -n)")
    })
}

/// `/etc/services`: (name or alias, UDP?) to port. Empty if unreadable.
fn services() -> &'static HashMap<(String, bool), u16> {
    static MAP: OnceLock<HashMap<(String, bool), u16>> = OnceLock::new();
    MAP.get_or_init(|| {
        let text = std::fs::read_to_string("/etc/services").unwrap_or_default();
        parse_services(&text)
    })
}

fn parse_services(text: &str) -> HashMap<(String, bool), u16> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(name), Some(spec)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((port, proto)) = spec.split_once('/') else {
            continue;
        };
        let (Ok(port), udp) = (port.parse::<u16>(), proto == "udp") else {
            continue;
        };
        for n in std::iter::once(name).chain(words) {
            map.entry((n.to_string(), udp)).or_insert(port);
        }
    }
    map
}

/// Reads Argus flow records printed by `ra -c ,` (see the module's
/// documentation for what each record means), emitting one event per probe.
///
/// # Errors
/// An I/O error; a first line that is not `ra`'s header, or a header
/// without a needed column.
///
/// # Examples
/// ```
/// use sweepwatch_input::{argus::read_argus, ReadOptions};
/// use sweepwatch::Outcome;
/// let flows = "StartTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State\n\
///              1538088052.5,tcp,192.168.2.12,40001,   ->,203.0.113.5,81,REQ\n\
///              1538088052.6,tcp,192.168.2.12,40002,   ->,203.0.113.6,81,S_RA\n\
///              1538088052.7,tcp,192.168.2.1,52893,  <?>,192.168.2.12,22,CON\n";
/// let mut events = Vec::new();
/// let st = read_argus(flows.as_bytes(), &mut ReadOptions::default(), &mut |e| events.push(e))
///     .unwrap();
/// assert_eq!((st.records, st.events, st.skipped), (3, 2, 1));
/// assert_eq!(events[0].outcome, Outcome::Unanswered);
/// assert_eq!(events[1].outcome, Outcome::Refused);
/// ```
pub fn read_argus<R: std::io::BufRead>(
    r: R,
    opts: &mut ReadOptions<'_>,
    emit: Emit,
) -> Result<ReadStats, InputError> {
    let mut a = Argus::default();
    let mut st = read_lines(r, opts, emit, |number, bytes| {
        if a.columns.is_none() {
            let text = String::from_utf8_lossy(bytes);
            if !is_header(bytes) {
                return Err(InputError {
                    location: format!("line {number}"),
                    message: "an Argus flow file starts with ra's header line \
                              (StartTime,...,SrcAddr,...,DstAddr,...)"
                        .into(),
                });
            }
            a.columns = Some(Columns::from_header(&text).map_err(|message| InputError {
                location: format!("line {number}"),
                message,
            })?);
            return Ok(Parsed::Directive);
        }
        if is_header(bytes) {
            // `ra -L` repeats its header now and then.
            return Ok(Parsed::Directive);
        }
        Ok(Parsed::Record(a.row(bytes)))
    })?;
    st.undated = a.undated;
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (ReadStats, Vec<Event>) {
        let mut out = Vec::new();
        let st = read_argus(text.as_bytes(), &mut ReadOptions::default(), &mut |e| {
            out.push(e)
        })
        .unwrap();
        (st, out)
    }

    #[test]
    fn tcp_states_map_to_outcomes() {
        let cases = [
            ("S_", "2", Some(Outcome::Unanswered)),
            ("S_RA", "2", Some(Outcome::Refused)),
            ("SR_SA", "3", Some(Outcome::Established)),
            ("FSPA_FSPA", "12", Some(Outcome::Established)),
            ("PA_PA", "12", None),
            ("SA_", "1", Some(Outcome::Unsolicited)),
            ("SA_R", "2", Some(Outcome::Unsolicited)),
            ("SPA_SPA", "8", Some(Outcome::Established)),
            ("REQ", "1", Some(Outcome::Unanswered)),
            ("RST", "2", Some(Outcome::Refused)),
            ("RST", "3", Some(Outcome::Refused)),
            ("RST", "9", Some(Outcome::Established)),
            ("FIN", "12", Some(Outcome::Established)),
            ("CON", "12", Some(Outcome::Established)),
            ("TIM", "2", None),
        ];
        for (state, pkts, want) in cases {
            let text = format!(
                "StartTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,TotPkts,State\n\
                 10.5,tcp,10.0.0.1,40000,   ->,10.0.0.2,22,{pkts},{state}\n"
            );
            let (_, evs) = read(&text);
            assert_eq!(evs.first().map(|e| e.outcome), want, "{state} {pkts}");
        }
    }

    #[test]
    fn a_completed_handshake_is_a_connect_probe() {
        let (_, evs) = read(
            "StartTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State\n\
             10.5,tcp,10.0.0.1,40000,   ->,10.0.0.2,80,FSPA_FSPA\n\
             10.5,tcp,10.0.0.1,40001,   ->,10.0.0.2,22,SR_SA\n",
        );
        assert_eq!(evs[0].technique, Technique::Connect);
        assert_eq!(evs[1].technique, Technique::Syn);
    }

    #[test]
    fn udp_and_icmp_by_direction_and_state() {
        let (st, evs) = read(
            "StartTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State\n\
             1.0,udp,10.0.0.1,5165,   ->,198.51.100.1,5643,INT\n\
             2.0,udp,10.0.0.1,56343,  <->,10.0.0.53,53,CON\n\
             3.0,udp,10.0.0.1,40000,   ->,10.0.0.2,33434,INT\n\
             4.0,icmp,10.0.0.1,0x0008,   ->,10.0.0.3,0x0000,ECO\n\
             5.0,icmp,10.0.0.1,0x0008,  <->,10.0.0.4,0x0000,ECO\n\
             6.0,icmp,10.0.0.9,0x0003,   ->,10.0.0.1,0x0003,URP\n\
             7.0,icmp,10.0.0.9,0x0000,   <-,10.0.0.1,0x0000,ECR\n\
             8.0,arp,10.0.0.9,,  who,10.0.0.1,,CON\n\
             9.0,man,0,0,,0,0,STA\n",
        );
        let got: Vec<(u64, Outcome, u16)> = evs
            .iter()
            .map(|e| (e.ts.as_micros() / 1_000_000, e.outcome, e.dst_port))
            .collect();
        assert_eq!(
            got,
            [
                (1, Outcome::Unanswered, 5643),
                (2, Outcome::Established, 53),
                (4, Outcome::Unanswered, 0),
                (5, Outcome::Established, 0),
            ]
        );
        assert_eq!((st.records, st.skipped, st.malformed), (9, 5, 0));
    }

    #[test]
    fn times_of_day_roll_over_to_the_next_day_and_are_counted() {
        let (st, evs) = read(
            "StartTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State\n\
             23:59:59.500000,tcp,10.0.0.1,1,   ->,10.0.0.2,22,REQ\n\
             00:00:00.250000,tcp,10.0.0.1,1,   ->,10.0.0.3,22,REQ\n\
             2018/09/27 22:40:52.362768,tcp,10.0.0.1,1,   ->,10.0.0.4,22,REQ\n",
        );
        assert_eq!(evs[0].ts.as_micros(), 86_399_500_000);
        assert_eq!(evs[1].ts.as_micros(), 86_400_250_000);
        assert_eq!(evs[2].ts.as_micros(), 1_538_088_052_362_768);
        assert_eq!(st.undated, 2);
    }

    #[test]
    fn service_names_and_hex_ports() {
        let services = parse_services("ssh 22/tcp\nhttp 80/tcp www # web\nsnmp 161/udp\n");
        assert_eq!(services.get(&("www".to_string(), false)), Some(&80));
        assert_eq!(services.get(&("snmp".to_string(), true)), Some(&161));
        assert_eq!(port("0x0050", Protocol::Tcp), Ok(80));
        assert!(port("no-such-service", Protocol::Tcp).is_err());
    }

    #[test]
    fn bad_records_are_malformed_and_a_bad_header_stops_the_read() {
        let (st, evs) = read(
            "StartTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State\n\
             yesterday,tcp,10.0.0.1,1,   ->,10.0.0.2,22,REQ\n\
             1.0,tcp,10.0.0.1\n\
             1.0,tcp,10.0.0.x,1,   ->,10.0.0.2,22,REQ\n\
             1.0,tcp,10.0.0.1,1,   ->,10.0.0.2,22,REQ\n",
        );
        assert_eq!((st.records, st.malformed, evs.len()), (4, 3, 1));
        let err = read_argus(
            "StartTime,Proto\n1.0,tcp\n".as_bytes(),
            &mut ReadOptions::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(err.location, "line 1");
        assert!(err.message.contains("SrcAddr"), "{}", err.message);
    }
}
