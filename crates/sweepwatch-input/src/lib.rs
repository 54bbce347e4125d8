//! Readers that turn captures and engine logs into the core's [`Event`]s.
//!
//! Adapters only: they depend on the core, never the reverse. Each reader calls
//! `emit` once per event, in input order, and counts what it read and skipped.
//! All are entered the same way, `(input, &mut ReadOptions, emit)`, and return
//! the same [`ReadStats`]:
//!
//! - [`pcap::read_capture`]: pcap and pcapng captures;
//! - [`zeek::read_conn_log`]: Zeek `conn.log`, tab-separated or JSON lines;
//! - [`eve::read_eve`]: Suricata EVE JSON (`flow` records);
//! - [`argus::read_argus`]: Argus flow records as `ra -c ,` prints them
//!   (CTU-13's `binetflow`);
//! - [`nfdump::read_nfdump_csv`]: flows stored by nfdump's `nfcapd`, as
//!   `nfdump -o csv` prints them;
//! - [`netflow::Decoder`] and [`flow::Pairer`]: NetFlow v5/v9 and IPFIX
//!   export packets into flow records, and flow records into events (the
//!   collector's parts: they take packets, not a stream);
//! - [`sniff::sniff`]: recognises which of these a stream holds, from its
//!   content, and unpacks gzip; [`sniff::Sniffed::read`] then runs the
//!   matching reader.
//!
//! Readers skip malformed records (log lines, packets), count them in
//! [`ReadStats`] and tell the optional [`ReadOptions::on_malformed`] handler
//! where each was; only I/O errors and broken structure (a capture's framing,
//! a Zeek log's header) stop them.
//!
//! # Examples
//! ```
//! use sweepwatch_input::{sniff::sniff, Location, ReadOptions};
//!
//! let log = "{\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\",\"dest_ip\":\"10.0.0.2\",\
//!            \"dest_port\":53,\"proto\":\"UDP\",\
//!            \"flow\":{\"start\":\"2024-01-01T00:00:00Z\",\"pkts_toclient\":1}}\n\
//!            not json\n";
//! let mut bad = Vec::new();
//! let mut report = |at: Location, why: &str| bad.push(format!("{at}: {why}"));
//! let mut opts = ReadOptions {
//!     on_malformed: Some(&mut report),
//!     ..ReadOptions::default()
//! };
//! let mut events = Vec::new();
//! let stats = sniff(log.as_bytes())
//!     .unwrap()
//!     .read(&mut opts, &mut |e| events.push(e))
//!     .unwrap();
//! assert_eq!((stats.records, stats.events, stats.malformed), (2, 1, 1));
//! assert!(bad[0].starts_with("line 2: "), "{bad:?}");
//! ```

#![deny(missing_docs)]

use pcap::PcapOptions;
use std::fmt;
use std::io::{self, BufRead};
use sweepwatch::{Event, Timestamp};

pub mod argus;
pub mod eve;
pub mod flow;
mod json_scan;
pub mod netflow;
pub mod nfdump;
pub mod pcap;
#[cfg(unix)]
pub mod replace;
pub mod sniff;
pub mod zeek;

/// What a reader got through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records (packets, log lines) read.
    pub records: u64,
    /// Records skipped as malformed or irrelevant to detection.
    pub skipped: u64,
    /// Malformed records among the skipped ones.
    pub malformed: u64,
    /// Packets among the skipped ones whose link type the capture reader
    /// does not decode (802.11, PPP, ...): the capture cannot be read for
    /// them. 0 for logs.
    pub unsupported: u64,
    /// The first such link type (a `LINKTYPE_` number;
    /// [`pcap::link_name`] names common ones).
    pub unsupported_link: Option<u32>,
    /// Events emitted.
    pub events: u64,
    /// Byte offset where a capture ended inside a record, if it did: the events
    /// before it were emitted.
    pub truncated_at: Option<u64>,
    /// Probes of a capture that its flow tracker reported `Unanswered` before
    /// their timeout because it was full ([`pcap::PcapOptions::max_flows`]);
    /// 0 for logs, whose engine tracked the flows.
    pub tracker_full: u64,
    /// Probes of a capture still within their answer window when it ended:
    /// left out, neither answered nor failed, as the input holds neither
    /// their answer nor their timeout (with
    /// [`PcapOptions::pending_unanswered`] they were reported `Unanswered`
    /// instead, and are counted here all the same). 0 for logs, and for a
    /// capture read by [`pcap::CaptureReader::read`] (or
    /// [`sniff::Sniffed::read_continuing`]), whose pending probes carry over
    /// to the next capture: [`pcap::CaptureReader::finish`] counts them.
    pub pending: u64,
    /// Records whose time gave no date (Argus's `ra` prints the time of
    /// day by default): their day was counted from 1970-01-01. 0 for the
    /// other formats.
    pub undated: u64,
}

