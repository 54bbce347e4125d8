//! `sweepwatch watch` against a real writer: records appended in bursts and
//! in pieces of lines, files rotated in both styles while it runs; every
//! record must count once, so the verdicts equal `detect`'s on the finished
//! input.
#![cfg(unix)]

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sweepwatch");

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("watch")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures")
        .join(name);
    fs::read(path).unwrap()
}

/// `watch` on `path`, JSON out, fixed seed.
fn start(path: &Path, reorder_secs: &str) -> Child {
    start_with(path, reorder_secs, &[])
}

/// [`start`] with more options before the path.
fn start_with(path: &Path, reorder_secs: &str, extra: &[&std::ffi::OsStr]) -> Child {
    Command::new(BIN)
        .args([
            "watch",
            "--json",
            "--seed",
            "7",
            "--poll-ms",
            "20",
            "--reorder-secs",
        ])
        .arg(reorder_secs)
        .args(extra)
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `watch` (process `pid`) has the file now at `path` open and
/// has read it to `len`, as `/proc/PID/fdinfo` says: the test's steps then
/// never race the polls, however loaded the machine.
fn caught_up(pid: u32, path: &Path, len: u64) {
    let begun = Instant::now();
    let target = fs::canonicalize(path).unwrap();
    loop {
        let fds = fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
        for fd in fds.flatten() {
            if fs::read_link(fd.path()).ok().as_deref() != Some(target.as_path()) {
                continue;
            }
            let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
            let pos = fs::read_to_string(info)
                .unwrap_or_default()
                .lines()
                .find_map(|l| {
                    l.strip_prefix("pos:")
                        .and_then(|p| p.trim().parse::<u64>().ok())
                });
            if pos == Some(len) {
                return;
            }
        }
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "watch never read {} to {len}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// [`caught_up`] with the file as it is now.
fn settle(w: &Child, path: &Path) {
    caught_up(w.id(), path, fs::metadata(path).unwrap().len());
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
}

/// SIGINT, then its output: stdout lines and stderr.
fn stop(child: Child) -> (Vec<String>, String) {
    // SAFETY: kill has no memory effects; the pid is our live child's.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    (lines, err)
}

/// What `detect` says of `path`, with the same seed.
fn detect(path: &Path) -> Vec<String> {
    let out = Command::new(BIN)
        .args(["detect", "--json", "-q", "--seed", "7"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The fixture's lines split at `cuts` (line numbers).
fn parts(text: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(lines.len());
    bounds
        .windows(2)
        .map(|w| lines[w[0]..w[1]].concat())
        .collect()
}

#[test]
fn every_record_counts_once_through_both_rotations_and_partial_lines() {
    let eve = fixture("mixed-sS-sU-PE.eve.json");
    let dir = scratch("eve");
    let whole = dir.join("whole.json");
    fs::write(&whole, &eve).unwrap();
    let want = detect(&whole);
    assert!(want.len() >= 5, "{want:?}");

    let path = dir.join("eve.json");
    let p = parts(&eve, &[150, 300, 450]);
    let w = start(&path, "3600");
    append(&path, &p[0]);
    settle(&w, &path);
    // Rename and recreate (Suricata's file reopened after logrotate's
    // `create` and SIGHUP), mid-stream.
    fs::rename(&path, dir.join("eve.json.1")).unwrap();
    // A line written in two pieces: the first half must wait for the rest.
    let half = p[1].len() / 2 + 7;
    append(&path, &p[1][..half]);
    settle(&w, &path);
    append(&path, &p[1][half..]);
    settle(&w, &path);
    // Copied away and cut back in place (logrotate's `copytruncate`); it
    // must see the cut before the file grows past where it was.
    fs::copy(&path, dir.join("eve.json.2")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    caught_up(w.id(), &path, 0);
    append(&path, &p[2]);
    append(&path, &p[3]);
    settle(&w, &path);
    let (got, err) = stop(w);
    assert_eq!(got, want, "{err}");
    let records = eve.iter().filter(|b| **b == b'\n').count();
    assert!(err.contains(&format!("{records} records")), "{err}");
    assert!(err.contains(" 0 malformed"), "{err}");
}

/// A Zeek conn.log rotated as zeekctl does it: renamed away at the hour, a
/// new file with its own header lines in its place.
#[test]
fn a_zeek_log_rotated_with_new_headers_counts_once() {
    let header = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
                  #path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\n\
                  #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\n";
    // A sweep of port 22 refused by 40 hosts, among answered web requests.
    let mut rows = Vec::new();
    for i in 0..40u32 {
        let ts = 1_700_000_000.0 + f64::from(i) * 0.5;
        rows.push(format!(
            "{ts:.6}\tC{i}\t203.0.113.9\t{}\t10.1.0.{}\t22\ttcp\tREJ\n",
            40_000 + i,
            i + 1
        ));
        rows.push(format!(
            "{ts:.6}\tD{i}\t10.1.0.200\t{}\t198.51.100.{}\t443\ttcp\tSF\n",
            50_000 + i,
            i % 5 + 1
        ));
    }
    let dir = scratch("zeek");
    let whole = dir.join("whole.log");
    fs::write(
        &whole,
        format!("{header}{}#close\t2023-11-14-22-13-40\n", rows.concat()),
    )
    .unwrap();
    let want = detect(&whole);
    assert!(!want.is_empty());

    let path = dir.join("conn.log");
    let w = start(&path, "3600");
    append(&path, format!("{header}{}", rows[..30].concat()).as_bytes());
    settle(&w, &path);
    append(&path, b"#close\t2023-11-14-22-00-00\n");
    fs::rename(&path, dir.join("conn.22:00:00-23:00:00.log")).unwrap();
    append(&path, format!("{header}{}", rows[30..].concat()).as_bytes());
    settle(&w, &path);
    let (got, err) = stop(w);
    assert_eq!(got, want, "{err}");
    assert!(err.contains("80 records, 80 events, 0 malformed"), "{err}");
}

/// Verdicts come out while `watch` runs, within the window and a poll of
/// the writes that decide them, not at the end.
#[test]
fn verdicts_come_out_as_they_are_decided() {
    let eve = fixture("mixed-sS-sU-PE.eve.json");
    let dir = scratch("latency");
    let path = dir.join("eve.json");
    let mut w = start(&path, "1");
    append(&path, &eve);
    let mut stdout = w.stdout.take().unwrap();
    let begun = Instant::now();
    let mut first = [0u8; 1];
    // The first byte of the first verdict, read while `watch` still runs.
    stdout.read_exact(&mut first).unwrap();
    let waited = begun.elapsed();
    assert_eq!(first[0], b'{');
    assert!(w.try_wait().unwrap().is_none(), "watch ended by itself");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    // SAFETY: as in `stop`.
    unsafe { libc::kill(w.id() as libc::pid_t, libc::SIGTERM) };
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(w.wait().unwrap().success());
    assert!(rest.lines().count() >= 4, "{rest}");
}

/// Verdicts written to `--output`, renamed away and SIGHUP sent (logrotate's
/// `create` style): the verdicts before go to the renamed file, those after
/// to a new one at the path, none lost or repeated.
#[test]
fn the_output_file_is_opened_again_on_sighup() {
    let eve = fixture("mixed-sS-sU-PE.eve.json");
    let dir = scratch("output");
    let whole = dir.join("whole.json");
    fs::write(&whole, &eve).unwrap();
    // No reordering here: events decide as read, as `detect` does with no
    // window.
    let out = Command::new(BIN)
        .args([
            "detect",
            "--json",
            "-q",
            "--seed",
            "7",
            "--reorder-window",
            "0",
        ])
        .arg(&whole)
        .output()
        .unwrap();
    let want: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let path = dir.join("eve.json");
    let out = dir.join("verdicts.json");
    let w = Command::new(BIN)
        .args([
            "watch",
            "--json",
            "--seed",
            "7",
            "--poll-ms",
            "20",
            "--reorder-secs",
            "0",
        ])
        .arg("--output")
        .arg(&out)
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let p = parts(&eve, &[300]);
    append(&path, &p[0]);
    settle(&w, &path);
    // With no reordering, what was read is decided and written by now.
    let begun = Instant::now();
    while fs::metadata(&out).map_or(0, |m| m.len()) == 0 {
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "no verdict written"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let rotated = dir.join("verdicts.json.1");
    fs::rename(&out, &rotated).unwrap();
    // SAFETY: kill has no memory effects; the pid is our live child's.
    assert_eq!(
        unsafe { libc::kill(w.id() as libc::pid_t, libc::SIGHUP) },
        0
    );
    while !out.exists() {
        assert!(begun.elapsed() < Duration::from_secs(30), "not reopened");
        std::thread::sleep(Duration::from_millis(10));
    }
    append(&path, &p[1]);
    settle(&w, &path);
    let (stdout, err) = stop(w);
    assert!(stdout.is_empty(), "{stdout:?}");
    let lines = |f: &Path| -> Vec<String> {
        fs::read_to_string(f)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let (before, after) = (lines(&rotated), lines(&out));
    assert!(
        !before.is_empty() && !after.is_empty(),
        "{before:?} {after:?} {err}"
    );
    assert_eq!([before, after].concat(), want, "{err}");
}

/// A malformed line is named by its line in its own file, after a rotation
/// too, and a Zeek row by its line past the header's.
#[test]
fn malformed_lines_are_named_by_their_line_in_their_file() {
    let eve = fixture("mixed-sS-sU-PE.eve.json");
    let lines: Vec<&[u8]> = eve.split_inclusive(|b| *b == b'\n').collect();
    let dir = scratch("malformed");
    let path = dir.join("eve.json");
    let w = start(&path, "0");
    append(
        &path,
        &[lines[0], lines[1], b"{\"broken\n", lines[2]].concat(),
    );
    settle(&w, &path);
    fs::rename(&path, dir.join("eve.json.1")).unwrap();
    append(&path, &[lines[3], b"not json\n"].concat());
    settle(&w, &path);
    let (_, err) = stop(w);
    let name = path.display();
    assert!(err.contains(&format!("{name}:3: ")), "{err}");
    assert!(err.contains(&format!("{name}:2: ")), "{err}");
    assert!(err.contains(" 2 malformed"), "{err}");

    let path = dir.join("conn.log");
    let header =
        "#separator \\x09\n#fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tconn_state\n";
    let w = start(&path, "0");
    append(
        &path,
        format!("{header}1700000000.0\t10.0.0.1\t10.0.0.2\t22\ttcp\tREJ\nnot a row\n").as_bytes(),
    );
    settle(&w, &path);
    let (_, err) = stop(w);
    assert!(err.contains(&format!("{}:4: ", path.display())), "{err}");
}

/// `watch` on `path` with a state file saved every second, JSON out, fixed
/// seed, a window of an hour of event time (never released for quiet in a
/// test, so the events fed and their order do not depend on timing).
fn start_kept(path: &Path, state: &Path) -> Child {
    Command::new(BIN)
        .args(["watch", "--json", "--seed", "7", "--poll-ms", "20"])
        .args(["--reorder-secs", "3600", "--state-every", "1", "--state"])
        .arg(state)
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for two saves of `state` to finish after this call: the second
/// began after the first ended, so it holds everything read before this call.
fn saved_twice(state: &Path) {
    use std::os::unix::fs::MetadataExt;
    let ino = || fs::metadata(state).map(|m| m.ino()).ok();
    let begun = Instant::now();
    let mut last = ino();
    let mut changes = 0;
    while changes < 2 {
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "no save of {}",
            state.display()
        );
        std::thread::sleep(Duration::from_millis(10));
        let now = ino();
        if now.is_some() && now != last {
            changes += 1;
            last = now;
        }
    }
}

/// A Zeek log's header lines and rows.
fn header_and_rows(text: &[u8]) -> (Vec<u8>, Vec<&[u8]>) {
    let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
    let n = lines.iter().take_while(|l| l.starts_with(b"#")).count();
    let rows = lines[n..]
        .iter()
        .filter(|l| !l.starts_with(b"#"))
        .copied()
        .collect();
    (lines[..n].concat(), rows)
}

fn stdout_lines(out: std::process::Output) -> Vec<String> {
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Ten days of a real bot's conn.log followed by `watch` with `--state`:
/// killed with SIGKILL after 40% of it, the log rotated while it is down
/// (20% more written to the old file first), then started again. The
/// verdicts of the two runs are those of one run that never stopped, and
/// the second run reports evidence gathered before the kill.
#[test]
fn a_scan_split_across_a_kill_and_a_rotation_is_one_scan() {
    let log = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/ctu-malware/botnet4.conn.log"),
    )
    .unwrap();
    let (header, rows) = header_and_rows(&log);
    let (c1, c2) = (rows.len() * 2 / 5, rows.len() * 3 / 5);
    let part1 = [&header[..], &rows[..c1].concat()].concat();
    let part2a = rows[c1..c2].concat();
    let part2b = [&header[..], &rows[c2..].concat()].concat();
    // The earliest time in what the second run reads, from the log itself.
    let later_from = rows[c1..]
        .iter()
        .filter_map(|r| {
            std::str::from_utf8(r)
                .ok()?
                .split('\t')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .fold(f64::INFINITY, f64::min);

    // Part 2: more rows in the old file, renamed away, a new file.
    let second = |w: &Child, dir: &Path| {
        let path = dir.join("conn.log");
        append(&path, &part2a);
        fs::rename(&path, dir.join("conn.00:00:00-01:00:00.log")).unwrap();
        append(&path, &part2b);
        settle(w, &path);
    };

    let dir = scratch("kept-whole");
    let w = start_kept(&dir.join("conn.log"), &dir.join("watch.state"));
    append(&dir.join("conn.log"), &part1);
    settle(&w, &dir.join("conn.log"));
    second(&w, &dir);
    let (whole, err) = stop(w);
    assert!(err.contains("state saved to"), "{err}");
    assert!(err.contains(&format!(" {} records", rows.len())), "{err}");

    let dir = scratch("kept-split");
    let (path, state) = (dir.join("conn.log"), dir.join("watch.state"));
    let mut w = start_kept(&path, &state);
    append(&path, &part1);
    settle(&w, &path);
    saved_twice(&state);
    w.kill().unwrap();
    let before = stdout_lines(w.wait_with_output().unwrap());
    let w = start_kept(&path, &state);
    second(&w, &dir);
    let (after, err) = stop(w);
    assert!(err.contains("state restored"), "{err}");
    assert!(err.contains("rotated since"), "{err}");
    // Every row after the saved position, once: those of the old file
    // written while it was down, then the new file's.
    assert!(
        err.contains(&format!(" {} records", rows.len() - c1)),
        "{err}"
    );

    assert!(whole.len() >= 10, "{whole:?}");
    assert!(
        !before.is_empty() && !after.is_empty(),
        "{before:?} {after:?}"
    );
    assert_eq!([&before[..], &after[..]].concat(), whole);
    // The bot's outbound sweep, reported after the restart with evidence
    // from before the kill.
    let earlier = utc(later_from);
    let carried = after.iter().any(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["src"] == "10.0.2.19"
            && v["first_seen"]
                .as_str()
                .is_some_and(|f| f < earlier.as_str())
    });
    assert!(
        carried,
        "no verdict after the restart has evidence from before {earlier}: {after:?}"
    );
}

/// Seconds since the epoch (within January 1970, as the log's times are)
/// as the verdicts write times, to the second.
fn utc(secs: f64) -> String {
    let s = secs as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    assert!(d < 31);
    format!("1970-01-{:02}T{h:02}:{m:02}:{sec:02}", d + 1)
}

/// A state file cut short or with a flipped byte is reported and ignored:
/// detection starts empty, and reading goes on from the saved positions
/// when they are intact.
#[test]
fn a_corrupt_or_truncated_state_is_reported_and_detection_starts_empty() {
    let eve = fixture("mixed-sS-sU-PE.eve.json");
    let dir = scratch("kept-corrupt");
    let path = dir.join("eve.json");
    let state = dir.join("watch.state");
    let w = start_kept(&path, &state);
    append(&path, &eve);
    settle(&w, &path);
    stop(w);
    let good = fs::read(&state).unwrap();

    for (what, bytes, said) in [
        ("flipped", flip(&good, good.len() / 2), "checksum fails"),
        ("cut", good[..good.len() / 2].to_vec(), "cut short"),
        ("empty", Vec::new(), "cut short"),
    ] {
        fs::write(&state, &bytes).unwrap();
        let w = start_kept(&path, &state);
        settle(&w, &path);
        let (_, err) = stop(w);
        assert!(err.contains(said), "{what}: {err}");
        assert!(
            err.contains("starting empty") || err.contains("detection starts empty"),
            "{what}: {err}"
        );
    }
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= 0x40;
    b
}

/// One EVE flow record: `src` refused by 10.0.0.`host` on port 22.
fn refused_flow(src: &str, host: u8) -> String {
    format!(
        "{{\"event_type\":\"flow\",\"src_ip\":\"{src}\",\"src_port\":40000,\
         \"dest_ip\":\"10.0.0.{host}\",\"dest_port\":22,\"proto\":\"TCP\",\
         \"flow\":{{\"pkts_toserver\":1,\"pkts_toclient\":1,\
         \"start\":\"2023-11-14T22:13:{host:02}.000000+0000\"}},\
         \"tcp\":{{\"tcp_flags_ts\":\"02\",\"tcp_flags_tc\":\"14\"}}}}\n"
    )
}

/// SIGHUP reads --config again and the running detector takes it: a scan
/// begun before (3 refused probes) and ended after (2 more) is one scan of
/// 5 targets; a configuration that allows the scanner silences its later
/// probes; one that changes the layout is refused and the running one kept.
/// Each step waits for watch's own word on standard error, so nothing races.
#[test]
fn sighup_reads_the_configuration_again_keeping_the_scan() {
    use std::io::BufRead;
    let dir = scratch("reconfigure");
    let eve = dir.join("eve.json");
    let cfg = dir.join("sweepwatch.toml");
    fs::write(&cfg, "home_networks = [\"10.0.0.0/8\"]\n").unwrap();
    fs::write(&eve, "").unwrap();
    let mut w = start_with(&eve, "0", &["--config".as_ref(), cfg.as_os_str()]);
    // Standard error, line by line, as watch writes it.
    let (tx, rx) = std::sync::mpsc::channel();
    let err = std::io::BufReader::new(w.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let hup_and_wait = |w: &Child, word: &str| {
        // SAFETY: kill has no memory effects; the pid is our live child's.
        assert_eq!(
            unsafe { libc::kill(w.id() as libc::pid_t, libc::SIGHUP) },
            0
        );
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("watch said nothing after SIGHUP");
            if line.contains(word) {
                return line;
            }
        }
    };
    let feed = |w: &Child, hosts: std::ops::RangeInclusive<u8>| {
        for h in hosts {
            append(&eve, refused_flow("198.51.100.4", h).as_bytes());
        }
        settle(w, &eve);
    };
    feed(&w, 1..=3);
    fs::write(
        &cfg,
        "home_networks = [\"10.0.0.0/8\"]\nallow = [\"192.0.2.10/32\"]\n",
    )
    .unwrap();
    let said = hup_and_wait(&w, "configuration read again");
    assert!(
        said.contains("sources and scans in progress kept"),
        "{said}"
    );
    fs::write(&cfg, "memory_bytes = \"128MiB\"\n").unwrap();
    let said = hup_and_wait(&w, "running configuration is kept");
    assert!(
        said.contains("memory_bytes 67108864 (now 134217728)"),
        "{said}"
    );
    feed(&w, 4..=5);
    fs::write(
        &cfg,
        "home_networks = [\"10.0.0.0/8\"]\nallow = [\"198.51.100.4/32\"]\n",
    )
    .unwrap();
    hup_and_wait(&w, "configuration read again");
    feed(&w, 6..=40);
    let (lines, _) = stop(w);
    let out = lines.join("\n");
    let verdicts: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decided: Vec<_> = verdicts.iter().filter(|v| v["final"] == false).collect();
    assert_eq!(decided.len(), 1, "{out}");
    assert_eq!(
        (
            decided[0]["targets"].as_u64(),
            decided[0]["failed"].as_u64()
        ),
        (Some(5), Some(5)),
        "{out}"
    );
    assert_eq!(decided[0]["direction"], "inbound", "{out}");
    // The final extent holds what was counted before the scanner was
    // allowed: its later probes were not.
    let finals: Vec<_> = verdicts.iter().filter(|v| v["final"] == true).collect();
    assert!(
        finals.iter().all(|v| v["targets"].as_u64() == Some(5)),
        "{out}"
    );
}
