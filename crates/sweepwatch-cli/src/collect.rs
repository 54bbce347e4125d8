//! `sweepwatch collect`: a flow collector (NetFlow v5 and v9, IPFIX over
//! UDP) feeding one detector until SIGINT or SIGTERM.

use super::args::CollectArgs;
use super::output::Output;
use super::{config_from, format_from, sink_of, usage_error, Decided, Feeder, Signals};
use std::io;
use std::net::UdpSocket;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sweepwatch::order::Window;
use sweepwatch::Detector;
use sweepwatch_input::flow::Pairer;
use sweepwatch_input::netflow::Decoder;

/// Records held for their reverse at most: about 80 MiB.
const MAX_HELD: usize = 1 << 20;

/// Runs `collect` to its end.
pub fn collect(args: &CollectArgs) -> ExitCode {
    let (cfg, _) = match config_from(
        args.verdicts.config.as_deref(),
        &args.verdicts.home_net,
        &args.verdicts.allow,
        args.verdicts.min_targets,
        args.seed,
    ) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let verdicts: Decided = Arc::new(Mutex::new(Vec::new()));
    let det = match Detector::new(cfg, sink_of(&verdicts)) {
        Ok(d) => d,
        Err(e) => return usage_error(&e.to_string()),
    };
    let Signals { stop, hup } = match Signals::take() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let socket = match UdpSocket::bind(args.listen) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sweepwatch: --listen {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    if let Err(e) = socket.set_read_timeout(Some(Duration::from_millis(200))) {
        eprintln!("sweepwatch: --listen {}: {e}", args.listen);
        return ExitCode::from(1);
    }
    let buffer = receive_buffer(&socket);
    if !args.verdicts.quiet {
        eprintln!(
            "sweepwatch: collecting on {} (UDP; {} KiB of receive buffer)",
            args.listen,
            buffer / 1024
        );
    }
    let out = match Output::to(
        format_from(args.verdicts.json, args.verdicts.format),
        args.verdicts.output.as_deref(),
    ) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    let window = Window {
        micros: args.reorder_secs.saturating_mul(1_000_000),
        max_events: 1 << 20,
    };
    let mut feeder = match Feeder::new(&det, window, &verdicts, out, false) {
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    let mut decoder = Decoder::new();
    let mut pairer = Pairer::new(args.pair_secs.saturating_mul(1_000_000), MAX_HELD);
    // The largest UDP payload.
    let mut buf = vec![0u8; 65_535];
    let idle_limit = Duration::from_secs(args.pair_secs.max(args.reorder_secs));
    let mut last_packet: Option<Instant> = None;
    let mut held = false;
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                last_packet = Some(Instant::now());
                held = true;
                decoder.decode(from, &buf[..n], &mut |rec| {
                    feeder.sampling = feeder.sampling.max(rec.sampling);
                    pairer.push(rec, &mut |ev| feeder.push(ev));
                });
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("sweepwatch: --listen {}: {e}", args.listen);
                return ExitCode::from(1);
            }
        }
        let quiet_for = last_packet.map(|t| t.elapsed());
        if held && quiet_for.is_some_and(|q| q >= idle_limit) {
            // No export for a window's length: whatever was to pair with
            // the held records, or come before the held events, has come.
            pairer.finish(&mut |ev| feeder.push(ev));
            feeder.release_all();
            held = false;
        }
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
        if let (Some(limit), Some(q)) = (args.exit_when_idle, quiet_for) {
            if q >= Duration::from_secs(limit) {
                break;
            }
        }
    }
    pairer.finish(&mut |ev| feeder.push(ev));
    feeder.finish();
    let mut out = feeder.out;
    out.finish(args.verdicts.quiet);
    if !args.verdicts.quiet {
        eprint!("{}", summary(&decoder, &pairer, &det, &out));
    }
    ExitCode::SUCCESS
}

/// Asks the kernel for 8 MiB of receive buffer: exporters send in bursts
/// (a router's flow cache expiring), and a datagram that finds the buffer
/// full is lost. The kernel caps the request at `net.core.rmem_max` (as
/// root, `SO_RCVBUFFORCE` passes it). Returns what the socket got.
#[cfg(unix)]
fn receive_buffer(socket: &UdpSocket) -> usize {
    use std::os::fd::AsRawFd;
    let want: libc::c_int = 8 << 20;
    let fd = socket.as_raw_fd();
    let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is the socket's open descriptor; the option values are
    // c_ints of the size passed.
    unsafe {
        #[cfg(target_os = "linux")]
        let forced = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&raw const want).cast(),
            size,
        ) == 0;
        #[cfg(not(target_os = "linux"))]
        let forced = false;
        if !forced {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw const want).cast(),
                size,
            );
        }
        let mut got: libc::c_int = 0;
        let mut len = size;
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw mut got).cast(),
            &mut len,
        );
        usize::try_from(got).unwrap_or(0)
    }
}

#[cfg(not(unix))]
fn receive_buffer(_: &UdpSocket) -> usize {
    0
}

/// What each exporter sent, what pairing made of it, and the detector's
/// counts.
fn summary(decoder: &Decoder, pairer: &Pairer, det: &Detector, out: &Output) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let mut exporters: Vec<_> = decoder.exporters().collect();
    exporters.sort_by_key(|(addr, _)| **addr);
    for (addr, e) in exporters {
        let version = match e.version {
            10 => "IPFIX".to_string(),
            v => format!("NetFlow v{v}"),
        };
        let _ = write!(
            s,
            "exporter {addr}: {version}, {} packets, {} flow records, {} malformed packets, \
             {} data sets without their template, {} records without addresses or protocol",
            e.packets, e.records, e.malformed, e.no_template, e.incomplete
        );
        if let Some(n) = e.sampling {
            let _ = write!(s, "; sampled 1 in {n}: counts are of sampled packets");
        }
        s.push('\n');
    }
    if decoder.refused > 0 {
        let _ = writeln!(
            s,
            "{} packets refused: more exporters than {}",
            decoder.refused,
            sweepwatch_input::netflow::MAX_EXPORTERS
        );
    }
    let p = pairer.stats();
    let _ = writeln!(
        s,
        "flow records: {} ({} paired with their reverse, {} alone, {} parts of a flow merged, {} biflows); {} events",
        p.records, p.paired, p.alone, p.merged, p.biflows, p.events
    );
    let st = det.stats().unwrap_or_default();
    let _ = writeln!(
        s,
        "sources tracked: {} (room for {}), unsolicited replies {}, repeated outcomes {}; verdicts: {}, final extents: {}",
        st.sources,
        st.capacity,
        st.unsolicited,
        st.duplicates,
        out.total(),
        out.extents()
    );
    s
}
