//! Following logs as an engine writes them (`sweepwatch watch`): Suricata's
//! EVE JSON and Zeek's conn.log (tab-separated or JSON), read as they grow,
//! through rotation.
//!
//! Each path is polled: complete lines are read and parsed, a partial last
//! line waits for its end. Rotation is seen in both styles: a file renamed
//! away and a new one created in its place (zeekctl, logrotate's `create`)
//! is read to its end, then the new file from its start; a file cut back to
//! empty in place (logrotate's `copytruncate`) is read again from its start.
//! A record written between the last read of the old file and its rename is
//! still read, since the old file stays open until it is drained.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use sweepwatch::Event;
use sweepwatch_input::{eve, zeek, Location, ReadOptions, ReadStats};

/// Bytes read from a file per poll at most, so that one busy file cannot
/// hold back the others for long.
const CHUNK: usize = 4 << 20;

/// What kind of lines a followed file holds, known from its first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lines {
    Eve,
    Zeek,
}

/// One followed path.
pub struct Tail {
    path: PathBuf,
    file: Option<File>,
    /// The open file's device and inode, to tell a new file at the path.
    id: (u64, u64),
    /// Bytes of the open file read so far.
    pos: u64,
    /// The end of the input read but not yet a whole line.
    partial: Vec<u8>,
    lines: Option<Lines>,
    /// The Zeek header lines of the current file, given to the reader with
    /// every batch of rows.
    header: Vec<u8>,
    /// Counts over every file read at this path.
    pub stats: ReadStats,
    /// Lines read at this path, for malformed-line messages.
    line: u64,
}

impl Tail {
    /// Follows `path`, which need not exist yet.
    pub fn new(path: &Path) -> Tail {
        Tail {
            path: path.to_path_buf(),
            file: None,
            id: (0, 0),
            pos: 0,
            partial: Vec::new(),
            lines: None,
            header: Vec::new(),
            stats: ReadStats::default(),
            line: 0,
        }
    }

    /// The path followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads what was written since the last poll, emitting its events, and
    /// follows a rotation. Returns the bytes read.
    pub fn poll(
        &mut self,
        emit: &mut dyn FnMut(Event),
        on_malformed: &mut dyn FnMut(u64, &str),
    ) -> io::Result<u64> {
        if self.file.is_none() && !self.open()? {
            return Ok(0);
        }
        let mut read = self.drain(emit, on_malformed)?;
        match std::fs::metadata(&self.path) {
            // Renamed away and replaced: the old file is drained; the new
            // one is read from its start.
            Ok(m) if (m.dev(), m.ino()) != self.id => {
                self.finish_file(emit, on_malformed);
                if self.open()? {
                    read += self.drain(emit, on_malformed)?;
                }
            }
            // Cut back in place: read it again from its start.
            Ok(m) if m.len() < self.pos => {
                self.finish_file(emit, on_malformed);
                if let Some(f) = self.file.as_mut() {
                    f.seek(SeekFrom::Start(0))?;
                }
                self.pos = 0;
                read += self.drain(emit, on_malformed)?;
            }
            // Still the same file, or removed (wait for the next one).
            _ => {}
        }
        Ok(read)
    }

    /// Opens the file at the path, if there is one.
    fn open(&mut self) -> io::Result<bool> {
        match File::open(&self.path) {
            Ok(f) => {
                let m = f.metadata()?;
                self.id = (m.dev(), m.ino());
                self.file = Some(f);
                self.pos = 0;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.file = None;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the open file to its current end.
    fn drain(
        &mut self,
        emit: &mut dyn FnMut(Event),
        on_malformed: &mut dyn FnMut(u64, &str),
    ) -> io::Result<u64> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        let mut total = 0u64;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.pos += n as u64;
            total += n as u64;
            self.partial.extend_from_slice(&buf[..n]);
            if self.partial.len() >= CHUNK {
                break;
            }
        }
        // Whole lines only; the rest waits for its end.
        if let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') {
            let rest = self.partial.split_off(end + 1);
            let whole = std::mem::replace(&mut self.partial, rest);
            self.parse(&whole, emit, on_malformed);
        }
        Ok(total)
    }

    /// The end of one file: a last line without its newline is a whole
    /// record (the writer is done with this file), and the next file has its
    /// own header.
    fn finish_file(
        &mut self,
        emit: &mut dyn FnMut(Event),
        on_malformed: &mut dyn FnMut(u64, &str),
    ) {
        if !self.partial.is_empty() {
            let mut last = std::mem::take(&mut self.partial);
            last.push(b'\n');
            self.parse(&last, emit, on_malformed);
        }
        self.header.clear();
        self.lines = None;
    }

    /// Parses whole lines with the reader of their kind.
    fn parse(
        &mut self,
        whole: &[u8],
        emit: &mut dyn FnMut(Event),
        on_malformed: &mut dyn FnMut(u64, &str),
    ) {
        let kind = match self.lines {
            Some(k) => k,
            None => {
                let first = whole
                    .split(|b| *b == b'\n')
                    .find(|l| !l.iter().all(u8::is_ascii_whitespace));
                let Some(first) = first else { return };
                let k = if first.starts_with(b"#") || memchr_str(first, b"\"id.orig_h\"") {
                    Lines::Zeek
                } else {
                    Lines::Eve
                };
                self.lines = Some(k);
                k
            }
        };
        let base = self.line;
        let header_lines = self.header.iter().filter(|b| **b == b'\n').count() as u64;
        let mut report = |at: Location, why: &str| {
            if let Location::Line(n) = at {
                on_malformed(base + n - header_lines.min(n), why);
            }
        };
        let mut opts = ReadOptions {
            on_malformed: Some(&mut report),
            ..ReadOptions::default()
        };
        let result = match kind {
            Lines::Eve => eve::read_eve(whole, &mut opts, emit),
            Lines::Zeek => {
                // The header of this file goes with every batch of its rows.
                for l in whole.split_inclusive(|b| *b == b'\n') {
                    if l.starts_with(b"#separator") {
                        self.header.clear();
                    }
                    if l.starts_with(b"#") && !l.starts_with(b"#close") && !l.starts_with(b"#open")
                    {
                        self.header.extend_from_slice(l);
                    }
                }
                let mut text = self.header.clone();
                for l in whole.split_inclusive(|b| *b == b'\n') {
                    if !l.starts_with(b"#") {
                        text.extend_from_slice(l);
                    }
                }
                zeek::read_conn_log(&text[..], &mut opts, emit)
            }
        };
        self.line += whole.iter().filter(|b| **b == b'\n').count() as u64;
        if let Ok(st) = result {
            self.stats.records += st.records;
            self.stats.skipped += st.skipped;
            self.stats.malformed += st.malformed;
            self.stats.events += st.events;
        }
    }
}

/// Whether `needle` occurs in `hay`.
fn memchr_str(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
