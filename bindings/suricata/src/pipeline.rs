//! From EVE records to verdicts: `flow` records are picked out and parsed into
//! detector events, put back in capture time order, and observed by the one
//! [`Detector`] all threads share; each verdict is given the ids of the flow
//! that decided it.
//!
//! Flow events pass through a [`Reorder`] buffer (one lock) on their way to
//! the detector, so that it sees them in capture time order; events released
//! together are observed under that lock, in order.
//!
//! With a state file, the detector is restored from it at start-up and saved
//! to it at shutdown instead of ending its episodes (see [`state_file`]).
//!
//! Verdicts are decided inside [`Detector::observe`], on the calling thread.
//! The callback only copies them into a thread-local list, which the writer
//! empties with [`write_pending`] once it holds its file's lock. So the
//! reorder and shard locks are never held together with a file lock.

use crate::conf::Options;
use crate::log::{log, Level};
use crate::state_file;
use memchr::memmem;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use sweepwatch::order::Reorder;
use sweepwatch::{Detector, Event, Verdict};
use sweepwatch_input::eve::FlowIds;
use sweepwatch_nats::{Publisher, PublisherOptions};

/// Turns one EVE record into a detector event and the ids of its flow
/// (`sweepwatch_input::eve::eve_flow` in the plugin; a stand-in in tests).
pub type Parse = fn(&str) -> Result<Option<(Event, FlowIds)>, String>;

/// A verdict waiting to be written, with the ids of the flow that decided
/// it (none for final extents, which no flow decides).
pub type Pending = (Verdict, Option<FlowIds>);

thread_local! {
    /// Verdicts delivered on this thread and not yet written.
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
}

/// Hands the verdicts delivered on this thread and not yet written to
/// `write`, then forgets them.
pub fn write_pending<R>(write: impl FnOnce(&[Pending]) -> R) -> R {
    PENDING.with(|p| match p.try_borrow_mut() {
        Ok(mut pending) => {
            let r = write(&pending);
            pending.clear();
            r
        }
        Err(_) => write(&[]),
    })
}

/// Gives the verdicts delivered on this thread since `from` the ids of the
/// flow that decided each: the latest of `events` from the verdict's source
/// and protocol at the verdict's time.
fn attribute(from: usize, events: &[Event], ids: &[FlowIds]) {
    PENDING.with(|p| {
        let Ok(mut pending) = p.try_borrow_mut() else {
            return;
        };
        // Final extents end an episode; no flow decided them.
        for (v, slot) in pending.iter_mut().skip(from).filter(|(v, _)| !v.is_final) {
            *slot = events
                .iter()
                .zip(ids)
                .rev()
                .find(|(e, _)| e.src == v.src && e.proto == v.proto && e.ts == v.ts)
                .map(|(_, id)| *id);
        }
    });
}

/// The detector's verdict callback: copies each verdict to this thread's
/// list.
fn deliver(v: &Verdict) {
    PENDING.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            p.push((*v, None));
        }
    })
}

/// Feeds `events` to the detector and gives the verdicts they decide the ids
/// of their flows.
fn observe(det: &Detector, events: &[Event], ids: &[FlowIds]) {
    let from = PENDING.with(|p| p.try_borrow().map_or(0, |p| p.len()));
    // `Reentrant` is impossible here: this is not a verdict callback.
    let _ = det.observe_batch(events);
    attribute(from, events, ids);
}

/// The plugin's counts of what it passed through and reported, for its
/// summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PluginCounts {
    /// EVE records received (and passed through).
    pub records: u64,
    /// Records of `event_type: flow`.
    pub flows: u64,
    /// Flow records that became detector events.
    pub events: u64,
    /// Flow records the EVE reader rejected.
    pub malformed: u64,
    /// Verdict records written, as decided.
    pub verdicts: u64,
    /// Final-extent records written at shutdown.
    pub extents: u64,
    /// Writes that failed.
    pub write_errors: u64,
}

impl PluginCounts {
    /// The counts of one record the pipeline made `seen` of.
    pub fn of(seen: &Seen) -> PluginCounts {
        PluginCounts {
            records: 1,
            flows: u64::from(!matches!(seen, Seen::NotFlow)),
            events: u64::from(matches!(seen, Seen::Event(..))),
            malformed: u64::from(matches!(seen, Seen::Malformed)),
            ..PluginCounts::default()
        }
    }

    /// Adds `o`'s counts to these.
    pub fn add(&mut self, o: &PluginCounts) {
        self.records += o.records;
        self.flows += o.flows;
        self.events += o.events;
        self.malformed += o.malformed;
        self.verdicts += o.verdicts;
        self.extents += o.extents;
        self.write_errors += o.write_errors;
    }
}

