//! The pcap reader on real captures of scans and backscatter
//! (`../shared/data/`, see its README; each test is skipped with a note when
//! the data is absent), and on damaged copies of them.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use sweepwatch::{Event, Outcome, Protocol, Technique};
use sweepwatch_input::pcap::{read_capture, PcapOptions};
use sweepwatch_input::{ReadOptions, ReadStats};

fn data(rel: &str) -> Option<Vec<u8>> {
    let path = format!("{}/../../../shared/data/{rel}", env!("CARGO_MANIFEST_DIR"));
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) => {
            println!("skipping: {path}: {e}");
            None
        }
    }
}

/// The events of a capture, with probes still within their answer window at
/// its end reported unanswered (`pending_unanswered`): these captures were
/// cut where the scan ended, and the tests below pair every attempt with an
/// outcome. `probes_pending_at_the_end_get_no_outcome` reads them as they
/// are by default.
fn read(bytes: &[u8]) -> (Vec<Event>, ReadStats) {
    let mut evs = Vec::new();
    let mut opts = ReadOptions {
        pcap: PcapOptions {
            pending_unanswered: true,
            ..PcapOptions::default()
        },
        ..ReadOptions::default()
    };
    let st = read_capture(bytes, &mut opts, &mut |e| evs.push(e)).unwrap();
    assert_eq!(st.events, evs.len() as u64);
    (evs, st)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn with(evs: &[Event], outcome: Outcome) -> Vec<Event> {
    evs.iter()
        .filter(|e| e.outcome == outcome)
        .copied()
        .collect()
}

/// Every attempt gets exactly one outcome, after it, and no outcome other than
/// backscatter comes without an attempt.
fn check_pairing(evs: &[Event]) {
    assert_eq!(open_attempts(evs), 0, "attempts without outcome");
}

/// Attempts without an outcome; panics on an outcome without its attempt
/// (backscatter aside) or at another time than its attempt's.
fn open_attempts(evs: &[Event]) -> usize {
    let mut open: HashMap<(IpAddr, u16, IpAddr, u16, Protocol), usize> = HashMap::new();
    let mut sent = HashMap::new();
    for e in evs {
        let k = (e.src, e.src_port, e.dst, e.dst_port, e.proto);
        match e.outcome {
            Outcome::Attempt => {
                *open.entry(k).or_default() += 1;
                sent.entry(k).or_insert_with(Vec::new).push(e.ts);
            }
            Outcome::Unsolicited => {}
            _ => {
                let n = open.get_mut(&k).filter(|n| **n > 0);
                *n.unwrap_or_else(|| panic!("outcome without attempt: {e:?}")) -= 1;
                // An outcome carries its attempt's send time, so that the
                // reorder window puts outcomes in the order probes were sent.
                let times: &Vec<_> = &sent[&k];
                assert!(times.contains(&e.ts), "outcome at another time: {e:?}");
            }
        }
    }
    open.values().sum()
}

/// By default a probe still within its answer window when the capture ends
/// gets no outcome: each capture's attempts without one are exactly the
/// pending probes counted (none of these captures holds stealth probes, which
/// make no attempt), and reading with `pending_unanswered` reports exactly
/// those as unanswered.
#[test]
fn probes_pending_at_the_end_get_no_outcome() {
    let mut seen = 0;
    for rel in [
        "bro-simple-scan/445_scan.pcap",
        "bro-simple-scan/multiport_scan.pcap",
        "bro-simple-scan/port_scan.pcap",
        "bro-simple-scan/scan_with_zero_windows.pcap",
        "bro-simple-scan/backscatter.trace",
        "slips/test12-icmp-portscan.pcap",
    ] {
        let Some(b) = data(rel) else { continue };
        seen += 1;
        let mut evs = Vec::new();
        let st = read_capture(&b[..], &mut ReadOptions::default(), &mut |e| evs.push(e)).unwrap();
        assert_eq!(open_attempts(&evs) as u64, st.pending, "{rel}");
        let (all, _) = read(&b);
        check_pairing(&all);
        let unanswered = |e: &[Event]| with(e, Outcome::Unanswered).len() as u64;
        assert_eq!(unanswered(&all), unanswered(&evs) + st.pending, "{rel}");
    }
    if seen == 0 {
        return;
    }
    // Counted with tshark (tests/cli.rs): port_scan.pcap holds ten SYNs
    // within 0.2 ms and nothing else.
    let Some(b) = data("bro-simple-scan/port_scan.pcap") else {
        return;
    };
    let st = read_capture(&b[..], &mut ReadOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((st.events, st.pending), (10, 10));
}

/// Offsets of the records of a little-endian classic pcap.
fn pcap_records(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= b.len() {
        let len = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((at, 16 + len));
        at += 16 + len;
    }
    out
}

/// The same packets as a pcapng capture: one Ethernet interface at nanosecond
/// resolution, and a statistics block that must be skipped.
fn to_pcapng(b: &[u8]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, ty: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = (body.len() + 12) as u32;
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&len.to_le_bytes());
    }
    let mut ng = Vec::new();
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&[0xff; 8]);
    block(&mut ng, 0x0a0d_0d0a, &shb);
    let mut idb = vec![1, 0, 0, 0];
    idb.extend_from_slice(&65535u32.to_le_bytes());
    idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]); // if_tsresol = 9
    block(&mut ng, 1, &idb);
    block(&mut ng, 5, &[0; 12]); // interface statistics
    for (at, len) in pcap_records(b) {
        let h = &b[at..at + 16];
        let secs = u64::from(u32::from_le_bytes(h[0..4].try_into().unwrap()));
        let us = u64::from(u32::from_le_bytes(h[4..8].try_into().unwrap()));
        let ns = (secs * 1_000_000 + us) * 1000;
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ns >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ns as u32).to_le_bytes());
        epb.extend_from_slice(&h[8..16]);
        epb.extend_from_slice(&b[at + 16..at + len]);
        block(&mut ng, 6, &epb);
    }
    ng
}

