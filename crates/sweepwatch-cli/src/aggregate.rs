//! `sweepwatch aggregate`: one of the deployment's aggregators, writing the
//! verdicts it is the first to decide (see `sweepwatch_nats`).

use crate::args::AggregateArgs;
use crate::output::Output;
use crate::{config_from, format_from, usage_error, Signals};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;
use sweepwatch::order::Window;
use sweepwatch_nats::{AggregateOptions, Limits, Setup};

/// Runs `sweepwatch aggregate`.
pub fn aggregate(args: &AggregateArgs) -> ExitCode {
    let (config, _) = match config_from(
        args.verdicts.config.as_deref(),
        &args.verdicts.home_net,
        &args.verdicts.allow,
        args.verdicts.min_targets,
        None,
    ) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "aggregator".into());
        format!("{host}-{}", std::process::id())
    });
    let Signals { stop, hup } = match Signals::take() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let format = format_from(args.verdicts.json, args.verdicts.format);
    let mut out = match Output::to(format, args.verdicts.output.as_deref()) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    let opts = AggregateOptions {
        url: args.nats.clone(),
        name,
        setup: Setup::new(args.partitions, args.partition_memory << 20),
        limits: Limits {
            replicas: args.replicas as usize,
            stream_bytes: i64::try_from(args.stream_mib << 20).unwrap_or(i64::MAX),
            stream_age: Duration::from_secs(args.stream_hours * 3600),
            lease: Duration::from_secs(args.lease_secs),
            ..Limits::default()
        },
        config,
        window: Window {
            micros: args.reorder_secs.saturating_mul(1_000_000),
            max_events: args.reorder_window as usize,
        },
        checkpoint_every: Duration::from_secs(args.checkpoint_secs),
        exit_when_idle: args.exit_when_idle.map(Duration::from_secs),
        stop: Some(stop),
    };
    let result = sweepwatch_nats::aggregate(
        &opts,
        |v, _id| {
            if hup.swap(false, Ordering::Relaxed) {
                // The output file was rotated: write on in a new one.
                out.reopen();
            }
            out.verdict(v);
            out.flush();
        },
        |msg| eprintln!("sweepwatch: warning: {msg}"),
    );
    out.finish(args.verdicts.quiet);
    match result {
        Ok(r) => {
            if !args.verdicts.quiet {
                eprintln!(
                    "sweepwatch: aggregated {} events ({:.0} a second while they came; {} \
                     malformed batches) in {} partition takes ({} from checkpoints); {} verdicts written, {} already written \
                     elsewhere; {} checkpoints; {} failures overcome",
                    r.events,
                    r.events as f64 / r.busy.as_secs_f64().max(1e-6),
                    r.malformed,
                    r.partitions_taken,
                    r.restored,
                    r.written,
                    r.skipped,
                    r.checkpoints,
                    r.warnings
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sweepwatch: aggregate: {e}");
            ExitCode::from(1)
        }
    }
}
