//! One entry shape for every reader: the same `ReadOptions` go to the capture
//! reader, both log readers and the sniffer, and each tells the malformed
//! records it skips to the same handler, once each, where they start.

use sweepwatch::{Event, Outcome};
use sweepwatch_input::eve::read_eve;
use sweepwatch_input::pcap::{read_capture, CaptureReader, PcapOptions};
use sweepwatch_input::sniff::sniff;
use sweepwatch_input::zeek::read_conn_log;
use sweepwatch_input::{Emit, InputError, Location, ReadOptions, ReadStats};

const T0: u32 = 1_700_000_000;
/// LINKTYPE_IPV4: packets are bare IPv4.
const LINK_IPV4: u32 = 228;

/// An IPv4 TCP SYN from 10.0.0.1:40000 to 10.0.0.2:`dport`, 40 bytes.
fn syn(dport: u16) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    p.extend_from_slice(&40000u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 4, 0, 0, 0, 0, 0]);
    p
}

/// A little-endian classic pcap being built; each `record` returns the offset
/// where the record starts.
struct Pcap(Vec<u8>);

impl Pcap {
    fn new() -> Self {
        let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&LINK_IPV4.to_le_bytes());
        Pcap(v)
    }

    /// A record at `secs` claiming `claimed` captured bytes and holding `data`.
    fn record(&mut self, secs: u32, claimed: usize, data: &[u8]) -> u64 {
        let at = self.0.len() as u64;
        for v in [secs, 0, claimed as u32, claimed as u32] {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        self.0.extend_from_slice(data);
        at
    }

    fn packet(&mut self, secs: u32, data: &[u8]) -> u64 {
        self.record(secs, data.len(), data)
    }
}

/// A little-endian pcapng block; returns the offset where it starts.
fn block(out: &mut Vec<u8>, ty: u32, body: &[u8]) -> u64 {
    let at = out.len() as u64;
    let mut body = body.to_vec();
    body.resize(body.len().div_ceil(4) * 4, 0);
    let len = (body.len() + 12) as u32;
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&len.to_le_bytes());
    at
}

/// An enhanced packet block on interface `iface`.
fn epb(out: &mut Vec<u8>, iface: u32, secs: u32, data: &[u8]) -> u64 {
    let ticks = u64::from(secs) * 1_000_000;
    let mut body = iface.to_le_bytes().to_vec();
    body.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ticks as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    block(out, 6, &body)
}

/// Reads with a handler that records what it is told, checking that it was
/// told once per malformed record counted, in increasing order.
fn reported(
    read: impl FnOnce(&mut ReadOptions<'_>, Emit<'_>) -> Result<ReadStats, InputError>,
) -> (ReadStats, Vec<Event>, Vec<(Location, String)>) {
    let (mut events, mut bad) = (Vec::new(), Vec::new());
    let mut report = |at: Location, why: &str| bad.push((at, why.to_string()));
    let mut opts = ReadOptions {
        on_malformed: Some(&mut report),
        ..ReadOptions::default()
    };
    let st = read(&mut opts, &mut |e| events.push(e)).unwrap();
    assert_eq!(st.malformed, bad.len() as u64, "{bad:?}");
    assert!(bad.windows(2).all(|w| w[0].0 < w[1].0), "{bad:?}");
    (st, events, bad)
}

