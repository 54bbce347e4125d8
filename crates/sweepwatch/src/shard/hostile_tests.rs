//! Attacks by the sources a detector watches: colliding addresses that try to
//! cancel a scanner's evidence or put their name on its verdict, and spoofed
//! newcomers that try to push it out of memory. The shard-level tests give two
//! addresses the same hash outright, as an attacker who knew the keys and could
//! invert them would; the detector-level ones aim with the real keyed hash.

use super::*;
use crate::config::Config;
use crate::net::AddrKey;
use crate::{Detector, Event, Kind, Technique};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

const SCANNER: &str = "203.0.113.7";
const T0: u64 = 1_700_000_000;

fn key(ip: &str) -> (u128, u16) {
    let k = AddrKey::from(ip.parse::<IpAddr>().unwrap());
    (k.bits(), k.lead())
}

/// A TCP probe from `src` under source hash `h` (chosen by the test, not
/// computed) to 198.18.x.y port 23.
fn probe(s: &Settings, h: u64, src: &str, target: u32, outcome: Outcome, secs: u64) -> Probe {
    let (src, src_lead) = key(src);
    let dst_ip = IpAddr::from([198, 18, (target >> 8) as u8, target as u8]);
    let (dst, dst_lead) = (AddrKey::from(dst_ip).bits(), AddrKey::from(dst_ip).lead());
    let service = (23u64 << 2) | u64::from(Protocol::Tcp.index());
    Probe {
        ts: Timestamp::from_secs(T0 + secs),
        src,
        dst,
        dst_port: 23,
        proto: Protocol::Tcp,
        outcome,
        technique: Technique::Syn,
        src_lead,
        dst_lead,
        h_src: h,
        pair: s.hasher.pair(h, dst, service),
        ..Probe::default()
    }
}

/// Feeds `probes` to a fresh 1 MiB shard; the verdicts, final extents last.
fn run(s: &Settings, probes: &[Probe]) -> (Vec<Verdict>, Shard) {
    let mut shard = Shard::with_bytes(1 << 20);
    let mut out = Vec::new();
    for p in probes {
        shard.observe(s, p, &mut |v| out.push(*v));
    }
    shard.flush(s, &mut |v| out.push(*v));
    (out, shard)
}

fn settings() -> Settings {
    Settings::compile(&Config::default()).unwrap()
}

/// The scanner's 60 unanswered probes, one a second, under hash `h`.
fn scan(s: &Settings, h: u64) -> Vec<Probe> {
    (0..60)
        .map(|i| probe(s, h, SCANNER, i, Outcome::Unanswered, i.into()))
        .collect()
}

fn names(verdicts: &[Verdict]) -> Vec<String> {
    verdicts.iter().map(|v| v.src.to_string()).collect()
}

#[test]
fn successes_from_a_colliding_address_do_not_cancel_a_scanner() {
    let s = settings();
    let h = 0x1234_5678_9abc_def1;
    // Each probe of the scanner is followed by a success of another address
    // with the same hash: merged, the walk would never leave zero.
    let mut probes = Vec::new();
    for (i, p) in scan(&s, h).into_iter().enumerate() {
        probes.push(p);
        let t = 1000 + i as u32;
        probes.push(probe(
            &s,
            h,
            "192.0.2.66",
            t,
            Outcome::Established,
            i as u64,
        ));
    }
    let (verdicts, shard) = run(&s, &probes);
    assert!(!verdicts.is_empty(), "the scanner is reported");
    assert!(
        names(&verdicts).iter().all(|n| n == SCANNER),
        "{verdicts:?}"
    );
    let last = verdicts.last().unwrap();
    assert!(last.is_final);
    assert_eq!((last.targets, last.failed, last.succeeded), (60, 60, 0));
    let mut st = Stats::default();
    shard.add_stats(&mut st);
    assert!(st.collisions >= 59, "{}", st.collisions);
}

