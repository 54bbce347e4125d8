//! The run summary written to standard error: what each input gave, what the
//! detector tracked, and how fast it went.

use crate::output::Output;
use std::fmt::Write;
use std::time::Duration;
use sweepwatch::Stats;
use sweepwatch_input::pcap::PcapOptions;
use sweepwatch_input::sniff::Compression;
use sweepwatch_input::sniff::Format;
use sweepwatch_input::ReadStats;

/// What became of one input.
#[derive(Debug)]
pub struct FileReport {
    /// The input as named on the command line (`-` for standard input).
    pub name: String,
    /// Its format, once recognised.
    pub format: Option<Format>,
    /// How it was compressed, if it was.
    pub compression: Option<Compression>,
    /// What its reader got through, if it read to the end.
    pub stats: Option<ReadStats>,
    /// Why it could not be read (in full), if it could not.
    pub error: Option<String>,
}

impl FileReport {
    /// A report for an input not read yet.
    pub fn new(name: &str) -> Self {
        FileReport {
            name: name.to_string(),
            format: None,
            compression: None,
            stats: None,
            error: None,
        }
    }

    /// The format as shown in the summary, `+gz`, `+zst` or `+xz` when
    /// compressed.
    pub fn format_name(&self) -> String {
        match (self.format, self.compression) {
            (None, _) => "-".to_string(),
            (Some(f), Some(c)) => format!("{f}+{}", c.as_str()),
            (Some(f), None) => f.to_string(),
        }
    }
}

/// A count with thousands separated, for reading at a glance.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The summary text, ending in a newline. `pending` is what the shared
/// capture reader's `finish` counted once all inputs were read: the captures
/// were read as one, so each input's own [`ReadStats::pending`] is 0.
pub fn render(
    reports: &[FileReport],
    st: &Stats,
    pcap: &PcapOptions,
    pending: u64,
    out: &Output,
    elapsed: Duration,
) -> String {
    let mut s = String::new();
    let name_w = reports
        .iter()
        .map(|r| r.name.chars().count())
        .chain(["input".len()])
        .max()
        .unwrap_or(5)
        .min(60);
    let _ = writeln!(
        s,
        "{:<name_w$}  {:<13}  {:>11}  {:>11}  {:>9}  {:>11}",
        "input", "format", "records", "skipped", "malformed", "events"
    );
    for r in reports {
        match (&r.stats, &r.error) {
            (Some(rs), _) => {
                let _ = write!(
                    s,
                    "{:<name_w$}  {:<13}  {:>11}  {:>11}  {:>9}  {:>11}",
                    r.name,
                    r.format_name(),
                    count(rs.records),
                    count(rs.skipped),
                    count(rs.malformed),
                    count(rs.events)
                );
                if let Some(at) = rs.truncated_at {
                    let _ = write!(s, "  (truncated at byte {at})");
                }
                s.push('\n');
            }
            (None, Some(e)) => {
                let _ = writeln!(
                    s,
                    "{:<name_w$}  {:<13}  error: {e}",
                    r.name,
                    r.format_name()
                );
            }
            (None, None) => {
                let _ = writeln!(s, "{:<name_w$}  {:<13}", r.name, r.format_name());
            }
        }
    }
    let captures: Vec<&ReadStats> = reports
        .iter()
        .filter(|r| matches!(r.format, Some(Format::Pcap | Format::PcapNg)))
        .filter_map(|r| r.stats.as_ref())
        .collect();
    if !captures.is_empty() {
        let _ = writeln!(
            s,
            "capture flow tracker: room for {} flows in {:.1} MiB, probes reported early when full {}, \
             within their answer window at the end {} ({})",
            count(pcap.max_flows as u64),
            pcap.memory_bytes() as f64 / f64::from(1 << 20),
            count(captures.iter().map(|r| r.tracker_full).sum()),
            count(pending),
            if pcap.pending_unanswered {
                "reported unanswered"
            } else {
                "no outcome; --pending-unanswered reports them unanswered"
            }
        );
    }
    let undated: u64 = reports
        .iter()
        .filter_map(|r| r.stats.as_ref())
        .map(|r| r.undated)
        .sum();
    if undated > 0 {
        let _ = writeln!(
            s,
            "note: {} records gave a time of day without a date (ra's default): their days \
             count from 1970-01-01; ra -u gives Unix times",
            count(undated)
        );
    }
    let _ = writeln!(
        s,
        "sources tracked: {} (room for {}), evicted {}, turned away {}, unsolicited replies {}, repeated outcomes {}",
        count(st.sources),
        count(st.capacity),
        count(st.evicted),
        count(st.turned_away),
        count(st.unsolicited),
        count(st.duplicates)
    );
    let kinds: Vec<String> = out
        .by_kind()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{} {}", k.as_str(), count(n)))
        .collect();
    if kinds.is_empty() {
        let _ = writeln!(s, "verdicts: none");
    } else {
        let _ = writeln!(
            s,
            "verdicts: {} ({}); final extents: {}",
            count(out.total()),
            kinds.join(", "),
            count(out.extents())
        );
    }
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        format!("{} events/s", count((st.events as f64 / secs) as u64))
    } else {
        "- events/s".to_string()
    };
    let _ = writeln!(s, "{} events in {secs:.3} s ({rate})", count(st.events));
    s
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
    }
}
