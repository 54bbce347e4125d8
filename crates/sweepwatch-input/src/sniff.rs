//! Recognising an input's format from its content, and unpacking gzip.
//!
//! File names lie (`conn.log` may be JSON, `eve.json.1` gzip), so only the
//! first bytes decide:
//!
//! | first bytes | format |
//! |---|---|
//! | `1f 8b` | gzip: unpacked (members concatenated), then recognised again |
//! | `28 b5 2f fd` | zstd: unpacked (frames concatenated), then recognised again |
//! | `a1b2c3d4`, `d4c3b2a1`, `a1b23c4d`, `4d3cb2a1` | pcap |
//! | `0a0d0d0a` | pcapng |
//! | a capture whose first packets are mostly UDP carrying NetFlow v5/v9 or IPFIX messages | flow export, decoded as `sweepwatch collect` decodes it |
//! | `#separator` | Zeek tab-separated log |
//! | `{` … with `event_type` | Suricata EVE JSON |
//! | `{` … with `id.orig_h` or `conn_state` | Zeek JSON log |
//! | `StartTime,` … `SrcAddr` … `DstAddr` | Argus flows (`ra -c ,`, CTU-13's `binetflow`) |
//! | `ts,te,td,sa,da,sp,dp,pr,flg` | nfdump's flows (`nfdump -o csv`) |
//!
//! A UTF-8 byte-order mark before a text format is dropped: the stream handed
//! on starts at its first record.

use super::pcap::{read_capture, CaptureReader};
use super::{argus, eve, nfdump, zeek, Emit, InputError, ReadOptions, ReadStats, UTF8_BOM};
use flate2::read::MultiGzDecoder;
use ruzstd::decoding::{FrameDecoder, StreamingDecoder};
use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Read};

/// The formats the readers understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// A pcap capture (any byte order, micro- or nanosecond times).
    Pcap,
    /// A pcapng capture.
    PcapNg,
    /// A Zeek log with its `#separator`/`#fields` header.
    ZeekTsv,
    /// A Zeek log written as JSON lines.
    ZeekJson,
    /// Suricata EVE JSON lines.
    Eve,
    /// Argus flow records as `ra -c ,` prints them.
    Argus,
    /// nfdump's flows as `nfdump -o csv` prints them.
    Nfdump,
    /// A pcap or pcapng capture of flow export traffic (NetFlow v5/v9,
    /// IPFIX over UDP): its messages are decoded, not its packets.
    FlowExport,
    /// No bytes at all (or only blank lines): nothing to read.
    Empty,
}

impl Format {
    /// A short lower-case name: `pcap`, `pcapng`, `zeek-tsv`, `zeek-json`,
    /// `eve`, `argus`, `nfdump`, `flow-export`, `empty`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
            Format::ZeekTsv => "zeek-tsv",
            Format::ZeekJson => "zeek-json",
            Format::Eve => "eve",
            Format::Argus => "argus",
            Format::Nfdump => "nfdump",
            Format::FlowExport => "flow-export",
            Format::Empty => "empty",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a stream was compressed, recognised by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip (`.gz`), members concatenated.
    Gzip,
    /// Zstandard (`.zst`), frames concatenated.
    Zstd,
    /// xz (`.xz`), streams concatenated; at most [`XZ_MEMORY_LIMIT`] for
    /// the decoder's dictionary.
    Xz,
    /// bzip2 (`.bz2`), streams concatenated.
    Bzip2,
}

/// The most memory an xz stream may ask of its decoder: `xz -9` needs
/// 65 MiB; a stream that asks for more is refused rather than allowed to
/// take the machine's memory.
pub const XZ_MEMORY_LIMIT: u32 = 256 << 20;

