//! Verdict output on standard output: an aligned table (the default), JSON
//! Lines (`--json`, `--format json`), Suricata EVE records (`--format eve`,
//! [`sweepwatch::format::eve`]), or Zeek's notice.log (`--format notice`
//! in Zeek's tab-separated form, `--format notice-json` in its JSON form;
//! [`sweepwatch::format::notice`]).
//!
//! # JSON contract
//!
//! With `--json`, each verdict is one JSON object on its own line, written as
//! soon as it is decided ([`sweepwatch::format::verdict_json`], the library's
//! one JSON form of a verdict). Fields, in this order:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `kind` | string | `port_sweep`, `port_scan`, `outbound_sweep` or `icmp_sweep` |
//! | `src` | string | the scanning host (IPv4 or IPv6 address) |
//! | `direction` | string | `outbound` (home → external), `inbound`, `internal`, `external`: where the source and most of its targets sit |
//! | `proto` | string | `tcp`, `udp`, `icmp` or `other`: the protocol of every probe the verdict counts |
//! | `ports` | array of numbers | main destination ports, most probed first (at most 8; `[0]` for ICMP) |
//! | `targets` | number | distinct target hosts |
//! | `ports_count` | number | distinct destination ports |
//! | `failed` | number | first contacts refused or unanswered |
//! | `succeeded` | number | first contacts answered |
//! | `unanswered` | number | first contacts unanswered (part of `failed`) |
//! | `probes` | number | distinct (target, port) attempts seen when deciding |
//! | `first_seen` | string | when the source was first seen in this episode |
//! | `ts` | string | capture time of the deciding attempt; in a final extent, of the source's latest first contact |
//! | `sample` | array of strings | some targets whose first contact failed (at most 4) |
//! | `score` | number | log-likelihood ratio of "scanner" over "benign", in nats (decides at ln 99 ≈ 4.6) |
//! | `technique` | string | how most probes were sent, in nmap's vocabulary: `syn`, `connect`, `fin`, `null`, `xmas`, `maimon`, `ack`, `tcp_other`, `udp`, `icmp_echo`, `ip_protocol` |
//! | `final` | bool | `false` for a verdict as decided; `true` for a source's final extent, printed when its episode ends (it idles past its timeout and comes back, is pushed out, or the input ends) for every episode reported |
//!
//! Times are RFC 3339 in UTC with microseconds, such as
//! `2021-06-06T14:38:55.855844Z`. Counts are of distinct first contacts of the
//! verdict's protocol up to `ts`: exact up to 64 hosts, 64 ports and 64
//! probes; above, estimates of what the source did at least (they overstate
//! by more than 10% about one time in 7,000). Fields may be
//! added at the end in later versions; existing ones keep their names, types
//! and meaning.

use std::io::{self, Write};
use std::net::IpAddr;
use sweepwatch::format::{eve, notice, verdict_json};
use sweepwatch::{Kind, Timestamp, Verdict};
use time::macros::format_description;
use time::OffsetDateTime;

/// Now, for the notice.log's `#open` and `#close` lines (as Zeek writes
/// them: when the log was opened and closed, not the traffic's time).
fn wall_clock() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_micros(since.as_micros() as u64)
}

/// The file at `path` opened for appending, created if missing.
fn append(path: &std::path::Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

fn datetime(ts: Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts.as_micros()) * 1000).ok()
}

/// A compact UTC time for the table: `2021-06-06 14:38:55`.
fn short_time(ts: Timestamp) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    datetime(ts)
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "9999-12-31 23:59:59".to_string())
}

/// How verdicts are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table at the end of the input.
    Table,
    /// JSON Lines, one verdict a line as it is decided (the contract below).
    Json,
    /// Suricata EVE records of `event_type: "sweep"`, as decided, the verdict
    /// in each record's `sweep` object (the records the Suricata plugin
    /// writes; `timestamp` in UTC).
    Eve,
    /// Zeek's notice.log, tab-separated with its header lines, as decided.
    Notice,
    /// Zeek's notice.log in its JSON form, one notice a line, as decided.
    NoticeJson,
}

