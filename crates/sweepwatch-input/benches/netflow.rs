//! The flow collector's work per record on one core: decoding export
//! packets (IPFIX, NetFlow v5), pairing records with their reverse, and
//! feeding the events to a detector.
//!
//! `cargo bench -p sweepwatch-input --bench netflow` runs it. Each message
//! holds 28 records: 14 TCP connections of 2,000 clients to 500 servers,
//! each a SYN record and its reverse (SYN-ACK, or RST for one in four).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::SocketAddr;
use sweepwatch::{Config, Detector};
use sweepwatch_input::flow::Pairer;
use sweepwatch_input::netflow::Decoder;

const RECORDS: usize = 28;
const MESSAGES: usize = 2_000;

/// A record: (src, dst, sport, dport, flags, start ms).
type Rec = (u32, u32, u16, u16, u8, u64);

/// Each connection's two records.
fn connections(n: usize) -> Vec<[Rec; 2]> {
    (0..n)
        .map(|i| {
            let client = 0x0a00_0000 + (i as u32 * 2_654_435_761 % 2_000);
            let server = 0xcb00_7100 + (i as u32 * 40_503 % 500);
            let sport = 30_000 + (i % 30_000) as u16;
            let ms = 1_700_000_000_000 + i as u64;
            let back = if i % 4 == 0 { 0x14 } else { 0x12 };
            [
                (client, server, sport, 443, 0x02, ms),
                (server, client, 443, sport, back, ms + 1),
            ]
        })
        .collect()
}

/// IPFIX messages: a template set, then data sets of RECORDS records
/// (addresses, ports, protocol, flags, packets, flowStartMilliseconds).
fn ipfix() -> Vec<Vec<u8>> {
    let fields: [(u16, u16); 8] = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (6, 1),
        (2, 4),
        (152, 8),
    ];
    let mut template = vec![0, 2, 0, (4 + 4 + 4 * fields.len()) as u8, 1, 0];
    template.extend((fields.len() as u16).to_be_bytes());
    for (id, len) in fields {
        template.extend(id.to_be_bytes());
        template.extend(len.to_be_bytes());
    }
    let message = |seq: u32, sets: &[u8]| {
        let mut m = vec![0, 10];
        m.extend(((16 + sets.len()) as u16).to_be_bytes());
        m.extend(1_700_000_100u32.to_be_bytes());
        m.extend(seq.to_be_bytes());
        m.extend(1u32.to_be_bytes());
        m.extend_from_slice(sets);
        m
    };
    let mut out = vec![message(0, &template)];
    let conns = connections(MESSAGES * RECORDS / 2);
    for (k, chunk) in conns.chunks(RECORDS / 2).enumerate() {
        let mut set = vec![1, 0, 0, 0];
        for (src, dst, sp, dp, flags, ms) in chunk.iter().flatten() {
            set.extend(src.to_be_bytes());
            set.extend(dst.to_be_bytes());
            set.extend(sp.to_be_bytes());
            set.extend(dp.to_be_bytes());
            set.extend([6, *flags]);
            set.extend(1u32.to_be_bytes());
            set.extend(ms.to_be_bytes());
        }
        let len = set.len() as u16;
        set[2..4].copy_from_slice(&len.to_be_bytes());
        out.push(message(k as u32 + 1, &set));
    }
    out
}

/// NetFlow v5 packets of RECORDS records each.
fn v5() -> Vec<Vec<u8>> {
    let conns = connections(MESSAGES * RECORDS / 2);
    conns
        .chunks(RECORDS / 2)
        .enumerate()
        .map(|(k, chunk)| {
            let mut p = vec![0, 5, 0, RECORDS as u8];
            p.extend(100_000u32.to_be_bytes());
            p.extend(1_700_000_100u32.to_be_bytes());
            p.extend(0u32.to_be_bytes());
            p.extend((k as u32 * RECORDS as u32).to_be_bytes());
            p.extend([0; 4]);
            for (src, dst, sp, dp, flags, ms) in chunk.iter().flatten() {
                let up = (100_000 - (1_700_000_100_000 - ms)) as u32;
                p.extend(src.to_be_bytes());
                p.extend(dst.to_be_bytes());
                p.extend([0; 8]);
                p.extend(1u32.to_be_bytes());
                p.extend(44u32.to_be_bytes());
                p.extend(up.to_be_bytes());
                p.extend(up.to_be_bytes());
                p.extend(sp.to_be_bytes());
                p.extend(dp.to_be_bytes());
                p.extend([0, *flags, 6, 0]);
                p.extend([0; 8]);
            }
            p
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let from: SocketAddr = "192.0.2.1:4739".parse().unwrap();
    let mut g = c.benchmark_group("collector");
    g.throughput(Throughput::Elements((MESSAGES * RECORDS) as u64));
    g.sample_size(10);
    for (name, packets) in [("ipfix", ipfix()), ("v5", v5())] {
        g.bench_function(format!("{name}_decode"), |b| {
            b.iter(|| {
                let mut d = Decoder::new();
                let mut n = 0u64;
                for p in &packets {
                    n += d.decode(from, p, &mut |_| {});
                }
                assert_eq!(n as usize, MESSAGES * RECORDS);
            });
        });
        let det = Detector::new(
            Config {
                memory_bytes: 64 << 20,
                hash_seed: Some(1),
                ..Config::default()
            },
            |_| {},
        )
        .unwrap();
        g.bench_function(format!("{name}_decode_pair_detect"), |b| {
            b.iter(|| {
                let mut d = Decoder::new();
                let mut pairer = Pairer::new(60_000_000, 1 << 20);
                let mut events = Vec::with_capacity(1024);
                for p in &packets {
                    d.decode(from, p, &mut |rec| {
                        pairer.push(rec, &mut |e| events.push(e))
                    });
                    if events.len() >= 512 {
                        det.observe_batch(&events).unwrap();
                        events.clear();
                    }
                }
                pairer.finish(&mut |e| events.push(e));
                det.observe_batch(&events).unwrap();
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
