//! `sweepwatch watch`: one detector fed from followed logs until SIGINT or
//! SIGTERM, verdicts written as they are decided.

use super::follow::Tail;
use super::output::Output;
use super::state::{self, Loaded, Resume};
use super::{config_of, format_of, sink_of, usage_error, Decided, Feeder, Signals, WatchArgs};
use super::{DetectArgs, SHOWN_MALFORMED};
use std::io;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sweepwatch::order::Window;
use sweepwatch::Detector;

/// The detector, from the state file when there is a usable one, and where
/// reading goes on.
fn start(
    d: &DetectArgs,
    state: Option<&Path>,
) -> Result<(Detector, Decided, bool, Option<Resume>), ExitCode> {
    let (cfg, engine_locality) = config_of(d).map_err(|e| usage_error(&e))?;
    let verdicts: Decided = Arc::new(Mutex::new(Vec::new()));
    let fresh =
        || Detector::new(cfg.clone(), sink_of(&verdicts)).map_err(|e| usage_error(&e.to_string()));
    let Some(path) = state else {
        return Ok((fresh()?, verdicts, engine_locality, None));
    };
    let name = path.display();
    // Found now rather than at the first save, minutes later.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if dir.is_some_and(|d| !d.is_dir()) || path.is_dir() {
        return Err(usage_error(&format!(
            "--state {name}: not a file in an existing directory"
        )));
    }
    let (det, resume) = match state::load(path, &cfg, sink_of(&verdicts)) {
        Loaded::Whole(det, resume) => {
            if !d.quiet {
                let st = det.stats().unwrap_or_default();
                eprintln!(
                    "sweepwatch: {name}: state restored: {} sources tracked, {} held events, {} files",
                    st.sources,
                    resume.held.events.len(),
                    resume.tails.len()
                );
            }
            (*det, Some(resume))
        }
        Loaded::Positions(resume, why) => {
            eprintln!(
                "sweepwatch: {name}: {why}; detection starts empty, reading goes on where it stopped"
            );
            (fresh()?, Some(resume))
        }
        Loaded::Nothing(None) => {
            if !d.quiet {
                eprintln!("sweepwatch: {name}: no state yet; starting empty");
            }
            (fresh()?, None)
        }
        Loaded::Nothing(Some(why)) => {
            eprintln!(
                "sweepwatch: {name}: state ignored: {why}; starting empty, files read from their start"
            );
            (fresh()?, None)
        }
    };
    Ok((det, verdicts, engine_locality, resume))
}

/// Saves the state: verdicts decided so far are written first, so that a
/// crash after the save never loses one.
fn save(path: &Path, det: &Detector, feeder: &mut Feeder<'_>, tails: &[Tail]) -> io::Result<u64> {
    feeder.end_of_input();
    feeder.out.flush();
    let resume = Resume {
        tails: tails.iter().map(Tail::position).collect(),
        held: feeder.order.snapshot(),
    };
    state::save(path, det, &resume)
}

/// On SIGHUP: `--config` read again and given to the running detector,
/// which keeps its sources and the scans in progress; a file that cannot be
/// read or that changes what lays out the state leaves the running
/// configuration in place. Either way, standard error says so.
fn reread_config(d: &DetectArgs, path: &std::path::Path, det: &Detector, feeder: &mut Feeder<'_>) {
    let applied = config_of(d).and_then(|(cfg, engine_locality)| {
        det.reconfigure(cfg)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        feeder.engine_locality = engine_locality;
        Ok(())
    });
    match applied {
        Ok(()) => eprintln!(
            "sweepwatch: {}: configuration read again; sources and scans in progress kept",
            path.display()
        ),
        Err(e) => eprintln!("sweepwatch: {e}; the running configuration is kept"),
    }
}