#[test]
fn a_colliding_address_never_names_the_scanners_verdict() {
    let s = settings();
    let h = 0x0bad_cafe_0000_0101;
    // The impostor's failure comes first and takes the evidence record;
    // another comes in the middle of the scan.
    let mut probes = vec![probe(&s, h, "192.0.2.66", 5000, Outcome::Unanswered, 0)];
    let mut rest = scan(&s, h);
    rest.insert(
        30,
        probe(&s, h, "192.0.2.66", 5001, Outcome::Unanswered, 30),
    );
    probes.extend(rest);
    let (verdicts, _) = run(&s, &probes);
    assert!(!verdicts.is_empty());
    assert!(
        names(&verdicts).iter().all(|n| n == SCANNER),
        "{verdicts:?}"
    );
    let last = verdicts.last().unwrap();
    assert_eq!((last.targets, last.probes), (60, 60), "nothing merged");
}

/// A hash with the bucket bits (upper half) of `h` and fingerprint `fp`.
fn mate(h: u64, fp: u32) -> u64 {
    (h & !0xFFFF_FFFF) | u64::from(fp)
}

/// `n` spoofed sources in the buckets of `h`, one failure each, at `secs`.
fn newcomers(s: &Settings, h: u64, n: u32, secs: u64) -> Vec<Probe> {
    (0..n)
        .map(|i| {
            let src = format!("198.51.100.{}", i + 1);
            probe(
                s,
                mate(h, 500 + i),
                &src,
                3000 + i,
                Outcome::Unanswered,
                secs,
            )
        })
        .collect()
}

#[test]
fn newcomers_never_push_out_a_source_with_more_evidence() {
    let s = settings();
    let h = 0x7777_0000_0000_0001;
    let scan = scan(&s, h);
    // Two probes, then seven spoofed sources in the same two buckets with more
    // evidence than the scanner (ten failures each), then 81 spoofed newcomers
    // of one failure each, then the rest of the scan.
    let mut probes = scan[..2].to_vec();
    for m in 0..7u32 {
        for t in 0..10 {
            let src = format!("192.0.2.{}", 10 + m);
            probes.push(probe(
                &s,
                mate(h, 100 + m),
                &src,
                2000 + t,
                Outcome::Unanswered,
                2,
            ));
        }
    }
    probes.extend(newcomers(&s, h, 81, 3));
    probes.extend_from_slice(&scan[2..]);
    let (verdicts, shard) = run(&s, &probes);
    let own: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| v.src.to_string() == SCANNER)
        .collect();
    let last = own.last().expect("the scanner is reported");
    assert!(last.is_final);
    assert_eq!(last.targets, 60, "no probe of the scanner was forgotten");
    let mut st = Stats::default();
    shard.add_stats(&mut st);
    assert_eq!(st.evicted, 0, "{st:?}");
    assert_eq!(st.turned_away, 81, "{st:?}");
}

#[test]
fn a_source_with_one_failure_yields_to_a_newcomer_with_as_much() {
    // The other side of the rule: a single failure holds no place against a
    // flood of single failures, or spoofed sources would fill the table for
    // the suspect timeout and turn every new scanner away.
    let s = settings();
    let h = 0x5151_0000_0000_0001;
    let mut probes = scan(&s, h)[..1].to_vec();
    probes.extend(newcomers(&s, h, 8, 1));
    let (_, shard) = run(&s, &probes);
    let mut st = Stats::default();
    shard.add_stats(&mut st);
    assert_eq!((st.evicted, st.turned_away), (1, 0), "{st:?}");
}

