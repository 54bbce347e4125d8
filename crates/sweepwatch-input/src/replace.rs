//! Replacing a file whole: what a saved state needs, so that a crash or a
//! full disk during a save leaves the previous file as it was.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `PATH.tmp.<pid>`: beside `path`, so that the rename stays in one file
/// system, and per process, so that two processes never write one file.
pub fn temporary(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".tmp.{}", std::process::id()));
    PathBuf::from(name)
}

/// An error of one step, naming the file it was about.
fn step(what: &str, file: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", file.display()))
}

/// Replaces `path` with what `write` writes: into a new file at
/// [`temporary`]`(path)`, mode 0600 (the states written so hold secret
/// keys), synced, then renamed over `path`, and the directory synced. On
/// failure the temporary file is removed and `path` is left as it was.
/// Returns what `write` returned.
///
/// # Examples
/// ```
/// let path = std::env::temp_dir().join(format!("replace-doc-{}", std::process::id()));
/// let n = sweepwatch_input::replace::replace_file(&path, |w| {
///     std::io::Write::write_all(w, b"whole")?;
///     Ok(5)
/// }).unwrap();
/// assert_eq!((n, std::fs::read(&path).unwrap()), (5, b"whole".to_vec()));
/// std::fs::remove_file(&path).unwrap();
/// ```
///
/// # Errors
/// The step that failed (create, write, sync, rename) and the file, with
/// the system's error kind.
pub fn replace_file<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<T>,
) -> io::Result<T> {
    let tmp = temporary(path);
    let result = write_synced(&tmp, write).and_then(|out| {
        fs::rename(&tmp, path).map_err(|e| {
            let to = format!("{} to {}", tmp.display(), path.display());
            io::Error::new(e.kind(), format!("cannot rename {to}: {e}"))
        })?;
        // The rename is durable once the directory is; a failure here
        // leaves a whole file, old or new, so it is not an error.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(out)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a new file at `tmp` and syncs it.
fn write_synced<T>(
    tmp: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<T>,
) -> io::Result<T> {
    // A file left by an earlier save that died would keep its old mode if
    // opened again: start from a new one.
    let _ = fs::remove_file(tmp);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| step("create", tmp, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let out = write(&mut w).map_err(|e| step("write", tmp, e))?;
    let file = w
        .into_inner()
        .map_err(|e| step("write", tmp, e.into_error()))?;
    file.sync_all().map_err(|e| step("sync", tmp, e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_file_is_replaced_private_and_whole_or_not_at_all() {
        let d = std::env::temp_dir().join(format!("replace-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let path = d.join("state");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        // A temporary file left by a save that died, readable by all.
        fs::write(temporary(&path), b"stale").unwrap();
        fs::set_permissions(temporary(&path), fs::Permissions::from_mode(0o644)).unwrap();

        let failed = replace_file(&path, |w| {
            w.write_all(b"half")?;
            Err::<(), _>(io::Error::other("disk full"))
        });
        let e = failed.unwrap_err();
        assert!(
            e.to_string().starts_with("cannot write") && e.to_string().contains("disk full"),
            "{e}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert!(!temporary(&path).exists());

        replace_file(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state"]);

        let e = replace_file(&d.join("missing/state"), |w| w.write_all(b"x")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().starts_with("cannot create"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }
}