/// Runs `watch` to its end.
pub fn watch(args: &WatchArgs) -> ExitCode {
    let d = &args.detect;
    let state_path = args.state.as_deref();
    let (det, verdicts, engine_locality, resume) = match start(d, state_path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let Signals { stop, hup } = match Signals::take() {
        Ok(s) => s,
        Err(code) => return code,
    };
    // A table waits for the end, which a watch has only when stopped.
    let format = format_of(d);
    let window = Window {
        micros: args.reorder_secs.saturating_mul(1_000_000),
        max_events: d.reorder_window as usize,
    };
    let out = match Output::to(format, args.output.as_deref()) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    let mut feeder = match Feeder::new(&det, window, &verdicts, out, engine_locality) {
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    if let Some(url) = &d.publish {
        feeder.publish_to(url, super::dedup_of(d));
    }
    let mut tails: Vec<Tail> = d
        .inputs
        .iter()
        .map(|p| Tail::new(p, d.zones.into()))
        .collect();
    let mut shown = vec![0u64; tails.len()];
    let mut failed = false;
    if let Some(resume) = resume {
        let det = &det;
        feeder.order.resume(resume.held, |batch, _| {
            let _ = det.observe_batch(batch);
        });
        for p in resume.tails {
            let Some(i) = tails.iter().position(|t| t.path() == p.path()) else {
                continue;
            };
            let name = p.path().display().to_string();
            let mut on_malformed = |line: u64, why: &str| {
                shown[i] += 1;
                if shown[i] <= SHOWN_MALFORMED {
                    eprintln!("{name}:{line}: {why}");
                }
            };
            match tails[i].resume(p, &mut |ev| feeder.push(ev), &mut on_malformed) {
                Ok(said) if !d.quiet => eprintln!("sweepwatch: {said}"),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("sweepwatch: {name}: {e}");
                    failed = true;
                }
            }
        }
        feeder.end_of_input();
    }
    let idle_limit = Duration::from_secs(args.reorder_secs);
    let save_every = Duration::from_secs(args.state_every);
    let mut last_input = Instant::now();
    let mut last_save = Instant::now();
    let mut held = !feeder.order.is_empty();
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut read = 0u64;
        for (t, shown) in tails.iter_mut().zip(&mut shown) {
            let name = t.path().display().to_string();
            let mut on_malformed = |line: u64, why: &str| {
                *shown += 1;
                if *shown <= SHOWN_MALFORMED {
                    eprintln!("{name}:{line}: {why}");
                }
            };
            match t.poll(&mut |ev| feeder.push(ev), &mut on_malformed) {
                Ok(n) => read += n,
                Err(e) => {
                    eprintln!("sweepwatch: {name}: {e}");
                    failed = true;
                }
            }
        }
        if read > 0 {
            last_input = Instant::now();
            held = true;
        } else if held && last_input.elapsed() >= idle_limit {
            // No input for a window's length: whatever was to come before
            // the held events has come; feed them.
            feeder.release_all();
            held = false;
        }
        // Events released by the window are fed now, not when a batch fills.
        feeder.end_of_input();
        if hup.swap(false, Ordering::Relaxed) {
            // The output file was rotated: write on in a new one.
            feeder.out.reopen();
            if let Some(path) = &d.config {
                reread_config(d, path, &det, &mut feeder);
            }
        }
        feeder.out.flush();
        if let Some(e) = feeder.out.error() {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("sweepwatch: writing output: {e}");
            return ExitCode::from(1);
        }
        if let Some(path) = state_path.filter(|_| last_save.elapsed() >= save_every) {
            if let Err(e) = save(path, &det, &mut feeder, &tails) {
                eprintln!("sweepwatch: saving the state to {}: {e}", path.display());
                failed = true;
            }
            last_save = Instant::now();
        }
        if read == 0 {
            std::thread::sleep(Duration::from_millis(args.poll_ms));
        }
    }
    match state_path {
        // The scans go on in the next run: no final extents.
        Some(path) => {
            let begun = Instant::now();
            match save(path, &det, &mut feeder, &tails) {
                Ok(bytes) if !d.quiet => eprintln!(
                    "sweepwatch: state saved to {} ({bytes} bytes in {:.0} ms)",
                    path.display(),
                    begun.elapsed().as_secs_f64() * 1000.0
                ),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("sweepwatch: saving the state to {}: {e}", path.display());
                    failed = true;
                }
            }
        }
        None => feeder.finish(),
    }
    feeder.end_publishing(d.quiet);
    let mut out = feeder.out;
    out.finish(d.quiet);
    if !d.quiet {
        let stats = det.stats().unwrap_or_default();
        let records: u64 = tails.iter().map(|t| t.stats.records).sum();
        let events: u64 = tails.iter().map(|t| t.stats.events).sum();
        let malformed: u64 = tails.iter().map(|t| t.stats.malformed).sum();
        eprintln!(
            "sweepwatch: watched {} path(s) for {:.1} s: {records} records, {events} events, \
             {malformed} malformed; {} sources tracked; {} verdicts, {} final extents",
            tails.len(),
            started.elapsed().as_secs_f64(),
            stats.sources,
            out.total(),
            out.extents()
        );
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
