//! `sweepwatch watch`: one detector fed from followed logs until SIGINT or
//! SIGTERM, verdicts written as they are decided.

use super::follow::Tail;
use super::output::Output;
use super::{detector_of, format_of, usage_error, Feeder, WatchArgs, SHOWN_MALFORMED};
use std::io;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sweepwatch::order::Window;

/// Runs `watch` to its end.
pub fn watch(args: &WatchArgs) -> ExitCode {
    let d = &args.detect;
    let (det, verdicts, engine_locality) = match detector_of(d) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for (signal, flag) in [
        (signal_hook::consts::SIGINT, &stop),
        (signal_hook::consts::SIGTERM, &stop),
        (signal_hook::consts::SIGHUP, &hup),
    ] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(flag)) {
            return usage_error(&format!("cannot take signal {signal}: {e}"));
        }
    }
    // A table waits for the end, which a watch has only when stopped.
    let format = format_of(d);
    let window = Window {
        micros: args.reorder_secs.saturating_mul(1_000_000),
        max_events: d.reorder_window as usize,
    };
    let out = match &args.output {
        None => Output::new(format),
        Some(path) => match Output::to_file(format, path) {
            Ok(o) => o,
            Err(e) => return usage_error(&format!("{}: {e}", path.display())),
        },
    };
    let mut feeder = match Feeder::new(&det, window, &verdicts, out, engine_locality) {
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    let mut tails: Vec<Tail> = d.inputs.iter().map(|p| Tail::new(p)).collect();
    let mut shown = vec![0u64; tails.len()];
    let mut failed = false;
    let idle_limit = Duration::from_secs(args.reorder_secs);
    let mut last_input = Instant::now();
    let mut held = false;
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
        }
        feeder.out.flush();
        if let Some(e) = feeder.out.error() {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("sweepwatch: writing output: {e}");
            return ExitCode::from(1);
        }
        if read == 0 {
            std::thread::sleep(Duration::from_millis(args.poll_ms));
        }
    }
    feeder.finish();
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