#[test]
fn address_scan_of_port_445() {
    let Some(b) = data("bro-simple-scan/445_scan.pcap") else {
        return;
    };
    let (evs, st) = read(&b);
    let attempts = with(&evs, Outcome::Attempt);
    assert!(attempts
        .iter()
        .all(|e| e.src == ip("176.192.150.3") && e.dst_port == 445 && e.proto == Protocol::Tcp));
    let hosts: BTreeSet<IpAddr> = attempts.iter().map(|e| e.dst).collect();
    assert!(hosts.len() >= 9, "{hosts:?}");
    // Each host was tried with several retransmitted SYNs: one attempt each.
    assert_eq!(attempts.len(), hosts.len());
    assert_eq!(st.records, 21);
    assert_eq!(st.skipped, 21 - 9);
    // Nobody answered.
    assert_eq!(with(&evs, Outcome::Unanswered).len(), hosts.len());
    check_pairing(&evs);

    // The same packets in pcapng give the same events.
    let (ng_evs, ng_st) = read(&to_pcapng(&b));
    assert_eq!(ng_evs, evs);
    assert_eq!(ng_st, st);
}

#[test]
fn multiport_scan_refused_by_icmp() {
    let Some(b) = data("bro-simple-scan/multiport_scan.pcap") else {
        return;
    };
    let (evs, _) = read(&b);
    let attempts = with(&evs, Outcome::Attempt);
    assert!(attempts.iter().all(|e| e.src == ip("125.27.226.209")));
    let hosts: BTreeSet<IpAddr> = attempts.iter().map(|e| e.dst).collect();
    let ports: BTreeSet<u16> = attempts.iter().map(|e| e.dst_port).collect();
    assert!(hosts.len() >= 5, "{hosts:?}");
    assert_eq!(ports, BTreeSet::from([80, 88, 8080]));
    // Six probes drew "admin prohibited" from the target, which quotes the
    // probe with an address rewritten by the trace's anonymisation.
    let refused = with(&evs, Outcome::Refused);
    assert_eq!(refused.len(), 6);
    assert!(refused
        .iter()
        .all(|e| e.dst.to_string().starts_with("10.10.")));
    check_pairing(&evs);
}

#[test]
fn port_scan_of_one_host() {
    let Some(b) = data("bro-simple-scan/port_scan.pcap") else {
        return;
    };
    let (evs, _) = read(&b);
    let attempts = with(&evs, Outcome::Attempt);
    assert!(attempts
        .iter()
        .all(|e| e.src == ip("192.168.2.154") && e.dst == ip("192.168.2.22")));
    let ports: BTreeSet<u16> = attempts.iter().map(|e| e.dst_port).collect();
    assert!(ports.len() >= 5, "{ports:?}");
    assert!(ports.contains(&22) && ports.contains(&445));
    check_pairing(&evs);
}