/// A reader's failure: where in the input, and what.
#[derive(Debug)]
pub struct InputError {
    /// Where the reader stopped: `byte 1234` or `line 56`.
    pub location: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for InputError {}

/// The sink readers emit into. `Send`: a capture's events reach it from the
/// thread that decodes the capture (in order, before the read returns), so
/// that detection shares the core decoding leaves idle.
pub type Emit<'a> = &'a mut (dyn FnMut(Event) + Send);

/// Where in its input a record is.
///
/// Locations of one kind order by their number; a reader reports its
/// malformed records in increasing order.
///
/// # Examples
/// ```
/// use sweepwatch_input::Location;
/// assert_eq!(Location::Line(3).to_string(), "line 3");
/// assert_eq!(Location::Byte(1024).to_string(), "byte 1024");
/// assert!(Location::Byte(24) < Location::Byte(100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// A log line: its number, counted from 1 (blank and header lines
    /// included).
    Line(u64),
    /// A capture record (pcap record or pcapng block): the byte offset of its
    /// start in the decompressed stream.
    Byte(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Byte(n) => write!(f, "byte {n}"),
        }
    }
}

/// Told about each malformed record a reader skips: where it is and, briefly,
/// why it was rejected. Called once per record counted in
/// [`ReadStats::malformed`], in the order of the input.
///
/// # Examples
/// ```
/// use sweepwatch_input::{Location, OnMalformed};
/// let mut seen = Vec::new();
/// let mut collect = |at: Location, why: &str| seen.push((at, why.to_string()));
/// let handler: OnMalformed<'_> = &mut collect;
/// handler(Location::Line(7), "not JSON");
/// assert_eq!(seen, [(Location::Line(7), "not JSON".to_string())]);
/// ```
pub type OnMalformed<'a> = &'a mut dyn FnMut(Location, &str);

/// How to read an input: what every reader takes, whatever the format.
///
/// # Examples
/// ```
/// use sweepwatch_input::{pcap::PcapOptions, zeek::read_conn_log, Location, ReadOptions};
///
/// let log = "#separator \\x09\n\
///            #fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tconn_state\n\
///            1700000000.0\t203.0.113.5\t192.0.2.1\t22\ttcp\tREJ\n\
///            1700000000.0\tnot-an-address\t192.0.2.1\t23\ttcp\tREJ\n";
/// let mut bad = Vec::new();
/// let mut report = |at: Location, why: &str| bad.push((at, why.to_string()));
/// let mut opts = ReadOptions {
///     on_malformed: Some(&mut report),
///     // Read by the capture readers only; a log reader ignores it.
///     pcap: PcapOptions::with_memory_bytes(1 << 20),
///     ..ReadOptions::default()
/// };
/// let stats = read_conn_log(log.as_bytes(), &mut opts, &mut |_| {}).unwrap();
/// assert_eq!((stats.events, stats.malformed), (1, 1));
/// assert_eq!(bad[0].0, Location::Line(4));
///
/// // Without a handler, malformed records are only counted.
/// let stats = read_conn_log(log.as_bytes(), &mut ReadOptions::default(), &mut |_| {}).unwrap();
/// assert_eq!(stats.malformed, 1);
/// ```
#[derive(Default)]
pub struct ReadOptions<'a> {
    /// Told about each malformed record skipped; `None`: they are only
    /// counted.
    pub on_malformed: Option<OnMalformed<'a>>,
    /// The capture flow tracker's timeouts and bounds; log readers, whose
    /// engine tracked the flows, ignore them.
    pub pcap: PcapOptions,
    /// What each event's zone ([`sweepwatch::Event::zone`]) is taken from.
    pub zones: Zones,
    /// Where a reader of sampled telemetry (a capture of flow export) keeps
    /// the largest packet sampling interval declared so far, before it
    /// emits an event counted under it, so that a front end can say so in
    /// each verdict ([`sweepwatch::Verdict::sampling`]); other readers leave
    /// it alone.
    pub sampling: Option<&'a std::sync::atomic::AtomicU32>,
}

/// Where the readers find an event's zone, the address space its addresses
/// belong to, so that overlapping ones (tenants, VRFs, VLANs reusing RFC
/// 1918 blocks) are tracked apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Zones {
    /// Every event in zone 0: addresses are unique (the default).
    #[default]
    None,
    /// The outermost VLAN id: a capture packet's first tag, an EVE record's
    /// first `vlan` entry; 0 without one. Zeek's conn.log carries none.
    Vlan,
    /// Suricata's `tenant_id` in EVE records (multi-tenant Suricata); 0
    /// without one. Captures and Zeek's conn.log carry none.
    Tenant,
}

