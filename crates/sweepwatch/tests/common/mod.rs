//! Event streams shaped like real scans and real benign traffic, for the tests.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp, Verdict};

/// A small deterministic generator (splitmix64): the same stream every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A public-looking IPv4 address (never RFC 1918, CGNAT or loopback).
    pub fn external(&mut self) -> IpAddr {
        loop {
            let a = Ipv4Addr::from(self.next() as u32);
            let o = a.octets();
            let private = o[0] == 10
                || o[0] == 127
                || o[0] == 0
                || o[0] >= 224
                || (o[0] == 172 && (16..32).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 100 && (64..128).contains(&o[1]));
            if !private {
                return IpAddr::V4(a);
            }
        }
    }
}

pub const T0: u64 = 1_700_000_000;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// An event at `T0 + secs`.
pub fn ev(
    secs: f64,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
    proto: Protocol,
    outcome: Outcome,
) -> Event {
    Event::new(
        Timestamp::from_secs_f64(T0 as f64 + secs),
        src,
        dst,
        port,
        proto,
        outcome,
    )
}

/// How an engine reports one source's probes: over `proto`, either as an
/// attempt at once and its outcome `delay` seconds later (`two_phase`), or as
/// the outcome alone at that time.
#[derive(Clone, Copy, Debug)]
pub struct Prober {
    pub src: IpAddr,
    pub proto: Protocol,
    pub two_phase: bool,
    pub delay: f64,
}

impl Prober {
    pub fn new(src: IpAddr, proto: Protocol, two_phase: bool, delay: f64) -> Prober {
        Prober {
            src,
            proto,
            two_phase,
            delay,
        }
    }

    /// Appends the events of one probe at `t` to `dst:port` with `outcome`.
    pub fn send(&self, out: &mut Vec<Event>, t: f64, dst: IpAddr, port: u16, outcome: Outcome) {
        if self.two_phase {
            out.push(ev(t, self.src, dst, port, self.proto, Outcome::Attempt));
        }
        out.push(ev(t + self.delay, self.src, dst, port, self.proto, outcome));
    }
}

/// Sorts by time, as an engine delivers them.
pub fn by_time(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by_key(|e| e.ts);
    events
}

/// Runs `events` through a detector with `config`; returns its verdicts.
pub fn run(config: Config, events: &[Event]) -> (Vec<Verdict>, sweepwatch::Stats) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let det = Detector::new(config, move |v| sink.lock().unwrap().push(*v)).unwrap();
    for e in events {
        det.observe(e).unwrap();
    }
    let stats = det.stats().unwrap();
    let v = seen.lock().unwrap().clone();
    (v, stats)
}

/// Runs `events` through a detector with `config` in one batch, then
/// flushes it: its verdicts, final extents last.
pub fn run_flushed(config: Config, events: &[Event]) -> Vec<Verdict> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let det = Detector::new(config, move |v| sink.lock().unwrap().push(*v)).unwrap();
    det.observe_batch(events).unwrap();
    det.flush().unwrap();
    let v = seen.lock().unwrap().clone();
    v
}

/// Benign background: home clients making successful connections to popular
/// services, with the odd refused or silent one.
pub fn background(rng: &mut Rng, out: &mut Vec<Event>, clients: u8, per_client: usize, span: f64) {
    let servers: Vec<IpAddr> = (0..300).map(|_| rng.external()).collect();
    for c in 0..clients {
        let src = v4(192, 168, 7, c.wrapping_add(1));
        for _ in 0..per_client {
            let t = rng.below((span * 1000.0) as u64) as f64 / 1000.0;
            // Popular servers are visited far more often than others.
            let s = (rng.below(300) * rng.below(300) / 300) as usize;
            let port = [443u16, 443, 443, 80, 53][rng.below(5) as usize];
            let proto = if port == 53 {
                Protocol::Udp
            } else {
                Protocol::Tcp
            };
            let outcome = if rng.chance(0.03) {
                Outcome::Unanswered
            } else {
                Outcome::Established
            };
            Prober::new(src, proto, false, 0.05).send(out, t, servers[s], port, outcome);
        }
    }
}
