//! Tunnels whose inner packets are the traffic: GRE (IP, Ethernet bridged
//! over GRE, MPLS, and ERSPAN types I, II and III, how switches mirror ports
//! to a sensor), VXLAN on its IANA port, and IP in IP. The tunnel's own
//! endpoints are infrastructure, so only the inner packet is decoded, as
//! Suricata and Zeek do.

use super::packet::{ethernet, ipv4, ipv6, mpls, Decoded, ETH_IPV4, ETH_IPV6, ETH_MPLS};

/// Tunnels inside tunnels beyond this are not real traffic.
pub(super) const MAX_TUNNELS: u8 = 4;

/// VXLAN's UDP port (RFC 7348).
pub(super) const VXLAN_PORT: u16 = 4789;

const GRE_CHECKSUM: u16 = 0x8000;
const GRE_ROUTING: u16 = 0x4000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQUENCE: u16 = 0x1000;
const GRE_VERSION: u16 = 0x0007;

/// Transparent Ethernet bridging: an Ethernet frame follows.
const GRE_TEB: u16 = 0x6558;
const ERSPAN_1_2: u16 = 0x88be;
const ERSPAN_3: u16 = 0x22eb;

/// The GRE packet `p` (RFC 2784 and 2890) entered at tunnel `depth`.
pub(super) fn gre(p: &[u8], depth: u8) -> Decoded {
    if depth >= MAX_TUNNELS {
        return Decoded::Irrelevant;
    }
    let depth = depth + 1;
    if p.len() < 4 {
        return Decoded::Malformed("GRE header cut short");
    }
    let flags = u16::from_be_bytes([p[0], p[1]]);
    // Version 1 is PPTP's enhanced GRE (PPP inside); source routing
    // (RFC 1701) is obsolete.
    if flags & GRE_VERSION != 0 || flags & GRE_ROUTING != 0 {
        return Decoded::Irrelevant;
    }
    let proto = u16::from_be_bytes([p[2], p[3]]);
    let optional = [GRE_CHECKSUM, GRE_KEY, GRE_SEQUENCE]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count();
    let at = 4 + 4 * optional;
    if p.len() < at {
        return Decoded::Malformed("GRE header cut short");
    }
    let inner = &p[at..];
    match proto {
        ETH_IPV4 => ipv4(inner, depth),
        ETH_IPV6 => ipv6(inner, depth),
        ETH_MPLS => mpls(inner, depth),
        GRE_TEB => ethernet(inner, depth),
        // ERSPAN type I has no header of its own and no sequence number;
        // type II has both (an 8-byte header).
        ERSPAN_1_2 if flags & GRE_SEQUENCE == 0 => ethernet(inner, depth),
        ERSPAN_1_2 => match inner.get(8..) {
            Some(f) if inner[0] >> 4 == 1 => ethernet(f, depth),
            Some(_) => Decoded::Malformed("ERSPAN type II header of another version"),
            None => Decoded::Malformed("ERSPAN header cut short"),
        },
        // Type III: a 12-byte header, and 8 more bytes of platform data
        // when its O flag (the last bit) is set.
        ERSPAN_3 => {
            if inner.len() < 12 {
                return Decoded::Malformed("ERSPAN header cut short");
            }
            if inner[0] >> 4 != 2 {
                return Decoded::Malformed("ERSPAN type III header of another version");
            }
            let skip = if inner[11] & 1 != 0 { 20 } else { 12 };
            match inner.get(skip..) {
                Some(f) => ethernet(f, depth),
                None => Decoded::Malformed("ERSPAN platform header cut short"),
            }
        }
        _ => Decoded::Irrelevant,
    }
}

/// The VXLAN payload `p` of a UDP datagram to [`VXLAN_PORT`], entered at
/// tunnel `depth`, or `None` if it is no VXLAN (its I flag clear): then
/// it is plain UDP to that port.
pub(super) fn vxlan(p: &[u8], depth: u8) -> Option<Decoded> {
    if p.len() < 8 + 14 || p[0] & 0x08 == 0 {
        return None;
    }
    if depth >= MAX_TUNNELS {
        return Some(Decoded::Irrelevant);
    }
    Some(ethernet(&p[8..], depth + 1))
}

/// The IP packet `p` carried as IP protocol 4 (IPv4) or 41 (IPv6), entered
/// at tunnel `depth`.
pub(super) fn ip_in_ip(v6: bool, p: &[u8], depth: u8) -> Decoded {
    if depth >= MAX_TUNNELS {
        return Decoded::Irrelevant;
    }
    match v6 {
        false => ipv4(p, depth + 1),
        true => ipv6(p, depth + 1),
    }
}