impl fmt::Debug for ReadOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadOptions")
            .field("on_malformed", &self.on_malformed.as_ref().map(|_| "FnMut"))
            .field("pcap", &self.pcap)
            .field("zones", &self.zones)
            .field("sampling", &self.sampling)
            .finish()
    }
}

impl ReadOptions<'_> {
    /// The capture reader's options: [`pcap`](Self::pcap), with VLAN ids as
    /// zones when [`zones`](Self::zones) says so.
    pub(crate) fn capture_options(&self) -> PcapOptions {
        let mut o = self.pcap.clone();
        o.vlan_zones |= self.zones == Zones::Vlan;
        o
    }

    /// The handler, reborrowed for one reader's run.
    pub(crate) fn handler(&mut self) -> Option<OnMalformed<'_>> {
        match &mut self.on_malformed {
            Some(f) => Some(&mut **f),
            None => None,
        }
    }
}

/// Tells `on_malformed`, if there is one, about a malformed record.
pub(crate) fn report(on_malformed: &mut Option<OnMalformed<'_>>, at: Location, why: &str) {
    if let Some(f) = on_malformed {
        f(at, why);
    }
}

/// Longest line a line-based reader accepts; longer ones are skipped as
/// malformed without being held in memory, so a binary or runaway file cannot
/// exhaust it.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// The UTF-8 byte-order mark, which may open a text file.
pub(crate) const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// A line of input as the line reader hands it out.
pub(crate) struct Line<'a> {
    /// The line without its terminator (`\n` or `\r\n`), cut at [`MAX_LINE`];
    /// the first line without a leading UTF-8 byte-order mark.
    pub bytes: &'a [u8],
    /// True if the line was longer than [`MAX_LINE`].
    pub overlong: bool,
    /// 1-based line number.
    pub number: u64,
}

/// Splits a stream into lines with a bound on their length.
pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(4096),
            number: 0,
        }
    }

    /// The next line, `None` at the end of the input.
    pub(crate) fn next_line(&mut self) -> Result<Option<Line<'_>>, InputError> {
        self.buf.clear();
        let mut overlong = false;
        let mut any = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(&e)),
            };
            if avail.is_empty() {
                break;
            }
            any = true;
            let (chunk, used, done) = match avail.iter().position(|b| *b == b'\n') {
                Some(i) => (&avail[..i], i + 1, true),
                None => (avail, avail.len(), false),
            };
            let room = MAX_LINE.saturating_sub(self.buf.len());
            if chunk.len() > room {
                overlong = true;
            }
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            self.inner.consume(used);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        if self.number == 1 && self.buf.starts_with(UTF8_BOM) {
            // A byte-order mark some editors and Windows tools put before
            // text: not part of the first record.
            self.buf.drain(..UTF8_BOM.len());
        }
        if !overlong && self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(Line {
            bytes: &self.buf,
            overlong,
            number: self.number,
        }))
    }

    /// An I/O error at the line being read.
    fn io_error(&self, e: &io::Error) -> InputError {
        InputError {
            location: format!("line {}", self.number + 1),
            message: format!("read error: {e}"),
        }
    }
}

/// Counts a malformed line and reports it.
pub(crate) fn malformed(
    stats: &mut ReadStats,
    on_malformed: &mut Option<OnMalformed<'_>>,
    line: u64,
    why: &str,
) {
    stats.skipped += 1;
    stats.malformed += 1;
    report(on_malformed, Location::Line(line), why);
}

/// What a line-oriented reader made of one line.
pub(crate) enum Parsed {
    /// A header or directive line: not a record.
    Directive,
    /// A record: an event, nothing to detect, or why it is malformed.
    Record(Result<Option<Event>, String>),
}

/// Reads a line-oriented log: skips blank lines, passes each line to `parse`
/// (whose error stops the read), counts records, and tallies their results;
/// lines too long to hold are malformed records.
pub(crate) fn read_lines<R: std::io::BufRead>(
    r: R,
    opts: &mut ReadOptions<'_>,
    emit: &mut dyn FnMut(Event),
    mut parse: impl FnMut(u64, &[u8]) -> Result<Parsed, InputError>,
) -> Result<ReadStats, InputError> {
    let mut st = ReadStats::default();
    let mut lines = LineReader::new(r);
    while let Some(line) = lines.next_line()? {
        if line.bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.overlong && line.bytes[0] != b'#' {
            st.records += 1;
            malformed(
                &mut st,
                &mut opts.on_malformed,
                line.number,
                "line too long",
            );
            continue;
        }
        match parse(line.number, line.bytes)? {
            Parsed::Directive => {}
            Parsed::Record(result) => {
                st.records += 1;
                tally(&mut st, emit, &mut opts.on_malformed, line.number, result);
            }
        }
    }
    Ok(st)
}

