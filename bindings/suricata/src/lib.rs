//! # sweepwatch-suricata
//!
//! A Suricata 7.0 and 8.0 plugin: an EVE output file type named `sweepwatch` that writes
//! every EVE record on to a file, unchanged, and feeds `flow` records to one
//! [`sweepwatch::Detector`]. Each verdict is written to the same file as an EVE
//! record of `event_type: "sweep"`.
//!
//! ```yaml
//! plugins:
//!   - /usr/local/lib/suricata/libsweepwatch_suricata.so
//! outputs:
//!   - eve-log:
//!       filetype: sweepwatch
//! ```
//!
//! Entry points are `extern "C"` functions Suricata calls through the
//! `SCPlugin` (7.0 or 8.0 layout) and the matching EVE file type
//! tables, chosen at load by the functions the running Suricata exports; each one catches
//! panics, which must not unwind into C. Messages go to stderr with a
//! `sweepwatch:` prefix.
//! See `README.md` for the configuration keys.

mod conf;
mod ffi;
mod file_writer;
mod log;
mod output;
mod pipeline;
mod record;
mod state_file;

use ffi::{Api, Callbacks, ConfNode, Major, SCPlugin7, SCPlugin8};
use file_writer::SharedSink;
use log::{log, Level};
use output::Output;

// The flow-record step of `Write`, for the fuzz targets in `fuzz/` at the
// repository root, which link this crate as an rlib.
pub use pipeline::{flow_event, Parse, Seen};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

/// The file type name `filetype:` selects.
const NAME: &CStr = c"sweepwatch";
const LICENSE: &CStr = c"MIT OR Apache-2.0";
const AUTHOR: &CStr = c"The sweepwatch developers";

/// The registration tables hold raw pointers, which are not `Sync`; these
/// point to string literals and are never written.
struct Registration<T>(T);

// SAFETY: the pointers are to `'static` C string literals and the function
// pointer is immutable; nothing in the tables is ever mutated.
unsafe impl<T> Sync for Registration<T> {}

static PLUGIN7: Registration<SCPlugin7> = Registration(SCPlugin7 {
    name: NAME.as_ptr(),
    license: LICENSE.as_ptr(),
    author: AUTHOR.as_ptr(),
    init: Some(plugin_init),
});

static PLUGIN8: Registration<SCPlugin8> = Registration(SCPlugin8 {
    version: ffi::API_VERSION_8_0,
    suricata_version: c"8.0".as_ptr(),
    name: NAME.as_ptr(),
    plugin_version: c"0.1.0".as_ptr(),
    license: LICENSE.as_ptr(),
    author: AUTHOR.as_ptr(),
    init: Some(plugin_init),
});

/// Suricata's functions, found when Suricata asks for the registration.
static API: OnceLock<Option<Api>> = OnceLock::new();

fn api() -> Option<&'static Api> {
    API.get_or_init(Api::resolve).as_ref()
}

/// Runs `f`, turning a panic into `on_panic` and a message: unwinding into
/// Suricata's C frames would abort the process.
fn guard<R>(what: &str, on_panic: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            log(Level::Error, format_args!("internal error in {what}"));
            on_panic
        }
    }
}

/// The symbol Suricata looks up after loading the plugin: a pointer to a
/// static table, in the layout of the running release, that lives as long as
/// the library is loaded.
#[no_mangle]
pub extern "C" fn SCPluginRegister() -> *mut c_void {
    // Both releases' prototypes return a mutable pointer; neither writes
    // through it.
    match api().map(|a| a.major) {
        Some(Major::V8) => std::ptr::addr_of!(PLUGIN8.0).cast_mut().cast(),
        // In 7.0, or anything else: the 7.0 table, whose Init then says why
        // nothing was registered.
        _ => std::ptr::addr_of!(PLUGIN7.0).cast_mut().cast(),
    }
}

/// Called once by Suricata after loading: registers the EVE file type.
unsafe extern "C" fn plugin_init() {
    guard("plugin initialisation", (), || {
        let Some(api) = api() else {
            log(
                Level::Error,
                format_args!(
                    "this Suricata exports neither 7.0's nor 8.0's plugin functions; \
                 the EVE file type \"sweepwatch\" is not available"
                ),
            );
            return;
        };
        let callbacks = Callbacks {
            init: eve_init,
            write: eve_write,
            deinit: eve_deinit,
            thread_init: eve_thread_init,
            thread_deinit: eve_thread_deinit,
        };
        if !api.register(NAME, callbacks) {
            log(
                Level::Error,
                format_args!("Suricata refused to register the EVE file type \"sweepwatch\""),
            );
        }
    })
}

/// The plugin's version and the plugin ABI it runs with, for the start-up line.
fn release() -> String {
    let abi = match api().map(|a| a.major) {
        Some(Major::V8) => "8.0",
        _ => "7.0",
    };
    format!("{} in Suricata {abi}:", env!("CARGO_PKG_VERSION"))
}

