//! Flows stored by nfdump's `nfcapd`, as `nfdump -r FILE -o csv` prints
//! them.
//!
//! The first line names the columns (`ts,te,td,sa,da,sp,dp,pr,flg,...`);
//! `ts` (first seen), `sa`, `da`, `sp`, `dp`, `pr` and `flg` are read, and
//! `ipkt`, `opkt` where present. Records are the exporters' unidirectional
//! flows: a probe and its outcome come from a record and its reverse, paired
//! as the collector pairs them ([`crate::flow`], whose table says what each
//! shape means), within 60 seconds of flow time. A record with `opkt` > 0
//! (a biflow, NSEL) carries its reverse. `flg` is nfdump's eight flag
//! columns, `CEUAPRSF` (`......S.` a SYN alone). ICMP's type and code are
//! in `dp` (type × 256 + code). nfdump prints times to the second, in the
//! local time of the machine that runs it (run it with `TZ=UTC`: they are
//! read as UTC), so probes of one second lose their order. The summary
//! nfdump appends (`Summary`, then totals) ends the records.

use super::flow::{FlowRecord, Pairer, Reverse};
use super::{malformed, Emit, InputError, LineReader, ReadOptions, ReadStats};
use std::net::IpAddr;

/// How long a record waits for its reverse, in flow time.
const PAIR_WINDOW_US: u64 = 60_000_000;
/// Records held for their reverse at most.
const MAX_HELD: usize = 1 << 20;

/// True if `line` is the header `nfdump -o csv` prints.
pub(crate) fn is_header(line: &[u8]) -> bool {
    line.starts_with(b"ts,te,td,sa,da,sp,dp,pr,flg")
}

#[derive(Clone, Copy)]
struct Columns {
    ts: usize,
    sa: usize,
    da: usize,
    sp: usize,
    dp: usize,
    pr: usize,
    flg: usize,
    ipkt: Option<usize>,
    opkt: Option<usize>,
}

impl Columns {
    fn from_header(line: &str) -> Result<Columns, String> {
        let names: Vec<&str> = line.split(',').map(str::trim).collect();
        let find = |n: &str| names.iter().position(|c| *c == n);
        let need = |n: &str| find(n).ok_or_else(|| format!("the header has no `{n}` column"));
        Ok(Columns {
            ts: need("ts")?,
            sa: need("sa")?,
            da: need("da")?,
            sp: need("sp")?,
            dp: need("dp")?,
            pr: need("pr")?,
            flg: need("flg")?,
            ipkt: find("ipkt"),
            opkt: find("opkt"),
        })
    }
}

