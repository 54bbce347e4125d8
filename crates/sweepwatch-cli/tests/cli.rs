//! The `sweepwatch detect` command end to end, on real captures and logs: the
//! verdicts it prints, its errors and its exit codes.
//!
//! Real data sits in `../shared/data` (see its README for sources and licences);
//! tests that need it skip with a note when it is absent.

use serde_json::Value;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

/// A data file, or `None` (with a note) when the shared data is absent.
fn data(rel: &str) -> Option<PathBuf> {
    let p = Path::new(DATA).join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is absent", p.display());
        None
    }
}

/// A fresh path for a file this test writes.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sweepwatch"))
        .args(args)
        .output()
        .expect("run sweepwatch")
}

/// The verdicts as decided (final extents left out).
fn detect_json(extra: &[&str], inputs: &[&Path]) -> (Output, Vec<Value>) {
    let (out, all) = detect_json_all(extra, inputs);
    let decided = all.into_iter().filter(|v| v["final"] == false).collect();
    (out, decided)
}

/// Every JSON line: verdicts as decided, then final extents.
fn detect_json_all(extra: &[&str], inputs: &[&Path]) -> (Output, Vec<Value>) {
    let mut args: Vec<std::ffi::OsString> = vec!["detect".into(), "--json".into()];
    args.extend(extra.iter().map(Into::into));
    args.extend(inputs.iter().map(|p| p.as_os_str().to_owned()));
    let out = run(&args);
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let verdicts = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (out, verdicts)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn ports(v: &Value) -> Vec<u64> {
    v["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect()
}

fn sample(v: &Value) -> Vec<IpAddr> {
    v["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().parse().unwrap())
        .collect()
}

fn from<'a>(verdicts: &'a [Value], src: &str) -> Vec<&'a Value> {
    verdicts.iter().filter(|v| s(v, "src") == src).collect()
}

/// Checks the fields every verdict has, whatever its data.
fn check_contract(v: &Value) {
    const KEYS: [&str; 17] = [
        "kind",
        "src",
        "direction",
        "proto",
        "ports",
        "targets",
        "ports_count",
        "failed",
        "succeeded",
        "unanswered",
        "probes",
        "first_seen",
        "ts",
        "sample",
        "score",
        "technique",
        "final",
    ];
    let obj = v.as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    for k in KEYS {
        assert!(keys.contains(&k), "{k} missing from {v}");
    }
    assert!(["port_sweep", "port_scan", "outbound_sweep", "icmp_sweep"].contains(&s(v, "kind")));
    assert!(["outbound", "inbound", "internal", "external"].contains(&s(v, "direction")));
    s(v, "src").parse::<IpAddr>().unwrap();
    for t in ["first_seen", "ts"] {
        let ts = s(v, t);
        // RFC 3339, UTC, microseconds: 2021-06-06T14:38:55.855844Z
        assert_eq!(ts.len(), 27, "{ts}");
        assert!(
            ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.',
            "{ts}"
        );
    }
    // Same format, so text order is time order (first_seen has second resolution).
    assert!(s(v, "first_seen")[..19] <= s(v, "ts")[..19], "{v}");
    assert!(n(v, "unanswered") <= n(v, "failed"));
    assert!(v["score"].as_f64().unwrap() > 0.0);
    assert!(!sample(v).is_empty());
}

/// 10.0.2.112 completes 18 of its 29 TCP first contacts and leaves 11 unanswered
/// (S0, to port 80 mostly), interleaved with the successes: counted with
/// `awk -F'\t' '$3=="10.0.2.112" && $7=="tcp"'` over distinct (host, port),
/// first record of each. Most of its attempts succeed, so the sequential test
/// never leans four net failures towards "scanner": it is not reported, and
/// nothing else in the log is.
#[test]
fn horizontal_conn_log_mostly_succeeds_and_is_not_reported() {
    let Some(log) = data("slips/port-scans-horizontal/conn.log") else {
        return;
    };
    let (out, verdicts) = detect_json(&[], &[&log]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(verdicts.is_empty(), "{verdicts:?}");
    assert!(stderr(&out).contains("verdicts: none"), "{}", stderr(&out));
}

#[test]
fn vertical_conn_log_gives_a_port_scan() {
    let Some(log) = data("slips/port-scans-vertical/conn.log") else {
        return;
    };
    let (out, verdicts) = detect_json(&[], &[&log]);
    assert!(out.status.success(), "{}", stderr(&out));
    verdicts.iter().for_each(check_contract);
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    let v = &verdicts[0];
    assert_eq!((s(v, "kind"), s(v, "src")), ("port_scan", "192.168.1.9"));
    assert_eq!(s(v, "direction"), "outbound");
    assert_eq!(s(v, "proto"), "tcp");
    assert_eq!(sample(v), vec!["45.33.32.156".parse::<IpAddr>().unwrap()]);
    assert_eq!(s(v, "technique"), "syn");
    // Two successes come first (185.199.110.133:443, 45.33.32.156:80), so
    // the walk decides at the sixth refused port of 45.33.32.156.
    assert_eq!((n(v, "ports_count"), n(v, "targets")), (6, 1), "{v}");
}

/// The final extent of the vertical scan. Counted over 192.168.1.9's TCP
/// records sorted by `ts` (`python3`, `json.loads` per line): from its first
/// failed first contact on (the third record) it probes 44 distinct
/// (host, port) pairs, all on 45.33.32.156; one of them, port 80, it had
/// already probed before, so 43 are first contacts. Of those, 42 are refused
/// (REJ; port 443 is refused twice) and port 22 is answered (RSTO, `ShAR`).
#[test]
fn the_final_extent_is_the_whole_scan() {
    let Some(log) = data("slips/port-scans-vertical/conn.log") else {
        return;
    };
    let (out, all) = detect_json_all(&[], &[&log]);
    assert!(out.status.success(), "{}", stderr(&out));
    all.iter().for_each(check_contract);
    let finals: Vec<&Value> = all.iter().filter(|v| v["final"] == true).collect();
    assert_eq!(finals.len(), 1, "{all:?}");
    let f = finals[0];
    assert_eq!((s(f, "kind"), s(f, "src")), ("port_scan", "192.168.1.9"));
    assert_eq!(
        (n(f, "targets"), n(f, "ports_count"), n(f, "probes")),
        (1, 43, 43),
        "{f}"
    );
    assert_eq!((n(f, "failed"), n(f, "succeeded")), (42, 1), "{f}");
    assert!(
        stderr(&out).contains("final extents: 1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn eve_gives_port_scans_of_the_honeypot() {
    let Some(eve) = data("slips/test6-malicious.suricata.json") else {
        return;
    };
    let (out, verdicts) = detect_json(&[], &[&eve]);
    assert!(out.status.success(), "{}", stderr(&out));
    verdicts.iter().for_each(check_contract);
    let honeypot: IpAddr = "192.168.1.129".parse().unwrap();
    // 193.46.255.92 scans the honeypot's TCP ports from outside.
    let mine = from(&verdicts, "193.46.255.92");
    assert!(!mine.is_empty(), "no verdict for 193.46.255.92");
    for v in mine {
        assert_eq!(
            (s(v, "kind"), s(v, "direction"), s(v, "proto")),
            ("port_scan", "inbound", "tcp")
        );
        assert_eq!(sample(v), vec![honeypot]);
        assert_eq!(n(v, "targets"), 1);
    }
    // 192.168.1.132 is a UPnP device: its flows are SSDP replies from UDP 1900
    // to the honeypot's ephemeral ports, answering M-SEARCHes sent to
    // multicast. Replies, not probes.
    assert!(from(&verdicts, "192.168.1.132").is_empty(), "{verdicts:?}");
    // Every inbound scan aims at the honeypot.
    for v in verdicts.iter().filter(|v| s(v, "direction") == "inbound") {
        assert_eq!(s(v, "kind"), "port_scan", "{v}");
        assert!(sample(v).contains(&honeypot), "{v}");
    }
    // With --seed, two runs print exactly the same.
    let seeded = |seed: &str| {
        run(&[
            Path::new("detect"),
            Path::new("--json"),
            Path::new("--seed"),
            Path::new(seed),
            eve.as_path(),
        ])
        .stdout
    };
    assert_eq!(seeded("5"), seeded("5"));
}

/// The bro-simple-scan tests: what its notice.log says about each capture.
struct Notice {
    scanner: String,
    port: Option<u64>,
    kind: &'static str,
    local: bool,
    /// The row's `src`, `p`, `note` and `sub` as written.
    cols: [String; 4],
}

fn notice(rel: &str) -> Option<Notice> {
    let text = std::fs::read_to_string(data(rel)?).unwrap();
    let line = text.lines().next()?;
    let f: Vec<&str> = line.split('\t').collect();
    Some(Notice {
        scanner: f[0].to_string(),
        port: f[1].parse().ok(),
        kind: match f[2] {
            "Scan::Address_Scan" => "port_sweep",
            "Scan::Port_Scan" => "port_scan",
            other => panic!("unknown notice {other}"),
        },
        local: f[4] == "local",
        cols: [f[0], f[1], f[2], f[4]].map(str::to_string),
    })
}

/// Our notice.log of `path` in Zeek's tab-separated form, as `(src, p, note,
/// sub)` of each row, after checking the header and every row's width.
fn notice_tsv(extra: &[&str], path: &Path) -> Vec<[String; 4]> {
    let mut args: Vec<std::ffi::OsString> =
        vec!["detect".into(), "--format".into(), "notice".into()];
    args.extend(extra.iter().map(Into::into));
    args.push(path.as_os_str().to_owned());
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#separator \\x09");
    assert!(lines.contains(&"#path\tnotice"), "{text}");
    assert!(lines.last().unwrap().starts_with("#close\t"), "{text}");
    let fields: Vec<&str> = lines
        .iter()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .expect("a #fields line")
        .split('\t')
        .collect();
    let types = lines
        .iter()
        .find_map(|l| l.strip_prefix("#types\t"))
        .unwrap();
    assert_eq!(types.split('\t').count(), fields.len());
    let col = |name: &str| fields.iter().position(|f| *f == name).unwrap();
    lines
        .iter()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let row: Vec<&str> = l.split('\t').collect();
            assert_eq!(row.len(), fields.len(), "{l}");
            ["src", "p", "note", "sub"].map(|f| row[col(f)].to_string())
        })
        .collect()
}

/// The same from the notice.log's JSON form (`p` absent is `-`).
fn notice_json(extra: &[&str], path: &Path) -> Vec<[String; 4]> {
    let mut args: Vec<std::ffi::OsString> =
        vec!["detect".into(), "--format".into(), "notice-json".into()];
    args.extend(extra.iter().map(Into::into));
    args.push(path.as_os_str().to_owned());
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(
                v["ts"].is_f64() && v["n"].is_u64() && v["msg"].is_string(),
                "{l}"
            );
            let p = v.get("p").map_or("-".to_string(), |p| p.to_string());
            [
                s(&v, "src").to_string(),
                p,
                s(&v, "note").to_string(),
                s(&v, "sub").to_string(),
            ]
        })
        .collect()
}

