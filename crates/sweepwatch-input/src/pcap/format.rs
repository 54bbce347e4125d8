//! The capture containers: classic pcap and pcapng, read record by record from
//! a byte stream with the byte offset of every record kept for error messages
//! and malformed-record reports.

use super::super::InputError;
use std::io::{self, Read};
use std::ops::Range;

/// Largest record or block accepted. libpcap caps packets at 256 KiB, but
/// pcapng blocks of other kinds (name resolution, decryption secrets) can be
/// larger; anything beyond this is a corrupt length, not a packet.
pub(crate) const MAX_BLOCK: usize = 64 << 20;

/// Initial read buffer: large reads keep the number of system calls low.
const BUF_SIZE: usize = 1 << 20;

/// Smallest read asked of the stream. At least the capacity of the
/// `BufReader` that format recognition puts in front of a file, so that
/// reads pass straight through it into this buffer (one copy, not two).
const MIN_READ: usize = 256 << 10;

/// Reads land at an address congruent to the stream offset modulo a page.
/// The kernel copies a file's cached pages with `rep movsb`, which on some
/// x86 processors runs several times slower when the destination sits just
/// past the source modulo 4 KiB (measured here: a 1.9 GB cached file read
/// in 0.23 s into a page-aligned buffer, in 1.35 s into one 16 bytes past a
/// page, as `malloc` returns large buffers).
const PAGE: usize = 4096;

/// The first four bytes of a pcapng capture (Section Header Block type).
const SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

/// What the next record of a capture is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<'a> {
    /// A packet: the offset where its record starts, capture time in
    /// microseconds (`None` for pcapng simple packet blocks, which carry
    /// none), link type, and the captured bytes.
    Packet {
        at: u64,
        ts: Option<u64>,
        link: u32,
        data: &'a [u8],
    },
    /// A packet record whose own fields are inconsistent (unknown interface,
    /// captured length beyond its block); the framing around it is sound.
    /// The offset where the record starts, and what is wrong with it.
    BadPacket { at: u64, why: &'static str },
    /// The capture ended cleanly between records.
    End,
    /// The capture ended inside the record that starts at this offset.
    Truncated(u64),
}

/// A buffered byte stream that knows the offset of its next byte.
struct Source<R> {
    r: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Offset in the stream of `buf[start]`.
    pos: u64,
    eof: bool,
}

impl<R: Read> Source<R> {
    fn new(r: R) -> Self {
        Source {
            r,
            buf: vec![0; BUF_SIZE],
            start: 0,
            end: 0,
            pos: 0,
            eof: false,
        }
    }

    /// Makes `n` bytes available if the stream has them; returns how many of
    /// the `n` are (fewer only at the end of the stream).
    #[inline]
    fn fill(&mut self, n: usize) -> Result<usize, InputError> {
        if self.end - self.start >= n {
            // Nearly every call: the bytes were read with earlier records.
            return Ok(n);
        }
        self.read_more(n)
    }

    /// [`fill`](Self::fill) when the buffer holds fewer than `n` bytes.
    #[inline(never)]
    fn read_more(&mut self, n: usize) -> Result<usize, InputError> {
        while self.end - self.start < n && !self.eof {
            if self.start == self.end || self.buf.len() - self.end < MIN_READ {
                self.make_room();
            }
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(error(
                        self.pos + (self.end - self.start) as u64,
                        format!("read error: {e}"),
                    ))
                }
            }
        }
        Ok((self.end - self.start).min(n))
    }

    /// Moves the unread bytes to the front of the buffer, leaving at least
    /// [`MIN_READ`] bytes after them and the next read's first byte at an
    /// address congruent to its stream offset modulo [`PAGE`].
    fn make_room(&mut self) {
        let have = self.end - self.start;
        if have + PAGE + MIN_READ > self.buf.len() {
            // Grow with the data that actually arrives, not with the length
            // a record claims: a corrupt length near the end of a file then
            // costs no large allocation.
            self.buf.copy_within(self.start..self.end, 0);
            let len = self.buf.len() * 2;
            self.buf.resize(len, 0);
            self.start = 0;
            self.end = have;
        }
        let next = self.pos + have as u64;
        let addr = self.buf.as_ptr() as usize;
        let to = (next as usize).wrapping_sub(addr).wrapping_sub(have) % PAGE;
        self.buf.copy_within(self.start..self.end, to);
        self.start = to;
        self.end = to + have;
    }

    /// The next `n` bytes, which [`fill`](Self::fill) made available.
    fn peek(&self, n: usize) -> &[u8] {
        &self.buf[self.start..self.start + n]
    }

    /// Consumes `n` available bytes; their place in the buffer stays valid
    /// until the next `fill`.
    fn take(&mut self, n: usize) -> Range<usize> {
        let r = self.start..self.start + n;
        self.start += n;
        self.pos += n as u64;
        r
    }
}