/// nfdump's flag columns, `CEUAPRSF`, as TCP flag bits.
fn flags(s: &str) -> u8 {
    const BITS: [u8; 8] = [0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01];
    if s.len() == 8 {
        s.bytes()
            .zip(BITS)
            .filter(|(c, _)| *c != b'.')
            .fold(0, |f, (_, b)| f | b)
    } else {
        // Older nfdump prints the flags as a number.
        s.parse::<u8>()
            .ok()
            .or_else(|| u8::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .unwrap_or(0)
    }
}

fn record(c: &Columns, line: &str) -> Result<Option<FlowRecord>, String> {
    let cells: Vec<&str> = line.split(',').map(str::trim).collect();
    let cell = |i: usize, name: &str| {
        cells
            .get(i)
            .copied()
            .ok_or_else(|| format!("{} fields, no {name}", cells.len()))
    };
    let proto = match cell(c.pr, "pr")?.to_ascii_uppercase().as_str() {
        "TCP" | "6" => 6,
        "UDP" | "17" => 17,
        "ICMP" | "1" => 1,
        "ICMP6" | "IPV6-ICMP" | "58" => 58,
        _ => return Ok(None),
    };
    let ts = cell(c.ts, "ts")?;
    let start = super::parse_datetime(ts).ok_or_else(|| format!("ts `{ts}` is not a time"))?;
    let addr = |i: usize, name: &str| -> Result<IpAddr, String> {
        let s = cell(i, name)?;
        s.parse()
            .map_err(|_| format!("{name} `{s}` is not an IP address"))
    };
    let port = |i: usize, name: &str| -> Result<u16, String> {
        let s = cell(i, name)?;
        // ICMP's is printed as type.code by some versions.
        if let Some((t, code)) = s.split_once('.') {
            if let (Ok(t), Ok(code)) = (t.parse::<u8>(), code.parse::<u8>()) {
                return Ok(u16::from(t) << 8 | u16::from(code));
            }
        }
        s.parse()
            .map_err(|_| format!("{name} `{s}` is not a port number"))
    };
    let count = |col: Option<usize>| -> u64 {
        col.and_then(|i| cells.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let dst_port = port(c.dp, "dp")?;
    let icmp = matches!(proto, 1 | 58);
    let opkt = count(c.opkt);
    Ok(Some(FlowRecord {
        start,
        src: addr(c.sa, "sa")?,
        dst: addr(c.da, "da")?,
        src_port: port(c.sp, "sp")?,
        dst_port,
        proto,
        tcp_flags: flags(cell(c.flg, "flg")?),
        icmp_type: icmp.then_some((dst_port >> 8) as u8),
        packets: count(c.ipkt).max(1),
        // A biflow's reverse direction. nfdump's flags are both sides'
        // together, so the reverse's are unknown: packets back are taken
        // as the answer (a SYN-ACK), never as a refusal.
        reverse: (opkt > 0).then_some(Reverse {
            packets: opkt,
            tcp_flags: 0x12,
        }),
        // nfdump's CSV does not say; its summary lines do not either.
        sampling: 0,
    }))
}

/// Reads `nfdump -o csv` output, pairing records with their reverse into
/// probes (see the module's documentation), and emits one event per probe.
/// A record its pairing decides nothing from (a reverse, a record that is
/// no probe) counts as skipped.
///
/// # Errors
/// An I/O error; a first line that is not nfdump's CSV header.
///
/// # Examples
/// ```
/// use sweepwatch::Outcome;
/// use sweepwatch_input::{nfdump::read_nfdump_csv, ReadOptions};
/// let csv = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt\n\
///            2024-03-01 12:00:00,2024-03-01 12:00:00,0.000,203.0.113.9,10.0.0.1,40000,22,TCP,......S.,0,0,1,44\n\
///            2024-03-01 12:00:00,2024-03-01 12:00:00,0.000,10.0.0.1,203.0.113.9,22,40000,TCP,...A.R..,0,0,1,40\n\
///            Summary\n\
///            flows,bytes,packets,avg_bps,avg_pps,avg_bpp\n\
///            2,84,2,0,0,42\n";
/// let mut events = Vec::new();
/// let st = read_nfdump_csv(csv.as_bytes(), &mut ReadOptions::default(), &mut |e| events.push(e))
///     .unwrap();
/// assert_eq!((st.records, st.events, st.skipped), (2, 1, 1));
/// assert_eq!((events[0].dst_port, events[0].outcome), (22, Outcome::Refused));
/// ```
pub fn read_nfdump_csv<R: std::io::BufRead>(
    r: R,
    opts: &mut ReadOptions<'_>,
    emit: Emit,
) -> Result<ReadStats, InputError> {
    let mut st = ReadStats::default();
    let mut lines = LineReader::new(r);
    let mut columns = None;
    let mut pairer = Pairer::new(PAIR_WINDOW_US, MAX_HELD);
    let mut events = 0u64;
    let mut counted = |e| {
        events += 1;
        emit(e);
    };
    while let Some(line) = lines.next_line()? {
        if line.bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Some(c) = columns else {
            if !is_header(line.bytes) {
                return Err(InputError {
                    location: format!("line {}", line.number),
                    message: "nfdump's CSV starts with its header line (ts,te,td,sa,da,...)".into(),
                });
            }
            let text = String::from_utf8_lossy(line.bytes);
            columns = Some(Columns::from_header(&text).map_err(|message| InputError {
                location: format!("line {}", line.number),
                message,
            })?);
            continue;
        };
        if line.bytes.starts_with(b"Summary") {
            // nfdump's totals follow: the records are over.
            break;
        }
        st.records += 1;
        let parsed = match std::str::from_utf8(line.bytes) {
            Ok(text) if !line.overlong => record(&c, text),
            Ok(_) => Err("line too long".to_string()),
            Err(_) => Err("not UTF-8".to_string()),
        };
        match parsed {
            Ok(Some(rec)) => pairer.push(rec, &mut counted),
            Ok(None) => {}
            Err(why) => malformed(&mut st, &mut opts.on_malformed, line.number, &why),
        }
    }
    pairer.finish(&mut counted);
    st.events = events;
    // Every record that made no event: malformed ones, reverses, non-probes.
    st.skipped = st.records - events;
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweepwatch::{Event, Outcome};

    fn read(body: &str) -> (ReadStats, Vec<Event>) {
        let text = format!("ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt\n{body}");
        let mut out = Vec::new();
        let st = read_nfdump_csv(text.as_bytes(), &mut ReadOptions::default(), &mut |e| {
            out.push(e)
        })
        .unwrap();
        (st, out)
    }

    #[test]
    fn flag_columns() {
        assert_eq!(flags("......S."), 0x02);
        assert_eq!(flags("...A.R.."), 0x14);
        assert_eq!(flags("...AP.SF"), 0x1b);
        assert_eq!(flags("18"), 18);
    }

    #[test]
    fn an_icmp_type_out_of_range_is_malformed_not_a_crash() {
        let (st, evs) =
            read("2024-03-01 12:00:00,x,0,10.0.0.5,10.0.0.9,0,300.0,ICMP,........,0,0,1,28,0,0\n");
        assert_eq!((st.malformed, evs.len()), (1, 0));
        let (_, evs) =
            read("2024-03-01 12:00:00,x,0,10.0.0.5,10.0.0.9,0,8.0,ICMP,........,0,0,1,28,0,0\n");
        assert_eq!(evs[0].proto, sweepwatch::Protocol::Icmp);
    }

    #[test]
    fn pairs_icmp_and_malformed_lines() {
        let (st, evs) = read(
            "2024-03-01 12:00:00,x,0,10.0.0.5,10.0.0.9,0,2048,ICMP,........,0,0,1,28,0,0\n\
             2024-03-01 12:00:00,x,0,10.0.0.9,10.0.0.5,0,0,ICMP,........,0,0,1,28,0,0\n\
             2024-03-01 12:00:01,x,0,10.0.0.5,10.0.0.10,0,2048,ICMP,........,0,0,1,28,0,0\n\
             yesterday,x,0,10.0.0.5,10.0.0.9,1,2,TCP,......S.,0,0,1,44,0,0\n\
             2024-03-01 12:00:02,x,0,10.0.0.5,10.0.0.11,5000,53,UDP,........,0,0,1,60,1,90\n",
        );
        let got: Vec<(Outcome, u16)> = evs.iter().map(|e| (e.outcome, e.dst_port)).collect();
        assert_eq!(
            got,
            [
                (Outcome::Established, 0),
                (Outcome::Established, 53),
                (Outcome::Unanswered, 0),
            ]
        );
        assert_eq!(
            (st.records, st.events, st.malformed, st.skipped),
            (5, 3, 1, 2)
        );
    }
}
