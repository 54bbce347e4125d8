//! Outcomes reach the sequential test in the order their probes were made,
//! whichever front end delivers them and however late each was known.
//!
//! The burst: a home host makes 40 first contacts to external hosts on port
//! 443, one a millisecond. 25 are answered within 2 ms; 15, spread evenly
//! among them, are never answered, and are known only at their timeout (a
//! capture tracker's, or the engine's when it logs the connection). Taken in
//! attempt order the walk never sees four net failures, so there is no
//! verdict; taken as they became known (all answers, then all failures) it
//! would decide. The same 15 failures without the answers are an outbound
//! sweep. Each input is written here in the order its front end would
//! deliver it: the capture in packet order, Zeek's and Suricata's logs in the
//! order the connections ended.
//!
//! The C ABI's burst test is `tests/c/order.c`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const T0_US: u64 = 1_700_000_000_000_000;
const SRC: [u8; 4] = [10, 0, 0, 5];
const CONTACTS: u32 = 40;
const FAILED: u32 = 15;

/// Whether contact `i` (0..40) goes unanswered: 15 spread evenly.
fn fails(i: u32) -> bool {
    (i + 1) * FAILED / CONTACTS > i * FAILED / CONTACTS
}

fn target(i: u32) -> [u8; 4] {
    [198, 51, 100, 1 + i as u8]
}

fn sent_us(i: u32) -> u64 {
    T0_US + u64::from(i) * 1_000
}

