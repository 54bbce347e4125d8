//! One `eve-log` output: what Suricata's callbacks in `lib.rs` call. Each
//! record goes through the [`Pipeline`] (which feeds flow records to the
//! detector) and then, with the verdicts it decided, to a file [`Sink`].
//!
//! Threads: in Suricata's default (non-threaded) EVE mode, `Write` runs on
//! every packet and flow-manager thread at once, all writing to one shared
//! file. In threaded mode each thread gets its own file (`eve.N.json`, as
//! Suricata's `regular` file type names them). Both modes share one
//! pipeline, whose detector is `Sync`.
//!
//! `Write` detects first, then takes the file's lock once and appends the
//! record and the verdicts it decided, so the pipeline's locks are never held
//! together with a file lock.

use crate::conf::Options;
use crate::file_writer::{lock, thread_path, SharedSink, Sink};
use crate::log::{log, Level};
use crate::pipeline::{trim_newlines, write_pending, Parse, Pipeline, PluginCounts, Seen};
use crate::record::Style;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The state behind one `eve-log` output's `init_data`.
pub struct Output {
    path: PathBuf,
    append: bool,
    buffer_size: usize,
    prefix: Arc<str>,
    host: Option<Arc<str>>,
    style: Style,
    threaded: bool,
    pipeline: Pipeline,
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

impl Output {
    /// Builds the detector and, in non-threaded mode, opens the output file, so
    /// that a bad configuration or an unwritable file fails `Init`.
    pub fn new(opts: &Options, threaded: bool, parse: Parse) -> Result<Output, String> {
        let out = Output {
            path: opts.path.clone(),
            append: opts.append,
            buffer_size: opts.buffer_size,
            prefix: Arc::from(opts.prefix.as_str()),
            host: opts.host.as_deref().map(Arc::from),
            style: opts.style,
            threaded,
            pipeline: Pipeline::new(opts, parse)?,
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
        let seen = match catch_unwind(AssertUnwindSafe(|| self.pipeline.detect(rec))) {
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
        let tally = PluginCounts::of(&seen);
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
        write_pending(|pending| sink.push(rec, pending, &tally))
    }

    /// Has the pipeline decide what it still holds at shutdown, and writes
    /// those verdicts: to the shared file, or in threaded mode to the first
    /// thread's.
    fn drain(&self, threads: &[SharedSink]) {
        if !self.pipeline.drain() {
            return;
        }
        write_pending(|pending| {
            if pending.is_empty() {
                return;
            }
            let sink = match threads.first() {
                Some(s) => Ok(s),
                None => self.shared(),
            };
            match sink {
                Ok(s) => {
                    let _ = lock(s).push(None, pending, &PluginCounts::default());
                }
                Err(e) => log(
                    Level::Error,
                    format_args!("{} verdicts lost: {e}", pending.len()),
                ),
            }
        });
    }

    /// Flushes every file and returns the summary line.
    pub fn finish(&self) -> String {
        let mut total = PluginCounts::default();
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
            total.add(s.tally());
        }
        let mut line = format!(
            "{}{}: {}",
            self.path.display(),
            if self.threaded { " (threaded)" } else { "" },
            self.pipeline.summary(&total)
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::HomeSource;
    use crate::file_writer::flush_thread;
    use std::net::IpAddr;
    use sweepwatch::order::Window;
    use sweepwatch::{Config, Event, Outcome, Protocol, Timestamp};
    use sweepwatch_input::eve::FlowIds;

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
            state_file: None,
            publish: None,
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
}
