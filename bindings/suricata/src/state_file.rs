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
use std::fs::File;
use std::io::{BufReader, ErrorKind};
use std::path::Path;
use std::time::{Duration, Instant};
use sweepwatch::{Config, Detector, Error, Verdict};
use sweepwatch_input::replace::replace_file;

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

/// Saves `det` to `path` with [`replace_file`]: a new file `PATH.tmp.<pid>`
/// (mode 0600: the state holds the hash keys), synced, then renamed over
/// `path`. On failure `path` is left as it was.
pub fn save(det: &Detector, path: &Path) -> Result<Saved, String> {
    let started = Instant::now();
    let bytes = replace_file(path, |w| Ok(det.save(w)?)).map_err(|e| e.to_string())?;
    Ok(Saved {
        bytes,
        sources: det.stats().map_or(0, |s| s.sources),
        elapsed: started.elapsed(),
    })
}

/// A duration for messages: milliseconds with one decimal.
pub fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use sweepwatch::{Event, Outcome, Protocol, Timestamp};
    use sweepwatch_input::replace::temporary;

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
