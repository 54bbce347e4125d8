//! Link, network and transport headers: just enough of each packet to track
//! probes and their answers. Decoding never allocates and never panics; every
//! length is checked before it is used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use sweepwatch::Protocol;

/// Link types (LINKTYPE_* values as stored in pcap and pcapng).
pub(super) const LINK_NULL: u32 = 0;
pub(super) const LINK_ETHERNET: u32 = 1;
/// DLT_RAW as some platforms number it in files.
pub(super) const LINK_RAW_12: u32 = 12;
pub(super) const LINK_RAW_14: u32 = 14;
pub(super) const LINK_RAW: u32 = 101;
/// OpenBSD loopback: like NULL, but the family is always big-endian.
pub(super) const LINK_LOOP: u32 = 108;
pub(super) const LINK_SLL: u32 = 113;
pub(super) const LINK_IPV4: u32 = 228;
pub(super) const LINK_IPV6: u32 = 229;
pub(super) const LINK_SLL2: u32 = 276;

pub(super) const ETH_IPV4: u16 = 0x0800;
pub(super) const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ outer tag, still emitted by some switches.
const ETH_QINQ_OLD: u16 = 0x9100;
/// MPLS, unicast and multicast: a stack of 4-byte labels before the packet.
pub(super) const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
/// PPPoE session stage: a 6-byte PPPoE header, then a PPP protocol number.
const ETH_PPPOE: u16 = 0x8864;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;

const IP_ICMP: u8 = 1;
const IP_TCP: u8 = 6;
const IP_UDP: u8 = 17;
const IP_ICMPV6: u8 = 58;
const IP_IPIP: u8 = 4;
const IP_IPV6: u8 = 41;
const IP_GRE: u8 = 47;

/// Stacked VLAN tags or IPv6 extension headers beyond this are not real traffic.
const MAX_NESTING: usize = 8;

/// What a probe-tracking reader needs from a packet's transport header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp {
        sport: u16,
        dport: u16,
        flags: u8,
        /// The segment carries payload, by the IP header's lengths (so a
        /// capture cut short by its snapshot length still tells).
        data: bool,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    EchoRequest {
        id: u16,
    },
    EchoReply {
        id: u16,
    },
    /// ICMP destination unreachable, with the flow of the packet it quotes.
    Unreachable(Quoted),
    /// ICMP time exceeded in transit (a router on the path dropped the
    /// packet, as traceroute makes them do), with the flow it quotes.
    TimeExceeded(Quoted),
}

/// The flow of the packet an ICMP error quotes, as its sender saw it: for an
/// echo request, `sport` is the echo identifier and `dport` 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Quoted {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub proto: Protocol,
}

/// A decoded packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport,
    /// The id of the packet's outermost VLAN tag, 0 without one.
    pub vlan: u16,
}

/// The result of decoding one captured frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Packet(Packet),
    /// Well formed but of no interest: not IP, a later fragment, another
    /// protocol or ICMP type.
    Irrelevant,
    /// A header is cut short or inconsistent: which one, and how.
    Malformed(&'static str),
    /// A link type not decoded here (802.11, PPP, ...).
    UnsupportedLink,
}

use super::tunnel;
use Decoded::{Irrelevant, Malformed};

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn v4(b: &[u8]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

fn v6(b: &[u8]) -> IpAddr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    IpAddr::V6(Ipv6Addr::from(a))
}

/// A link type's name, for the ones captures not decoded here most often
/// hold (tcpdump's names); `None` for others.
///
/// ```
/// assert_eq!(sweepwatch_input::pcap::link_name(105), Some("IEEE 802.11"));
/// assert_eq!(sweepwatch_input::pcap::link_name(1), None);
/// ```
pub fn link_name(link: u32) -> Option<&'static str> {
    Some(match link {
        9 => "PPP",
        50 => "PPP in HDLC framing",
        104 => "Cisco HDLC",
        105 => "IEEE 802.11",
        119 => "IEEE 802.11 with Prism header",
        127 => "IEEE 802.11 with radiotap header",
        163 => "IEEE 802.11 with AVS header",
        192 => "PPI",
        195 => "IEEE 802.15.4",
        201 => "Bluetooth HCI H4",
        220 => "USB",
        _ => return None,
    })
}

