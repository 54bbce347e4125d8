//! One `eve-log` output: the file(s) records pass through to, and the shared
//! detector that flow records feed.
//!
//! Threads: in Suricata's default (non-threaded) EVE mode, `Write` runs on
//! every packet and flow-manager thread at once, so the single file sits
//! behind a mutex. In threaded mode each thread gets its own file (`eve.N.json`,
//! as Suricata's `regular` file type names them) and its own lock, taken only
//! by that thread. Both modes share one [`Detector`], which is `Sync`.
//!
//! Flow events pass through a [`Reorder`] buffer (one lock) on their way to
//! the detector, so that it sees them in capture time order; events released
//! together are observed under that lock, in order.
//!
//! Verdicts are decided inside [`Detector::observe`], on the calling thread.
//! The callback only copies them into a thread-local list; `Write` appends them
//! after the record being written, under the file lock it takes once per call.
//! So the reorder and shard locks are never held together with a file lock.

use crate::conf::Options;
use crate::log::{log, Level};
use crate::record::{push_verdict, Style};
use memchr::memmem;
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock};
use sweepwatch::order::Reorder;
use sweepwatch::{Detector, Event, Verdict};
use sweepwatch_input::eve::FlowIds;

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

/// Feeds `events` to the detector and gives the verdicts they decide the ids
/// of their flows.
fn observe(det: &Detector, events: &[Event], ids: &[FlowIds]) {
    let from = PENDING.with(|p| p.try_borrow().map_or(0, |p| p.len()));
    // `Reentrant` is impossible here: this is not a verdict callback.
    let _ = det.observe_batch(events);
    attribute(from, events, ids);
}

/// One output file and what went through it.
pub struct Sink {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
    limit: usize,
    prefix: Arc<str>,
    host: Option<Arc<str>>,
    style: Style,
    tally: Tally,
    reported_error: bool,
    /// The output's rotation count when this file was opened.
    generation: u64,
}

/// Counters for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
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

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.records += o.records;
        self.flows += o.flows;
        self.events += o.events;
        self.malformed += o.malformed;
        self.verdicts += o.verdicts;
        self.extents += o.extents;
        self.write_errors += o.write_errors;
    }
}

/// A sink as shared between the output and the thread that writes to it.
pub type SharedSink = Arc<Mutex<Sink>>;

fn lock(s: &Mutex<Sink>) -> MutexGuard<'_, Sink> {
    // A panic while holding the lock leaves at worst a partly filled buffer;
    // writing on is better than losing every later record.
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sink {
    fn open(
        path: &Path,
        append: bool,
        limit: usize,
        prefix: Arc<str>,
        host: Option<Arc<str>>,
        style: Style,
    ) -> io::Result<Sink> {
        let mut o = OpenOptions::new();
        o.create(true);
        if append {
            o.append(true);
        } else {
            o.write(true).truncate(true);
        }
        Ok(Sink {
            file: o.open(path)?,
            path: path.to_path_buf(),
            buf: Vec::with_capacity(limit.max(4096) + 4096),
            limit,
            prefix,
            host,
            style,
            tally: Tally::default(),
            reported_error: false,
            generation: 0,
        })
    }

    /// Reopens the file by its name if the output was rotated since it was
    /// opened: after `mv eve.json eve.json.1` and a SIGHUP, records go to a
    /// new `eve.json`. Buffered records go to the old file first; if the new
    /// one cannot be opened, writing goes on into the old.
    fn follow_rotation(&mut self, generation: u64) {
        if self.generation == generation {
            return;
        }
        self.generation = generation;
        let _ = self.flush();
        match OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            Ok(f) => self.file = f,
            Err(e) => log(
                Level::Error,
                format_args!(
                    "reopening {} after SIGHUP: {e}; writing on into the old file",
                    self.path.display()
                ),
            ),
        }
    }

    /// Appends one record and the verdicts it decided; writes when the buffer
    /// passes its limit (at once by default), so lines are never split
    /// between writes.
    fn push(&mut self, rec: Option<&[u8]>, verdicts: &[Pending], seen: &Tally) -> io::Result<()> {
        self.tally.add(seen);
        if let Some(rec) = rec {
            self.buf.extend_from_slice(rec);
            self.buf.push(b'\n');
        }
        for (v, ids) in verdicts {
            self.buf.extend_from_slice(self.prefix.as_bytes());
            push_verdict(
                &mut self.buf,
                v,
                ids.as_ref(),
                self.host.as_deref(),
                self.style,
            );
        }
        let extents = verdicts.iter().filter(|(v, _)| v.is_final).count() as u64;
        self.tally.extents += extents;
        self.tally.verdicts += verdicts.len() as u64 - extents;
        if self.buf.len() > self.limit {
            self.flush()
        } else {
            Ok(())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = self.file.write_all(&self.buf);
        // On failure the buffer is dropped rather than retried, so a full disk
        // cannot make it grow without bound.
        self.buf.clear();
        if let Err(e) = &r {
            self.tally.write_errors += 1;
            if !self.reported_error {
                self.reported_error = true;
                log(
                    Level::Error,
                    format_args!(
                        "writing {}: {e} (further errors are only counted)",
                        self.path.display()
                    ),
                );
            }
        }
        r
    }
}