/// Where verdicts go: streamed as they are decided, or kept for the table at
/// the end.
pub struct Output {
    format: Format,
    /// Whether the notice.log header was written.
    opened: bool,
    out: io::BufWriter<Box<dyn Write + Send>>,
    /// The file verdicts go to instead of standard output, if any.
    path: Option<std::path::PathBuf>,
    table: Vec<Verdict>,
    /// Final extents, for the table's second part.
    extents: Vec<Verdict>,
    n_extents: u64,
    by_kind: [u64; 4],
    error: Option<io::Error>,
}

impl Output {
    /// Output to standard output in `format`.
    pub fn new(format: Format) -> Self {
        Output::with_sink(format, Box::new(io::stdout()), None)
    }

    /// Output appended to the file at `path` (created if missing), which
    /// [`reopen`](Output::reopen) opens again after a rotation.
    ///
    /// # Errors
    /// The file cannot be opened for appending.
    pub fn to_file(format: Format, path: &std::path::Path) -> io::Result<Self> {
        let f = append(path)?;
        Ok(Output::with_sink(
            format,
            Box::new(f),
            Some(path.to_path_buf()),
        ))
    }

    /// Output to the file at `path` if given (see [`to_file`](Self::to_file)),
    /// else to standard output.
    ///
    /// # Errors
    /// The file cannot be opened for appending: the message names it.
    pub fn to(format: Format, path: Option<&std::path::Path>) -> Result<Self, String> {
        match path {
            None => Ok(Output::new(format)),
            Some(p) => Output::to_file(format, p).map_err(|e| format!("{}: {e}", p.display())),
        }
    }

    /// Writes what is buffered to the file it was going to, then opens the
    /// file at the path again, as a log rotated by renaming asks (SIGHUP).
    /// Nothing for standard output. A notice.log's new file gets its header.
    pub fn reopen(&mut self) {
        if self.path.is_some() && self.format == Format::Notice && self.opened {
            // The rotated log ends as Zeek ends its own.
            let close = notice::tsv_close(wall_clock());
            self.write_line(close.trim_end());
        }
        self.flush();
        let Some(path) = self.path.clone() else {
            return;
        };
        match append(&path) {
            Ok(f) => {
                self.out = io::BufWriter::with_capacity(64 << 10, Box::new(f));
                self.opened = false;
            }
            Err(e) => self.error = self.error.take().or(Some(e)),
        }
    }

    fn with_sink(
        format: Format,
        sink: Box<dyn Write + Send>,
        path: Option<std::path::PathBuf>,
    ) -> Self {
        Output {
            format,
            opened: false,
            out: io::BufWriter::with_capacity(64 << 10, sink),
            path,
            table: Vec::new(),
            extents: Vec::new(),
            n_extents: 0,
            by_kind: [0; 4],
            error: None,
        }
    }

    /// Takes one verdict. A write error is kept and ends output; see
    /// [`Output::error`].
    pub fn verdict(&mut self, v: &Verdict) {
        if v.is_final {
            self.n_extents += 1;
        } else {
            self.by_kind[v.kind as usize] += 1;
        }
        let line = match (self.format, v.is_final) {
            (Format::Table, true) => return self.extents.push(*v),
            (Format::Table, false) => return self.table.push(*v),
            (Format::Json, _) => verdict_json(v),
            (Format::Eve, _) => {
                let mut rec = String::new();
                eve::write_record(&mut rec, v, &eve::Head::default(), eve::Style::Sweep);
                rec
            }
            // A notice is a decision; final extents are not notices.
            (Format::Notice | Format::NoticeJson, true) => return,
            (Format::Notice, false) => {
                let mut row = String::new();
                if !self.opened {
                    row.push_str(&notice::tsv_header(wall_clock()));
                    self.opened = true;
                }
                notice::write_tsv(&mut row, v);
                row
            }
            (Format::NoticeJson, false) => {
                let mut rec = String::new();
                notice::write_json(&mut rec, v);
                rec
            }
        };
        self.write_line(&line);
    }