#[test]
fn capture_reader_reports_each_malformed_packet_once_at_its_offset() {
    let mut cap = Pcap::new();
    cap.packet(T0, &syn(22));
    // A TCP header cut to 10 bytes, then a record that is no IPv4 at all.
    let cut = cap.packet(T0, &syn(23)[..30]);
    let junk = cap.packet(T0, &[0x60; 24]);
    cap.packet(T0 + 1, &syn(24));
    // The last record claims 40 bytes; the capture ends after 8.
    let last = cap.record(T0 + 1, 40, &syn(25)[..8]);
    // 24-byte file header, then a 16-byte header before each packet.
    assert_eq!((cut, junk, last), (80, 126, 222));

    let (st, events, bad) = reported(|opts, emit| read_capture(&cap.0[..], opts, emit));
    assert_eq!(
        bad,
        [
            (Location::Byte(80), "TCP header cut short".to_string()),
            (
                Location::Byte(126),
                "IPv4 packet of another IP version".to_string()
            ),
            (
                Location::Byte(222),
                "record cut short by the end of the capture".to_string()
            ),
        ]
    );
    assert_eq!((st.records, st.malformed, st.skipped), (5, 3, 3));
    assert_eq!(st.truncated_at, Some(222));
    // The two SYNs, within their answer window when the capture ends.
    assert_eq!((st.events, st.pending), (2, 2));
    assert!(events.iter().all(|e| e.outcome == Outcome::Attempt));

    // pcapng: a packet on an interface the section lacks, one whose
    // captured length overruns its block, and one that does not decode.
    let mut ng = Vec::new();
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&[0xff; 8]);
    block(&mut ng, 0x0a0d_0d0a, &shb);
    let mut idb = (LINK_IPV4 as u16).to_le_bytes().to_vec();
    idb.extend_from_slice(&[0, 0]);
    idb.extend_from_slice(&65535u32.to_le_bytes());
    block(&mut ng, 1, &idb);
    epb(&mut ng, 0, T0, &syn(22));
    let stray = epb(&mut ng, 7, T0, &syn(23));
    let overrun = epb(&mut ng, 0, T0, &syn(24));
    // Its captured length: four bytes past its block's body.
    let caplen = overrun as usize + 8 + 12;
    ng[caplen..caplen + 4].copy_from_slice(&44u32.to_le_bytes());
    let short = epb(&mut ng, 0, T0, &syn(25)[..12]);
    assert_eq!((stray, overrun, short), (120, 192, 264));

    let (st, _, bad) = reported(|opts, emit| read_capture(&ng[..], opts, emit));
    let at: Vec<Location> = bad.iter().map(|b| b.0).collect();
    assert_eq!(
        at,
        [
            Location::Byte(120),
            Location::Byte(192),
            Location::Byte(264)
        ]
    );
    assert_eq!(
        bad[0].1,
        "packet on an interface its section does not describe"
    );
    assert_eq!(bad[1].1, "captured length beyond the packet's block");
    assert_eq!(bad[2].1, "IPv4 header cut short");
    assert_eq!((st.records, st.malformed, st.events), (4, 3, 1));

    // Several captures read as one: each reports offsets in its own stream.
    let mut captures = CaptureReader::new(&PcapOptions::default()).unwrap();
    let mut bad = Vec::new();
    for input in [&cap.0[..], &ng[..]] {
        let mut report = |at: Location, _: &str| bad.push(at);
        captures
            .read(input, Some(&mut report), &mut |_| {})
            .unwrap();
        // Without a handler, malformed records are only counted.
        let st = captures.read(input, None, &mut |_| {}).unwrap();
        assert_eq!(st.malformed, 3);
    }
    assert_eq!(
        bad,
        [
            Location::Byte(80),
            Location::Byte(126),
            Location::Byte(222),
            Location::Byte(120),
            Location::Byte(192),
            Location::Byte(264)
        ]
    );
}

