//! NetFlow v5, v9 and IPFIX (RFC 7011) export packets decoded into
//! [`FlowRecord`]s, with each exporter's templates kept apart.
//!
//! Decoding is `netflow_parser`'s (templates per exporter address and
//! observation domain or source id, templates that come late, refreshed or
//! withdrawn, variable-length and enterprise fields), bounded here: at most
//! [`MAX_EXPORTERS`] exporters, 1,024 templates and 10,000 records a flow
//! set each. What it refuses is counted per exporter, never trusted.
//!
//! # Times
//!
//! NetFlow v5 and v9 give a flow's start in milliseconds of the exporter's
//! uptime, and the header the uptime and the wall clock at export; IPFIX
//! gives absolute times (`flowStartMilliseconds`, `flowStartSeconds`) or
//! uptime with the exporter's `systemInitTimeMilliseconds` in an options
//! record. The start is the export time plus the (signed, 32-bit wrapping)
//! difference between the flow's uptime and the export's, so a flow that
//! began before the exporter's uptime counter last wrapped, or before the
//! exporter started (a replay, `softflowd -r`), still gets its own time.

use super::flow::{FlowRecord, Pairer, Reverse};
use super::{report, Emit, InputError, ReadOptions, ReadStats};
use netflow_parser::scoped_parser::AutoScopedParser;
use netflow_parser::variable_versions::field_value::{DataNumber, DurationValue, FieldValue};
use netflow_parser::variable_versions::ipfix::lookup::{
    IANAIPFixField, IPFixField, ReverseInformationElement,
};
use netflow_parser::variable_versions::v9::lookup::V9Field;
use netflow_parser::{NetflowPacket, NetflowParser};
use sampling::Declared;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use sweepwatch::Timestamp;

pub mod sampling;

/// The most exporters whose templates and counts are kept; packets from
/// more are counted as refused.
pub const MAX_EXPORTERS: usize = 4096;

/// What one exporter sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExporterStats {
    /// Export packets received.
    pub packets: u64,
    /// Flow records read from them.
    pub records: u64,
    /// Packets that were no valid export packet, or cut short (what they
    /// held before the fault was read).
    pub malformed: u64,
    /// Data sets whose template had not come (yet): their records are
    /// decoded if it comes soon, else lost.
    pub no_template: u64,
    /// Flow records without the fields a probe needs (addresses,
    /// protocol).
    pub incomplete: u64,
    /// The last NetFlow version seen (5, 9 or 10 for IPFIX).
    pub version: u16,
    /// The packet sampling interval the exporter declared (NetFlow v5's
    /// header; v9 and IPFIX options records), if any: its counts are of
    /// one packet in that many.
    pub sampling: Option<u32>,
}

/// Decodes the export packets of any number of exporters.
///
/// # Examples
/// ```
/// use sweepwatch_input::netflow::Decoder;
///
/// // A NetFlow v5 packet of one record: 203.0.113.9:40000 -> 10.0.0.1:22,
/// // TCP, SYN, one packet, started 1.5 s before the export.
/// let mut p = vec![0, 5, 0, 1]; // version 5, one record
/// p.extend(10_000u32.to_be_bytes()); // exporter uptime (ms)
/// p.extend(1_700_000_000u32.to_be_bytes()); // export time (s)
/// p.extend([0; 12]); // nanoseconds, sequence, engine, sampling
/// p.extend([203, 0, 113, 9, 10, 0, 0, 1, 0, 0, 0, 0]); // src, dst, next hop
/// p.extend([0; 4]); // interfaces
/// p.extend(1u32.to_be_bytes()); // packets
/// p.extend(44u32.to_be_bytes()); // bytes
/// p.extend(8_500u32.to_be_bytes()); // first packet (uptime ms)
/// p.extend(8_500u32.to_be_bytes()); // last packet
/// p.extend([0x9c, 0x40, 0, 22, 0, 0x02, 6, 0]); // ports, pad, flags, proto, tos
/// p.extend([0; 8]); // AS numbers, masks, pad
/// let mut d = Decoder::new();
/// let mut got = Vec::new();
/// let from = "192.0.2.1:2055".parse().unwrap();
/// assert_eq!(d.decode(from, &p, &mut |r| got.push(r)), 1);
/// assert_eq!((got[0].dst_port, got[0].tcp_flags, got[0].proto), (22, 0x02, 6));
/// assert_eq!(got[0].start.as_micros(), 1_699_999_998_500_000);
/// ```
pub struct Decoder {
    parser: AutoScopedParser,
    /// `systemInitTimeMilliseconds` by exporter, for IPFIX uptimes.
    init_ms: HashMap<SocketAddr, u64>,
    /// NetFlow v9 exporters' boot time in ms, as the latest of the
    /// estimates their headers give (export seconds less uptime): the
    /// header's clock has whole seconds, so one packet's estimate is up to
    /// a second early, and flows of different packets would shift against
    /// each other by as much.
    boot_ms: HashMap<SocketAddr, u64>,
    exporters: HashMap<SocketAddr, ExporterStats>,
    /// Packets refused because [`MAX_EXPORTERS`] were known.
    pub refused: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with no exporter known.
    pub fn new() -> Decoder {
        let builder = NetflowParser::builder()
            .with_cache_size(1024)
            .with_max_records_per_flowset(10_000);
        let parser =
            AutoScopedParser::try_with_builder(builder).unwrap_or_else(|_| AutoScopedParser::new());
        Decoder {
            parser,
            init_ms: HashMap::new(),
            boot_ms: HashMap::new(),
            exporters: HashMap::new(),
            refused: 0,
        }
    }