/// The state behind one `eve-log` output's `init_data`.
pub struct Output {
    path: PathBuf,
    append: bool,
    buffer_size: usize,
    prefix: Arc<str>,
    host: Option<Arc<str>>,
    style: Style,
    threaded: bool,
    detector: Option<Detector>,
    /// `None` when reordering is off.
    reorder: Option<Mutex<Reorder<FlowIds>>>,
    parse: Parse,
    /// Whether flow records are written as well as detected on.
    write_flows: bool,
    /// The file named by `filename`: every write in non-threaded mode; in
    /// threaded mode only writes that come without thread data.
    shared: OnceLock<Result<SharedSink, String>>,
    /// Every per-thread file, for the final flush and summary.
    threads: Mutex<Vec<SharedSink>>,
    panics: AtomicU64,
    /// Records dropped because no file could be opened for them.
    lost: AtomicU64,
    /// Set to 1 by Suricata on SIGHUP (once registered, see
    /// [`rotation_flag`](Self::rotation_flag)); boxed so that its address
    /// stays put.
    rotate: Box<AtomicI32>,
    /// SIGHUPs seen so far: each file reopens when it falls behind.
    rotations: AtomicU64,
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

impl Output {
    /// Builds the detector and, in non-threaded mode, opens the output file, so
    /// that a bad configuration or an unwritable file fails `Init`.
    pub fn new(opts: &Options, threaded: bool, parse: Parse) -> Result<Output, String> {
        let detector = if opts.detect {
            let det = Detector::new(opts.detector.clone(), |v| {
                PENDING.with(|p| {
                    if let Ok(mut p) = p.try_borrow_mut() {
                        p.push((*v, None));
                    }
                })
            })
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
        let out = Output {
            path: opts.path.clone(),
            append: opts.append,
            buffer_size: opts.buffer_size,
            prefix: Arc::from(opts.prefix.as_str()),
            host: opts.host.as_deref().map(Arc::from),
            style: opts.style,
            threaded,
            detector,
            reorder,
            parse,
            write_flows: opts.write_flows,
            shared: OnceLock::new(),
            threads: Mutex::new(Vec::new()),
            panics: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            rotate: Box::new(AtomicI32::new(0)),
            rotations: AtomicU64::new(0),
        };
        if !threaded {
            out.shared()?;
        }
        Ok(out)
    }

    fn shared(&self) -> Result<&SharedSink, String> {
        self.shared
            .get_or_init(|| {
                Sink::open(
                    &self.path,
                    self.append,
                    self.buffer_size,
                    Arc::clone(&self.prefix),
                    self.host.clone(),
                    self.style,
                )
                .map(|s| Arc::new(Mutex::new(s)))
                .map_err(|e| format!("cannot open {}: {e}", self.path.display()))
            })
            .as_ref()
            .map_err(|e| e.clone())
    }

    /// The `int` Suricata sets to 1 on SIGHUP, to register with
    /// `OutputRegisterFileRotationFlag`; valid while the output lives.
    pub fn rotation_flag(&self) -> *mut std::ffi::c_int {
        self.rotate.as_ptr()
    }

    /// The rotation count, advanced when Suricata has flagged a SIGHUP.
    fn rotation(&self) -> u64 {
        if self.rotate.load(Ordering::Relaxed) != 0 && self.rotate.swap(0, Ordering::AcqRel) != 0 {
            self.rotations.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.rotations.load(Ordering::Acquire)
        }
    }

    /// The output file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens thread `id`'s own file in threaded mode; `None` in non-threaded
    /// mode, where every thread writes to the shared file.
    pub fn thread_sink(&self, id: i32) -> Result<Option<SharedSink>, String> {
        if !self.threaded {
            return Ok(None);
        }
        let path = thread_path(&self.path, id);
        let sink = Sink::open(
            &path,
            self.append,
            self.buffer_size,
            Arc::clone(&self.prefix),
            self.host.clone(),
            self.style,
        )
        .map(|s| Arc::new(Mutex::new(s)))
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&sink));
        Ok(Some(sink))
    }