/// Decodes a frame captured on a link of type `link`.
pub(crate) fn decode(link: u32, data: &[u8]) -> Decoded {
    match link {
        LINK_ETHERNET => ethernet(data, 0),
        LINK_RAW | LINK_RAW_12 | LINK_RAW_14 => match data.first().map(|b| b >> 4) {
            Some(4) => ipv4(data, 0),
            Some(6) => ipv6(data, 0),
            Some(_) => Irrelevant,
            None => Malformed("empty packet"),
        },
        LINK_IPV4 => ipv4(data, 0),
        LINK_IPV6 => ipv6(data, 0),
        LINK_SLL => {
            if data.len() < 16 {
                return Malformed("Linux cooked header cut short");
            }
            ethertype(be16(data, 14), &data[16..], 0)
        }
        LINK_SLL2 => {
            if data.len() < 20 {
                return Malformed("Linux cooked v2 header cut short");
            }
            ethertype(be16(data, 0), &data[20..], 0)
        }
        LINK_NULL | LINK_LOOP => {
            if data.len() < 4 {
                return Malformed("loopback header cut short");
            }
            let f = [data[0], data[1], data[2], data[3]];
            // NULL stores the family in the capturing host's byte order, which
            // the file does not record: accept either.
            let family = if link == LINK_LOOP {
                u32::from_be_bytes(f)
            } else {
                u32::from_le_bytes(f).min(u32::from_be_bytes(f))
            };
            match family {
                2 => ipv4(&data[4..], 0),
                // AF_INET6 on Linux, the BSDs and macOS.
                10 | 24 | 28 | 30 => ipv6(&data[4..], 0),
                _ => Irrelevant,
            }
        }
        _ => Decoded::UnsupportedLink,
    }
}

/// An Ethernet frame, `depth` tunnels in.
pub(super) fn ethernet(f: &[u8], depth: u8) -> Decoded {
    if f.len() < 14 {
        return Malformed(match depth {
            0 => "Ethernet header cut short",
            _ => "tunnelled Ethernet header cut short",
        });
    }
    ethertype(be16(f, 12), &f[14..], depth)
}

/// Follows an EtherType through any number of VLAN tags; the packet keeps
/// the id of the first (outermost) one. A tunnelled frame's own tags, set
/// deeper, give way to its carrier's.
pub(super) fn ethertype(mut ty: u16, mut data: &[u8], depth: u8) -> Decoded {
    let mut vlan = None;
    for _ in 0..MAX_NESTING {
        if !matches!(ty, ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD) {
            return match (untagged(ty, data, depth), vlan) {
                (Decoded::Packet(mut p), Some(id)) => {
                    p.vlan = id;
                    Decoded::Packet(p)
                }
                (d, _) => d,
            };
        }
        if data.len() < 4 {
            return Malformed("VLAN tag cut short");
        }
        vlan = vlan.or(Some(be16(data, 0) & 0x0fff));
        ty = be16(data, 2);
        data = &data[4..];
    }
    Irrelevant
}

/// What an EtherType other than a VLAN tag's carries.
fn untagged(ty: u16, data: &[u8], depth: u8) -> Decoded {
    match ty {
        ETH_IPV4 => ipv4(data, depth),
        ETH_IPV6 => ipv6(data, depth),
        ETH_MPLS | ETH_MPLS_MC => mpls(data, depth),
        ETH_PPPOE => {
            if data.len() < 8 {
                return Malformed("PPPoE header cut short");
            }
            // Version and type 1, session data (code 0).
            if data[0] != 0x11 || data[1] != 0 {
                return Irrelevant;
            }
            let payload = &data[8..];
            match be16(data, 6) {
                PPP_IPV4 => ipv4(payload, depth),
                PPP_IPV6 => ipv6(payload, depth),
                _ => Irrelevant,
            }
        }
        _ => Irrelevant,
    }
}