/// A capture, a Zeek log and an EVE log, each with one good probe and one
/// malformed record.
fn inputs() -> [(&'static str, Vec<u8>, Location); 3] {
    let mut cap = Pcap::new();
    cap.packet(T0, &syn(22));
    let bad = cap.packet(T0, &[0x45, 0, 0]);
    let zeek = "#separator \\x09\n\
                #fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tconn_state\n\
                1700000000.0\t203.0.113.5\t192.0.2.1\t22\ttcp\tREJ\n\
                1700000000.0\t203.0.113.5\t192.0.2.1\t22\tudp\n";
    let eve = concat!(
        "{\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\",\"dest_ip\":\"10.0.0.2\",",
        "\"dest_port\":53,\"proto\":\"UDP\",",
        "\"flow\":{\"pkts_toclient\":0,\"start\":\"2023-11-14T22:13:20Z\"}}\n",
        "\n",
        "{\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\"\n",
    );
    [
        ("pcap", cap.0, Location::Byte(bad)),
        ("zeek", zeek.as_bytes().to_vec(), Location::Line(4)),
        ("eve", eve.as_bytes().to_vec(), Location::Line(3)),
    ]
}

#[test]
fn every_reader_takes_the_same_read_options() {
    /// The one shape every reader has.
    type Reader = fn(&[u8], &mut ReadOptions<'_>, Emit<'_>) -> Result<ReadStats, InputError>;
    let readers: [(&str, Reader); 3] = [
        ("pcap", |r, opts, emit| read_capture(r, opts, emit)),
        ("zeek", |r, opts, emit| read_conn_log(r, opts, emit)),
        ("eve", |r, opts, emit| read_eve(r, opts, emit)),
    ];
    let sniffed: Reader = |r, opts, emit| sniff(r)?.read(opts, emit);

    // One set of options, handler included, for all of them: the capture
    // reader takes its tracker's options from it, the log readers ignore
    // those.
    let mut bad = Vec::new();
    let mut report = |at: Location, why: &str| bad.push((at, why.to_string()));
    let mut opts = ReadOptions {
        on_malformed: Some(&mut report),
        pcap: PcapOptions {
            pending_unanswered: true,
            ..PcapOptions::with_memory_bytes(1 << 20)
        },
        ..ReadOptions::default()
    };
    let mut stats = Vec::new();
    let mut events = Vec::new();
    for ((name, input, _), (reader_name, read)) in inputs().iter().zip(readers) {
        assert_eq!(*name, reader_name);
        let direct = read(input, &mut opts, &mut |e| events.push((*name, e))).unwrap();
        let via_sniff = sniffed(input, &mut opts, &mut |e| events.push((*name, e))).unwrap();
        assert_eq!(direct, via_sniff, "{name}");
        stats.push(direct);
    }

    // Each malformed record told twice (read directly, then sniffed), where
    // it is.
    let want: Vec<Location> = inputs().iter().flat_map(|i| [i.2, i.2]).collect();
    assert_eq!(bad.iter().map(|b| b.0).collect::<Vec<_>>(), want, "{bad:?}");
    assert!(bad.iter().all(|(_, why)| !why.is_empty()));
    // The same counts from each: two records, one malformed.
    for st in &stats {
        assert_eq!((st.records, st.malformed), (2, 1), "{st:?}");
    }
    // The capture's SYN, pending at its end, is counted there and, by the
    // options given, reported unanswered; logs have nothing pending.
    assert_eq!((stats[0].events, stats[0].pending), (2, 1));
    assert_eq!(stats[1].pending + stats[2].pending, 0);
    let outcomes = |name: &str| -> Vec<Outcome> {
        events
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, e)| e.outcome)
            .collect()
    };
    let unanswered_syn = [Outcome::Attempt, Outcome::Unanswered];
    assert_eq!(outcomes("pcap"), [unanswered_syn, unanswered_syn].concat());
    assert_eq!(outcomes("zeek"), [Outcome::Refused; 2]);
    assert_eq!(outcomes("eve"), [Outcome::Unanswered; 2]);
}

#[test]
fn inputs_read_as_one_take_the_same_read_options() {
    let mut bad = Vec::new();
    let mut report = |at: Location, _: &str| bad.push(at);
    let mut opts = ReadOptions {
        on_malformed: Some(&mut report),
        ..ReadOptions::default()
    };
    let mut captures = None;
    let mut events = 0;
    let mut total = ReadStats::default();
    for (_, input, _) in inputs() {
        let st = sniff(&input[..])
            .unwrap()
            .read_continuing(&mut captures, &mut opts, &mut |_| events += 1)
            .unwrap();
        assert_eq!((st.records, st.malformed, st.pending), (2, 1, 0));
        total.events += st.events;
    }
    // The capture's SYN is pending until the input ends.
    let pending = captures
        .as_mut()
        .map(|c: &mut CaptureReader| c.finish(&mut |_| events += 1));
    assert_eq!(pending, Some(1));
    assert_eq!((total.events, events), (3, 3));
    let want: Vec<Location> = inputs().iter().map(|i| i.2).collect();
    assert_eq!(bad, want);
}
