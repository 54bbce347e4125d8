//! Argus flow records (`ra -c ,`, CTU-13's `binetflow`) read by `detect`:
//! the published Slips sample, and real captures turned into Argus flows by
//! Debian's `argus` and `ra` (argus-server and argus-client, which
//! scripts/ensure-deps.sh installs), against `detect` on the capture.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sweepwatch");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn detect(args: &[&str]) -> Vec<Value> {
    let out = Command::new(BIN)
        .args(["detect", "--json", "--seed", "1"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "detect {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn slips_infected_host_s_outbound_sweeps_of_81_and_23_and_nothing_else() {
    let file = format!("{DATA}/slips/test4-malicious.binetflow");
    // The truth, from the file: 192.168.2.12's TCP flows, every one a SYN
    // that got nothing back (State REQ), by port.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut hosts: HashMap<&str, HashSet<&str>> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[2] == "tcp" && f[3] == "192.168.2.12" {
            assert_eq!(f[8], "REQ", "{line}");
            hosts.entry(f[7]).or_default().insert(f[6]);
        }
    }
    let all: HashSet<&str> = hosts.values().flatten().copied().collect();
    assert_eq!(
        (hosts["81"].len(), hosts["23"].len(), all.len()),
        (64, 45, 109)
    );

    let verdicts = detect(&[&file]);
    assert!(!verdicts.is_empty());
    let mut ports = BTreeSet::new();
    for v in &verdicts {
        // The router (192.168.2.1) and everyone else: nothing.
        assert_eq!(v["src"], "192.168.2.12", "{v}");
        assert_eq!(
            (v["kind"].as_str(), v["proto"].as_str()),
            (Some("outbound_sweep"), Some("tcp"))
        );
        for p in v["ports"].as_array().unwrap() {
            ports.insert(p.as_u64().unwrap());
        }
        // Every first contact failed; counts at most the truth, estimates
        // above 64 within the documented bound.
        let (targets, failed) = (
            v["targets"].as_u64().unwrap(),
            v["failed"].as_u64().unwrap(),
        );
        assert_eq!(v["succeeded"], 0);
        assert!(targets <= 109 && failed <= 109, "{v}");
    }
    assert_eq!(ports, BTreeSet::from([23, 81]));
    let last = verdicts.iter().find(|v| v["final"] == true).unwrap();
    assert!(last["targets"].as_u64().unwrap() >= 88, "{last}");
}

/// Argus's flows of `capture`, as `ra` prints them with `args`.
fn argus_flows(capture: &Path, args: &[&str], dir: &Path) -> PathBuf {
    let flows = dir.join("flows.argus");
    let _ = std::fs::remove_file(&flows); // argus -w appends
    let st = Command::new("argus")
        .arg("-r")
        .arg(capture)
        .arg("-w")
        .arg(&flows)
        .status()
        .expect("argus (argus-server; scripts/ensure-deps.sh installs it)");
    assert!(st.success());
    let out = Command::new("ra")
        .arg("-r")
        .arg(&flows)
        .args(args)
        .output()
        .expect("ra (argus-client; scripts/ensure-deps.sh installs it)");
    assert!(out.status.success());
    let csv = dir.join(format!("{}.csv", args.join("")));
    std::fs::write(&csv, out.stdout).unwrap();
    csv
}

/// What each verdict says of its source: source, kind, protocol, main port
/// and whether it is a final extent.
fn shape(verdicts: &[Value]) -> BTreeSet<String> {
    verdicts
        .iter()
        .map(|v| {
            format!(
                "{} {} {} {} {}",
                v["src"], v["kind"], v["proto"], v["ports"][0], v["final"]
            )
        })
        .collect()
}

fn without_unanswered(verdicts: &[Value]) -> Vec<Value> {
    verdicts
        .iter()
        .cloned()
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("unanswered");
            v
        })
        .collect()
}

#[test]
fn argus_flows_of_real_captures_give_the_capture_s_verdicts() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("argus");
    std::fs::create_dir_all(&dir).unwrap();
    let captures = [
        format!("{REPO}/examples/data/sample.pcap"),
        format!("{REPO}/tests/data/fixtures/mixed-sS-sU-PE.pcap"),
        format!("{DATA}/bro-simple-scan/445_scan.pcap"),
        format!("{DATA}/bro-simple-scan/multiport_scan.pcap"),
        format!("{DATA}/bro-simple-scan/port_scan.pcap"),
        format!("{DATA}/bro-simple-scan/scan_with_zero_windows.pcap"),
        format!("{DATA}/bro-simple-scan/backscatter.trace"),
        format!("{DATA}/slips/test12-icmp-portscan.pcap"),
    ];
    let mut decided = 0;
    for capture in &captures {
        // A capture's probes that it ends before answering are unanswered
        // here, as Argus reports them (State REQ) when the capture ends.
        let want = detect(&["--pending-unanswered", capture]);
        decided += want.len();
        // `ra -c ,` as it prints by default (times of day, service names,
        // word states), and with Unix times, numbers and TCP flags.
        for args in [&["-c", ","][..], &["-n", "-u", "-c", ",", "-Z", "b"]] {
            let flows = argus_flows(Path::new(capture), args, &dir);
            let got = detect(&[flows.to_str().unwrap()]);
            assert_eq!(shape(&got), shape(&want), "{capture} through ra {args:?}");
            if args.len() > 2 && !capture.contains("mixed") {
                // With flags, TCP and ICMP flows say what a capture does:
                // the same verdicts, count for count, but for how failures
                // split between refused and unanswered. Argus reports an
                // ICMP unreachable as a flow of its own, which names no
                // port of the probe it answers, so a probe a router
                // refused that way reads as unanswered. (UDP is left out
                // for the same reason: a port unreachable is what refuses
                // it, and one reply in mixed-sS-sU-PE is not paired.)
                assert_eq!(
                    without_unanswered(&got),
                    without_unanswered(&want),
                    "{capture} through ra {args:?}"
                );
            }
        }
    }
    // The captures hold scans (the backscatter trace none).
    assert!(decided >= 10, "{decided}");
}
