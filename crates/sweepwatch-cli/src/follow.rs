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

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use sweepwatch_input::{eve, zeek, Location, ReadOptions, ReadStats, Zones};

/// Where a followed path was read to: the file (device and inode) and the
/// offset, with what was read past the last whole line and the Zeek header
/// in force, so that a restart reads on from the next byte.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    path: PathBuf,
    id: (u64, u64),
    pos: u64,
    partial: Vec<u8>,
    lines: Option<Lines>,
    header: Vec<u8>,
    line: u64,
}

impl Position {
    /// The followed path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Bytes read from a file per poll at most, so that one busy file cannot
/// hold back the others for long.
const CHUNK: usize = 4 << 20;

/// What kind of lines a followed file holds, known from its first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Lines {
    Eve,
    Zeek,
}

/// One followed path.
pub struct Tail {
    path: PathBuf,
    /// Where events' zones come from (`--zones`).
    zones: Zones,
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
    /// Lines read in the open file, for malformed-line messages.
    line: u64,
    /// Where reads land, kept from poll to poll.
    buf: Box<[u8]>,
}

impl Tail {
    /// Follows `path`, which need not exist yet.
    pub fn new(path: &Path, zones: Zones) -> Tail {
        Tail {
            zones,
            path: path.to_path_buf(),
            file: None,
            id: (0, 0),
            pos: 0,
            partial: Vec::new(),
            lines: None,
            header: Vec::new(),
            stats: ReadStats::default(),
            line: 0,
            buf: vec![0u8; 64 << 10].into_boxed_slice(),
        }
    }

    /// The path followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the path was read to.
    pub fn position(&self) -> Position {
        Position {
            path: self.path.clone(),
            id: self.id,
            pos: if self.file.is_some() { self.pos } else { 0 },
            partial: self.partial.clone(),
            lines: self.lines,
            header: self.header.clone(),
            line: self.line,
        }
    }

    /// Goes on from `p`, saved by an earlier run: the same file from the
    /// saved offset; or, if the file was rotated meanwhile, the rest of the
    /// old one (found by its inode in the same directory, as logrotate and
    /// Suricata leave it), then the new one from its start. Returns what
    /// was done, to report.
    pub fn resume(
        &mut self,
        p: Position,
        emit: sweepwatch_input::Emit<'_>,
        on_malformed: &mut dyn FnMut(u64, &str),
    ) -> io::Result<String> {
        let name = self.path.display().to_string();
        let here = std::fs::metadata(&self.path).ok();
        if let Some(m) = here.as_ref().filter(|m| (m.dev(), m.ino()) == p.id) {
            if m.len() < p.pos {
                return Ok(format!(
                    "{name} was cut back since; reading it from its start"
                ));
            }
            self.open()?;
            self.take_position(p)?;
            return Ok(format!("{name}: going on from byte {}", self.pos));
        }
        let Some(old) = self.find_rotated(p.id) else {
            return Ok(format!(
                "{name}: the file read before is gone (rotated elsewhere); reading the one there now from its start"
            ));
        };
        self.file = Some(File::open(&old)?);
        self.id = p.id;
        self.take_position(p)?;
        let rest = self.drain(emit, on_malformed)?;
        self.finish_file(emit, on_malformed)?;
        self.file = None;
        Ok(format!(
            "{name}: read the last {rest} bytes of {} (rotated since), then the new file from its start",
            old.display()
        ))
    }