    /// What each exporter sent so far.
    pub fn exporters(&self) -> impl Iterator<Item = (&SocketAddr, &ExporterStats)> {
        self.exporters.iter()
    }

    /// Decodes one export packet from `exporter`, calling `emit` for each
    /// flow record in it; returns the records read.
    pub fn decode(
        &mut self,
        exporter: SocketAddr,
        packet: &[u8],
        emit: &mut dyn FnMut(FlowRecord),
    ) -> u64 {
        if !self.exporters.contains_key(&exporter) && self.exporters.len() >= MAX_EXPORTERS {
            self.refused += 1;
            return 0;
        }
        let result = self.parser.parse_from_source(exporter, packet);
        let mut st = self.exporters.get(&exporter).copied().unwrap_or_default();
        st.packets += 1;
        if result.error.is_some() {
            st.malformed += 1;
        }
        let mut n = 0;
        for p in &result.packets {
            match p {
                NetflowPacket::V5(v5) => {
                    st.version = 5;
                    let h = &v5.header;
                    // The top two bits are the sampling mode; each packet
                    // declares its own interval.
                    let interval = u32::from(h.sampling_interval & 0x3fff);
                    st.sampling = (interval > 1).then_some(interval);
                    let export_ms =
                        u64::from(h.unix_secs) * 1000 + u64::from(h.unix_nsecs) / 1_000_000;
                    for f in &v5.flowsets {
                        let proto = f.protocol_number;
                        let icmp = matches!(proto, 1 | 58);
                        emit(FlowRecord {
                            start: since(export_ms, f.first.wrapping_sub(h.sys_up_time)),
                            src: IpAddr::V4(f.src_addr),
                            dst: IpAddr::V4(f.dst_addr),
                            src_port: f.src_port,
                            dst_port: f.dst_port,
                            proto,
                            tcp_flags: f.tcp_flags,
                            icmp_type: icmp.then_some((f.dst_port >> 8) as u8),
                            packets: u64::from(f.d_pkts),
                            reverse: None,
                            sampling: st.sampling.unwrap_or(0),
                        });
                        n += 1;
                    }
                }
                NetflowPacket::V9(v9) => {
                    st.version = 9;
                    let uptime = v9.header.sys_up_time;
                    let estimate =
                        (u64::from(v9.header.unix_secs) * 1000).saturating_sub(u64::from(uptime));
                    let boot = self.boot_ms.entry(exporter).or_insert(estimate);
                    // A later estimate knows the boot better (or the
                    // exporter restarted); one more than two seconds
                    // earlier means its clock was set back.
                    if estimate > *boot || estimate + 2000 < *boot {
                        *boot = estimate;
                    }
                    let export_ms = *boot + u64::from(uptime);
                    for fs in &v9.flowsets {
                        use netflow_parser::variable_versions::v9::FlowSetBody as B;
                        match &fs.body {
                            B::Data(d) => {
                                n += each_record(&d.fields, &mut st, emit, |rec| {
                                    v9_record(rec, export_ms, uptime)
                                });
                            }
                            B::OptionsData(o) => {
                                for rec in &o.fields {
                                    let mut d = Declared::default();
                                    for (field, value) in &rec.options_fields {
                                        v9_sampling(&mut d, field, value);
                                    }
                                    if d.any() {
                                        st.sampling = d.interval();
                                    }
                                }
                            }
                            B::NoTemplate(_) => st.no_template += 1,
                            _ => {}
                        }
                    }
                }
                NetflowPacket::IPFix(ipfix) => {
                    st.version = 10;
                    let export_ms = u64::from(ipfix.header.export_time) * 1000;
                    for fs in &ipfix.flowsets {
                        use netflow_parser::variable_versions::ipfix::FlowSetBody as B;
                        match &fs.body {
                            B::Data(d) => {
                                let init = self.init_ms.get(&exporter).copied();
                                n += each_record(&d.fields, &mut st, emit, |rec| {
                                    ipfix_record(rec, export_ms, init)
                                });
                            }
                            B::OptionsData(o) => {
                                for rec in &o.fields {
                                    let mut d = Declared::default();
                                    for (field, value) in rec {
                                        let IPFixField::IANA(i) = field else {
                                            continue;
                                        };
                                        if *i == IANAIPFixField::SystemInitTimeMilliseconds {
                                            if let Some(ms) = millis(value) {
                                                self.init_ms.insert(exporter, ms);
                                            }
                                        }
                                        ipfix_sampling(&mut d, *i, value);
                                    }
                                    if d.any() {
                                        st.sampling = d.interval();
                                    }
                                }
                            }
                            B::NoTemplate(_) => st.no_template += 1,
                            _ => {}
                        }
                    }
                }
                NetflowPacket::V7(_) => st.version = 7,
                // A version this decoder does not read.
                _ => {}
            }
        }
        st.records += n;
        self.exporters.insert(exporter, st);
        n
    }
}