/// An MPLS label stack, then the packet it carries. The stack says nothing
/// of what follows its last label (the bottom of stack): an IP packet is
/// told by its version nibble, as routers do; anything else (a pseudowire's
/// control word or Ethernet frame) is of no interest here.
pub(super) fn mpls(mut data: &[u8], depth: u8) -> Decoded {
    for _ in 0..MAX_NESTING {
        if data.len() < 4 {
            return Malformed("MPLS label cut short");
        }
        let bottom = data[2] & 1 != 0;
        data = &data[4..];
        if bottom {
            return match data.first().map(|b| b >> 4) {
                Some(4) => ipv4(data, depth),
                Some(6) => ipv6(data, depth),
                _ => Irrelevant,
            };
        }
    }
    Irrelevant
}

pub(super) fn ipv4(d: &[u8], depth: u8) -> Decoded {
    if d.len() < 20 {
        return Malformed("IPv4 header cut short");
    }
    if d[0] >> 4 != 4 {
        return Malformed("IPv4 packet of another IP version");
    }
    let ihl = usize::from(d[0] & 0x0f) * 4;
    let total = usize::from(be16(d, 2));
    if ihl < 20 || d.len() < ihl || (total != 0 && total < ihl) {
        return Malformed("IPv4 header length inconsistent");
    }
    // Ethernet padding follows short packets; a total length of 0 is what
    // segmentation offload leaves in captures taken on the sending host.
    let end = if total == 0 {
        d.len()
    } else {
        total.min(d.len())
    };
    if be16(d, 6) & 0x1fff != 0 {
        // A later fragment: no transport header.
        return Irrelevant;
    }
    let claimed = if total == 0 { end } else { total } - ihl;
    transport(
        d[9],
        v4(&d[12..16]),
        v4(&d[16..20]),
        &d[ihl..end],
        claimed,
        depth,
    )
}

pub(super) fn ipv6(d: &[u8], depth: u8) -> Decoded {
    if d.len() < 40 {
        return Malformed("IPv6 header cut short");
    }
    if d[0] >> 4 != 6 {
        return Malformed("IPv6 packet of another IP version");
    }
    let payload = usize::from(be16(d, 4));
    // A payload length of 0 means a jumbogram (or offload): use what is there.
    let end = if payload == 0 {
        d.len()
    } else {
        (40 + payload).min(d.len())
    };
    let claimed_end = if payload == 0 { end } else { 40 + payload };
    match ipv6_extensions(d[6], &d[..end]) {
        Ok(Some((next, at))) => transport(
            next,
            v6(&d[8..24]),
            v6(&d[24..40]),
            &d[at..end],
            claimed_end.saturating_sub(at),
            depth,
        ),
        Ok(None) => Irrelevant,
        Err(()) => Malformed("IPv6 extension header cut short"),
    }
}

/// Skips hop-by-hop, routing, destination-options and fragment headers after
/// the 40-byte fixed header: the transport protocol and where its header
/// starts, `None` for a later fragment.
fn ipv6_extensions(mut next: u8, d: &[u8]) -> Result<Option<(u8, usize)>, ()> {
    let mut at = 40;
    for _ in 0..MAX_NESTING {
        match next {
            0 | 43 | 60 => {
                if d.len() < at + 2 {
                    return Err(());
                }
                next = d[at];
                at += (usize::from(d[at + 1]) + 1) * 8;
            }
            44 => {
                if d.len() < at + 8 {
                    return Err(());
                }
                if be16(d, at + 2) & 0xfff8 != 0 {
                    return Ok(None);
                }
                next = d[at];
                at += 8;
            }
            _ => break,
        }
    }
    if at > d.len() {
        return Err(());
    }
    Ok(Some((next, at)))
}

