//! The output files, written as Suricata's `regular` EVE file type writes
//! them: opened for appending (or truncated), written a record at a time or
//! through a buffer, reopened by name after a SIGHUP, and one per thread
//! (`eve.N.json`) in threaded mode.
//!
//! Each file sits behind its own mutex: in non-threaded mode every packet and
//! flow-manager thread writes to the one file at once; in threaded mode only
//! its own thread takes a file's lock.

use crate::log::{log, Level};
use crate::pipeline::{Pending, PluginCounts};
use crate::record::{push_verdict, Style};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// One output file and what went through it.
pub struct Sink {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
    limit: usize,
    prefix: Arc<str>,
    host: Option<Arc<str>>,
    style: Style,
    tally: PluginCounts,
    reported_error: bool,
    /// The output's rotation count when this file was opened.
    generation: u64,
}

/// A sink as shared between the output and the thread that writes to it.
pub type SharedSink = Arc<Mutex<Sink>>;

/// Locks a sink, even one whose lock was poisoned.
pub fn lock(s: &Mutex<Sink>) -> MutexGuard<'_, Sink> {
    // A panic while holding the lock leaves at worst a partly filled buffer;
    // writing on is better than losing every later record.
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sink {
    /// Opens `path` for appending, or truncates it when `append` is false.
    /// Verdicts are written after `prefix`, with `host`, in `style`; records
    /// are kept until more than `limit` bytes wait.
    pub fn open(
        path: &Path,
        append: bool,
        limit: usize,
        prefix: Arc<str>,
        host: Option<Arc<str>>,
        style: Style,
    ) -> io::Result<Sink> {
        let mut o = OpenOptions::new();
        o.create(true);
        if append {
            o.append(true);
        } else {
            o.write(true).truncate(true);
        }
        Ok(Sink {
            file: o.open(path)?,
            path: path.to_path_buf(),
            buf: Vec::with_capacity(limit.max(4096) + 4096),
            limit,
            prefix,
            host,
            style,
            tally: PluginCounts::default(),
            reported_error: false,
            generation: 0,
        })
    }

    /// Reopens the file by its name if the output was rotated since it was
    /// opened: after `mv eve.json eve.json.1` and a SIGHUP, records go to a
    /// new `eve.json`. Buffered records go to the old file first; if the new
    /// one cannot be opened, writing goes on into the old.
    pub fn follow_rotation(&mut self, generation: u64) {
        if self.generation == generation {
            return;
        }
        self.generation = generation;
        let _ = self.flush();
        match OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            Ok(f) => self.file = f,
            Err(e) => log(
                Level::Error,
                format_args!(
                    "reopening {} after SIGHUP: {e}; writing on into the old file",
                    self.path.display()
                ),
            ),
        }
    }

    /// Appends one record and the verdicts it decided; writes when the buffer
    /// passes its limit (at once by default), so lines are never split
    /// between writes.
    pub fn push(
        &mut self,
        rec: Option<&[u8]>,
        verdicts: &[Pending],
        seen: &PluginCounts,
    ) -> io::Result<()> {
        self.tally.add(seen);
        if let Some(rec) = rec {
            self.buf.extend_from_slice(rec);
            self.buf.push(b'\n');
        }
        for (v, ids) in verdicts {
            self.buf.extend_from_slice(self.prefix.as_bytes());
            push_verdict(
                &mut self.buf,
                v,
                ids.as_ref(),
                self.host.as_deref(),
                self.style,
            );
        }
        let extents = verdicts.iter().filter(|(v, _)| v.is_final).count() as u64;
        self.tally.extents += extents;
        self.tally.verdicts += verdicts.len() as u64 - extents;
        if self.buf.len() > self.limit {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Writes what the buffer holds.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = self.file.write_all(&self.buf);
        // On failure the buffer is dropped rather than retried, so a full disk
        // cannot make it grow without bound.
        self.buf.clear();
        if let Err(e) = &r {
            self.tally.write_errors += 1;
            if !self.reported_error {
                self.reported_error = true;
                log(
                    Level::Error,
                    format_args!(
                        "writing {}: {e} (further errors are only counted)",
                        self.path.display()
                    ),
                );
            }
        }
        r
    }

    /// What went through this file so far.
    pub fn tally(&self) -> &PluginCounts {
        &self.tally
    }
}

/// Flushes a per-thread file when its thread stops.
pub fn flush_thread(sink: &Mutex<Sink>) {
    let _ = lock(sink).flush();
}

/// `eve.json` → `eve.3.json`, the names Suricata gives threaded EVE files.
pub fn thread_path(base: &Path, id: i32) -> PathBuf {
    let name = match (base.file_stem(), base.extension()) {
        (Some(stem), Some(ext)) => {
            format!("{}.{id}.{}", stem.to_string_lossy(), ext.to_string_lossy())
        }
        _ => format!(
            "{}.{id}",
            base.file_name().unwrap_or_default().to_string_lossy()
        ),
    };
    base.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_files_are_named_as_suricata_names_them() {
        assert_eq!(
            thread_path(Path::new("/l/eve.json"), 3),
            Path::new("/l/eve.3.json")
        );
        assert_eq!(thread_path(Path::new("/l/eve"), 3), Path::new("/l/eve.3"));
    }

    #[test]
    fn after_a_rotation_buffered_records_go_to_the_old_file_and_new_ones_to_a_new() {
        let dir = std::env::temp_dir().join(format!(
            "sweepwatch-suricata-{}-rotation",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("eve.json");
        let mut sink = Sink::open(&path, true, 1 << 10, Arc::from(""), None, Style::Sweep).unwrap();
        let one = PluginCounts {
            records: 1,
            ..PluginCounts::default()
        };
        sink.push(Some(b"{\"n\":1}"), &[], &one).unwrap();
        // Under the limit: kept.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        let old = dir.join("eve.json.1");
        std::fs::rename(&path, &old).unwrap();
        // The rotation count has not moved: still the old file.
        sink.follow_rotation(0);
        assert!(!path.exists());
        sink.follow_rotation(1);
        sink.push(Some(b"{\"n\":2}"), &[], &one).unwrap();
        sink.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "{\"n\":1}\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"n\":2}\n");
        assert_eq!(sink.tally().records, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
