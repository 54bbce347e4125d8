//! A flood of 10 million spoofed sources, each with one failed probe, with a
//! slow scanner hidden in it: memory stays within the stated budgets and the
//! scanner is still found, through the library and through the command.
//!
//! Slow in a debug build: `scripts/test-all.sh` runs these with `--release
//! -- --ignored --test-threads=1` (one at a time, so each measures only itself).
#![cfg(target_os = "linux")]

use serde_json::Value;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use sweepwatch::{Config, Detector, Event, Kind, Outcome, Protocol, Timestamp};
use sweepwatch_input::pcap::PcapOptions;

const FLOOD: u32 = 10_000_000;
/// The scanner's probes: one every `FLOOD / PROBES` flood packets.
const PROBES: u32 = 100;
const SCANNER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
/// Flood packets a second of capture time: 100 s in all.
const RATE: u64 = 100_000;

/// The `i`th spoofed source: distinct for every `i` (an odd multiplier is a
/// bijection of 32-bit words), never the scanner.
fn spoofed(i: u32) -> Ipv4Addr {
    let a = Ipv4Addr::from(i.wrapping_mul(0x9E37_79B1) ^ 0x5A5A_5A5A);
    if a == SCANNER {
        Ipv4Addr::new(0, 0, 0, 1)
    } else {
        a
    }
}

/// Every packet in capture order: `(microseconds, source, target, port)`;
/// the scanner's `k`th probe goes to 198.51.100.k, port 23.
fn packets(mut each: impl FnMut(u64, Ipv4Addr, Ipv4Addr, u16)) {
    let every = FLOOD / PROBES;
    for i in 0..FLOOD {
        let t = u64::from(i) * 1_000_000 / RATE;
        if i % every == every / 2 {
            let k = (i / every) as u8;
            each(t, SCANNER, Ipv4Addr::new(198, 51, 100, k), 23);
        }
        let dst = Ipv4Addr::from(0xC612_0000 | (i.wrapping_mul(7919) & 0x1_FFFF));
        each(t, spoofed(i), dst, 1024 + (i % 50_000) as u16);
    }
}

/// Kilobytes of a `/proc/self/status` field.
fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "slow in debug builds; scripts/test-all.sh runs it in release"]
fn the_library_finds_a_slow_scanner_in_a_flood_within_its_budget() {
    let before = status_kb("VmRSS:");
    let config = Config::default();
    let budget = config.memory_bytes;
    let found = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&found);
    let det = Detector::new(config, move |v| {
        if v.src == IpAddr::V4(SCANNER) {
            sink.lock().unwrap().push(*v);
        }
    })
    .unwrap();
    let mut batch = Vec::with_capacity(1024);
    packets(|t, src, dst, port| {
        batch.push(Event::new(
            Timestamp::from_micros(1_700_000_000_000_000 + t),
            src.into(),
            dst.into(),
            port,
            Protocol::Tcp,
            Outcome::Unanswered,
        ));
        if batch.len() == 1024 {
            det.observe_batch(&batch).unwrap();
            batch.clear();
        }
    });
    det.observe_batch(&batch).unwrap();
    det.flush().unwrap();
    let stats = det.stats().unwrap();
    let grown = (status_kb("VmHWM:") - before) * 1024;
    eprintln!("peak growth {grown} bytes, budget {budget}; {stats:?}");
    assert!(grown <= budget + (8 << 20), "{grown} over {budget}");
    assert!(stats.evicted > 5_000_000, "the table overflowed: {stats:?}");

    let found = found.lock().unwrap();
    let last = found.last().expect("the scanner is reported");
    eprintln!("scanner's final extent: {last:?}");
    assert!(last.is_final, "{found:?}");
    assert_eq!(last.kind, Kind::PortSweep);
    // Never more than it did; most of it despite the flood.
    assert!(last.targets <= PROBES && last.probes <= PROBES, "{last:?}");
    assert!(last.targets >= PROBES / 2, "{last:?}");
}

/// A classic pcap header for raw IPv4 packets (link type 228).
fn pcap_header(w: &mut impl Write) {
    let mut b = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&228u32.to_le_bytes());
    w.write_all(&b).unwrap();
}

/// One SYN as a pcap record.
fn syn(w: &mut impl Write, micros: u64, src: Ipv4Addr, dst: Ipv4Addr, port: u16) {
    let mut r = [0u8; 56];
    r[..4].copy_from_slice(&((micros / 1_000_000) as u32 + 1_700_000_000).to_le_bytes());
    r[4..8].copy_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
    r[8..12].copy_from_slice(&40u32.to_le_bytes());
    r[12..16].copy_from_slice(&40u32.to_le_bytes());
    let ip = &mut r[16..];
    ip[..4].copy_from_slice(&[0x45, 0, 0, 40]);
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    ip[20..22].copy_from_slice(&40000u16.to_be_bytes());
    ip[22..24].copy_from_slice(&port.to_be_bytes());
    ip[32] = 0x50;
    ip[33] = 0x02;
    ip[34] = 0x40;
    w.write_all(&r).unwrap();
}

/// Peak resident kilobytes of the largest child waited for.
fn children_max_rss_kb() -> u64 {
    // SAFETY: getrusage writes the struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut u), 0);
        u.ru_maxrss as u64
    }
}

#[test]
#[ignore = "slow in debug builds; scripts/test-all.sh runs it in release"]
fn the_command_finds_a_slow_scanner_in_a_flood_within_its_budgets() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sweepwatch"))
        .args(["detect", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut w = BufWriter::with_capacity(1 << 20, stdin);
        pcap_header(&mut w);
        packets(|t, src, dst, port| syn(&mut w, t, src, dst, port));
        w.flush().unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    // The budgets the command states: the detector's default, the flow
    // tracker's, and the reorder window's (1,048,576 events, 112 bytes each).
    let detector = Config::default().memory_bytes;
    let tracker = PcapOptions::default().memory_bytes();
    let window = (1u64 << 20) * 112;
    // The program itself: code, libraries, buffers.
    let own = 16u64 << 20;
    let peak = children_max_rss_kb() * 1024;
    eprintln!("peak RSS {peak}: detector {detector} + tracker {tracker} + window {window}");
    eprintln!("{stderr}");
    assert!(peak <= detector + tracker + window + own, "peak RSS {peak}");
    assert!(
        stderr.contains("the flow tracker was full"),
        "a flood of this rate fills the tracker: {stderr}"
    );

    let scanner = SCANNER.to_string();
    let last = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .rev()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["src"] == scanner.as_str() && v["final"] == true)
        .expect("the scanner is reported");
    eprintln!("scanner's final extent: {last}");
    let targets = last["targets"].as_u64().unwrap();
    assert_eq!(last["kind"], "port_sweep");
    assert!(targets <= u64::from(PROBES), "{last}");
    assert!(targets >= u64::from(PROBES / 2), "{last}");
}
