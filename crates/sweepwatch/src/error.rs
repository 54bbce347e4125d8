//! The library's errors.

use std::fmt;

/// Everything that can go wrong in the detector's API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A configuration value is out of range or unparsable. `field` names it
    /// (for example `home_networks[1]`), `message` says why.
    Config {
        /// The offending field, as written in TOML.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A verdict callback called back into the detector that is delivering to it.
    /// The call was refused and nothing changed; feed events after the callback
    /// returns instead.
    Reentrant,
    /// The detector's memory could not be allocated: `bytes` (the configured
    /// `memory_bytes`) is more than the machine has or will map. Nothing was
    /// created; try a smaller `memory_bytes`.
    NoMemory {
        /// The bytes asked for.
        bytes: u64,
    },
    /// A saved state was refused: it is not a state, is cut short or
    /// corrupt (its checksum fails), was written by another format version,
    /// or was made with a configuration whose memory layout differs.
    /// `message` says which. Nothing was created; start with an empty
    /// detector (or with the configuration the state was made with).
    State {
        /// What is wrong with the state.
        message: String,
    },
    /// Reading or writing a saved state failed in the reader or writer.
    Io {
        /// The kind of the reader's or writer's error.
        kind: std::io::ErrorKind,
        /// Its message.
        message: String,
    },
}

impl Error {
    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { field, message } => {
                write!(f, "invalid configuration: {field}: {message}")
            }
            Error::Reentrant => f.write_str(
                "the detector was called from its own verdict callback; the call was refused",
            ),
            Error::NoMemory { bytes } => write!(
                f,
                "out of memory: memory_bytes: {bytes} bytes cannot be allocated on this machine"
            ),
            Error::State { message } => write!(f, "saved state refused: {message}"),
            Error::Io { message, .. } => write!(f, "saved state: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// For writers and readers of saved state that speak `std::io`: an
/// [`Error::Io`] keeps its kind, anything else becomes
/// [`ErrorKind::Other`](std::io::ErrorKind::Other) with the message.
///
/// ```
/// let e = sweepwatch::Error::Io { kind: std::io::ErrorKind::StorageFull, message: "disk full".into() };
/// assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::StorageFull);
/// ```
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io { kind, message } => std::io::Error::new(kind, message),
            e => std::io::Error::other(e.to_string()),
        }
    }
}

/// The message a panic carried (its payload as `panic!` makes it), for front
/// ends that catch panics at their boundary and must say what happened.
///
/// # Examples
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("bad {}", 1)).unwrap_err();
/// assert_eq!(sweepwatch::panic_message(caught.as_ref()), "bad 1");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
