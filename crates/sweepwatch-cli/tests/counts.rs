//! Counts an analyst can quote: within one episode of a source, no count of
//! a later verdict (or of the final extent) is below the same count of an
//! earlier one, and outcomes never exceed the probes they answer. Checked as
//! a property over random event streams and hash seeds, through the Rust
//! API, the C ABI and the command line.

#[path = "../../sweepwatch/tests/common/mod.rs"]
mod common;

use common::{Rng, T0};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngSeed, TestCaseError, TestRunner};
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::c_void;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::ptr;
use std::sync::{Arc, Mutex};
use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp};
use sweepwatch_capi::*;

/// The counts of one verdict that must never shrink within an episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    targets: u32,
    ports: u32,
    failed: u32,
    succeeded: u32,
    unanswered: u32,
    probes: u32,
}

/// The counts of a library or C ABI verdict, whose fields have the same names.
macro_rules! counts_of {
    ($v:expr) => {
        Counts {
            targets: $v.targets,
            ports: $v.ports_count,
            failed: $v.failed,
            succeeded: $v.succeeded,
            unanswered: $v.unanswered,
            probes: $v.probes,
        }
    };
}

/// A verdict as far as these tests look: whose episode, and its counts.
#[derive(Clone, Debug)]
struct Seen {
    /// Source, protocol and the episode's first probe.
    episode: String,
    counts: Counts,
    is_final: bool,
}

/// The first count that fell between two verdicts of one episode, or an
/// outcome count above the probes, in delivery order.
fn broken(verdicts: &[Seen]) -> Option<String> {
    let mut last: HashMap<&str, Counts> = HashMap::new();
    for v in verdicts {
        let c = v.counts;
        if c.failed + c.succeeded > c.probes || c.unanswered > c.failed {
            return Some(format!("outcomes above the probes: {v:?}"));
        }
        if c.targets > c.probes || c.ports > c.probes {
            return Some(format!("hosts or ports above the probes: {v:?}"));
        }
        if let Some(p) = last.get(v.episode.as_str()) {
            let pairs = [
                ("targets", p.targets, c.targets),
                ("ports_count", p.ports, c.ports),
                ("failed", p.failed, c.failed),
                ("succeeded", p.succeeded, c.succeeded),
                ("unanswered", p.unanswered, c.unanswered),
                ("probes", p.probes, c.probes),
            ];
            for (name, before, now) in pairs {
                if now < before {
                    return Some(format!(
                        "{name} fell from {before} to {now} (final: {}) in {:?}",
                        v.is_final, v.episode
                    ));
                }
            }
        }
        last.insert(&v.episode, c);
    }
    None
}

/// What one random stream is made of.
#[derive(Clone, Debug)]
struct Shape {
    /// Generator seed for the stream itself.
    seed: u64,
    /// Sources, each with its own targets, ports, answer rate and retries.
    sources: usize,
    /// Upper end of the distinct (host, port) pairs a source tries.
    max_pairs: u64,
}

/// Random shapes and hash seeds (below 2^63: the configuration file's
/// integers are signed), from a fixed generator seed so that every run tries
/// the same cases.
fn shapes() -> impl Strategy<Value = (Shape, u64)> {
    (any::<u64>(), 1usize..=3, 1u32..=12, 0..i64::MAX as u64).prop_map(
        |(seed, sources, bits, hash)| {
            (
                Shape {
                    seed,
                    sources,
                    max_pairs: 1 << bits,
                },
                hash,
            )
        },
    )
}