/// Decodes the transport header `p` (as captured) of a segment whose IP
/// header claims `claimed` bytes from its start.
fn transport(proto: u8, src: IpAddr, dst: IpAddr, p: &[u8], claimed: usize, depth: u8) -> Decoded {
    let transport = match proto {
        IP_TCP => {
            if p.len() < 20 {
                return Malformed("TCP header cut short");
            }
            let header = (usize::from(p[12] >> 4) * 4).max(20);
            Transport::Tcp {
                sport: be16(p, 0),
                dport: be16(p, 2),
                flags: p[13],
                data: claimed > header,
            }
        }
        IP_UDP => {
            if p.len() < 8 {
                return Malformed("UDP header cut short");
            }
            if be16(p, 2) == tunnel::VXLAN_PORT {
                if let Some(inner) = tunnel::vxlan(&p[8..], depth) {
                    return inner;
                }
            }
            Transport::Udp {
                sport: be16(p, 0),
                dport: be16(p, 2),
            }
        }
        IP_ICMP | IP_ICMPV6 => {
            if p.len() < 8 {
                return Malformed("ICMP header cut short");
            }
            let id = be16(p, 4);
            match (proto, p[0]) {
                (IP_ICMP, 8) | (IP_ICMPV6, 128) => Transport::EchoRequest { id },
                (IP_ICMP, 0) | (IP_ICMPV6, 129) => Transport::EchoReply { id },
                (IP_ICMP, 3) | (IP_ICMPV6, 1) => match quoted(&p[8..]) {
                    Ok(Some(q)) => Transport::Unreachable(q),
                    Ok(None) => return Irrelevant,
                    Err(()) => return Malformed("ICMP error's quoted packet cut short"),
                },
                // Time exceeded in transit (code 0); reassembly time-outs
                // (code 1) say nothing of a path.
                (IP_ICMP, 11) | (IP_ICMPV6, 3) if p[1] == 0 => match quoted(&p[8..]) {
                    Ok(Some(q)) => Transport::TimeExceeded(q),
                    Ok(None) => return Irrelevant,
                    Err(()) => return Malformed("ICMP error's quoted packet cut short"),
                },
                _ => return Irrelevant,
            }
        }
        IP_GRE => return tunnel::gre(p, depth),
        IP_IPIP => return tunnel::ip_in_ip(false, p, depth),
        IP_IPV6 => return tunnel::ip_in_ip(true, p, depth),
        _ => return Irrelevant,
    };
    Decoded::Packet(Packet {
        src,
        dst,
        transport,
        vlan: 0,
    })
}