    /// Handles one EVE record: feeds it to the detector if it is a flow, then
    /// writes it and any verdicts it decided to `thread`'s file, or the shared
    /// one.
    pub fn write(&self, rec: &[u8], thread: Option<&Mutex<Sink>>) -> io::Result<()> {
        let rec = trim_newlines(rec);
        let seen = match catch_unwind(AssertUnwindSafe(|| self.detect(rec))) {
            Ok(s) => s,
            Err(_) => {
                // The record is still written: the EVE log stays complete even
                // if detection fails.
                if self.panics.fetch_add(1, Ordering::Relaxed) == 0 {
                    log(
                        Level::Error,
                        format_args!(
                            "detection failed on a record; it was passed through unexamined"
                        ),
                    );
                }
                Seen::Flow
            }
        };
        let tally = Tally {
            records: 1,
            flows: u64::from(!matches!(seen, Seen::NotFlow)),
            events: u64::from(matches!(seen, Seen::Event(..))),
            malformed: u64::from(matches!(seen, Seen::Malformed)),
            ..Tally::default()
        };
        let sink = match thread {
            Some(s) => s,
            None => match self.shared() {
                Ok(s) => s.as_ref(),
                Err(e) => {
                    // Only in threaded mode, after a thread's own file failed too.
                    if self.lost.fetch_add(1, Ordering::Relaxed) == 0 {
                        log(Level::Error, format_args!("records lost: {e}"));
                    }
                    return Err(io::Error::other(e));
                }
            },
        };
        let generation = self.rotation();
        let mut sink = lock(sink);
        sink.follow_rotation(generation);
        let rec = (self.write_flows || matches!(seen, Seen::NotFlow)).then_some(rec);
        PENDING.with(|p| match p.try_borrow_mut() {
            Ok(mut pending) => {
                let r = sink.push(rec, &pending, &tally);
                pending.clear();
                r
            }
            Err(_) => sink.push(rec, &[], &tally),
        })
    }

    fn detect(&self, rec: &[u8]) -> Seen {
        let Some(det) = &self.detector else {
            return Seen::NotFlow;
        };
        let seen = flow_event(rec, self.prefix.as_bytes(), self.parse);
        if let Seen::Event(ev, ids) = seen {
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

    /// Feeds the events still held for reordering to the detector, then asks
    /// it for the final extent of every source reported, and writes those
    /// verdicts: to the shared file, or in threaded mode to the first
    /// thread's.
    fn drain(&self, threads: &[SharedSink]) {
        let Some(det) = &self.detector else {
            return;
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            if let Some(r) = &self.reorder {
                r.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .drain(|b, ids| observe(det, b, ids));
            }
            let _ = det.flush();
        }));
        if result.is_err() {
            log(
                Level::Error,
                format_args!("detection failed on the events held at shutdown"),
            );
        }
        PENDING.with(|p| {
            let Ok(mut pending) = p.try_borrow_mut() else {
                return;
            };
            if pending.is_empty() {
                return;
            }
            let sink = match threads.first() {
                Some(s) => Ok(s),
                None => self.shared(),
            };
            match sink {
                Ok(s) => {
                    let _ = lock(s).push(None, &pending, &Tally::default());
                }
                Err(e) => log(
                    Level::Error,
                    format_args!("{} verdicts lost: {e}", pending.len()),
                ),
            }
            pending.clear();
        });
    }

