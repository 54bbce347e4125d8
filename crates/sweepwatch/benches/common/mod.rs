//! The benches' workload: many sources with a realistic skew, one in a
//! hundred scanning.

use std::net::{IpAddr, Ipv4Addr};
use sweepwatch::{Event, Outcome, Protocol, Timestamp};

pub struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `events` events from `sources` sources. Past one event each, a source's rank
/// is log-uniform (Zipf-like, exponent 1): a few sources send most events, most
/// send few. One source in a hundred scans (random targets in 64.0.0.0/2 on
/// three ports, all failing; unicast, since the detector ignores multicast
/// and reserved targets by default and the naive one would count them); the
/// rest talk to a few servers each and mostly succeed.
pub fn workload(sources: u32, events: usize) -> Vec<Event> {
    let mut rng = Rng(sources as u64);
    let servers: Vec<IpAddr> = (0..5000u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x5000_0000 + i * 7919)))
        .collect();
    let mut out = Vec::with_capacity(events);
    for i in 0..events {
        // Every source shows up at least once (the hash scatters them); after that,
        // the skew decides who talks.
        let rank = if i < sources as usize {
            i as u32
        } else {
            ((sources as f64).powf(rng.unit()) as u32).min(sources - 1)
        };
        let src = IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + rank));
        let ts = Timestamp::from_micros(1_700_000_000_000_000 + i as u64 * 50);
        let ev = if rank % 100 == 7 {
            let dst = IpAddr::V4(Ipv4Addr::from(
                (rng.next() as u32 & 0x3FFF_FFFF) | 0x4000_0000,
            ));
            let port = [22u16, 445, 3389][(rng.next() % 3) as usize];
            let outcome = if rng.unit() < 0.5 {
                Outcome::Refused
            } else {
                Outcome::Unanswered
            };
            Event::new(ts, src, dst, port, Protocol::Tcp, outcome)
        } else {
            let dst = servers[((rank as u64 * 31 + rng.next() % 4) % 5000) as usize];
            let outcome = if rng.unit() < 0.03 {
                Outcome::Refused
            } else {
                Outcome::Established
            };
            Event::new(ts, src, dst, 443, Protocol::Tcp, outcome)
        };
        out.push(ev);
    }
    out
}