/// Checks sweepwatch's verdict on `pcap` against bro-simple-scan's notice;
/// `extra` adds options (`--pending-unanswered` for captures that hold the
/// probes alone).
fn check_capture(pcap: &str, notice_log: &str, home: &[&str], extra: &[&str]) {
    let Some(path) = data(pcap) else { return };
    let Some(want) = notice(notice_log) else {
        return;
    };
    let mut extra = [&["--min-targets", "5"][..], extra].concat();
    for h in home {
        extra.extend(["--home-net", h]);
    }
    let (out, verdicts) = detect_json(&extra, &[&path]);
    assert!(out.status.success(), "{pcap}: {}", stderr(&out));
    verdicts.iter().for_each(check_contract);
    // One verdict per suppression period: a scan that pauses longer than that
    // may be reported again, but only this scanner, as this kind.
    assert!(!verdicts.is_empty(), "{pcap}: no verdict");
    assert!(
        verdicts
            .iter()
            .all(|v| s(v, "src") == want.scanner && s(v, "kind") == want.kind),
        "{pcap}: {verdicts:?}"
    );
    let v = &verdicts[0];
    assert_eq!(s(v, "src"), want.scanner, "{pcap}");
    assert_eq!(s(v, "kind"), want.kind, "{pcap}");
    assert_eq!(s(v, "proto"), "tcp", "{pcap}");
    if let Some(port) = want.port {
        assert_eq!(ports(v), vec![port], "{pcap}");
    }
    let direction = s(v, "direction");
    if want.local {
        // A local scanner: its targets may be home (internal) or not (outbound).
        assert!(
            direction == "internal" || direction == "outbound",
            "{pcap}: {direction}"
        );
    } else {
        assert_eq!(direction, "inbound", "{pcap}");
    }
    assert!(n(v, "targets").max(n(v, "ports_count")) >= 5, "{pcap}: {v}");

    // As Zeek's notice.log, in both its forms: the same scanner, note, port
    // and locality as bro-simple-scan's own notice, on every row.
    for rows in [notice_tsv(&extra, &path), notice_json(&extra, &path)] {
        assert_eq!(rows.len(), verdicts.len(), "{pcap}: one notice per verdict");
        for row in rows {
            assert_eq!(row, want.cols, "{pcap}");
        }
    }
}