impl Compression {
    /// The usual file suffix without its dot: `gz`, `zst`.
    ///
    /// ```
    /// assert_eq!(sweepwatch_input::sniff::Compression::Zstd.as_str(), "zst");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bz2",
        }
    }

    /// The compression whose magic `prefix` starts with, if any.
    fn of(prefix: &[u8]) -> Option<Compression> {
        if prefix.starts_with(&GZIP_MAGIC) {
            Some(Compression::Gzip)
        } else if prefix.starts_with(&ZSTD_MAGIC) {
            Some(Compression::Zstd)
        } else if prefix.starts_with(&XZ_MAGIC) {
            Some(Compression::Xz)
        } else if prefix.len() >= 4
            && prefix.starts_with(b"BZh")
            && (b'1'..=b'9').contains(&prefix[3])
        {
            Some(Compression::Bzip2)
        } else {
            None
        }
    }

    /// What a compressed stream whose first bytes are `prefix` (already read
    /// from `r`) unpacks to.
    fn unpack<'r, R: Read + Send + 'r>(
        self,
        prefix: Vec<u8>,
        r: R,
    ) -> io::Result<Box<dyn Read + Send + 'r>> {
        let raw = Cursor::new(prefix).chain(r);
        Ok(match self {
            Compression::Gzip => Box::new(MultiGzDecoder::new(raw)),
            Compression::Zstd => Box::new(ZstdFrames::new(BufReader::new(raw))?),
            Compression::Xz => Box::new(XzLimited(lzma_rust2::XzReader::new_mem_limit(
                raw,
                true,
                XZ_MEMORY_LIMIT / 1024,
            ))),
            Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(raw)),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        }
    }
}

/// An xz decoder whose refusal of a stream over [`XZ_MEMORY_LIMIT`] says so
/// in words (the decoder's own message names its parameter).
struct XzLimited<R>(R);

impl<R: Read> Read for XzLimited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.to_string().contains("mem_limit") {
                io::Error::other(format!(
                    "the stream needs more than {} MiB of memory to unpack, \
                     the most allowed (xz -9 needs 65 MiB)",
                    XZ_MEMORY_LIMIT >> 20
                ))
            } else {
                e
            }
        })
    }
}

/// The frames of a Zstandard stream, one after another, as `zstd -d` reads
/// `cat a.zst b.zst` (`ruzstd`'s decoder reads one frame).
struct ZstdFrames<R: BufRead> {
    frame: Option<StreamingDecoder<R, FrameDecoder>>,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(r: R) -> io::Result<Self> {
        let frame = StreamingDecoder::new(r).map_err(io::Error::other)?;
        Ok(ZstdFrames { frame: Some(frame) })
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(frame) = self.frame.as_mut() else {
                return Ok(0);
            };
            let n = frame.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The frame ended: another may follow.
            let Some(done) = self.frame.take() else {
                return Ok(0);
            };
            let (mut r, decoder) = done.into_parts();
            if r.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let next = StreamingDecoder::new_with_decoder(r, decoder).map_err(io::Error::other)?;
            self.frame = Some(next);
        }
    }
}

/// A stream whose format is known, ready to read from its first byte.
pub struct Sniffed<'r> {
    /// What the stream holds.
    pub format: Format,
    /// How the stream was compressed, if it was.
    pub compression: Option<Compression>,
    reader: Box<dyn BufRead + Send + 'r>,
}

