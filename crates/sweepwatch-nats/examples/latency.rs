//! Probe-to-verdict latency through NATS JetStream: a sensor's publisher
//! and an aggregator in one process, against a running server.
//!
//! `cargo run --release -p sweepwatch-nats --example latency -- nats://127.0.0.1:4222 [SCANNERS]`
//!
//! Every 50 ms a new scanner sends five refused probes, stamped with the
//! wall clock; the time from handing its fifth (deciding) probe to the
//! publisher to the aggregator's verdict is the latency: the publisher's
//! batching (at most 100 ms), the publish, the aggregator's fetch, the
//! detector, and the verdict id's write. The aggregator's ordering window is
//! off (`--reorder-secs 0`): a window adds its own length. Use a fresh
//! server: the deployment it makes is left there.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use sweepwatch::order::Window;
use sweepwatch::{Config, Event, Outcome, Protocol, Timestamp};
use sweepwatch_nats::{AggregateOptions, Limits, Publisher, PublisherOptions, Setup};

fn main() {
    let url = std::env::args().nth(1).expect("a NATS URL");
    let n: u32 = std::env::args()
        .nth(2)
        .map_or(200, |a| a.parse().expect("a number of scanners"));
    let decided: Arc<Mutex<HashMap<IpAddr, Instant>>> = Arc::default();
    let agg = {
        let (url, decided) = (url.clone(), Arc::clone(&decided));
        std::thread::spawn(move || {
            let opts = AggregateOptions {
                url,
                name: "latency".into(),
                setup: Setup::new(8, 16 << 20),
                limits: Limits::default(),
                config: Config::default(),
                window: Window::OFF,
                checkpoint_every: Duration::from_secs(10),
                exit_when_idle: Some(Duration::from_secs(3)),
                stop: None,
            };
            sweepwatch_nats::aggregate(
                &opts,
                |v, _| {
                    decided
                        .lock()
                        .unwrap()
                        .entry(v.src)
                        .or_insert_with(Instant::now);
                },
                |w| eprintln!("warning: {w}"),
            )
            .expect("aggregate")
        })
    };
    // The aggregator takes its partitions first.
    std::thread::sleep(Duration::from_secs(2));
    let mut publisher = Publisher::connect(PublisherOptions::new(&url)).expect("connect");
    let mut sent: HashMap<IpAddr, Instant> = HashMap::new();
    for k in 0..n {
        let src = IpAddr::V4(Ipv4Addr::from(0xCB00_7100 + k)); // 203.0.113.0 on
        for i in 1..=5u8 {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let ev = Event::new(
                Timestamp::from_micros(now.as_micros() as u64),
                src,
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
                22,
                Protocol::Tcp,
                Outcome::Refused,
            );
            publisher.push(&ev);
            if i == 5 {
                sent.insert(src, Instant::now());
            }
        }
        // Batches wait at most `max_delay` (100 ms), checked at each tick.
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(10));
            publisher.tick();
        }
    }
    let stats = publisher.finish();
    let report = agg.join().expect("aggregator");
    let decided = decided.lock().unwrap();
    let mut ms: Vec<f64> = sent
        .iter()
        .filter_map(|(src, t)| decided.get(src).map(|d| (*d - *t).as_secs_f64() * 1e3))
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    assert!(!ms.is_empty(), "nothing decided: {stats:?}, {report:?}");
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{} scanners, {} decided; probe to verdict: median {:.1} ms, p99 {:.1} ms, max {:.1} ms \
         ({} events published, {} dropped; {} events aggregated)",
        n,
        ms.len(),
        at(0.5),
        at(0.99),
        at(1.0),
        stats.published,
        stats.dropped,
        report.events
    );
}