fn error(offset: u64, message: String) -> InputError {
    InputError {
        location: format!("byte {offset}"),
        message,
    }
}

#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    #[inline]
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        match self {
            Endian::Little => u16::from_le_bytes(v),
            Endian::Big => u16::from_be_bytes(v),
        }
    }

    #[inline]
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match self {
            Endian::Little => u32::from_le_bytes(v),
            Endian::Big => u32::from_be_bytes(v),
        }
    }

    fn i64(self, b: &[u8], at: usize) -> i64 {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[at..at + 8]);
        match self {
            Endian::Little => i64::from_le_bytes(v),
            Endian::Big => i64::from_be_bytes(v),
        }
    }
}

/// Timestamp resolution of a pcapng interface (`if_tsresol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resolution {
    /// Units of 10^-n seconds.
    Decimal(u32),
    /// Units of 2^-n seconds.
    Binary(u32),
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: u32,
    snaplen: u32,
    res: Resolution,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_secs: i64,
}

impl Interface {
    fn micros(&self, ticks: u64) -> u64 {
        let us: u64 = match self.res {
            Resolution::Decimal(6) => ticks,
            Resolution::Decimal(e) if e < 6 => ticks.saturating_mul(10u64.pow(6 - e)),
            Resolution::Decimal(e) => 10u64.checked_pow(e - 6).map_or(0, |d| ticks / d),
            // e < 128, and ticks * 10^6 < 2^84: neither the product nor the
            // shift can overflow a u128.
            Resolution::Binary(e) => ((u128::from(ticks) * 1_000_000) >> e) as u64,
        };
        if self.offset_secs == 0 {
            us
        } else {
            let t = i128::from(us) + i128::from(self.offset_secs) * 1_000_000;
            t.clamp(0, i128::from(u64::MAX)) as u64
        }
    }
}

#[derive(Clone, Copy)]
enum Framing {
    /// Classic pcap; the file header has not been read yet.
    PcapHeader,
    Pcap {
        nanos: bool,
        link: u32,
        /// The file header's snaplen (0: no bound): a record claiming more
        /// than it and more than the file holds is corrupt, not cut short.
        snaplen: u32,
    },
    Ng,
}

/// A capture being read.
pub(crate) struct Capture<R> {
    src: Source<R>,
    kind: Framing,
    /// Byte order of the file, or of the current pcapng section.
    endian: Endian,
    /// The current pcapng section's interfaces, in order of their ids.
    interfaces: Vec<Interface>,
}

impl<R: Read> Capture<R> {
    /// Recognises the capture format from its first four bytes.
    pub(crate) fn open(r: R) -> Result<Self, InputError> {
        let mut src = Source::new(r);
        let not_capture = || error(0, "not a pcap or pcapng capture".into());
        if src.fill(4)? < 4 {
            return Err(not_capture());
        }
        let kind = match src.peek(4) {
            [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d] => Framing::PcapHeader,
            m if m == SHB => Framing::Ng,
            _ => return Err(not_capture()),
        };
        Ok(Capture {
            src,
            kind,
            endian: Endian::Little,
            interfaces: Vec::new(),
        })
    }