fn owned(p: *const c_char) -> Option<String> {
    // SAFETY: Suricata's lookups return NULL or a NUL-terminated string owned
    // by the configuration tree, which outlives Init.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Suricata's configuration through its exported lookup functions.
struct Suricata(&'static Api);

impl conf::ConfTree for Suricata {
    type Node = *const ConfNode;

    fn child(&self, node: *const ConfNode, key: &str) -> Option<*const ConfNode> {
        let key = std::ffi::CString::new(key).ok()?;
        // SAFETY: `node` is the node Suricata passed to Init or one found
        // from it.
        let p = unsafe { self.0.child(node, &key) };
        (!p.is_null()).then_some(p)
    }

    fn child_value(&self, node: *const ConfNode, key: &str) -> Option<String> {
        let key = std::ffi::CString::new(key).ok()?;
        // SAFETY: as in `child`.
        owned(unsafe { self.0.child_value(node, &key) })
    }

    fn global(&self, name: &str) -> Option<String> {
        let name = std::ffi::CString::new(name).ok()?;
        owned(self.0.global(&name))
    }

    fn keys(&self, node: *const ConfNode) -> Option<Vec<String>> {
        // SAFETY: as in `child`.
        unsafe { self.0.children(node) }
    }
}

fn read_options(conf: *const ConfNode) -> Result<(conf::Options, Vec<String>), String> {
    let api = api().ok_or("not running inside Suricata 7.0 or 8.0")?;
    let dir = owned(api.log_directory()).unwrap_or_else(|| ".".into());
    conf::read(&Suricata(api), conf, std::path::Path::new(&dir)).map_err(|e| e.to_string())
}

/// `SCEveFileType::Init`: reads the settings, builds the detector and opens
/// the file. A bad configuration or an unopenable file ends the process with
/// status 1 after saying why, as Suricata's own fatal configuration errors do:
/// returning -1 alone would only make Suricata 7 run on without this output,
/// unless init errors are fatal.
unsafe extern "C" fn eve_init(
    conf: *const ConfNode,
    threaded: bool,
    init_data: *mut *mut c_void,
) -> c_int {
    guard("Init", -1, || {
        if conf.is_null() || init_data.is_null() {
            log(
                Level::Error,
                format_args!("Init called without configuration"),
            );
            return -1;
        }
        let (opts, notes) = match read_options(conf) {
            Ok(r) => r,
            Err(e) => {
                log(Level::Error, format_args!("bad configuration: {e}"));
                std::process::exit(1);
            }
        };
        for n in &notes {
            log(Level::Warning, format_args!("{n}"));
        }
        let out = match Output::new(&opts, threaded, sweepwatch_input::eve::eve_flow) {
            Ok(o) => o,
            Err(e) => {
                log(Level::Error, format_args!("cannot start: {e}"));
                std::process::exit(1);
            }
        };
        let c = &opts.detector;
        if opts.detect {
            log(
                Level::Notice,
                format_args!(
                "{} EVE records to {}{}; home networks from {}: {}; min-targets {}, memory {} MiB; {}",
                release(),
                opts.path.display(),
                if threaded {
                    " (one file per thread)"
                } else {
                    ""
                },
                opts.home_from.describe(),
                c.home_networks.join(", "),
                c.min_targets,
                c.memory_bytes >> 20,
                conf::describe_window(&opts.reorder)
            ));
        } else {
            log(
                Level::Notice,
                format_args!(
                    "{} EVE records to {}; detection disabled (sweepwatch.enabled: no)",
                    release(),
                    opts.path.display()
                ),
            );
        }
        let out = Box::new(out);
        // SAFETY: the flag lives in the boxed output until Deinit, which
        // unregisters it first. `api()` is set: Init read the options through it.
        let watched = api().is_some_and(|a| unsafe { a.watch_rotation(out.rotation_flag()) });
        if !watched {
            log(
                Level::Warning,
                format_args!("SIGHUP will not reopen {}", out.path().display()),
            );
        }
        // SAFETY: `init_data` is a valid out-pointer (checked non-NULL above).
        unsafe { *init_data = Box::into_raw(out).cast() };
        0
    })
}

/// `SCEveFileType::Write`: one EVE record, without its newline. May run on
/// several threads at once with the same `init_data`.
unsafe extern "C" fn eve_write(
    buffer: *const c_char,
    buffer_len: c_int,
    init_data: *mut c_void,
    thread_data: *mut c_void,
) -> c_int {
    guard("Write", -1, || {
        let Ok(len) = usize::try_from(buffer_len) else {
            return -1;
        };
        if init_data.is_null() || (buffer.is_null() && len > 0) {
            return -1;
        }
        // SAFETY: `init_data` is the `Output` Init boxed; it lives until
        // Deinit, which Suricata calls after the last Write.
        let out = unsafe { &*init_data.cast::<Output>() };
        let rec: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: Suricata passes `buffer_len` readable bytes at `buffer`.
            unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), len) }
        };
        // SAFETY: a non-NULL `thread_data` is the sink ThreadInit boxed for
        // this thread; it lives until ThreadDeinit.
        let thread = unsafe { thread_data.cast::<SharedSink>().as_ref() }.map(|s| &**s);
        match out.write(rec, thread) {
            Ok(()) => 0,
            Err(_) => -1,
        }
    })
}