fn dotted(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("order");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The decided (not final) verdicts of `sweepwatch detect --json --seed 1`.
fn decided(input: &Path, extra: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_sweepwatch"))
        .args(["detect", "--json", "--seed", "1"])
        .args(extra)
        .arg(input)
        .output()
        .expect("run sweepwatch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["final"] == false)
        .collect()
}

/// Checks the burst with answers (`with`) and the failures alone (`without`).
fn check(front_end: &str, with: &Path, without: &Path) {
    let v = decided(with, &[]);
    assert!(
        v.is_empty(),
        "{front_end}: the burst with its answers was reported: {v:?}"
    );
    // Without the reorder window the input reaches the test answers first,
    // failures last, and the burst is (wrongly) reported: the file has the
    // shape this test is about.
    let v = decided(with, &["--reorder-window", "0"]);
    assert_eq!(v.len(), 1, "{front_end}, unordered: {v:?}");
    let v = decided(without, &[]);
    assert_eq!(v.len(), 1, "{front_end}: {v:?}");
    assert_eq!(v[0]["src"], dotted(SRC), "{front_end}");
    assert_eq!(v[0]["kind"], "outbound_sweep", "{front_end}");
    assert_eq!(v[0]["succeeded"], 0, "{front_end}");
}

// ---- pcap -----------------------------------------------------------------

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An Ethernet frame with an IPv4 TCP segment without payload.
fn frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

fn pcap(packets: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    // Magic, version 2.4 (two u16s), zone, accuracy, snap length, Ethernet.
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (ts, f) in packets {
        for v in [
            (ts / 1_000_000) as u32,
            (ts % 1_000_000) as u32,
            f.len() as u32,
            f.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

use sweepwatch::tcp::{ACK, SYN};
const SYN_ACK: u8 = SYN | ACK;

fn burst_capture(answers: bool) -> Vec<u8> {
    let mut pkts = Vec::new();
    for i in 0..CONTACTS {
        let sport = 40_000 + i as u16;
        if !answers && !fails(i) {
            continue;
        }
        pkts.push((sent_us(i), frame(SRC, sport, target(i), 443, SYN)));
        if !fails(i) {
            pkts.push((
                sent_us(i) + 2_000,
                frame(target(i), 443, SRC, sport, SYN_ACK),
            ));
            pkts.push((sent_us(i) + 2_100, frame(SRC, sport, target(i), 443, ACK)));
        }
    }
    pkts.sort_by_key(|p| p.0);
    // Traffic a minute later, so that the tracker's timeouts pass inside the
    // capture (rather than at its end).
    let later = T0_US + 60_000_000;
    pkts.push((later, frame([10, 0, 0, 9], 5_000, [10, 0, 0, 10], 22, SYN)));
    pkts.push((
        later + 500,
        frame([10, 0, 0, 10], 22, [10, 0, 0, 9], 5_000, SYN_ACK),
    ));
    pcap(&pkts)
}

#[test]
fn a_captured_burst_is_walked_in_the_order_it_was_sent() {
    let with = scratch("burst.pcap");
    let without = scratch("burst-failures.pcap");
    std::fs::write(&with, burst_capture(true)).unwrap();
    std::fs::write(&without, burst_capture(false)).unwrap();
    check("pcap", &with, &without);
}

// ---- Zeek conn.log ----------------------------------------------------------

/// Zeek's records as JSON lines, in the order Zeek writes them: when each
/// connection ends (answered ones within milliseconds, unanswered ones at
/// the attempt timeout).
fn burst_conn_log(answers: bool) -> String {
    let mut recs = Vec::new();
    for i in 0..CONTACTS {
        if !answers && !fails(i) {
            continue;
        }
        let ts = sent_us(i) as f64 / 1e6;
        let (state, history, resp_pkts, ends) = if fails(i) {
            ("S0", "S", 0, sent_us(i) + 5_000_000)
        } else {
            ("SF", "ShADadFf", 4, sent_us(i) + 3_000)
        };
        let line = format!(
            "{{\"ts\":{ts:.6},\"uid\":\"C{i}\",\"id.orig_h\":\"{}\",\"id.orig_p\":{},\
             \"id.resp_h\":\"{}\",\"id.resp_p\":443,\"proto\":\"tcp\",\"conn_state\":\"{state}\",\
             \"history\":\"{history}\",\"orig_pkts\":3,\"resp_pkts\":{resp_pkts}}}",
            dotted(SRC),
            40_000 + i,
            dotted(target(i))
        );
        recs.push((ends, line));
    }
    recs.sort_by_key(|r| r.0);
    recs.into_iter().map(|r| r.1 + "\n").collect()
}

#[test]
fn a_burst_in_a_zeek_log_is_walked_in_the_order_it_was_sent() {
    let with = scratch("burst.conn.log");
    let without = scratch("burst-failures.conn.log");
    std::fs::write(&with, burst_conn_log(true)).unwrap();
    std::fs::write(&without, burst_conn_log(false)).unwrap();
    check("zeek", &with, &without);
}

// ---- Suricata EVE -----------------------------------------------------------

fn rfc3339(us: u64) -> String {
    // 2023-11-14T22:13:20 UTC is T0.
    let off = us - T0_US;
    let secs = 20 + off / 1_000_000;
    format!(
        "2023-11-14T22:{:02}:{:02}.{:06}+0000",
        13 + secs / 60,
        secs % 60,
        off % 1_000_000
    )
}

/// Suricata's flow records, in the order it writes them: when each flow
/// ends (closed ones soon, unanswered SYNs at the new-flow timeout).
fn burst_eve(answers: bool) -> String {
    let mut recs = Vec::new();
    for i in 0..CONTACTS {
        if !answers && !fails(i) {
            continue;
        }
        let (pkts_tc, bytes_tc, state, ts_flags, tc_flags, tcp_state, ends) = if fails(i) {
            (0, 0, "new", "02", "00", "syn_sent", sent_us(i) + 60_000_000)
        } else {
            (2, 108, "closed", "1b", "1b", "closed", sent_us(i) + 3_000)
        };
        let line = format!(
            "{{\"timestamp\":\"{}\",\"flow_id\":{},\"event_type\":\"flow\",\"src_ip\":\"{}\",\
             \"src_port\":{},\"dest_ip\":\"{}\",\"dest_port\":443,\"proto\":\"TCP\",\
             \"flow\":{{\"pkts_toserver\":3,\"pkts_toclient\":{pkts_tc},\"bytes_toserver\":162,\
             \"bytes_toclient\":{bytes_tc},\"start\":\"{}\",\"end\":\"{}\",\"age\":0,\
             \"state\":\"{state}\",\"reason\":\"timeout\",\"alerted\":false}},\
             \"tcp\":{{\"tcp_flags\":\"{ts_flags}\",\"tcp_flags_ts\":\"{ts_flags}\",\
             \"tcp_flags_tc\":\"{tc_flags}\",\"state\":\"{tcp_state}\"}}}}",
            rfc3339(ends),
            1000 + i,
            dotted(SRC),
            40_000 + i,
            dotted(target(i)),
            rfc3339(sent_us(i)),
            rfc3339(ends)
        );
        recs.push((ends, line));
    }
    recs.sort_by_key(|r| r.0);
    recs.into_iter().map(|r| r.1 + "\n").collect()
}

#[test]
fn a_burst_in_suricata_s_flow_log_is_walked_in_the_order_it_was_sent() {
    let with = scratch("burst.eve.json");
    let without = scratch("burst-failures.eve.json");
    std::fs::write(&with, burst_eve(true)).unwrap();
    std::fs::write(&without, burst_eve(false)).unwrap();
    check("eve", &with, &without);
}

#[test]
fn the_burst_is_spread_as_described() {
    let failed: Vec<u32> = (0..CONTACTS).filter(|&i| fails(i)).collect();
    assert_eq!(failed.len(), FAILED as usize);
    // In attempt order the walk (a failure +1, an answer -1, starting over
    // at -4) never reaches the +4 that decides...
    let mut walk = 0i32;
    let mut top = 0;
    for i in 0..CONTACTS {
        walk += if fails(i) { 1 } else { -1 };
        if walk <= -4 {
            walk = 0;
        }
        top = top.max(walk);
    }
    assert!(top < 4, "{top}");
    // ...while answers first and failures last would: the answers start the
    // walk over, and the failures reach +4.
    let mut walk = 0i32;
    let mut decided = false;
    for i in (0..CONTACTS).filter(|&i| !fails(i)).chain(failed) {
        walk += if fails(i) { 1 } else { -1 };
        if walk <= -4 {
            walk = 0;
        }
        decided |= walk >= 4;
    }
    assert!(decided);
}

/// The same inputs are committed in `tests/data/fixtures/burst/` for
/// `scripts/eval.sh`; this keeps them the bytes the generators above write.
#[test]
fn the_committed_burst_files_are_these() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/fixtures/burst");
    let files: [(&str, Vec<u8>); 6] = [
        ("burst.pcap", burst_capture(true)),
        ("burst-failures.pcap", burst_capture(false)),
        ("burst.conn.log", burst_conn_log(true).into_bytes()),
        (
            "burst-failures.conn.log",
            burst_conn_log(false).into_bytes(),
        ),
        ("burst.eve.json", burst_eve(true).into_bytes()),
        ("burst-failures.eve.json", burst_eve(false).into_bytes()),
    ];
    for (name, bytes) in files {
        let committed = std::fs::read(dir.join(name)).unwrap_or_default();
        assert!(committed == bytes, "{name} differs from its generator");
    }
}