    /// Flushes every file and returns the summary line.
    pub fn finish(&self) -> String {
        let mut total = Tally::default();
        let mut sinks: Vec<SharedSink> = self
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.drain(&sinks);
        if let Some(Ok(s)) = self.shared.get() {
            sinks.push(Arc::clone(s));
        }
        for s in &sinks {
            let mut s = lock(s);
            let _ = s.flush();
            total.add(&s.tally);
        }
        let mut line = format!(
            "{}{}: {} records, {} flows ({} attempts, {} unreadable), {} verdicts, {} final extents",
            self.path.display(),
            if self.threaded { " (threaded)" } else { "" },
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
        if total.write_errors > 0 {
            line.push_str(&format!("; {} failed writes", total.write_errors));
        }
        let lost = self.lost.load(Ordering::Relaxed);
        if lost > 0 {
            line.push_str(&format!("; {lost} records lost (no file)"));
        }
        let panics = self.panics.load(Ordering::Relaxed);
        if panics > 0 {
            line.push_str(&format!(
                "; {panics} records not examined after internal errors"
            ));
        }
        line
    }
}

/// Flushes a per-thread file when its thread stops.
pub fn flush_thread(sink: &Mutex<Sink>) {
    let _ = lock(sink).flush();
}

/// `eve.json` → `eve.3.json`, the names Suricata gives threaded EVE files.
pub fn thread_path(base: &Path, id: i32) -> PathBuf {
    let name = match (base.file_stem(), base.extension()) {
        (Some(stem), Some(ext)) => {
            format!("{}.{id}.{}", stem.to_string_lossy(), ext.to_string_lossy())
        }
        _ => format!(
            "{}.{id}",
            base.file_name().unwrap_or_default().to_string_lossy()
        ),
    };
    base.with_file_name(name)
}

fn trim_newlines(mut rec: &[u8]) -> &[u8] {
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
    use crate::conf::HomeSource;
    use std::net::IpAddr;
    use sweepwatch::order::Window;
    use sweepwatch::{Config, Outcome, Protocol, Timestamp};

    /// Reads the made-up flow records of these tests: `dest_ip`, `dest_port`,
    /// and `"refused"` or `"boom"` markers.
    fn fake_parse(line: &str) -> Result<Option<(Event, FlowIds)>, String> {
        if line.contains("boom") {
            panic!("boom");
        }
        let field = |k: &str| -> Option<&str> {
            let i = line.find(&format!("\"{k}\":"))? + k.len() + 3;
            let rest = line[i..].trim_start_matches('"');
            Some(&rest[..rest.find(['"', ',', '}'])?])
        };
        let dst: IpAddr = field("dest_ip")
            .ok_or("no dest_ip")?
            .parse()
            .map_err(|_| "bad ip")?;
        let port: u16 = field("dest_port")
            .ok_or("no port")?
            .parse()
            .map_err(|_| "bad port")?;
        let outcome = if line.contains("refused") {
            Outcome::Refused
        } else {
            Outcome::Established
        };
        let ids = FlowIds {
            flow_id: field("flow_id").and_then(|f| f.parse().ok()),
            ..FlowIds::default()
        };
        let ev = Event::new(
            Timestamp::from_secs(1_700_000_000),
            "203.0.113.9".parse().unwrap(),
            dst,
            port,
            Protocol::Tcp,
            outcome,
        );
        Ok(Some((ev, ids)))
    }

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sweepwatch-suricata-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("eve.json")
    }