/// What the plugin makes of one EVE record (see [`flow_event`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Seen {
    /// Not a `flow` record (or detection is off): only passed through.
    NotFlow,
    /// A `flow` record that carries no connection attempt.
    Flow,
    /// A `flow` record, the detector event it gives and its flow's ids.
    Event(Event, FlowIds),
    /// A `flow` record the EVE reader rejected (or that is not UTF-8).
    Malformed,
}

/// Picks out a `flow` record and turns it into a detector event: the step
/// `Write` runs on every EVE record before the detector sees it.
///
/// `rec` is one record as Suricata hands it over (trailing newlines are
/// ignored); `prefix` is the configured `prefix`, stripped from the start
/// when present; `parse` turns the record's text into an event (the plugin
/// passes `sweepwatch_input::eve::eve_flow`). Only records whose top-level
/// `event_type` is `flow` are parsed; every other record is
/// [`Seen::NotFlow`]. Never panics unless `parse` does.
pub fn flow_event(rec: &[u8], prefix: &[u8], parse: Parse) -> Seen {
    let rec = trim_newlines(rec);
    let rec = rec.strip_prefix(prefix).unwrap_or(rec);
    if event_type(rec) != Some(b"flow") {
        return Seen::NotFlow;
    }
    let Ok(text) = std::str::from_utf8(rec) else {
        return Seen::Malformed;
    };
    match parse(text) {
        Ok(Some((ev, ids))) => Seen::Event(ev, ids),
        Ok(None) => Seen::Flow,
        Err(_) => Seen::Malformed,
    }
}

/// The publisher of `sweepwatch.publish`, or `None` (logged) if the server
/// cannot be used: detection goes on alone.
fn publisher(url: &str, dedup_secs: u64) -> Option<Mutex<Publisher>> {
    let mut opts = PublisherOptions::new(url);
    opts.dedup_secs = dedup_secs;
    opts.name = format!("sweepwatch suricata plugin {}", std::process::id());
    match Publisher::connect(opts) {
        Ok(p) => {
            log(
                Level::Notice,
                format_args!("publishing first contacts to {url}"),
            );
            Some(Mutex::new(p))
        }
        Err(e) => {
            log(
                Level::Warning,
                format_args!("sweepwatch.publish {url}: {e}; not publishing"),
            );
            None
        }
    }
}

/// One output's detection: the detector (none when `sweepwatch.enabled` is
/// `no`) and the reorder window in front of it.
pub struct Pipeline {
    detector: Option<Detector>,
    /// `sweepwatch.state-file`, when set and detection is on.
    state_file: Option<PathBuf>,
    /// `None` when reordering is off.
    reorder: Option<Mutex<Reorder<FlowIds>>>,
    parse: Parse,
    prefix: Arc<str>,
    /// `sweepwatch.publish`: first contacts also go to NATS for `sweepwatch
    /// aggregate`; `None` without it, or when the server could not be used
    /// at start-up (detection goes on alone).
    publisher: Option<Mutex<Publisher>>,
}

impl Pipeline {
    /// Builds the detector (restored from `sweepwatch.state-file` when that
    /// holds a usable state) and reserves the reorder window, so that a bad
    /// configuration or memory the machine lacks fails `Init`; a bad state
    /// file does not.
    pub fn new(opts: &Options, parse: Parse) -> Result<Pipeline, String> {
        let state_file = opts.state_file.clone().filter(|_| opts.detect);
        let detector = if opts.detect {
            let config = opts.detector.clone();
            let det = match &state_file {
                Some(path) => state_file::load(path, config, deliver),
                None => Detector::new(config, deliver),
            }
            .map_err(|e| e.to_string())?;
            Some(det)
        } else {
            None
        };
        let reorder = match opts.reorder.is_off() {
            true => None,
            false => Some(Mutex::new(Reorder::new(opts.reorder).ok_or_else(|| {
                format!(
                    "sweepwatch.reorder-events {}: the memory cannot be had",
                    opts.reorder.max_events
                )
            })?)),
        };
        let publisher = match (&opts.publish, opts.detect) {
            (Some(url), true) => publisher(url, opts.detector.dedup_secs),
            _ => None,
        };
        Ok(Pipeline {
            detector,
            state_file,
            reorder,
            parse,
            prefix: Arc::from(opts.prefix.as_str()),
            publisher,
        })
    }

