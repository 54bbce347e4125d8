use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp};
struct Rng(u64);
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
fn workload(sources: u32, events: usize) -> Vec<Event> {
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

/// The obvious exact detector: each source's distinct (target, port) pairs in a
/// hash set plus counters, the same sequential test and thresholds. Distinct
/// hosts and ports are counted from the set when the test decides.
#[derive(Default)]
struct NaiveSource {
    pairs: HashSet<(IpAddr, u16)>,
    failed: u32,
    succeeded: u32,
    llr: f64,
    reported: bool,
}

#[derive(Default)]
struct Naive {
    sources: HashMap<IpAddr, NaiveSource>,
    verdicts: u64,
}

impl Naive {
    fn observe(&mut self, ev: &Event) {
        if ev.outcome == Outcome::Unsolicited || ev.outcome == Outcome::Attempt {
            return;
        }
        let s = self.sources.entry(ev.src).or_default();
        if !s.pairs.insert((ev.dst, ev.dst_port)) {
            return;
        }
        if ev.outcome == Outcome::Established {
            s.succeeded += 1;
            s.llr += (0.25f64).ln();
        } else {
            s.failed += 1;
            s.llr += 4f64.ln();
        }
        let (lo, hi) = ((0.01f64 / 0.99).ln(), 99f64.ln());
        if s.llr <= lo {
            s.llr = 0.0;
        }
        s.llr = s.llr.min(hi);
        if s.llr >= hi && !s.reported {
            let hosts: HashSet<IpAddr> = s.pairs.iter().map(|p| p.0).collect();
            let ports: HashSet<u16> = s.pairs.iter().map(|p| p.1).collect();
            if hosts.len().max(ports.len()) >= 5 {
                s.reported = true;
                self.verdicts += 1;
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sources: u32 = args[1].parse().unwrap();
    let scale: f64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(1.0);
    let events = workload(sources, (3 * sources as usize).max(3_000_000));
    let bytes = ((u64::from(sources) * 16 * 100 / 85 * 16 / 10) as f64 * scale) as u64;
    let bytes = bytes.max(256 << 10);
    let cfg = Config {
        memory_bytes: bytes,
        shards: 1,
        hash_seed: Some(1),
        ..Config::default()
    };
    let got = Arc::new(Mutex::new(HashSet::new()));
    let g2 = got.clone();
    let det = Detector::new(cfg, move |v| {
        g2.lock().unwrap().insert(v.src);
    })
    .unwrap();
    let t = std::time::Instant::now();
    for c in events.chunks(1024) {
        det.observe_batch(c).unwrap();
    }
    let el = t.elapsed();
    let st = det.stats().unwrap();
    let mut naive = Naive::default();
    for e in &events {
        naive.observe(e);
    }
    let got = got.lock().unwrap();
    let sc: Vec<&IpAddr> = naive
        .sources
        .iter()
        .filter(|(_, s)| s.reported)
        .map(|(a, _)| a)
        .collect();
    let hit = sc.iter().filter(|s| got.contains(**s)).count();
    for m in sc.iter().filter(|s| !got.contains(**s)) {
        println!("missed {m}");
    }
    println!("N={sources} scale={scale} B/src={:.1} used={:.1} naive={} recall={}/{} = {:.2}% evicted={} heavy={} denied={} {:.1}M ev/s",
        bytes as f64 / sources as f64, st.memory_bytes as f64 / sources as f64, naive.verdicts, hit, sc.len(), 100.0*hit as f64/sc.len() as f64, st.evicted, st.heavy, st.heavy_denied, events.len() as f64/el.as_secs_f64()/1e6);
}