/// A time-ordered stream: each source tries up to `max_pairs` pairs over a
/// few hosts or many, one port or many, answered at its own rate, retries
/// some, and may fall quiet for longer than the idle timeout (a new episode).
fn stream(shape: &Shape) -> Vec<Event> {
    let mut rng = Rng(shape.seed);
    let mut events = Vec::new();
    for s in 0..shape.sources {
        let src = if rng.chance(0.3) {
            IpAddr::V4(Ipv4Addr::new(10, 9, 0, s as u8 + 1))
        } else {
            IpAddr::V4(Ipv4Addr::new(203, 0, 113, s as u8 + 1))
        };
        let pairs = 5 + rng.below(shape.max_pairs);
        let hosts = 1 + rng.below(pairs);
        let ports = 1 + pairs / hosts + rng.below(3);
        let answered = [0.0, 0.02, 0.2, 0.45][rng.below(4) as usize];
        let retry = [0.0, 0.1, 0.5][rng.below(3) as usize];
        let proto = if rng.chance(0.8) {
            Protocol::Tcp
        } else {
            Protocol::Udp
        };
        let mut t = rng.below(60_000_000);
        let mut tried: Vec<(IpAddr, u16)> = Vec::new();
        for _ in 0..pairs {
            let gap = if rng.chance(0.01) {
                8_000_000_000
            } else {
                2_000_000
            };
            t += 1_000 + rng.below(gap);
            let (dst, port) = match tried.len() {
                n if n > 0 && rng.chance(retry) => tried[rng.below(n as u64) as usize],
                _ => {
                    let h = rng.below(hosts) as u32;
                    let dst = IpAddr::V4(Ipv4Addr::from(0xC633_6400u32 + h)); // 198.51.100.0/22 and on
                    let port = (1 + rng.below(ports)) as u16;
                    tried.push((dst, port));
                    (dst, port)
                }
            };
            let outcome = if rng.chance(answered) {
                Outcome::Established
            } else if rng.chance(0.5) {
                Outcome::Refused
            } else {
                Outcome::Unanswered
            };
            let mut e = Event::new(
                Timestamp::from_micros(T0 * 1_000_000 + t),
                src,
                dst,
                port,
                proto,
                outcome,
            );
            e.src_port = 40_000 + (t % 20_000) as u16;
            events.push(e);
        }
    }
    events.sort_by_key(|e| e.ts);
    events
}

fn config(hash: u64) -> Config {
    Config {
        memory_bytes: 4 << 20,
        shards: 1 + (hash % 2) as u32,
        hash_seed: Some(hash),
        home_networks: vec!["10.0.0.0/8".into()],
        ..Config::default()
    }
}

fn rust_api(events: &[Event], hash: u64) -> Vec<Seen> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let det = Detector::new(config(hash), move |v| {
        sink.lock().unwrap().push(Seen {
            episode: format!("{} {:?} {}", v.src, v.proto, v.first_seen.as_micros()),
            counts: counts_of!(v),
            is_final: v.is_final,
        })
    })
    .unwrap();
    for e in events {
        det.observe(e).unwrap();
    }
    det.flush().unwrap();
    drop(det);
    let v = seen.lock().unwrap().clone();
    v
}

type CSink = Mutex<Vec<Seen>>;

unsafe extern "C" fn collect(user_data: *mut c_void, v: *const sw_verdict) {
    // SAFETY: user_data is the live `CSink` of `c_abi`; the verdict is valid
    // during the callback.
    let (sink, v) = unsafe { (&*user_data.cast::<CSink>(), *v) };
    sink.lock().unwrap().push(Seen {
        episode: format!("{:?} {} {}", v.src_addr, v.proto, v.first_seen_us),
        counts: counts_of!(v),
        is_final: v.is_final != 0,
    });
}

fn c_abi(events: &[Event], hash: u64) -> Vec<Seen> {
    let sink: CSink = Mutex::new(Vec::new());
    // SAFETY: the handles are used as documented, each freed once, and the
    // sink outlives the detector.
    unsafe {
        let cfg = sw_config_new();
        assert_eq!(sw_config_set_memory_bytes(cfg, 4 << 20), sw_result::Ok);
        assert_eq!(
            sw_config_set_shards(cfg, 1 + (hash % 2) as u32),
            sw_result::Ok
        );
        assert_eq!(sw_config_set_hash_seed(cfg, hash), sw_result::Ok);
        let home = c"10.0.0.0/8";
        assert_eq!(sw_config_add_home_net(cfg, home.as_ptr()), sw_result::Ok);
        let mut det = ptr::null_mut();
        let user = ptr::from_ref(&sink).cast_mut().cast();
        assert_eq!(
            sw_detector_new(cfg, Some(collect), user, &mut det),
            sw_result::Ok
        );
        sw_config_free(cfg);
        let batch: Vec<sw_event> = events.iter().map(sw_event::from).collect();
        for chunk in batch.chunks(100) {
            assert_eq!(
                sw_detector_observe_batch(det, chunk.as_ptr(), chunk.len()),
                sw_result::Ok
            );
        }
        assert_eq!(sw_detector_flush(det), sw_result::Ok);
        sw_detector_free(det);
    }
    sink.into_inner().unwrap()
}