/// `SCEveFileType::ThreadInit`: in threaded mode, opens the thread's own file.
/// In non-threaded mode the thread data stays NULL and writes share one file.
unsafe extern "C" fn eve_thread_init(
    init_data: *mut c_void,
    thread_id: c_int,
    thread_data: *mut *mut c_void,
) -> c_int {
    guard("ThreadInit", -1, || {
        if init_data.is_null() || thread_data.is_null() {
            return -1;
        }
        // SAFETY: as in `eve_write`.
        let out = unsafe { &*init_data.cast::<Output>() };
        let data = match out.thread_sink(thread_id) {
            Ok(Some(sink)) => Box::into_raw(Box::new(sink)).cast(),
            Ok(None) => std::ptr::null_mut(),
            Err(e) => {
                // Writes from this thread then go to the shared file.
                log(
                    Level::Warning,
                    format_args!(
                        "{e}; this thread writes to {} instead",
                        out.path().display()
                    ),
                );
                std::ptr::null_mut()
            }
        };
        // SAFETY: `thread_data` is a valid out-pointer (checked above).
        unsafe { *thread_data = data };
        0
    })
}

/// `SCEveFileType::ThreadDeinit`: flushes and releases the thread's file handle
/// (the output keeps its counters for the summary).
unsafe extern "C" fn eve_thread_deinit(_init_data: *mut c_void, thread_data: *mut c_void) -> c_int {
    guard("ThreadDeinit", -1, || {
        if !thread_data.is_null() {
            // SAFETY: a non-NULL `thread_data` is the box ThreadInit made;
            // Suricata hands it back once.
            let sink = unsafe { Box::from_raw(thread_data.cast::<SharedSink>()) };
            file_writer::flush_thread(&sink);
        }
        0
    })
}

/// `SCEveFileType::Deinit`: flushes and closes the files and prints the summary.
unsafe extern "C" fn eve_deinit(init_data: *mut c_void) {
    guard("Deinit", (), || {
        if init_data.is_null() {
            return;
        }
        // SAFETY: `init_data` is the box Init made; Deinit is the last call.
        let out = unsafe { Box::from_raw(init_data.cast::<Output>()) };
        if let Some(api) = api() {
            // SAFETY: the flag Init registered, still alive in `out`.
            unsafe { api.unwatch_rotation(out.rotation_flag()) };
        }
        log(Level::Notice, format_args!("{}", out.finish()));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_tables_match_suricata_7_and_8() {
        let word = std::mem::size_of::<usize>();
        // A name, five function pointers and a TAILQ_ENTRY, in either order.
        assert_eq!(std::mem::size_of::<ffi::SCEveFileType7>(), 8 * word);
        assert_eq!(std::mem::size_of::<ffi::SCEveFileType8>(), 8 * word);
        assert_eq!(std::mem::size_of::<SCPlugin7>(), 4 * word);
        // 8.0: the API version, five strings and Init.
        assert_eq!(std::mem::size_of::<SCPlugin8>(), 8 + 6 * word);
        assert_eq!(std::mem::offset_of!(ffi::SCEveFileType8, write), 3 * word);
        assert_eq!(std::mem::offset_of!(ffi::SCEveFileType7, write), 2 * word);
        // Outside Suricata nothing resolves: the 7.0 table, and Init says so.
        assert!(api().is_none());
        // SAFETY: the static table's strings are NUL-terminated literals.
        let p = unsafe { &*SCPluginRegister().cast::<SCPlugin7>() };
        assert_eq!(unsafe { CStr::from_ptr(p.name) }, c"sweepwatch");
        unsafe { plugin_init() };
    }

    #[test]
    fn entry_points_reject_null_and_bad_arguments() {
        let mut data = std::ptr::null_mut();
        // SAFETY: the functions check their pointers before use.
        unsafe {
            assert_eq!(eve_init(std::ptr::null(), false, &mut data), -1);
            assert_eq!(
                eve_write(
                    c"{}".as_ptr(),
                    2,
                    std::ptr::null_mut(),
                    std::ptr::null_mut()
                ),
                -1
            );
            assert_eq!(eve_thread_init(std::ptr::null_mut(), 0, &mut data), -1);
            assert_eq!(
                eve_thread_deinit(std::ptr::null_mut(), std::ptr::null_mut()),
                0
            );
            eve_deinit(std::ptr::null_mut());
        }
    }
}