impl fmt::Debug for Sniffed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sniffed")
            .field("format", &self.format)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl<'r> Sniffed<'r> {
    /// Reads the whole stream with the reader for its format
    /// ([`read_capture`], [`zeek::read_conn_log`], [`eve::read_eve`], [`argus::read_argus`], [`nfdump::read_nfdump_csv`] or
    /// [`crate::netflow::read_export_capture`]),
    /// passing `opts` on; an [`Empty`](Format::Empty) stream reads as nothing.
    ///
    /// # Errors
    /// As the reader for the stream's format.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch_input::{sniff::sniff, ReadOptions};
    /// let log = "#separator \\x09\n\
    ///            #fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tconn_state\n\
    ///            1700000000.0\t203.0.113.5\t192.0.2.1\t22\ttcp\tREJ\n";
    /// let mut opts = ReadOptions::default();
    /// let mut events = Vec::new();
    /// let st = sniff(log.as_bytes()).unwrap().read(&mut opts, &mut |e| events.push(e)).unwrap();
    /// assert_eq!((st.records, st.events, events.len()), (1, 1, 1));
    /// ```
    pub fn read(self, opts: &mut ReadOptions<'_>, emit: Emit) -> Result<ReadStats, InputError> {
        match self.format {
            Format::Pcap | Format::PcapNg => read_capture(self.reader, opts, emit),
            _ => self.read_continuing(&mut None, opts, emit),
        }
    }

    /// [`read`](Self::read) for one of several inputs read as one: a capture
    /// is read by `captures` (made with `opts.pcap` at the first capture), so
    /// that its probes still awaiting an answer at its end carry over to the
    /// next capture it reads, and its [`pending`](ReadStats::pending) is 0.
    /// Call [`CaptureReader::finish`] once the input ends.
    ///
    /// # Errors
    /// As the reader for the stream's format; for a capture also when the
    /// flow tracker's memory cannot be had.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch_input::{sniff::sniff, Location, ReadOptions};
    /// let log = "#separator \\x09\n\
    ///            #fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tconn_state\n\
    ///            1700000000.0\t203.0.113.5\t192.0.2.1\t22\ttcp\tREJ\n\
    ///            1700000000.0\t203.0.113.5\t192.0.2.1\t-1\ttcp\tREJ\n";
    /// let (mut captures, mut events, mut bad) = (None, Vec::new(), Vec::new());
    /// let mut report = |at: Location, _why: &str| bad.push(at);
    /// let mut opts = ReadOptions {
    ///     on_malformed: Some(&mut report),
    ///     ..ReadOptions::default()
    /// };
    /// for input in [log, log] {
    ///     let s = sniff(input.as_bytes()).unwrap();
    ///     s.read_continuing(&mut captures, &mut opts, &mut |e| events.push(e))
    ///         .unwrap();
    /// }
    /// assert_eq!(events.len(), 2);
    /// // Each input's lines are numbered from 1.
    /// assert_eq!(bad, [Location::Line(4), Location::Line(4)]);
    /// // No capture was read, so no flow tracker was made.
    /// assert!(captures.is_none());
    /// ```
    pub fn read_continuing(
        self,
        captures: &mut Option<CaptureReader>,
        opts: &mut ReadOptions<'_>,
        emit: Emit,
    ) -> Result<ReadStats, InputError> {
        match self.format {
            Format::Pcap | Format::PcapNg => {
                let c = match captures {
                    Some(c) => c,
                    None => captures.insert(CaptureReader::new(&opts.capture_options())?),
                };
                c.read(self.reader, opts.handler(), emit)
            }
            Format::ZeekTsv | Format::ZeekJson => zeek::read_conn_log(self.reader, opts, emit),
            Format::Eve => eve::read_eve(self.reader, opts, emit),
            Format::Argus => argus::read_argus(self.reader, opts, emit),
            Format::Nfdump => nfdump::read_nfdump_csv(self.reader, opts, emit),
            Format::FlowExport => crate::netflow::read_export_capture(self.reader, opts, emit),
            Format::Empty => Ok(ReadStats::default()),
        }
    }

    /// The stream itself, positioned at its first (decompressed) byte.
    pub fn into_reader(self) -> Box<dyn BufRead + Send + 'r> {
        self.reader
    }
}

/// Most bytes looked at to find the first line of a text format.
const SNIFF_LIMIT: usize = 64 << 10;
/// Buffer size for the readers: large reads keep system calls and gzip's
/// per-call overhead low.
const BUF_SIZE: usize = 256 << 10;

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];

fn io_err(e: &io::Error) -> InputError {
    InputError {
        location: "byte 0".into(),
        message: format!("read error: {e}"),
    }
}

/// Reads from `r` until the prefix decides the format (a binary magic, or a
/// complete first non-blank line), [`SNIFF_LIMIT`] bytes, or the end.
fn read_prefix<R: Read>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        if decided(&prefix) || prefix.len() >= SNIFF_LIMIT {
            return Ok(prefix);
        }
        let want = chunk.len().min(SNIFF_LIMIT - prefix.len());
        let n = match r.read(&mut chunk[..want]) {
            Ok(0) => return Ok(prefix),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        prefix.extend_from_slice(&chunk[..n]);
    }
}