    /// The next record.
    pub(crate) fn next(&mut self) -> Result<Next<'_>, InputError> {
        match self.kind {
            Framing::PcapHeader => {
                if self.src.fill(24)? < 24 {
                    return Ok(Next::Truncated(0));
                }
                let h = self.src.peek(24);
                let (endian, nanos) = match h[..4] {
                    [0xd4, 0xc3, 0xb2, 0xa1] => (Endian::Little, false),
                    [0x4d, 0x3c, 0xb2, 0xa1] => (Endian::Little, true),
                    [0xa1, 0xb2, 0xc3, 0xd4] => (Endian::Big, false),
                    _ => (Endian::Big, true),
                };
                // The upper bits of the link-type field carry FCS information.
                let link = endian.u32(h, 20) & 0xffff;
                let snaplen = endian.u32(h, 16);
                self.src.take(24);
                self.endian = endian;
                self.kind = Framing::Pcap {
                    nanos,
                    link,
                    snaplen,
                };
                self.next()
            }
            Framing::Pcap {
                nanos,
                link,
                snaplen,
            } => self.pcap_record(nanos, link, snaplen),
            Framing::Ng => self.ng_block(),
        }
    }

    fn pcap_record(
        &mut self,
        nanos: bool,
        link: u32,
        snaplen: u32,
    ) -> Result<Next<'_>, InputError> {
        let endian = self.endian;
        let at = self.src.pos;
        match self.src.fill(16)? {
            0 => return Ok(Next::End),
            16 => {}
            _ => return Ok(Next::Truncated(at)),
        }
        let h = self.src.peek(16);
        let secs = u64::from(endian.u32(h, 0));
        let frac = u64::from(endian.u32(h, 4));
        let caplen = endian.u32(h, 8) as usize;
        if caplen > MAX_BLOCK {
            return Err(error(
                at,
                format!("pcap record claims {caplen} captured bytes; the file is corrupt"),
            ));
        }
        if self.src.fill(16 + caplen)? < 16 + caplen {
            // A length past the file's end is a capture cut short, unless the
            // header says no record is that long: then the length is
            // corrupt, and believing it would drop the rest of the file
            // silently. A record over the snaplen that is really there is
            // read, as libpcap reads it.
            if snaplen != 0 && caplen > snaplen as usize {
                return Err(error(
                    at,
                    format!(
                        "pcap record claims {caplen} captured bytes, more than the file's \
                         snaplen {snaplen} and more than the file holds; the file is corrupt"
                    ),
                ));
            }
            return Ok(Next::Truncated(at));
        }
        let ts = secs * 1_000_000 + if nanos { frac / 1000 } else { frac };
        let r = self.src.take(16 + caplen);
        Ok(Next::Packet {
            at,
            ts: Some(ts),
            link,
            data: &self.src.buf[r.start + 16..r.end],
        })
    }

    fn ng_block(&mut self) -> Result<Next<'_>, InputError> {
        // The packet's place in the buffer is found in the loop and borrowed
        // after it, so that skipped blocks can keep reading.
        let (at, ts, link, data) = loop {
            let at = self.src.pos;
            match self.src.fill(8)? {
                0 => return Ok(Next::End),
                8 => {}
                _ => return Ok(Next::Truncated(at)),
            }
            if self.src.peek(4) == SHB {
                // A new section: its own byte order and interfaces.
                if self.src.fill(12)? < 12 {
                    return Ok(Next::Truncated(at));
                }
                let endian = match self.src.peek(12)[8..12] {
                    [0x4d, 0x3c, 0x2b, 0x1a] => Endian::Little,
                    [0x1a, 0x2b, 0x3c, 0x4d] => Endian::Big,
                    _ => {
                        return Err(error(
                            at + 8,
                            "pcapng section header has no valid byte-order magic".into(),
                        ))
                    }
                };
                self.endian = endian;
                self.interfaces.clear();
            }
            let endian = self.endian;
            let interfaces = &mut self.interfaces;
            let h = self.src.peek(8);
            let ty = endian.u32(h, 0);
            let len = endian.u32(h, 4) as usize;
            let min = if h[..4] == SHB { 28 } else { 12 };
            if len < min || len % 4 != 0 || len > MAX_BLOCK {
                return Err(error(
                    at,
                    format!("pcapng block of type {ty:#x} has an invalid length {len}"),
                ));
            }
            if self.src.fill(len)? < len {
                return Ok(Next::Truncated(at));
            }
            let r = self.src.take(len);
            let block = &self.src.buf[r.clone()];
            let trailer = endian.u32(block, len - 4) as usize;
            if trailer != len {
                return Err(error(
                    at,
                    format!("pcapng block length {len} does not match its trailer {trailer}"),
                ));
            }
            let body = &block[8..len - 4];
            let base = r.start + 8;
            match ty {
                IDB => {
                    if body.len() >= 8 {
                        interfaces.push(interface(endian, body));
                    } else {
                        // Keep the numbering of later interfaces right.
                        interfaces.push(Interface {
                            link: u32::MAX,
                            snaplen: 0,
                            res: Resolution::Decimal(6),
                            offset_secs: 0,
                        });
                    }
                }
                EPB | OPB => {
                    if body.len() < 20 {
                        return Ok(Next::BadPacket {
                            at,
                            why: "packet block too short for its fields",
                        });
                    }
                    let id = if ty == EPB {
                        endian.u32(body, 0) as usize
                    } else {
                        usize::from(endian.u16(body, 0))
                    };
                    let caplen = endian.u32(body, 12) as usize;
                    let Some(iface) = interfaces.get(id) else {
                        return Ok(Next::BadPacket {
                            at,
                            why: "packet on an interface its section does not describe",
                        });
                    };
                    if caplen > body.len() - 20 {
                        return Ok(Next::BadPacket {
                            at,
                            why: "captured length beyond the packet's block",
                        });
                    }
                    let ticks =
                        u64::from(endian.u32(body, 4)) << 32 | u64::from(endian.u32(body, 8));
                    break (
                        at,
                        Some(iface.micros(ticks)),
                        iface.link,
                        base + 20..base + 20 + caplen,
                    );
                }
                SPB => {
                    let Some(iface) = interfaces.first() else {
                        return Ok(Next::BadPacket {
                            at,
                            why: "simple packet block before any interface",
                        });
                    };
                    if body.len() < 4 {
                        return Ok(Next::BadPacket {
                            at,
                            why: "packet block too short for its fields",
                        });
                    }
                    let mut caplen = (endian.u32(body, 0) as usize).min(body.len() - 4);
                    if iface.snaplen != 0 {
                        caplen = caplen.min(iface.snaplen as usize);
                    }
                    break (at, None, iface.link, base + 4..base + 4 + caplen);
                }
                // Section headers were handled above; statistics, name
                // resolution and unknown blocks carry no packets.
                _ => {}
            }
        };
        Ok(Next::Packet {
            at,
            ts,
            link,
            data: &self.src.buf[data],
        })
    }
}