    /// Takes the saved reading state and seeks the open file to it.
    fn take_position(&mut self, p: Position) -> io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.seek(SeekFrom::Start(p.pos))?;
        }
        self.pos = p.pos;
        self.partial = p.partial;
        self.lines = p.lines;
        self.header = p.header;
        self.line = p.line;
        Ok(())
    }

    /// A file beside the path with inode `id`: the followed file after a
    /// rename.
    fn find_rotated(&self, id: (u64, u64)) -> Option<PathBuf> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file() && (m.dev(), m.ino()) == id))
    }

    /// Reads what was written since the last poll, emitting its events, and
    /// follows a rotation. Returns the bytes read.
    pub fn poll(
        &mut self,
        emit: sweepwatch_input::Emit<'_>,
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
                // What was written between the read above and the rename
                // is in the old file still: read it to its end first.
                loop {
                    let n = self.drain(emit, on_malformed)?;
                    read += n;
                    if n == 0 {
                        break;
                    }
                }
                self.finish_file(emit, on_malformed)?;
                if self.open()? {
                    read += self.drain(emit, on_malformed)?;
                }
            }
            // Cut back in place: read it again from its start.
            Ok(m) if m.len() < self.pos => {
                self.finish_file(emit, on_malformed)?;
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
        emit: sweepwatch_input::Emit<'_>,
        on_malformed: &mut dyn FnMut(u64, &str),
    ) -> io::Result<u64> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        let mut total = 0u64;
        loop {
            let n = match file.read(&mut self.buf[..]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.pos += n as u64;
            total += n as u64;
            self.partial.extend_from_slice(&self.buf[..n]);
            if self.partial.len() >= CHUNK {
                break;
            }
        }
        // Whole lines only; the rest waits for its end.
        if let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') {
            let rest = self.partial.split_off(end + 1);
            let whole = std::mem::replace(&mut self.partial, rest);
            self.parse(&whole, emit, on_malformed)?;
        }
        Ok(total)
    }

    /// The end of one file: a last line without its newline is a whole
    /// record (the writer is done with this file), and the next file has its
    /// own header.
    fn finish_file(
        &mut self,
        emit: sweepwatch_input::Emit<'_>,
        on_malformed: &mut dyn FnMut(u64, &str),
    ) -> io::Result<()> {
        let mut last = std::mem::take(&mut self.partial);
        // Whatever the last line says, the next file starts afresh.
        let parsed = if last.is_empty() {
            Ok(())
        } else {
            last.push(b'\n');
            self.parse(&last, emit, on_malformed)
        };
        self.header.clear();
        self.lines = None;
        self.line = 0;
        parsed
    }

    /// Parses whole lines with the reader of their kind.
    fn parse(
        &mut self,
        whole: &[u8],
        emit: sweepwatch_input::Emit<'_>,
        on_malformed: &mut dyn FnMut(u64, &str),
    ) -> io::Result<()> {
        let kind = match self.lines {
            Some(k) => k,
            None => {
                let first = whole
                    .split(|b| *b == b'\n')
                    .find(|l| !l.iter().all(u8::is_ascii_whitespace));
                let Some(first) = first else { return Ok(()) };
                let zeek_json = memchr::memmem::find(first, b"\"id.orig_h\"").is_some();
                let k = if first.starts_with(b"#") || zeek_json {
                    Lines::Zeek
                } else {
                    Lines::Eve
                };
                self.lines = Some(k);
                k
            }
        };
        // Line numbers in this file of the lines the reader is given.
        let first = self.line;
        let mut numbers: Vec<u64> = Vec::new();
        let text: std::borrow::Cow<'_, [u8]> = match kind {
            Lines::Eve => whole.into(),
            Lines::Zeek => {
                // The header of this file goes with every batch of its rows.
                let mut rows = Vec::with_capacity(whole.len());
                for (i, l) in whole.split_inclusive(|b| *b == b'\n').enumerate() {
                    if !l.starts_with(b"#") {
                        rows.extend_from_slice(l);
                        numbers.push(first + i as u64 + 1);
                        continue;
                    }
                    if l.starts_with(b"#separator") {
                        self.header.clear();
                    }
                    if !l.starts_with(b"#close") && !l.starts_with(b"#open") {
                        self.header.extend_from_slice(l);
                    }
                }
                let header_lines = self.header.iter().filter(|b| **b == b'\n').count();
                numbers.splice(0..0, std::iter::repeat_n(0, header_lines));
                [&self.header[..], &rows[..]].concat().into()
            }
        };
        let mut report = |at: Location, why: &str| {
            if let Location::Line(n) = at {
                let line = match kind {
                    Lines::Eve => first + n,
                    Lines::Zeek => numbers.get(n as usize - 1).copied().unwrap_or(0),
                };
                on_malformed(line, why);
            }
        };
        let mut opts = ReadOptions {
            on_malformed: Some(&mut report),
            zones: self.zones,
            ..ReadOptions::default()
        };
        let result = match kind {
            Lines::Eve => eve::read_eve(&text[..], &mut opts, emit),
            Lines::Zeek => zeek::read_conn_log(&text[..], &mut opts, emit),
        };
        self.line += whole.iter().filter(|b| **b == b'\n').count() as u64;
        let st = result.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        self.stats.records += st.records;
        self.stats.skipped += st.skipped;
        self.stats.malformed += st.malformed;
        self.stats.events += st.events;
        Ok(())
    }
}