    fn options(path: &Path) -> Options {
        Options {
            detect: true,
            detector: Config {
                memory_bytes: 1 << 20,
                shards: 1,
                ..Config::default()
            },
            path: path.to_path_buf(),
            append: true,
            buffer_size: 0,
            prefix: String::new(),
            home_from: HomeSource::Default,
            reorder: Window {
                micros: 0,
                max_events: 0,
            },
            write_flows: true,
            host: None,
            style: Style::Sweep,
        }
    }

    #[test]
    fn flows_can_feed_detection_without_being_written() {
        let path = tmp("noflows");
        let opts = Options {
            write_flows: false,
            ..options(&path)
        };
        let out = Output::new(&opts, false, fake_parse).unwrap();
        let stats = "{\"timestamp\":\"x\",\"event_type\":\"stats\",\"stats\":{}}";
        out.write(stats.as_bytes(), None).unwrap();
        for i in 1..=8 {
            out.write(flow(i, "refused").as_bytes(), None).unwrap();
        }
        out.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], stats);
        assert!(!text.contains("\"event_type\":\"flow\""), "{text}");
        // The verdict and the final extent, from flows never written.
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1..]
            .iter()
            .all(|l| l.contains("\"event_type\":\"sweep\"")));
    }

    fn flow(i: u8, how: &str) -> String {
        format!(
            "{{\"timestamp\":\"2023-11-14T22:13:20.000000+0000\",\"flow_id\":{i},\"event_type\":\"flow\",\
             \"dest_ip\":\"10.0.0.{i}\",\"dest_port\":22,\"note\":\"{how}\"}}"
        )
    }

    #[test]
    fn records_pass_through_and_verdicts_follow_the_deciding_flow() {
        let path = tmp("pass");
        let out = Output::new(&options(&path), false, fake_parse).unwrap();
        let mut sent =
            vec!["{\"timestamp\":\"x\",\"event_type\":\"stats\",\"stats\":{}}".to_string()];
        for i in 1..=8 {
            sent.push(flow(i, "refused"));
        }
        sent.push("{\"event_type\":\"flow\",\"boom\":1}".to_string());
        sent.push("{\"event_type\":\"flow\",\"bad\":1}".to_string());
        for (i, r) in sent.iter().enumerate() {
            // Suricata sends records without a newline; accept one anyway.
            let rec = if i % 2 == 0 {
                format!("{r}\n")
            } else {
                r.clone()
            };
            out.write(rec.as_bytes(), None).unwrap();
        }
        let summary = out.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let passed: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.contains("\"sweep\""))
            .collect();
        assert_eq!(passed, sent);
        let sweeps: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].contains("\"event_type\":\"sweep\""))
            .collect();
        // The verdict, and at the end the sweep's final extent: 8 hosts.
        assert_eq!(sweeps.len(), 2, "{text}");
        assert_eq!(sweeps[1], lines.len() - 1, "{text}");
        assert!(lines[sweeps[1]].contains("\"targets\":8,"), "{text}");
        assert!(lines[sweeps[1]].contains("\"final\":true"), "{text}");
        assert!(
            lines[sweeps[0] - 1].contains("\"flow_id\":5"),
            "verdict after the fifth refusal: {text}"
        );
        assert!(lines[sweeps[0]].contains("\"kind\":\"port_sweep\",\"src\":\"203.0.113.9\""));
        // The verdict names the deciding flow; the final extent none.
        assert!(lines[sweeps[0]].contains("\"flow_id\":5,"), "{text}");
        assert!(!lines[sweeps[1]].contains("flow_id"), "{text}");
        assert!(
            summary.contains(
                "11 records, 10 flows (8 attempts, 1 unreadable), 1 verdicts, 1 final extents"
            ),
            "{summary}"
        );
        assert!(summary.contains("1 records not examined"), "{summary}");
    }

    /// Made-up flow records with a time, read by `timed_parse`.
    fn timed_flow(secs: u64, dst: u8, port: u16) -> String {
        format!("{{\"event_type\":\"flow\",\"t\":{secs},\"dst\":{dst},\"port\":{port}}}")
    }

    fn timed_parse(line: &str) -> Result<Option<(Event, FlowIds)>, String> {
        let num = |k: &str| -> u64 {
            let rest = line.split(&format!("\"{k}\":")).nth(1).unwrap();
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
            rest[..end].parse().unwrap()
        };
        let ev = Event::new(
            Timestamp::from_secs(num("t")),
            "203.0.113.9".parse().unwrap(),
            std::net::Ipv4Addr::new(10, 0, 0, num("dst") as u8).into(),
            num("port") as u16,
            Protocol::Tcp,
            Outcome::Refused,
        );
        // The flow's id is its time, so a verdict's says which flow decided.
        let ids = FlowIds {
            flow_id: Some(num("t")),
            ..FlowIds::default()
        };
        Ok(Some((ev, ids)))
    }

    #[test]
    fn held_events_are_detected_in_time_order_at_the_end() {
        // Eight refused probes one second apart, arriving newest first: in
        // time order the source is first seen at the oldest and decided at the
        // fifth.
        let path = tmp("reorder");
        let mut o = options(&path);
        o.reorder = Window {
            micros: u64::MAX,
            max_events: 1000,
        };
        let out = Output::new(&o, false, timed_parse).unwrap();
        for i in (0..8u8).rev() {
            let rec = timed_flow(1_700_000_000 + u64::from(i), 100 + i, 22);
            out.write(rec.as_bytes(), None).unwrap();
        }
        assert!(!std::fs::read_to_string(&path).unwrap().contains("sweep\""));
        let summary = out.finish();
        assert!(
            summary.contains("8 records, 8 flows (8 attempts, 0 unreadable), 1 verdicts"),
            "{summary}"
        );
        assert!(summary.contains("1 verdicts, 1 final extents"), "{summary}");
        assert!(summary.contains("0 evicted, 0 turned away"), "{summary}");
        assert!(
            !summary.contains("before their reorder window"),
            "{summary}"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let sweep = lines[lines.len() - 2];
        // Decided at the fifth probe in time order, whose flow it names,
        // although that flow arrived fourth.
        assert!(sweep.contains("\"flow_id\":1700000004,"), "{sweep}");
        assert!(
            sweep.contains("\"first_seen\":\"2023-11-14T22:13:20.000000Z\",\"ts\":\"2023-11-14T22:13:24.000000Z\""),
            "{sweep}"
        );
        // At shutdown, the final extent: all eight ports, at the last probe.
        let last = lines[lines.len() - 1];
        assert!(
            last.contains("\"targets\":8,") && last.contains("\"final\":true"),
            "{last}"
        );
    }

    #[test]
    fn threaded_mode_writes_per_thread_files_from_many_threads() {
        let path = tmp("threaded");
        let out = Arc::new(Output::new(&options(&path), true, fake_parse).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let out = Arc::clone(&out);
                std::thread::spawn(move || {
                    let sink = out.thread_sink(t).unwrap().unwrap();
                    for i in 0..50u8 {
                        let rec = flow(i, if t == 0 { "refused" } else { "ok" });
                        out.write(rec.as_bytes(), Some(&sink)).unwrap();
                    }
                    flush_thread(&sink);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let summary = out.finish();
        assert!(summary.contains("200 records"), "{summary}");
        let mut total = 0;
        for t in 0..4 {
            let text = std::fs::read_to_string(thread_path(&path, t)).unwrap();
            total += text.lines().filter(|l| !l.contains("\"sweep\"")).count();
        }
        assert_eq!(total, 200);
        assert!(!path.exists(), "no shared file without thread-less writes");
    }

    #[test]
    fn shared_file_takes_concurrent_writers_whole_lines() {
        let path = tmp("shared");
        let out = Arc::new(Output::new(&options(&path), false, fake_parse).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let out = Arc::clone(&out);
                std::thread::spawn(move || {
                    for i in 0..200u8 {
                        out.write(flow(i, "refused").as_bytes(), None).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        out.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().all(|l| l.starts_with('{') && l.ends_with('}')));
        assert_eq!(text.lines().filter(|l| l.contains("\"flow\"")).count(), 800);
    }

    #[test]
    fn a_prefix_is_skipped_for_parsing_and_written_before_verdicts() {
        let path = tmp("prefix");
        let mut o = options(&path);
        o.prefix = "@cee: ".into();
        let out = Output::new(&o, false, fake_parse).unwrap();
        for i in 1..=5 {
            out.write(format!("@cee: {}", flow(i, "refused")).as_bytes(), None)
                .unwrap();
        }
        assert!(out
            .finish()
            .contains("5 attempts, 0 unreadable), 1 verdicts"));
        let text = std::fs::read_to_string(&path).unwrap();
        // Five flows, the verdict and the final extent.
        assert_eq!(text.lines().count(), 7);
        assert!(text.lines().all(|l| l.starts_with("@cee: {")), "{text}");
    }

    #[test]
    fn disabled_detection_only_passes_through() {
        let path = tmp("disabled");
        let mut o = options(&path);
        o.detect = false;
        let out = Output::new(&o, false, fake_parse).unwrap();
        for i in 1..=8 {
            out.write(flow(i, "refused").as_bytes(), None).unwrap();
        }
        assert!(out.finish().contains("detection disabled"));
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 8);
    }

    #[test]
    fn buffered_writes_keep_whole_lines_until_finish() {
        let path = tmp("buffered");
        let mut o = options(&path);
        o.buffer_size = 1 << 20;
        let out = Output::new(&o, false, fake_parse).unwrap();
        out.write(flow(1, "ok").as_bytes(), None).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        out.finish();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    }

    #[test]
    fn unwritable_file_fails_init() {
        let mut o = options(Path::new("/nonexistent-dir/eve.json"));
        o.detect = false;
        let err = Output::new(&o, false, fake_parse).err().unwrap();
        assert!(
            err.starts_with("cannot open /nonexistent-dir/eve.json"),
            "{err}"
        );
    }

    /// The plugin's own cost per record, without Suricata: feeds the EVE file
    /// named by SWEEPWATCH_EVE through `write` to /dev/null, one thread.
    /// `cargo test --release -- --ignored --nocapture write_path_cost`
    #[test]
    #[ignore]
    fn write_path_cost() {
        let Ok(file) = std::env::var("SWEEPWATCH_EVE") else {
            eprintln!("set SWEEPWATCH_EVE to an EVE file");
            return;
        };
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let flow_lines: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.contains("\"event_type\":\"flow\""))
            .collect();
        let flows = flow_lines.len();
        let t = std::time::Instant::now();
        let events = flow_lines
            .iter()
            .filter(|l| matches!(sweepwatch_input::eve::eve_flow(l), Ok(Some(_))))
            .count();
        let ns = t.elapsed().as_nanos() as f64;
        eprintln!(
            "eve_flow alone: {events} events from {flows} flow records: {:.0} ns per flow record",
            ns / flows as f64
        );
        let off = Window {
            micros: 0,
            max_events: 0,
        };
        let sorted = Window {
            micros: u64::MAX,
            max_events: crate::conf::DEFAULT_REORDER_EVENTS,
        };
        for (name, detect, reorder) in [
            ("pass-through", false, off),
            ("detect, arrival order", true, off),
            ("detect, sorted", true, sorted),
        ] {
            let mut o = options(Path::new("/dev/null"));
            o.detect = detect;
            o.reorder = reorder;
            o.detector = Config {
                home_networks: vec!["10.0.0.0/8".into()],
                ..Config::default()
            };
            let out = Output::new(&o, false, sweepwatch_input::eve::eve_flow).unwrap();
            let t = std::time::Instant::now();
            for l in &lines {
                out.write(l.as_bytes(), None).unwrap();
            }
            let summary = out.finish();
            let ns = t.elapsed().as_nanos() as f64;
            eprintln!(
                "{name}: {} records ({flows} flows) in {:.3} s: {:.0} ns per record\n  {summary}",
                lines.len(),
                ns / 1e9,
                ns / lines.len() as f64
            );
        }
    }

    #[test]
    fn path_and_record_parsing() {
        assert_eq!(
            thread_path(Path::new("/l/eve.json"), 3),
            Path::new("/l/eve.3.json")
        );
        assert_eq!(thread_path(Path::new("/l/eve"), 3), Path::new("/l/eve.3"));
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
