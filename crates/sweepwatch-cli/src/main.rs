//! `sweepwatch`: finds port sweeps, port scans and outbound sweeps in captures
//! (pcap, pcapng) and engine logs (Zeek `conn.log`, Suricata EVE JSON), plain or
//! compressed (gzip, zstd, xz, bzip2), recognised from their content. The
//! options are in [`args`], whose definitions also make the manual pages and
//! shell completions ([`manual`]).
//!
//! All inputs feed one detector, in the order given, so a scan spread over
//! several files is seen whole. Verdicts go to standard output (a table, JSON
//! Lines with `--json`: see [`output`] for the contract, or Zeek's notice.log
//! with `--format notice` or `notice-json`); progress, warnings and
//! the summary go to standard error.
//!
//! Errors: an input that cannot be opened or whose format is unknown is reported
//! with its name and skipped; the other inputs are still read, and the exit
//! code is then 1. Malformed records are skipped and counted, the first few
//! reported as `file:line: message` for a log line and
//! `file: byte offset: message` for a capture's packet (the offset where its
//! record starts, in the decompressed capture). Exit codes: 0 success (with
//! or without verdicts), 1 input errors, 2 usage or configuration errors.
#![deny(missing_docs)]

mod aggregate;
mod args;
mod collect;
mod follow;
#[cfg(target_os = "linux")]
mod huge;
mod manual;
mod output;
mod state;
mod summary;
mod watch;

use args::{Cli, Command, DetectArgs, WatchArgs};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use output::Output;
use std::io::{self, IsTerminal, Read};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use summary::FileReport;
use sweepwatch::order::{Reorder, Window};
use sweepwatch::{AllowRule, Cidr, Config, Detector, Event, Verdict};
use sweepwatch_input::pcap::{CaptureReader, PcapOptions};
use sweepwatch_input::sniff::sniff;
use sweepwatch_input::{Location, ReadOptions};
use sweepwatch_nats::{Publisher, PublisherOptions};

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: huge::HugePages = huge::HugePages;

