//! Saved state: a detector's whole state in a stream, so that a restart
//! (upgrade, reboot, crash) does not forget a scan in progress.
//!
//! The stream, integers little-endian:
//!
//! | part | bytes |
//! |---|---|
//! | magic | `SWSTATE\0` |
//! | format version | `u32` ([`FORMAT`]) |
//! | header | `u32` length, a postcard [`Header`] (the library's version, the configuration as TOML, the hash keys) and its CRC-32 |
//! | each shard | `u32` length, a postcard [`ShardHead`] and its CRC-32; then its table, filter, pages and port maps, each a `u64` length and the bytes as they lie in memory |
//! | checksum | CRC-32 (IEEE) of every byte before it, `u32` |
//!
//! The arrays are written as they lie in memory because they are most of the
//! state (tens of megabytes) and plain bytes (every bit pattern is a value):
//! copying is as fast as the writer, and restoring reads them in place.
//! Whatever passes the checksum is still checked for links out of range
//! before it is used, so a state made by hand cannot make the detector read
//! outside its arrays.

use super::{Detector, Live};
use crate::config::{Config, Settings};
use crate::error::Error;
use crate::hash::{AddrHasher, KeyMaterial};
use crate::shard::ShardHead;
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// The first bytes of every saved state.
pub(crate) const MAGIC: [u8; 8] = *b"SWSTATE\0";

/// The version of the layout above and of the records it holds. A state of
/// another version is refused, never misread.
pub(crate) const FORMAT: u32 = 1;

/// The longest header or shard head read (a shard's lists take about 10
/// bytes a pool page: a few megabytes at most).
const MAX_SECTION: u64 = 64 << 20;

/// What a state says of itself.
#[derive(Serialize, Deserialize)]
struct Header {
    /// The version of the library that wrote it.
    library: String,
    /// Whether its arrays are little-endian (they are as they lay in memory).
    little_endian: bool,
    /// The configuration it was made with, as TOML, without `hash_seed`.
    config: String,
    /// `hash_seed`, which TOML cannot hold above 2^63.
    hash_seed: Option<u64>,
    /// What the hash keys were made from: the places of the saved sources.
    keys: KeyMaterial,
    /// Shards that follow.
    shards: u32,
}

/// A reader or writer that keeps the CRC-32 of the bytes through it.
struct Summed<T> {
    inner: T,
    crc: crc32fast::Hasher,
    bytes: u64,
}

impl<T> Summed<T> {
    fn new(inner: T) -> Summed<T> {
        Summed {
            inner,
            crc: crc32fast::Hasher::new(),
            bytes: 0,
        }
    }
}

impl<W: Write> Write for Summed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Summed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

fn refused(message: impl Into<String>) -> Error {
    Error::State {
        message: message.into(),
    }
}

