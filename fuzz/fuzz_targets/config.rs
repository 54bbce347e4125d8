//! `Config::from_toml_str`, then `Detector::new` on what parses, then a few
//! fixed events through the detector that configuration made.
//!
//! `memory_bytes` is clamped to 1 MiB (values under the 128 KiB minimum are
//! kept, to reach the error) and `shards` to what that memory allows, so the
//! fuzzer does not allocate gigabytes; an absent `hash_seed` is fixed so that
//! runs are reproducible. Every other field is used as parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};
use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp};

const MAX_MEMORY: u64 = 1 << 20;
const MIN_SHARD: u64 = 128 << 10;

fn events() -> Vec<Event> {
    let scanner = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    let t0 = 1_700_000_000;
    let mut out = Vec::new();
    // A sweep of port 22 over 12 hosts, a scan of 12 ports of one host, a
    // UDP reply from port 53, an answered contact and an ICMP echo.
    for i in 0..12u8 {
        let dst = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10 + i));
        let ts = Timestamp::from_secs(t0 + u64::from(i));
        out.push(Event::new(
            ts,
            scanner,
            dst,
            22,
            Protocol::Tcp,
            Outcome::Refused,
        ));
    }
    let host = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
    for p in 0..12u16 {
        let ts = Timestamp::from_secs(t0 + 20 + u64::from(p));
        let ev = Event::new(
            ts,
            scanner,
            host,
            1000 + p,
            Protocol::Tcp,
            Outcome::Unanswered,
        );
        out.push(ev);
    }
    let ts = Timestamp::from_secs(t0 + 40);
    let mut dns = Event::new(ts, scanner, host, 40000, Protocol::Udp, Outcome::Attempt);
    dns.src_port = 53;
    out.push(dns);
    out.push(Event::new(
        ts,
        host,
        scanner,
        443,
        Protocol::Tcp,
        Outcome::Established,
    ));
    out.push(Event::new(
        ts,
        scanner,
        host,
        0,
        Protocol::Icmp,
        Outcome::Unanswered,
    ));
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(mut cfg) = Config::from_toml_str(&text) else {
        return;
    };
    cfg.memory_bytes = cfg.memory_bytes.min(MAX_MEMORY);
    if cfg.shards > 0 {
        let most = (cfg.memory_bytes / MIN_SHARD).max(1);
        cfg.shards = cfg.shards.min(u32::try_from(most).unwrap_or(u32::MAX));
    }
    cfg.hash_seed = Some(cfg.hash_seed.unwrap_or(0x5eed));
    let Ok(det) = Detector::new(cfg, |_| {}) else {
        return;
    };
    for ev in events() {
        det.observe(&ev).expect("observe outside a callback");
    }
    det.flush().expect("flush outside a callback");
    det.stats().expect("stats outside a callback");
});
