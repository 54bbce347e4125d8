//! Address blocks (CIDR) and the 128-bit address keys the detector stores.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address as the detector keys it: 128 bits, IPv6 as is and IPv4 mapped
/// into `::ffff:0:0/96`, so that an IPv4 host is the same source whichever
/// family an engine reports it in; with the index of its leading byte, which
/// the family gives for free and address-set lookups use to reject quickly.
///
/// Made once per event at the edge ([`KeyedEvent`](crate::KeyedEvent)), so
/// that a front end holding raw address bytes (the C ABI) never builds an
/// [`IpAddr`].
///
/// # Examples
/// ```
/// use std::net::IpAddr;
/// use sweepwatch::AddrKey;
///
/// let v4 = AddrKey::from_ipv4_octets([192, 0, 2, 1]);
/// let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
/// assert_eq!(v4.bits(), AddrKey::from(mapped).bits());
/// assert_eq!(v4.ip(), "192.0.2.1".parse::<IpAddr>().unwrap());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AddrKey {
    bits: u128,
    /// 0 to 255: the first octet of an IPv4 address; 256 to 511: 256 plus
    /// the first byte of an IPv6 one (see [`CidrSet`]'s quick reject).
    lead: u16,
}

impl AddrKey {
    /// The key of an IPv4 address given as its 4 bytes in network order.
    #[inline(always)]
    pub fn from_ipv4_octets(o: [u8; 4]) -> Self {
        AddrKey {
            bits: MAPPED | u128::from(u32::from_be_bytes(o)),
            lead: u16::from(o[0]),
        }
    }

    /// The key of an IPv6 address given as its 16 bytes in network order (an
    /// IPv4-mapped one gives its IPv4 address's key).
    #[inline(always)]
    pub fn from_ipv6_octets(o: [u8; 16]) -> Self {
        AddrKey {
            bits: u128::from_be_bytes(o),
            lead: 256 + u16::from(o[0]),
        }
    }

    /// The 128-bit key.
    #[inline(always)]
    pub fn bits(self) -> u128 {
        self.bits
    }

    /// The leading byte's index: 0–255 for IPv4, 256–511 for IPv6.
    #[inline(always)]
    pub(crate) fn lead(self) -> u16 {
        self.lead
    }

    /// The key of 128 bits made by [`bits`](AddrKey::bits).
    #[inline]
    pub(crate) fn from_bits(bits: u128) -> Self {
        AddrKey {
            bits,
            lead: leading_bit(bits),
        }
    }

    /// The address the key was made from (IPv4-mapped keys give IPv4
    /// addresses).
    #[inline]
    pub fn ip(self) -> IpAddr {
        if self.bits >> 32 == 0xffff {
            IpAddr::V4(Ipv4Addr::from(self.bits as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(self.bits))
        }
    }
}

/// Keys are equal when their addresses are: an IPv4 address and its
/// IPv4-mapped IPv6 form are one key.
impl PartialEq for AddrKey {
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits
    }
}

impl Eq for AddrKey {}

impl std::hash::Hash for AddrKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bits.hash(state);
    }
}

impl From<IpAddr> for AddrKey {
    #[inline(always)]
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => AddrKey::from_ipv4_octets(v4.octets()),
            IpAddr::V6(v6) => AddrKey::from_ipv6_octets(v6.octets()),
        }
    }
}

/// The IPv4-mapped block `::ffff:0:0/96`'s fixed bits.
const MAPPED: u128 = 0xffff << 32;

/// An IPv4 or IPv6 address block such as `10.0.0.0/8` or `fc00::/7`.
///
/// A bare address is a block of one. The host bits of the address are cleared.
///
/// # Examples
/// ```
/// use sweepwatch::Cidr;
/// let net: Cidr = "192.168.0.0/16".parse().unwrap();
/// assert!(net.contains("192.168.4.2".parse().unwrap()));
/// assert!(!net.contains("10.0.0.1".parse().unwrap()));
/// assert!("192.168.0.0/33".parse::<Cidr>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    base: u128,
    mask: u128,
    v4: bool,
    prefix: u8,
}