/// An Interface Description Block body (at least 8 bytes).
fn interface(endian: Endian, body: &[u8]) -> Interface {
    let mut iface = Interface {
        link: u32::from(endian.u16(body, 0)),
        snaplen: endian.u32(body, 4),
        res: Resolution::Decimal(6),
        offset_secs: 0,
    };
    let opts = &body[8..];
    let mut i = 0;
    while i + 4 <= opts.len() {
        let code = endian.u16(opts, i);
        let len = usize::from(endian.u16(opts, i + 2));
        let v = i + 4;
        if code == 0 || v + len > opts.len() {
            break;
        }
        match code {
            9 if len >= 1 => {
                let r = opts[v];
                iface.res = if r & 0x80 == 0 {
                    Resolution::Decimal(u32::from(r))
                } else {
                    Resolution::Binary(u32::from(r & 0x7f))
                };
            }
            14 if len >= 8 => iface.offset_secs = endian.i64(opts, v),
            _ => {}
        }
        i = v + len.div_ceil(4) * 4;
    }
    iface
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(res: Resolution, offset_secs: i64) -> Interface {
        Interface {
            link: 1,
            snaplen: 0,
            res,
            offset_secs,
        }
    }

    #[test]
    fn resolutions_convert_to_microseconds() {
        assert_eq!(
            iface(Resolution::Decimal(6), 0).micros(1_500_000),
            1_500_000
        );
        assert_eq!(
            iface(Resolution::Decimal(9), 0).micros(1_500_000_999),
            1_500_000
        );
        assert_eq!(iface(Resolution::Decimal(3), 0).micros(1_500), 1_500_000);
        assert_eq!(iface(Resolution::Decimal(0), 0).micros(2), 2_000_000);
        assert_eq!(iface(Resolution::Binary(10), 0).micros(1024 * 3), 3_000_000);
        assert_eq!(iface(Resolution::Decimal(6), 10).micros(1), 10_000_001);
        assert_eq!(iface(Resolution::Decimal(6), -10).micros(1), 0);
        // Absurd resolutions saturate instead of overflowing.
        assert_eq!(iface(Resolution::Decimal(127), 0).micros(u64::MAX), 0);
        assert_eq!(iface(Resolution::Binary(127), 0).micros(u64::MAX), 0);
        assert_eq!(iface(Resolution::Decimal(0), 0).micros(u64::MAX), u64::MAX);
    }

    #[test]
    fn short_reads_are_reassembled() {
        /// Hands out one byte per read.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let data: Vec<u8> = (0..=255u8).cycle().take(BUF_SIZE * 2 + 17).collect();
        let mut s = Source::new(Trickle(&data));
        assert_eq!(s.fill(10).unwrap(), 10);
        let r = s.take(10);
        assert_eq!(&s.buf[r], &data[..10]);
        // Larger than the initial buffer: it grows.
        let n = BUF_SIZE + 100;
        assert_eq!(s.fill(n).unwrap(), n);
        let r = s.take(n);
        assert_eq!(&s.buf[r], &data[10..10 + n]);
        assert_eq!(s.pos, (10 + n) as u64);
        let rest = data.len() - 10 - n;
        assert_eq!(s.fill(rest + 5).unwrap(), rest);
        let r = s.take(rest);
        assert_eq!(&s.buf[r], &data[10 + n..]);
    }

    #[test]
    fn reads_land_congruent_to_their_offset() {
        /// Records where in memory each read was asked to write, relative
        /// to the stream offset it starts at, and how much room it had.
        struct Watch<'a> {
            data: &'a [u8],
            at: usize,
            seen: Vec<(usize, usize)>,
        }
        impl Read for Watch<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let k = buf.len().min(self.data.len() - self.at).min(100_003);
                let skew = (buf.as_ptr() as usize).wrapping_sub(self.at) % PAGE;
                self.seen.push((skew, buf.len()));
                buf[..k].copy_from_slice(&self.data[self.at..self.at + k]);
                self.at += k;
                Ok(k)
            }
        }
        let data: Vec<u8> = (0..=250u8).cycle().take(5 * BUF_SIZE + 333).collect();
        let mut s = Source::new(Watch {
            data: &data,
            at: 0,
            seen: Vec::new(),
        });
        let mut pos = 0;
        // Odd-sized takes leave odd-sized remainders to move.
        for want in [7usize, 4093, 70_001, 3 * BUF_SIZE, 1, 999_999]
            .iter()
            .cycle()
        {
            let got = s.fill(*want).unwrap();
            let r = s.take(got);
            assert_eq!(&s.buf[r], &data[pos..pos + got]);
            pos += got;
            if got < *want {
                break;
            }
        }
        assert_eq!(pos, data.len());
        assert!(s
            .r
            .seen
            .iter()
            .all(|&(skew, room)| skew == 0 && room >= MIN_READ));
    }
}