/// Addresses of 45.0.0.0/8 whose TCP hash under `seed` puts both their
/// buckets among the scanner's two in a one-shard, 128 KiB detector (896
/// buckets): what an attacker who knows the seed can compute offline, about
/// 200,000 tries an address.
fn aimed(seed: u64, want: usize) -> Vec<IpAddr> {
    let s = Settings::compile(&Config {
        hash_seed: Some(seed),
        ..Config::default()
    })
    .unwrap();
    let geometry = Shard::with_bytes(128 << 10);
    let bucket = |ip: IpAddr| {
        let h = s
            .hasher
            .source(AddrKey::from(ip).bits(), 0, Protocol::Tcp.index());
        let (a, b) = geometry.table.buckets_of(h);
        [a, b]
    };
    let target = bucket(SCANNER.parse().unwrap());
    let mut out = Vec::new();
    for i in 0..1u32 << 24 {
        let ip = IpAddr::from((0x2D00_0000 + i).to_be_bytes());
        if bucket(ip).iter().all(|b| target.contains(b)) {
            out.push(ip);
            if out.len() == want {
                return out;
            }
        }
    }
    unreachable!()
}

/// The scanner's 60 probes with the attack of `aimed(1, ..)` woven in after
/// its second probe: seven sources with ten failures each fill its buckets,
/// then ten with one failure each arrive.
fn attack_events() -> Vec<Event> {
    let ev = |src: IpAddr, target: u32, secs: u64| {
        let dst = IpAddr::from([198, 18, (target >> 8) as u8, target as u8]);
        Event::new(
            Timestamp::from_secs(T0 + secs),
            src,
            dst,
            23,
            Protocol::Tcp,
            Outcome::Unanswered,
        )
    };
    let scanner: IpAddr = SCANNER.parse().unwrap();
    let spoofed = aimed(1, 17);
    let mut events: Vec<Event> = (0..2).map(|i| ev(scanner, i, i.into())).collect();
    for (m, src) in spoofed[..7].iter().enumerate() {
        events.extend((0..10).map(|t| ev(*src, 2000 + 10 * m as u32 + t, 2)));
    }
    for (n, src) in spoofed[7..].iter().enumerate() {
        events.push(ev(*src, 3000 + n as u32, 3));
    }
    events.extend((2..60).map(|i| ev(scanner, i, i.into())));
    events
}

fn detect(seed: Option<u64>, events: &[Event]) -> (Vec<Verdict>, Stats) {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&out);
    let config = Config {
        memory_bytes: 128 << 10,
        shards: 1,
        hash_seed: seed,
        ..Config::default()
    };
    let det = Detector::new(config, move |v| sink.lock().unwrap().push(*v)).unwrap();
    for e in events {
        det.observe(e).unwrap();
    }
    det.flush().unwrap();
    let stats = det.stats().unwrap();
    let verdicts = out.lock().unwrap().clone();
    (verdicts, stats)
}

fn scanner_extent(verdicts: &[Verdict]) -> Option<Verdict> {
    verdicts
        .iter()
        .rev()
        .find(|v| v.src.to_string() == SCANNER && v.is_final)
        .copied()
}

#[test]
fn an_eviction_aimed_with_the_seed_fails() {
    let events = attack_events();
    // The attack was computed for seed 1: with it, the spoofed sources do
    // land in the scanner's buckets, and are turned away.
    let (verdicts, stats) = detect(Some(1), &events);
    let v = scanner_extent(&verdicts).expect("the scanner is reported");
    assert_eq!((v.kind, v.targets), (Kind::PortSweep, 60));
    assert_eq!(stats.turned_away, 10, "{stats:?}");
    // Under other seeds the same lines are aimed at nothing. The seeds are
    // fixed, not random: in a detector this small the first-contact filter
    // takes one to three of the scanner's 60 targets for repeats under some
    // keys (3 of 1,500 random keys, counted in `Stats::duplicates`), which is
    // the filter's own error, not the eviction this test is about.
    for seed in 2..=11 {
        let (verdicts, stats) = detect(Some(seed), &events);
        let v = scanner_extent(&verdicts).expect("the scanner is reported");
        assert_eq!(v.targets, 60, "seed {seed}");
        assert_eq!(stats.turned_away, 0, "seed {seed}: {stats:?}");
    }
}