    /// Feeds `rec` to the detector if it is a flow record; the verdicts it
    /// decides wait in this thread's list (see [`write_pending`]).
    pub fn detect(&self, rec: &[u8]) -> Seen {
        let Some(det) = &self.detector else {
            return Seen::NotFlow;
        };
        let seen = flow_event(rec, self.prefix.as_bytes(), self.parse);
        if let Seen::Event(ev, ids) = seen {
            if let Some(p) = &self.publisher {
                p.lock().unwrap_or_else(|e| e.into_inner()).push(&ev);
            }
            match &self.reorder {
                None => observe(det, &[ev], &[ids]),
                Some(r) => r
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(ev, ids, |b, ids| observe(det, b, ids)),
            }
        }
        seen
    }

    /// Feeds the events still held for reordering to the detector; the
    /// verdicts they decide wait in this thread's list. Then, without a state
    /// file, asks the detector for the final extent of every source reported
    /// (they wait there too); with one, saves the state instead, leaving
    /// episodes open: the scans go on after the restart. False, with nothing
    /// done, when detection is off.
    pub fn drain(&self) -> bool {
        let Some(det) = &self.detector else {
            return false;
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            if let Some(r) = &self.reorder {
                r.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .drain(|b, ids| observe(det, b, ids));
            }
            if self.state_file.is_none() {
                let _ = det.flush();
            }
        }));
        if result.is_err() {
            log(
                Level::Error,
                format_args!("detection failed on the events held at shutdown"),
            );
        }
        self.finish_publishing();
        if let Some(path) = &self.state_file {
            match catch_unwind(AssertUnwindSafe(|| state_file::save(det, path))) {
                Ok(Ok(s)) => log(
                    Level::Notice,
                    format_args!(
                        "saved state to {}: {} sources, {} bytes in {}",
                        path.display(),
                        s.sources,
                        s.bytes,
                        state_file::millis(s.elapsed)
                    ),
                ),
                Ok(Err(e)) => log(
                    Level::Error,
                    format_args!("state not saved, {} left as it was: {e}", path.display()),
                ),
                Err(_) => log(
                    Level::Error,
                    format_args!(
                        "state not saved after an internal error; {} left as it was",
                        path.display()
                    ),
                ),
            }
        }
        true
    }

    /// Publishes what is left and logs what was published.
    fn finish_publishing(&self) {
        let Some(p) = &self.publisher else {
            return;
        };
        let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
        // Suricata is stopping: the batches' tries end well within this.
        p.flush(std::time::Duration::from_secs(30));
        let st = p.stats();
        log(
            Level::Notice,
            format_args!(
                "published {} first contacts of {} flow events in {} batches ({} bytes); \
                 {} repeats not sent, {} dropped",
                st.published, st.events, st.batches, st.bytes, st.repeats, st.dropped
            ),
        );
    }

    /// The summary of the records counted in `total` and of detection.
    pub fn summary(&self, total: &PluginCounts) -> String {
        let mut line = format!(
            "{} records, {} flows ({} attempts, {} unreadable), {} verdicts, {} final extents",
            total.records,
            total.flows,
            total.events,
            total.malformed,
            total.verdicts,
            total.extents
        );
        if let Some(Ok(st)) = self.detector.as_ref().map(|d| d.stats()) {
            line.push_str(&format!(
                "; detector: {} sources tracked, {} evicted, {} turned away",
                st.sources, st.evicted, st.turned_away
            ));
        }
        let early = self
            .reorder
            .as_ref()
            .map_or(0, |r| r.lock().unwrap_or_else(|e| e.into_inner()).early());
        if early > 0 {
            line.push_str(&format!(
                "; {early} flow events released before their reorder window (reorder-events full)"
            ));
        }
        if self.detector.is_none() {
            line.push_str("; detection disabled");
        }
        line
    }
}

/// `rec` without the newlines at its end.
pub fn trim_newlines(mut rec: &[u8]) -> &[u8] {
    while let [head @ .., b'\n' | b'\r'] = rec {
        rec = head;
    }
    rec
}

