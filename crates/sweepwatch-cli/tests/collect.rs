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

/// A UDP port free on loopback now.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    collected_with(capture, version, &[])
}

/// [`collected`], with more options for softflowd.
fn collected_with(capture: &str, version: &str, more: &[&str]) -> (Vec<Value>, String) {
    let port = free_udp_port();
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
        .args(more)
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

/// What flow export keeps of a capture's verdicts, asserted: the same
/// sources, kinds and protocols, as many verdicts of each (decided, then
/// again as they grow), the final extents' counts of hosts and ports, and
/// each first decision within two hosts and two ports of the capture's.
/// Exporters give flows millisecond times (softflowd rounds each flow's
/// own), so which probe of one millisecond comes first, and so which
/// decides, may differ from the capture's microseconds, and from one
/// export of the same capture to the next.
fn assert_same(got: &[Value], want: &[Value], what: &str) {
    let count = |vs: &[Value]| -> BTreeSet<(String, usize)> {
        let keys: Vec<String> = vs
            .iter()
            .map(|v| {
                format!(
                    "{} {} {} final={}",
                    v["src"], v["kind"], v["proto"], v["final"]
                )
            })
            .collect();
        keys.iter()
            .map(|k| (k.clone(), keys.iter().filter(|x| *x == k).count()))
            .collect()
    };
    assert_eq!(count(got), count(want), "{what}: verdicts");
    let finals = |vs: &[Value]| -> BTreeSet<String> {
        vs.iter()
            .filter(|v| v["final"] == true)
            .map(|v| {
                format!(
                    "{} {} {} {} {}",
                    v["src"], v["kind"], v["proto"], v["targets"], v["ports_count"]
                )
            })
            .collect()
    };
    assert_eq!(finals(got), finals(want), "{what}: final extents");
    let first = |vs: &[Value], v: &Value| -> Option<(u64, u64)> {
        vs.iter()
            .find(|w| {
                w["final"] == false
                    && w["src"] == v["src"]
                    && w["kind"] == v["kind"]
                    && w["proto"] == v["proto"]
            })
            .map(|w| {
                (
                    w["targets"].as_u64().unwrap(),
                    w["ports_count"].as_u64().unwrap(),
                )
            })
    };
    for v in want.iter().filter(|v| v["final"] == false) {
        let (Some((t1, p1)), Some((t2, p2))) = (first(got, v), first(want, v)) else {
            continue;
        };
        assert!(
            t1.abs_diff(t2) <= 2 && p1.abs_diff(p2) <= 2,
            "{what}: decided at {t1} hosts, {p1} ports against {t2}, {p2}: {v}"
        );
    }
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
        (
            format!("{DATA}/bro-simple-scan/445_scan.pcap"),
            &["5", "9", "10"],
        ),
        (
            format!("{DATA}/bro-simple-scan/multiport_scan.pcap"),
            &["5", "9", "10"],
        ),
        (
            format!("{DATA}/bro-simple-scan/port_scan.pcap"),
            &["5", "9", "10"],
        ),
        (
            format!("{DATA}/bro-simple-scan/scan_with_zero_windows.pcap"),
            &["5", "9", "10"],
        ),
        (
            format!("{DATA}/bro-simple-scan/backscatter.trace"),
            &["5", "9", "10"],
        ),
        (
            format!("{DATA}/slips/test12-icmp-portscan.pcap"),
            &["5", "9", "10"],
        ),
    ];
    let mut verdicts = 0;
    for (capture, versions) in &captures {
        let want = detect(capture);
        verdicts += want.len();
        for v in *versions {
            let (got, summary) = collected(capture, v);
            assert!(summary.contains(", 0 malformed packets"), "{summary}");
            assert!(
                got.iter().all(|v| v.get("sampling").is_none()),
                "unsampled export: {got:?}"
            );
            // How failures split between refused and unanswered may differ
            // too: flows carry no ICMP error's port.
            assert_same(
                &got,
                &want,
                &format!("{capture} as version {v}:\n{summary}"),
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

/// The scanner's SYN probes among the packets a one-in-`n` systematic
/// sampler takes, counted by tshark: (probes, ports, hosts), where a probe
/// is a distinct (host, port) and the sampler takes the first packet of
/// every `n` (packets 1, n + 1, 2n + 1, ...). ICMP errors quoting a
/// probe are not probes.
fn sampled_syns(capture: &str, src: &str, n: u64) -> (usize, usize, usize) {
    let out = Command::new("tshark")
        .args(["-n", "-r", capture, "-T", "fields"])
        .args(["-e", "frame.number", "-e", "tcp.dstport", "-e", "ip.dst"])
        .args([
            "-Y",
            &format!("!icmp && ip.src == {src} && tcp.flags.syn == 1 && tcp.flags.ack == 0"),
        ])
        .output()
        .expect("tshark (scripts/ensure-deps.sh installs it)");
    assert!(out.status.success());
    let (mut probes, mut ports, mut hosts) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let frame: u64 = f[0].parse().unwrap();
        if (frame - 1) % n == 0 {
            probes.insert((f[2].to_string(), f[1].to_string()));
            ports.insert(f[1].to_string());
            hosts.insert(f[2].to_string());
        }
    }
    (probes.len(), ports.len(), hosts.len())
}

#[test]
fn sampled_export_says_so_in_every_verdict_and_counts_the_sampled_probes() {
    // softflowd -s 4 takes one packet in four and declares it: v5 in its
    // header, v9 as SAMPLING_INTERVAL and IPFIX as PSAMP's packet interval
    // (1) and space (3) in options records.
    let capture = format!("{REPO}/examples/data/sample.pcap");
    let (probes, ports, hosts) = sampled_syns(&capture, "203.0.113.66", 4);
    let all = sampled_syns(&capture, "203.0.113.66", 1);
    assert!(probes * 2 < all.0, "{probes} of {all:?}: a sample");
    for v in ["5", "9", "10"] {
        let (got, summary) = collected_with(&capture, v, &["-s", "4"]);
        assert!(summary.contains("sampled 1 in 4"), "version {v}: {summary}");
        assert!(!got.is_empty(), "version {v}: {summary}");
        for verdict in &got {
            assert_eq!(verdict["sampling"], 4, "version {v}: {verdict}");
        }
        let last = got
            .iter()
            .find(|x| x["final"] == true && x["src"] == "203.0.113.66")
            .unwrap_or_else(|| panic!("version {v}: no final extent: {got:?}"));
        assert_eq!(
            (
                last["probes"].as_u64(),
                last["ports_count"].as_u64(),
                last["targets"].as_u64()
            ),
            (Some(probes as u64), Some(ports as u64), Some(hosts as u64)),
            "version {v}: {last}"
        );
    }
}

/// `softflowd -r capture` as NetFlow v9 into nfdump's `nfcapd` on a
/// loopback port, then `nfdump -o csv` of what it stored.
fn through_nfdump(capture: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let store = dir.join("nfcapd");
    let _ = std::fs::remove_dir_all(&store);
    std::fs::create_dir_all(&store).unwrap();
    let port = free_udp_port();
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

/// A capture of `softflowd -r capture`'s export traffic (`version`) on the
/// loopback interface, taken by `dumpcap` (tshark's capture engine).
fn export_capture(
    capture: &str,
    version: &str,
    more: &[&str],
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let file = dir.join(format!("export-v{version}{}.pcapng", more.join("")));
    let _ = std::fs::remove_file(&file);
    // Nothing listens there: the datagrams are captured all the same.
    let port = free_udp_port();
    let mut dumpcap = Command::new("dumpcap")
        .args(["-i", "lo", "-f", &format!("udp port {port}"), "-w"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dumpcap (tshark; scripts/ensure-deps.sh installs it)");
    let mut err = BufReader::new(dumpcap.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Capturing on") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "dumpcap stopped");
    }
    // It says so as it opens the interface, a moment before packets flow.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let st = Command::new("softflowd")
        .args([
            "-r",
            capture,
            "-n",
            &format!("127.0.0.1:{port}"),
            "-v",
            version,
        ])
        .args(more)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = Command::new("kill").arg(dumpcap.id().to_string()).status();
    let _ = dumpcap.wait();
    file
}

#[test]
fn a_capture_of_export_traffic_reads_as_the_flows_it_carries() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("export");
    std::fs::create_dir_all(&dir).unwrap();
    let capture = format!("{REPO}/examples/data/sample.pcap");
    let want = detect(&capture);
    for version in ["5", "9", "10"] {
        let file = export_capture(&capture, version, &[], &dir);
        let out = Command::new(BIN)
            .args(["detect", "--json", "--seed", "1"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(err.contains("flow-export"), "{err}");
        let got = lines(&String::from_utf8(out.stdout).unwrap());
        assert_same(&got, &want, &format!("version {version}:\n{err}"));
        assert_eq!(first_ports(&got), first_ports(&want), "version {version}");
    }
    // Sampled export: each verdict says so, and the table under its rows.
    let file = export_capture(&capture, "10", &["-s", "4"], &dir);
    let out = Command::new(BIN)
        .args(["detect", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    let got = lines(&String::from_utf8(out.stdout).unwrap());
    assert!(!got.is_empty());
    assert!(got.iter().all(|v| v["sampling"] == 4), "{got:?}");
    let out = Command::new(BIN).arg("detect").arg(&file).output().unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.ends_with("counts are of sampled packets: the input declared 1 in 4\n"),
        "{table}"
    );
    // The traffic itself is no export.
    let out = Command::new(BIN)
        .args(["detect", "--json", "--seed", "1", &capture])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("pcap "));
}
