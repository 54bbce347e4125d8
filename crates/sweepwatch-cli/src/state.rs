//! `watch --state FILE`: what a restart needs to go on where the last run
//! stopped. The file holds where each followed path was read to and the
//! events held for ordering (a postcard section with its own version and
//! checksum), then the detector's saved state (the library's format). It
//! is replaced whole ([`replace_file`]), so a crash mid-save leaves the
//! previous state.

use crate::follow::Position;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use sweepwatch::order::Held;
use sweepwatch::{Config, Detector, Event, Verdict};
use sweepwatch_input::replace::replace_file;

const MAGIC: [u8; 8] = *b"SWWATCH\0";
/// Version 2: held events carry their zone.
const VERSION: u32 = 2;

/// The longest resume section read (positions and held events: the
/// window holds at most a few million events of about 80 bytes).
const MAX_RESUME: u64 = 1 << 30;

/// Where reading goes on, besides the detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct Resume {
    /// Each followed path's position.
    pub tails: Vec<Position>,
    /// The ordering window's held events and clock.
    pub held: Held<Event, ()>,
}

/// What a state file gave.
pub enum Loaded {
    /// The detector and the positions, as saved.
    Whole(Box<Detector>, Resume),
    /// The positions, but a detector that starts empty: why.
    Positions(Resume, String),
    /// Nothing usable: why (`None` if there was no file yet).
    Nothing(Option<String>),
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads the state at `path`. `config` and `sink` make the detector, which
/// goes on from the saved one where its layout allows.
pub fn load<F>(path: &Path, config: &Config, sink: F) -> Loaded
where
    F: Fn(&Verdict) + Send + Sync + 'static,
{
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Nothing(None),
        Err(e) => return Loaded::Nothing(Some(e.to_string())),
    };
    let mut r = BufReader::with_capacity(1 << 20, file);
    let resume = match read_resume(&mut r) {
        Ok(x) => x,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Loaded::Nothing(Some("it is cut short (truncated)".into()))
        }
        Err(e) => return Loaded::Nothing(Some(e.to_string())),
    };
    match Detector::restore(config.clone(), r, sink) {
        Ok(det) => Loaded::Whole(Box::new(det), resume),
        Err(e) => Loaded::Positions(resume, e.to_string()),
    }
}

fn read_resume(r: &mut impl Read) -> io::Result<Resume> {
    let mut head = [0u8; 12];
    r.read_exact(&mut head)?;
    if head[..8] != MAGIC {
        return Err(bad("it is not a sweepwatch watch state"));
    }
    let version = u32::from_le_bytes(head[8..12].try_into().unwrap_or_default());
    if version != VERSION {
        return Err(bad(format!(
            "it has version {version}; this sweepwatch reads version {VERSION}"
        )));
    }
    let mut len = [0u8; 8];
    r.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_RESUME {
        return Err(bad(format!("its positions claim {len} bytes")));
    }
    let mut body = Vec::new();
    r.take(len).read_to_end(&mut body)?;
    if body.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let mut crc = [0u8; 4];
    r.read_exact(&mut crc)?;
    if u32::from_le_bytes(crc) != crc32fast::hash(&body) {
        return Err(bad("its checksum fails: it is corrupt"));
    }
    postcard::from_bytes(&body).map_err(|e| bad(format!("its positions are unreadable: {e}")))
}

/// Writes `resume` and `det`'s state to `path` whole (see
/// [`replace_file`]): on failure `path` keeps the previous state. Returns
/// the bytes written.
pub fn save(path: &Path, det: &Detector, resume: &Resume) -> io::Result<u64> {
    let body = postcard::to_stdvec(resume).map_err(|e| bad(e.to_string()))?;
    replace_file(path, |w| {
        w.write_all(&MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        w.write_all(&(body.len() as u64).to_le_bytes())?;
        w.write_all(&body)?;
        w.write_all(&crc32fast::hash(&body).to_le_bytes())?;
        let bytes = det.save(w)?;
        Ok(20 + body.len() as u64 + 4 + bytes)
    })
}