/// Reads a capture of flow export traffic (pcap or pcapng of NetFlow v5/v9
/// or IPFIX over UDP, as `sniff` recognises it): every datagram goes to a
/// [`Decoder`] as from its sender, and the records through a [`Pairer`]
/// (60 seconds of flow time), as `sweepwatch collect` does live. Its
/// records are the flow records, and each packet that held none (a message
/// refused, which is malformed; a template; other traffic); those that make
/// no event are skipped.
///
/// # Errors
/// An I/O error, or a capture whose framing is broken.
pub fn read_export_capture<R: std::io::Read>(
    r: R,
    opts: &mut ReadOptions<'_>,
    emit: Emit,
) -> Result<ReadStats, InputError> {
    let mut st = ReadStats::default();
    let mut decoder = Decoder::new();
    let mut pairer = Pairer::new(60_000_000, 1 << 20);
    let mut events = 0u64;
    let mut malformed = 0u64;
    // Packets, flow records, and packets that held some.
    let (mut packets, mut flow_records, mut with_records) = (0u64, 0u64, 0u64);
    let on_malformed = &mut opts.on_malformed;
    let sampling = opts.sampling;
    let mut counted = |e| {
        events += 1;
        emit(e);
    };
    let truncated = crate::pcap::each_datagram(r, &mut packets, &mut |at, datagram| {
        let why = match datagram {
            Err(why) => why,
            Ok((from, payload)) => {
                let before = decoder.exporters.get(&from).map_or(0, |e| e.malformed);
                let n = decoder.decode(from, payload, &mut |rec| {
                    if let Some(s) = sampling {
                        s.fetch_max(rec.sampling, std::sync::atomic::Ordering::Relaxed);
                    }
                    pairer.push(rec, &mut counted);
                });
                flow_records += n;
                with_records += u64::from(n > 0);
                if decoder.exporters.get(&from).map_or(0, |e| e.malformed) == before {
                    return;
                }
                "not a valid NetFlow or IPFIX message"
            }
        };
        malformed += 1;
        report(on_malformed, at, why);
    })?;
    pairer.finish(&mut counted);
    // Records: the flow records, and each packet that held none.
    st.records = flow_records + (packets - with_records);
    st.events = events;
    st.malformed = malformed;
    st.skipped = st.records - events;
    st.truncated_at = truncated;
    Ok(st)
}

/// Emits the flow record each of `records` makes; counts those without
/// the fields a probe needs. Returns the records emitted.
fn each_record<T>(
    records: &[T],
    st: &mut ExporterStats,
    emit: &mut dyn FnMut(FlowRecord),
    make: impl Fn(&T) -> Option<FlowRecord>,
) -> u64 {
    let mut n = 0;
    for rec in records {
        match make(rec) {
            Some(mut r) => {
                // A record's own interval, else its exporter's options'.
                if r.sampling == 0 {
                    r.sampling = st.sampling.unwrap_or(0);
                }
                emit(r);
                n += 1;
            }
            None => st.incomplete += 1,
        }
    }
    n
}