/// Counts what one log record gave: an event (emitted), nothing (skipped) or an
/// error (skipped as malformed, and reported).
pub(crate) fn tally(
    stats: &mut ReadStats,
    emit: &mut dyn FnMut(Event),
    on_malformed: &mut Option<OnMalformed<'_>>,
    line: u64,
    result: Result<Option<Event>, String>,
) {
    match result {
        Ok(Some(ev)) => {
            stats.events += 1;
            emit(ev);
        }
        Ok(None) => stats.skipped += 1,
        Err(why) => malformed(stats, on_malformed, line, &why),
    }
}

/// The UDP ports of traceroute's probes: IANA's `traceroute` port 33434 and
/// the hundred above it, where Unix traceroute sends by default. Their
/// answers (time exceeded from routers, port unreachable from the target)
/// tell of the path, not of a service, so no reader makes a probe of them.
/// Flow logs do not say which ICMP error answered a flow, so for EVE and
/// Zeek this is the only way to tell; captures also drop any probe a router
/// answered with time exceeded, whatever its port. *Evasion:* UDP probes of
/// these ports are not seen.
pub(crate) fn traceroute_port(port: u16) -> bool {
    (33434..=33534).contains(&port)
}

/// Parses an RFC 3339 / ISO 8601 date and time as engines write it:
/// `2021-06-06T16:38:55.855844+0200`, `…+02:00` or `…Z`, with any number of
/// fractional digits (microseconds kept). Suricata writes the offset without a
/// colon, which strict RFC 3339 parsers reject, hence this parser.
pub(crate) fn parse_datetime(s: &str) -> Option<Timestamp> {
    // Trimming only when needed: engines write no spaces around times.
    let s = match s.as_bytes() {
        [first, .., last] if first.is_ascii_digit() && last.is_ascii_alphanumeric() => s,
        _ => s.trim(),
    };
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        // At most four digits each: no overflow.
        part.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut micros: u64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + u64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) => {
            let rest = &s[i + 1..];
            let (h, m) = match rest.len() {
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                5 if rest.as_bytes()[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                2 => (num(i + 1..i + 3)?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let off = i64::from(h * 3600 + m * 60);
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        // No zone: engines that omit it log UTC.
        None => 0,
        _ => return None,
    };
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days_in_month = match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days_in_month {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    if secs < 0 {
        return None;
    }
    Some(Timestamp::from_micros(
        (secs as u64).checked_mul(1_000_000)? + micros,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_with_offsets() {
        let z = parse_datetime("2021-06-06T14:38:55.855844Z").unwrap();
        assert_eq!(z.as_micros(), 1_622_990_335_855_844);
        assert_eq!(parse_datetime("2021-06-06T16:38:55.855844+0200"), Some(z));
        assert_eq!(parse_datetime("2021-06-06T16:38:55.855844+02:00"), Some(z));
        assert_eq!(parse_datetime("2021-06-06T13:38:55.855844-0100"), Some(z));
        assert_eq!(
            parse_datetime("1970-01-01T00:00:01.5Z"),
            Some(Timestamp::from_micros(1_500_000))
        );
        assert_eq!(
            parse_datetime("2000-02-29T00:00:00Z").unwrap().as_secs(),
            951_782_400
        );
        for bad in [
            "",
            "2021-06-06",
            "2021-13-06T00:00:00Z",
            "2021-02-29T00:00:00Z",
            "2021-06-06T24:00:00Z",
            "2021-06-06T16:38:55.+0200",
            "2021-06-06T16:38:55+2",
            "2021-06-06T16:38:55Zjunk",
            "abcd-06-06T16:38:55Z",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn lines_are_bounded_and_numbered() {
        let mut text = b"one\r\ntwo\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        text.extend_from_slice(b"\nlast");
        let mut lines = LineReader::new(&text[..]);
        let l = lines.next_line().unwrap().unwrap();
        assert_eq!((l.bytes, l.number, l.overlong), (&b"one"[..], 1, false));
        let l = lines.next_line().unwrap().unwrap();
        assert_eq!((l.bytes, l.number), (&b"two"[..], 2));
        let l = lines.next_line().unwrap().unwrap();
        assert!(l.overlong);
        assert_eq!(l.bytes.len(), MAX_LINE);
        let l = lines.next_line().unwrap().unwrap();
        assert_eq!((l.bytes, l.number), (&b"last"[..], 4));
        assert!(lines.next_line().unwrap().is_none());
    }
}
