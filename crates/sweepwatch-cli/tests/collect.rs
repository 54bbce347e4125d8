//! `sweepwatch collect` against a real exporter: Debian's `softflowd`
//! replaying real captures (`-r`) as NetFlow v5, v9 and IPFIX to the
//! collector on a loopback port, compared with `detect` on the capture.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sweepwatch");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn detect(capture: &str) -> Vec<Value> {
    // A capture's probes that it ends before answering are unanswered here,
    // as an exporter reports a flow without its reverse.
    let out = Command::new(BIN)
        .args([
            "detect",
            "--json",
            "--seed",
            "1",
            "--pending-unanswered",
            capture,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    lines(&String::from_utf8(out.stdout).unwrap())
}

/// `softflowd -r capture` as NetFlow `version` into a collector; its
/// verdicts and summary.
fn collected(capture: &str, version: &str) -> (Vec<Value>, String) {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["collect", "--listen", &listen, "--json", "--seed", "1"])
        .args(["--exit-when-idle", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.contains("collecting on"), "{first}");
    let st = Command::new("softflowd")
        .args(["-r", capture, "-n", &listen, "-v", version])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("softflowd (scripts/ensure-deps.sh installs it)");
    assert!(st.success());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut summary = String::new();
    err.read_to_string(&mut summary).unwrap();
    assert!(child.wait().unwrap().success(), "{summary}");
    (lines(&out), summary)
}

/// Each verdict's source, kind, protocol, whether final, and counts of
/// hosts and ports.
fn shape(verdicts: &[Value]) -> BTreeSet<String> {
    verdicts
        .iter()
        .map(|v| {
            format!(
                "{} {} {} final={} targets={} ports={}",
                v["src"], v["kind"], v["proto"], v["final"], v["targets"], v["ports_count"]
            )
        })
        .collect()
}

/// The main port of each source's first sweep of each kind (a port scan's
/// ports are probed alike, so which it lists first is arbitrary).
fn first_ports(verdicts: &[Value]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut out = BTreeSet::new();
    for v in verdicts
        .iter()
        .filter(|v| v["final"] == false && v["kind"] != "port_scan")
    {
        if seen.insert(format!("{} {} {}", v["src"], v["kind"], v["proto"])) {
            out.insert(format!("{} {} {}", v["src"], v["kind"], v["ports"][0]));
        }
    }
    out
}

#[test]
fn softflowd_s_netflow_and_ipfix_give_the_capture_s_verdicts() {
    let captures = [
        (
            format!("{REPO}/examples/data/sample.pcap"),
            &["5", "9", "10"][..],
        ),
        (format!("{DATA}/bro-simple-scan/445_scan.pcap"), &["9"]),
        (
            format!("{DATA}/bro-simple-scan/multiport_scan.pcap"),
            &["9"],
        ),
        (format!("{DATA}/bro-simple-scan/port_scan.pcap"), &["9"]),
        (
            format!("{DATA}/bro-simple-scan/scan_with_zero_windows.pcap"),
            &["9"],
        ),
        (format!("{DATA}/bro-simple-scan/backscatter.trace"), &["9"]),
        (format!("{DATA}/slips/test12-icmp-portscan.pcap"), &["10"]),
    ];
    let mut verdicts = 0;
    for (capture, versions) in &captures {
        let want = detect(capture);
        verdicts += want.len();
        for v in *versions {
            let (got, summary) = collected(capture, v);
            assert!(summary.contains(", 0 malformed packets"), "{summary}");
            // Every source, kind, final extent and count of hosts and ports
            // as the capture gives them, and the port each was first
            // decided on. (How failures split between refused and
            // unanswered, and which probe decided, may differ: flows carry
            // millisecond times and no ICMP error's port.)
            assert_eq!(
                shape(&got),
                shape(&want),
                "{capture} as version {v}:\n{summary}"
            );
            assert_eq!(
                first_ports(&got),
                first_ports(&want),
                "{capture} as version {v}"
            );
        }
    }
    assert!(verdicts >= 10, "{verdicts}");
}

#[test]
fn a_scanner_doing_everything_at_once_ends_with_the_capture_s_extents() {
    // mixed-sS-sU-PE: 1,322 packets in 0.32 s, TCP, UDP and ICMP probes of
    // six hosts interleaved, many in one millisecond: flows lose their
    // order within it, so which kind decides first may differ; the final
    // extents (hosts and ports each protocol reached) may not.
    let capture = format!("{REPO}/tests/data/fixtures/mixed-sS-sU-PE.pcap");
    let finals = |vs: &[Value]| -> BTreeSet<String> {
        vs.iter()
            .filter(|v| v["final"] == true)
            .map(|v| {
                format!(
                    "{} {} {} {}",
                    v["src"], v["proto"], v["targets"], v["ports_count"]
                )
            })
            .collect()
    };
    let want = detect(&capture);
    assert_eq!(finals(&want).len(), 2);
    for v in ["5", "10"] {
        let (got, summary) = collected(&capture, v);
        assert_eq!(finals(&got), finals(&want), "version {v}:\n{summary}");
        let protos = |vs: &[Value]| -> BTreeSet<String> {
            vs.iter()
                .map(|v| format!("{} {}", v["src"], v["proto"]))
                .collect()
        };
        assert_eq!(protos(&got), protos(&want));
    }
}

/// `softflowd -r capture` as NetFlow v9 into nfdump's `nfcapd` on a
/// loopback port, then `nfdump -o csv` of what it stored.
fn through_nfdump(capture: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let store = dir.join("nfcapd");
    let _ = std::fs::remove_dir_all(&store);
    std::fs::create_dir_all(&store).unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nfcapd = Command::new("nfcapd")
        .args([
            "-p",
            &port.to_string(),
            "-b",
            "127.0.0.1",
            "-t",
            "3600",
            "-l",
        ])
        .arg(&store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nfcapd (nfdump; scripts/ensure-deps.sh installs it)");
    // Listening once the port is taken.
    let started = std::time::Instant::now();
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(started.elapsed().as_secs() < 20, "nfcapd did not listen");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let st = Command::new("softflowd")
        .args(["-r", capture, "-n", &format!("127.0.0.1:{port}"), "-v", "9"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    // SIGTERM: nfcapd writes its file and stops.
    let _ = Command::new("kill").arg(nfcapd.id().to_string()).status();
    assert!(nfcapd.wait().unwrap().success());
    let out = Command::new("nfdump")
        .env("TZ", "UTC")
        .arg("-R")
        .arg(&store)
        .args(["-o", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let csv = dir.join("flows.csv");
    std::fs::write(&csv, out.stdout).unwrap();
    csv
}

#[test]
fn nfcapd_s_stored_flows_read_through_nfdump_give_the_capture_s_scanners() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("nfdump");
    std::fs::create_dir_all(&dir).unwrap();
    let kinds = |vs: &[Value]| -> BTreeSet<String> {
        vs.iter()
            .map(|v| format!("{} {} {} {}", v["src"], v["kind"], v["proto"], v["final"]))
            .collect()
    };
    for capture in [
        format!("{REPO}/examples/data/sample.pcap"),
        format!("{DATA}/bro-simple-scan/445_scan.pcap"),
        format!("{DATA}/slips/test12-icmp-portscan.pcap"),
    ] {
        let want = detect(&capture);
        let csv = through_nfdump(&capture, &dir);
        let out = Command::new(BIN)
            .args(["detect", "--json", "--seed", "1"])
            .arg(&csv)
            .output()
            .unwrap();
        assert!(out.status.success());
        let got = lines(&String::from_utf8(out.stdout).unwrap());
        // The same scanners, kinds and swept ports. nfdump prints times to
        // the second, and nfcapd computes a replay's times from uptimes
        // that wrapped (some flows land 49.7 days early), so which probe
        // decides and how far an episode reaches may differ.
        assert_eq!(kinds(&got), kinds(&want), "{capture}");
        assert_eq!(first_ports(&got), first_ports(&want), "{capture}");
    }
}