/// Malformed records reported per input; the rest are only counted.
const SHOWN_MALFORMED: u64 = 5;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Detect(args) => detect(&args),
        Command::Watch(args) => watch::watch(&args),
        Command::Aggregate(args) => aggregate::aggregate(&args),
        Command::Collect(args) => collect::collect(&args),
        Command::Completions { shell } => {
            manual::completions(shell, &mut io::stdout().lock());
            ExitCode::SUCCESS
        }
        Command::Man { dir } => {
            let done = match &dir {
                Some(dir) => manual::pages_into(dir).map(drop),
                None => manual::page(&mut io::stdout().lock()),
            };
            match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let place = dir
                        .as_ref()
                        .map_or("standard output".into(), |d| d.display().to_string());
                    eprintln!("sweepwatch: {place}: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The flags the long-running commands (`watch`, `aggregate`, `collect`)
/// stop and reopen their output by.
struct Signals {
    /// Set by SIGINT and SIGTERM.
    stop: Arc<AtomicBool>,
    /// Set by SIGHUP (after logrotate renames the output).
    hup: Arc<AtomicBool>,
}

impl Signals {
    /// Registers the flags; a signal that cannot be taken is a usage error.
    fn take() -> Result<Signals, ExitCode> {
        let s = Signals {
            stop: Arc::new(AtomicBool::new(false)),
            hup: Arc::new(AtomicBool::new(false)),
        };
        for (signal, flag) in [
            (signal_hook::consts::SIGINT, &s.stop),
            (signal_hook::consts::SIGTERM, &s.stop),
            (signal_hook::consts::SIGHUP, &s.hup),
        ] {
            if let Err(e) = signal_hook::flag::register(signal, Arc::clone(flag)) {
                return Err(usage_error(&format!("cannot take signal {signal}: {e}")));
            }
        }
        Ok(s)
    }
}

/// A usage or configuration error: exit code 2.
fn usage_error(msg: &str) -> ExitCode {
    eprintln!("sweepwatch: {msg}");
    ExitCode::from(2)
}

/// A configuration file's text: at most [`Config::MAX_TOML_BYTES`] are read,
/// so a huge file is refused without being loaded.
fn read_config(path: &std::path::Path) -> Result<String, String> {
    let limit = Config::MAX_TOML_BYTES;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() > limit {
        return Err(format!(
            "over the limit of {limit} bytes (1 MiB) for a configuration file"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// The detector's configuration, and whether the home networks were left at
/// their defaults (then an engine's own locality of hosts decides).
fn config_of(args: &DetectArgs) -> Result<(Config, bool), String> {
    config_from(
        args.config.as_deref(),
        &args.home_net,
        &args.allow,
        args.min_targets,
        args.seed,
    )
}

/// The dedup period `args` configure: a publishing sensor's filter keeps
/// pairs as long as the detector's.
fn dedup_of(args: &DetectArgs) -> u64 {
    config_of(args).map_or(Config::default().dedup_secs, |(c, _)| c.dedup_secs)
}

/// [`config_of`] from its parts, which `aggregate` has too.
fn config_from(
    config: Option<&std::path::Path>,
    home_net: &[Cidr],
    allow: &[Cidr],
    min_targets: Option<u32>,
    seed: Option<u64>,
) -> Result<(Config, bool), String> {
    let mut cfg = match config {
        None => Config::default(),
        Some(path) => {
            let text = read_config(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Config::from_toml_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    if !home_net.is_empty() {
        cfg.home_networks = home_net.iter().map(Cidr::to_string).collect();
    }
    cfg.allow
        .extend(allow.iter().map(|c| AllowRule::Net(c.to_string())));
    if let Some(n) = min_targets {
        cfg.min_targets = n;
    }
    if let Some(seed) = seed {
        cfg.hash_seed = Some(seed);
    }
    let engine_locality = cfg.keeps_engine_locality();
    Ok((cfg, engine_locality))
}

/// Puts events in time order within a bounded window, collects them into
/// batches for the detector, and passes the verdicts they produce on to the
/// output.
///
/// Engines log a connection when it ends, not when it starts, and some files
/// (flow tables dumped at shutdown) are not in time order at all. The detector
/// judges by the events' own times, so a forward jump past its idle timeout
/// would split one scan into many short episodes. Holding back `window` events
/// and releasing the older half, stably sorted, puts every event displaced by
/// fewer than `window / 2` positions back in place at a bounded memory cost.
struct Feeder<'a> {
    det: &'a Detector,
    /// Events held until their window passes, released in time order.
    order: Reorder<()>,
    verdicts: &'a Mutex<Vec<Verdict>>,
    out: Output,
    /// Whether events keep the engine's own locality of their hosts (Zeek's
    /// `local_orig`, `local_resp`): only while the home networks are the
    /// defaults, which the user's own configuration replaces.
    engine_locality: bool,
    /// Where first contacts are published as well (`--publish`).
    publisher: Option<Publisher>,
    /// The largest packet sampling interval the input declared so far
    /// (flow export), written into each verdict delivered; 0: none.
    sampling: u32,
}

impl<'a> Feeder<'a> {
    fn new(
        det: &'a Detector,
        window: Window,
        verdicts: &'a Mutex<Vec<Verdict>>,
        out: Output,
        engine_locality: bool,
    ) -> Result<Self, String> {
        let order = Reorder::new(window).ok_or_else(|| {
            format!(
                "--reorder-window {}: the memory cannot be had",
                window.max_events
            )
        })?;
        Ok(Feeder {
            det,
            order,
            verdicts,
            out,
            engine_locality,
            publisher: None,
            sampling: 0,
        })
    }

    /// Publishes first contacts to the NATS server at `url` from now on
    /// (`--publish`); a server that cannot be used is reported, and
    /// detection goes on locally.
    fn publish_to(&mut self, url: &str, dedup_secs: u64) {
        let mut opts = PublisherOptions::new(url);
        opts.dedup_secs = dedup_secs;
        opts.name = format!("sweepwatch sensor {}", std::process::id());
        match Publisher::connect(opts) {
            Ok(p) => self.publisher = Some(p),
            Err(e) => eprintln!("sweepwatch: warning: --publish {url}: {e}; not publishing"),
        }
    }

    /// Sends what is left to publish and says what was published.
    fn end_publishing(&mut self, quiet: bool) {
        if let Some(p) = self.publisher.take() {
            let st = p.finish();
            if !quiet || st.dropped > 0 {
                eprintln!(
                    "sweepwatch: published {} first contacts of {} events in {} batches \
                     ({} bytes, {:.1} a first contact); {} repeats not sent, {} dropped",
                    st.published,
                    st.events,
                    st.batches,
                    st.bytes,
                    st.bytes as f64 / st.published.max(1) as f64,
                    st.repeats,
                    st.dropped
                );
            }
        }
    }

    fn push(&mut self, mut ev: Event) {
        if !self.engine_locality {
            ev.src_local = None;
            ev.dst_local = None;
        }
        if let Some(p) = &mut self.publisher {
            p.push(&ev);
        }
        let det = self.det;
        let mut fed = false;
        self.order.push(ev, (), |batch, _| {
            // The only error is a call from inside a verdict callback, which
            // this program never makes.
            let _ = det.observe_batch(batch);
            fed = true;
        });
        if fed {
            self.deliver();
        }
    }

    /// Writes the verdicts the detector decided so far.
    fn deliver(&mut self) {
        let ready = std::mem::take(&mut *self.verdicts.lock().unwrap_or_else(|e| e.into_inner()));
        for v in &ready {
            if self.sampling > v.sampling {
                // The counts may hold sampled flows: the largest interval
                // declared is the one the reader must allow for.
                let mut v = *v;
                v.sampling = self.sampling;
                self.out.verdict(&v);
            } else {
                self.out.verdict(v);
            }
        }
    }

    /// At the end of an input: without a window, nothing is held back past it.
    fn end_of_input(&mut self) {
        if let Some(p) = &mut self.publisher {
            p.tick();
        }
        let det = self.det;
        self.order.flush(|batch, _| {
            let _ = det.observe_batch(batch);
        });
        self.deliver();
    }

    /// Feeds every event held back (a followed input that went quiet for a
    /// window's length) and delivers the verdicts.
    fn release_all(&mut self) {
        let det = self.det;
        self.order.drain(|batch, _| {
            let _ = det.observe_batch(batch);
        });
        self.deliver();
    }

    /// Feeds everything still held back, then delivers the final extent of
    /// every source reported.
    fn finish(&mut self) {
        let det = self.det;
        self.order.drain(|batch, _| {
            let _ = det.observe_batch(batch);
        });
        let _ = self.det.flush();
        self.deliver();
    }
}

fn progress_bar(name: &str, len: Option<u64>) -> ProgressBar {
    let (bar, template) = match len {
        Some(n) => (
            ProgressBar::new(n),
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{prefix} {spinner} {bytes} {bytes_per_sec}",
        ),
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.with_style(style).with_prefix(name.to_string())
}

/// Reads one input into the feeder. Errors are reported on standard error and
/// recorded in the returned report.
fn read_input(
    path: &std::path::Path,
    feeder: &mut Feeder<'_>,
    captures: &mut Option<CaptureReader>,
    pcap: &PcapOptions,
    zones: sweepwatch_input::Zones,
    show_progress: bool,
) -> FileReport {
    let name = path.display().to_string();
    let mut report = FileReport::new(&name);
    let stdin = path.as_os_str() == "-";
    // Send: a capture is framed and decoded on a thread of its own.
    let (raw, len): (Box<dyn Read + Send>, Option<u64>) = if stdin {
        (Box::new(io::stdin()), None)
    } else {
        match std::fs::File::open(path) {
            Ok(f) => {
                let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
                (Box::new(f), len)
            }
            Err(e) => {
                eprintln!("sweepwatch: {name}: {e}");
                report.error = Some(e.to_string());
                return report;
            }
        }
    };
    let bar = if show_progress {
        progress_bar(&name, len)
    } else {
        ProgressBar::hidden()
    };
    let raw: Box<dyn Read + Send> = if show_progress {
        Box::new(bar.wrap_read(raw))
    } else {
        raw
    };
    let sniffed = match sniff(raw) {
        Ok(s) => s,
        Err(e) => {
            bar.finish_and_clear();
            eprintln!("sweepwatch: {name}: {}", e.message);
            report.error = Some(e.message);
            return report;
        }
    };
    report.format = Some(sniffed.format);
    report.compression = sniffed.compression;

    let mut shown = 0u64;
    let mut on_malformed = |at: Location, why: &str| {
        shown += 1;
        if shown <= SHOWN_MALFORMED {
            // Lines as compilers and grep report them; a packet by the
            // offset of its record.
            bar.suspend(|| match at {
                Location::Line(n) => eprintln!("{name}:{n}: {why}"),
                Location::Byte(_) => eprintln!("{name}: {at}: {why}"),
            });
        }
    };
    let sampling = AtomicU32::new(feeder.sampling);
    let mut opts = ReadOptions {
        on_malformed: Some(&mut on_malformed),
        pcap: pcap.clone(),
        zones,
        sampling: Some(&sampling),
    };
    // A reader that panics on input it did not foresee must not take the other
    // inputs down with it: the panic becomes this input's error.
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        sniffed.read_continuing(captures, &mut opts, &mut |ev| {
            feeder.sampling = sampling.load(Ordering::Relaxed);
            feeder.push(ev);
        })
    }));
    feeder.end_of_input();
    bar.finish_and_clear();
    match result {
        Ok(Ok(stats)) => {
            if stats.malformed > SHOWN_MALFORMED {
                eprintln!(
                    "{name}: {} more malformed records not shown",
                    stats.malformed - SHOWN_MALFORMED
                );
            }
            if stats.tracker_full > 0 {
                eprintln!(
                    "sweepwatch: warning: {name}: the flow tracker was full ({} flows); \
                     {} probes were reported unanswered before their timeout \
                     (raise --flow-memory)",
                    pcap.max_flows, stats.tracker_full
                );
            }
            if let Some(at) = stats.truncated_at {
                eprintln!(
                    "sweepwatch: warning: {name}: capture truncated at byte {at}; \
                     the packets before it were used"
                );
            }
            if stats.unsupported > 0 {
                let link = stats.unsupported_link.unwrap_or_default();
                let named = sweepwatch_input::pcap::link_name(link)
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                if stats.unsupported == stats.records {
                    // Nothing was read: an input that cannot be read, not one
                    // without scanners.
                    let msg = format!(
                        "no packet can be decoded: link type {link}{named} is not supported \
                         (Ethernet, raw IP, Linux cooked, loopback)"
                    );
                    eprintln!("sweepwatch: {name}: {msg}");
                    report.error = Some(msg);
                } else {
                    eprintln!(
                        "sweepwatch: warning: {name}: {} packets of link type {link}{named} \
                         not decoded (skipped)",
                        stats.unsupported
                    );
                }
            }
            report.stats = Some(stats);
        }
        Ok(Err(e)) => {
            eprintln!("sweepwatch: {name}: {e}");
            report.error = Some(e.to_string());
        }
        Err(p) => {
            let msg = format!(
                "reading stopped by an internal error in the {} reader: {}",
                report.format_name(),
                sweepwatch::panic_message(&*p)
            );
            eprintln!("sweepwatch: {name}: {msg}");
            report.error = Some(msg);
        }
    }
    report
}

/// Verdicts as the detector delivers them, until the feeder writes them.
type Decided = Arc<Mutex<Vec<Verdict>>>;

/// The detector `args` configure, the list its verdicts go to, and whether
/// events keep the engine's own locality ([`config_of`]); a usage error's
/// exit code if the configuration is bad.
fn detector_of(args: &DetectArgs) -> Result<(Detector, Decided, bool), ExitCode> {
    let (cfg, engine_locality) = config_of(args).map_err(|e| usage_error(&e))?;
    let verdicts: Decided = Arc::new(Mutex::new(Vec::new()));
    let det = Detector::new(cfg, sink_of(&verdicts)).map_err(|e| usage_error(&e.to_string()))?;
    Ok((det, verdicts, engine_locality))
}

/// The verdict callback that collects into `verdicts`.
fn sink_of(verdicts: &Decided) -> impl Fn(&Verdict) + Send + Sync + 'static {
    let sink = Arc::clone(verdicts);
    move |v| sink.lock().unwrap_or_else(|e| e.into_inner()).push(*v)
}

/// How `args` ask for verdicts to be written.
fn format_of(args: &DetectArgs) -> output::Format {
    format_from(args.json, args.format)
}

/// The format of `--json` and `--format` (a table without either), which
/// `aggregate` has too.
fn format_from(json: bool, format: Option<output::Format>) -> output::Format {
    match (json, format) {
        (true, _) => output::Format::Json,
        (false, f) => f.unwrap_or(output::Format::Table),
    }
}

fn detect(args: &DetectArgs) -> ExitCode {
    let (det, verdicts, engine_locality) = match detector_of(args) {
        Ok(d) => d,
        Err(code) => return code,
    };
    // A panic is a bug: say so plainly, without the default hook's hint about
    // backtraces (the input that caused it is named when it is caught).
    panic::set_hook(Box::new(|info| {
        eprintln!("sweepwatch: internal error: {info}")
    }));

    let show_progress = !args.quiet && io::stderr().is_terminal();
    let pcap = PcapOptions {
        pending_unanswered: args.pending_unanswered,
        ..PcapOptions::with_memory_bytes(args.flow_memory << 20)
    };
    // A window of events, not of time: a file is read as fast as it comes,
    // and its events are held until `reorder_window` newer ones arrived.
    let window = Window {
        micros: u64::MAX,
        max_events: args.reorder_window as usize,
    };
    let mut feeder = match Feeder::new(
        &det,
        window,
        &verdicts,
        Output::new(format_of(args)),
        engine_locality,
    ) {
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    if let Some(url) = &args.publish {
        feeder.publish_to(url, dedup_of(args));
    }
    let started = Instant::now();
    let mut reports = Vec::with_capacity(args.inputs.len());
    // One flow tracker for all captures: the parts of a rotated capture,
    // given in order, pair a probe at the end of one with its answer in the
    // next.
    let mut captures = None;
    for path in &args.inputs {
        reports.push(read_input(
            path,
            &mut feeder,
            &mut captures,
            &pcap,
            args.zones.into(),
            show_progress,
        ));
        feeder.out.flush();
        if feeder.out.error().is_some() {
            break;
        }
    }
    let pending = captures.as_mut().map_or(0, |c: &mut CaptureReader| {
        c.finish(&mut |ev| feeder.push(ev))
    });
    feeder.finish();
    feeder.end_publishing(args.quiet);
    let mut out = feeder.out;
    out.finish(args.quiet);
    if let Some(e) = out.error() {
        // A closed pipe (`| head`) means nobody wants more output.
        if e.kind() == io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
        eprintln!("sweepwatch: writing output: {e}");
        return ExitCode::from(1);
    }
    if !args.quiet {
        let stats = det.stats().unwrap_or_default();
        eprint!(
            "{}",
            summary::render(&reports, &stats, &pcap, pending, &out, started.elapsed())
        );
    }
    if reports.iter().any(|r| r.error.is_some()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