#[test]
fn syns_with_zero_windows_are_attempts() {
    let Some(b) = data("bro-simple-scan/scan_with_zero_windows.pcap") else {
        return;
    };
    let (evs, _) = read(&b);
    let attempts = with(&evs, Outcome::Attempt);
    assert!(attempts
        .iter()
        .all(|e| e.src == ip("10.0.0.1") && e.dst_port == 23));
    let hosts: BTreeSet<IpAddr> = attempts.iter().map(|e| e.dst).collect();
    assert!(hosts.len() >= 5, "{hosts:?}");
    check_pairing(&evs);
}

#[test]
fn backscatter_is_not_probing() {
    let Some(b) = data("bro-simple-scan/backscatter.trace") else {
        return;
    };
    let (evs, st) = read(&b);
    assert_eq!(st.records, 4771);
    let attempts = with(&evs, Outcome::Attempt);
    assert!(
        attempts.iter().all(|e| e.proto != Protocol::Tcp),
        "SYN-ACKs and RSTs taken for probes: {attempts:?}"
    );
    // The trace also holds two DNS queries from the flooded network, which
    // are real (unanswered) UDP probes.
    assert_eq!(attempts.len(), 2);
    assert!(attempts
        .iter()
        .all(|e| e.proto == Protocol::Udp && e.dst_port == 53));
    // The SYN-ACKs: reported from the side of the spoofed originators, once
    // per flow while it stays active; the victims' RSTs add nothing.
    let unsolicited = with(&evs, Outcome::Unsolicited);
    assert!(unsolicited.len() >= 900, "{}", unsolicited.len());
    assert!(unsolicited.len() < 3431);
    assert!(unsolicited.iter().all(|e| e.dst == ip("202.229.120.98")
        && e.dst_port == 80
        && e.src.to_string().starts_with("192.150.")));
    let flows: BTreeSet<(IpAddr, u16)> = unsolicited.iter().map(|e| (e.src, e.src_port)).collect();
    assert!(flows.len() >= 900, "{}", flows.len());
    check_pairing(&evs);
}