/// The stream as a Zeek conn.log (TSV), read by `sweepwatch detect --json`.
fn cli(events: &[Event], hash: u64, name: &str) -> Vec<Seen> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("counts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.conn.log"));
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "#separator \\x09").unwrap();
    writeln!(
        f,
        "#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state"
    )
    .unwrap();
    for e in events {
        let state = match e.outcome {
            Outcome::Established => "SF",
            Outcome::Refused => "REJ",
            _ => "S0",
        };
        let proto = if e.proto == Protocol::Tcp {
            "tcp"
        } else {
            "udp"
        };
        let state = if e.proto == Protocol::Udp && e.outcome == Outcome::Refused {
            "S0"
        } else {
            state
        };
        let us = e.ts.as_micros();
        writeln!(
            f,
            "{}.{:06}\t{}\t{}\t{}\t{}\t{proto}\t{state}",
            us / 1_000_000,
            us % 1_000_000,
            e.src,
            e.src_port,
            e.dst,
            e.dst_port
        )
        .unwrap();
    }
    drop(f);
    let toml = dir.join(format!("{name}.toml"));
    std::fs::write(
        &toml,
        format!(
            "memory_bytes = {}\nshards = {}\nhash_seed = {hash}\nhome_networks = [\"10.0.0.0/8\"]\n",
            4 << 20,
            1 + hash % 2
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sweepwatch"))
        .args(["detect", "--json", "--quiet", "--config"])
        .args([&toml, &path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let n = |k: &str| v[k].as_u64().unwrap() as u32;
            Seen {
                episode: format!("{} {} {}", v["src"], v["proto"], v["first_seen"]),
                counts: Counts {
                    targets: n("targets"),
                    ports: n("ports_count"),
                    failed: n("failed"),
                    succeeded: n("succeeded"),
                    unanswered: n("unanswered"),
                    probes: n("probes"),
                },
                is_final: v["final"] == true,
            }
        })
        .collect()
}

/// Fails the case with the first count that fell, if one did.
fn holds(verdicts: &[Seen]) -> Result<(), TestCaseError> {
    match broken(verdicts) {
        None => Ok(()),
        Some(why) => Err(TestCaseError::fail(why)),
    }
}

/// `cases` cases from a fixed seed, with nothing written to disk: a failure
/// prints its minimal case.
fn fixed(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x5eed_2027),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fixed(96))]

    #[test]
    fn counts_never_shrink_within_an_episode_rust_api((shape, hash) in shapes()) {
        holds(&rust_api(&stream(&shape), hash))?;
    }
}

proptest! {
    #![proptest_config(fixed(48))]

    #[test]
    fn counts_never_shrink_within_an_episode_c_abi((shape, hash) in shapes()) {
        holds(&c_abi(&stream(&shape), hash))?;
    }
}

proptest! {
    // Each case starts the command once.
    #![proptest_config(fixed(24))]

    #[test]
    fn counts_never_shrink_within_an_episode_cli((shape, hash) in shapes()) {
        holds(&cli(&stream(&shape), hash, &format!("{:x}-{hash:x}", shape.seed)))?;
    }
}

/// The cases above are not idle: most give verdicts, and many reach counts
/// above the exact range, where estimates take over.
#[test]
fn the_random_streams_reach_estimated_counts() {
    let mut runner = TestRunner::new(fixed(96));
    let (mut reported, mut estimated) = (0, 0);
    for _ in 0..96 {
        let (shape, hash) = shapes().new_tree(&mut runner).unwrap().current();
        let v = rust_api(&stream(&shape), hash);
        reported += usize::from(!v.is_empty());
        estimated += usize::from(v.iter().any(|s| s.counts.probes > 64));
    }
    assert!(
        reported >= 48 && estimated >= 24,
        "{reported} reported, {estimated} above 64"
    );
}