fn decided(prefix: &[u8]) -> bool {
    if prefix.len() >= 4 {
        let head = [prefix[0], prefix[1], prefix[2], prefix[3]];
        if PCAP_MAGICS.contains(&head) || head == PCAPNG_MAGIC {
            return true;
        }
    }
    if Compression::of(prefix).is_some() {
        return true;
    }
    let text = strip_bom(prefix);
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    match start {
        Some(s) => text[s..].contains(&b'\n'),
        None => false,
    }
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(UTF8_BOM).unwrap_or(b)
}

/// Drops a UTF-8 byte-order mark from the start of a text format, so that the
/// reader sees its first record as written. Binary formats are left alone.
fn drop_bom(format: Format, prefix: &mut Vec<u8>) {
    let text = !matches!(format, Format::Pcap | Format::PcapNg);
    if text && prefix.starts_with(UTF8_BOM) {
        prefix.drain(..UTF8_BOM.len());
    }
}

/// Most bytes of a capture looked at to tell flow export from traffic.
const EXPORT_SNIFF: usize = 256 << 10;

/// A capture's format once its first packets are seen: flow export
/// ([`Format::FlowExport`]) or the traffic itself. Reads up to
/// [`EXPORT_SNIFF`] bytes more into `prefix`.
fn refine<R: Read>(format: Format, prefix: &mut Vec<u8>, r: &mut R) -> io::Result<Format> {
    if !matches!(format, Format::Pcap | Format::PcapNg) {
        return Ok(format);
    }
    let mut chunk = vec![0u8; 64 << 10];
    while prefix.len() < EXPORT_SNIFF {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        prefix.extend_from_slice(&chunk[..n]);
    }
    Ok(if crate::pcap::looks_like_export(prefix) {
        Format::FlowExport
    } else {
        format
    })
}

/// What a prefix holds, or why it is none of the known formats.
fn classify(prefix: &[u8]) -> Result<Format, String> {
    if prefix.len() >= 4 {
        let head = [prefix[0], prefix[1], prefix[2], prefix[3]];
        if PCAP_MAGICS.contains(&head) {
            return Ok(Format::Pcap);
        }
        if head == PCAPNG_MAGIC {
            return Ok(Format::PcapNg);
        }
    }
    let text = strip_bom(prefix);
    let Some(start) = text.iter().position(|b| !b.is_ascii_whitespace()) else {
        if prefix.is_empty() || prefix.iter().all(u8::is_ascii_whitespace) {
            return Ok(Format::Empty);
        }
        return Err(unknown(prefix));
    };
    let text = &text[start..];
    let line = match text.iter().position(|b| *b == b'\n') {
        Some(i) => &text[..i],
        None => text,
    };
    if line.starts_with(b"#separator") {
        return Ok(Format::ZeekTsv);
    }
    if argus::is_header(line) {
        return Ok(Format::Argus);
    }
    if nfdump::is_header(line) {
        return Ok(Format::Nfdump);
    }
    if line.starts_with(b"{") {
        if let Some(f) = json_keys(line) {
            return Ok(f);
        }
        return Err(format!(
            "unknown format: JSON lines whose first object has neither `event_type` \
             (Suricata EVE) nor `id.orig_h`/`conn_state` (Zeek conn.log); first line: {}",
            excerpt(line)
        ));
    }
    Err(unknown(prefix))
}

/// EVE or Zeek JSON from the keys of the first object. A line that does not
/// parse (cut by the sniff limit, or corrupt: the reader will skip it) is
/// judged by the key names it contains.
fn json_keys(line: &[u8]) -> Option<Format> {
    let by_keys = |has: &dyn Fn(&str) -> bool| {
        if has("event_type") {
            Some(Format::Eve)
        } else if has("id.orig_h") || has("conn_state") {
            Some(Format::ZeekJson)
        } else {
            None
        }
    };
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line) {
        Ok(obj) => by_keys(&|k| obj.contains_key(k)),
        Err(_) => {
            let text = String::from_utf8_lossy(line);
            by_keys(&|k| text.contains(&format!("\"{k}\"")))
        }
    }
}