/// The value of the record's top-level `event_type`, found without parsing:
/// Suricata writes it among the first fields, and inside string values the
/// quotes would be escaped.
fn event_type(rec: &[u8]) -> Option<&[u8]> {
    const KEY: &[u8] = b"\"event_type\":\"";
    // Building a searcher costs more than most searches: build it once.
    static FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(KEY));
    let at = FINDER.find(rec)?;
    let rest = &rec[at + KEY.len()..];
    let end = rest.iter().position(|&b| b == b'"')?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{HomeSource, Options};
    use crate::record::Style;
    use std::path::Path;
    use sweepwatch::order::Window;
    use sweepwatch::{Config, Outcome, Protocol, Timestamp};

    /// Reads made-up flow records `{"event_type":"flow","dst":N}`: a refused
    /// probe of 10.0.0.N port 22 from 203.0.113.9, N seconds into the capture.
    fn parse(line: &str) -> Result<Option<(Event, FlowIds)>, String> {
        let n: u8 = line
            .split("\"dst\":")
            .nth(1)
            .and_then(|r| r.trim_end_matches('}').parse().ok())
            .ok_or("no dst")?;
        let ev = Event::new(
            Timestamp::from_secs(1_700_000_000 + u64::from(n)),
            "203.0.113.9".parse().unwrap(),
            std::net::Ipv4Addr::new(10, 0, 0, n).into(),
            22,
            Protocol::Tcp,
            Outcome::Refused,
        );
        Ok(Some((ev, FlowIds::default())))
    }

    fn options(state_file: Option<&Path>) -> Options {
        Options {
            detect: true,
            detector: Config {
                memory_bytes: 1 << 20,
                shards: 1,
                ..Config::default()
            },
            path: PathBuf::from("/dev/null"),
            append: true,
            buffer_size: 0,
            prefix: String::new(),
            home_from: HomeSource::Default,
            // Held until the end, so that shutdown has events to feed.
            reorder: Window {
                micros: u64::MAX,
                max_events: 100,
            },
            write_flows: true,
            host: None,
            style: Style::Sweep,
            state_file: state_file.map(Path::to_path_buf),
            publish: None,
        }
    }

    /// Feeds probes of `hosts` and shuts down: the verdicts delivered, as
    /// (targets, final).
    fn run(p: &Pipeline, hosts: std::ops::RangeInclusive<u8>) -> Vec<(u32, bool)> {
        for n in hosts {
            let rec = format!("{{\"event_type\":\"flow\",\"dst\":{n}}}");
            assert!(matches!(p.detect(rec.as_bytes()), Seen::Event(..)));
        }
        assert!(p.drain());
        write_pending(|v| v.iter().map(|(v, _)| (v.targets, v.is_final)).collect())
    }

    #[test]
    fn a_state_file_carries_a_scan_across_a_restart() {
        let dir = std::env::temp_dir().join(format!(
            "sweepwatch-suricata-pipeline-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("sw.state");
        let with_state = options(Some(&state));

        // Uninterrupted: decided at the fifth host, extent of eight.
        let p = Pipeline::new(&options(None), parse).unwrap();
        assert_eq!(run(&p, 1..=8), [(5, false), (8, true)]);

        // Four probes, then shutdown: no verdict, no final extent, a state.
        let p = Pipeline::new(&with_state, parse).unwrap();
        assert_eq!(run(&p, 1..=4), []);
        assert!(state.is_file());
        // After the restart the fifth decides, as if never stopped; the
        // episode is still open at the second shutdown.
        let p = Pipeline::new(&with_state, parse).unwrap();
        assert_eq!(run(&p, 5..=8), [(5, false)]);
        let restored = Pipeline::new(&with_state, parse).unwrap();
        assert_eq!(
            restored.detector.as_ref().unwrap().stats().unwrap().sources,
            1
        );

        // A corrupt state: Init goes on, detection starts empty.
        let mut bytes = std::fs::read(&state).unwrap();
        let at = bytes.len() - 10;
        bytes[at] ^= 0x55;
        std::fs::write(&state, &bytes).unwrap();
        let p = Pipeline::new(&with_state, parse).unwrap();
        assert_eq!(run(&p, 5..=8), []);
        // ... and the state saved at shutdown is good again.
        let p = Pipeline::new(&with_state, parse).unwrap();
        assert_eq!(run(&p, 9..=9), [(5, false)]);

        // Detection off: the file is neither read nor written.
        std::fs::remove_file(&state).unwrap();
        let off = Options {
            detect: false,
            ..options(Some(&state))
        };
        let p = Pipeline::new(&off, parse).unwrap();
        assert!(!p.drain());
        assert!(!state.exists());

        // An unwritable state file: logged at shutdown, no panic.
        let p = Pipeline::new(&options(Some(&dir.join("gone/sw.state"))), parse).unwrap();
        assert_eq!(run(&p, 1..=2), []);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn record_parsing() {
        assert_eq!(trim_newlines(b"{}\r\n\n"), b"{}");
        assert_eq!(
            event_type(b"{\"a\":1,\"event_type\":\"flow\",\"x\":2}"),
            Some(&b"flow"[..])
        );
        assert_eq!(
            event_type(b"{\"event_type\":\"netflow\"}"),
            Some(&b"netflow"[..])
        );
        assert_eq!(
            event_type(b"{\"msg\":\"\\\"event_type\\\":\\\"flow\\\"\"}"),
            None
        );
    }
}