#[test]
fn icmp_echo_sweep() {
    let Some(b) = data("slips/test12-icmp-portscan.pcap") else {
        return;
    };
    let (evs, _) = read(&b);
    let attempts = with(&evs, Outcome::Attempt);
    assert!(attempts
        .iter()
        .all(|e| e.src == ip("192.168.1.109") && e.proto == Protocol::Icmp && e.dst_port == 0));
    let hosts: BTreeSet<IpAddr> = attempts.iter().map(|e| e.dst).collect();
    assert_eq!(hosts.len(), 18, "{hosts:?}");
    let answered: BTreeSet<IpAddr> = with(&evs, Outcome::Established)
        .iter()
        .map(|e| e.dst)
        .collect();
    assert!(answered.len() >= 10 && answered.is_subset(&hosts));
    check_pairing(&evs);
    // Attempts come out in capture order; outcomes when they are known, at
    // their attempts' times.
    let attempt_times: Vec<_> = attempts.iter().map(|e| e.ts).collect();
    assert!(attempt_times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn capture_cut_inside_a_record() {
    let Some(b) = data("bro-simple-scan/port_scan.pcap") else {
        return;
    };
    let recs = pcap_records(&b);
    let (at, len) = recs[3];
    for cut in [at + 5, at + len - 1] {
        let mut evs = Vec::new();
        let st =
            read_capture(&b[..cut], &mut ReadOptions::default(), &mut |e| evs.push(e)).unwrap();
        assert_eq!(st.truncated_at, Some(at as u64));
        assert_eq!(st.malformed, 1);
        // The three complete SYNs, still within their answer window where
        // the capture ends: no outcome.
        assert_eq!(with(&evs, Outcome::Attempt).len(), 3);
        assert_eq!(with(&evs, Outcome::Unanswered).len(), 0);
        assert_eq!(st.pending, 3);
    }
}

#[test]
fn garbage_and_corruption() {
    // Not a capture at all.
    let text = b"#separator \\x09\n#fields\tts\tuid\n";
    let err = read_capture(&text[..], &mut ReadOptions::default(), &mut |_| {}).unwrap_err();
    assert_eq!(err.location, "byte 0");
    assert_eq!(err.message, "not a pcap or pcapng capture");

    let Some(b) = data("bro-simple-scan/multiport_scan.pcap") else {
        return;
    };
    // A record header claiming an absurd length.
    let recs = pcap_records(&b);
    let (at, _) = recs[5];
    let mut bad = b.clone();
    bad[at + 8..at + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let mut n = 0;
    let err = read_capture(&bad[..], &mut ReadOptions::default(), &mut |_| n += 1).unwrap_err();
    assert_eq!(err.location, format!("byte {at}"));
    assert!(n > 0, "events before the corruption are emitted");

    // Random damage never panics.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3000 {
        let mut m = if round % 2 == 0 {
            b.clone()
        } else {
            to_pcapng(&b)
        };
        for _ in 0..1 + rnd() % 16 {
            let i = (rnd() % m.len() as u64) as usize;
            m[i] = rnd() as u8;
        }
        let cut = (rnd() % (m.len() as u64 + 1)) as usize;
        let _ = read_capture(&m[..cut], &mut ReadOptions::default(), &mut |_| {});
    }
}

/// A capture of `tests/data/fixtures/` (see its README), or `None` with a
/// note when it is absent.
fn fixture(name: &str) -> Option<Vec<u8>> {
    let path = format!(
        "{}/../../tests/data/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) => {
            println!("skipping: {path}: {e}");
            None
        }
    }
}

/// What the reader made of a stealth scan by 10.10.0.1: every event is a
/// TCP outcome of `technique` from the scanner (no `Attempt`: stealth probes
/// are held until their outcome); returns (refused, unanswered, distinct
/// probed host:port pairs, distinct hosts).
fn stealth(name: &str, technique: Technique) -> Option<(usize, usize, usize, usize)> {
    let b = fixture(name)?;
    let (evs, st) = read(&b);
    assert_eq!(st.malformed, 0);
    let scanner = ip("10.10.0.1");
    for e in &evs {
        assert_eq!(
            (e.src, e.proto, e.technique),
            (scanner, Protocol::Tcp, technique),
            "{e:?}"
        );
        assert!(e.dst.to_string().starts_with("10.20.0."), "{e:?}");
        assert!(
            matches!(e.outcome, Outcome::Refused | Outcome::Unanswered),
            "{e:?}"
        );
    }
    let pairs: BTreeSet<(IpAddr, u16)> = evs.iter().map(|e| (e.dst, e.dst_port)).collect();
    let hosts: BTreeSet<IpAddr> = evs.iter().map(|e| e.dst).collect();
    Some((
        with(&evs, Outcome::Refused).len(),
        with(&evs, Outcome::Unanswered).len(),
        pairs.len(),
        hosts.len(),
    ))
}

// Counts from the packets, with tshark (S = 10.10.0.1, the scanner; nmap
// sends each retransmission from a new source port, so each probe packet is
// its own flow and its own event):
//   probes:     tshark -r stealth-X.pcap -Y 'ip.src==S && tcp.flags==F' | wc -l
//               (F = 0x001 FIN, 0x000 NULL, 0x029 Xmas, 0x010 ACK, 0x011 FIN+ACK;
//               the same count as 'ip.src==S': the scanner sends nothing else)
//   RSTs:       tshark -r stealth-X.pcap -Y 'ip.dst==S && tcp.flags.reset==1' | wc -l
//               (and 'ip.dst==S && tcp.flags.reset==0' finds no other answer)
//   silent:     comm -23 <(tshark -r stealth-X.pcap -Y 'ip.src==S' -T fields
//                   -e tcp.srcport -e ip.dst -e tcp.dstport | sort -u)
//                 <(tshark -r stealth-X.pcap -Y 'ip.dst==S && tcp.flags.reset==1' -T fields
//                   -e tcp.dstport -e ip.src -e tcp.srcport | sort -u) | wc -l
//   pairs:      tshark -r stealth-X.pcap -Y 'ip.src==S' -T fields -e ip.dst -e tcp.dstport
//                 | sort -u | wc -l
//   hosts:      tshark -r stealth-X.pcap -Y 'ip.src==S' -T fields -e ip.dst | sort -u | wc -l

#[test]
fn fin_null_and_xmas_scans() {
    for (name, technique) in [
        ("stealth-fin.pcap", Technique::Fin),
        ("stealth-null.pcap", Technique::Null),
        ("stealth-xmas.pcap", Technique::Xmas),
    ] {
        let Some(counts) = stealth(name, technique) else {
            return;
        };
        // tshark: 115 probes, 85 RSTs, 30 silent probes (15 ports: open 22,
        // 25, 53, 80 and filtered 90-100, each probed twice), 100 pairs of
        // 1 host. Every RST is a refusal; every silent probe unanswered.
        assert_eq!(counts, (85, 30, 100, 1), "{name}");
    }
}

#[test]
fn ack_and_maimon_scans() {
    for (name, technique) in [
        ("stealth-ack.pcap", Technique::Ack),
        ("stealth-maimon.pcap", Technique::Maimon),
    ] {
        let Some(counts) = stealth(name, technique) else {
            return;
        };
        // tshark: 111 probes, 89 RSTs (89 pairs), 22 silent probes (filtered
        // 90-100, twice each). An ACK or FIN+ACK that draws no RST is no
        // probe: the 22 silent ones give nothing, and 89 of the 100 pairs
        // show.
        assert_eq!(counts, (89, 0, 89, 1), "{name}");
    }
}

#[test]
fn fin_sweep_of_one_port() {
    let Some((refused, unanswered, pairs, hosts)) =
        stealth("stealth-fin-sweep.pcap", Technique::Fin)
    else {
        return;
    };
    // tshark: 16 probes of port 23, 4 RSTs (.10, .12, .13, .14), 12 silent
    // probes (.11 open, .15-.19 absent; twice each), 10 pairs of 10 hosts.
    assert_eq!((refused, unanswered, pairs, hosts), (4, 12, 10, 10));
}

#[test]
fn capture_begun_midstream_gives_no_probe() {
    let Some(b) = fixture("midstream-tcp.pcap") else {
        return;
    };
    let (evs, st) = read(&b);
    // tshark -r midstream-tcp.pcap | wc -l: 172 packets;
    // -Y 'tcp.flags.syn==1' and -Y 'tcp.flags.reset==1': none;
    // -Y 'tcp.len==0 && tcp.flags==0x010': 66 bare ACKs, which a stealth
    // ACK probe also is; -Y 'tcp.flags.fin==1': 2 FIN+ACKs (Maimon's flags).
    // None of them is a probe: every one is answered by data or an ACK, or
    // follows data of its connection.
    assert_eq!(st.records, 172);
    assert_eq!(st.malformed, 0);
    assert!(
        evs.iter().all(|e| !matches!(
            e.outcome,
            Outcome::Attempt | Outcome::Refused | Outcome::Unanswered | Outcome::Established
        )),
        "{evs:?}"
    );
    // Nor backscatter: nothing at all.
    assert!(evs.is_empty(), "{evs:?}");
}

#[test]
fn syn_scan_beside_stealth_rules() {
    let Some(b) = fixture("mixed-sS-sU-PE.pcap") else {
        return;
    };
    let (evs, _) = read(&b);
    let tcp: Vec<Event> = evs
        .iter()
        .filter(|e| e.proto == Protocol::Tcp)
        .copied()
        .collect();
    // S = 10.10.0.1. tshark -r mixed-sS-sU-PE.pcap
    //   -Y 'ip.src==S && tcp.flags==0x002' | wc -l: 505 SYNs (505 pairs);
    //   -Y 'ip.dst==S && tcp.flags.syn==1 && tcp.flags.ack==1' | wc -l: 8;
    //   -Y 'ip.dst==S && tcp.flags.reset==1' | wc -l: 486;
    //   11 SYNs never answered (probed pairs minus answering pairs, comm -23);
    //   -Y 'ip.src==S && tcp.flags.reset==1' | wc -l: 8 RSTs of the scanner's
    //   kernel after the SYN-ACKs, which are neither probes nor backscatter.
    assert!(tcp
        .iter()
        .all(|e| e.src == ip("10.10.0.1") && e.technique == Technique::Syn));
    assert_eq!(with(&tcp, Outcome::Attempt).len(), 505);
    assert_eq!(with(&tcp, Outcome::Established).len(), 8);
    assert_eq!(with(&tcp, Outcome::Refused).len(), 486);
    assert_eq!(with(&tcp, Outcome::Unanswered).len(), 11);
    assert!(with(&tcp, Outcome::Unsolicited).is_empty());
    // tshark -Y 'ip.src==S && icmp.type==8' | wc -l: 6 echo requests.
    let echo = evs
        .iter()
        .filter(|e| e.proto == Protocol::Icmp && e.outcome == Outcome::Attempt);
    assert!(echo.clone().all(|e| e.technique == Technique::IcmpEcho));
    assert_eq!(echo.count(), 6);
    check_pairing(&evs);
}

/// A classic pcap generated on the fly: a sweep whose probes are half refused
/// and half unanswered, interleaved with midstream TCP and DNS traffic.
struct Synthetic {
    left: u64,
    i: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl Synthetic {
    fn new(packets: u64) -> Self {
        let mut buf = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        buf.extend_from_slice(&65535u32.to_le_bytes());
        buf.extend_from_slice(&1u32.to_le_bytes());
        Synthetic {
            left: packets,
            i: 0,
            buf,
            pos: 0,
        }
    }

    fn next_packet(&mut self) {
        let i = self.i;
        self.i += 1;
        let host = (i / 4) as u32;
        let target = (0x0a00_0000 | (host & 0x00ff_ffff)).to_be_bytes();
        let scanner = [198, 51, 100, 7];
        let (proto, src, dst, sport, dport, flags) = match i % 4 {
            0 => (6, scanner, target, 40000 + (host % 20000) as u16, 445, 0x02),
            1 if host % 2 == 0 => (6, target, scanner, 445, 40000 + (host % 20000) as u16, 0x14),
            1 | 2 => (6, [192, 0, 2, 1], [192, 0, 2, 2], 443, 50000, 0x10),
            _ => (
                17,
                [192, 0, 2, 1],
                [192, 0, 2, 53],
                5353 + (host % 64) as u16,
                53,
                0,
            ),
        };
        // Ethernet, IPv4, and a TCP (20-byte) or UDP (8-byte) header.
        let mut f = [0u8; 14 + 20 + 20];
        let len = 14 + 20 + if proto == 6 { 20 } else { 8 };
        f[12] = 0x08;
        f[14..26].copy_from_slice(&[0x45, 0, 0, (len - 14) as u8, 0, 0, 0, 0, 64, proto, 0, 0]);
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        if proto == 6 {
            f[46] = 0x50;
            f[47] = flags;
        } else {
            f[39] = 8;
        }
        let us = 1_700_000_000_000_000 + i * 10;
        self.buf.clear();
        self.pos = 0;
        for v in [
            (us / 1_000_000) as u32,
            (us % 1_000_000) as u32,
            len as u32,
            len as u32,
        ] {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.buf.extend_from_slice(&f[..len]);
    }
}

impl std::io::Read for Synthetic {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < out.len() {
            if self.pos == self.buf.len() {
                if self.left == 0 {
                    break;
                }
                self.left -= 1;
                self.next_packet();
            }
            let k = (self.buf.len() - self.pos).min(out.len() - n);
            out[n..n + k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
            self.pos += k;
            n += k;
        }
        Ok(n)
    }
}

/// Throughput on a large capture; run with
/// `cargo test --release --features readers --test pcap_reader -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput_on_synthetic_capture() {
    let packets = 5_000_000;
    let mut counts: HashMap<Outcome, u64> = HashMap::new();
    let start = std::time::Instant::now();
    let st = read_capture(
        Synthetic::new(packets),
        &mut ReadOptions::default(),
        &mut |e| *counts.entry(e.outcome).or_default() += 1,
    )
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{packets} packets in {secs:.2} s: {:.1} M packets/s; {st:?}; {counts:?}",
        packets as f64 / secs / 1e6
    );
    assert_eq!(st.records, packets);
    let probes = packets / 4;
    assert_eq!(counts[&Outcome::Attempt], probes + 64);
    assert_eq!(counts[&Outcome::Refused], probes / 2);
    assert_eq!(counts[&Outcome::Unanswered], probes / 2 + 64);
    assert_eq!(st.tracker_full, 0);
}
