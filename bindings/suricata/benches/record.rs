//! Where the plugin's time goes per EVE record, without Suricata: picking out
//! flow records (`flow_event`'s `event_type` test) on records of other
//! types, parsing flow records into detector events, and observing them.
//! Records are real Suricata EVE output: the fixtures in
//! `tests/data/fixtures/` (nmap scans, DNS, SSDP) and, when present, Slips'
//! Suricata log in `../shared/data` (alerts, DNS, HTTP and flows).
//!
//! `cargo bench --bench record` (in `bindings/suricata`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::Path;
use sweepwatch::{Config, Detector};
use sweepwatch_input::eve::eve_flow;
use sweepwatch_suricata::{flow_event, Seen};

/// Every record of the fixtures' EVE files, and of Slips' Suricata log in
/// `../shared/data` when it is there (alerts, DNS, HTTP among its flows),
/// flow records and the others apart.
fn records() -> (Vec<String>, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("tests/data/fixtures");
    let (mut flows, mut others) = (Vec::new(), Vec::new());
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".eve.json"))
        .collect();
    names.sort();
    let slips = root.join("../shared/data/slips/test6-malicious.suricata.json");
    if slips.exists() {
        names.push(slips);
    }
    for path in names {
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if line.contains("\"event_type\":\"flow\"") {
                flows.push(line.to_string());
            } else {
                others.push(line.to_string());
            }
        }
    }
    (flows, others)
}

fn record_path(c: &mut Criterion) {
    let (flows, others) = records();
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(others.len() as u64));
    g.bench_function("non_flow", |b| {
        b.iter(|| {
            for r in &others {
                black_box(flow_event(r.as_bytes(), b"", eve_flow));
            }
        })
    });
    g.throughput(Throughput::Elements(flows.len() as u64));
    g.bench_function("flow_parse", |b| {
        b.iter(|| {
            for r in &flows {
                black_box(flow_event(r.as_bytes(), b"", eve_flow));
            }
        })
    });
    let det = Detector::new(
        Config {
            memory_bytes: 1 << 20,
            shards: 1,
            hash_seed: Some(1),
            ..Config::default()
        },
        |_| {},
    )
    .unwrap();
    g.bench_function("flow_parse_and_observe", |b| {
        b.iter(|| {
            for r in &flows {
                if let Seen::Event(ev, _) = flow_event(r.as_bytes(), b"", eve_flow) {
                    let _ = det.observe(&ev);
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, record_path);
criterion_main!(benches);