/// A reader's error as the library's: a stream that ends early is a state
/// cut short.
fn read_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        refused("it is cut short (truncated)")
    } else {
        Error::Io {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

fn write_error(e: io::Error) -> Error {
    Error::Io {
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// Writes a postcard section: its length, it, and its own CRC-32, so that
/// a damaged section is named as such before its contents are read.
fn put<T: Serialize>(w: &mut impl Write, value: &T) -> Result<(), Error> {
    let bytes = postcard::to_stdvec(value).map_err(|e| refused(format!("encoding: {e}")))?;
    w.write_all(&(bytes.len() as u32).to_le_bytes())
        .and_then(|()| w.write_all(&bytes))
        .and_then(|()| w.write_all(&crc32fast::hash(&bytes).to_le_bytes()))
        .map_err(write_error)
}

/// Reads a postcard section written by [`put`].
fn get<T: for<'de> Deserialize<'de>>(r: &mut impl Read, what: &str) -> Result<T, Error> {
    let len = u64::from(u32::from_le_bytes(read_array(r)?));
    if len > MAX_SECTION {
        return Err(refused(format!("its {what} claims {len} bytes")));
    }
    let mut bytes = Vec::new();
    r.take(len).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() as u64 != len {
        return Err(refused("it is cut short (truncated)"));
    }
    if u32::from_le_bytes(read_array(r)?) != crc32fast::hash(&bytes) {
        return Err(refused(format!(
            "its {what}'s checksum fails: it is corrupt"
        )));
    }
    postcard::from_bytes(&bytes).map_err(|e| refused(format!("its {what} is unreadable: {e}")))
}

fn read_array<const N: usize>(r: &mut impl Read) -> Result<[u8; N], Error> {
    let mut b = [0; N];
    r.read_exact(&mut b).map_err(read_error)?;
    Ok(b)
}

/// The configuration without the seed, as TOML.
fn config_text(c: &Config) -> Result<String, Error> {
    let c = Config {
        hash_seed: None,
        ..c.clone()
    };
    toml::to_string(&c).map_err(|e| refused(format!("encoding the configuration: {e}")))
}

/// Why a state made with `saved` cannot be restored under `now`, if it
/// cannot: the layout (memory, shards) places sources, the dedup period
/// times the filter's generations, and a seed that is set fixes the keys.
fn incompatible(saved: &Config, now: &Config) -> Option<String> {
    let differ = layout_changes(saved, now);
    (!differ.is_empty()).then(|| {
        format!(
            "it was made with {}; start without it, or with the configuration it was made with",
            differ.join(", ")
        )
    })
}

/// What `now` changes of `was` that lays out a detector's state: its
/// memory, shards, first-contact filter generations and a set hash seed,
/// as `was`'s value and `now`'s.
pub(super) fn layout_changes(was: &Config, now: &Config) -> Vec<String> {
    let (saved, mut differ) = (was, Vec::new());
    if saved.memory_bytes != now.memory_bytes {
        differ.push(format!(
            "memory_bytes {} (now {})",
            saved.memory_bytes, now.memory_bytes
        ));
    }
    if saved.shards != now.shards {
        differ.push(format!("shards {} (now {})", saved.shards, now.shards));
    }
    if saved.dedup_secs != now.dedup_secs {
        differ.push(format!(
            "dedup_secs {} (now {})",
            saved.dedup_secs, now.dedup_secs
        ));
    }
    if now.hash_seed.is_some() && saved.hash_seed != now.hash_seed {
        differ.push("another hash_seed".to_string());
    }
    differ
}

impl Detector {
    /// Writes the detector's whole state to `w`: every shard's sources,
    /// evidence, first-contact filter, suppression and clock, the hash keys
    /// and the configuration, with a format version and a checksum. Returns
    /// the bytes written. [`Detector::restore`] reads it back.
    ///
    /// Shards are saved one at a time, each under its lock, so other
    /// threads feeding the detector wait for at most one shard's copy. The
    /// state holds the hash keys: keep it as private as the process.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp};
    /// let det = Detector::new(Config { memory_bytes: 1 << 20, shards: 1, ..Config::default() },
    ///                         |_| {}).unwrap();
    /// det.observe(&Event::new(Timestamp::from_secs(1_700_000_000),
    ///     "203.0.113.7".parse().unwrap(), "10.0.0.1".parse().unwrap(), 22,
    ///     Protocol::Tcp, Outcome::Refused)).unwrap();
    /// let mut saved = Vec::new();
    /// let bytes = det.save(&mut saved).unwrap();
    /// assert_eq!(bytes, saved.len() as u64);
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if `w` fails (what was written is incomplete);
    /// [`Error::Reentrant`] from inside a verdict callback of this detector.
    pub fn save<W: Write>(&self, w: W) -> Result<u64, Error> {
        self.refuse_reentry()?;
        let mut w = Summed::new(w);
        let live = self.live();
        let header = Header {
            library: env!("CARGO_PKG_VERSION").to_string(),
            little_endian: cfg!(target_endian = "little"),
            config: config_text(&live.config)?,
            hash_seed: live.config.hash_seed,
            keys: *live.settings.hasher.material(),
            shards: self.shards.len() as u32,
        };
        w.write_all(&MAGIC)
            .and_then(|()| w.write_all(&FORMAT.to_le_bytes()))
            .map_err(write_error)?;
        put(&mut w, &header)?;
        for i in 0..self.shards.len() {
            let shard = self.lock(i);
            put(&mut w, &shard.head())?;
            for a in shard.arrays() {
                w.write_all(&(a.len() as u64).to_le_bytes())
                    .and_then(|()| w.write_all(a))
                    .map_err(write_error)?;
            }
        }
        let crc = w.crc.clone().finalize();
        let bytes = w.bytes + 4;
        w.inner
            .write_all(&crc.to_le_bytes())
            .and_then(|()| w.inner.flush())
            .map_err(write_error)?;
        Ok(bytes)
    }

    /// A detector with the state that [`Detector::save`] wrote, under
    /// `config`, delivering to `on_verdict`: it goes on as the saved one
    /// would have, with the same sources, evidence, suppression and hash
    /// keys. Thresholds, home networks and allow rules come from `config`
    /// and may differ from the saved ones; `memory_bytes`, `shards` and
    /// `dedup_secs` must not (the sources' places depend on them), nor a
    /// `hash_seed` that `config` sets.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch::{Config, Detector, Error};
    /// let config = Config { memory_bytes: 1 << 20, shards: 1, ..Config::default() };
    /// let det = Detector::new(config.clone(), |_| {}).unwrap();
    /// let mut saved = Vec::new();
    /// det.save(&mut saved).unwrap();
    ///
    /// let again = Detector::restore(config.clone(), &saved[..], |_| {}).unwrap();
    /// assert_eq!(again.stats().unwrap(), det.stats().unwrap());
    ///
    /// // A flipped byte fails the checksum; a state cut short is named so.
    /// saved[100] ^= 1;
    /// let err = Detector::restore(config.clone(), &saved[..], |_| {}).unwrap_err();
    /// assert!(matches!(err, Error::State { .. }), "{err}");
    /// let err = Detector::restore(config, &saved[..50], |_| {}).unwrap_err();
    /// assert!(err.to_string().contains("cut short"), "{err}");
    /// ```
    ///
    /// # Errors
    /// [`Error::State`] if `r` holds no state, a corrupt or truncated one, one
    /// of another format version, or one whose layout differs from
    /// `config`'s; [`Error::Io`] if `r` fails; [`Error::Config`] and
    /// [`Error::NoMemory`] as [`Detector::new`] gives them.
    pub fn restore<R, F>(config: Config, r: R, on_verdict: F) -> Result<Detector, Error>
    where
        R: Read,
        F: Fn(&Verdict) + Send + Sync + 'static,
    {
        let mut r = Summed::new(r);
        if read_array::<8>(&mut r)? != MAGIC {
            return Err(refused("it is not a sweepwatch state"));
        }
        let format = u32::from_le_bytes(read_array(&mut r)?);
        if format != FORMAT {
            return Err(refused(format!(
                "it has format {format}; sweepwatch {} reads format {FORMAT}",
                env!("CARGO_PKG_VERSION")
            )));
        }
        let header: Header = get(&mut r, "header")?;
        if header.little_endian != cfg!(target_endian = "little") {
            return Err(refused(
                "it was written on a machine of the other byte order",
            ));
        }
        let mut saved = Config::from_toml_str(&header.config)
            .map_err(|e| refused(format!("its configuration is unreadable: {e}")))?;
        saved.hash_seed = header.hash_seed;
        if let Some(why) = incompatible(&saved, &config) {
            return Err(refused(why));
        }
        let mut det = Detector::new(config, on_verdict)?;
        if header.shards as usize != det.shards.len() {
            return Err(refused("its shard count differs from its configuration's"));
        }
        // The saved keys, so that every source is found where it was put.
        let mut config = det.live().config.clone();
        config.hash_seed = header.hash_seed;
        let mut settings = Settings::compile(&config)?;
        settings.hasher = AddrHasher::from_material(header.keys);
        det.hasher = settings.hasher.clone();
        // Every copy of the configuration with them: the detector's and each
        // shard's.
        let live = std::sync::Arc::new(Live { config, settings });
        for p in det.shards.iter_mut() {
            p.shard.get_mut().unwrap_or_else(|e| e.into_inner()).live = live.clone();
        }
        *det.live.get_mut().unwrap_or_else(|e| e.into_inner()) = live;
        let mut heads = Vec::with_capacity(det.shards.len());
        for (i, p) in det.shards.iter_mut().enumerate() {
            heads.push(get::<ShardHead>(&mut r, "shard head")?);
            let shard = p.shard.get_mut().unwrap_or_else(|e| e.into_inner());
            for a in shard.arrays_mut() {
                let len = u64::from_le_bytes(read_array(&mut r)?);
                if len != a.len() as u64 {
                    return Err(refused(format!("shard {i} holds arrays of another size")));
                }
                r.read_exact(a).map_err(read_error)?;
            }
        }
        let crc = r.crc.clone().finalize();
        if u32::from_le_bytes(read_array(&mut r.inner)?) != crc {
            return Err(refused("its checksum fails: it is corrupt"));
        }
        for (i, (p, head)) in det.shards.iter_mut().zip(heads).enumerate() {
            let shard = p.shard.get_mut().unwrap_or_else(|e| e.into_inner());
            shard
                .set_head(head)
                .map_err(|why| refused(format!("shard {i}: {why}")))?;
        }
        Ok(det)
    }
}
