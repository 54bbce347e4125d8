//! Captures of flow export traffic (NetFlow v5/v9, IPFIX over UDP): each
//! datagram's sender and payload, for the flow decoder, and the check that
//! tells such a capture from one of the traffic itself.

use super::super::{InputError, Location};
use super::format::{Capture, Next};
use super::packet::{
    ETH_IPV4, ETH_IPV6, LINK_ETHERNET, LINK_IPV4, LINK_IPV6, LINK_LOOP, LINK_NULL, LINK_RAW,
    LINK_RAW_12, LINK_RAW_14, LINK_SLL, LINK_SLL2,
};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// A UDP datagram's sender and payload, if the frame holds one (Ethernet
/// with VLAN tags, Linux cooked, raw IP and BSD loopback framing; IPv4
/// without fragments, IPv6 without extension headers).
pub(crate) fn udp(link: u32, frame: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let (ethertype, ip) = match link {
        LINK_ETHERNET => {
            let mut at = 12;
            let mut ty = be16(frame, at)?;
            // VLAN tags, at most two.
            for _ in 0..2 {
                if matches!(ty, 0x8100 | 0x88a8) {
                    at += 4;
                    ty = be16(frame, at)?;
                }
            }
            (ty, frame.get(at + 2..)?)
        }
        LINK_SLL => (be16(frame, 14)?, frame.get(16..)?),
        LINK_SLL2 => (be16(frame, 0)?, frame.get(20..)?),
        LINK_NULL | LINK_LOOP => {
            let v = frame.get(4..)?.first()? >> 4;
            (if v == 6 { ETH_IPV6 } else { ETH_IPV4 }, frame.get(4..)?)
        }
        LINK_RAW | LINK_RAW_12 | LINK_RAW_14 | LINK_IPV4 | LINK_IPV6 => {
            let v = frame.first()? >> 4;
            (if v == 6 { ETH_IPV6 } else { ETH_IPV4 }, frame)
        }
        _ => return None,
    };
    let (src, udp) = match ethertype {
        ETH_IPV4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let frag = be16(ip, 6)? & 0x3fff;
            if ip.first()? >> 4 != 4 || ihl < 20 || *ip.get(9)? != 17 || frag != 0 {
                return None;
            }
            let total = usize::from(be16(ip, 2)?).min(ip.len());
            let s = ip.get(12..16)?;
            (
                IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3])),
                ip.get(ihl..total)?,
            )
        }
        ETH_IPV6 => {
            if ip.first()? >> 4 != 6 || *ip.get(6)? != 17 {
                return None;
            }
            let total = (40 + usize::from(be16(ip, 4)?)).min(ip.len());
            let mut s = [0u8; 16];
            s.copy_from_slice(ip.get(8..24)?);
            (IpAddr::V6(Ipv6Addr::from(s)), ip.get(40..total)?)
        }
        _ => return None,
    };
    let sport = be16(udp, 0)?;
    let len = usize::from(be16(udp, 4)?).min(udp.len());
    Some((SocketAddr::new(src, sport), udp.get(8..len.max(8))?))
}

/// True if `payload` has the shape of a NetFlow v5, v9 or IPFIX message:
/// its version, and lengths that add up.
pub(crate) fn is_export(payload: &[u8]) -> bool {
    match be16(payload, 0) {
        Some(5) => {
            let count = usize::from(be16(payload, 2).unwrap_or(0));
            (1..=30).contains(&count) && payload.len() == 24 + 48 * count
        }
        Some(9) => sets_add_up(payload, 20),
        Some(10) => {
            usize::from(be16(payload, 2).unwrap_or(0)) == payload.len() && sets_add_up(payload, 16)
        }
        _ => false,
    }
}

/// The (flow) sets from `at` on each have a length of at least 4 that ends
/// within the message, and they end at its end (or padding under 4 bytes).
fn sets_add_up(payload: &[u8], mut at: usize) -> bool {
    if payload.len() <= at {
        return false;
    }
    while payload.len() - at >= 4 {
        let len = usize::from(be16(payload, at + 2).unwrap_or(0));
        if len < 4 || at + len > payload.len() {
            return false;
        }
        at += len;
    }
    true
}

/// Whether the capture whose first bytes are `head` holds flow export: of
/// its first 64 packets, at least one is a UDP datagram with a NetFlow or
/// IPFIX message, most are UDP, and nine in ten UDP payloads are such
/// messages. A capture of ordinary traffic fails the last two.
pub(crate) fn looks_like_export(head: &[u8]) -> bool {
    let Ok(mut cap) = Capture::open(head) else {
        return false;
    };
    let (mut packets, mut udp_packets, mut export) = (0u32, 0u32, 0u32);
    while packets < 64 {
        match cap.next() {
            Ok(Next::Packet { link, data, .. }) => {
                packets += 1;
                if let Some((_, payload)) = udp(link, data) {
                    udp_packets += 1;
                    export += u32::from(is_export(payload));
                }
            }
            Ok(Next::BadPacket { .. }) => packets += 1,
            _ => break,
        }
    }
    export > 0 && udp_packets * 2 >= packets && export * 10 >= udp_packets * 9
}

/// A capture record as [`each_datagram`] hands it on: a UDP datagram's
/// sender and payload, or why the record is malformed.
pub(crate) type Datagram<'a> = Result<(SocketAddr, &'a [u8]), &'static str>;

/// Calls `f` with each UDP datagram's place in the capture, sender and
/// payload, and with each malformed record; counts packets into `records`,
/// and stops at a truncated end (its offset returned).
pub(crate) fn each_datagram<R: Read>(
    r: R,
    records: &mut u64,
    f: &mut dyn FnMut(Location, Datagram<'_>),
) -> Result<Option<u64>, InputError> {
    let mut cap = Capture::open(r)?;
    loop {
        match cap.next()? {
            Next::Packet { at, link, data, .. } => {
                *records += 1;
                if let Some(d) = udp(link, data) {
                    f(Location::Byte(at), Ok(d));
                }
            }
            Next::BadPacket { at, why } => {
                *records += 1;
                f(Location::Byte(at), Err(why));
            }
            Next::End => return Ok(None),
            Next::Truncated(at) => return Ok(Some(at)),
        }
    }
}