/// The flow of the packet quoted in an ICMP error: its IP header and the first
/// 8 bytes of its transport header. Its length fields describe the original
/// packet, not the quote, so they are not checked against it.
fn quoted(q: &[u8]) -> Result<Option<Quoted>, ()> {
    let (proto, src, dst, l4) = match q.first().map(|b| b >> 4) {
        Some(4) => {
            let ihl = usize::from(q[0] & 0x0f) * 4;
            if q.len() < 20 || ihl < 20 || q.len() < ihl {
                return Err(());
            }
            if be16(q, 6) & 0x1fff != 0 {
                return Ok(None);
            }
            (q[9], v4(&q[12..16]), v4(&q[16..20]), &q[ihl..])
        }
        Some(6) => {
            if q.len() < 40 {
                return Err(());
            }
            match ipv6_extensions(q[6], q)? {
                Some((next, at)) => (next, v6(&q[8..24]), v6(&q[24..40]), &q[at..]),
                None => return Ok(None),
            }
        }
        _ => return Err(()),
    };
    let flow = |sport, dport, proto| {
        Ok(Some(Quoted {
            src,
            dst,
            sport,
            dport,
            proto,
        }))
    };
    match proto {
        IP_TCP | IP_UDP => {
            if l4.len() < 4 {
                return Err(());
            }
            let p = if proto == IP_TCP {
                Protocol::Tcp
            } else {
                Protocol::Udp
            };
            flow(be16(l4, 0), be16(l4, 2), p)
        }
        IP_ICMP | IP_ICMPV6 => {
            if l4.len() < 8 {
                return Err(());
            }
            match (proto, l4[0]) {
                (IP_ICMP, 8) | (IP_ICMPV6, 128) => flow(be16(l4, 4), 0, Protocol::Icmp),
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// IPv4 header + payload.
    fn ipv4_pkt(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(payload);
        let len = v.len() as u16;
        v[2..4].copy_from_slice(&len.to_be_bytes());
        v
    }

    fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 0x50;
        t[13] = flags;
        t
    }

    #[test]
    fn vlan_stacks_and_padding() {
        let ip4 = ipv4_pkt(
            6,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            &tcp(1000, 80, sweepwatch::tcp::SYN),
        );
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 5, 0x81, 0x00, 0, 7, 0x08, 0x00]);
        f.extend_from_slice(&ip4);
        f.extend_from_slice(&[0xee; 6]); // Ethernet padding
        let Decoded::Packet(p) = decode(LINK_ETHERNET, &f) else {
            panic!("not decoded")
        };
        assert_eq!(p.src, ip("10.0.0.1"));
        assert_eq!(
            p.transport,
            Transport::Tcp {
                sport: 1000,
                dport: 80,
                flags: sweepwatch::tcp::SYN,
                data: false,
            }
        );
        // Cut inside the tags and inside the TCP header.
        assert_eq!(
            decode(LINK_ETHERNET, &f[..16]),
            Malformed("VLAN tag cut short")
        );
        assert_eq!(
            decode(LINK_ETHERNET, &f[..22 + 20 + 10]),
            Malformed("TCP header cut short")
        );
    }

    /// The inner SYN is what every tunnel yields: its addresses, not the
    /// tunnel endpoints'; cut headers are malformed, and tunnels nested
    /// past the limit are not followed.
    #[test]
    fn gre_erspan_vxlan_and_ip_in_ip_yield_the_inner_packet() {
        let inner = ipv4_pkt(
            6,
            [10, 9, 0, 1],
            [10, 9, 0, 2],
            &tcp(1000, 22, sweepwatch::tcp::SYN),
        );
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&inner);
        let outer = |proto: u8, payload: &[u8]| {
            let mut f = vec![0u8; 12];
            f.extend_from_slice(&[0x08, 0x00]);
            f.extend_from_slice(&ipv4_pkt(proto, [192, 0, 2, 1], [192, 0, 2, 2], payload));
            f
        };
        let syn_of = |f: &[u8]| match decode(LINK_ETHERNET, f) {
            Decoded::Packet(p) => (p.src, p.dst, p.transport),
            other => panic!("not decoded: {other:?}"),
        };
        let want = (
            ip("10.9.0.1"),
            ip("10.9.0.2"),
            Transport::Tcp {
                sport: 1000,
                dport: 22,
                flags: sweepwatch::tcp::SYN,
                data: false,
            },
        );
        let gre = |flags: u16, proto: u16, extra: &[u8], rest: &[u8]| {
            let mut g = flags.to_be_bytes().to_vec();
            g.extend_from_slice(&proto.to_be_bytes());
            g.extend_from_slice(extra);
            g.extend_from_slice(rest);
            g
        };
        // GRE: plain IPv4; with key and sequence number; bridged Ethernet.
        assert_eq!(syn_of(&outer(47, &gre(0, 0x0800, &[], &inner))), want);
        assert_eq!(
            syn_of(&outer(47, &gre(0x3000, 0x0800, &[0; 8], &inner))),
            want
        );
        assert_eq!(syn_of(&outer(47, &gre(0, 0x6558, &[], &frame))), want);
        // ERSPAN type I (no sequence), II (8-byte header, version 1), III
        // (12 bytes, version 2; 8 more with the O flag).
        assert_eq!(syn_of(&outer(47, &gre(0, 0x88be, &[], &frame))), want);
        let mut ii = vec![0x10, 0, 0, 1, 0, 0, 0, 0];
        ii.extend_from_slice(&frame);
        assert_eq!(syn_of(&outer(47, &gre(0x1000, 0x88be, &[0; 4], &ii))), want);
        let mut iii = vec![0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        iii.extend_from_slice(&[0; 8]);
        iii.extend_from_slice(&frame);
        assert_eq!(
            syn_of(&outer(47, &gre(0x1000, 0x22eb, &[0; 4], &iii))),
            want
        );
        // VXLAN on 4789; without its I flag, plain UDP to that port.
        let udp = |payload: &[u8]| {
            let mut u = vec![0xc0, 0x00, 0x12, 0xb5, 0, 0, 0, 0];
            u.extend_from_slice(payload);
            u
        };
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
        vx.extend_from_slice(&frame);
        assert_eq!(syn_of(&outer(17, &udp(&vx))), want);
        vx[0] = 0;
        assert_eq!(
            syn_of(&outer(17, &udp(&vx))).2,
            Transport::Udp {
                sport: 0xc000,
                dport: 4789
            }
        );
        // IPv4 in IPv4.
        assert_eq!(syn_of(&outer(4, &inner)), want);
        // Cut short.
        assert_eq!(
            decode(LINK_ETHERNET, &outer(47, &[0x30, 0, 8, 0])),
            Malformed("GRE header cut short")
        );
        assert_eq!(
            decode(
                LINK_ETHERNET,
                &outer(47, &gre(0, 0x6558, &[], &frame[..10]))
            ),
            Malformed("tunnelled Ethernet header cut short")
        );
        // PPTP's GRE version 1 is not followed.
        assert_eq!(
            decode(LINK_ETHERNET, &outer(47, &gre(0x0001, 0x0800, &[], &inner))),
            Irrelevant
        );
        // Four tunnels deep is followed; five is not.
        let mut nested = inner.clone();
        for _ in 0..tunnel::MAX_TUNNELS {
            nested = ipv4_pkt(
                47,
                [192, 0, 2, 1],
                [192, 0, 2, 2],
                &gre(0, 0x0800, &[], &nested),
            );
        }
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&nested);
        assert_eq!(syn_of(&f), want);
        let deeper = outer(47, &gre(0, 0x0800, &[], &nested));
        assert_eq!(decode(LINK_ETHERNET, &deeper), Irrelevant);
    }

    #[test]
    fn mpls_label_stacks_and_pppoe_sessions() {
        let ip4 = ipv4_pkt(
            6,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            &tcp(1000, 80, sweepwatch::tcp::SYN),
        );
        let syn = |d: Decoded| match d {
            Decoded::Packet(p) => (p.src, p.dst, p.transport),
            other => panic!("not decoded: {other:?}"),
        };
        let want = (
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            Transport::Tcp {
                sport: 1000,
                dport: 80,
                flags: sweepwatch::tcp::SYN,
                data: false,
            },
        );
        // Two labels, the second the bottom of the stack (its S bit set).
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0x47, 0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40]);
        f.extend_from_slice(&ip4);
        assert_eq!(syn(decode(LINK_ETHERNET, &f)), want);
        assert_eq!(
            decode(LINK_ETHERNET, &f[..18]),
            Malformed("MPLS label cut short")
        );
        // Under a VLAN tag, one label.
        let mut g = vec![0u8; 12];
        g.extend_from_slice(&[0x81, 0x00, 0, 7, 0x88, 0x47, 0x00, 0x01, 0x01, 0x40]);
        g.extend_from_slice(&ip4);
        assert_eq!(syn(decode(LINK_ETHERNET, &g)), want);
        // A pseudowire's control word after the stack: nothing to decode.
        let mut pw = vec![0u8; 12];
        pw.extend_from_slice(&[0x88, 0x47, 0x00, 0x01, 0x01, 0x40, 0, 0, 0, 0]);
        pw.extend_from_slice(&ip4);
        assert_eq!(decode(LINK_ETHERNET, &pw), Irrelevant);
        // No bottom of stack within reason.
        let mut deep = vec![0u8; 12];
        deep.extend_from_slice(&[0x88, 0x47]);
        for _ in 0..=MAX_NESTING {
            deep.extend_from_slice(&[0x00, 0x01, 0x00, 0x40]);
        }
        deep.extend_from_slice(&ip4);
        assert_eq!(decode(LINK_ETHERNET, &deep), Irrelevant);
        // PPPoE session carrying IPv4.
        let mut p = vec![0u8; 12];
        p.extend_from_slice(&[0x88, 0x64, 0x11, 0x00, 0x12, 0x34]);
        p.extend_from_slice(&((ip4.len() + 2) as u16).to_be_bytes());
        p.extend_from_slice(&[0x00, 0x21]);
        p.extend_from_slice(&ip4);
        assert_eq!(syn(decode(LINK_ETHERNET, &p)), want);
        assert_eq!(
            decode(LINK_ETHERNET, &p[..19]),
            Malformed("PPPoE header cut short")
        );
        // PPP control traffic (LCP) is of no interest.
        let mut lcp = p.clone();
        lcp[20..22].copy_from_slice(&[0xc0, 0x21]);
        assert_eq!(decode(LINK_ETHERNET, &lcp), Irrelevant);
    }

    fn tcp_data(link: u32, frame: &[u8]) -> bool {
        match decode(link, frame) {
            Decoded::Packet(Packet {
                vlan: 0,
                transport: Transport::Tcp { data, .. },
                ..
            }) => data,
            other => panic!("not a TCP segment: {other:?}"),
        }
    }

    #[test]
    fn payload_is_told_from_ip_lengths() {
        // A bare FIN, padded to the Ethernet minimum: no payload.
        let fin = ipv4_pkt(6, [10, 0, 0, 1], [10, 0, 0, 2], &tcp(1000, 80, 0x01));
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&fin);
        f.extend_from_slice(&[0; 6]);
        assert!(!tcp_data(LINK_ETHERNET, &f));
        // Five bytes of data, then the same cut to the headers by a snapshot
        // length: still data.
        let mut seg = tcp(1000, 80, 0x18);
        seg.extend_from_slice(b"hello");
        let pkt = ipv4_pkt(6, [10, 0, 0, 1], [10, 0, 0, 2], &seg);
        assert!(tcp_data(LINK_IPV4, &pkt));
        assert!(tcp_data(LINK_IPV4, &pkt[..40]));
        // Options lengthen the header, not the payload.
        let mut opts = tcp(1000, 80, 0x10);
        opts[12] = 0x80; // 32-byte header
        opts.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert!(!tcp_data(LINK_IPV4, &ipv4_pkt(6, [1; 4], [2; 4], &opts)));
        // IPv6: by the payload length.
        let mut v6 = vec![0x60, 0, 0, 0, 0, 25, 6, 64];
        v6.extend_from_slice(&[0; 32]);
        v6.extend_from_slice(&seg);
        assert!(tcp_data(LINK_IPV6, &v6));
        v6[5] = 20;
        assert!(!tcp_data(LINK_IPV6, &v6[..60]));
        assert!(!tcp_data(LINK_IPV6, &v6));
    }

    #[test]
    fn later_fragments_and_other_protocols_are_irrelevant() {
        let mut p = ipv4_pkt(6, [1, 1, 1, 1], [2, 2, 2, 2], &[0u8; 20]);
        p[7] = 0x10; // fragment offset 16
        assert_eq!(decode(LINK_RAW, &p), Irrelevant);
        let gre = ipv4_pkt(47, [1, 1, 1, 1], [2, 2, 2, 2], &[0u8; 20]);
        assert_eq!(decode(LINK_RAW, &gre), Irrelevant);
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        assert_eq!(decode(LINK_ETHERNET, &arp), Irrelevant);
        // A link type not decoded here is skipped too, and told apart.
        assert_eq!(decode(9999, &arp), Decoded::UnsupportedLink);
        assert_eq!(decode(105, &arp), Decoded::UnsupportedLink);
    }

    #[test]
    fn null_family_in_either_byte_order() {
        let ip4 = ipv4_pkt(17, [1, 1, 1, 1], [2, 2, 2, 2], &[0, 53, 0, 53, 0, 8, 0, 0]);
        for fam in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let mut f = fam.to_vec();
            f.extend_from_slice(&ip4);
            assert!(matches!(decode(LINK_NULL, &f), Decoded::Packet(_)));
        }
    }

    #[test]
    fn ipv6_extension_headers_are_skipped() {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
        p.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        // hop-by-hop (8 bytes) → destination options (16 bytes) → UDP
        p.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[0x30, 0x39, 0, 161, 0, 8, 0, 0]);
        p[6] = 0;
        let plen = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        let Decoded::Packet(d) = decode(LINK_IPV6, &p) else {
            panic!("not decoded")
        };
        assert_eq!(
            d.transport,
            Transport::Udp {
                sport: 12345,
                dport: 161
            }
        );
        // An extension header running past the packet.
        let mut bad = p.clone();
        bad[41] = 200;
        assert_eq!(
            decode(LINK_IPV6, &bad),
            Malformed("IPv6 extension header cut short")
        );
    }

    #[test]
    fn unreachable_quotes_its_probe() {
        let probe = ipv4_pkt(
            17,
            [10, 0, 0, 1],
            [10, 0, 0, 9],
            &[0x04, 0xd2, 0, 53, 0, 8, 0, 0],
        );
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&probe);
        let pkt = ipv4_pkt(1, [10, 0, 0, 9], [10, 0, 0, 1], &icmp);
        let Decoded::Packet(d) = decode(LINK_IPV4, &pkt) else {
            panic!("not decoded")
        };
        assert_eq!(
            d.transport,
            Transport::Unreachable(Quoted {
                src: ip("10.0.0.1"),
                dst: ip("10.0.0.9"),
                sport: 1234,
                dport: 53,
                proto: Protocol::Udp
            })
        );
        // Time exceeded in transit quotes the same way; in reassembly it is
        // no answer to anything.
        let mut te = icmp.clone();
        te[..2].copy_from_slice(&[11, 0]);
        let pkt = ipv4_pkt(1, [10, 0, 0, 254], [10, 0, 0, 1], &te);
        let Decoded::Packet(d) = decode(LINK_IPV4, &pkt) else {
            panic!("not decoded")
        };
        assert!(matches!(d.transport, Transport::TimeExceeded(q) if q.dport == 53));
        te[1] = 1;
        let pkt = ipv4_pkt(1, [10, 0, 0, 254], [10, 0, 0, 1], &te);
        assert!(matches!(decode(LINK_IPV4, &pkt), Decoded::Irrelevant));
        // A quote cut inside its IP header.
        let mut short = vec![3, 1, 0, 0, 0, 0, 0, 0];
        short.extend_from_slice(&probe[..12]);
        assert_eq!(
            decode(LINK_IPV4, &ipv4_pkt(1, [1; 4], [2; 4], &short)),
            Malformed("ICMP error's quoted packet cut short")
        );
    }
}