#[test]
fn capture_445_scan() {
    check_capture(
        "bro-simple-scan/445_scan.pcap",
        "bro-simple-scan/test_445_scan.notice.log",
        &["192.168.0.0/16", "10.10.0.0/16"],
        &[],
    );
}

#[test]
fn capture_multiport_scan() {
    check_capture(
        "bro-simple-scan/multiport_scan.pcap",
        "bro-simple-scan/test_mutiport_scan.notice.log",
        &["192.168.0.0/16", "10.10.0.0/16"],
        &[],
    );
}

/// A capture that holds the probes alone gives no verdict: every probe is
/// still within its answer window when it ends, so no outcome is known. The
/// summary counts them; `--pending-unanswered` reports them unanswered.
fn probes_alone(pcap: &str, home: &str, probes: u64) {
    let Some(path) = data(pcap) else { return };
    let (out, verdicts) = detect_json(&["--min-targets", "5", "--home-net", home], &[&path]);
    assert!(out.status.success(), "{pcap}: {}", stderr(&out));
    assert!(verdicts.is_empty(), "{pcap}: {verdicts:?}");
    let err = stderr(&out);
    assert_eq!(
        summary_count(&err, "within their answer window at the end"),
        probes,
        "{err}"
    );
}

// Both captures hold ten SYNs of one source within 0.2 ms and nothing else:
//   tshark -r X.pcap -T fields -e frame.time_relative -e tcp.flags.str
#[test]
fn capture_port_scan() {
    probes_alone("bro-simple-scan/port_scan.pcap", "192.168.2.22/32", 10);
    check_capture(
        "bro-simple-scan/port_scan.pcap",
        "bro-simple-scan/test_port_scan.notice.log",
        &["192.168.2.22/32"],
        &["--pending-unanswered"],
    );
}