/// Notes what a v9 field declares of sampling ([`sampling`] has the table).
fn v9_sampling(d: &mut Declared, field: &V9Field, v: &FieldValue) {
    if let (V9Field::SamplingInterval | V9Field::FlowSamplerRandomInterval, Some(n)) =
        (field, number(v))
    {
        d.one_in = Some(n);
    }
}

/// Notes what an IPFIX information element declares of sampling
/// ([`sampling`] has the table).
fn ipfix_sampling(d: &mut Declared, i: IANAIPFixField, v: &FieldValue) {
    use IANAIPFixField as I;
    if let (I::SamplingProbability, FieldValue::Float64(p)) = (i, v) {
        d.probability = Some(*p);
        return;
    }
    let Some(n) = number(v) else { return };
    match i {
        I::SamplingInterval | I::SamplerRandomInterval => d.one_in = Some(n),
        I::SamplingPacketInterval => d.packet_interval = Some(n),
        I::SamplingPacketSpace => d.packet_space = Some(n),
        I::SamplingSize => d.size = Some(n),
        I::SamplingPopulation => d.population = Some(n),
        _ => {}
    }
}

/// `export_ms` moved by a signed 32-bit millisecond difference.
fn since(export_ms: u64, diff: u32) -> Timestamp {
    let ms = export_ms as i64 + i64::from(diff as i32);
    Timestamp::from_micros(u64::try_from(ms).unwrap_or(0).saturating_mul(1000))
}

fn number(v: &FieldValue) -> Option<u64> {
    Some(match v {
        FieldValue::DataNumber(d) => match d {
            DataNumber::U8(x) => u64::from(*x),
            DataNumber::U16(x) => u64::from(*x),
            DataNumber::U24(x) | DataNumber::U32(x) => u64::from(*x),
            DataNumber::U64(x) => *x,
            DataNumber::U128(x) => u64::try_from(*x).ok()?,
            DataNumber::I8(x) => u64::try_from(*x).ok()?,
            DataNumber::I16(x) => u64::try_from(*x).ok()?,
            DataNumber::I24(x) | DataNumber::I32(x) => u64::try_from(*x).ok()?,
            DataNumber::I64(x) => u64::try_from(*x).ok()?,
            DataNumber::I128(x) => u64::try_from(*x).ok()?,
            DataNumber::Vec(b) if b.len() <= 8 => {
                b.iter().fold(0u64, |n, byte| (n << 8) | u64::from(*byte))
            }
            DataNumber::Vec(_) => return None,
        },
        FieldValue::ProtocolType(p) => u64::from(u8::from(*p)),
        FieldValue::TcpControlBits(bits, _) => u64::from(u16::from(*bits)),
        FieldValue::Duration(_) => millis(v)?,
        _ => return None,
    })
}

/// A time field in milliseconds (since the epoch, or of uptime).
fn millis(v: &FieldValue) -> Option<u64> {
    match v {
        FieldValue::Duration(DurationValue::Millis { value, .. }) => Some(*value),
        FieldValue::Duration(DurationValue::Seconds { value, .. }) => {
            Some(value.saturating_mul(1000))
        }
        FieldValue::DataNumber(_) => number(v),
        _ => None,
    }
}