/// Why a text is not a CIDR block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// The block of `prefix` leading bits of `addr`; `None` if the prefix is longer
    /// than the address (32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let (v4, max, shift) = match addr {
            IpAddr::V4(_) => (true, 32u8, 96u32),
            IpAddr::V6(_) => (false, 128u8, 0u32),
        };
        if prefix > max {
            return None;
        }
        let bits = u32::from(prefix) + shift;
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        Some(Cidr {
            base: AddrKey::from(addr).bits() & mask,
            mask,
            v4,
            prefix,
        })
    }

    /// True if `addr` lies in this block.
    #[inline]
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.contains_key(AddrKey::from(addr).bits())
    }

    #[inline]
    pub(crate) fn contains_key(&self, key: u128) -> bool {
        key & self.mask == self.base
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The first address of the block.
    pub fn network(&self) -> IpAddr {
        if self.v4 {
            IpAddr::V4(Ipv4Addr::from(self.base as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(self.base))
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// A block such as `10.0.0.0/8`, or a bare address (a block of one).
    /// Host bits set past the prefix (`10.0.0.1/8`) are refused: whether
    /// the block or the host was meant, only the writer knows.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (cidr, cleared) = Cidr::parse_clearing_host_bits(s)?;
        if cleared {
            let s = s.trim();
            let host = s.split_once('/').map_or(s, |(a, _)| a);
            let max = if cidr.v4 { 32 } else { 128 };
            return Err(CidrError(format!(
                "`{s}` has host bits set: the block is {cidr}, the host {host}/{max}"
            )));
        }
        Ok(cidr)
    }
}

impl Cidr {
    /// Parses a block as [`FromStr`] does, but clears host bits set past the
    /// prefix instead of refusing them, and says whether it cleared any: for
    /// blocks an engine's own configuration supplies (Suricata's `HOME_NET`),
    /// which the engine itself reads that way.
    ///
    /// ```
    /// use sweepwatch::Cidr;
    /// let (net, cleared) = Cidr::parse_clearing_host_bits("192.168.1.7/24").unwrap();
    /// assert_eq!((net.to_string().as_str(), cleared), ("192.168.1.0/24", true));
    /// assert!("192.168.1.7/24".parse::<Cidr>().is_err());
    /// ```
    ///
    /// # Errors
    /// Text that is no address or block, or a prefix too long for its address.
    pub fn parse_clearing_host_bits(s: &str) -> Result<(Cidr, bool), CidrError> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError(format!("`{s}` is not an IP address or CIDR block")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| CidrError(format!("`{s}`: prefix must be 0 to {max}")))?,
        };
        let cidr = Cidr::new(addr, prefix).expect("prefix checked above");
        Ok((cidr, AddrKey::from(addr).bits() != cidr.base))
    }
}

/// A list of blocks with a quick reject: the set of first octets (IPv4) and
/// first bytes (IPv6) its blocks can contain, so that most addresses are ruled
/// out with one table lookup.
#[derive(Clone, Debug)]
pub(crate) struct CidrSet {
    blocks: Vec<Cidr>,
    /// Entry `b`: some block holds IPv4 addresses whose first octet is `b`
    /// (0 to 255) or IPv6 addresses whose first byte is `b - 256`. A byte an
    /// entry, not a bit: one load answers, with no shifts to combine.
    leading: [bool; 512],
}

/// The index of a key's leading byte in [`CidrSet::leading`]: 0 to 255 for the
/// first octet of an IPv4 address, 256 to 511 for the first byte of an IPv6 one.
#[inline]
fn leading_bit(key: u128) -> u16 {
    if key >> 32 == 0xffff {
        (key as u32 >> 24) as u16
    } else {
        256 + (key >> 120) as u16
    }
}

impl CidrSet {
    pub(crate) fn new(blocks: Vec<Cidr>) -> Self {
        let mut leading = [false; 512];
        let mut mark = |base: usize, first: u128, prefix: u32| {
            // A block of prefix p < 8 spans 2^(8-p) leading bytes.
            let first = first as usize & 0xFF;
            for b in first..first + (1usize << (8 - prefix.min(8))) {
                leading[base + b] = true;
            }
        };
        for c in &blocks {
            // Bits of the 128-bit key the block fixes.
            let bits = u32::from(c.prefix) + if c.v4 { 96 } else { 0 };
            if !c.v4 {
                mark(256, c.base >> 120, bits);
            }
            // Blocks holding IPv4-mapped keys (all IPv4 ones, and IPv6 ones
            // such as ::/0 or ::ffff:0:0/96 that cover them).
            if c.contains_key(MAPPED) || (bits > 96 && (c.base >> 32) == 0xffff) {
                mark(0, c.base >> 24, bits.saturating_sub(96));
            }
        }
        CidrSet { blocks, leading }
    }