#[test]
fn capture_scan_with_zero_windows() {
    probes_alone(
        "bro-simple-scan/scan_with_zero_windows.pcap",
        "10.0.0.0/24",
        10,
    );
    check_capture(
        "bro-simple-scan/scan_with_zero_windows.pcap",
        "bro-simple-scan/test_port_scan_with_zero_windows.notice.log",
        &["10.0.0.0/24"],
        &["--pending-unanswered"],
    );
}

#[test]
fn icmp_echo_sweep_capture() {
    let Some(pcap) = data("slips/test12-icmp-portscan.pcap") else {
        return;
    };
    // The capture lasts 1.6 s, less than the 5 s an echo request waits, so
    // the 14 requests no target answered (by identifier) have no outcome:
    //   tshark -r X -Y 'icmp.type==8' -T fields -e ip.dst -e icmp.ident
    //   tshark -r X -Y 'icmp.type==0' -T fields -e ip.src -e icmp.ident
    // give 25 requests and 12 replies, 11 from the target of a request with
    // their identifier.
    let (out, verdicts) = detect_json(&[], &[&pcap]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(verdicts.is_empty(), "{verdicts:?}");
    let err = stderr(&out);
    assert_eq!(
        summary_count(&err, "within their answer window at the end"),
        14,
        "{err}"
    );
    let (out, verdicts) = detect_json(&["--pending-unanswered"], &[&pcap]);
    assert!(out.status.success(), "{}", stderr(&out));
    verdicts.iter().for_each(check_contract);
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    let v = &verdicts[0];
    assert_eq!((s(v, "kind"), s(v, "proto")), ("icmp_sweep", "icmp"));
    assert_eq!(ports(v), vec![0]);
    assert!(n(v, "targets") >= 5 && n(v, "unanswered") >= 4, "{v}");
}

/// The number after `label` in the summary on standard error.
fn summary_count(err: &str, label: &str) -> u64 {
    let at = err
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in {err}"))
        + label.len();
    let digits: String = err[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no count after `{label}` in {err}"))
}

#[test]
fn backscatter_gives_no_verdict() {
    let Some(trace) = data("bro-simple-scan/backscatter.trace") else {
        return;
    };
    let (out, verdicts) = detect_json(
        &["--min-targets", "5", "--home-net", "192.150.0.0/16"],
        &[&trace],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(verdicts.is_empty(), "{verdicts:?}");
    // Not silence for want of input: the replies were read and recognised.
    let err = stderr(&out);
    assert!(summary_count(&err, "unsolicited replies") > 1000, "{err}");
}

fn gzip(src: &Path, name: &str) -> PathBuf {
    let dst = scratch(name);
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&dst).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&std::fs::read(src).unwrap()).unwrap();
    gz.finish().unwrap();
    dst
}

#[test]
fn gzip_input_reads_like_plain() {
    let Some(log) = data("slips/port-scans-vertical/conn.log") else {
        return;
    };
    // A misleading name: the format is recognised from the content.
    let gz = gzip(&log, "vertical.txt");
    let (plain_out, plain) = detect_json(&[], &[&log]);
    let (gz_out, packed) = detect_json(&[], &[&gz]);
    assert!(gz_out.status.success(), "{}", stderr(&gz_out));
    assert!(!plain.is_empty());
    assert_eq!(packed, plain);
    assert!(
        stderr(&gz_out).contains("zeek-json+gz"),
        "{}",
        stderr(&gz_out)
    );
    assert_eq!(
        summary_count(&stderr(&gz_out), "zeek-json+gz"),
        summary_count(&stderr(&plain_out), "zeek-json")
    );
    let Some(pcap) = data("bro-simple-scan/port_scan.pcap") else {
        return;
    };
    let gz = gzip(&pcap, "port_scan.pcap.gz");
    let opts = ["--home-net", "192.168.2.22/32", "--pending-unanswered"];
    let (out, verdicts) = detect_json(&opts, &[&gz]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(verdicts.len(), 1, "{}", stderr(&out));
    assert_eq!(s(&verdicts[0], "src"), "192.168.2.154");
}

#[test]
fn zstd_input_reads_like_plain() {
    let Some(pcap) = data("bro-simple-scan/port_scan.pcap") else {
        return;
    };
    let raw = std::fs::read(&pcap).unwrap();
    let packed =
        ruzstd::encoding::compress_to_vec(&raw[..], ruzstd::encoding::CompressionLevel::Fastest);
    // A misleading name: the format is recognised from the content.
    let zst = scratch("port_scan.bin");
    std::fs::write(&zst, &packed).unwrap();
    let opts = ["--home-net", "192.168.2.22/32", "--pending-unanswered"];
    let (_, plain) = detect_json(&opts, &[&pcap]);
    assert_eq!(plain.len(), 1);
    let (out, verdicts) = detect_json(&opts, &[&zst]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(verdicts, plain);
    assert!(stderr(&out).contains("pcap+zst"), "{}", stderr(&out));
    // Cut short: the input's error, naming the file, and exit 1.
    let cut = scratch("cut.pcap.zst");
    std::fs::write(&cut, &packed[..packed.len() / 2]).unwrap();
    let out = run(&[Path::new("detect"), cut.as_path()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&*cut.to_string_lossy()),
        "{}",
        stderr(&out)
    );
}

/// `src` compressed by the real `tool` (xz or bzip2) as two streams, one
/// per half of the file, concatenated as `cat a.xz b.xz` makes them.
fn packed_by(tool: &str, src: &Path, name: &str) -> Vec<u8> {
    let raw = std::fs::read(src).unwrap();
    let (a, b) = raw.split_at(raw.len() / 2);
    let mut packed = Vec::new();
    for (i, half) in [a, b].iter().enumerate() {
        let part = scratch(&format!("{name}.{i}"));
        std::fs::write(&part, half).unwrap();
        let out = std::process::Command::new(tool)
            .args(["-c", "-k"])
            .arg(&part)
            .output()
            .unwrap_or_else(|e| panic!("{tool} (Debian: xz-utils, bzip2): {e}"));
        assert!(out.status.success(), "{tool}: {out:?}");
        packed.extend(out.stdout);
    }
    packed
}

/// A capture and a Zeek log packed by the real xz and bzip2, in two streams
/// each, read as the plain files are; cut short, an error naming the file.
#[test]
fn xz_and_bzip2_inputs_read_like_plain() {
    let (Some(pcap), Some(log)) = (
        data("bro-simple-scan/port_scan.pcap"),
        data("slips/port-scans-vertical/conn.log"),
    ) else {
        return;
    };
    let opts = ["--home-net", "192.168.2.22/32", "--pending-unanswered"];
    let (_, plain_pcap) = detect_json(&opts, &[&pcap]);
    assert_eq!(plain_pcap.len(), 1);
    let (_, plain_log) = detect_json(&[], &[&log]);
    assert!(!plain_log.is_empty());
    for (tool, suffix) in [("xz", "xz"), ("bzip2", "bz2")] {
        // Misleading names: the format is recognised from the content.
        let packed = scratch(&format!("port_scan.{suffix}.bin"));
        std::fs::write(&packed, packed_by(tool, &pcap, &format!("pcap-{suffix}"))).unwrap();
        let (out, verdicts) = detect_json(&opts, &[&packed]);
        assert!(out.status.success(), "{tool}: {}", stderr(&out));
        assert_eq!(verdicts, plain_pcap, "{tool}");
        assert!(
            stderr(&out).contains(&format!("pcap+{suffix}")),
            "{}",
            stderr(&out)
        );
        let packed_log = scratch(&format!("vertical.{suffix}.txt"));
        std::fs::write(&packed_log, packed_by(tool, &log, &format!("log-{suffix}"))).unwrap();
        let (out, verdicts) = detect_json(&[], &[&packed_log]);
        assert!(out.status.success(), "{tool}: {}", stderr(&out));
        assert_eq!(verdicts, plain_log, "{tool}");
        // Cut short: the input's error, naming the file and the codec, exit 1.
        let bytes = std::fs::read(&packed).unwrap();
        let cut = scratch(&format!("cut.pcap.{suffix}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
        let out = run(&[Path::new("detect"), Path::new("-q"), cut.as_path()]);
        assert_eq!(out.status.code(), Some(1), "{tool}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&*cut.to_string_lossy()) && err.contains(tool),
            "{err}"
        );
    }
}

/// An xz stream whose dictionary would take 385 MiB to unpack (made by
/// `xz --lzma2=preset=0,dict=300MiB`, which xz rounds up to 384 MiB) is
/// refused with the limit in words, not unpacked into the machine's memory.
#[test]
fn an_xz_stream_over_the_memory_limit_is_refused() {
    let text = scratch("big-dict.txt");
    std::fs::write(&text, "{\"event_type\":\"flow\"}\n").unwrap();
    let out = std::process::Command::new("xz")
        .args(["-c", "-k", "--lzma2=preset=0,dict=300MiB"])
        .arg(&text)
        .output()
        .expect("xz (Debian: xz-utils)");
    assert!(out.status.success(), "{out:?}");
    let packed = scratch("big-dict.xz");
    std::fs::write(&packed, &out.stdout).unwrap();
    let out = run(&[Path::new("detect"), Path::new("-q"), packed.as_path()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("bad xz data: the stream needs more than 256 MiB of memory to unpack"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_capture_of_a_link_type_not_decoded_is_an_error_not_silence() {
    // A classic pcap of three IEEE 802.11 frames (link type 105).
    let mut b = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    for w in [0u32, 0, 65_535, 105] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    for i in 0..3u32 {
        for w in [1_700_000_000 + i, 0, 24, 24] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(&[0x08; 24]);
    }
    let wifi = scratch("wifi.pcap");
    std::fs::write(&wifi, &b).unwrap();
    let out = run(&[Path::new("detect"), wifi.as_path()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&*wifi.to_string_lossy())
            && err.contains("link type 105 (IEEE 802.11) is not supported"),
        "{err}"
    );
}

#[test]
fn unknown_format_and_missing_file_exit_1_naming_the_file() {
    let junk = scratch("notes.txt");
    std::fs::write(&junk, "just some text\nthat is no log\n").unwrap();
    let out = run(&[Path::new("detect"), junk.as_path()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&*junk.to_string_lossy()) && err.contains("unknown format"),
        "{err}"
    );

    let missing = scratch("no-such-file.pcap");
    let _ = std::fs::remove_file(&missing);
    let out = run(&[Path::new("detect"), missing.as_path()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&*missing.to_string_lossy()),
        "{}",
        stderr(&out)
    );

    // The other inputs are still read, and their verdicts printed.
    let Some(log) = data("slips/port-scans-vertical/conn.log") else {
        return;
    };
    let (out, verdicts) = detect_json(&[], &[&missing, &junk, &log]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(verdicts.len(), 1);
    assert_eq!(s(&verdicts[0], "src"), "192.168.1.9");
}

#[test]
fn corrupt_json_line_is_skipped_and_counted() {
    let Some(log) = data("slips/port-scans-vertical/conn.log") else {
        return;
    };
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[2].truncate(30);
    let broken = scratch("vertical-broken.log");
    std::fs::write(&broken, lines.join("\n")).unwrap();
    let (out, verdicts) = detect_json(&[], &[&broken]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:3: ", broken.display())), "{err}");
    // The summary row: records, skipped, malformed.
    let row = err.lines().find(|l| l.contains("zeek-json")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2..5], [&*lines.len().to_string(), "1", "1"], "{row}");
    assert_eq!(verdicts.len(), 1);
    assert_eq!(s(&verdicts[0], "kind"), "port_scan");
}

#[test]
fn truncated_capture_warns_with_the_offset() {
    let Some(pcap) = data("bro-simple-scan/port_scan.pcap") else {
        return;
    };
    let bytes = std::fs::read(&pcap).unwrap();
    let cut = scratch("port_scan-cut.pcap");
    // Cut inside the last packet record.
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let out = run(&[Path::new("detect"), Path::new("--quiet"), cut.as_path()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let warning = err
        .lines()
        .find(|l| l.contains("truncated"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(warning.contains(&*cut.to_string_lossy()), "{warning}");
    assert!(warning.contains("byte "), "{warning}");
    let offset = summary_count(warning, "byte");
    assert!(offset > 24 && offset < bytes.len() as u64, "{warning}");
    // The cut record is also reported as malformed, at the same offset.
    let malformed = format!(
        "{}: byte {offset}: record cut short by the end of the capture",
        cut.display()
    );
    assert!(err.lines().any(|l| l == malformed), "{err}");
}

/// A little-endian classic pcap of bare IPv4 packets (LINKTYPE_IPV4), all at
/// one time.
fn ipv4_pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&228u32.to_le_bytes());
    for p in packets {
        for field in [1_700_000_000, 0, p.len() as u32, p.len() as u32] {
            v.extend_from_slice(&field.to_le_bytes());
        }
        v.extend_from_slice(p);
    }
    v
}

/// A TCP SYN from 203.0.113.5 to 192.0.2.1:`dport`, 40 bytes.
fn syn(dport: u16) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 203, 0, 113, 5, 192, 0, 2, 1,
    ];
    p.extend_from_slice(&40000u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 4, 0, 0, 0, 0, 0]);
    p
}

#[test]
fn malformed_packets_are_reported_with_their_offsets() {
    // A SYN, then a packet whose TCP header is cut short (at byte 24 + 56),
    // then eight that are no IPv4: five shown, the rest counted.
    let mut packets = vec![syn(22), syn(23)[..30].to_vec()];
    packets.extend(std::iter::repeat_n(vec![0x60; 20], 8));
    let cap = scratch("malformed-packets.pcap");
    std::fs::write(&cap, ipv4_pcap(&packets)).unwrap();
    let out = run(&[Path::new("detect"), cap.as_path()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let name = cap.display();
    let shown: Vec<&str> = err.lines().filter(|l| l.contains(": byte ")).collect();
    assert_eq!(
        shown,
        [
            format!("{name}: byte 80: TCP header cut short"),
            format!("{name}: byte 126: IPv4 packet of another IP version"),
            format!("{name}: byte 162: IPv4 packet of another IP version"),
            format!("{name}: byte 198: IPv4 packet of another IP version"),
            format!("{name}: byte 234: IPv4 packet of another IP version"),
        ],
        "{err}"
    );
    assert!(
        err.contains(&format!("{name}: 4 more malformed records not shown")),
        "{err}"
    );
    // The summary row: records, skipped, malformed, events.
    let row = err.lines().find(|l| l.contains(" pcap ")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2..6], ["10", "9", "9", "1"], "{row}");
}

#[test]
fn config_file_and_flags_combine() {
    let Some(log) = data("slips/port-scans-vertical/conn.log") else {
        return;
    };
    let cfg = scratch("strict.toml");
    std::fs::write(&cfg, "min_targets = 100\n").unwrap();
    let cfg_s = cfg.to_str().unwrap();
    // 44 ports probed: the file's threshold keeps quiet, the flag overrides it.
    let (out, verdicts) = detect_json(&["--config", cfg_s], &[&log]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(verdicts.is_empty(), "{verdicts:?}");
    let (_, verdicts) = detect_json(&["--config", cfg_s, "--min-targets", "5"], &[&log]);
    assert_eq!(verdicts.len(), 1);
    // An allow-listed scanner is never reported.
    let (_, verdicts) = detect_json(&["--allow", "192.168.1.0/24"], &[&log]);
    assert!(verdicts.is_empty(), "{verdicts:?}");
    // --home-net replaces the defaults: the scan is now external.
    let (_, verdicts) = detect_json(&["--home-net", "172.16.0.0/12"], &[&log]);
    assert_eq!(s(&verdicts[0], "direction"), "external");
}

/// Exit status and standard error of `detect --config FILE /dev/null` with
/// `text` as the file.
fn detect_with_config(name: &str, text: &str) -> (Option<i32>, String) {
    let cfg = scratch(name);
    std::fs::write(&cfg, text).unwrap();
    let out = run(&[
        Path::new("detect"),
        Path::new("--config"),
        &cfg,
        Path::new("/dev/null"),
    ]);
    (out.status.code(), stderr(&out))
}

#[test]
fn memory_the_machine_lacks_exits_2_naming_memory() {
    let (code, err) = detect_with_config("huge-memory.toml", "memory_bytes = 1099511627776\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("memory_bytes"), "{err}");
}

#[test]
fn a_config_file_over_1_mib_is_refused_unread() {
    let mut text = "min_targets = 5\n".to_string();
    text.push_str(&"#".repeat(64 << 20));
    let (code, err) = detect_with_config("huge.toml", &text);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("1048576 bytes (1 MiB)"), "{err}");
}

#[test]
fn table_output_by_default() {
    let Some(log) = data("slips/port-scans-vertical/conn.log") else {
        return;
    };
    let out = run(&[Path::new("detect"), Path::new("--quiet"), log.as_path()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let mut lines = text.lines();
    let head = lines.next().unwrap();
    let row = lines.next().unwrap();
    // A blank line, then the final extent of the one source reported.
    assert_eq!(lines.next(), Some(""), "{text}");
    assert!(lines.next().unwrap().starts_with("final extent"), "{text}");
    let head2 = lines.next().unwrap();
    assert!(
        head2.starts_with("LAST PROBE") && head2.contains("SOURCE"),
        "{text}"
    );
    let last = lines.next().unwrap();
    assert!(
        last.contains("192.168.1.9") && last.contains(" 43 "),
        "{last}"
    );
    assert!(lines.next().is_none(), "{text}");
    assert!(head.contains("KIND") && head.contains("SOURCE"), "{head}");
    assert!(
        row.contains("port_scan") && row.contains("192.168.1.9"),
        "{row}"
    );
    // Aligned: the source column starts at the same place in both lines.
    assert_eq!(head.find("SOURCE"), row.find("192.168.1.9"), "{text}");
    assert!(out.stderr.is_empty(), "--quiet: {}", stderr(&out));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["detect"],
        vec!["detect", "--home-net", "10.0.0.0/33", "x"],
        vec!["detect", "--min-targets", "1", "x"],
        vec!["detect", "--no-such-flag", "x"],
        vec!["scan", "x"],
        vec!["watch", "--state", "/nonexistent-dir/watch.state", "x"],
        vec!["watch", "--state", "/", "x"],
        vec!["watch", "--state-every", "0", "--state", "s", "x"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let cfg = scratch("bad.toml");
    std::fs::write(&cfg, "theta1 = 0.9\n").unwrap();
    let out = run(&[
        Path::new("detect"),
        Path::new("--config"),
        cfg.as_path(),
        Path::new("x"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&*cfg.to_string_lossy()) && err.contains("theta1"),
        "{err}"
    );
}

#[test]
fn bundled_sample_gives_the_nmap_sweep_and_scan_only() {
    let sample_pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/sample.pcap");
    let (out, verdicts) = detect_json(&[], &[&sample_pcap]);
    assert!(out.status.success(), "{}", stderr(&out));
    verdicts.iter().for_each(check_contract);
    // Only the scanner: neither the benign client nor the router.
    assert!(
        verdicts.iter().all(|v| s(v, "src") == "203.0.113.66"),
        "{verdicts:#?}"
    );
    let sweep = verdicts
        .iter()
        .find(|v| s(v, "kind") == "port_sweep")
        .expect("a port sweep");
    assert_eq!(ports(sweep), vec![22]);
    assert_eq!(s(sweep, "direction"), "inbound");
    assert!(sample(sweep)
        .iter()
        .all(|a| a.to_string().starts_with("192.168.56.")));
    let scan = verdicts
        .iter()
        .find(|v| s(v, "kind") == "port_scan")
        .expect("a port scan");
    assert_eq!(s(scan, "direction"), "inbound");
    assert_eq!(sample(scan)[0], "192.168.56.10".parse::<IpAddr>().unwrap());
    assert!(n(scan, "failed") >= 5);
}

/// Without home networks of the user's own, Zeek's `local_orig` and
/// `local_resp` say which hosts are at home. In ctu-normal day 2, every record
/// of 45.155.205.48 (a slow Internet scanner) has `local_orig` F and
/// `local_resp` T (`awk -F'\t' '$3=="45.155.205.48"{print $13, $14}' | sort -u`),
/// and 147.32.0.0/16 is outside the default home networks: Zeek's word makes
/// its scan inbound. Home networks given on the command line replace it.
#[test]
fn zeek_locality_decides_home_unless_home_networks_are_given() {
    let Some(log) = data("ctu-normal/normal42-day2.conn.log") else {
        return;
    };
    let direction = |extra: &[&str]| {
        let (out, verdicts) = detect_json(extra, &[&log]);
        assert!(out.status.success(), "{}", stderr(&out));
        let mine = from(&verdicts, "45.155.205.48");
        assert!(!mine.is_empty(), "{verdicts:?}");
        assert!(mine.iter().all(|v| s(v, "kind") == "port_scan"), "{mine:?}");
        s(mine[0], "direction").to_string()
    };
    assert_eq!(direction(&[]), "inbound");
    assert_eq!(direction(&["--home-net", "10.0.0.0/8"]), "external");
    assert_eq!(direction(&["--home-net", "147.32.0.0/16"]), "inbound");
}

/// The first `n` records of a little-endian classic pcap, and the rest, as
/// two captures with the same file header: a capture rotated after record `n`.
fn split_pcap(b: &[u8], n: usize) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut at = 24;
    for _ in 0..n {
        let incl = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + incl;
    }
    let first = b[..at].to_vec();
    let mut second = b[..24].to_vec();
    second.extend_from_slice(&b[at..]);
    (first, second)
}

#[test]
fn the_parts_of_a_rotated_capture_read_in_one_run_pair_like_the_whole() {
    // Record 30 of the sample is a SYN from 203.0.113.66 to 192.168.56.13:22,
    // record 31 its SYN-ACK:
    //   tshark -r examples/data/sample.pcap -Y 'frame.number>=30 && frame.number<=31'
    let whole = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/sample.pcap");
    let (first, second) = split_pcap(&std::fs::read(&whole).unwrap(), 30);
    let (a, b) = (scratch("sample.part1.pcap"), scratch("sample.part2.pcap"));
    std::fs::write(&a, first).unwrap();
    std::fs::write(&b, second).unwrap();
    let seed = ["--seed", "1"];
    let (whole_out, whole_v) = detect_json_all(&seed, &[&whole]);
    let (parts_out, parts_v) = detect_json_all(&seed, &[&a, &b]);
    assert!(parts_out.status.success(), "{}", stderr(&parts_out));
    assert!(!whole_v.is_empty());
    assert_eq!(parts_v, whole_v);
    let counts = |out: &Output| {
        let err = stderr(out);
        (
            summary_count(&err, "unsolicited replies"),
            summary_count(&err, "within their answer window at the end"),
        )
    };
    assert_eq!(counts(&parts_out), counts(&whole_out));
    // Read in two runs, the SYN-ACK answers no probe of the second part.
    let (second_out, _) = detect_json_all(&seed, &[&b]);
    assert_eq!(counts(&second_out).0, 1, "{}", stderr(&second_out));
    let (first_out, _) = detect_json_all(&seed, &[&a]);
    assert!(counts(&first_out).1 >= 1, "{}", stderr(&first_out));
}

/// A notice.log with nothing to report still says what it is, as Zeek's do:
/// its header and `#close`, no rows; the JSON form is empty.
#[test]
fn an_empty_notice_log_keeps_its_header_and_close() {
    let empty = scratch("empty.log");
    std::fs::write(&empty, "").unwrap();
    let rows = notice_tsv(&["-q"], &empty);
    assert!(rows.is_empty(), "{rows:?}");
    assert!(notice_json(&["-q"], &empty).is_empty());
    // `--json` and `--format` are one choice.
    let args = ["detect", "--json", "--format", "notice", "-q"];
    let both = run(&[&args[..], &[empty.to_str().unwrap()]].concat());
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
}

/// `--format eve` writes the plugin's EVE records, each holding in `sweep`
/// exactly the verdict `--json` writes: one serializer for both.
#[test]
fn eve_records_hold_the_json_verdicts() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/sample.pcap");
    let (_, verdicts) = detect_json_all(&["--seed", "3"], &[&sample]);
    let out = run(&[
        "detect".as_ref(),
        "--format".as_ref(),
        "eve".as_ref(),
        "--seed".as_ref(),
        "3".as_ref(),
        sample.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!records.is_empty());
    assert_eq!(records.len(), verdicts.len());
    for (rec, v) in records.iter().zip(&verdicts) {
        assert_eq!(&rec["sweep"], v);
        assert_eq!(rec["event_type"], "sweep");
        assert_eq!(rec["src_ip"], v["src"]);
        assert_eq!(rec["proto"], "TCP");
        // Suricata's form of the verdict's time, in UTC.
        let ts = s(rec, "timestamp");
        let want = s(v, "ts").trim_end_matches('Z').to_string() + "+0000";
        assert_eq!(ts, want);
    }
}