fn addr(v: &FieldValue) -> Option<IpAddr> {
    match v {
        FieldValue::Ip4Addr(a) => Some(IpAddr::V4(*a)),
        FieldValue::Ip6Addr(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// The fields of a flow record, however the version named them.
#[derive(Default)]
struct Fields {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    src_port: u16,
    dst_port: u16,
    proto: Option<u8>,
    flags: u8,
    packets: u64,
    icmp_type_code: Option<u16>,
    start: Option<Timestamp>,
    reverse: Option<Reverse>,
    sampling: Declared,
}

impl Fields {
    fn record(self) -> Option<FlowRecord> {
        let proto = self.proto?;
        let icmp = matches!(proto, 1 | 58);
        let type_code = self.icmp_type_code.unwrap_or(self.dst_port);
        Some(FlowRecord {
            start: self.start?,
            src: self.src?,
            dst: self.dst?,
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto,
            tcp_flags: self.flags,
            icmp_type: icmp.then_some((type_code >> 8) as u8),
            packets: self.packets,
            reverse: self.reverse,
            sampling: self.sampling.interval().unwrap_or(0),
        })
    }
}

fn v9_record(rec: &[(V9Field, FieldValue)], export_ms: u64, uptime: u32) -> Option<FlowRecord> {
    let mut f = Fields::default();
    for (field, v) in rec {
        v9_sampling(&mut f.sampling, field, v);
        match field {
            V9Field::Ipv4SrcAddr | V9Field::Ipv6SrcAddr => f.src = addr(v),
            V9Field::Ipv4DstAddr | V9Field::Ipv6DstAddr => f.dst = addr(v),
            V9Field::L4SrcPort => f.src_port = number(v).unwrap_or(0) as u16,
            V9Field::L4DstPort => f.dst_port = number(v).unwrap_or(0) as u16,
            V9Field::Protocol => f.proto = number(v).map(|p| p as u8),
            V9Field::TcpFlags => f.flags = number(v).unwrap_or(0) as u8,
            V9Field::InPkts => f.packets = number(v).unwrap_or(0),
            V9Field::IcmpType => f.icmp_type_code = number(v).map(|t| t as u16),
            V9Field::FirstSwitched => {
                f.start = millis(v).map(|ms| since(export_ms, (ms as u32).wrapping_sub(uptime)));
            }
            _ => {}
        }
    }
    f.record()
}

fn ipfix_record(
    rec: &[(IPFixField, FieldValue)],
    export_ms: u64,
    init_ms: Option<u64>,
) -> Option<FlowRecord> {
    use IANAIPFixField as I;
    let mut f = Fields::default();
    let mut reverse = Reverse::default();
    let mut biflow = false;
    let mut uptime_start = None;
    for (field, v) in rec {
        if let IPFixField::IANA(i) = field {
            ipfix_sampling(&mut f.sampling, *i, v);
        }
        match field {
            IPFixField::IANA(i) => match i {
                I::SourceIpv4address | I::SourceIpv6address => f.src = addr(v),
                I::DestinationIpv4address | I::DestinationIpv6address => f.dst = addr(v),
                I::SourceTransportPort => f.src_port = number(v).unwrap_or(0) as u16,
                I::DestinationTransportPort => f.dst_port = number(v).unwrap_or(0) as u16,
                I::ProtocolIdentifier => f.proto = number(v).map(|p| p as u8),
                I::TcpControlBits => f.flags = number(v).unwrap_or(0) as u8,
                I::PacketDeltaCount | I::PacketTotalCount => {
                    f.packets = number(v).unwrap_or(0);
                }
                I::IcmpTypeCodeIpv4 | I::IcmpTypeCodeIpv6 => {
                    f.icmp_type_code = number(v).map(|t| t as u16);
                }
                I::FlowStartMilliseconds | I::FlowStartSeconds => {
                    f.start = millis(v).map(|ms| Timestamp::from_micros(ms.saturating_mul(1000)));
                }
                I::FlowStartSysUpTime => uptime_start = millis(v),
                _ => {}
            },
            IPFixField::ReverseInformationElement(r) => match r {
                ReverseInformationElement::ReversePacketDeltaCount => {
                    biflow = true;
                    reverse.packets = number(v).unwrap_or(0);
                }
                ReverseInformationElement::ReverseTcpControlBits => {
                    biflow = true;
                    reverse.tcp_flags = number(v).unwrap_or(0) as u8;
                }
                _ => {}
            },
            _ => {}
        }
    }
    if f.start.is_none() {
        // Uptime: relative to the exporter's start, from its options; the
        // export time stands in until they come.
        f.start = Some(match (uptime_start, init_ms) {
            (Some(up), Some(init)) => {
                let now_up = export_ms.wrapping_sub(init) as u32;
                since(export_ms, (up as u32).wrapping_sub(now_up))
            }
            _ => Timestamp::from_micros(export_ms.saturating_mul(1000)),
        });
    }
    if biflow {
        f.reverse = Some(reverse);
    }
    f.record()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPFIX message of `sets`.
    fn message(sets: &[u8]) -> Vec<u8> {
        let mut m = vec![0, 10];
        m.extend(((16 + sets.len()) as u16).to_be_bytes());
        m.extend(1_700_000_100u32.to_be_bytes());
        m.extend(0u32.to_be_bytes());
        m.extend(7u32.to_be_bytes());
        m.extend_from_slice(sets);
        m
    }

    /// A template set: id 256, IANA fields, then enterprise fields
    /// (`(id, len, enterprise)`).
    fn template(fields: &[(u16, u16)], enterprise: &[(u16, u16, u32)]) -> Vec<u8> {
        let n = fields.len() + enterprise.len();
        let len = 4 + 4 + 4 * fields.len() + 8 * enterprise.len();
        let mut t = vec![0, 2];
        t.extend((len as u16).to_be_bytes());
        t.extend(256u16.to_be_bytes());
        t.extend((n as u16).to_be_bytes());
        for (id, l) in fields {
            t.extend(id.to_be_bytes());
            t.extend(l.to_be_bytes());
        }
        for (id, l, e) in enterprise {
            t.extend((id | 0x8000).to_be_bytes());
            t.extend(l.to_be_bytes());
            t.extend(e.to_be_bytes());
        }
        t
    }

    fn data(records: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = records.concat();
        let mut d = vec![1, 0];
        d.extend(((4 + body.len()) as u16).to_be_bytes());
        d.extend(body);
        d
    }

    const FIELDS: [(u16, u16); 7] = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (152, 8)];

    fn syn_record(ms: u64) -> Vec<u8> {
        let mut r = vec![203, 0, 113, 9, 10, 0, 0, 1];
        r.extend(40000u16.to_be_bytes());
        r.extend(22u16.to_be_bytes());
        r.extend([6, 0x02]);
        r.extend(ms.to_be_bytes());
        r
    }

    fn decode(d: &mut Decoder, packet: &[u8]) -> Vec<FlowRecord> {
        let mut out = Vec::new();
        d.decode("192.0.2.1:4739".parse().unwrap(), packet, &mut |r| {
            out.push(r)
        });
        out
    }

    #[test]
    fn ipfix_records_with_absolute_times() {
        let mut d = Decoder::new();
        let mut sets = template(&FIELDS, &[]);
        sets.extend(data(&[syn_record(1_700_000_000_250)]));
        let recs = decode(&mut d, &message(&sets));
        assert_eq!(recs.len(), 1);
        let r = recs[0];
        assert_eq!(r.start.as_micros(), 1_700_000_000_250_000);
        assert_eq!(
            (r.src_port, r.dst_port, r.proto, r.tcp_flags),
            (40000, 22, 6, 0x02)
        );
        assert_eq!(r.reverse, None);
    }

    #[test]
    fn a_biflow_carries_its_reverse_direction() {
        let mut d = Decoder::new();
        // RFC 5103: reversePacketDeltaCount and reverseTcpControlBits,
        // enterprise 29305.
        let mut sets = template(&FIELDS, &[(2, 4, 29305), (6, 1, 29305)]);
        let mut rec = syn_record(1_700_000_000_000);
        rec.extend(1u32.to_be_bytes());
        rec.push(0x14);
        sets.extend(data(&[rec]));
        let recs = decode(&mut d, &message(&sets));
        assert_eq!(
            recs[0].reverse,
            Some(Reverse {
                packets: 1,
                tcp_flags: 0x14
            })
        );
    }

    #[test]
    fn variable_length_and_other_enterprises_fields_are_skipped() {
        let mut d = Decoder::new();
        // interfaceName (82) of variable length, then a field of
        // enterprise 9 (Cisco) of variable length too, after the IANA ones.
        let mut fields = FIELDS.to_vec();
        fields.push((82, 0xffff));
        let mut sets = template(&fields, &[(12235, 0xffff, 9)]);
        let mut rec = syn_record(1_700_000_000_000);
        rec.push(4);
        rec.extend(b"eth0");
        // The long form: 255, then a 16-bit length.
        rec.push(255);
        rec.extend(300u16.to_be_bytes());
        rec.extend([0xab; 300]);
        let mut second = syn_record(1_700_000_000_001);
        second[7] = 2;
        second.extend([1, b'x', 2, 0xcd, 0xef]);
        sets.extend(data(&[rec, second]));
        let recs = decode(&mut d, &message(&sets));
        assert_eq!(recs.len(), 2, "{recs:?}");
        assert_eq!(recs[0].dst, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(recs[1].dst, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!((recs[1].dst_port, recs[1].tcp_flags), (22, 0x02));
        assert_eq!(recs[1].start.as_micros(), 1_700_000_000_001_000);
    }

    /// An options template set (id 257, scope meteringProcessId) of
    /// `fields`, and a data set of one record of `values`.
    fn options(fields: &[(u16, u16)], values: &[u8]) -> Vec<u8> {
        let mut t = vec![0, 3];
        t.extend(((10 + 4 + 4 * fields.len()) as u16).to_be_bytes());
        t.extend(257u16.to_be_bytes());
        t.extend(((1 + fields.len()) as u16).to_be_bytes());
        t.extend(1u16.to_be_bytes());
        t.extend([0, 143, 0, 4]);
        for (id, l) in fields {
            t.extend(id.to_be_bytes());
            t.extend(l.to_be_bytes());
        }
        t.extend([1, 1]);
        t.extend(((4 + 4 + values.len()) as u16).to_be_bytes());
        t.extend(1u32.to_be_bytes());
        t.extend_from_slice(values);
        t
    }

    #[test]
    fn declared_sampling_reaches_every_record_after_it() {
        let mut d = Decoder::new();
        let mut sets = template(&FIELDS, &[]);
        sets.extend(data(&[syn_record(1)]));
        let recs = decode(&mut d, &message(&sets));
        assert_eq!(recs[0].sampling, 0, "nothing declared yet");
        // samplerRandomInterval (50): one in 512.
        let sets = options(&[(50, 4)], &512u32.to_be_bytes());
        decode(&mut d, &message(&sets));
        assert_eq!(d.exporters().next().unwrap().1.sampling, Some(512));
        let recs = decode(&mut d, &message(&data(&[syn_record(2)])));
        assert_eq!(recs[0].sampling, 512);
        // samplingProbability (311): 0.01, one in 100.
        let sets = options(&[(311, 8)], &0.01f64.to_be_bytes());
        let mut sets = sets;
        sets.extend(data(&[syn_record(3)]));
        let recs = decode(&mut d, &message(&sets));
        assert_eq!(recs[0].sampling, 100);
        // Declared 1: no sampling any more.
        let mut sets = options(&[(34, 4)], &1u32.to_be_bytes());
        sets.extend(data(&[syn_record(4)]));
        let recs = decode(&mut d, &message(&sets));
        assert_eq!(recs[0].sampling, 0);
        assert_eq!(d.exporters().next().unwrap().1.sampling, None);
    }

    #[test]
    fn a_record_s_own_sampling_field_is_its_own() {
        let mut d = Decoder::new();
        // samplingInterval (34) in the data record itself.
        let mut fields = FIELDS.to_vec();
        fields.push((34, 4));
        let mut sets = template(&fields, &[]);
        let mut rec = syn_record(1);
        rec.extend(64u32.to_be_bytes());
        sets.extend(data(&[rec]));
        let recs = decode(&mut d, &message(&sets));
        assert_eq!(recs[0].sampling, 64);
    }

    #[test]
    fn data_before_its_template_is_counted_and_later_data_is_read() {
        let mut d = Decoder::new();
        let early = decode(&mut d, &message(&data(&[syn_record(1)])));
        assert!(early.is_empty());
        let st = *d.exporters().next().unwrap().1;
        assert_eq!((st.packets, st.no_template, st.records), (1, 1, 0));
        decode(&mut d, &message(&template(&FIELDS, &[])));
        let later = decode(&mut d, &message(&data(&[syn_record(2)])));
        assert_eq!(later.len(), 1);
        // Another exporter's template is its own: its data waits.
        let mut other = Vec::new();
        d.decode(
            "192.0.2.2:4739".parse().unwrap(),
            &message(&data(&[syn_record(3)])),
            &mut |r| other.push(r),
        );
        assert!(other.is_empty());
    }

    #[test]
    fn a_refreshed_template_decodes_what_follows_it() {
        let mut d = Decoder::new();
        let mut sets = template(&FIELDS, &[]);
        sets.extend(data(&[syn_record(1_700_000_000_000)]));
        assert_eq!(decode(&mut d, &message(&sets)).len(), 1);
        // Template 256 again, its fields reordered: destination first.
        let moved: [(u16, u16); 7] = [(12, 4), (8, 4), (7, 2), (11, 2), (4, 1), (6, 1), (152, 8)];
        let mut sets = template(&moved, &[]);
        sets.extend(data(&[syn_record(1_700_000_000_000)]));
        let recs = decode(&mut d, &message(&sets));
        assert_eq!(recs.len(), 1);
        // The same bytes, read by the new template: the addresses swap.
        assert_eq!(recs[0].src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(recs[0].dst, "203.0.113.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_withdrawn_template_reads_nothing_more() {
        let mut d = Decoder::new();
        let mut sets = template(&FIELDS, &[]);
        sets.extend(data(&[syn_record(1)]));
        assert_eq!(decode(&mut d, &message(&sets)).len(), 1);
        // RFC 7011 8.1: the template id with no fields withdraws it.
        let withdraw = [0, 2, 0, 8, 1, 0, 0, 0];
        decode(&mut d, &message(&withdraw));
        assert!(decode(&mut d, &message(&data(&[syn_record(2)]))).is_empty());
        let st = *d.exporters().next().unwrap().1;
        assert_eq!((st.records, st.no_template), (1, 1));
    }

    #[test]
    fn absurd_times_are_clamped_never_overflow() {
        // A flowStartMilliseconds of 2^64 - 1 (found by the fuzz target).
        let mut d = Decoder::new();
        let mut rec = syn_record(0);
        let n = rec.len();
        rec[n - 8..].copy_from_slice(&u64::MAX.to_be_bytes());
        let mut sets = template(&FIELDS, &[]);
        sets.extend(data(&[rec]));
        let recs = decode(&mut d, &message(&sets));
        assert_eq!(recs[0].start.as_micros(), u64::MAX);
    }

    #[test]
    fn garbage_is_counted_never_trusted() {
        let mut d = Decoder::new();
        for junk in [
            &b""[..],
            b"\x00\x0a\xff\xff",
            b"\x00\x05\x00\xff",
            &[0xff; 100],
        ] {
            assert_eq!(decode(&mut d, junk).len(), 0);
        }
        let st = *d.exporters().next().unwrap().1;
        assert_eq!(st.packets, 4);
        assert!(st.malformed >= 3, "{st:?}");
    }

    /// A NetFlow v9 packet: header at `unix_secs` with `uptime`, a
    /// template (id 256: addresses, ports, protocol, flags, first switched)
    /// and one SYN record first seen at uptime `first`.
    fn v9(unix_secs: u32, uptime: u32, first: u32) -> Vec<u8> {
        let mut p = vec![0, 9, 0, 2];
        p.extend(uptime.to_be_bytes());
        p.extend(unix_secs.to_be_bytes());
        p.extend([0; 8]);
        let fields: [(u16, u16); 7] = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (22, 4)];
        p.extend([0, 0]);
        p.extend(((8 + 4 * fields.len()) as u16).to_be_bytes());
        p.extend(256u16.to_be_bytes());
        p.extend((fields.len() as u16).to_be_bytes());
        for (id, len) in fields {
            p.extend(id.to_be_bytes());
            p.extend(len.to_be_bytes());
        }
        let mut rec = vec![203, 0, 113, 9, 10, 0, 0, 1];
        rec.extend(40000u16.to_be_bytes());
        rec.extend(22u16.to_be_bytes());
        rec.extend([6, 0x02]);
        rec.extend(first.to_be_bytes());
        p.extend(256u16.to_be_bytes());
        p.extend(((4 + rec.len() + 2) as u16).to_be_bytes());
        p.extend(rec);
        p.extend([0, 0]); // padding to 32 bits
        p
    }

    #[test]
    fn v9_flows_of_different_packets_keep_their_spacing() {
        // The exporter booted at 1,700,000,000.300 s. A packet sent at
        // uptime 1,700 ms says 1,700,000,002 s; one sent at 2,400 ms says
        // 1,700,000,002 s too. Flows first seen at uptime 1,600 and 2,300
        // ms are 700 ms apart; taken from each header's whole second they
        // would seem to start together.
        let mut d = Decoder::new();
        let a = decode(&mut d, &v9(1_700_000_002, 1700, 1600));
        let b = decode(&mut d, &v9(1_700_000_002, 2400, 2300));
        assert_eq!((a.len(), b.len()), (1, 1));
        let gap = b[0].start.as_micros() - a[0].start.as_micros();
        assert_eq!(gap, 700_000);
        assert_eq!(a[0].start.as_micros(), 1_700_000_001_900_000);
    }

    #[test]
    fn uptimes_before_the_exporter_started_keep_their_time() {
        // Export at 1,700,000,100 s with uptime 1 ms; a flow 15 days
        // earlier has an uptime that wrapped below zero.
        let export_ms = 1_700_000_100_000u64;
        let first = 1u32.wrapping_sub(15 * 86_400_000);
        let t = since(export_ms, first.wrapping_sub(1));
        assert_eq!(t.as_micros(), (export_ms - 15 * 86_400_000) * 1000);
    }
}
