//! The pcap reader's flow tracker stays within its stated budget
//! (`PcapOptions::memory_bytes`) however the capture fills it, and a full
//! tracker reports its oldest probe early, each probe exactly once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use sweepwatch::{Event, Outcome};
use sweepwatch_input::pcap::{read_capture, PcapOptions};
use sweepwatch_input::ReadOptions;

struct Measuring;

thread_local! {
    /// Measures only on the thread under test: the harness allocates elsewhere.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static NOW: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn add(bytes: i64) {
    if ARMED.with(Cell::get) {
        let now = NOW.with(|n| {
            n.set(n.get() + bytes);
            n.get()
        });
        PEAK.with(|p| p.set(p.get().max(now)));
    }
}

unsafe impl GlobalAlloc for Measuring {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as i64);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as i64));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        // The old and new blocks both exist while the data moves.
        add(new as i64);
        let p = System.realloc(ptr, layout, new);
        add(-(layout.size() as i64));
        p
    }
}

#[global_allocator]
static GLOBAL: Measuring = Measuring;

/// A classic pcap of raw IPv4 packets (link type 228).
struct Pcap(Vec<u8>);

impl Pcap {
    fn new() -> Pcap {
        let mut b = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&65535u32.to_le_bytes());
        b.extend_from_slice(&228u32.to_le_bytes());
        Pcap(b)
    }

    fn packet(&mut self, micros: u64, proto: u8, src: u32, dst: u32, l4: &[u8]) {
        let len = 20 + l4.len();
        let mut ip = vec![
            0x45,
            0,
            (len >> 8) as u8,
            len as u8,
            0,
            0,
            0,
            0,
            64,
            proto,
            0,
            0,
        ];
        ip.extend_from_slice(&src.to_be_bytes());
        ip.extend_from_slice(&dst.to_be_bytes());
        ip.extend_from_slice(l4);
        let b = &mut self.0;
        b.extend_from_slice(&((micros / 1_000_000) as u32 + 1_700_000_000).to_le_bytes());
        b.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&(len as u32).to_le_bytes());
        b.extend_from_slice(&(len as u32).to_le_bytes());
        b.extend_from_slice(&ip);
    }

    fn tcp(&mut self, micros: u64, src: u32, dst: u32, sport: u16, dport: u16, flags: u8) {
        let mut t = [0u8; 20];
        t[..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 0x50;
        t[13] = flags;
        t[14] = 0x40;
        self.packet(micros, 6, src, dst, &t);
    }

    fn udp(&mut self, micros: u64, src: u32, dst: u32, dport: u16) {
        let mut u = [0u8; 8];
        u[..2].copy_from_slice(&40000u16.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[5] = 8;
        self.packet(micros, 17, src, dst, &u);
    }

    fn echo(&mut self, micros: u64, src: u32, dst: u32, id: u16) {
        let mut e = [8u8, 0, 0, 0, 0, 0, 0, 1];
        e[4..6].copy_from_slice(&id.to_be_bytes());
        self.packet(micros, 1, src, dst, &e);
    }
}

use sweepwatch::tcp::SYN;
const RST_ACK: u8 = sweepwatch::tcp::RST | sweepwatch::tcp::ACK;

/// Reads `cap` with a tracker of `budget` bytes: the events, the probes
/// reported early and those pending at the end, and the reader's peak heap.
fn measure(cap: &Pcap, budget: u64) -> (Vec<Event>, (u64, u64), i64) {
    let mut opts = ReadOptions {
        pcap: PcapOptions::with_memory_bytes(budget),
        ..ReadOptions::default()
    };
    // At most two events a packet, each packet over 40 bytes.
    let mut events = Vec::with_capacity(cap.0.len() / 20);
    NOW.with(|n| n.set(0));
    PEAK.with(|p| p.set(0));
    ARMED.with(|a| a.set(true));
    let stats = read_capture(&cap.0[..], &mut opts, &mut |e| events.push(e));
    ARMED.with(|a| a.set(false));
    let stats = stats.unwrap();
    let counts = (stats.tracker_full, stats.pending);
    (events, counts, PEAK.with(Cell::get))
}

/// The budget covers the flows; the reader's own buffers and the events'
/// vector (allocated before) are the rest.
const READER_BYTES: i64 = 256 << 10;

fn check_bound(budget: u64, peak: i64) {
    assert!(
        peak <= budget as i64 + READER_BYTES,
        "peak heap {peak} over the budget {budget}"
    );
}

#[test]
fn unanswered_probes_beyond_the_budget_are_reported_early_once_each() {
    let budget = 8 << 20;
    let max = PcapOptions::with_memory_bytes(budget).max_flows as u32;
    // Three times as many unanswered SYNs as the tracker holds, within one
    // timeout: distinct sources, targets and ports.
    let mut cap = Pcap::new();
    let n = 3 * max;
    for i in 0..n {
        let src = 0x2D00_0000 + i;
        cap.tcp(
            u64::from(i),
            src,
            0xC612_0000 + (i & 0xFFFF),
            40000,
            22,
            SYN,
        );
    }
    let (events, (early, pending), peak) = measure(&cap, budget);
    check_bound(budget, peak);
    assert!(peak > budget as i64 / 4, "the flows were tracked: {peak}");
    let attempts = events
        .iter()
        .filter(|e| e.outcome == Outcome::Attempt)
        .count();
    let unanswered = events
        .iter()
        .filter(|e| e.outcome == Outcome::Unanswered)
        .count();
    // All but the last `max` were pushed out before their timeout; those
    // are still within it when the capture ends, and get no outcome.
    assert_eq!((attempts, unanswered), (n as usize, (n - max) as usize));
    assert_eq!((early, pending), (u64::from(n - max), u64::from(max)));
}

#[test]
fn a_mixed_capture_with_churn_stays_within_the_budget() {
    let budget = 4 << 20;
    let max = PcapOptions::with_memory_bytes(budget).max_flows as u32;
    // Refused TCP probes (settled flows), unanswered UDP and echo requests,
    // for a few minutes of capture time: every table and queue fills, drains
    // and fills again.
    let mut cap = Pcap::new();
    let per_second = max / 2;
    for i in 0..(8 * max) {
        let t = u64::from(i) * 1_000_000 / u64::from(per_second);
        let (src, dst) = (0x2D00_0000 + i, 0xC612_0000 + (i % 50_000));
        match i % 4 {
            0 | 1 => {
                cap.tcp(t, src, dst, 40000, 80, SYN);
                cap.tcp(t + 50, dst, src, 80, 40000, RST_ACK);
            }
            2 => cap.udp(t, src, dst, 161),
            _ => cap.echo(t, src, dst, i as u16),
        }
    }
    let (events, _, peak) = measure(&cap, budget);
    check_bound(budget, peak);
    assert!(peak > budget as i64 / 4, "the flows were tracked: {peak}");
    let refused = events
        .iter()
        .filter(|e| e.outcome == Outcome::Refused)
        .count();
    assert_eq!(refused, 4 * max as usize);
}

#[test]
fn an_impossible_budget_is_an_error_not_an_abort() {
    let mut cap = Pcap::new();
    cap.tcp(0, 1, 2, 40000, 22, SYN);
    let mut opts = ReadOptions {
        pcap: PcapOptions::with_memory_bytes(u64::MAX),
        ..ReadOptions::default()
    };
    let err = read_capture(&cap.0[..], &mut opts, &mut |_| {}).unwrap_err();
    assert!(err.message.contains("cannot be allocated"), "{err}");
}