    /// False for keys whose leading byte (`lead`, from [`leading_bit`]) no
    /// block can hold (any key, for an empty set).
    #[inline(always)]
    pub(crate) fn may_contain(&self, lead: u16) -> bool {
        self.leading[usize::from(lead) & 511]
    }

    #[inline]
    pub(crate) fn contains_key(&self, key: u128) -> bool {
        self.contains_lead(key, leading_bit(key))
    }

    /// [`contains_key`](CidrSet::contains_key) for a key whose leading byte's
    /// index is known.
    #[inline(always)]
    pub(crate) fn contains_lead(&self, key: u128, lead: u16) -> bool {
        self.may_contain(lead) && self.blocks.iter().any(|c| c.contains_key(key))
    }

    /// The first block holding `key`, whose leading byte's index is `lead`.
    #[inline(always)]
    pub(crate) fn position_lead(&self, key: u128, lead: u16) -> Option<usize> {
        if !self.may_contain(lead) {
            return None;
        }
        self.blocks.iter().position(|c| c.contains_key(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for s in [
            "10.1.2.3",
            "::1",
            "2001:db8::7",
            "0.0.0.0",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = s.parse().unwrap();
            let back = AddrKey::from(ip).ip();
            // An IPv4-mapped IPv6 address comes back as IPv4: same key either way.
            assert_eq!(AddrKey::from(back), AddrKey::from(ip), "{s}");
        }
    }

    #[test]
    fn blocks_match_their_members_only() {
        let v6: Cidr = "fc00::/7".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        let all4: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all4.contains("8.8.8.8".parse().unwrap()));
        assert!(!all4.contains("::1".parse().unwrap()));
        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(host.prefix(), 32);
        assert!(host.contains("192.0.2.7".parse().unwrap()));
        assert!(!host.contains("192.0.2.8".parse().unwrap()));
        // Host bits past the prefix: refused, with both readings offered,
        // unless the caller asks for them cleared.
        let e = "10.9.8.7/8".parse::<Cidr>().unwrap_err().to_string();
        assert!(
            e.contains("host bits") && e.contains("10.0.0.0/8") && e.contains("10.9.8.7/32"),
            "{e}"
        );
        let e = "fd00::1/64".parse::<Cidr>().unwrap_err().to_string();
        assert!(e.contains("fd00::/64") && e.contains("fd00::1/128"), "{e}");
        let (net, cleared) = Cidr::parse_clearing_host_bits("10.9.8.7/8").unwrap();
        assert_eq!((net.to_string(), cleared), ("10.0.0.0/8".to_string(), true));
        let (net, cleared) = Cidr::parse_clearing_host_bits("10.0.0.0/8").unwrap();
        assert_eq!(
            (net.to_string(), cleared),
            ("10.0.0.0/8".to_string(), false)
        );
        assert!("10.9.8.7/32".parse::<Cidr>().is_ok());
        assert!("0.0.0.0/0".parse::<Cidr>().is_ok());
        assert!("10.0.0.0/x".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn sets_agree_with_their_blocks() {
        let blocks: Vec<Cidr> = [
            "224.0.0.0/4",
            "255.255.255.255/32",
            "ff00::/8",
            "::ffff:10.0.0.0/104",
            "10.1.0.0/16",
            "::ffff:0:0/96",
            "0.0.0.0/0",
            "::/0",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let mut x = 5u64;
        for n in 1..=blocks.len() {
            let set = CidrSet::new(blocks[..n].to_vec());
            for i in 0..20_000u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = if i % 2 == 0 {
                    MAPPED | u128::from(x as u32)
                } else {
                    u128::from(x) << 64 | u128::from(x.rotate_left(7))
                };
                let want = blocks[..n].iter().position(|c| c.contains_key(key));
                assert_eq!(
                    set.position_lead(key, leading_bit(key)),
                    want,
                    "{key:x} in {n} blocks"
                );
                assert_eq!(set.contains_key(key), want.is_some());
            }
            for s in [
                "239.255.255.250",
                "255.255.255.255",
                "ff02::1",
                "10.1.9.9",
                "8.8.8.8",
            ] {
                let key = AddrKey::from(s.parse::<IpAddr>().unwrap()).bits();
                let want = blocks[..n].iter().position(|c| c.contains_key(key));
                assert_eq!(
                    set.position_lead(key, leading_bit(key)),
                    want,
                    "{s} in {n} blocks"
                );
            }
        }
    }
}