fn excerpt(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(60)]);
    let cut = if line.len() > 60 { "…" } else { "" };
    format!("`{}{cut}`", text.trim_end())
}

fn unknown(prefix: &[u8]) -> String {
    let printable = prefix
        .iter()
        .take(64)
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    let shown = if printable {
        let line = prefix.split(|b| *b == b'\n').next().unwrap_or_default();
        format!("starts with {}", excerpt(line))
    } else {
        let hex: Vec<String> = prefix.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("starts with bytes {}", hex.join(" "))
    };
    format!(
        "unknown format (not pcap, pcapng, Zeek conn.log or Suricata EVE JSON, \
         plain, gzip, zstd, xz or bzip2): {shown}"
    )
}

/// Recognises the format of `r` (unpacking gzip first) and returns the stream
/// ready to read from its first byte.
///
/// # Errors
/// An I/O error while looking, or an unknown format; the message says what the
/// input starts with.
///
/// # Examples
/// ```
/// use sweepwatch_input::sniff::{sniff, Format};
/// let s = sniff(&b"{\"event_type\":\"flow\"}\n"[..]).unwrap();
/// assert_eq!(s.format, Format::Eve);
/// assert!(sniff(&b"GIF89a"[..]).is_err());
/// ```
pub fn sniff<'r, R: Read + Send + 'r>(mut r: R) -> Result<Sniffed<'r>, InputError> {
    let prefix = read_prefix(&mut r).map_err(|e| io_err(&e))?;
    if let Some(c) = Compression::of(&prefix) {
        let bad = |e: io::Error| InputError {
            location: "byte 0".into(),
            message: format!("bad {} data: {e}", c.name()),
        };
        let inner = c.unpack(prefix, r).map_err(bad)?;
        let mut inner = BufReader::with_capacity(BUF_SIZE, inner);
        let mut inner_prefix = read_prefix(&mut inner).map_err(bad)?;
        let format = classify(&inner_prefix).map_err(|m| InputError {
            location: "byte 0".into(),
            message: format!("{m} (inside {})", c.name()),
        })?;
        let format = refine(format, &mut inner_prefix, &mut inner).map_err(bad)?;
        drop_bom(format, &mut inner_prefix);
        return Ok(Sniffed {
            format,
            compression: Some(c),
            reader: Box::new(BufReader::with_capacity(
                BUF_SIZE,
                Cursor::new(inner_prefix).chain(inner),
            )),
        });
    }
    let format = classify(&prefix).map_err(|message| InputError {
        location: "byte 0".into(),
        message,
    })?;
    let mut prefix = prefix;
    let format = refine(format, &mut prefix, &mut r).map_err(|e| io_err(&e))?;
    drop_bom(format, &mut prefix);
    Ok(Sniffed {
        format,
        compression: None,
        reader: Box::new(BufReader::with_capacity(
            BUF_SIZE,
            Cursor::new(prefix).chain(r),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn format_of(bytes: &[u8]) -> Result<Format, InputError> {
        sniff(bytes).map(|s| s.format)
    }

    #[test]
    fn magics_and_text() {
        for m in PCAP_MAGICS {
            assert_eq!(
                format_of(&[&m[..], &[0u8; 20][..]].concat()).unwrap(),
                Format::Pcap
            );
        }
        assert_eq!(format_of(&PCAPNG_MAGIC).unwrap(), Format::PcapNg);
        assert_eq!(
            format_of(b"#separator \\x09\n#fields\tts\n").unwrap(),
            Format::ZeekTsv
        );
        assert_eq!(
            format_of(b"\n\n{\"event_type\":\"dns\"}\n").unwrap(),
            Format::Eve
        );
        assert_eq!(
            format_of(b"{\"ts\":1,\"id.orig_h\":\"10.0.0.1\"}").unwrap(),
            Format::ZeekJson
        );
        // A corrupt first object is still recognised by its key names.
        assert_eq!(
            format_of(b"{\"conn_state\":\"S0\",,}\n").unwrap(),
            Format::ZeekJson
        );
        assert_eq!(format_of(b"").unwrap(), Format::Empty);
        assert_eq!(format_of(b"  \n").unwrap(), Format::Empty);
        let e = format_of(b"{\"a\":1}\n").unwrap_err();
        assert!(e.message.contains("event_type"), "{e}");
        let e = format_of(b"\x89PNG\r\n\x1a\n").unwrap_err();
        assert!(e.message.contains("89 50 4e 47"), "{e}");
        let e = format_of(b"hello world\n").unwrap_err();
        assert!(e.message.contains("`hello world`"), "{e}");
    }

    #[test]
    fn gzip_is_unpacked_and_content_kept() {
        let text = b"{\"event_type\":\"flow\"}\nsecond line\n";
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text[..10]).unwrap();
        let mut data = gz.finish().unwrap();
        // Concatenated members, as `cat a.gz b.gz` makes.
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text[10..]).unwrap();
        data.extend(gz.finish().unwrap());
        let s = sniff(&data[..]).unwrap();
        assert_eq!(
            (s.format, s.compression),
            (Format::Eve, Some(Compression::Gzip))
        );
        let mut back = Vec::new();
        s.into_reader().read_to_end(&mut back).unwrap();
        assert_eq!(back, text);
        assert!(sniff(&[0x1f, 0x8b, 0x08, 0x00, 0x01][..]).is_err());
    }

    #[test]
    fn zstd_is_unpacked_and_content_kept() {
        let text = b"{\"event_type\":\"flow\"}\nsecond line\n";
        let (a, b) = text.split_at(10);
        // Concatenated frames, as `cat a.zst b.zst` makes.
        let compress = |part: &[u8]| {
            ruzstd::encoding::compress_to_vec(part, ruzstd::encoding::CompressionLevel::Fastest)
        };
        let mut data = compress(a);
        data.extend(compress(b));
        let s = sniff(&data[..]).unwrap();
        assert_eq!(
            (s.format, s.compression),
            (Format::Eve, Some(Compression::Zstd))
        );
        let mut back = Vec::new();
        s.into_reader().read_to_end(&mut back).unwrap();
        assert_eq!(back, text);
        // Cut short: an error, never a panic or a silent end.
        let cut = &data[..data.len() - 3];
        let failed = match sniff(cut) {
            Err(_) => true,
            Ok(s) => s.into_reader().read_to_end(&mut Vec::new()).is_err(),
        };
        assert!(failed);
        let e = sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff][..]).unwrap_err();
        assert!(e.message.contains("zstd"), "{e}");
    }

    #[test]
    fn xz_and_bzip2_are_told_by_their_magic() {
        assert_eq!(
            Compression::of(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0, 4]),
            Some(Compression::Xz)
        );
        assert_eq!(Compression::of(b"BZh91AY&SY"), Some(Compression::Bzip2));
        // A block size digit of 0 is no bzip2; text that starts "BZh" is text.
        assert_eq!(Compression::of(b"BZh0"), None);
        assert_eq!(Compression::of(b"BZhello"), None);
        // Cut short inside the first block: an error naming the codec.
        for data in [
            &[0xfd, b'7', b'z', b'X', b'Z', 0, 0, 4, 0xe6][..],
            b"BZh91AY&SY\x00",
        ] {
            let failed = match sniff(data) {
                Err(e) => e.message.contains("xz") || e.message.contains("bzip2"),
                Ok(s) => s.into_reader().read_to_end(&mut Vec::new()).is_err(),
            };
            assert!(failed, "{data:?}");
        }
    }

    #[test]
    fn long_first_lines_are_not_all_read() {
        let mut text = b"{\"event_type\":\"flow\",\"x\":\"".to_vec();
        text.extend(std::iter::repeat_n(b'a', SNIFF_LIMIT * 2));
        text.extend_from_slice(b"\"}\n");
        let s = sniff(&text[..]).unwrap();
        assert_eq!(s.format, Format::Eve);
        let mut back = Vec::new();
        s.into_reader().read_to_end(&mut back).unwrap();
        assert_eq!(back, text);
    }
}