    fn write_line(&mut self, line: &str) {
        if self.error.is_none() {
            if let Err(e) = writeln!(self.out, "{line}") {
                self.error = Some(e);
            }
        }
    }

    /// Pushes streamed output out, so that a long run shows verdicts as it goes.
    pub fn flush(&mut self) {
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.error = Some(e);
            }
        }
    }

    /// The first write error, if output failed.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Final extents delivered so far.
    pub fn extents(&self) -> u64 {
        self.n_extents
    }

    /// Verdicts delivered so far, by kind.
    pub fn by_kind(&self) -> impl Iterator<Item = (Kind, u64)> + '_ {
        Kind::ALL.iter().map(|k| (*k, self.by_kind[*k as usize]))
    }

    /// Total verdicts delivered so far.
    pub fn total(&self) -> u64 {
        self.by_kind.iter().sum()
    }

    /// Writes the table (in table mode) or closes the notice.log, and
    /// flushes.
    pub fn finish(&mut self, quiet: bool) {
        if self.format == Format::Notice && self.error.is_none() {
            // An empty log still says what it is, as Zeek's do.
            let mut end = String::new();
            if !self.opened {
                end.push_str(&notice::tsv_header(wall_clock()));
                self.opened = true;
            }
            end.push_str(notice::tsv_close(wall_clock()).trim_end());
            self.write_line(&end);
        }
        if self.format == Format::Table && self.error.is_none() {
            let text = if self.table.is_empty() {
                // Said on standard error: standard output holds only data,
                // so a pipe reading it sees an empty table, not this line.
                if !quiet {
                    eprintln!("no sweeps or scans found");
                }
                String::new()
            } else if self.extents.is_empty() {
                table(&self.table, "DECIDED (UTC)")
            } else {
                let mut extents = self.extents.clone();
                extents.sort_by_key(|v| (v.src, v.proto.as_str(), v.kind));
                format!(
                    "{}\nfinal extent of each reported source:\n{}",
                    table(&self.table, "DECIDED (UTC)"),
                    table(&extents, "LAST PROBE (UTC)")
                )
            };
            if let Err(e) = self.out.write_all(text.as_bytes()) {
                self.error = Some(e);
            }
        }
        self.flush();
    }
}

/// Verdicts as an aligned table with a header row, whose first column, the
/// verdicts' time, is headed `time_head`.
pub fn table(verdicts: &[Verdict], time_head: &str) -> String {
    let head: [&str; 12] = [
        time_head,
        "KIND",
        "SOURCE",
        "DIRECTION",
        "PROTO",
        "TECHNIQUE",
        "TARGETS",
        "PORTS",
        "FAILED",
        "OK",
        "TOP PORTS",
        "SAMPLE TARGETS",
    ];
    // Counts are right-aligned; the last column is not padded.
    const NUMERIC: [bool; 12] = [
        false, false, false, false, false, false, true, true, true, true, false, false,
    ];
    let rows: Vec<[String; 12]> = verdicts
        .iter()
        .map(|v| {
            let ports: Vec<String> = v.ports().iter().map(u16::to_string).collect();
            let sample: Vec<String> = v.sample().iter().map(IpAddr::to_string).collect();
            [
                short_time(v.ts),
                v.kind.as_str().to_string(),
                v.src.to_string(),
                v.direction.as_str().to_string(),
                v.proto.as_str().to_string(),
                v.technique.as_str().to_string(),
                v.targets.to_string(),
                v.ports_count.to_string(),
                v.failed.to_string(),
                v.succeeded.to_string(),
                ports.join(","),
                sample.join(","),
            ]
        })
        .collect();
    let mut width = head.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = width[i].saturating_sub(cell.chars().count());
            if NUMERIC[i] {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                if i + 1 < cells.len() {
                    s.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&head);
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        line(&cells);
    }
    // Sampled telemetry: the counts above are of the packets looked at.
    if let Some(n) = verdicts.iter().map(|v| v.sampling).max().filter(|n| *n > 1) {
        out.push_str(&format!(
            "counts are of sampled packets: the input declared 1 in {n}\n"
        ));
    }
    out
}
