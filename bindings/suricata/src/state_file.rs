//! The detector's state in a file (`sweepwatch.state-file`): restored at
//! start-up, saved at shutdown, so that a restart of Suricata does not
//! forget scans in progress. The core writes and reads the state as a
//! stream; this file owns the file: where it is, how it is replaced, who may
//! read it.
//!
//! A state that cannot be used (missing, unreadable, corrupt, cut short, of
//! another version or layout) never stops Suricata: detection starts empty,
//! with a message saying why. A save is written to a temporary file beside
//! the state, synced and renamed over it, so a crash or a full disk during
//! the save leaves the previous state whole.

use crate::log::{log, Level};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, ErrorKind};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use sweepwatch::{Config, Detector, Error, Verdict};

/// What a save wrote, for the shutdown message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saved {
    /// Bytes in the state file.
    pub bytes: u64,
    /// Sources tracked in the saved state.
    pub sources: u64,
    /// Time taken, from opening the temporary file to the rename.
    pub elapsed: Duration,
}

/// A detector under `config` delivering to `on_verdict`: restored from
/// `path` when it holds a usable state, otherwise empty, after a message
/// that says why. Fails only as [`Detector::new`] fails (the configuration,
/// or memory the machine lacks), which stops start-up either way.
pub fn load<F>(path: &Path, config: Config, on_verdict: F) -> Result<Detector, Error>
where
    F: Fn(&Verdict) + Send + Sync + Clone + 'static,
{
    let started = Instant::now();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // The first start, or the first since the key was set.
            log(
                Level::Info,
                format_args!(
                    "no saved state at {} yet: detection starts empty; \
                     the state is saved there at shutdown",
                    path.display()
                ),
            );
            return Detector::new(config, on_verdict);
        }
        Err(e) => return start_empty(path, &e.to_string(), config, on_verdict),
    };
    let bytes = file.metadata().map_or(0, |m| m.len());
    match Detector::restore(config.clone(), BufReader::new(file), on_verdict.clone()) {
        Ok(det) => {
            let sources = det.stats().map_or(0, |s| s.sources);
            log(
                Level::Notice,
                format_args!(
                    "restored state from {}: {sources} sources, {bytes} bytes in {}",
                    path.display(),
                    millis(started.elapsed())
                ),
            );
            Ok(det)
        }
        Err(e @ (Error::State { .. } | Error::Io { .. })) => {
            start_empty(path, &e.to_string(), config, on_verdict)
        }
        // The configuration or the memory: the empty detector would fail
        // alike, and that failure is what start-up must report.
        Err(e) => Err(e),
    }
}

/// An empty detector, after warning that the state at `path` was not used
/// and why.
fn start_empty<F>(path: &Path, why: &str, config: Config, on_verdict: F) -> Result<Detector, Error>
where
    F: Fn(&Verdict) + Send + Sync + 'static,
{
    log(
        Level::Warning,
        format_args!(
            "state file {} not restored ({why}): detection starts empty; \
             the file is replaced at shutdown",
            path.display()
        ),
    );
    Detector::new(config, on_verdict)
}

/// Saves `det` to `path`: into `PATH.tmp.<pid>` (mode 0600: the state holds
/// the hash keys), synced, then renamed over `path` and the directory
/// synced. On failure the temporary file is removed and `path` is left as
/// it was.
pub fn save(det: &Detector, path: &Path) -> Result<Saved, String> {
    let started = Instant::now();
    let tmp = temporary(path);
    let result = write_synced(det, &tmp).and_then(|bytes| {
        fs::rename(&tmp, path)
            .map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), path.display()))?;
        // The rename is durable once the directory is; a failure here
        // leaves a complete state, old or new, so it is not an error.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(bytes)
    });
    match result {
        Ok(bytes) => Ok(Saved {
            bytes,
            sources: det.stats().map_or(0, |s| s.sources),
            elapsed: started.elapsed(),
        }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes the state to a new file at `tmp` and syncs it; the bytes written.
fn write_synced(det: &Detector, tmp: &Path) -> Result<u64, String> {
    // A file left by an earlier save that died keeps its old mode if
    // reopened: start from a new one.
    let _ = fs::remove_file(tmp);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let bytes = det
        .save(&mut w)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let file = w
        .into_inner()
        .map_err(|e| format!("cannot write {}: {}", tmp.display(), e.error()))?;
    file.sync_all()
        .map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
    Ok(bytes)
}

/// `PATH.tmp.<pid>`: beside the state, so the rename stays in one file
/// system, and per process, so two Suricatas never write one file.
fn temporary(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".tmp.{}", std::process::id()));
    PathBuf::from(name)
}

/// A duration for messages: milliseconds with one decimal.
pub fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use sweepwatch::{Event, Outcome, Protocol, Timestamp};

    fn config() -> Config {
        Config {
            memory_bytes: 1 << 20,
            shards: 1,
            ..Config::default()
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "sweepwatch-suricata-state-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn probe(det: &Detector, host: u8) {
        det.observe(&Event::new(
            Timestamp::from_secs(1_700_000_000 + u64::from(host)),
            "203.0.113.9".parse().unwrap(),
            std::net::Ipv4Addr::new(10, 0, 0, host).into(),
            22,
            Protocol::Tcp,
            Outcome::Refused,
        ))
        .unwrap();
    }

    #[test]
    fn a_saved_state_replaces_the_file_private_and_whole() {
        let d = dir("save");
        let path = d.join("sw.state");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let det = Detector::new(config(), |_| {}).unwrap();
        probe(&det, 1);
        let saved = save(&det, &path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(saved.bytes, meta.len());
        assert_eq!(saved.sources, 1);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // Nothing left beside it.
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["sw.state"]);
        let again = load(&path, config(), |_| {}).unwrap();
        assert_eq!(again.stats().unwrap().sources, 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_failed_save_leaves_the_old_state() {
        let d = dir("fail");
        let path = d.join("sw.state");
        let det = Detector::new(config(), |_| {}).unwrap();
        // The temporary file cannot be created where a directory stands.
        fs::write(&path, b"old").unwrap();
        fs::create_dir(temporary(&path)).unwrap();
        fs::write(temporary(&path).join("x"), b"").unwrap();
        let err = save(&det, &path).unwrap_err();
        assert!(err.starts_with("cannot create"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let err = save(&det, &d.join("missing/sw.state")).unwrap_err();
        assert!(err.contains("No such file"), "{err}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn unusable_states_start_empty() {
        let d = dir("load");
        let path = d.join("sw.state");
        // Missing: empty.
        assert_eq!(
            load(&path, config(), |_| {})
                .unwrap()
                .stats()
                .unwrap()
                .sources,
            0
        );
        let det = Detector::new(config(), |_| {}).unwrap();
        probe(&det, 1);
        save(&det, &path).unwrap();
        let good = fs::read(&path).unwrap();
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        let other_layout = Config {
            memory_bytes: 2 << 20,
            ..config()
        };
        for (bytes, config) in [
            (flipped, config()),
            (good[..good.len() / 3].to_vec(), config()),
            (b"not a state".to_vec(), config()),
            (good.clone(), other_layout),
        ] {
            fs::write(&path, &bytes).unwrap();
            let det = load(&path, config, |_| {}).unwrap();
            assert_eq!(det.stats().unwrap().sources, 0);
        }
        // A directory where the file should be: unreadable, still empty.
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        assert_eq!(
            load(&path, config(), |_| {})
                .unwrap()
                .stats()
                .unwrap()
                .sources,
            0
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
